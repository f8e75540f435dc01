"""Completeness warnings for the reviewer (issue 16): seen by a machine, never an error."""

from __future__ import annotations

from pathlib import Path

import polars as pl

from helpers import ROOT
from sahelwire.io.paths import ProjectPaths
from sahelwire.release.completeness import (
    completeness_findings,
    events_without_arguments,
    mixed_polarity,
    quantities_without_bound,
)
from sahelwire.schema.taxonomy import load_taxonomy

TAXONOMY = load_taxonomy(ProjectPaths(ROOT).taxonomy_file)
TEXT = "US troops left Niger in 2024. The junta protested for nearly a decade. Talks ended."


def region(layer: str, label: str, word: str, **extra: object) -> dict[str, object]:
    start = TEXT.index(word)
    row: dict[str, object] = {
        "article_id": "a1",
        "region_key": f"{layer}:{label}:{start}:{start + len(word)}",
        "layer": layer,
        "label": label,
        "start": start,
        "end": start + len(word),
        "text": word,
        "event_id": None,
        "realis": None,
    }
    row.update(extra)
    return row


def frames(
    rows: list[dict[str, object]], rels: list[tuple[str, str]]
) -> tuple[pl.DataFrame, pl.DataFrame]:
    relations = pl.DataFrame(
        {
            "article_id": ["a1"] * len(rels),
            "from_key": [f for f, _ in rels],
            "to_key": [t for _, t in rels],
            "label": ["AGENT"] * len(rels),
        },
        schema={
            "article_id": pl.String,
            "from_key": pl.String,
            "to_key": pl.String,
            "label": pl.String,
        },
    )
    return pl.DataFrame(rows), relations


def test_an_event_with_a_candidate_in_its_sentence_and_no_argument_is_listed() -> None:
    left = region("events", "FORCE_POSTURE", "left", realis="ACTUAL")
    protested = region("events", "PROTEST", "protested", realis="ACTUAL")
    talks = region("events", "MEETING", "Talks", realis="ACTUAL")
    niger = region("entities", "GPE", "Niger")
    junta = region("entities", "ORG", "junta")
    regions, relations = frames([left, protested, talks, niger, junta], [])
    found = events_without_arguments(regions, relations, {"a1": TEXT}, TAXONOMY)
    # "Talks" has no candidate in its sentence: not listed
    assert [f.record for f in found] == [
        f"event {left['region_key']} 'left'",
        f"event {protested['region_key']} 'protested'",
    ]
    assert "GPE 'Niger'" in found[0].detail and "ORG 'junta'" in found[1].detail
    assert all(f.article_id == "a1" for f in found)

    # one argument is enough: the event is no longer listed
    regions, relations = frames(
        [left, protested, talks, niger, junta],
        [(str(left["region_key"]), str(niger["region_key"]))],
    )
    found = events_without_arguments(regions, relations, {"a1": TEXT}, TAXONOMY)
    assert [f.record for f in found] == [f"event {protested['region_key']} 'protested'"]


def test_a_duration_is_a_candidate_but_another_quantity_is_not() -> None:
    protested = region("events", "PROTEST", "protested", realis="ACTUAL")
    decade = region("quantities", "DURATION", "nearly a decade")
    regions, relations = frames([protested, decade], [])
    assert len(events_without_arguments(regions, relations, {"a1": TEXT}, TAXONOMY)) == 1
    # a TIME_OFFSET is a TIME target too (taxonomy 3.0.0)
    offset = region("quantities", "TIME_OFFSET", "nearly a decade")
    regions, relations = frames([protested, offset], [])
    assert len(events_without_arguments(regions, relations, {"a1": TEXT}, TAXONOMY)) == 1
    other = region("quantities", "OTHER", "nearly a decade")
    regions, relations = frames([protested, other], [])
    assert events_without_arguments(regions, relations, {"a1": TEXT}, TAXONOMY) == []


def test_a_quantity_without_a_bound_is_listed() -> None:
    # made before taxonomy 3.0.0: no bound (a warning, not an error)
    decade = region("quantities", "DURATION", "nearly a decade", bound=None)
    troops = region("quantities", "OTHER", "US troops", bound="POINT")
    left = region("events", "FORCE_POSTURE", "left", realis="ACTUAL", bound=None)
    regions, _ = frames([left, troops, decade], [])
    found = quantities_without_bound(regions, TAXONOMY)
    assert [(f.article_id, f.record, f.rule) for f in found] == [
        (
            "a1",
            f"quantity {decade['region_key']} 'nearly a decade'",
            "a quantity has a bound (taxonomy 3.0.0)",
        )
    ]
    assert "POINT, MORE_THAN, AT_LEAST, LESS_THAN, AT_MOST" in found[0].detail
    assert found[0] in completeness_findings(regions, frames([], [])[1], {"a1": TEXT}, TAXONOMY)


def test_one_registry_event_with_negated_and_asserted_mentions_is_listed() -> None:
    left = region("events", "FORCE_POSTURE", "left", realis="ACTUAL", event_id="evt_x")
    ended = region("events", "MEETING", "ended", realis="NEGATED", event_id="evt_x")
    talks = region("events", "MEETING", "Talks", realis="NEGATED", event_id="evt_y")
    regions, _ = frames([left, ended, talks], [])
    found = mixed_polarity(regions)
    assert [f.record for f in found] == ["event_id evt_x"]
    assert found[0].detail.startswith("1 NEGATED and 1 asserted otherwise")
    assert "a1 'ended' NEGATED" in found[0].detail


def test_validate_prints_the_warnings_and_still_passes(tmp_path: Path) -> None:
    from helpers import copy_project, run_cli

    root = copy_project(tmp_path / "p")
    result = run_cli(root, "validate")
    assert result.returncode == 0, result.stdout + result.stderr
    from sahelwire.annotations.layers import load_annotation_layers
    from sahelwire.raw.manifest import load_articles

    paths = ProjectPaths(root)
    layers = load_annotation_layers(paths, TAXONOMY)
    texts = {a.id: a.text for a in load_articles(paths)}
    expected = completeness_findings(layers.gold.regions, layers.gold.relations, texts, TAXONOMY)
    assert f"{len(expected)} warning(s) for the reviewer" in result.stdout
    for finding in expected:
        assert str(finding) in result.stdout
