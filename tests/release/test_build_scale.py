"""The build at scale: each input parsed once, bulk paths equal to the per-row rules."""

from __future__ import annotations

import itertools
import random
from pathlib import Path
from typing import Any

import polars as pl
import pyarrow as pa
import pytest

from helpers import ROOT, SOURCE_SHAPES, copy_project
from sahelwire.annotations import adjudication
from sahelwire.annotations import tables as annotation_tables
from sahelwire.annotations.adjudication import adjudicate
from sahelwire.annotations.baseline import _overlap_matches, baseline_report_for, render_markdown
from sahelwire.annotations.gold_layer import GoldLayer
from sahelwire.annotations.layers import RAW_SORT_KEY, AnnotationLayers, raw_frame
from sahelwire.annotations.tables import read_annotation_tables
from sahelwire.io.config import Settings
from sahelwire.io.memory import peak_rss_mb
from sahelwire.io.paths import ProjectPaths
from sahelwire.raw.manifest import load_articles
from sahelwire.release import tables as release_tables
from sahelwire.release.build import render_release
from sahelwire.release.card.plot_drawing import LISTED_ARTICLES, article_lengths_png
from sahelwire.release.card.plots import article_lengths, plots_section
from sahelwire.release.card.sections import LISTED_CLUSTERS, splits_section
from sahelwire.schema.registries import load_registries
from sahelwire.schema.taxonomy import load_taxonomy

PATHS = ProjectPaths(ROOT)
TAX = load_taxonomy(PATHS.taxonomy_file)


def test_build_reads_exports_and_texts_once(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    paths = ProjectPaths(copy_project(tmp_path / "p"))
    calls = {"exports": 0, "texts": 0}
    # The build reads the exports a chunk at a time: one read of them all, in chunks.
    real_read = annotation_tables.read_annotation_chunks
    real_texts = annotation_tables.ManifestTexts

    def counting_read(*args: Any, **kwargs: Any) -> Any:
        calls["exports"] += 1
        return real_read(*args, **kwargs)

    def counting_texts(*args: Any, **kwargs: Any) -> Any:
        calls["texts"] += 1
        return real_texts(*args, **kwargs)

    monkeypatch.setattr(annotation_tables, "read_annotation_chunks", counting_read)
    monkeypatch.setattr(annotation_tables, "ManifestTexts", counting_texts)
    release = render_release(paths, Settings.load(paths))
    assert "README.md" in release.files
    assert calls == {"exports": 1, "texts": 0}
    # The per-phase timings scripts/bench.py reports: every phase, in pipeline order.
    assert list(release.seconds) == [
        "parse_and_validate_inputs",
        "card_sections_from_inputs",
        "published_tables",
        "validate_published",
        "write_parquet",
        "metadata_card_plots_croissant",
    ]
    assert all(seconds >= 0 for seconds in release.seconds.values())
    # ... and each phase's peak resident memory where the system gives it (Linux).
    if peak_rss_mb(reset=False) is not None:
        assert set(release.peak_rss_mb) == set(release.seconds)
        assert all(mb > 0 for mb in release.peak_rss_mb.values())


def test_tables_built_in_chunks_give_the_same_files(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    paths = ProjectPaths(copy_project(tmp_path / "p"))
    settings = Settings.load(paths)
    whole = render_release(paths, settings).files
    monkeypatch.setattr(release_tables, "CHUNK_ARTICLES", 1)
    monkeypatch.setattr(annotation_tables, "FLUSH_TASKS", 1)
    assert render_release(paths, settings).files == whole


def _gold_frames(gold: GoldLayer) -> list[pl.DataFrame]:
    return [gold.regions, gold.relations, gold.choices, gold.status]


def test_bulk_adjudication_equals_article_by_article(monkeypatch: pytest.MonkeyPatch) -> None:
    tables = read_annotation_tables(PATHS, TAX)
    # Every committed article has two annotators; keep both on one article only, so that
    # article takes the per-article path and the others (now single-annotated) the bulk path.
    ann = tables.annotations
    article = ann["article_id"].sort()[0]
    later = sorted(set(ann["annotator"].to_list()))[-1]
    dropped = ann.filter((pl.col("article_id") != article) & (pl.col("annotator") == later))
    ids = dropped["annotation_id"].implode()

    def keep(df: pl.DataFrame) -> pl.DataFrame:
        return df.filter(~pl.col("annotation_id").is_in(ids))

    inputs = (
        keep(tables.annotations),
        keep(tables.regions),
        keep(tables.relations),
        keep(tables.choices),
    )
    bulk = adjudicate(*inputs, PATHS.decisions_dir, TAX)
    monkeypatch.setattr(adjudication, "_single_annotations", lambda *a: {})
    one_by_one = adjudicate(*inputs, PATHS.decisions_dir, TAX)
    assert bulk.gold.regions.height > 0
    assert sorted(set(bulk.gold.status["n_annotators"].to_list())) == [1, 2]
    for got, want in zip(_gold_frames(bulk.gold), _gold_frames(one_by_one.gold), strict=True):
        assert got.equals(want)
    assert bulk.problems == one_by_one.problems
    assert bulk.conflicts == one_by_one.conflicts


def test_raw_frame_is_sorted_by_the_zero_filled_key() -> None:
    tables = read_annotation_tables(PATHS, TAX)
    layers = AnnotationLayers(
        tables.annotations, tables.regions, tables.relations, tables.choices, GoldLayer.empty()
    )
    rows = raw_frame(layers).to_dicts()
    assert {r["kind"] for r in rows} == {"region", "relation", "choice"}

    def key(r: dict[str, Any]) -> tuple[str, ...]:
        return tuple("" if r[k] is None else str(r[k]).zfill(12) for k in RAW_SORT_KEY)

    shuffled = rows[:]
    random.Random(0).shuffle(shuffled)
    assert sorted(shuffled, key=key) == rows
    n = tables.regions.height + tables.relations.height + tables.choices.height
    assert len(rows) == n


def test_overlap_matching_equals_scanning_all_gold() -> None:
    def naive(pred: list[Any], gold: list[Any]) -> int:
        unused = sorted(gold, key=lambda x: (x[0], x[2], x[3], x[1]))
        hits = 0
        for a, label, s, e in sorted(pred, key=lambda x: (x[0], x[2], x[3], x[1])):
            hit = next(
                (g for g in unused if g[0] == a and g[1] == label and g[2] < e and s < g[3]),
                None,
            )
            if hit is not None:
                unused.remove(hit)
                hits += 1
        return hits

    rng = random.Random(1)

    def spans(n: int) -> list[tuple[str, str, int, int]]:
        out = []
        for _ in range(n):
            s = rng.randrange(100)
            out.append((rng.choice("abc"), rng.choice("XY"), s, s + rng.randrange(1, 15)))
        return out

    for _ in range(50):
        pred, gold = spans(40), spans(40)
        assert _overlap_matches(pred, gold) == naive(pred, gold)


def test_card_baseline_scores_a_stated_sample() -> None:
    gold = read_annotation_tables(PATHS, TAX)
    layers = adjudicate(
        gold.annotations, gold.regions, gold.relations, gold.choices, PATHS.decisions_dir, TAX
    )
    args = (load_articles(PATHS), layers.gold, load_registries(PATHS), TAX)
    everything = baseline_report_for(*args)
    sample = baseline_report_for(*args, limit=2)
    assert everything["articles_scored"] == layers.gold.status.height > 2
    assert "articles_with_gold" not in everything
    assert sample["articles_scored"] == 2
    assert sample["articles_with_gold"] == everything["articles_scored"]
    assert "fixed sample" in render_markdown(sample)
    assert "fixed sample" not in render_markdown(everything)
    assert baseline_report_for(*args, limit=1000) == everything


def _documents(n: int, raw_only: int = 0) -> dict[str, pa.Table]:
    """``raw_only``: how many articles of each split are not annotated (the first)."""
    splits = ("train", "validation", "test")
    out = {}
    for k, split in enumerate(splits):
        ids = [f"a{i:04d}" for i in range(n) if i % 3 == k]
        out[split] = pa.table(
            {
                "article_id": ids,
                "text": ["é" * (100 + i) for i in range(len(ids))],
                "clean_text": ["x" * (50 + i) for i in range(len(ids))],
                "n_annotators": [0 if i < raw_only else 1 for i in range(len(ids))],
            }
        )
    return out


def test_card_lists_articles_and_clusters_only_for_small_corpora() -> None:
    settings = Settings.load(PATHS)
    small, large = LISTED_ARTICLES, LISTED_ARTICLES + 10
    assert "| article | split | text | clean_text |" in plots_section(
        article_lengths(_documents(small))
    )
    summary = plots_section(article_lengths(_documents(large)))
    assert f"{large} articles, too many to list" in summary
    assert "a0001" not in summary
    assert "| train | text | 20 | 100 | 110 | 119 |" in summary  # ids 0,3,..: 20 in train
    assert "not annotated" not in summary
    # A raw-only article's clean_text is no body: counted in text, left out of clean_text.
    raw = plots_section(article_lengths(_documents(large, raw_only=2)))
    assert "| train | text | 20 | 100 | 110 | 119 |" in raw
    assert "| train | clean_text | 18 | 52 | 61 | 69 |" in raw
    assert f"6 of the {large} articles (`a0000`, `a0001`, " in raw
    assert "are not annotated yet (`n_annotators` 0)" in raw
    assert "The clean_text figures above leave them out." in raw
    assert article_lengths_png(article_lengths(_documents(large))).startswith(b"\x89PNG")

    ids = [f"a{i:04d}" for i in range(LISTED_CLUSTERS + 10)]
    clusters = {a: a for a in ids} | {"a0000": "big", "a0001": "big"}
    splits = {a: "train" if i % 2 else "test" for i, a in enumerate(ids)}
    text = splits_section(settings, clusters, splits)
    assert f"The {LISTED_CLUSTERS} largest of {len(set(clusters.values()))}" in text
    assert text.count("\n| `") == LISTED_CLUSTERS
    assert "| `big` | test | 2 |" in text
    listed = splits_section(settings, dict(list(clusters.items())[:5]), splits)
    assert "a0002, " not in listed and "| `big` | test | 2 | a0000, a0001 |" in listed


def test_bio_rows_give_every_token_the_zone_a_naive_scan_finds() -> None:
    from sahelwire.release.ner_bio import bio_rows, tokenize
    from sahelwire.schema.taxonomy import BODY_ZONE

    rng = random.Random(2)
    text = " ".join(
        rng.choice(["Niger", "a-b", "US.", "é😀", ",", "junta", "\n"]) for _ in range(300)
    )
    for _ in range(30):
        cuts = sorted(rng.sample(range(len(text)), 2 * rng.randrange(4)))
        zones: list[dict[str, Any]] = [  # zones never overlap (a validated rule)
            {"start": a, "end": b, "label": "NAVIGATION"}
            for a, b in zip(cuts[::2], cuts[1::2], strict=True)
            if a < b
        ]
        rows, _ = bio_rows("a", text, zones, [], [])
        got = [(s, row["zone"]) for row in rows for s in row["token_starts"]]

        def zone_at(i: int, zones: list[dict[str, Any]] = zones) -> str:
            return next((z["label"] for z in zones if z["start"] <= i < z["end"]), BODY_ZONE)

        # Naive: tokenize each zone's and each gap's text on its own.
        bounds = sorted({0, len(text), *(z["start"] for z in zones), *(z["end"] for z in zones)})
        want = [
            (s, zone_at(s)) for a, b in itertools.pairwise(bounds) for s, _ in tokenize(text, a, b)
        ]
        assert got == want


def test_raw_frame_order_with_short_ids_and_huge_numbers() -> None:
    rng = random.Random(3)
    n = 300
    ann_ids = [rng.choice([0, 10**12, 10**13]) + i for i in range(n)]  # unique
    annotations = pl.DataFrame(
        {
            "annotation_id": ann_ids,
            "task_id": [1] * n,
            "article_id": [rng.choice(["a", "0a", "b", "-1", "+x", "é"]) for _ in range(n)],
            "annotator": ["x@y"] * n,
            "cancelled": [False] * n,
            "created_at": [""] * n,
            "updated_at": [""] * n,
            "lead_time": [None] * n,
            "parent_prediction": [None] * n,
            "prediction_model_version": [None] * n,
        },
        schema_overrides={
            "lead_time": pl.Float64,
            "parent_prediction": pl.Int64,
            "prediction_model_version": pl.Utf8,
        },
    )
    regions = pl.DataFrame(
        {
            "annotation_id": [rng.choice(ann_ids) for _ in range(n)],
            "region_id": [rng.choice(["r1", "r10", "-r", None, ""]) for _ in range(n)],
            "layer": ["entities"] * n,
            "label": [rng.choice(["GPE", "ORG"]) for _ in range(n)],
            "start": [rng.choice([0, 5, 10**12, 3 * 10**12]) for _ in range(n)],
            "end": [rng.randrange(10**13) for _ in range(n)],
            "text": ["t"] * n,
        }
    ).with_columns(
        pl.lit(None, dtype=SOURCE_SHAPES["regions"][name]).alias(name)
        for name in ("entity_id", "event_id", "realis", "value", "unit", "approximate", "bound")
    )
    layers = AnnotationLayers(
        annotations,
        regions,
        pl.DataFrame(schema=SOURCE_SHAPES["relations"]),
        pl.DataFrame(schema=SOURCE_SHAPES["choices"]),
        GoldLayer.empty(),
    )
    rows = raw_frame(layers).to_dicts()

    def key(r: dict[str, Any]) -> tuple[str, ...]:
        return tuple("" if r[k] is None else str(r[k]).zfill(12) for k in RAW_SORT_KEY)

    assert len(rows) == n
    assert [key(r) for r in rows] == sorted(key(r) for r in rows)
