"""Scoring the pre-annotation baseline against gold: hand-computed figures, no-gold case."""

from __future__ import annotations

import json
from pathlib import Path

import polars as pl
import pytest

from helpers import ROOT, copy_project, run_cli
from sahelwire.annotations.baseline import NO_GOLD, baseline_markdown, baseline_report_for, score
from sahelwire.annotations.gold_layer import GoldLayer
from sahelwire.io.paths import ProjectPaths
from sahelwire.raw.manifest import load_articles
from sahelwire.schema.registries import load_registries
from sahelwire.schema.taxonomy import load_taxonomy

COLUMNS = {
    "article_id": pl.Utf8,
    "layer": pl.Utf8,
    "label": pl.Utf8,
    "start": pl.Int64,
    "end": pl.Int64,
    "entity_id": pl.Utf8,
}


def frame(*rows: tuple[str, str, str, int, int, str | None]) -> pl.DataFrame:
    return pl.DataFrame([dict(zip(COLUMNS, r, strict=True)) for r in rows], schema=COLUMNS)


PRED = frame(
    ("a", "entities", "ORG", 0, 5, "ent_x"),  # exact hit, wrong entity_id
    ("a", "entities", "GPE", 10, 15, "ent_g"),  # overlaps gold GPE 10-14: overlap hit only
    ("a", "entities", "PERSON", 20, 25, None),  # false positive
    ("b", "entities", "ORG", 0, 5, "ent_o"),  # same offsets, other article: false positive
    ("a", "quantities", "TROOPS", 40, 50, None),  # label wrong: no match in either mode
)
GOLD = frame(
    ("a", "entities", "ORG", 0, 5, "ent_y"),
    ("a", "entities", "GPE", 10, 14, "ent_g"),
    ("a", "entities", "LOC", 30, 35, None),  # missed
    ("a", "quantities", "PERSONNEL", 40, 50, None),
)


def test_score_hand_computed() -> None:
    report = score(PRED, GOLD, layers=("entities", "quantities", "events"))
    ent = report["entities"]
    # 4 predicted, 3 gold; exact matches 1 (ORG in a); overlap matches 2 (ORG, GPE).
    assert ent["all"]["predicted"] == 4 and ent["all"]["gold"] == 3
    assert ent["all"]["exact"] == {
        "matches": 1,
        "precision": 1 / 4,
        "recall": 1 / 3,
        "f1": pytest.approx(2 / 7),  # 2PR/(P+R) = 2*(1/12)/(7/12)
    }
    assert ent["all"]["overlap"]["precision"] == 2 / 4
    assert ent["all"]["overlap"]["recall"] == 2 / 3
    assert ent["all"]["overlap"]["f1"] == pytest.approx(4 / 7)
    labels = ent["labels"]
    assert labels["ORG"]["exact"] == {"matches": 1, "precision": 0.5, "recall": 1.0, "f1": 2 / 3}
    assert labels["GPE"]["exact"] == {"matches": 0, "precision": 0.0, "recall": 0.0, "f1": 0.0}
    assert labels["GPE"]["overlap"] == {"matches": 1, "precision": 1.0, "recall": 1.0, "f1": 1.0}
    # Zero division: PERSON never in gold (recall undefined), LOC never predicted
    # (precision undefined); F1 = 2TP/(|pred|+|gold|) is still defined and 0.
    assert labels["PERSON"]["exact"] == {"matches": 0, "precision": 0.0, "recall": None, "f1": 0.0}
    assert labels["LOC"]["exact"] == {"matches": 0, "precision": None, "recall": 0.0, "f1": 0.0}
    # entity_id compared on exact span matches whose gold has an id: ORG ent_x vs ent_y.
    assert ent["entity_id"] == {"compared": 1, "same": 0, "rate": 0.0, "unset": 0}
    q = report["quantities"]["all"]
    assert q["exact"]["matches"] == 0 and q["overlap"]["matches"] == 0
    assert q["exact"]["f1"] == 0.0
    # A layer with nothing on either side: every rate undefined, not a fake zero.
    ev = report["events"]
    assert ev["all"]["exact"] == {"matches": 0, "precision": None, "recall": None, "f1": None}
    assert ev["labels"] == {}
    assert "entity_id" not in ev


def test_overlap_matches_each_span_once() -> None:
    pred = frame(("a", "events", "MEETING", 0, 10, None), ("a", "events", "MEETING", 5, 15, None))
    gold = frame(("a", "events", "MEETING", 8, 12, None))
    overlap = score(pred, gold, layers=("events",))["events"]["all"]["overlap"]
    assert overlap["matches"] == 1
    assert overlap["precision"] == 0.5 and overlap["recall"] == 1.0


def test_no_gold_gives_no_score() -> None:
    paths = ProjectPaths(ROOT)
    taxonomy = load_taxonomy(paths.taxonomy_file)
    report = baseline_report_for(
        load_articles(paths), GoldLayer.empty(), load_registries(paths), taxonomy
    )
    assert report["layers"] is None
    assert report["message"] == NO_GOLD
    assert report["articles_scored"] == 0


def test_cli_without_gold(tmp_path: Path) -> None:
    root = copy_project(tmp_path / "p", annotations=False)
    out = run_cli(root, "baseline")
    assert out.returncode == 0, out.stderr
    assert "no gold annotations yet" in out.stdout
    assert "0.000" not in out.stdout
    assert "No gold annotations yet" in baseline_markdown(ProjectPaths(root))


def test_cli_and_markdown_agree_with_gold(tmp_path: Path) -> None:
    root = copy_project(tmp_path / "p")
    paths = ProjectPaths(root)
    out = run_cli(root, "baseline", "--json")
    assert out.returncode == 0, out.stderr
    report = json.loads(out.stdout)
    if report["layers"] is None:
        pytest.skip("the committed corpus has no gold yet")
    assert report["articles_scored"] >= 1
    ent = report["layers"]["entities"]["all"]
    assert 0 <= ent["exact"]["matches"] <= min(ent["predicted"], ent["gold"])
    md = baseline_markdown(paths)
    exact = ent["exact"]
    expected_row = (
        f"| entities | (all) | {ent['gold']} | {ent['predicted']} | "
        f"{exact['precision']:.3f} | {exact['recall']:.3f} | {exact['f1']:.3f} |"
    )
    assert expected_row in md
    assert "sahelwire baseline" in md
    table = run_cli(root, "baseline")
    assert table.returncode == 0
    assert f"{exact['f1']:.3f}" in table.stdout


def test_attributes_compared_on_exact_matches_only() -> None:
    cols = {**COLUMNS, "realis": pl.Utf8, "value": pl.Float64}
    pred = pl.DataFrame(
        [
            ("a", "events", "COUP", 0, 4, None, "ACTUAL", None),
            ("a", "events", "MEETING", 10, 15, None, "ACTUAL", None),
            ("a", "events", "ATTACK", 20, 26, None, "ACTUAL", None),  # overlap only: ignored
            ("a", "quantities", "TROOPS", 30, 40, None, None, 650.0),
        ],
        schema=cols,
        orient="row",
    )
    gold = pl.DataFrame(
        [
            ("a", "events", "COUP", 0, 4, None, "ACTUAL", None),
            ("a", "events", "MEETING", 10, 15, None, "PLANNED", None),
            ("a", "events", "ATTACK", 20, 25, None, "NEGATED", None),
            ("a", "quantities", "TROOPS", 30, 40, None, None, 1000.0),
        ],
        schema=cols,
        orient="row",
    )
    report = score(pred, gold, layers=("events", "quantities"))
    assert report["events"]["attributes"] == {
        "realis": {"compared": 2, "same": 1, "rate": 0.5, "unset": 0}
    }
    assert report["quantities"]["attributes"]["value"] == {
        "compared": 1,
        "same": 0,
        "rate": 0.0,
        "unset": 0,
    }
    assert "entity_id" not in report["events"]


def test_an_unset_prediction_is_counted_apart_not_scored_wrong() -> None:
    """Realis left to the annotator (no evidence) is neither a hit nor a miss."""
    cols = {**COLUMNS, "realis": pl.Utf8, "value": pl.Float64}
    pred = pl.DataFrame(
        [
            ("a", "events", "COUP", 0, 4, None, None, None),
            ("a", "events", "ATTACK", 10, 16, None, "NEGATED", None),
        ],
        schema=cols,
        orient="row",
    )
    gold = pl.DataFrame(
        [
            ("a", "events", "COUP", 0, 4, None, "ACTUAL", None),
            ("a", "events", "ATTACK", 10, 16, None, "NEGATED", None),
        ],
        schema=cols,
        orient="row",
    )
    report = score(pred, gold, layers=("events",))
    assert report["events"]["attributes"]["realis"] == {
        "compared": 1,
        "same": 1,
        "rate": 1.0,
        "unset": 1,
    }
