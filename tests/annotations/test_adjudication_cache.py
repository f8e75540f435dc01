"""Adjudication memoised per article (sahelwire.annotations.adjudication_cache).

With the memo, :func:`adjudicate` must give exactly what it gives without: the gold frames,
conflicts and Problems, cold, warm, after one annotation changes and with a damaged pack.
"""

from __future__ import annotations

from pathlib import Path

import polars as pl
import pytest

from helpers import copy_project
from sahelwire.annotations.adjudication import Adjudication, adjudicate
from sahelwire.annotations.adjudication_cache import AdjudicationCache, cache_folder
from sahelwire.annotations.agreement import _pairs
from sahelwire.annotations.tables import read_annotation_tables
from sahelwire.io.article_packs import CACHE_ENV
from sahelwire.io.paths import ProjectPaths
from sahelwire.schema.taxonomy import load_taxonomy

FRAMES = ("regions", "relations", "choices", "status")


def same(expected: Adjudication, got: Adjudication) -> None:
    for name in FRAMES:
        want, have = getattr(expected.gold, name), getattr(got.gold, name)
        assert have.schema == want.schema and have.equals(want), name
    assert got.conflicts == expected.conflicts
    assert got.problems == expected.problems


def test_memoised_adjudication_is_the_adjudication(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv(CACHE_ENV, raising=False)
    paths = ProjectPaths(copy_project(tmp_path / "p"))
    taxonomy = load_taxonomy(paths.taxonomy_file)
    t = read_annotation_tables(paths, taxonomy)
    tables = [t.annotations, t.regions, t.relations, t.choices]

    def both(regions: pl.DataFrame) -> tuple[Adjudication, AdjudicationCache]:
        args = (t.annotations, regions, t.relations, t.choices, paths.decisions_dir, taxonomy)
        cache = AdjudicationCache.for_project(paths, taxonomy)
        assert cache is not None
        got = adjudicate(*args, memo=cache.articles)
        same(adjudicate(*args), got)
        return got, cache

    cold, cache = both(tables[1])
    slow = cache.stats.misses
    assert slow and cache.stats.hits == 0
    _, cache = both(tables[1])
    assert (cache.stats.hits, cache.stats.misses) == (slow, 0)

    # One annotator of a doubly annotated article drops a span: a conflict in that article.
    _, x, _ = _pairs(t.annotations)[0]
    region = t.regions.filter(pl.col("annotation_id") == x).row(0, named=True)
    changed = t.regions.filter(
        ~((pl.col("annotation_id") == x) & (pl.col("region_id") == region["region_id"]))
    )
    after, cache = both(changed)
    assert after.conflicts != cold.conflicts and after.problems != cold.problems
    assert (cache.stats.hits, cache.stats.misses) == (slow - 1, 1)
    _, cache = both(changed)
    assert cache.stats.misses == 0  # the conflict and its Problem are stored exactly

    (pack,) = cache_folder(paths).glob("*.pack")
    data = bytearray(pack.read_bytes())
    data[len(data) // 2] ^= 0xFF
    pack.write_bytes(bytes(data))
    _, cache = both(changed)
    assert cache.stats.ignored and cache.stats.misses == slow
