"""nervaluate's span error classes memoised per article (sahelwire.annotations.agreement_cache).

The memoised report must equal :func:`span_error_classes` exactly (floats included), cold,
warm, after one article's spans change and with a damaged pack; the whole agreement report,
kept, must equal the report computed.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import polars as pl
import pytest

from helpers import copy_project
from sahelwire.annotations import agreement_cache
from sahelwire.annotations.agreement import _pairs, agreement_report, span_error_classes
from sahelwire.annotations.agreement_cache import (
    AgreementReportCache,
    ErrorClassCache,
    cache_folder,
    report_folder,
)
from sahelwire.io.article_packs import CACHE_ENV
from sahelwire.io.paths import ProjectPaths
from sahelwire.release.validation import validate_inputs


@pytest.fixture
def corpus(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> tuple[ProjectPaths, Any]:
    """A copy of the committed project, memos on, and its validated inputs."""
    monkeypatch.delenv(CACHE_ENV, raising=False)
    paths = ProjectPaths(copy_project(tmp_path / "p"))
    report, validated = validate_inputs(paths, include_dist=False)
    assert report.ok
    return paths, validated


def test_memoised_error_classes_equal_nervaluate_on_the_whole_corpus(
    corpus: tuple[ProjectPaths, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    paths, validated = corpus
    layers, taxonomy = validated.layers, validated.taxonomy
    articles = layers.annotations["article_id"].n_unique()

    def both(regions: pl.DataFrame) -> tuple[dict[str, Any], ErrorClassCache]:
        cache = ErrorClassCache.for_project(paths, taxonomy)
        assert cache is not None
        got = cache.span_error_classes(layers.annotations, regions, taxonomy)
        assert got == span_error_classes(layers.annotations, regions, taxonomy)
        return got, cache

    cold, cache = both(layers.regions)
    assert cold and cache.stats.hits == 0 and cache.stats.misses == articles
    _, cache = both(layers.regions)
    assert (cache.stats.hits, cache.stats.misses) == (articles, 0)

    # One annotator drops one span of one article: that article alone is evaluated again.
    _, x, _ = _pairs(layers.annotations)[0]
    first = layers.regions.filter(
        (pl.col("annotation_id") == x) & (pl.col("layer") == "entities")
    ).row(0, named=True)
    changed = layers.regions.filter(
        ~((pl.col("annotation_id") == x) & (pl.col("region_id") == first["region_id"]))
    )
    after, cache = both(changed)
    assert after != cold and (cache.stats.hits, cache.stats.misses) == (articles - 1, 1)

    (pack,) = cache_folder(paths).glob("*.pack")
    data = bytearray(pack.read_bytes())
    data[len(data) // 3] ^= 0xFF
    pack.write_bytes(bytes(data))
    _, cache = both(changed)
    assert cache.stats.ignored and cache.stats.misses == articles

    monkeypatch.setenv(CACHE_ENV, "off")
    assert ErrorClassCache.for_project(paths, taxonomy) is None


def test_the_whole_report_is_kept_under_exactly_what_it_reads(
    corpus: tuple[ProjectPaths, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    # The card's report equals agreement_report's, kept or computed; a change no measure
    # reads (every annotation's lead time) finds it kept, a change one reads computes it.
    paths, validated = corpus
    layers, taxonomy = validated.layers, validated.taxonomy

    def kept(
        annotations: pl.DataFrame, regions: pl.DataFrame, min_articles: int = 5
    ) -> tuple[dict[str, Any], tuple[int, int]]:
        cache = AgreementReportCache.for_project(paths, taxonomy)
        assert cache is not None
        args = (annotations, regions, layers.choices, taxonomy)
        got = cache.report(*args, relations=layers.relations, min_articles=min_articles)
        plain = agreement_report(*args, relations=layers.relations, min_articles=min_articles)
        assert got == plain
        return got, (cache.stats.hits, cache.stats.misses)

    first, counts = kept(layers.annotations, layers.regions)
    assert first["articles_with_2plus_annotators"] >= 1 and first["spans"]
    assert counts == (0, 1) and list(report_folder(paths).glob("*.pack"))
    assert kept(layers.annotations, layers.regions) == (first, (1, 0))
    later = layers.annotations.with_columns(pl.col("lead_time") + 1.5)
    assert kept(later, layers.regions) == (first, (1, 0))
    _, x, _ = _pairs(layers.annotations)[0]
    dropped = layers.regions.filter(
        ~(
            pl.col("region_id")
            == layers.regions.filter(pl.col("annotation_id") == x)["region_id"][0]
        )
        | (pl.col("annotation_id") != x)
    )
    changed, counts = kept(later, dropped)
    assert changed != first and counts == (0, 1)
    assert kept(later, dropped, min_articles=10_000)[1] == (0, 1)

    monkeypatch.setenv(CACHE_ENV, "off")
    assert AgreementReportCache.for_project(paths, taxonomy) is None


def test_a_report_json_would_not_give_back_as_it_is_is_computed_each_time(
    corpus: tuple[ProjectPaths, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    # A tuple comes back from JSON as a list: such a report is never kept (nor served changed).
    paths, validated = corpus
    layers, taxonomy = validated.layers, validated.taxonomy
    real = agreement_cache.agreement_report

    def with_a_tuple(*args: Any, **kwargs: Any) -> dict[str, Any]:
        return {**real(*args, **kwargs), "pair": ("a", "b")}

    monkeypatch.setattr(agreement_cache, "agreement_report", with_a_tuple)
    args = (layers.annotations, layers.regions, layers.choices, taxonomy)
    for _ in range(2):
        cache = AgreementReportCache.for_project(paths, taxonomy)
        assert cache is not None
        got = cache.report(*args, relations=layers.relations, min_articles=5)
        assert got["pair"] == ("a", "b")
        assert got == with_a_tuple(*args, relations=layers.relations, min_articles=5)
        assert (cache.stats.hits, cache.stats.misses) == (0, 1)
        assert not list(report_folder(paths).glob("*.pack"))
