"""``annotations_raw`` memoised per article (sahelwire.release.raw_cache): never trusted.

Every build is compared with a build of the same inputs without the memos
(``SAHELWIRE_ARTICLE_CACHE=off``): every byte must be equal, whatever the memo held. And
DuckDB must have sorted the changed articles only: that is what the memo is for.
"""

from __future__ import annotations

import itertools
import json
import random
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import polars as pl
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from helpers import (
    change_one_export,
    copy_project,
    drop_entity_region,
    record_made,
    validated_rows,
)
from sahelwire.io import article_packs
from sahelwire.io.article_packs import CACHE_ENV, checked_mark
from sahelwire.io.config import SPLITS, Settings
from sahelwire.io.paths import ProjectPaths
from sahelwire.release import columnar, parquet_files, parquet_reuse, raw_cache
from sahelwire.release.build import BuildRefused, render_release
from sahelwire.release.columnar import RAW_SOURCES
from sahelwire.release.raw_cache import RawRowCache, cache_folder


@pytest.fixture()
def project(tmp_path: Path) -> ProjectPaths:
    paths = ProjectPaths(copy_project(tmp_path / "p"))
    assert Settings.load(paths).build_engine == "duckdb"  # the engine the memo serves
    return paths


@pytest.fixture()
def memos(monkeypatch: pytest.MonkeyPatch) -> list[RawRowCache]:
    return record_made(monkeypatch, RawRowCache)


@pytest.fixture()
def sorted_articles(monkeypatch: pytest.MonkeyPatch) -> list[set[str]]:
    """Per build: the articles whose annotations_raw rows DuckDB sorted."""
    runs: list[set[str]] = []
    original = columnar.duckdb_raw_batches

    def recording(*args: Any, **kwargs: Any) -> Iterator[tuple[str, pa.Table]]:
        seen: set[str] = set()
        runs.append(seen)
        for split, table in original(*args, **kwargs):
            seen.update(table.column("article_id").to_pylist())
            yield split, table

    monkeypatch.setattr(columnar, "duckdb_raw_batches", recording)
    return runs


def files(
    paths: ProjectPaths, monkeypatch: pytest.MonkeyPatch, *, memo: bool
) -> Mapping[str, bytes]:
    monkeypatch.setenv(CACHE_ENV, "on" if memo else "off")
    return render_release(paths, Settings.load(paths)).files


def packs(paths: ProjectPaths) -> list[Path]:
    return sorted(cache_folder(paths).glob("*.pack"))


def exports(paths: ProjectPaths) -> list[Path]:
    return sorted(paths.exports_dir.glob("*.json"))


def test_cold_warm_and_after_changes_give_the_unmemoised_bytes_sorting_only_the_changed(
    project: ProjectPaths,
    monkeypatch: pytest.MonkeyPatch,
    memos: list[RawRowCache],
    sorted_articles: list[set[str]],
) -> None:
    expected = files(project, monkeypatch, memo=False)
    assert not memos and not packs(project)
    everything = sorted_articles[-1]
    assert len(everything) == 5

    assert files(project, monkeypatch, memo=True) == expected  # cold: everything sorted
    cold = memos[-1].stats
    assert not memos[-1].few_to_sort  # every article to sort: the sources as they are
    assert (cold.hits, cold.misses, cold.stored) == (0, 5, 5)
    assert sorted_articles[-1] == everything
    (stored,) = packs(project)

    assert files(project, monkeypatch, memo=True) == expected  # warm: nothing sorted
    warm = memos[-1].stats
    assert (warm.hits, warm.misses) == (0 + 5, 0)
    assert sorted_articles[-1] == set()
    assert packs(project) == [stored]  # nothing new: the pack is kept as it was

    # One article's choices change: it alone is sorted again, its sources cut to it first
    # (few_articles: under 1 in FEW_SHARE articles to sort; 2 here, for 1 of 5).
    monkeypatch.setattr(raw_cache, "FEW_SHARE", 2)
    change_one_export(project)
    changed = files(project, monkeypatch, memo=False)
    assert changed != expected
    assert files(project, monkeypatch, memo=True) == changed
    after = memos[-1].stats
    assert (after.hits, after.misses) == (4, 1) and memos[-1].few_to_sort
    (first,) = sorted_articles[-1]
    assert first == min(everything)  # the first export is the first article's

    # Another loses a region: every later row's input number moves, and only it is sorted.
    second = exports(project)[1]
    drop_entity_region(second)
    dropped = files(project, monkeypatch, memo=False)
    assert files(project, monkeypatch, memo=True) == dropped
    assert (memos[-1].stats.hits, memos[-1].stats.misses) == (4, 1)
    assert len(sorted_articles[-1]) == 1 and first not in sorted_articles[-1]


def test_a_damaged_pack_is_ignored_and_replaced(
    project: ProjectPaths, monkeypatch: pytest.MonkeyPatch, memos: list[RawRowCache]
) -> None:
    expected = files(project, monkeypatch, memo=False)
    files(project, monkeypatch, memo=True)
    (pack,) = packs(project)
    data = bytearray(pack.read_bytes())
    data[len(data) // 3] ^= 0xFF  # one flipped byte inside a table
    pack.write_bytes(bytes(data))
    assert files(project, monkeypatch, memo=True) == expected
    stats = memos[-1].stats
    assert (stats.hits, stats.misses, stats.stored) == (0, 5, 5)
    assert stats.ignored and "sha256" in stats.ignored[0]
    (replaced,) = packs(project)
    assert replaced.read_bytes() != bytes(data)


def test_ids_shorter_than_the_sort_width_are_all_sorted(tmp_path: Path) -> None:
    # "1" and "01" both compare as "000000000001": their rows interleave in the sort, so
    # no article's rows can be kept apart; the memo steps aside.
    memo = RawRowCache(tmp_path / "memo", "fp")
    frames = {
        name: pl.DataFrame({"_row": [0, 1], "article_id": ["1", "01"], "x": [1, 2]})
        for name in RAW_SOURCES[:-1]
    }
    memo.note(frames)
    splits = {"1": "train", "01": "train"}
    schema = pa.schema([("article_id", pa.string())])
    assert memo.plan(splits, schema) == splits and not memo.active
    given = [("train", pa.table({"article_id": ["01", "1"]}, schema=schema))]
    assert list(memo.merge(iter(given))) == [(s, t, t) for s, t in given]  # all to validate
    assert not (tmp_path / "memo").exists()  # nothing stored


def test_the_key_leaves_out_the_input_order_number_but_not_the_order(tmp_path: Path) -> None:
    def digest(rows: list[tuple[int, str, int]]) -> bytes:
        memo = RawRowCache(tmp_path / "memo", "fp")
        frame = pl.DataFrame(rows, schema=["_row", "article_id", "x"], orient="row")
        memo.note(
            {name: frame if name == "regions" else frame.clear() for name in RAW_SOURCES[:-1]}
        )
        return memo.digests["a" * 12]

    a = "a" * 12
    base = digest([(0, a, 1), (1, a, 2)])
    assert digest([(7, a, 1), (8, a, 2)]) == base  # other articles' rows came before
    assert digest([(0, a, 2), (1, a, 1)]) != base  # its own rows in another order
    assert digest([(0, a, 1), (1, a, 3)]) != base


def _sorted_tables(
    rows: dict[str, list[int]], splits: Mapping[str, str], rng: random.Random
) -> list[tuple[str, pa.Table]]:
    """What DuckDB gives for ``splits``' articles: per split in order, tables of whole
    articles in id order, of random sizes."""
    out = []
    for split in SPLITS:
        ids = sorted(a for a in splits if splits[a] == split and rows.get(a))
        while ids:
            take = ids[: rng.randint(1, 4)]
            ids = ids[len(take) :]
            column = [a for a in take for _ in rows[a]]
            values = [v for a in take for v in rows[a]]
            out.append((split, pa.table({"article_id": column, "x": values}, schema=SCHEMA)))
    return out


SCHEMA = pa.schema([("article_id", pa.string()), ("x", pa.int64())])


@pytest.mark.parametrize("seed", range(6))
def test_merged_rows_are_every_article_s_rows_in_id_order_after_any_change(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, seed: int
) -> None:
    # Small pieces and blocks, so runs of kept articles cross blocks and pieces, and the
    # blocks they cover whole are copied into the next pack as they are stored.
    monkeypatch.setattr(raw_cache, "ARROW_BATCH_ROWS", 7)
    monkeypatch.setattr(raw_cache, "BLOCK_ROWS", 5)
    monkeypatch.setattr(article_packs, "BLOCK_ROWS", 5)
    rng = random.Random(seed)
    ids = [f"article-{i:06d}" for i in rng.sample(range(10**6), 40)]
    splits = {a: rng.choice(SPLITS) for a in ids}
    rows = {a: [rng.randrange(100) for _ in range(rng.randint(0, 6))] for a in ids}

    def pairs(table: pa.Table | None) -> list[tuple[str, int]]:
        if table is None:
            return []
        return list(zip(table["article_id"].to_pylist(), table["x"].to_pylist(), strict=True))

    def run(rows: dict[str, list[int]]) -> tuple[RawRowCache, dict[str, list[tuple[str, int]]]]:
        memo = RawRowCache(tmp_path / "memo", "fp")
        frame = pl.DataFrame(
            [(a, v) for a in ids for v in rows[a]], schema=["article_id", "x"], orient="row"
        )
        memo.note({n: frame if n == "regions" else frame.clear() for n in RAW_SOURCES[:-1]})
        to_sort = memo.plan(splits, SCHEMA)
        checked = memo.kept_checked
        got: dict[str, list[tuple[str, int]]] = {s: [] for s in SPLITS}
        to_check: list[tuple[str, int]] = []
        for split, table, rows_to_check in memo.merge(iter(_sorted_tables(rows, to_sort, rng))):
            got[split] += pairs(table)
            to_check += pairs(rows_to_check)
        # What the build validates: every row until a build has validated the pack's, then
        # the sorted (changed) articles' rows only.
        every = [pair for split in SPLITS for pair in got[split]]
        if checked:
            assert to_check == [(a, v) for a, v in every if a in to_sort]
        else:
            assert to_check == every
        memo.validated()  # as a build without a problem does
        return memo, got

    def expected(rows: dict[str, list[int]]) -> dict[str, list[tuple[str, int]]]:
        return {s: [(a, v) for a in sorted(ids) if splits[a] == s for v in rows[a]] for s in SPLITS}

    memo, got = run(rows)
    assert got == expected(rows) and memo.stats.hits == 0 and memo.stats.copied == 0
    copied = 0
    for _ in range(3):
        changed = rng.sample(ids, rng.randint(1, 8))
        for a in changed:
            # Sometimes none: its rows leave a gap among the kept ones in the pack.
            rows[a] = [rng.randrange(100) for _ in range(rng.randint(0, 6))]
        memo, got = run(rows)
        assert got == expected(rows)
        assert memo.stats.misses <= len(changed)
        assert memo.stats.hits + memo.stats.misses == sum(1 for a in ids if rows[a])
        assert memo.kept_checked  # the run before validated its rows
        copied += memo.stats.copied  # read back by the next run (got == expected)
        # However often blocks are copied, only the last is shorter than a block.
        stored = memo.packs.load()
        assert stored is not None
        starts = stored.tables[raw_cache.TABLE].starts
        assert all(b - a >= 5 for a, b in itertools.pairwise(starts[:-1])), starts
        stored.close()
    assert copied


def raw_rows(built: Mapping[str, bytes], article: str | None = None) -> int:
    """Rows of annotations_raw in ``built`` (a release's files), or of one article's."""
    n = 0
    for name, data in built.items():
        if name.startswith("data/annotations_raw/") and name.endswith(".parquet"):
            ids = pq.read_table(pa.BufferReader(data), columns=["article_id"])["article_id"]
            n += len(ids) if article is None else ids.to_pylist().count(article)
    return n


def test_rows_a_build_validated_are_not_validated_again(
    project: ProjectPaths,
    monkeypatch: pytest.MonkeyPatch,
    memos: list[RawRowCache],
    sorted_articles: list[set[str]],
) -> None:
    """Once a build has validated every annotations_raw row without a problem, its pack is
    marked checked; the next build validates only the rows DuckDB sorted (the changed
    article's) and the bytes are those of a build without the memo. A refused build's pack
    is not marked: the next build validates every row again, and marks it then."""
    seen = validated_rows(monkeypatch)
    cold = files(project, monkeypatch, memo=True)
    every = raw_rows(cold)
    assert seen["annotations_raw"] == every > 0
    (stored,) = packs(project)
    assert checked_mark(stored).is_file()

    change_one_export(project)
    expected = files(project, monkeypatch, memo=False)
    seen = validated_rows(monkeypatch)
    assert files(project, monkeypatch, memo=True) == expected
    (changed,) = sorted_articles[-1]
    assert 0 < seen["annotations_raw"] == raw_rows(expected, changed) < every
    (after,) = packs(project)
    assert after != stored and checked_mark(after).is_file()
    assert not checked_mark(stored).exists()  # gone with its pack

    seen = validated_rows(monkeypatch)
    assert files(project, monkeypatch, memo=True) == expected  # warm: nothing sorted
    assert not seen.get("annotations_raw")

    # Refused: another article changes and pandera (made to) refuses annotations_raw.
    drop_entity_region(exports(project)[1])
    dropped = files(project, monkeypatch, memo=False)
    validated_rows(monkeypatch, refuse="annotations_raw")
    with pytest.raises(BuildRefused):
        files(project, monkeypatch, memo=True)
    (refused,) = packs(project)
    assert refused != after and not checked_mark(refused).exists()
    seen = validated_rows(monkeypatch)
    assert files(project, monkeypatch, memo=True) == dropped
    assert memos[-1].stats.misses == 0  # the refused build's rows, read back...
    # ...and validated again: those of the changed article's split. The other splits'
    # articles have the keys of the last good build's files, which are placed: their rows
    # are the ones that build validated.
    (article,) = sorted_articles[-2]  # sorted by the refused build
    (split_file,) = (
        n
        for n in dropped
        if n.startswith("data/annotations_raw/") and raw_rows({n: dropped[n]}, article)
    )
    assert (
        seen["annotations_raw"] == raw_rows({split_file: dropped[split_file]}) < raw_rows(dropped)
    )
    assert packs(project) == [refused] and checked_mark(refused).is_file()


def test_a_split_is_placed_when_its_articles_keys_are_the_last_build_s(
    project: ProjectPaths, monkeypatch: pytest.MonkeyPatch, sorted_articles: list[set[str]]
) -> None:
    """annotations_raw's files are placed from the last build's by their source (each
    article's key, in id order), as the article memo's configs are: a warm build gives them
    no rows; after one article changed only its split's file is written, and without a
    digest of each row group (with other keys they are other rows). The bytes are always
    those of a build without the memo."""
    monkeypatch.setenv(CACHE_ENV, "on")
    given: list[str] = []  # the data files that were given rows, in each build
    real_write = parquet_files.StreamedParquet.write

    def write(self: parquet_files.StreamedParquet, table: pa.Table) -> None:
        if table.num_rows:
            given.append(self.path.parent.name + "/" + self.path.name)
        real_write(self, table)

    monkeypatch.setattr(parquet_files.StreamedParquet, "write", write)

    def build() -> tuple[Mapping[str, bytes], set[str], set[str]]:
        given.clear()
        release = render_release(project, Settings.load(project))
        raw = {n for n in release.files if n.startswith("data/annotations_raw/")}
        written = {n for n in raw if n.split("/", 1)[1] in given}
        return release.files, written, raw & set(release.reused_files)

    def raw_entries() -> list[dict[str, Any]]:
        index = json.loads((parquet_reuse.cache_folder(project) / "index.json").read_text())
        return [e for n, e in index["files"].items() if n.startswith("data/annotations_raw/")]

    cold, written, placed = build()
    assert written and not placed  # three splits with rows in the committed corpus
    entries = raw_entries()
    assert len(entries) == len(written)
    assert all(e["source"] and e["groups"] == [] for e in entries)

    warm, written, placed = build()
    assert warm == cold and not written and len(placed) == len(entries)

    change_one_export(project)
    monkeypatch.setenv(CACHE_ENV, "off")
    expected = render_release(project, Settings.load(project)).files
    monkeypatch.setenv(CACHE_ENV, "on")
    changed, written, placed = build()
    assert changed == expected != cold
    (article,) = sorted_articles[-1]
    (only,) = written  # the changed article's split
    assert raw_rows({only: changed[only]}, article) > 0
    assert len(placed) == len(entries) - 1 and only not in placed
