"""Review sheets without a server: skeleton -> filled-in sheet -> the review it submits ->
the decisions `review --pull` takes from it (the same code as for an editor's review).
Through a real Label Studio server and the CLI: tests/labelstudio/test_review_sheet.py."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from annotations.test_review import (
    AID,
    MEET,
    NIAMEY,
    TAX,
    TEXT,
    A,
    B,
    R,
    annotation,
    article,
    layers_of,
    relation,
    review,
    span,
    stance,
)
from helpers import copy_project
from sahelwire.annotations.adjudication import UNSETTLED_RULE, read_decisions
from sahelwire.annotations.layers import AnnotationLayers
from sahelwire.annotations.review import render_decisions, review_decisions, split_reason
from sahelwire.annotations.review_sheet import (
    SheetArticle,
    SheetError,
    check_article,
    read_sheet,
    review_result,
    sheet_skeleton,
    write_sheet_skeleton,
)
from sahelwire.io.paths import ProjectPaths

TEXT_NIGER = span("g", "Niger", "entities", "GPE", entity_id="ent_niger")
A_RESULT = [*MEET, *NIAMEY, relation("m", "n", "PLACE"), *TEXT_NIGER, stance("SUPPORTS")]
B_RESULT = [*MEET, *span("g2", "Niger", "entities", "GPE"), stance("OPPOSES")]


@pytest.fixture()
def paths(tmp_path: Path) -> ProjectPaths:
    return ProjectPaths(copy_project(tmp_path / "p", annotations=False))


def layers(paths: ProjectPaths) -> AnnotationLayers:
    return layers_of(paths, annotation(1, A, A_RESULT), annotation(2, B, B_RESULT))


def items(layers: AnnotationLayers) -> dict[str, str]:
    """Short names -> items of the conflicts of the fixture."""
    conflicts = [c["item"] for c in layers.conflicts if c["kind"] == "conflict"]
    return {
        "niamey": next(i for i in conflicts if i.startswith("region:entities:GPE:31")),
        "tie": next(i for i in conflicts if i.startswith("attr:")),
        "supports": "choice:stance_us_presence:SUPPORTS",
        "opposes": "choice:stance_us_presence:OPPOSES",
    }


def sheet(entries: dict[str, dict[str, Any]], reason: Any = "Overall: GUIDELINES §2") -> Any:
    conflicts = [{"item": i, **e} for i, e in entries.items()]
    return SheetArticle("sheet.yaml", AID, reason, conflicts)


REL = "relation:events:MEETING:23:27->entities:GPE:31:37:PLACE"


def full_sheet(it: dict[str, str]) -> dict[str, dict[str, Any]]:
    return {
        it["niamey"]: {"action": "accept", "why": "GUIDELINES §3.5 the place of the meeting"},
        it["tie"]: {"action": "set", "value": "ent_niger", "why": "GUIDELINES §4.1 registry id"},
        REL: {"action": "accept", "why": "GUIDELINES §5.2 PLACE: where it happens"},
        it["supports"]: {"action": "reject", "why": "GUIDELINES §6 reporting, not support"},
        it["opposes"]: {"action": "accept", "why": "Overall: GUIDELINES §2"},
    }


def pulled(paths: ProjectPaths, lay: AnnotationLayers, s: SheetArticle) -> dict[str, Any]:
    """Submit the sheet's review (as a result) and pull it back as decisions, by item."""
    checked, problems = check_article(s, lay, TAX, paths, R, TEXT)
    assert problems == [] and checked is not None
    result, problems = review_result(checked, [(A, A_RESULT), (B, B_RESULT)], article(), TAX, paths)
    assert problems == []
    decided, problems = review_decisions(lay, TAX, paths, article(), review(result), R)
    assert problems == [] and decided is not None
    return {d["item"]: d for d in decided.entries}


def test_the_skeleton_lists_every_conflict_and_those_an_accept_reveals(paths: ProjectPaths) -> None:
    lay = layers(paths)
    it = items(lay)
    text, n = sheet_skeleton(lay, TAX, paths, {AID: TEXT})
    assert n == 1
    (art,) = yaml.safe_load(text)["articles"]
    assert art["article_id"] == AID and art["reason"] is None
    entries = {e["item"]: e for e in art["conflicts"]}
    assert set(entries) == {*it.values(), REL}
    niamey = entries[it["niamey"]]
    assert (niamey["text"], niamey["by"], niamey["not_by"]) == ("Niamey", [A], [B])
    assert niamey["action"] is None and niamey["why"] is None
    assert "meet in Niamey" in niamey["context"]
    assert entries[it["tie"]]["values"] == [
        {"value": "ent_niger", "by": [A]},
        {"value": None, "by": [B]},
    ]
    assert entries[REL]["depends_on"] == [it["niamey"]]  # a conflict only once Niamey is gold
    assert entries[REL]["text"] == "meet -> Niamey"
    path = paths.root / "sheet.yaml"
    write_sheet_skeleton(path, text)
    assert read_sheet(path)[0].article_id == AID
    with pytest.raises(SheetError, match="never replaces a file"):
        write_sheet_skeleton(path, "x")


def test_every_why_reaches_review_pull_exactly(paths: ProjectPaths) -> None:
    lay = layers(paths)
    it = items(lay)
    wanted = full_sheet(it)
    got = pulled(paths, lay, sheet(wanted))
    assert set(got) == set(wanted)
    for item, w in wanted.items():
        assert (got[item]["action"], got[item].get("value")) == (w["action"], w.get("value"))
        assert got[item]["why"] == w["why"], item
        assert got[item]["decided_by"] == R
    # Written as review --pull writes it, adjudication has nothing left unsettled.
    path = paths.decisions_dir / f"{AID}.yaml"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(render_decisions(AID, list(got.values())), encoding="utf-8")
    assert set(read_decisions(paths.decisions_dir, AID)) == set(wanted)
    after = layers(paths)
    assert [p for p in after.problems if p.rule == UNSETTLED_RULE] == []
    assert sorted(after.gold.regions["text"].to_list()) == ["Niamey", "Niger", "meet"]
    niger = after.gold.regions.filter(after.gold.regions["text"] == "Niger")
    assert niger["entity_id"].to_list() == ["ent_niger"]


def test_a_rejected_region_makes_its_relation_moot(paths: ProjectPaths) -> None:
    lay = layers(paths)
    it = items(lay)
    wanted = full_sheet(it)
    wanted[it["niamey"]] = {"action": "reject", "why": "GUIDELINES §3.5 not the venue"}
    wanted[it["tie"]] = {"action": "set", "value": None, "why": "GUIDELINES §4.1 no id yet"}
    wanted[REL] = {"action": None, "why": None}  # left empty: no conflict once Niamey is out
    got = pulled(paths, lay, sheet(wanted))
    assert REL not in got
    assert got[it["niamey"]]["why"] == "GUIDELINES §3.5 not the venue"  # a line of its own
    assert (got[it["tie"]]["action"], got[it["tie"]]["value"]) == ("set", None)
    assert got[it["tie"]]["why"] == "GUIDELINES §4.1 no id yet"


def test_item_reason_lines_are_read_apart_from_the_overall_reason() -> None:
    reason, lines, problems = split_reason(
        ["Overall.\n[region:entities:GPE:1:2] one\nstill overall", "more"]
    )
    assert (reason, lines, problems) == (
        "Overall.\nstill overall more",
        {"region:entities:GPE:1:2": "one"},
        [],
    )
    assert split_reason(["[choice:f:X] a\n[choice:f:X] b"])[2] == [
        "review_reason gives choice:f:X two reasons ('a', 'b')"
    ]
    assert split_reason(["plain reason"]) == ("plain reason", {}, [])


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (
            lambda s, it: s.update({"region:entities:GPE:0:2": {"action": "accept", "why": "x"}}),
            "item region:entities:GPE:0:2: not a conflict of the article",
        ),
        (
            lambda s, it: s[it["niamey"]].update(action=None, why=None),
            "item {niamey}: no action; it is a conflict under the sheet's decisions",
        ),
        (
            lambda s, it: s[it["supports"]].update(why=" "),
            "item choice:stance_us_presence:SUPPORTS: every decision has a why, one non-empty line",
        ),
        (
            lambda s, it: s[it["supports"]].update(why="two\nlines"),
            "every decision has a why, one non-empty line",
        ),
        (
            lambda s, it: s[it["tie"]].update(value="ent_usa"),
            "set value 'ent_usa' is not one an annotator gave ('ent_niger', None)",
        ),
        (
            lambda s, it: s[it["tie"]].pop("value"),
            "set needs a value",
        ),
        (
            lambda s, it: s[it["supports"]].update(action="set"),
            "action 'set' is not one of accept, reject for this item",
        ),
        (
            lambda s, it: s.pop(it["opposes"]),
            "item choice:stance_us_presence:OPPOSES: a conflict of the article the sheet does "
            "not decide",
        ),
        (
            lambda s, it: s[it["supports"]].update(action="accept"),
            "a single-choice field has one gold value",
        ),
    ],
)
def test_a_sheet_that_cannot_be_submitted_is_refused_naming_the_item(
    paths: ProjectPaths, change: Any, message: str
) -> None:
    lay = layers(paths)
    it = items(lay)
    entries = full_sheet(it)
    change(entries, it)
    checked, problems = check_article(sheet(entries), lay, TAX, paths, R, TEXT)
    assert checked is None
    text = "\n".join(problems)
    assert message.format(**it) in text
    assert all(p.startswith(f"sheet.yaml: article {AID}: ") for p in problems)


@pytest.mark.parametrize("reason", [None, "", "[choice:stance_us_presence:OPPOSES] looks like"])
def test_an_article_needs_its_own_overall_reason(paths: ProjectPaths, reason: Any) -> None:
    lay = layers(paths)
    checked, problems = check_article(
        sheet(full_sheet(items(lay)), reason), lay, TAX, paths, R, TEXT
    )
    assert checked is None
    assert problems and "`reason`" in problems[0]


def test_a_file_that_is_not_a_sheet_is_refused(tmp_path: Path) -> None:
    bad = tmp_path / "s.yaml"
    bad.write_text("decisions: []\n")
    with pytest.raises(SheetError, match="a mapping with a list `articles:`"):
        read_sheet(bad)
    bad.write_text(
        "articles:\n- article_id: a1\n  conflicts: []\n- article_id: a1\n  conflicts: []\n"
    )
    with pytest.raises(SheetError, match="article a1 is listed twice"):
        read_sheet(bad)
    bad.write_bytes(b"articles: []\n\xff")  # not UTF-8: named, not a decoder's traceback
    with pytest.raises(SheetError, match=r"s\.yaml: not UTF-8 \(byte 13\)"):
        read_sheet(bad)


def test_two_ties_on_one_region_take_each_value_from_an_annotator_who_gave_it(
    paths: ProjectPaths,
) -> None:
    # An event id of schemas/events.yaml: the gold a sheet gives is checked as validate checks it.
    a = span("m", "meet", "events", "MEETING", realis="ACTUAL")
    b = span("m", "meet", "events", "MEETING", realis="PLANNED", event_id="evt_blinken_visit")
    lay = layers_of(paths, annotation(1, A, a), annotation(2, B, b))
    ties = sorted(c["item"] for c in lay.conflicts if c["kind"] == "conflict")
    assert [t.rpartition(":")[2] for t in ties] == ["event_id", "realis"]
    wanted = {
        ties[0]: {"action": "set", "value": "evt_blinken_visit", "why": "§7 the registry's talks"},
        ties[1]: {"action": "set", "value": "ACTUAL", "why": "§7.2 the talks took place"},
    }
    s = sheet(wanted)
    checked, problems = check_article(s, lay, TAX, paths, R, TEXT)
    assert problems == [] and checked is not None
    result, problems = review_result(checked, [(A, a), (B, b)], article(), TAX, paths)
    assert problems == []
    values = {r["from_name"]: r["value"] for r in result if r["from_name"] != "events"}
    assert values["realis"]["choices"] == ["ACTUAL"] and values["event_id"]["text"] == [
        "evt_blinken_visit"
    ]
    decided, problems = review_decisions(lay, TAX, paths, article(), review(result), R)
    assert problems == [] and decided is not None
    got = {d["item"]: (d["action"], d["value"], d["why"]) for d in decided.entries}
    assert got == {i: (w["action"], w["value"], w["why"]) for i, w in wanted.items()}


def test_a_reason_line_for_an_item_that_is_no_conflict_refuses_the_review(
    paths: ProjectPaths,
) -> None:
    lay = layers(paths)
    checked, problems = check_article(sheet(full_sheet(items(lay))), lay, TAX, paths, R, TEXT)
    assert checked is not None
    checked.reason += "\n[region:entities:GPE:0:2] mistyped"
    result, _ = review_result(checked, [(A, A_RESULT), (B, B_RESULT)], article(), TAX, paths)
    decided, problems = review_decisions(lay, TAX, paths, article(), review(result), R)
    assert decided is None
    assert problems == [
        "review_reason gives a reason to region:entities:GPE:0:2, which is not a conflict of "
        "the article (a mistyped item?)"
    ]


def test_a_sheet_can_side_with_a_minority_on_a_single_choice_field(paths: ProjectPaths) -> None:
    """Two annotators chose SUPPORTS, one OPPOSES: accepting OPPOSES rejects the majority's
    SUPPORTS (a single-choice field holds one value), as selecting it does in the editor.
    The sheet could not: SUPPORTS is no conflict, so no entry could reject it, and the gold
    held both values."""
    c = "c@x.test"
    results = [(A, [*MEET, stance("SUPPORTS")]), (B, [*MEET, stance("SUPPORTS")])]
    results.append((c, [*MEET, stance("OPPOSES")]))
    lay = layers_of(paths, *(annotation(i + 1, w, r) for i, (w, r) in enumerate(results)))
    opposes, supports = "choice:stance_us_presence:OPPOSES", "choice:stance_us_presence:SUPPORTS"
    text, _ = sheet_skeleton(lay, TAX, paths, {AID: TEXT})
    (art,) = yaml.safe_load(text)["articles"]
    assert [e["item"] for e in art["conflicts"]] == [opposes]  # the majority's is no conflict
    why = "GUIDELINES §6: 'must leave' opposes the presence"
    checked, problems = check_article(
        sheet({opposes: {"action": "accept", "why": why}}), lay, TAX, paths, R, TEXT
    )
    assert problems == [] and checked is not None
    gold = checked.gold.choices.filter(checked.gold.choices["field"] == "stance_us_presence")
    assert gold["value"].to_list() == ["OPPOSES"]
    assert checked.overruled == {supports: "OPPOSES"}  # submit's note names it
    result, problems = review_result(checked, results, article(), TAX, paths)
    assert problems == []
    decided, problems = review_decisions(lay, TAX, paths, article(), review(result), R)
    assert problems == [] and decided is not None
    got = {d["item"]: d for d in decided.entries}
    assert (got[opposes]["action"], got[opposes]["why"]) == ("accept", why)
    assert (got[supports]["action"], got[supports]["why"]) == ("reject", why)
    assert got[supports]["conflict"] == (
        f"marked by {A}, {B}, not by {c}; the majority's value; the review selects OPPOSES"
    )
