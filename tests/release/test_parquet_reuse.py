"""The last build's Parquet files placed again (sahelwire.release.parquet_reuse): never trusted.

Every file a writer with the store finishes must be byte-identical to the file the same rows
give without it, whatever the store held: unchanged, changed anywhere, shorter, longer,
tampered with, gone, or rows that differ only under their nulls.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from helpers import change_one_export, copy_project, run_cli
from sahelwire.io.article_packs import CACHE_ENV
from sahelwire.io.config import Settings
from sahelwire.io.paths import ProjectPaths
from sahelwire.release import parquet_files, parquet_reuse
from sahelwire.release.build import build
from sahelwire.release.parquet_files import StreamedParquet
from sahelwire.release.parquet_reuse import ParquetStore

NAME = "data/x/train-00000-of-00001.parquet"
GROUP = 4  # rows per row group in these tests


@pytest.fixture(autouse=True)
def small_groups(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(parquet_files.PARQUET_OPTIONS, "row_group_size", GROUP)


def table(rows: int = 11, **changes: Any) -> pa.Table:
    """Rows with strings, nulls and a nested list column; ``changes``: row -> new label."""
    labels = [changes.get(f"r{i}", f"label {i} é🙂") for i in range(rows)]
    return pa.table(
        {
            "article_id": pa.array([f"a{i:03d}" for i in range(rows)]),
            "label": pa.array(labels),
            "start": pa.array([None if i % 3 == 0 else i * 7 for i in range(rows)], pa.int64()),
            "spans": pa.array(
                [[{"start": i, "end": i + 2}] * (i % 3) for i in range(rows)],
                pa.list_(pa.struct([("start", pa.int32()), ("end", pa.int32())])),
            ),
        }
    ).replace_schema_metadata({b"huggingface": b"{}"})


def write(
    path: Path, rows: pa.Table, store: ParquetStore | None, pieces: int = 3
) -> tuple[StreamedParquet, bytes]:
    """Write ``rows`` as a build does (in pieces); the writer and the file's bytes."""
    writer = StreamedParquet(path, rows.schema, name=NAME, store=store)
    step = max(1, -(-rows.num_rows // pieces))
    for start in range(0, rows.num_rows, step):
        writer.write(rows.slice(start, step))
    written = writer.close()
    assert written is not None
    data = path.read_bytes()
    assert written.rows == rows.num_rows and written.size == len(data)
    assert written.sha256 == hashlib.sha256(data).hexdigest()
    return writer, data


def plain(tmp_path: Path, rows: pa.Table) -> bytes:
    """The bytes without a store."""
    return write(tmp_path / "plain" / "f.parquet", rows, None)[1]


def kept_build(tmp_path: Path, rows: pa.Table) -> ParquetStore:
    """A store holding the file of ``rows`` as one build left it."""
    store = ParquetStore(tmp_path / "store")
    write(tmp_path / "b1" / "f.parquet", rows, store)
    store.save()
    return ParquetStore(tmp_path / "store")  # as the next build opens it


def test_unchanged_rows_are_placed_without_encoding_a_row_group(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    rows = table()
    store = kept_build(tmp_path, rows)
    opened: list[object] = []
    real = pq.ParquetWriter

    def counted(*args: Any, **kwargs: Any) -> Any:
        opened.append(args)
        return real(*args, **kwargs)

    monkeypatch.setattr(pq, "ParquetWriter", counted)
    # Given in other pieces than the first time: the row groups are the same.
    writer, data = write(tmp_path / "b2" / "f.parquet", rows, store, pieces=5)
    assert writer.reused and not opened
    monkeypatch.setattr(pq, "ParquetWriter", real)
    assert data == plain(tmp_path, rows)
    assert not list((tmp_path / "b2").glob("*.tmp"))  # the kept copy became the file
    # A copy: the two builds' files are two files (one changed in place leaves the other).
    assert (tmp_path / "b2" / "f.parquet").stat().st_ino != (
        tmp_path / "b1" / "f.parquet"
    ).stat().st_ino
    store.save()
    assert json.loads((tmp_path / "store" / "index.json").read_text())["files"][NAME]["rows"] == 11


@pytest.mark.parametrize(
    "changed",
    [
        table(r0="first group"),
        table(r5="middle group"),
        table(r10="last row"),
        table(rows=9),  # shorter: its last group is a part of the kept one's
        table(rows=8),  # shorter by whole groups: every group it has matches
        table(rows=14),  # longer
        table(rows=2),  # one short group
    ],
    ids=["first", "middle", "last", "shorter", "whole-groups-fewer", "longer", "tiny"],
)
def test_changed_rows_give_the_bytes_written_without_the_store(
    tmp_path: Path, changed: pa.Table
) -> None:
    store = kept_build(tmp_path, table())
    writer, data = write(tmp_path / "b2" / "f.parquet", changed, store)
    assert not writer.reused
    assert data == plain(tmp_path, changed)
    assert not list((tmp_path / "b2").glob("*.tmp"))
    # What this build wrote is what the next one places.
    store.save()
    again, data_again = write(tmp_path / "b3" / "f.parquet", changed, ParquetStore(store.folder))
    assert again.reused and data_again == data


@pytest.mark.parametrize("damage", ["tampered", "removed", "index"])
def test_a_damaged_or_missing_kept_file_is_a_miss(tmp_path: Path, damage: str) -> None:
    rows = table()
    store = kept_build(tmp_path, rows)
    (kept,) = tmp_path.joinpath("store").glob("*.parquet")
    if damage == "tampered":
        # A copy, as a tool rewriting the file in place would leave it (the build's file
        # is a hard link to it).
        damaged = bytearray(kept.read_bytes())
        damaged[len(damaged) // 2] ^= 1
        kept.unlink()
        kept.write_bytes(bytes(damaged))
    elif damage == "removed":
        kept.unlink()
    else:
        (tmp_path / "store" / "index.json").write_text("{not json")
        store = ParquetStore(tmp_path / "store")
    # The first write keeps a sound file under the same name again; the second then reads
    # its first groups back from it.
    changed = table(r9="after the first groups matched")
    for rows_now in (rows, changed):
        writer, data = write(tmp_path / "b2" / "f.parquet", rows_now, store)
        assert not writer.reused and data == plain(tmp_path, rows_now)


def test_rows_that_differ_only_under_their_nulls_give_the_same_bytes(tmp_path: Path) -> None:
    """Parquet keeps no value under a null: a kept file read back has zeros there, the rows
    a build hands over may not. Either way round, the bytes are those without the store."""
    rows = table()
    start = rows.column("start").combine_chunks()
    assert start.null_count
    numbers = [12345 + i if v is None else v for i, v in enumerate(start.to_pylist())]
    data = pa.py_buffer(b"".join(n.to_bytes(8, "little") for n in numbers))
    dirty_start = pa.Array.from_buffers(pa.int64(), len(start), [start.buffers()[0], data])
    assert dirty_start.equals(start)
    dirty = rows.set_column(2, rows.schema.field(2), dirty_start)
    for first, second in ((rows, dirty), (dirty, rows)):
        store = kept_build(tmp_path / f"{id(first)}", first)
        labels = second.column(1).to_pylist()
        labels[9] = "changed after two matching groups"
        changed = second.set_column(1, second.schema.field(1), pa.array(labels))
        for now in (second, changed):
            _, data = write(tmp_path / "b2" / "f.parquet", now, store)
            assert data == plain(tmp_path, now)


def test_another_schema_or_version_is_not_placed(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    rows = table()
    store = kept_build(tmp_path, rows)
    other = rows.replace_schema_metadata({b"huggingface": b'{"other": 1}'})
    writer, data = write(tmp_path / "b2" / "f.parquet", other, store)
    assert not writer.reused and data == plain(tmp_path, other)
    store = kept_build(tmp_path, rows)
    monkeypatch.setattr(parquet_reuse.pa, "__version__", "0.0.1")
    writer, _ = write(tmp_path / "b3" / "f.parquet", rows, store)
    assert not writer.reused


def test_the_store_keeps_only_the_last_builds_files(tmp_path: Path) -> None:
    store = kept_build(tmp_path, table())
    write(tmp_path / "b2" / "f.parquet", table(r1="changed"), store)
    store.save()
    kept = sorted(p.name for p in (tmp_path / "store").iterdir())
    assert len(kept) == 2 and "index.json" in kept  # the old file is gone
    # The built file and the kept one are one file on disk where links work.
    built = tmp_path / "b2" / "f.parquet"
    assert built.stat().st_nlink == 2


def test_writing_over_a_built_file_never_changes_the_kept_one(tmp_path: Path) -> None:
    """The built file is a hard link to the kept one: a writer to the same path makes a new
    file, so the kept file (and the next build's placing of it) stays sound."""
    path = tmp_path / "out" / "f.parquet"
    rows = table()
    store = ParquetStore(tmp_path / "store")
    _, first = write(path, rows, store)
    store.save()
    (kept,) = (tmp_path / "store").glob("*.parquet")
    assert path.stat().st_ino == kept.stat().st_ino
    changed = table(r6="written over the same path")
    # Its first row group matches, then one differs: read back from the kept file, which
    # is the file at ``path`` until the writer makes a new one there.
    _, second = write(path, changed, ParquetStore(tmp_path / "store"))
    assert second == plain(tmp_path, changed)
    assert kept.read_bytes() == first
    store = ParquetStore(tmp_path / "store")  # not saved since: the first file is kept
    writer, data = write(tmp_path / "again" / "f.parquet", rows, store)
    assert writer.reused and data == first


def test_a_rebuild_places_every_unchanged_file_and_gives_the_same_bytes(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.undo()  # the build's own row groups
    paths = ProjectPaths(copy_project(tmp_path / "p"))
    settings = Settings.load(paths)
    monkeypatch.setenv(CACHE_ENV, "on")
    first = build(paths, settings, tmp_path / "d1")
    assert not first.reused_files
    second = build(paths, settings, tmp_path / "d2")
    assert sorted(second.reused_files) == sorted(first.data)  # every data file placed
    assert second.digests() == first.digests()

    change_one_export(paths)  # a stance: documents changes, the span configs do not
    third = build(paths, settings, tmp_path / "d3")
    monkeypatch.setenv(CACHE_ENV, "off")
    expected = build(paths, settings, tmp_path / "d4")
    assert not expected.reused_files
    assert third.digests() == expected.digests()
    changed = {n for n in first.data if first.data[n].sha256 != third.data[n].sha256}
    assert changed and any(n.startswith("data/documents/") for n in changed)
    assert set(third.reused_files) == set(first.data) - changed

    shown = run_cli(paths.root, "cache", "info")
    assert shown.returncode == 0, shown.stderr
    assert f"{len(first.data)} file(s)" in shown.stdout
    cleared = run_cli(paths.root, "cache", "clear")
    assert cleared.returncode == 0, cleared.stderr
    assert not list(parquet_reuse.cache_folder(paths).iterdir())
    for name, written in third.data.items():  # the built files outlive their kept links
        digest = hashlib.sha256((tmp_path / "d3" / name).read_bytes()).hexdigest()
        assert digest == written.sha256


def test_a_file_made_from_the_same_sources_is_placed_without_its_rows(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """documents and ner_bio (the article memo's configs) are placed from the memo's digest
    of their sources, before any row is read (ArticleRowCache.plan), the span configs
    from a digest of the gold files, articles and code before any SQL runs
    (columnar_spans.span_source_digests), and annotations_raw from its articles' keys in
    the raw memo (RawRowCache.source_digests); ner_bio's token counts for the card are kept
    beside the file. Kept counts that are not counts, or another
    source, make the file from its rows again: the same bytes and card either way."""
    monkeypatch.undo()  # the build's own row groups
    paths = ProjectPaths(copy_project(tmp_path / "p"))
    settings = Settings.load(paths)
    monkeypatch.setenv(CACHE_ENV, "on")
    first = build(paths, settings, tmp_path / "d1")
    index_file = parquet_reuse.cache_folder(paths) / parquet_reuse.INDEX
    index = json.loads(index_file.read_text(encoding="utf-8"))["files"]
    by_source = {n for n, e in index.items() if e.get("source")}
    memo_configs = {"documents", "ner_bio", "mentions", "events", "quantities", "annotations_raw"}
    assert {n.split("/")[1] for n in by_source} == memo_configs
    assert all(len(index[n]["extra"]) == 4 for n in by_source if "/ner_bio/" in n)

    given: list[str] = []
    written = parquet_files.StreamedParquet.write

    def watched(self: StreamedParquet, rows: pa.Table) -> None:
        given.append(str(self.path))
        written(self, rows)

    monkeypatch.setattr(parquet_files.StreamedParquet, "write", watched)
    second = build(paths, settings, tmp_path / "d2")
    assert second.digests() == first.digests()
    assert not [p for p in given if p.split("/")[-2] in memo_configs]  # no row given
    assert by_source <= set(second.reused_files)

    ner = "data/ner_bio/train-00000-of-00001.parquet"
    data = json.loads(index_file.read_text(encoding="utf-8"))
    data["files"][ner]["extra"] = ["not", "counts"]
    data["files"]["data/documents/test-00000-of-00001.parquet"]["source"] = "0" * 64
    index_file.write_text(json.dumps(data), encoding="utf-8")
    given.clear()
    third = build(paths, settings, tmp_path / "d3")
    assert third.digests() == first.digests()  # the card's token counts too
    # Their rows were given again (into the build's staging folder); the others not.
    assert any("/ner_bio/train" in p for p in given)
    assert not any("/ner_bio/test" in p or "/documents/train" in p for p in given)
    assert any("/documents/test" in p for p in given)
    kept = json.loads(index_file.read_text(encoding="utf-8"))["files"]
    assert kept[ner]["source"] == index[ner]["source"] and kept[ner]["extra"] == index[ner]["extra"]


def test_the_span_files_sources_cover_the_validation_rules(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A file placed from its sources is not validated again, so the span digests'
    fingerprint must change with the published rows' validation code (as the memo's does)."""
    from sahelwire.annotations import memo_keys
    from sahelwire.release import build as build_module

    paths = ProjectPaths(copy_project(tmp_path / "p"))
    monkeypatch.setenv(CACHE_ENV, "on")
    before = build_module._span_fingerprint(paths)
    assert before is not None
    real = memo_keys.parser_sources
    changed = tmp_path / "table_validation.py"

    def sources(module: str) -> dict[str, Path]:
        found = real(module)
        if build_module.VALIDATION_MODULE in found:
            path = found[build_module.VALIDATION_MODULE]
            changed.write_bytes(path.read_bytes() + b"\n# another rule\n")
            found = {**found, build_module.VALIDATION_MODULE: changed}
        return found

    monkeypatch.setattr(memo_keys, "parser_sources", sources)
    assert build_module._span_fingerprint(paths) not in (None, before)
