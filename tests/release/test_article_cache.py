"""The per-article cache of published rows (sahelwire.release.article_cache): never trusted.

Every test compares a build's files with those of a build of the same inputs without the
cache (``SAHELWIRE_ARTICLE_CACHE=off``): every byte must be equal, whatever the cache held.
"""

from __future__ import annotations

import os
import random
import threading
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pyarrow as pa
import pytest

from helpers import change_one_export, copy_project, record_made, run_cli, validated_rows
from sahelwire.annotations import memo_keys
from sahelwire.annotations.agreement_cache import cache_folder as agreement_folder
from sahelwire.annotations.baseline_cache import cache_folder as baseline_folder
from sahelwire.annotations.memo_keys import VALIDATION_MODULE
from sahelwire.io import article_packs
from sahelwire.io.article_packs import CACHE_ENV, ArticlePacks
from sahelwire.io.config import Settings
from sahelwire.io.paths import ProjectPaths
from sahelwire.release import article_cache, parquet_reuse, tables
from sahelwire.release.article_cache import ArticleRowCache, cache_folder
from sahelwire.release.build import BuildRefused, render_release
from sahelwire.release.columnar_spans import SPAN_CONFIGS
from sahelwire.release.raw_cache import cache_folder as raw_folder
from sahelwire.schema.table_specs import load_table_specs
from sahelwire.schema.taxonomy import load_taxonomy


@pytest.fixture()
def project(tmp_path: Path) -> ProjectPaths:
    return ProjectPaths(copy_project(tmp_path / "p"))


@pytest.fixture()
def caches(monkeypatch: pytest.MonkeyPatch) -> list[ArticleRowCache]:
    """Every ArticleRowCache a build makes, to read its statistics afterwards."""
    return record_made(monkeypatch, ArticleRowCache)


def files(
    paths: ProjectPaths, monkeypatch: pytest.MonkeyPatch, *, cache: bool
) -> Mapping[str, bytes]:
    monkeypatch.setenv(CACHE_ENV, "on" if cache else "off")
    return render_release(paths, Settings.load(paths)).files


def packs(paths: ProjectPaths) -> list[Path]:
    return sorted(cache_folder(paths).glob("*.pack"))


def test_cold_warm_and_after_a_change_give_the_uncached_bytes(
    project: ProjectPaths, monkeypatch: pytest.MonkeyPatch, caches: list[ArticleRowCache]
) -> None:
    expected = files(project, monkeypatch, cache=False)
    assert not caches and not packs(project)  # off: no cache made, nothing stored

    assert files(project, monkeypatch, cache=True) == expected  # cold: every article made
    cold = caches[-1].stats
    assert cold.hits == 0 and cold.misses > 0 and cold.stored == cold.misses
    (stored,) = packs(project)

    assert files(project, monkeypatch, cache=True) == expected  # warm: every article read
    warm = caches[-1].stats
    assert (warm.hits, warm.misses, warm.stored) == (cold.misses, 0, 0)
    assert packs(project) == [stored]  # nothing made, nothing written

    change_one_export(project)
    expected = files(project, monkeypatch, cache=False)
    assert files(project, monkeypatch, cache=True) == expected
    after = caches[-1].stats
    # The changed article's key no longer matches its entry: made again, the rest read.
    assert (after.hits, after.misses) == (cold.misses - 1, 1)
    assert packs(project) != [stored] and len(packs(project)) == 1
    assert files(project, monkeypatch, cache=True) == expected
    assert caches[-1].stats.misses == 0


def test_unchanged_articles_keep_their_stored_entry_through_a_rebuild(
    project: ProjectPaths, monkeypatch: pytest.MonkeyPatch, caches: list[ArticleRowCache]
) -> None:
    """A rebuild stores an unchanged article's statistics as the JSON it read (not parsed and
    written again); the changed article's are made anew. Bytes as without the cache."""
    files(project, monkeypatch, cache=True)
    schemas = caches[-1].packs.schemas  # type: ignore[union-attr]
    fingerprint = caches[-1].fingerprint

    def entries() -> dict[str, tuple[str, str, dict[str, list[int]]]]:
        loaded = ArticlePacks(cache_folder(project), fingerprint, schemas).load()
        assert loaded is not None
        out = {a: loaded.entries.found(a) for a in loaded.entries}
        loaded.close()
        assert loaded.entries.found("no such article") is None
        return out  # type: ignore[return-value]

    before = entries()
    change_one_export(project)
    expected = files(project, monkeypatch, cache=False)
    encoded: list[object] = []
    encode = article_cache.encode_bio

    def counted(stats: Any) -> list[Any]:
        encoded.append(stats)
        return encode(stats)

    monkeypatch.setattr(article_cache, "encode_bio", counted)
    assert files(project, monkeypatch, cache=True) == expected
    assert len(encoded) == 1  # the changed article's statistics only: the others as read
    after = entries()
    assert before.keys() == after.keys()
    changed = [a for a in before if before[a][0] != after[a][0]]  # its key
    assert len(changed) == 1
    for a in before:
        if a not in changed:  # same key and stored JSON; rows where this pack put them
            assert before[a][:2] == after[a][:2]


def test_an_entry_whose_extra_is_not_statistics_is_made_again(
    project: ProjectPaths, monkeypatch: pytest.MonkeyPatch, caches: list[ArticleRowCache]
) -> None:
    """A stored extra that is not this code's statistics (another key beside ``bio``, a
    value decode_bio cannot read) is a miss, not an error; the bytes are the uncached ones."""
    expected = files(project, monkeypatch, cache=False)
    files(project, monkeypatch, cache=True)
    articles = caches[-1].stats.misses
    real = article_packs.PackEntries.found
    extras = iter(['{"bio": [], "other": 1}', '{"bio": "x"}', "[1]", "not json"])

    def spoiled(self: article_packs.PackEntries, article_id: str) -> object:
        found = real(self, article_id)
        if found is None or "documents" not in self.names:  # the other memos' packs as read
            return found
        return found[0], next(extras, found[1]), found[2]

    monkeypatch.setattr(article_packs.PackEntries, "found", spoiled)
    assert files(project, monkeypatch, cache=True) == expected
    assert caches[-1].stats.misses == 4 and caches[-1].stats.hits == articles - 4


def test_the_duckdb_engine_memoises_only_the_configs_python_makes(
    project: ProjectPaths, monkeypatch: pytest.MonkeyPatch, caches: list[ArticleRowCache]
) -> None:
    """With build_engine = "duckdb" the span configs come from SQL: their rows are neither
    turned into Arrow nor stored per article (each stored pack holds only what is read)."""
    assert Settings.load(project).build_engine == "duckdb"  # the committed setting
    files(project, monkeypatch, cache=True)
    (cache,) = caches
    assert "documents" in cache.names
    assert not set(cache.names) & set(SPAN_CONFIGS), cache.names
    assert cache.packs is not None
    loaded = cache.packs.load()  # the pack the build stored, read back and verified
    assert loaded is not None and loaded.path == packs(project)[0]
    assert set(loaded.tables) == set(cache.names)
    assert loaded.tables["documents"].num_rows > 0


@pytest.mark.parametrize("damage", ["table byte", "metadata byte", "truncated", "garbage"])
def test_a_damaged_pack_is_ignored_and_replaced(
    project: ProjectPaths,
    monkeypatch: pytest.MonkeyPatch,
    caches: list[ArticleRowCache],
    damage: str,
) -> None:
    expected = files(project, monkeypatch, cache=False)
    assert files(project, monkeypatch, cache=True) == expected
    articles = caches[-1].stats.misses
    (pack,) = packs(project)
    data = bytearray(pack.read_bytes())
    if damage == "table byte":
        data[200] ^= 0xFF  # inside the first Arrow stream
    elif damage == "metadata byte":
        data[-100] ^= 0x01
    elif damage == "truncated":
        del data[len(data) // 2 :]
    else:
        data = bytearray(b"not a pack at all")
    pack.write_bytes(bytes(data))

    assert files(project, monkeypatch, cache=True) == expected  # no error, same bytes
    stats = caches[-1].stats
    assert stats.ignored and stats.hits == 0 and stats.misses == articles
    assert len(packs(project)) == 1 and packs(project)[0].read_bytes() != bytes(data)
    assert files(project, monkeypatch, cache=True) == expected
    assert caches[-1].stats.misses == 0  # the replacement is sound


def test_an_entry_is_used_only_under_its_own_key(
    project: ProjectPaths, monkeypatch: pytest.MonkeyPatch, caches: list[ArticleRowCache]
) -> None:
    """Another code/taxonomy fingerprint, or an entry whose key differs: not used."""
    expected = files(project, monkeypatch, cache=True)
    articles = caches[-1].stats.misses
    real = article_cache.memo_fingerprint
    monkeypatch.setattr(
        article_cache, "memo_fingerprint", lambda *a, **k: f"{real(*a, **k)}-another-version"
    )
    assert files(project, monkeypatch, cache=True) == expected
    assert caches[-1].stats.misses == articles and caches[-1].stats.ignored


def test_the_cache_can_be_cleared_and_the_folder_be_unwritable(
    project: ProjectPaths, monkeypatch: pytest.MonkeyPatch, caches: list[ArticleRowCache]
) -> None:
    expected = files(project, monkeypatch, cache=True)
    removed, size = article_cache.clear(project)
    assert removed == 2 and size > 0 and not packs(project)  # the pack and its checked mark
    assert not list(cache_folder(project).iterdir())
    # A file where the folder should be: nothing can be stored, the build is unaffected.
    cache_folder(project).rmdir()
    cache_folder(project).write_text("in the way")
    assert files(project, monkeypatch, cache=True) == expected
    assert caches[-1].stats.write_error


def test_cache_info_lists_and_clear_removes_the_memo_packs(
    project: ProjectPaths, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(CACHE_ENV, "on")
    rendered = render_release(project, Settings.load(project))
    (rows,) = packs(project)
    (errors,) = sorted(agreement_folder(project).glob("*.pack"))
    shown = run_cli(project.root, "cache", "info")
    assert shown.returncode == 0, shown.stderr
    assert rows.name in shown.stdout and errors.name in shown.stdout
    assert "per-article published rows" in shown.stdout
    assert "per-article baseline predictions" in shown.stdout
    # the rows and annotations_raw packs a problem-free build validated say so; no other
    # memo pack is marked
    (raw_rows,) = sorted(raw_folder(project).glob("*.pack"))
    for pack in (rows, raw_rows):
        (line,) = [line for line in shown.stdout.splitlines() if pack.name in line]
        assert line.endswith("rows validated by a build")
    assert shown.stdout.count("rows validated by a build") == 2
    kept = sorted(parquet_reuse.cache_folder(project).iterdir())
    assert len(kept) == len(rendered.data) + 1  # the build's Parquet files and their index
    cleared = run_cli(project.root, "cache", "clear")
    assert cleared.returncode == 0, cleared.stderr
    # the export pack, the export files' and raw texts' hashes and twelve memo packs (rows,
    # annotations_raw rows, error classes, the agreement report, baseline predictions, span
    # rules of the annotations and of gold, input rules per export file, the card's article
    # lengths, label counts, organisations and leakage section) and the checked marks of the
    # rows and annotations_raw packs; the kept Parquet files
    assert "raw texts' hashes: 5" in shown.stdout
    assert "per-article annotations_raw rows" in shown.stdout
    assert "per-export-file input rules" in shown.stdout
    for kept_by_card in ("article lengths", "gold label counts", "organisations", "leakage"):
        assert f"the card's {kept_by_card}" in shown.stdout
    assert f"removed {17 + len(kept)} cache file(s)" in cleared.stdout
    assert not list(parquet_reuse.cache_folder(project).iterdir())
    assert not packs(project) and not list(agreement_folder(project).glob("*.pack"))
    assert not list(baseline_folder(project).glob("*.pack"))


def test_a_pack_is_written_piece_by_piece_and_reads_back_whole(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The writer keeps no rows and no entries: each piece goes to its table's temporary
    # stream at once, the entries to theirs, and finish joins them into one verified pack
    # (the cold build of a large corpus would otherwise hold every article's rows and
    # entries until the end).
    monkeypatch.setattr(article_packs, "BLOCK_ROWS", 3)  # a block per piece
    # The writer's thread holds nothing ahead: each block is written before add returns.
    monkeypatch.setattr(article_packs, "WRITE_AHEAD_BYTES", 0)
    schema = pa.schema([("article_id", pa.string()), ("n", pa.int64())])
    packs = ArticlePacks(tmp_path / "memo", "fp", {"t": schema})
    writer = packs.writer()
    # Incompressible ids, so that each piece is past the file's buffer once written.
    pieces = [
        pa.table({"article_id": [os.urandom(2000).hex()] * 3, "n": [i, i, i]}, schema=schema)
        for i in range(4)
    ]
    entries = {
        f"a{i}": {"key": os.urandom(4000).hex(), "rows": {"t": [3 * i, 3]}} for i in range(4)
    }
    for i, piece in enumerate(pieces):
        writer.add("t", piece)
        if i < 3:
            writer.add_entries({f"a{i}": entries[f"a{i}"]})
    streams = list((tmp_path / "memo").glob(".pack.*.tmp"))
    assert len(streams) == 2 and all(s.stat().st_size > 0 for s in streams)  # as they came
    writer.finish({"a3": entries["a3"]})
    assert list((tmp_path / "memo").glob(".pack.*.tmp")) == []
    loaded = packs.load()
    assert loaded is not None and loaded.tables["t"].read_all().equals(pa.concat_tables(pieces))
    assert dict(loaded.entries) == entries and list(loaded.entries) == list(entries)
    assert packs.stats.stored == 4


@pytest.mark.parametrize("at", ["a block", "the entries"])
def test_a_block_the_writers_thread_cannot_write_leaves_no_pack_and_raises_nothing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, at: str
) -> None:
    # The blocks are encoded and written in the writer's thread: an error there (a full
    # disk) reaches the run as the memo's write error, the temporary files are removed, the
    # pack before stays, and the run goes on.
    schema = pa.schema([("article_id", pa.string()), ("n", pa.int64())])
    packs = ArticlePacks(tmp_path / "memo", "fp", {"t": schema})
    first = {"t": [pa.table({"article_id": ["a"], "n": [1]}, schema=schema)]}
    packs.write(first, {"a": {"key": "k", "rows": {"t": [0, 1]}}})
    (before,) = (tmp_path / "memo").glob("*.pack")
    monkeypatch.setattr(article_packs, "BLOCK_ROWS", 1)  # a block per piece
    real = article_packs.PackWriter._encode
    failing = article_packs.ENTRIES if at == "the entries" else "t"

    def full_disk(self: Any, name: str, pieces: list[pa.Table]) -> None:
        if name == failing:
            raise OSError(28, "No space left on device")
        real(self, name, pieces)

    monkeypatch.setattr(article_packs.PackWriter, "_encode", full_disk)
    writer = packs.writer()
    for i in range(5):
        writer.add("t", pa.table({"article_id": [f"b{i}"], "n": [i]}, schema=schema))
    writer.finish({f"b{i}": {"key": "k", "rows": {"t": [i, 1]}} for i in range(5)})
    assert packs.stats.write_error is not None and "No space left" in packs.stats.write_error
    assert sorted(p.name for p in (tmp_path / "memo").iterdir()) == [before.name]
    loaded = packs.load()
    assert loaded is not None and loaded.path == before and list(loaded.entries) == ["a"]
    loaded.close()


def test_a_pack_is_read_a_block_at_a_time_even_once_replaced(tmp_path: Path) -> None:
    """Tables are read back a block at a time as slices need them (at 1M articles the pack is
    the whole release's per-article rows: read whole, it would be in memory); a slice across
    blocks is the same rows; reads go on from the file as verified after another run
    replaced the pack (its file removed)."""
    schema = pa.schema([("article_id", pa.string()), ("n", pa.int64())])
    packs = ArticlePacks(tmp_path / "memo", "fp", {"t": schema})
    writer = packs.writer()
    rows = 3 * article_packs.BLOCK_ROWS + 17  # short rows: blocks end on BLOCK_ROWS
    whole = pa.table(
        {"article_id": [f"a{i:06d}" for i in range(rows)], "n": list(range(rows))}, schema=schema
    )
    for at in range(0, rows, 1000):  # pieces of 1,000 rows: blocks gather them
        writer.add("t", whole.slice(at, 1000))
    writer.finish({})
    loaded = packs.load()
    assert loaded is not None
    table = loaded.tables["t"]
    sizes = [b - a for a, b in zip(table.starts, table.starts[1:], strict=False)]
    assert table.num_rows == rows and len(sizes) == 3, sizes  # 5,000 + 5,000 + 2,305
    assert all(size >= article_packs.BLOCK_ROWS for size in sizes[:-1]), sizes
    assert table._decoded == {}  # nothing read yet
    rng = random.Random(5)
    for _ in range(200):
        start = rng.randrange(rows)
        n = rng.randrange(0, min(rows - start, 2 * article_packs.BLOCK_ROWS) + 1)
        assert table.slice(start, n).equals(whole.slice(start, n)), (start, n)
        # Kept decoded and read ahead: at most READ_AHEAD_BLOCKS more than DECODED_BLOCKS.
        held = len(table._decoded) + len(table._ahead)
        assert held <= article_packs.DECODED_BLOCKS + article_packs.READ_AHEAD_BLOCKS
    # Another run stores its pack and removes this one: the slices still read.
    other = ArticlePacks(tmp_path / "memo", "fp", {"t": schema})
    other.write({"t": [whole.slice(0, 5)]}, {})
    assert not loaded.path.exists()
    table._decoded.clear()
    assert table.slice(rows - 20, 20).equals(whole.slice(rows - 20, 20))
    loaded.close()


def _pack_of_blocks(tmp_path: Path, blocks: int) -> tuple[ArticlePacks, pa.Table]:
    """A pack of one table ``t`` of ``blocks`` full blocks, and the table it holds."""
    schema = pa.schema([("article_id", pa.string()), ("n", pa.int64())])
    packs = ArticlePacks(tmp_path / "memo", "fp", {"t": schema})
    rows = blocks * article_packs.BLOCK_ROWS
    whole = pa.table(
        {"article_id": [f"a{i:06d}" for i in range(rows)], "n": list(range(rows))}, schema=schema
    )
    size = article_packs.BLOCK_ROWS
    packs.write({"t": [whole.slice(at, size) for at in range(0, rows, size)]}, {})
    return packs, whole


def test_blocks_taken_in_order_are_read_ahead_in_a_thread(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A table read in order (a rebuild reading the last run's pack) has its next block read
    and decoded in the reader thread meanwhile, off the main thread; the rows are the same;
    a jump reads nothing ahead."""
    packs, whole = _pack_of_blocks(tmp_path, 5)
    reads: list[tuple[int, str]] = []
    real = article_packs.PackTable._read

    def recorded(self: article_packs.PackTable, i: int) -> pa.Table:
        reads.append((i, threading.current_thread().name))
        return real(self, i)

    monkeypatch.setattr(article_packs.PackTable, "_read", recorded)
    loaded = packs.load()
    assert loaded is not None
    table = loaded.tables["t"]
    assert len(table.places) == 5
    # The first block taken: the next READ_AHEAD_BLOCKS (4) are asked of the thread at once,
    # so a hand-off per block is not waited for (each waits for the GIL).
    assert table.slice(0, 1).equals(whole.slice(0, 1))
    assert [i for i, _ in table._ahead] == [1, 2, 3, 4]
    step = article_packs.BLOCK_ROWS // 3
    for at in range(0, whole.num_rows, step):
        n = min(step, whole.num_rows - at)
        assert table.slice(at, n).equals(whole.slice(at, n)), at
    assert sorted(i for i, _ in reads) == [0, 1, 2, 3, 4]  # each block read once
    assert reads[0] == (0, threading.current_thread().name)
    assert {thread for i, thread in reads if i} == {"pack-read_0"}, reads
    # A jump back is read where it is asked for, and nothing is read ahead of it.
    table._decoded.clear()
    reads.clear()
    assert table.slice(article_packs.BLOCK_ROWS, 1).equals(whole.slice(article_packs.BLOCK_ROWS, 1))
    assert reads == [(1, threading.current_thread().name)] and not table._ahead
    loaded.close()


def test_a_block_read_ahead_fails_only_when_taken_and_close_waits_for_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A read ahead that fails raises where the block is taken, as a read in the main thread
    would; one never taken is dropped with its error, and closing the pack waits for a read
    under way (the file's descriptor is closed only then)."""
    packs, whole = _pack_of_blocks(tmp_path, 4)
    real = article_packs.PackTable._read
    open_while_read: list[bool] = []

    def failing(self: article_packs.PackTable, i: int) -> pa.Table:
        if i == 3:
            time.sleep(0.3)  # still under way when the pack is closed
            open_while_read.append(self.file is not None and not self.file.closed)
        if i in (2, 3):
            raise OSError(5, "Input/output error")
        return real(self, i)

    monkeypatch.setattr(article_packs.PackTable, "_read", failing)
    loaded = packs.load()
    assert loaded is not None
    table = loaded.tables["t"]
    size = article_packs.BLOCK_ROWS
    assert table.slice(0, 2 * size).equals(whole.slice(0, 2 * size))  # 2 is read ahead
    assert [i for i, _ in table._ahead] == [2, 3]  # and 3, the last block
    with pytest.raises(OSError, match="Input/output error"):
        table.slice(2 * size, 1)
    # Block 3, asked for ahead and never taken: closing the pack waits for its read, and
    # its error, no one's, is not raised.
    table._read_ahead(3)
    [(_, future)] = table._ahead
    loaded.close()
    assert future.done() and not table._ahead
    assert open_while_read == [True] and loaded.file is None


def test_a_block_of_long_rows_ends_at_block_bytes(tmp_path: Path) -> None:
    """Rows that hold a whole text make a block of BLOCK_BYTES, not BLOCK_ROWS (a read
    decodes a bounded amount)."""
    schema = pa.schema([("text", pa.string())])
    packs = ArticlePacks(tmp_path / "memo", "fp", {"t": schema})
    writer = packs.writer()
    text = "x" * (3 << 20)
    for _ in range(10):
        writer.add("t", pa.table({"text": [text]}, schema=schema))
    writer.finish({})
    loaded = packs.load()
    assert loaded is not None
    table = loaded.tables["t"]
    sizes = [b - a for a, b in zip(table.starts, table.starts[1:], strict=False)]
    assert sizes == [3, 3, 3, 1], sizes  # 9 MB ≥ 8 MB: a block
    assert table.slice(2, 5).column("text").to_pylist() == [text] * 5
    loaded.close()


@pytest.mark.parametrize("rows", [[0, 3], [2, 2], [-1, 1], [0, -1], None])
def test_entries_are_columns_and_one_outside_its_table_spoils_the_pack(
    tmp_path: Path, rows: list[int] | None
) -> None:
    """Entries are read back as Arrow columns, made into a dict when asked for; an entry
    whose rows lie outside its table makes the
    pack a miss, never an error."""
    schema = pa.schema([("n", pa.int64())])
    packs = ArticlePacks(tmp_path / "memo", "fp", {"t": schema})
    good: dict[str, dict[str, Any]] = {
        "a": {"key": "k1", "rows": {"t": [0, 2]}, "bio": [1, [["X", 2]]]}
    }
    packs.write({"t": [pa.table({"n": [1, 2, 3]}, schema=schema)]}, good)
    loaded = packs.load()
    assert loaded is not None and isinstance(loaded.entries, article_packs.PackEntries)
    assert loaded.entries["a"] == good["a"] and "b" not in loaded.entries
    loaded.close()
    bad: dict[str, dict[str, Any]] = dict(
        good, b={"key": "k2", "rows": {"t": rows} if rows else {}}
    )
    packs.write({"t": [pa.table({"n": [1, 2, 3]}, schema=schema)]}, bad)
    loaded = packs.load()
    if rows in ([0, 3], None):  # inside the table, or no rows at all: sound
        assert loaded is not None and dict(loaded.entries) == bad
        loaded.close()
    else:
        assert loaded is None and "outside the table" in packs.stats.ignored[-1]


def test_a_warm_run_that_misses_nothing_writes_no_pack(
    project: ProjectPaths, monkeypatch: pytest.MonkeyPatch, caches: list[ArticleRowCache]
) -> None:
    """Every article keyed first (ArticleRowCache.plan): a run that misses nothing keeps the
    pack it read. With the last build's files kept, it reads no row of it either (each
    file placed from its sources); without them, it reads the rows, still writing no pack.
    Rows held from the pack in case a later article missed were the whole release at 1M."""
    cold = files(project, monkeypatch, cache=True)
    monkeypatch.setattr(tables, "CHUNK_ARTICLES", 2)
    first = packs(project)
    read: list[int] = []
    slice_rows = article_packs.PackTable.slice

    def counted(self: article_packs.PackTable, start: int, length: int) -> pa.Table:
        if Path(self.file.name).parent == cache_folder(project):  # not annotations_raw's memo
            read.append(length)
        return slice_rows(self, start, length)

    monkeypatch.setattr(article_packs.PackTable, "slice", counted)
    warm = files(project, monkeypatch, cache=True)
    stats = caches[-1].stats
    assert stats.hits == 5 and stats.misses == 0 and stats.stored == 0
    assert packs(project) == first and read == []  # nothing written, no row read
    parquet_reuse.clear(project)
    again = files(project, monkeypatch, cache=True)
    stats = caches[-1].stats
    assert stats.hits == 5 and stats.stored == 0 and packs(project) == first
    assert sum(read) > 0  # the rows read from the pack, for the files made again
    assert cold == warm == again == files(project, monkeypatch, cache=False)


def test_the_article_cache_hands_each_chunks_entries_to_the_pack_writer(
    project: ProjectPaths, monkeypatch: pytest.MonkeyPatch, caches: list[ArticleRowCache]
) -> None:
    """A cold build's entries go to the pack as each chunk ends: none of a finished chunk is
    held (at 1M articles they were ≈0.9 GB at the end of the per-article configs)."""
    monkeypatch.setattr(tables, "CHUNK_ARTICLES", 2)  # the committed 5 articles: 3 chunks
    held: list[int] = []
    chunk = ArticleRowCache.chunk

    def watched(self: ArticleRowCache, *args: object, **kwargs: object) -> object:
        out = chunk(self, *args, **kwargs)  # type: ignore[arg-type]
        held.append(len(self.new_entries) + len(self.keys))
        return out

    monkeypatch.setattr(ArticleRowCache, "chunk", watched)
    cold = files(project, monkeypatch, cache=True)
    assert len(held) == 3 and max(held) <= 2, held  # a chunk's keys, no entries
    stats = caches[-1].stats
    assert stats.misses == 5 and stats.stored == 5
    warm = files(project, monkeypatch, cache=True)
    assert caches[-1].stats.hits == 5
    assert cold == warm == files(project, monkeypatch, cache=False)


def test_a_pack_that_cannot_be_written_is_skipped_without_leftovers(tmp_path: Path) -> None:
    schema = pa.schema([("n", pa.int64())])
    blocked = tmp_path / "file"
    blocked.write_text("not a folder")
    packs = ArticlePacks(blocked / "memo", "fp", {"t": schema})
    writer = packs.writer()
    writer.add("t", pa.table({"n": [1]}, schema=schema))
    writer.finish({})
    assert packs.stats.write_error and packs.stats.stored == 0
    assert packs.load() is None


def test_rows_a_build_validated_are_not_validated_again(
    project: ProjectPaths, monkeypatch: pytest.MonkeyPatch, caches: list[ArticleRowCache]
) -> None:
    """Once a build has validated every row, its pack is marked checked; the next build
    validates, of the memoised configs, only the rows it made (the changed article's).
    The other configs are validated whole, or placed from their sources (the span configs,
    whose gold did not change), and the bytes are those of a build without it."""
    cold = validated_rows(monkeypatch)
    files(project, monkeypatch, cache=True)  # cold: every row made and validated
    assert cold["documents"] == 5
    (stored,) = packs(project)
    assert article_packs.checked_mark(stored).is_file()
    memoised = set(caches[-1].names)
    assert {"documents", "ner_bio"} <= memoised

    change_one_export(project)
    expected = files(project, monkeypatch, cache=False)
    every = validated_rows(monkeypatch)
    files(project, monkeypatch, cache=False)  # what a build validates without the memo
    seen = validated_rows(monkeypatch)
    assert files(project, monkeypatch, cache=True) == expected
    assert (caches[-1].stats.hits, caches[-1].stats.misses) == (4, 1)
    assert seen["documents"] == 1  # one row per article: the changed one
    assert 0 < seen["ner_bio"] < every["ner_bio"]
    # annotations_raw: its own memo's rows, validated once too (test_raw_cache.py).
    for name in set(every) - memoised - set(SPAN_CONFIGS) - {"annotations_raw"}:
        assert seen[name] == every[name], name
    for name in SPAN_CONFIGS:  # a stance is not a span: placed from their sources, no SQL
        assert name not in seen, name
    (after,) = packs(project)
    assert after != stored and article_packs.checked_mark(after).is_file()
    assert not article_packs.checked_mark(stored).exists()  # gone with its pack

    seen = validated_rows(monkeypatch)
    assert files(project, monkeypatch, cache=True) == expected  # warm: nothing made
    assert not any(seen.get(name) for name in memoised)


def test_a_refused_build_leaves_its_rows_to_be_validated_again(
    project: ProjectPaths, monkeypatch: pytest.MonkeyPatch, caches: list[ArticleRowCache]
) -> None:
    """A refused build's pack (its rows made before the refusal) is not marked: the next
    build validates every row of it, and marks it only when all of them pass."""
    expected = files(project, monkeypatch, cache=False)
    validated_rows(monkeypatch, refuse="documents")
    with pytest.raises(BuildRefused):
        files(project, monkeypatch, cache=True)
    (stored,) = packs(project)
    assert not article_packs.checked_mark(stored).exists()

    seen = validated_rows(monkeypatch)
    assert files(project, monkeypatch, cache=True) == expected
    assert caches[-1].stats.misses == 0  # the refused build's rows, read back...
    assert seen["documents"] == 5  # ...and validated again
    assert packs(project) == [stored] and article_packs.checked_mark(stored).is_file()
    seen = validated_rows(monkeypatch)
    files(project, monkeypatch, cache=True)
    assert "documents" not in seen


def test_the_published_rows_validation_code_is_in_the_memo_key(
    project: ProjectPaths, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """Checked rows are not validated again, so the rules' code (table_validation and every
    module it imports) is in the key: a change to it makes every entry a miss."""
    monkeypatch.setenv(CACHE_ENV, "on")
    taxonomy = load_taxonomy(project.taxonomy_file)
    specs = load_table_specs(project.schemas_dir / "tables.yaml")
    before = ArticleRowCache.for_project(project, taxonomy, specs)
    assert before is not None
    real = memo_keys.parser_sources
    sources = real(VALIDATION_MODULE)
    rules = "sahelwire.schema.pandera_schemas"
    assert rules in sources and rules not in real(article_cache.__name__)

    edited = tmp_path / "pandera_schemas.py"
    edited.write_text(sources[rules].read_text(encoding="utf-8") + "\n# a changed rule\n")

    def with_edit(module: str = VALIDATION_MODULE) -> dict[str, Path]:
        found = real(module)
        if rules in found:
            found[rules] = edited
        return found

    monkeypatch.setattr(memo_keys, "parser_sources", with_edit)
    after = ArticleRowCache.for_project(project, taxonomy, specs)
    assert after is not None and after.fingerprint != before.fingerprint
