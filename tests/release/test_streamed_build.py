"""The build streams its tables to Parquet (issue 17 item 3): same bytes, nothing held whole.

``StreamedParquet`` must write the bytes ``parquet_bytes`` writes for the concatenation of
what it was given, whatever the pieces; a build refused by the published-table validation
must leave the previous dist/ as it was, with no staging folder behind.
"""

from __future__ import annotations

import hashlib
import random
from pathlib import Path

import pyarrow.parquet as pq
import pytest

from helpers import ROOT, built_copy, snapshot
from sahelwire.annotations.layers import raw_frame
from sahelwire.io.article_packs import CACHE_ENV
from sahelwire.io.config import Settings
from sahelwire.io.paths import ProjectPaths
from sahelwire.release import build as build_module
from sahelwire.release import parquet_files
from sahelwire.release.build import BuildRefused, build, plan_release, render_release
from sahelwire.release.folds import fold_table
from sahelwire.release.parquet_files import StreamedParquet, parquet_bytes, with_hf_features
from sahelwire.release.tables import ReleaseTableBuilder
from sahelwire.schema.problems import Problem
from sahelwire.schema.table_specs import ShapeBuilder, load_table_specs
from sahelwire.schema.taxonomy import load_taxonomy

PATHS = ProjectPaths(ROOT)
SPECS = load_table_specs(PATHS.tables_file)
SHAPES = ShapeBuilder(SPECS, load_taxonomy(PATHS.taxonomy_file))
RAW = SPECS.configs["annotations_raw"]


@pytest.mark.parametrize("group_rows", [50, 333, 10_000])
def test_streamed_parquet_writes_the_bytes_of_the_whole_table(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, group_rows: int
) -> None:
    """Pieces of 0 to 150 rows, several row groups each spanning pieces: the same file."""
    plan = plan_release(PATHS, Settings.load(PATHS))
    splits, layers = plan.splits, plan.validated.layers
    schema = SHAPES.arrow_schema(RAW, published=True)
    table = ReleaseTableBuilder.raw_tables(raw_frame(layers), splits, schema)["train"]
    table = with_hf_features(table, SHAPES.features(RAW))
    assert table.num_rows > 3 * 333
    monkeypatch.setitem(parquet_files.PARQUET_OPTIONS, "row_group_size", group_rows)
    writer = StreamedParquet(tmp_path / "data" / "t.parquet", table.schema)
    rng = random.Random(group_rows)
    at = 0
    while at < table.num_rows:
        size = rng.randint(0, 150)
        writer.write(table.slice(at, size).replace_schema_metadata())
        at += size
    written = writer.close()
    want = parquet_bytes(table)
    data = (tmp_path / "data" / "t.parquet").read_bytes()
    assert data == want
    assert written == parquet_files.WrittenFile(
        table.num_rows, len(want), hashlib.sha256(want).hexdigest()
    )


@pytest.mark.parametrize("group_rows", [50, 333])
def test_pieces_spanning_row_groups_give_the_same_bytes_and_are_not_held(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, group_rows: int
) -> None:
    """A piece of several row groups (a span config's split is given whole) is written a
    row group at a time, and the rows left pending are a copy: the piece is let go."""
    import pyarrow as pa

    plan = plan_release(PATHS, Settings.load(PATHS))
    schema = SHAPES.arrow_schema(RAW, published=True)
    table = ReleaseTableBuilder.raw_tables(raw_frame(plan.validated.layers), plan.splits, schema)[
        "train"
    ]
    table = with_hf_features(table, SHAPES.features(RAW)).combine_chunks()
    monkeypatch.setitem(parquet_files.PARQUET_OPTIONS, "row_group_size", group_rows)
    writer = StreamedParquet(tmp_path / "t.parquet", table.schema)
    rng = random.Random(group_rows)
    at = 0
    while at < table.num_rows:
        size = rng.randint(group_rows // 2, 3 * group_rows)
        writer.write(table.slice(at, size).replace_schema_metadata())
        at += size
    writer.close()
    assert (tmp_path / "t.parquet").read_bytes() == parquet_bytes(table)

    big = pa.table({"n": pa.array(range(2_000_000 + 7), pa.int64())})  # 16 MB
    held = StreamedParquet(tmp_path / "big.parquet", big.schema)
    before = pa.total_allocated_bytes() - big.nbytes
    held.write(big)
    del big
    # Pending: the last 7 rows (a copy), not the 16 MB the slice of them would keep.
    assert pa.total_allocated_bytes() - before < 1_000_000
    held.close()


def test_streamed_parquet_with_no_rows_writes_no_file(tmp_path: Path) -> None:
    schema = SHAPES.arrow_schema(RAW, published=True)
    writer = StreamedParquet(tmp_path / "empty.parquet", schema)
    writer.write(schema.empty_table())
    assert writer.close() is None
    assert not (tmp_path / "empty.parquet").exists()


def test_a_refused_published_table_keeps_the_previous_dist(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The data files are streamed into the staging folder: a refusal discards all of it."""
    paths, settings, before = built_copy(tmp_path / "p")
    root = paths.root
    real = build_module.validate_published

    def refuse_ner_bio(frame: object, table: object, *args: object, **kw: object) -> list[Problem]:
        problems = real(frame, table, *args, **kw)  # type: ignore[arg-type]
        if getattr(table, "name", None) == "ner_bio":
            problems.append(Problem(str(kw["file"]), None, "tokens", "test", message="refused"))
        return problems

    monkeypatch.setattr(build_module, "validate_published", refuse_ner_bio)
    # Without the article memo: its rows, validated by the build before, would not be
    # validated again (a real change to the rules changes the memo's key instead).
    monkeypatch.setenv(CACHE_ENV, "off")
    with pytest.raises(BuildRefused) as refused:
        build(paths, settings)
    assert {p.file for p in refused.value.problems} == {
        f"data/ner_bio/{s}-00000-of-00001.parquet" for s in ("train", "validation", "test")
    }
    assert snapshot(paths.dist_dir) == before
    assert not list(root.glob(".dist.staging.*"))


def test_render_release_files_are_read_from_its_folder_while_it_lives() -> None:
    """Callers that compare builds (tests, release manifests) still get every file's bytes."""
    release = render_release(PATHS, Settings.load(PATHS))
    files = release.files
    assert set(files) == {*release.small, *release.data}
    for name, written in release.data.items():
        data = files[name]
        assert (len(data), hashlib.sha256(data).hexdigest()) == (written.size, written.sha256)
    checksums = files["checksums.sha256"].decode()
    assert checksums == "".join(
        f"{sha}  {name}\n"
        for name, (_, sha) in sorted(release.digests().items())
        if name != "checksums.sha256"
    )
    root = release.root
    assert root.is_dir()
    del release, files
    assert not root.exists()  # the temporary folder goes with the release


def test_pieces_are_validated_in_batches_and_written_in_order(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Many small pieces of one split: few pandera calls, each on whole pieces, the file the
    same as the pieces written one by one; a duplicate key split across two pieces of one
    batch is found (per piece it was not: a batch only ever sees more rows together)."""
    plan = plan_release(PATHS, Settings.load(PATHS))
    schema = SHAPES.arrow_schema(RAW, published=True)
    table = ReleaseTableBuilder.raw_tables(raw_frame(plan.validated.layers), plan.splits, schema)[
        "train"
    ]
    calls: list[int] = []
    real = build_module.validate_published

    def counted(frame: object, *args: object, **kw: object) -> list[Problem]:
        calls.append(frame.height)  # type: ignore[attr-defined]
        return real(frame, *args, **kw)  # type: ignore[arg-type]

    monkeypatch.setattr(build_module, "validate_published", counted)
    monkeypatch.setattr(build_module, "VALIDATE_ROWS", table.num_rows // 3)
    release = build_module.BuiltRelease(tmp_path / "rel")
    published = build_module._Published(release.root, release, SHAPES, SPECS)
    sizes = [37] * (table.num_rows // 37) + [table.num_rows % 37]
    at = 0
    for size in sizes:
        published.add("annotations_raw", "train", table.slice(at, size))
        at += size
    published.complete()
    assert not published.problems
    # Every row validated once, in 3 or 4 batches of whole pieces (not one call per piece);
    # the other calls are the other splits and configs, empty here, validated once each.
    batches = [n for n in calls if n]
    assert sum(batches) == table.num_rows and len(sizes) > 40 and 3 <= len(batches) <= 4
    assert all(n % 37 == 0 for n in batches[:-1])
    published.close()
    written = (release.root / "data/annotations_raw/train-00000-of-00001.parquet").read_bytes()
    assert written == parquet_bytes(with_hf_features(table, SHAPES.features(RAW)))

    # A key (mention_id) repeated in two pieces of one batch: refused, naming the file.
    built = render_release(PATHS, Settings.load(PATHS))
    name = "data/mentions/train-00000-of-00001.parquet"
    mentions = pq.read_table(built.root / name).replace_schema_metadata()
    assert mentions.num_rows > 5
    twice = build_module._Published(tmp_path / "rel2", release, SHAPES, SPECS)
    twice.add("mentions", "train", mentions.slice(0, 5))
    twice.add("mentions", "train", mentions.slice(4, 5))
    twice.complete()
    assert twice.problems and {p.file for p in twice.problems} == {name}
    assert {p.field for p in twice.problems} == {"mention_id"}
    twice.abort()


@pytest.mark.parametrize("write_ahead", [0, 1 << 30])
def test_writes_in_the_writer_thread_keep_the_bytes_and_raise_their_errors_here(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, write_ahead: int
) -> None:
    """The writer thread writes each file's row groups in the order they were validated
    (the bytes of the whole table), whether the build waits after every batch (0) or never
    (1 GiB ahead); an error in the thread (a full disk) is raised by the build's own calls,
    and ``abort`` stops the thread with no write left running."""
    plan = plan_release(PATHS, Settings.load(PATHS))
    schema = SHAPES.arrow_schema(RAW, published=True)
    table = ReleaseTableBuilder.raw_tables(raw_frame(plan.validated.layers), plan.splits, schema)[
        "train"
    ]
    monkeypatch.setattr(build_module, "VALIDATE_ROWS", 40)
    monkeypatch.setattr(build_module, "WRITE_AHEAD_BYTES", write_ahead)
    release = build_module.BuiltRelease(tmp_path / "rel")
    published = build_module._Published(release.root, release, SHAPES, SPECS)
    for at in range(0, table.num_rows, 40):
        published.add("annotations_raw", "train", table.slice(at, 40))
    published.complete()
    published.close()
    written = (release.root / "data/annotations_raw/train-00000-of-00001.parquet").read_bytes()
    assert written == parquet_bytes(with_hf_features(table, SHAPES.features(RAW)))
    assert release.overlapped_seconds["write_parquet"] > 0

    calls: list[int] = []
    real_write = StreamedParquet.write

    def disk_full_on_third(self: StreamedParquet, piece: object) -> None:
        calls.append(1)
        if len(calls) == 3:
            raise OSError(28, "No space left on device")
        real_write(self, piece)

    monkeypatch.setattr(StreamedParquet, "write", disk_full_on_third)
    failing = build_module._Published(tmp_path / "rel2", release, SHAPES, SPECS)
    with pytest.raises(OSError, match="No space left"):
        for at in range(0, table.num_rows, 40):
            failing.add("annotations_raw", "train", table.slice(at, 40))
        failing.complete()
        failing.close()
    failing.abort()
    assert not failing._in_flight
    with pytest.raises(RuntimeError):  # the thread is shut down: nothing more runs in it
        failing._writes.submit(int)
    assert all(w._writer is None for w in failing.writers.values())


def test_the_unsplit_configs_are_validated_a_slice_at_a_time_and_written_whole(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """folds has 2 rows per article (2M at 1M): validated whole it was the 1M rebuild's
    peak. Each pandera call sees at most VALIDATE_ROWS of its rows; the file is the bytes
    of the whole table written at once."""
    frames: dict[str, list[int]] = {}
    real = build_module.validate_published

    def counted(frame: object, *args: object, **kw: object) -> list[Problem]:
        frames.setdefault(str(kw["file"]), []).append(frame.height)  # type: ignore[attr-defined]
        return real(frame, *args, **kw)  # type: ignore[arg-type]

    monkeypatch.setattr(build_module, "validate_published", counted)
    monkeypatch.setattr(build_module, "VALIDATE_ROWS", 3)
    release = render_release(PATHS, Settings.load(PATHS))
    name = "data/folds/full-00000-of-00001.parquet"
    written = pq.read_table(release.root / name)
    assert written.num_rows > 3 * 2  # several slices
    assert sum(frames[name]) == written.num_rows and max(frames[name]) <= 3
    folds = SPECS.configs["folds"]
    clusters = plan_release(PATHS, Settings.load(PATHS)).clusters
    whole = fold_table(clusters, SHAPES.arrow_schema(folds, published=True))
    assert (release.root / name).read_bytes() == parquet_bytes(
        with_hf_features(whole, SHAPES.features(folds))
    )
