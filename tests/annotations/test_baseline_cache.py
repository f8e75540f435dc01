"""The baseline's predictions memoised per article (sahelwire.annotations.baseline_cache).

The memoised frame must equal :func:`prediction_frame` without the memo exactly (dtypes,
floats, nulls and row order), cold, warm, after one article's text changes, after a registry
change (every key changes with the model version) and with a damaged pack.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest

from helpers import copy_project
from sahelwire.annotations.baseline import prediction_frame
from sahelwire.annotations.baseline_cache import PredictionCache, cache_folder
from sahelwire.io.article_packs import CACHE_ENV
from sahelwire.io.paths import ProjectPaths
from sahelwire.raw.manifest import Article, load_articles
from sahelwire.schema.registries import Registries, load_registries
from sahelwire.schema.taxonomy import load_taxonomy


def test_memoised_predictions_equal_the_rules_on_every_article(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv(CACHE_ENV, raising=False)
    paths = ProjectPaths(copy_project(tmp_path / "p"))
    taxonomy = load_taxonomy(paths.taxonomy_file)
    registries = load_registries(paths)
    articles = load_articles(paths)

    def both(articles: list[Article], registries: Registries = registries) -> PredictionCache:
        cache = PredictionCache.for_project(paths, registries, taxonomy)
        assert cache is not None
        got = prediction_frame(articles, registries, taxonomy, cache)
        want = prediction_frame(articles, registries, taxonomy)
        assert got.height > 0 and got.schema == want.schema
        assert got.equals(want)
        return cache

    n = len(articles)
    cache = both(articles)
    assert (cache.stats.hits, cache.stats.misses) == (0, n)
    cache = both(articles)
    assert (cache.stats.hits, cache.stats.misses) == (n, 0)

    # One article's text changes: it alone is predicted again.
    first = articles[0]
    edited = Article(first.id, first.text + "\nNiamey, 2024.", first.sha256, first.meta)
    changed = [edited, *articles[1:]]
    cache = both(changed)
    assert (cache.stats.hits, cache.stats.misses) == (n - 1, 1)

    # The registries are part of the model: another gazetteer, every article again.
    fewer = dataclasses.replace(registries, entities=registries.entities.head(1))
    cache = both(changed, fewer)
    assert cache.stats.misses == n

    (pack,) = cache_folder(paths).glob("*.pack")
    data = bytearray(pack.read_bytes())
    data[len(data) // 3] ^= 0xFF
    pack.write_bytes(bytes(data))
    cache = both(changed, fewer)
    assert cache.stats.ignored and cache.stats.misses == n


def test_the_memo_is_off_with_the_article_cache(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(CACHE_ENV, "off")
    paths = ProjectPaths(copy_project(tmp_path / "p"))
    taxonomy = load_taxonomy(paths.taxonomy_file)
    assert PredictionCache.for_project(paths, load_registries(paths), taxonomy) is None
