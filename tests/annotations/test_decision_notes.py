"""A decision's `conflict:` note after a later annotator joins (a team walkthrough).

Entries of annotations/decisions/*.yaml carry a note for the reader, "marked by
ai-annotator-1…, not by ai-annotator-2…". After a third annotator the notes stayed as written
and no longer said who made what. Adjudication ignores the notes, so the decisions stand:
`adjudicate` now names the stale notes (nothing written, exit code as before), and
`review --pull` brings the notes of a file it writes anyway up to date, never touching an
entry's action, value, decider or reason.
"""

from __future__ import annotations

import copy
import json
import uuid
from pathlib import Path

import yaml

from helpers import copy_project, run_cli, snapshot
from sahelwire.annotations.adjudication import read_decisions
from sahelwire.annotations.review import render_decisions, review_decisions
from sahelwire.io.paths import ProjectPaths

from .test_review import (
    AID,
    MEET,
    NIAMEY,
    NIGER,
    TAX,
    A,
    B,
    R,
    annotation,
    article,
    layers_of,
    paths,  # noqa: F401  (the fixture)
    review,
    span,
    text_item,
)

C = "c@x.test"
ART = "000_68e681b97d6ec23c"
FIRST, SECOND = "ai-annotator-1@sahelwire.local", "ai-annotator-2@sahelwire.local"
PERSON = "third@example.org"


def third_annotator(tmp_path: Path) -> Path:
    """The committed project with a person on article ART who made exactly what
    ai-annotator-1's latest annotation made: no new conflict, every note now stale."""
    root = copy_project(tmp_path / "p")
    export = root / "annotations" / "exports" / f"{ART}.json"
    task = json.loads(export.read_text(encoding="utf-8"))
    used = [
        a["id"]
        for f in export.parent.glob("*.json")
        for a in json.loads(f.read_text(encoding="utf-8"))["annotations"]
    ]
    latest = max(
        (a for a in task["annotations"] if a["completed_by"]["email"] == FIRST),
        key=lambda a: (a["updated_at"], a["id"]),
    )
    person = copy.deepcopy(latest)
    person.update(id=max(used) + 1, unique_id=str(uuid.UUID(int=max(used) + 1)))
    person["completed_by"] = {"email": PERSON}
    task["annotations"].append(person)
    export.write_text(json.dumps(task, ensure_ascii=False, indent=1), encoding="utf-8")
    people = root / "annotations" / "annotators.json"
    known = json.loads(people.read_text(encoding="utf-8"))
    people.write_text(json.dumps({**known, PERSON: {}}, indent=2), encoding="utf-8")
    return root


def test_adjudicate_names_notes_a_later_annotator_made_stale_and_writes_nothing(
    tmp_path: Path,
) -> None:
    root = third_annotator(tmp_path)
    decisions = root / "annotations" / "decisions"
    before = snapshot(decisions)
    entries = yaml.safe_load((decisions / f"{ART}.yaml").read_text(encoding="utf-8"))
    noted = [d for d in entries["decisions"] if f"not by {SECOND}" in str(d.get("conflict"))]
    assert noted  # the committed notes name the two AI annotators only

    done = run_cli(root, "adjudicate")
    # The decisions stand. What the third annotator leaves unsettled is only the relations of
    # regions earlier decisions reject that now have a majority: only an explicit reject
    # drops an agreed relation (review.dropped_relations), whatever the notes say.
    unsettled = [
        line
        for line in done.stdout.splitlines()
        if "  conflict  " in line and line.endswith("decision=None")
    ]
    assert done.returncode == (1 if unsettled else 0), done.stdout + done.stderr
    assert all("a decision rejects its end" in line for line in unsettled), unsettled
    assert f"{len(unsettled)} unsettled" in done.stdout
    assert "decision note(s) (`conflict:`) no longer say who made what now" in done.stdout
    assert "`sahelwire labelstudio review --pull` brings the notes" in done.stdout
    listed = [line for line in done.stdout.splitlines() if line.startswith(f"  {ART}  ")]
    assert any(
        f'marked by {FIRST}, not by {SECOND}", now ' in line
        and line.endswith(f'marked by {FIRST}, {PERSON}, not by {SECOND}"')
        for line in listed
    ), listed

    as_json = run_cli(root, "adjudicate", "--json")
    assert as_json.returncode == done.returncode, as_json.stderr
    stale = json.loads(as_json.stdout)["stale_notes"]
    assert {s["item"] for s in stale} >= {d["item"] for d in noted}
    for s in stale:
        assert s["article_id"] == ART and PERSON in s["now"] and PERSON not in s["note"]
    # Nothing written: the notes are the reader's, fixed by review --pull or by hand.
    assert snapshot(decisions) == before
    # validate agrees: a stale note is no error (only those relations are).
    validated = run_cli(root, "validate")
    assert validated.returncode == done.returncode
    assert "conflict:" not in validated.stdout + validated.stderr


def test_the_committed_notes_are_not_stale(tmp_path: Path) -> None:
    root = copy_project(tmp_path / "p")
    done = run_cli(root, "adjudicate", "--json")
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["stale_notes"] == []


def test_review_pull_brings_the_notes_of_a_file_it_writes_up_to_date(
    paths: ProjectPaths,  # noqa: F811
) -> None:
    """A and B disagreed on Niamey and Niger, a lead decided both; C joins, sides with A and
    adds US. The review of US writes the file: the two earlier entries keep their action,
    decider and reason, and their notes say who made what now."""
    decisions = paths.decisions_dir
    decisions.mkdir(parents=True, exist_ok=True)
    two = layers_of(
        paths,
        annotation(1, A, [*MEET, *NIAMEY]),
        annotation(2, B, [*MEET, *NIGER]),
    )
    notes = {c["item"]: c["detail"] for c in two.conflicts}
    niamey, niger = (
        next(i for i, d in notes.items() if f"'{w}'" in d) for w in ("Niamey", "Niger")
    )
    earlier = [
        {"item": niamey, "action": "accept", "decided_by": R, "why": "the place", "conflict": notes[niamey]},
        {"item": niger, "action": "reject", "decided_by": R, "why": "not a party", "conflict": notes[niger]},
    ]  # fmt: skip
    (decisions / f"{AID}.yaml").write_text(render_decisions(AID, earlier), encoding="utf-8")
    three = layers_of(
        paths,
        annotation(1, A, [*MEET, *NIAMEY]),
        annotation(2, B, [*MEET, *NIGER]),
        annotation(3, C, [*MEET, *NIAMEY, *span("u", "US", "entities", "GPE")]),
    )
    gold = [*MEET, *NIAMEY, text_item("review_reason", "US is not marked as a party here")]
    decided, problems = review_decisions(three, TAX, paths, article(), review(gold), R)
    assert problems == [] and decided is not None
    assert (decided.written, decided.notes) == (1, 2)
    by_item = {d["item"]: d for d in decided.entries}
    assert by_item[niamey] == {**earlier[0], "conflict": f"'Niamey' marked by {A}, {C}, not by {B}"}
    assert by_item[niger] == {**earlier[1], "conflict": f"'Niger' marked by {B}, not by {A}, {C}"}
    us = next(d for i, d in by_item.items() if i not in (niamey, niger))
    assert (us["action"], us["conflict"]) == ("reject", f"'US' marked by {C}, not by {A}, {B}")
    # Without a decision to write, nothing is written for the notes alone: a second pull of
    # the same review decides nothing new (written 0: review --pull counts the article
    # unchanged and leaves the file as it is; adjudicate names the notes).
    path = decisions / f"{AID}.yaml"
    path.write_text(render_decisions(AID, [*earlier, us]), encoding="utf-8")
    again, problems = review_decisions(three, TAX, paths, article(), review(gold), R)
    assert problems == [] and again is not None and again.written == 0
    assert set(read_decisions(decisions, AID)) == {niamey, niger, us["item"]}
