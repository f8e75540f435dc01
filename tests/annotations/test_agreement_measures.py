"""Agreement beyond alpha and span F1 (issue 16): error classes, arguments, links.

Two annotators on one article, built with the review tests' helpers (the same strict parser
reads them); every figure is derived by hand from the two versions below.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from helpers import copy_project
from sahelwire.annotations.agreement import agreement_report
from sahelwire.io.paths import ProjectPaths

from .test_review import TAX, A, B, annotation, layers_of, relation, span


@pytest.fixture()
def paths(tmp_path: Path) -> ProjectPaths:
    return ProjectPaths(copy_project(tmp_path / "p", annotations=False))


def test_error_classes_arguments_and_links(paths: ProjectPaths) -> None:
    layers = layers_of(
        paths,
        # A: US (GPE, ent_united_states), Niger (GPE), Niamey (GPE); meet MEETING ACTUAL
        # with AGENT US and PLACE Niamey
        annotation(
            1,
            A,
            [
                *span("u", "US", "entities", "GPE", entity_id="ent_united_states"),
                *span("g", "Niger", "entities", "GPE", entity_id="ent_niger"),
                *span("n", "Niamey", "entities", "GPE", entity_id="ent_niamey"),
                *span("m", "meet", "events", "MEETING", realis="ACTUAL"),
                relation("m", "u", "AGENT"),
                relation("m", "n", "PLACE"),
            ],
        ),
        # B: US (GPE, ent_niger: another id), "Niger officials" (ORG: partial), Niamey
        # (LOC: incorrect label); meet MEETING PLANNED with PLACE Niamey only
        annotation(
            2,
            B,
            [
                *span("u", "US", "entities", "GPE", entity_id="ent_niger"),
                *span("o", "Niger officials", "entities", "ORG"),
                *span("n", "Niamey", "entities", "LOC"),
                *span("m", "meet", "events", "MEETING", realis="PLANNED"),
                relation("m", "n", "PLACE"),
            ],
        ),
    )
    report = agreement_report(
        layers.annotations,
        layers.regions,
        layers.choices,
        TAX,
        relations=layers.relations,
        min_articles=1,
    )
    ents = report["span_errors"]["entities"]
    # US correct; Niamey same offsets other label = incorrect; Niger vs "Niger officials"
    # overlap with another label = incorrect under ent_type (SemEval: type must match)
    assert (ents["correct"], ents["missed"], ents["spurious"]) == (1, 0, 0)
    assert ents["incorrect"] == 2
    assert ents["f1_strict"] == pytest.approx(1 / 3)
    assert report["span_errors"]["events"]["correct"] == 1
    assert report["span_errors"]["events"]["f1_strict"] == 1.0
    # arguments: A {AGENT US, PLACE Niamey}, B {PLACE Niamey}: 2*1 / 3
    assert report["arguments"]["f1"] == pytest.approx(2 / 3)
    assert report["arguments"]["roles"] == {"AGENT": 0.0, "PLACE": 1.0}
    # links over identical mentions: US (GPE both) disagrees on entity_id; meet on realis,
    # agrees on event_id (null both)
    assert report["links"]["entity_id"] == {"same": 0, "mentions": 1, "agreement": 0.0}
    assert report["links"]["realis"]["agreement"] == 0.0
    assert report["links"]["event_id"]["agreement"] == 1.0


def test_one_annotator_measures_nothing(paths: ProjectPaths) -> None:
    layers = layers_of(paths, annotation(1, A, span("u", "US", "entities", "GPE")))
    report = agreement_report(
        layers.annotations, layers.regions, layers.choices, TAX, relations=layers.relations
    )
    assert report["span_errors"] == {} and report["arguments"] == {} and report["links"] == {}


def test_the_card_shows_the_measured_tables_with_the_caution(paths: ProjectPaths) -> None:
    from sahelwire.release.card.sections import annotation_section

    layers = layers_of(
        paths,
        annotation(1, A, [*span("u", "US", "entities", "GPE")]),
        annotation(
            2, B, [*span("u", "US", "entities", "GPE"), *span("g", "Niger", "entities", "GPE")]
        ),
    )
    report = agreement_report(
        layers.annotations, layers.regions, layers.choices, TAX, relations=layers.relations
    )
    text = annotation_section(layers, report)
    assert "**Caution:** only 1 article(s) annotated by two or more annotators" in text
    f1 = report["spans"]["entities"]["f1_exact"]
    assert f1 == pytest.approx(2 / 3)
    assert f"| entities | {f1:.3f} |" in text  # the table is the report's figures
    assert "| layer | F1 exact | F1 overlap | F1 partial | correct | incorrect |" in text


def test_the_card_counts_the_reviewers_from_the_decisions(paths: ProjectPaths) -> None:
    from sahelwire.release.card.facts import AnnotationFacts

    layers = layers_of(
        paths,
        annotation(1, A, [*span("u", "US", "entities", "GPE")]),
        annotation(2, B, []),
    )
    assert AnnotationFacts.from_layers(layers, paths.decisions_dir).reviewers == {}
    paths.decisions_dir.mkdir(parents=True, exist_ok=True)
    item = layers.conflicts[0]["item"]
    (paths.decisions_dir / "a1.yaml").write_text(
        f"decisions:\n- item: '{item}'\n  action: accept\n  decided_by: lead@x.test\n"
        "  why: guideline 3.1\n"
    )
    facts = AnnotationFacts.from_layers(layers, paths.decisions_dir)
    assert facts.reviewers == {"lead@x.test": 1}
    assert "adjudicated by 1 reviewer: lead@x.test (person, 1 decision)" in (
        facts.annotators_sentence()
    )
