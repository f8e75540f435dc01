"""The review loop's rules without a server: review -> decisions, who made what, skeletons,
placeholders, the agreement caution. The round trip through Label Studio itself is
tests/labelstudio/test_review.py."""

from __future__ import annotations

import hashlib
import uuid
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pytest
import yaml

from helpers import ROOT, copy_project
from sahelwire.annotations.adjudication import (
    UNSETTLED_RULE,
    adjudicate,
    read_decisions,
    write_skeletons,
)
from sahelwire.annotations.agreement import agreement_report
from sahelwire.annotations.layers import AnnotationLayers
from sahelwire.annotations.review import (
    Case,
    Version,
    render_decisions,
    review_decisions,
    review_label_config,
    task_data,
)
from sahelwire.annotations.tables import TableCollector, load_source_shapes
from sahelwire.io.config import ConfigError, Settings
from sahelwire.io.paths import ProjectPaths
from sahelwire.labelstudio.label_config import render_label_config, result_types
from sahelwire.labelstudio.offsets import to_label_studio
from sahelwire.raw.manifest import Article
from sahelwire.schema.registries import load_registries
from sahelwire.schema.taxonomy import load_taxonomy

TAX = load_taxonomy(ROOT / "schemas" / "taxonomy.yaml")
TEXT = "US and Niger officials meet in Niamey on Tuesday.\n"
AID = "a1"
A, B, R = "a@x.test", "b@x.test", "lead@x.test"
STAMP = "2024-05-01T10:00:00.000000Z"


@pytest.fixture()
def paths(tmp_path: Path) -> ProjectPaths:
    return ProjectPaths(copy_project(tmp_path / "p", annotations=False))


def article() -> Article:
    return Article(AID, TEXT, hashlib.sha256(TEXT.encode()).hexdigest(), {})


def span(rid: str, surface: str, layer: str, label: str, **attrs: str) -> list[dict[str, Any]]:
    start = TEXT.index(surface)
    s, e = to_label_studio(TEXT, start, start + len(surface))
    types = result_types(TAX)
    out = [
        {
            "id": rid,
            "from_name": layer,
            "to_name": "text",
            "type": "labels",
            "value": {"start": s, "end": e, "text": surface, "labels": [label]},
        }
    ]
    for name, v in attrs.items():
        kind = types[name]
        key = {"choices": "choices", "textarea": "text"}[kind]
        out.append(
            {
                "id": rid,
                "from_name": name,
                "to_name": "text",
                "type": kind,
                "value": {"start": s, "end": e, key: [v]},
            }
        )
    return out


def relation(frm: str, to: str, role: str) -> dict[str, Any]:
    return {"type": "relation", "from_id": frm, "to_id": to, "direction": "right", "labels": [role]}


def text_item(name: str, text: str, rid: str = "why", where: dict[str, Any] | None = None) -> Any:
    value: dict[str, Any] = {"text": [text]}
    if where is not None:
        value = {"start": where["value"]["start"], "end": where["value"]["end"], **value}
    return {"id": rid, "from_name": name, "to_name": "text", "type": "textarea", "value": value}


def stance(value: str) -> dict[str, Any]:
    return {
        "id": "s",
        "from_name": "stance_us_presence",
        "to_name": "text",
        "type": "choices",
        "value": {"choices": [value]},
    }


def annotation(i: int, email: str, result: list[dict[str, Any]]) -> dict[str, Any]:
    return {
        "id": i,
        "unique_id": str(uuid.UUID(int=i)),
        "completed_by": {"email": email},
        "result": result,
        "was_cancelled": False,
        "ground_truth": False,
        "lead_time": 1.0,
        "created_at": STAMP,
        "updated_at": STAMP,
        "prediction": {},
    }


def layers_of(paths: ProjectPaths, *annotations: dict[str, Any]) -> AnnotationLayers:
    return layers_for(paths, TEXT, annotations)


def layers_for(
    paths: ProjectPaths, text: str, annotations: Sequence[dict[str, Any]]
) -> AnnotationLayers:
    """The layers adjudication makes of ``annotations`` of one article ``AID`` with ``text``."""
    sha = hashlib.sha256(text.encode()).hexdigest()
    who = {A, B} | {a["completed_by"]["email"] for a in annotations}
    collector = TableCollector({AID: (text, sha)}, TAX, who, load_source_shapes(paths))
    data = {"text": text, "article_id": AID, "text_sha256": sha}
    collector.add_task({"id": 1, "data": data, "annotations": list(annotations)}, "t.json")
    t = collector.tables()
    assert t.problems == []
    result = adjudicate(t.annotations, t.regions, t.relations, t.choices, paths.decisions_dir, TAX)
    return AnnotationLayers(
        t.annotations,
        t.regions,
        t.relations,
        t.choices,
        result.gold,
        problems=result.problems,
        conflicts=result.conflicts,
    )


MEET = span("m", "meet", "events", "MEETING", realis="ACTUAL")
NIAMEY = span("n", "Niamey", "entities", "GPE")
NIGER = span("g", "Niger", "entities", "GPE")


def two_versions(paths: ProjectPaths) -> AnnotationLayers:
    """A: MEETING with its PLACE Niamey; B: the MEETING only, and Niger."""
    return layers_of(
        paths,
        annotation(1, A, [*MEET, *NIAMEY, relation("m", "n", "PLACE")]),
        annotation(2, B, [*MEET, *NIGER]),
    )


def review(result: list[dict[str, Any]]) -> dict[str, Any]:
    return annotation(99, R, result)


def test_conflicts_name_who_made_what(paths: ProjectPaths) -> None:
    layers = two_versions(paths)
    details = {c["item"]: c for c in layers.conflicts}
    niamey = details[f"region:entities:GPE:{TEXT.index('Niamey')}:{TEXT.index('Niamey') + 6}"]
    assert niamey["detail"] == f"'Niamey' marked by {A}, not by {B}"
    assert (niamey["by"], niamey["not_by"]) == ([A], [B])
    # The relation to Niamey is no conflict yet: its end is not gold until decided.
    assert not any(i.startswith("relation:") for i in details)


def test_a_review_settles_every_conflict_including_those_it_reveals(paths: ProjectPaths) -> None:
    layers = two_versions(paths)
    accepted = span("rn", "Niamey", "entities", "GPE")
    gold = [
        *span("rm", "meet", "events", "MEETING", realis="ACTUAL"),
        *accepted,
        relation("rm", "rn", "PLACE"),
        text_item("review_reason", "The meeting is in Niamey; Niger is not a party here."),
        text_item("review_region_reason", "the place of the meeting", "rn", accepted[0]),
    ]
    decided, problems = review_decisions(layers, TAX, paths, article(), review(gold), R)
    assert problems == [] and decided is not None
    by_item = {d["item"]: d for d in decided.entries}
    niamey = next(i for i in by_item if i.startswith("region:entities:GPE:") and "Niamey" in by_item[i]["conflict"])  # fmt: skip
    niger = next(i for i in by_item if i != niamey and i.startswith("region:"))
    rel = next(i for i in by_item if i.startswith("relation:"))  # revealed by accepting Niamey
    assert {i: by_item[i]["action"] for i in (niamey, niger, rel)} == {
        niamey: "accept",
        niger: "reject",
        rel: "accept",
    }
    assert by_item[niamey]["why"] == "the place of the meeting"
    assert by_item[niger]["why"].startswith("The meeting is in Niamey")
    assert {d["decided_by"] for d in decided.entries} == {R}
    # Written and read back as adjudication reads it: nothing unsettled, the review is gold.
    path = paths.decisions_dir / f"{AID}.yaml"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(render_decisions(AID, decided.entries), encoding="utf-8")
    assert set(read_decisions(paths.decisions_dir, AID)) == {niamey, niger, rel}
    after = layers_of(
        paths,
        annotation(1, A, [*MEET, *NIAMEY, relation("m", "n", "PLACE")]),
        annotation(2, B, [*MEET, *NIGER]),
    )
    assert [p for p in after.problems if p.rule == UNSETTLED_RULE] == []
    assert sorted(after.gold.regions["text"].to_list()) == ["Niamey", "meet"]
    assert after.gold.relations["label"].to_list() == ["PLACE"]


def test_a_review_decisions_cannot_express_is_refused(paths: ProjectPaths) -> None:
    layers = two_versions(paths)
    reason = text_item("review_reason", "r")
    # Drops the MEETING both annotators made, and adds US, which nobody made.
    mine = [*NIAMEY, *span("u", "US", "entities", "GPE"), reason]
    decided, problems = review_decisions(layers, TAX, paths, article(), review(mine), R)
    assert decided is None
    text = "\n".join(problems)
    assert "the review lacks region events:MEETING:" in text
    assert "the review has region entities:GPE:0:2, which the gold cannot get" in text
    assert "decisions only accept or reject what an annotator made" in text


def test_a_review_without_a_reason_is_refused(paths: ProjectPaths) -> None:
    layers = two_versions(paths)
    decided, problems = review_decisions(layers, TAX, paths, article(), review([*MEET]), R)
    assert decided is None
    assert problems == [
        "no reason given: fill in review_reason in the review (it becomes each decision's why)"
    ]


def test_an_existing_different_decision_is_kept_without_overwrite(paths: ProjectPaths) -> None:
    layers = two_versions(paths)
    niger = next(c["item"] for c in layers.conflicts if "Niger" in c["detail"])
    path = paths.decisions_dir / f"{AID}.yaml"
    path.parent.mkdir(parents=True)
    hand = f"decisions:\n- item: '{niger}'\n  action: accept\n  decided_by: {A}\n  why: by hand\n"
    path.write_text(hand)
    mine = [*MEET, text_item("review_reason", "Niger is not a party")]
    decided, problems = review_decisions(layers, TAX, paths, article(), review(mine), R)
    assert decided is None
    assert f"{niger}: the file says accept (by {A}), the review says reject" in problems
    assert "an existing decision is never replaced without `--overwrite`" in problems
    decided, problems = review_decisions(
        layers, TAX, paths, article(), review(mine), R, overwrite=True
    )
    assert problems == [] and decided is not None
    assert next(d for d in decided.entries if d["item"] == niger)["action"] == "reject"


def test_skeleton_placeholders_settle_nothing_and_are_never_overwritten(
    paths: ProjectPaths,
) -> None:
    layers = two_versions(paths)
    unsettled = [c for c in layers.conflicts if c["kind"] == "conflict"]
    written, extended, kept = write_skeletons(paths.decisions_dir, unsettled)
    assert [p.name for p in written] == [f"{AID}.yaml"] and extended == kept == []
    entries = yaml.safe_load(written[0].read_text())["decisions"]
    assert all(e["action"] is None and "marked by" in e["conflict"] for e in entries)
    assert read_decisions(paths.decisions_dir, AID) == {}  # placeholders decide nothing
    written[0].write_text("decisions: []\n# mine\n")  # a layout appending cannot extend
    again = write_skeletons(paths.decisions_dir, unsettled)
    assert again == ([], [], [paths.decisions_dir / f"{AID}.yaml"])
    assert written[0].read_text() == "decisions: []\n# mine\n"


def test_skeleton_appends_placeholders_for_conflicts_a_file_does_not_list(
    paths: ProjectPaths,
) -> None:
    """A third annotator brings conflicts the article's decisions file does not list:
    --skeleton appends a placeholder for each after the file's own bytes (before: "it
    exists, so no skeleton written", and the items had to be typed by hand)."""
    layers = two_versions(paths)
    unsettled = [c for c in layers.conflicts if c["kind"] == "conflict"]
    first, rest = unsettled[:1], unsettled[1:]
    assert rest
    (path,), _, _ = write_skeletons(paths.decisions_dir, first)
    mine = path.read_text().replace("action: null", "action: accept", 1)
    mine = mine.replace("decided_by: null", "decided_by: lead@x.test", 1)
    mine = mine.replace("why: null", "why: my own decision  # kept as typed", 1)
    path.write_text(mine)
    written, extended, kept = write_skeletons(paths.decisions_dir, unsettled)
    assert (written, extended, kept) == ([], [path], [])
    text = path.read_text()
    assert text.startswith(mine)  # every byte of the file as it was, first
    entries = yaml.safe_load(text)["decisions"]
    assert [e["item"] for e in entries] == [c["item"] for c in unsettled]
    assert entries[0]["action"] == "accept" and all(e["action"] is None for e in entries[1:])
    assert read_decisions(paths.decisions_dir, AID).keys() == {first[0]["item"]}
    assert write_skeletons(paths.decisions_dir, unsettled) == ([], [], [path])  # all listed
    assert path.read_text() == text


@pytest.mark.parametrize(
    ("entry", "message"),
    [
        ("action: acept\n  decided_by: x\n  why: y", "action 'acept' is not one of accept, reject"),
        ("action: accept\n  why: y", "must say decided_by and why"),
    ],
)
def test_a_filled_in_decision_must_be_complete(tmp_path: Path, entry: str, message: str) -> None:
    (tmp_path / "a1.yaml").write_text(f"decisions:\n- item: region:entities:GPE:0:2\n  {entry}\n")
    with pytest.raises(ValueError, match=message):
        read_decisions(tmp_path, "a1")


def test_review_config_adds_the_reviewer_fields_to_the_main_config() -> None:
    main = render_label_config(TAX, load_registries(ProjectPaths(ROOT)))
    xml = review_label_config(main)
    assert 'name="review_reason"' in xml and 'perRegion="true"' in xml
    assert '<Header value="$review_summary"' in xml
    # every control of the main config is there, unchanged
    assert all(line in xml for line in main.splitlines())


def test_agreement_cautions_below_the_minimum(paths: ProjectPaths) -> None:
    layers = layers_of(
        paths,
        annotation(1, A, [*NIAMEY, stance("SUPPORTS")]),
        annotation(2, B, [*NIAMEY, stance("OPPOSES")]),
    )
    report = agreement_report(layers.annotations, layers.regions, layers.choices, TAX)
    assert report["article_labels"]["stance_us_presence"]["alpha"] == 0.0
    assert report["caution"].startswith("only 1 article(s) annotated by two or more annotators")
    assert "moves alpha by 1.00 or more" in report["caution"]
    enough = agreement_report(
        layers.annotations, layers.regions, layers.choices, TAX, min_articles=1
    )
    assert enough["caution"] is None


def test_agreement_minimum_is_read_from_pyproject(tmp_path: Path) -> None:
    text = (ROOT / "pyproject.toml").read_text()
    (tmp_path / "pyproject.toml").write_text(text)
    assert Settings.from_pyproject(tmp_path / "pyproject.toml").agreement_min_articles == 20
    marker = "[tool.sahelwire]\n"
    (tmp_path / "pyproject.toml").write_text(
        text.replace(marker, marker + "agreement_min_articles = 50\n")
    )
    assert Settings.from_pyproject(tmp_path / "pyproject.toml").agreement_min_articles == 50
    (tmp_path / "pyproject.toml").write_text(
        text.replace(marker, marker + "agreement_min_articles = 1\n")
    )
    with pytest.raises(ConfigError, match="agreement_min_articles must be a whole number >= 2"):
        Settings.from_pyproject(tmp_path / "pyproject.toml")


def test_the_review_box_lists_earlier_decisions_with_value_decider_and_majority() -> None:
    """Earlier decisions stand; the box shows each with who made what now, a set decision's
    value, who decided, and whether later annotators made it go against the majority."""
    a, b, c = "a@x.test", "b@x.test", "c@x.test"
    versions = [Version(w, i + 1, "2026-01-01T00:00:00Z") for i, w in enumerate((a, b, c))]
    niamey = "region:entities:GPE:0:6"
    agadez = "region:entities:GPE:20:26"
    tie = "attr:entities:GPE:0:6:entity_id"
    case = Case(
        "001",
        versions,
        [{"item": "region:entities:ORG:8:13", "detail": f"'junta' marked by {c}, not by {a}, {b}"}],
        [
            {
                "item": niamey,
                "detail": f"'Niamey' marked by {a}, {b}, not by {c}",
                "by": [a, b],
                "not_by": [c],
                "decision": "reject",
            },
            {
                "item": agadez,
                "detail": f"'Agadez' marked by {a}, not by {b}, {c}",
                "by": [a],
                "not_by": [b, c],
                "decision": "reject",
            },
            {"item": tie, "detail": "'Niamey' entity_id disputed", "decision": "set"},
        ],
    )
    decisions = {
        niamey: {"decided_by": "lead@x.test"},
        agadez: {"decided_by": "lead@x.test"},
        tie: {"decided_by": "lead@x.test", "value": "ent_niamey"},
    }
    data = task_data(case, "Niamey, the junta, Agadez", "0" * 64, decisions)
    lines = data["review_conflicts"].split("\n")
    # Annotators by the letters of their tabs (the legend's); whoever decided by e-mail.
    assert lines == [
        "TO SETTLE (1):",
        "1. entities ORG [8, 13): 'junta' marked by C, not by A, B",
        "Decided earlier (they stand; annotations/decisions/001.yaml):",
        "entities GPE [0, 6): 'Niamey' marked by A, B, not by C: reject by lead@x.test "
        "(against the majority now)",
        "entities GPE [20, 26): 'Agadez' marked by A, not by B, C: reject by lead@x.test",
        "entity_id of entities GPE [0, 6): 'Niamey' entity_id disputed: set 'ent_niamey' by "
        "lead@x.test",
    ]
    assert f"(A = {a}; B = {b}; C = {c};" in data["review_summary"]


def test_many_earlier_decisions_are_counted_below_the_conflict_to_settle() -> None:
    """Seen in a team walkthrough: one unsettled conflict, then ~20 "Decided earlier" lines;
    the box was taller than the screen and the conflict easy to miss. The conflicts come
    first under a heading, the earlier decisions are one count line and only those against
    the majority now are listed."""
    a, b, c = "a@x.test", "b@x.test", "c@x.test"
    versions = [Version(w, i + 1, "2026-01-01T00:00:00Z") for i, w in enumerate((a, b, c))]
    decided = [
        {
            "item": f"region:entities:GPE:{10 * i}:{10 * i + 4}",
            "detail": f"'G{i:02d}' marked by {a}, not by {b}, {c}",
            "by": [a],
            "not_by": [b, c],
            # the first two accepted though only A made them: against the majority now
            "decision": "accept" if i < 2 else "reject",
        }
        for i in range(20)
    ]
    decided.append({"item": "attr:entities:GPE:0:4:entity_id", "detail": "tied", "decision": "set"})
    case = Case(
        "001",
        versions,
        [{"item": "region:entities:ORG:400:405", "detail": f"'junta' marked by {c}, not by {a}"}],
        decided,
    )
    decisions = {str(d["item"]): {"decided_by": "lead@x.test"} for d in decided}
    data = task_data(case, "x" * 500, "0" * 64, decisions)
    assert data["review_conflicts"].split("\n") == [
        "TO SETTLE (1):",
        "1. entities ORG [400, 405): 'junta' marked by C, not by A",
        "Decided earlier: 21 decisions stand (2 accept, 18 reject, 1 set; "
        "annotations/decisions/001.yaml), already applied to your start; 2 against the "
        "majority now:",
        "- entities GPE [0, 4): 'G00' marked by A, not by B, C: accept by lead@x.test "
        "(against the majority now)",
        "- entities GPE [10, 14): 'G01' marked by A, not by B, C: accept by lead@x.test "
        "(against the majority now)",
    ]
    assert "1 unsettled conflict(s)" in data["review_summary"]
    # None against the majority: the count line alone.
    agreeing = Case("001", versions, case.conflicts, decided[2:])
    lines = task_data(agreeing, "x" * 500, "0" * 64, decisions)["review_conflicts"].split("\n")
    assert lines[2:] == [
        "Decided earlier: 19 decisions stand (18 reject, 1 set; annotations/decisions/001.yaml), "
        "already applied to your start; none against the majority now."
    ]
