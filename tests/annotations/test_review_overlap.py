"""A review may not make two regions gold that the span rules keep apart (a walkthrough).

Article 002: two AI annotators marked the TIME_OFFSET 'four months later', a third (human)
annotator kept the older baseline's 'four months' inside it. The reviewer, told only that C
marked 'four months', kept it; `review --pull` wrote `accept`, and from then on validate,
adjudicate and build refused every input ("TIME_OFFSET overlaps TIME_OFFSET 1400:1417").
"""

from __future__ import annotations

import copy
import hashlib
import json
import uuid
from pathlib import Path
from typing import Any

import polars as pl
import pytest
import yaml

from helpers import ROOT, copy_project, run_cli
from sahelwire.annotations.adjudication import UNSETTLED_RULE, adjudicate, read_decisions
from sahelwire.annotations.layers import AnnotationLayers
from sahelwire.annotations.review import (
    Case,
    ReviewPullSummary,
    counted_versions,
    gold_result,
    overlap_notes,
    refuse_unrepaired,
    render_decisions,
    repairable_articles,
    review_decisions,
    task_data,
    unsettled_cases,
)
from sahelwire.annotations.review_sheet import (
    SheetArticle,
    check_article,
    review_result,
    sheet_skeleton,
)
from sahelwire.io.paths import ProjectPaths
from sahelwire.labelstudio.identity import load_repository
from sahelwire.labelstudio.offsets import to_label_studio
from sahelwire.raw.manifest import Article, load_articles
from sahelwire.release.validation import validate_inputs
from sahelwire.schema.taxonomy import load_taxonomy

from .test_review import annotation, layers_for

TAX = load_taxonomy(ROOT / "schemas" / "taxonomy.yaml")
TEXT = "The junta asked the troops to leave; four months later the last of them left.\n"
AID = "a1"
A, B, C, R = "a@x.test", "b@x.test", "c@x.test", "lead@x.test"
LONG, SHORT = "four months later", "four months"
START = TEXT.index(LONG)
LONG_KEY = f"quantities:TIME_OFFSET:{START}:{START + len(LONG)}"
SHORT_KEY = f"quantities:TIME_OFFSET:{START}:{START + len(SHORT)}"


@pytest.fixture()
def paths(tmp_path: Path) -> ProjectPaths:
    return ProjectPaths(copy_project(tmp_path / "p", annotations=False))


def article() -> Article:
    return Article(AID, TEXT, hashlib.sha256(TEXT.encode()).hexdigest(), {})


def offset(rid: str, surface: str) -> list[dict[str, Any]]:
    """A TIME_OFFSET quantity of 4 months, as the editor exports it."""
    start = TEXT.index(surface)
    s, e = to_label_studio(TEXT, start, start + len(surface))
    where = {"start": s, "end": e}
    item = {"id": rid, "to_name": "text"}
    return [
        {**item, "from_name": "quantities", "type": "labels",
         "value": {**where, "text": surface, "labels": ["TIME_OFFSET"]}},
        {**item, "from_name": "value", "type": "number", "value": {**where, "number": 4}},
        {**item, "from_name": "unit", "type": "textarea", "value": {**where, "text": ["months"]}},
        {**item, "from_name": "approximate", "type": "choices",
         "value": {**where, "choices": ["false"]}},
    ]  # fmt: skip


def layers_of(paths: ProjectPaths) -> AnnotationLayers:
    """A and B: 'four months later'; C: 'four months'."""
    anns = [
        annotation(1, A, offset("q", LONG)),
        annotation(2, B, offset("q", LONG)),
        annotation(3, C, offset("q", SHORT)),
    ]
    return layers_for(paths, TEXT, anns)


def review(result: list[dict[str, Any]], reason: str = "GUIDELINES: the whole offset") -> Any:
    why = {"id": "why", "from_name": "review_reason", "to_name": "text", "type": "textarea",
           "value": {"text": [reason]}}  # fmt: skip
    return annotation(99, R, [*result, why])


def test_a_review_keeping_both_overlapping_quantities_is_refused_naming_both(
    paths: ProjectPaths,
) -> None:
    layers = layers_of(paths)
    # The reviewer's start holds both; keeping both accepted C's 'four months' (the bug).
    decided, problems = review_decisions(
        layers, TAX, paths, article(), review([*offset("a", LONG), *offset("c", SHORT)]), R
    )
    assert decided is None
    assert len(problems) == 1, problems
    message = problems[0]
    assert f"region:{SHORT_KEY} ('four months', accepted by {R})" in message
    assert f"region:{LONG_KEY} ('four months later', the majority's)" in message
    assert "'quantities do not overlap'" in message
    assert f"reject region:{SHORT_KEY} (delete it from your review)" in message
    assert f"reject region:{LONG_KEY} (delete it from your review: keeping" in message
    assert not (paths.decisions_dir / f"{AID}.yaml").exists()


def test_a_review_keeping_the_minority_quantity_rejects_the_majoritys(
    paths: ProjectPaths,
) -> None:
    layers = layers_of(paths)
    decided, problems = review_decisions(
        layers, TAX, paths, article(), review([*offset("c", SHORT)], "the baseline's span"), R
    )
    assert problems == []
    assert decided is not None
    actions = {d["item"]: d["action"] for d in decided.entries}
    assert actions == {f"region:{SHORT_KEY}": "accept", f"region:{LONG_KEY}": "reject"}
    # Written, the decisions give a valid gold with C's quantity alone.
    paths.decisions_dir.mkdir(parents=True, exist_ok=True)
    (paths.decisions_dir / f"{AID}.yaml").write_text(render_decisions(AID, decided.entries))
    t = layers
    result = adjudicate(t.annotations, t.regions, t.relations, t.choices, paths.decisions_dir, TAX)
    assert result.problems == []
    assert result.gold.regions["region_key"].to_list() == [SHORT_KEY]
    # And the usual review (reject C's) still gives the majority's.
    decided, problems = review_decisions(
        layers, TAX, paths, article(), review([*offset("a", LONG)]), R, overwrite=True
    )
    assert problems == [] and decided is not None
    assert {d["item"]: d["action"] for d in decided.entries}[f"region:{SHORT_KEY}"] == "reject"


def test_a_sheet_accepting_an_overlapping_quantity_is_refused(paths: ProjectPaths) -> None:
    layers = layers_of(paths)
    sheet = SheetArticle(
        "sheet.yaml",
        AID,
        "GUIDELINES: the whole offset",
        [{"item": f"region:{SHORT_KEY}", "action": "accept", "why": "the baseline's span"}],
    )
    checked, problems = check_article(sheet, layers, TAX, paths, R, TEXT)
    assert checked is None
    assert len(problems) == 1, problems
    message = problems[0]
    assert message.startswith(f"sheet.yaml: article {AID}: region:{SHORT_KEY}")
    assert "'quantities do not overlap'" in message
    assert f"set item region:{SHORT_KEY} to action: reject" in message
    assert f"add an entry {{item: region:{LONG_KEY}, action: reject, why: ...}}" in message
    # That entry is allowed: C's quantity alone is the gold.
    sheet.conflicts.append({"item": f"region:{LONG_KEY}", "action": "reject", "why": "C's"})
    checked, problems = check_article(sheet, layers, TAX, paths, R, TEXT)
    assert problems == [] and checked is not None
    assert checked.gold.regions["region_key"].to_list() == [SHORT_KEY]
    # Submitted, `review --pull` reads it back as the same two decisions, each with its why.
    versions = [(A, offset("q", LONG)), (B, offset("q", LONG)), (C, offset("q", SHORT))]
    result, missing = review_result(checked, versions, article(), TAX, paths)
    assert missing == []
    decided, refusals = review_decisions(
        layers, TAX, paths, article(), annotation(99, R, result), R
    )
    assert refusals == [] and decided is not None
    assert {(d["item"], d["action"], d["why"]) for d in decided.entries} == {
        (f"region:{SHORT_KEY}", "accept", "the baseline's span"),
        (f"region:{LONG_KEY}", "reject", "C's"),
    }


def test_the_review_box_names_the_gold_item_a_conflict_overlaps(paths: ProjectPaths) -> None:
    layers = layers_of(paths)
    cases, _ = unsettled_cases(layers)
    (case,) = cases
    assert isinstance(case, Case)
    data = task_data(case, TEXT, article().sha256, {}, overlap_notes(layers, TAX, case))
    assert data["review_conflicts"].split("\n") == [
        "TO SETTLE (1):",
        f"1. quantities TIME_OFFSET [{START}, {START + len(SHORT)}): 'four months' marked by C, "
        f"not by A, B; overlaps TIME_OFFSET [{START}, {START + len(LONG)}) 'four months later' "
        "marked by A, B (gold now): keeping one rejects the other",
    ]
    assert read_decisions(paths.decisions_dir, AID) == {}
    # The sheet's skeleton says it too, by e-mail.
    text, _ = sheet_skeleton(layers, TAX, paths, {AID: TEXT})
    (entry,) = yaml.safe_load(text)["articles"][0]["conflicts"]
    assert entry["overlaps"] == (
        f"overlaps TIME_OFFSET [{START}, {START + len(LONG)}) 'four months later' marked by "
        f"{A}, {B} (gold now): keeping one rejects the other"
    )


# -- the walkthrough's article, from the committed exports --------------------------------

ART = "002_4eb8b75709aad65d"
HUMAN = "human@example.org"
TIME_SHORT = "region:quantities:TIME_OFFSET:1400:1411"
TIME_LONG = "region:quantities:TIME_OFFSET:1400:1417"
# 'deposed' -> 'four months later', which both AI annotators made.
TIME_ARG = "relation:events:COUP:1430:1437->quantities:TIME_OFFSET:1400:1417:TIME"


def walkthrough_project(tmp_path: Path, *, only_the_quantity: bool = False) -> ProjectPaths:
    """The committed project, with a third annotator on article 002 who kept the older
    baseline's TIME_OFFSET 'four months' where both AI annotators marked 'four months later'
    (a copy of A's annotation otherwise; ``only_the_quantity``: nothing else, as the
    walkthrough's annotator C, who cleared the start and drew that one region)."""
    root = copy_project(tmp_path / "p")
    export = root / "annotations" / "exports" / f"{ART}.json"
    task = json.loads(export.read_text(encoding="utf-8"))
    used = [
        a["id"]
        for f in export.parent.glob("*.json")
        for a in json.loads(f.read_text(encoding="utf-8"))["annotations"]
    ]
    human = copy.deepcopy(next(a for a in task["annotations"] if a["id"] == 11))
    human.update(id=max(used) + 1, unique_id=str(uuid.UUID(int=max(used) + 1)))
    human["completed_by"] = {"email": HUMAN}
    if only_the_quantity:
        human["result"] = [i for i in human["result"] if i.get("id") == "q_four_months_later"]
    for item in human["result"]:
        if item.get("id") == "q_four_months_later":
            item["value"]["end"] = 1411
            if item["from_name"] == "quantities":
                item["value"]["text"] = "four months"
    task["annotations"].append(human)
    export.write_text(json.dumps(task, ensure_ascii=False, indent=1), encoding="utf-8")
    people = root / "annotations" / "annotators.json"
    known = json.loads(people.read_text(encoding="utf-8"))
    people.write_text(json.dumps({**known, HUMAN: {}}, indent=2), encoding="utf-8")
    return ProjectPaths(root)


def accept_the_short_one(paths: ProjectPaths) -> str:
    """What `review --pull` wrote before this fix: accept of C's 'four months'."""
    path = paths.decisions_dir / f"{ART}.yaml"
    path.write_text(
        path.read_text(encoding="utf-8")
        + f"- item: {TIME_SHORT}\n  action: accept\n  decided_by: {R}\n  why: the baseline's\n",
        encoding="utf-8",
    )
    return path.read_text(encoding="utf-8")


def test_the_walkthrough_conflict_is_listed_and_named_in_the_review_box(tmp_path: Path) -> None:
    paths = walkthrough_project(tmp_path)
    done = run_cli(paths.root, "adjudicate")
    assert done.returncode == 1, done.stderr
    assert f"{ART}  conflict   {TIME_SHORT}  'four months' marked by {HUMAN}" in done.stdout
    _, inputs = validate_inputs(paths)
    (case,) = unsettled_cases(inputs.layers)[0]
    notes = overlap_notes(inputs.layers, TAX, case)
    assert notes == {
        TIME_SHORT: "overlaps TIME_OFFSET [1400, 1417) 'four months later' marked by A, B "
        "(gold now): keeping one rejects the other; rejecting TIME_OFFSET [1400, 1417) also "
        "drops relation TIME 'deposed' -> 'four months later', which the annotators agreed on: "
        f"to reject it, give the line [{TIME_ARG}] <why> in review_reason"
    }


def test_overwrite_replaces_decisions_that_broke_the_gold_and_nothing_else(
    tmp_path: Path,
) -> None:
    paths = walkthrough_project(tmp_path)
    before = accept_the_short_one(paths)
    broken = "rule quantities do not overlap value '1400:1411'"
    # Every refusal names the repair (before: only docs/review.md did).
    repair = (
        f"next: annotations/decisions/{ART}.yaml: decisions written before `review --pull` "
        "checked the gold make it break a rule; fix the article's review in Label Studio (keep "
        "one of the two regions), then `sahelwire labelstudio review --pull --overwrite` "
        "replaces those decisions from it (docs/review.md, 5.); or correct the file by hand"
    )
    done = run_cli(paths.root, "adjudicate")
    assert done.returncode == 1 and broken in done.stderr
    assert repair in done.stderr, done.stderr
    checked = run_cli(paths.root, "validate", "--no-dist")
    assert checked.returncode == 1 and broken in checked.stdout
    assert repair in checked.stdout, checked.stdout
    built = run_cli(paths.root, "build", "--out", str(tmp_path / "out"))
    assert built.returncode == 1 and broken in built.stderr
    assert repair in built.stderr, built.stderr
    assert not (tmp_path / "out").exists()
    # Without --overwrite, review --pull is refused on the inputs, as before.
    plain = run_cli(
        paths.root, "labelstudio", "review", "--pull", env={"LABEL_STUDIO_API_KEY": None}
    )
    assert plain.returncode == 1, plain.stderr
    assert "review refused: 1 problem(s) in the inputs" in plain.stderr
    assert repair in plain.stderr, plain.stderr
    # With it, the inputs pass: it goes on to the server (none here: nothing written).
    over = run_cli(
        paths.root, "labelstudio", "review", "--pull", "--overwrite",
        env={"LABEL_STUDIO_API_KEY": None},
    )  # fmt: skip
    assert over.returncode == 1, over.stderr
    assert "review refused" not in over.stderr and "no API key" in over.stderr
    assert (paths.decisions_dir / f"{ART}.yaml").read_text(encoding="utf-8") == before
    # Any other problem still refuses --overwrite.
    other = paths.decisions_dir / "003_9f344fe3cdd782de.yaml"
    other.write_text(other.read_text(encoding="utf-8").replace("action: reject", "action: nope", 1))
    over = run_cli(
        paths.root, "labelstudio", "review", "--pull", "--overwrite",
        env={"LABEL_STUDIO_API_KEY": None},
    )  # fmt: skip
    assert over.returncode == 1, over.stderr
    assert "review refused: 1 problem(s) in the inputs" in over.stderr
    assert "'nope'" in over.stderr and broken not in over.stderr
    # Where --overwrite cannot repair (another problem refuses it too), it is not named.
    done = run_cli(paths.root, "adjudicate")
    assert done.returncode == 1 and broken in done.stderr and "'nope'" in done.stderr
    assert "--overwrite" not in done.stderr, done.stderr


def test_an_overwriting_review_replaces_the_decision_that_broke_the_gold(tmp_path: Path) -> None:
    paths = walkthrough_project(tmp_path)
    accept_the_short_one(paths)
    report, inputs = validate_inputs(paths)
    problems = [p for p in report.problems if p.rule != UNSETTLED_RULE]
    repairable, rest = repairable_articles(inputs, problems, paths)
    assert rest == [] and list(repairable) == [ART]
    assert "quantities do not overlap" in repairable[ART][0]
    layers = inputs.layers
    art = next(a for a in load_articles(paths) if a.id == ART)
    results = {int(a["id"]): a["result"] for t in load_repository(paths).tasks.values()
               for a in t["annotations"]}  # fmt: skip
    versions = [(v.annotator, results[v.annotation_id]) for v in counted_versions(layers)[ART]]

    def review_of(decided: dict[str, Any]) -> dict[str, Any]:
        existing = read_decisions(paths.decisions_dir, ART)
        only = pl.col("article_id") == ART
        gold = adjudicate(
            layers.annotations.filter(only),
            layers.regions.filter(only),
            layers.relations.filter(only),
            layers.choices.filter(only),
            paths.decisions_dir,
            TAX,
            decided={ART: {**existing, **decided}},
        ).gold
        result, missing = gold_result(gold, ART, versions, art, TAX, paths)
        assert missing == []
        # The human copied A's whole annotation: relations of events an earlier decision
        # rejects are now a majority's, and the review rejects each explicitly.
        lines = [f"[{i}] its event is rejected" for i in dropped_by(layers, paths)]
        return review(result, "\n".join(["the majority's whole offset", *lines]))

    reject = {TIME_SHORT: {"action": "reject", "decided_by": R, "why": "x"}}
    decided, refusals = review_decisions(
        layers, TAX, paths, art, review_of(reject), R, overwrite=True
    )
    assert refusals == [] and decided is not None
    actions = {d["item"]: d["action"] for d in decided.entries}
    assert actions[TIME_SHORT] == "reject"
    path = paths.decisions_dir / f"{ART}.yaml"
    path.write_text(render_decisions(ART, decided.entries), encoding="utf-8")
    done = run_cli(paths.root, "adjudicate")
    assert done.returncode == 0, done.stderr


def dropped_by(layers: AnnotationLayers, paths: ProjectPaths) -> list[str]:
    """Article 002's relations the annotators agreed on whose end the file's decisions
    reject (the human copied A's whole annotation, events A's reviewer rejected included)."""
    return [c["item"] for c in layers.conflicts
            if c["article_id"] == ART and c.get("ends_rejected")]  # fmt: skip


def walkthrough_review(
    paths: ProjectPaths, decided: dict[str, Any], reason: str
) -> tuple[AnnotationLayers, Article, dict[str, Any], list[Any]]:
    """Article 002's layers, article, and the review whose gold ``decided`` (with the file's
    decisions) gives, as the editor exports it."""
    _, inputs = validate_inputs(paths)
    layers = inputs.layers
    art = next(a for a in load_articles(paths) if a.id == ART)
    results = {int(a["id"]): a["result"] for t in load_repository(paths).tasks.values()
               for a in t["annotations"]}  # fmt: skip
    versions = [(v.annotator, results[v.annotation_id]) for v in counted_versions(layers)[ART]]
    only = pl.col("article_id") == ART
    existing = read_decisions(paths.decisions_dir, ART)
    gold = adjudicate(
        layers.annotations.filter(only),
        layers.regions.filter(only),
        layers.relations.filter(only),
        layers.choices.filter(only),
        paths.decisions_dir,
        TAX,
        decided={ART: {**existing, **decided}},
    ).gold
    result, missing = gold_result(gold, ART, versions, art, TAX, paths)
    assert missing == []
    return layers, art, review(result, reason), versions


def test_a_review_dropping_an_agreed_relation_must_reject_it_explicitly(tmp_path: Path) -> None:
    """The walkthrough: the reviewer keeps C's 'four months' and deletes the majority's
    'four months later'; Label Studio deletes A and B's TIME argument of 'deposed' with it,
    and `review --pull` wrote the two region decisions only: the relation left the gold
    without a word."""
    paths = walkthrough_project(tmp_path)
    path = paths.decisions_dir / f"{ART}.yaml"
    before = path.read_bytes()
    keep_short = {TIME_SHORT: {"action": "accept"}, TIME_LONG: {"action": "reject"}}
    _, inputs = validate_inputs(paths)
    earlier = [f"[{i}] its event is rejected" for i in dropped_by(inputs.layers, paths)]
    assert len(earlier) == 3  # GUIDELINES-level: see dropped_by
    reason = "\n".join(["GUIDELINES quantities: the duration", *earlier])
    layers, art, ann, _ = walkthrough_review(paths, keep_short, reason)
    decided, problems = review_decisions(layers, TAX, paths, art, ann, R)
    assert decided is None
    assert problems == [
        "the review lacks relation events:COUP:1430:1437->quantities:TIME_OFFSET:1400:1417:"
        f"TIME, which the annotators agreed on: rejecting {TIME_LONG} drops it (a relation "
        f"needs both its ends in the gold); to drop it, say so: add the line `[{TIME_ARG}] "
        f"<why>` to review_reason (then Add, Update); otherwise keep {TIME_LONG}"
    ]
    assert path.read_bytes() == before
    # Said explicitly, it is a decision of its own, with its why.
    _, _, ann, _ = walkthrough_review(
        paths, keep_short, f"{reason}\n[{TIME_ARG}] no TIME argument fits 'four months'"
    )
    decided, problems = review_decisions(layers, TAX, paths, art, ann, R)
    assert problems == [] and decided is not None
    entry = next(d for d in decided.entries if d["item"] == TIME_ARG)
    assert (entry["action"], entry["why"]) == ("reject", "no TIME argument fits 'four months'")
    assert "a decision rejects its end " + TIME_LONG in entry["conflict"]
    assert TIME_ARG in decided.dropped  # review --pull prints each
    # A file written before (the relation not decided) leaves it unsettled, named.
    bare = [d for d in decided.entries if d["item"] != TIME_ARG]
    path.write_text(render_decisions(ART, bare), encoding="utf-8")
    done = run_cli(paths.root, "adjudicate")
    assert done.returncode == 1, done.stderr
    assert f"{ART}  conflict   {TIME_ARG}  marked by " in done.stdout
    assert (
        f"a decision rejects its end {TIME_LONG}, so it leaves the gold: reject it "
        "explicitly  decision=None" in done.stdout
    )
    path.write_text(render_decisions(ART, decided.entries), encoding="utf-8")
    done = run_cli(paths.root, "adjudicate")
    assert done.returncode == 0, done.stderr
    assert f"{TIME_ARG}  marked by " in done.stdout and "decision=reject" in done.stdout


def test_a_sheet_dropping_an_agreed_relation_must_reject_it_explicitly(tmp_path: Path) -> None:
    paths = walkthrough_project(tmp_path)
    _, inputs = validate_inputs(paths)
    layers = inputs.layers
    entries = [
        {"item": TIME_SHORT, "action": "accept", "why": "GUIDELINES quantities: the duration"},
        {"item": TIME_LONG, "action": "reject", "why": "C's duration instead"},
        # The human's own TIME argument, to 'four months': a conflict once it is gold.
        {"item": TIME_ARG.replace("1417", "1411"), "action": "accept", "why": "C's argument"},
        *({"item": i, "action": "reject", "why": "its event is rejected"}
          for i in dropped_by(layers, paths)),
    ]  # fmt: skip
    sheet = SheetArticle("sheet.yaml", ART, "GUIDELINES quantities", entries)
    text = next(a for a in load_articles(paths) if a.id == ART).text
    checked, problems = check_article(sheet, layers, TAX, paths, R, text)
    assert checked is None
    assert len(problems) == 1, problems
    assert problems[0].startswith(f"sheet.yaml: article {ART}: the review lacks relation ")
    assert (
        f"to drop it, say so: add an entry {{item: {TIME_ARG}, action: reject, why: ...}}"
        in problems[0]
    )
    entries.append({"item": TIME_ARG, "action": "reject", "why": "no TIME fits 'four months'"})
    checked, problems = check_article(sheet, layers, TAX, paths, R, text)
    assert problems == [] and checked is not None
    # Submitted, review --pull reads the relation's reject with its why.
    _, art, _, versions = walkthrough_review(paths, {}, "unused")
    result, missing = review_result(checked, versions, art, TAX, paths)
    assert missing == []
    decided, refusals = review_decisions(layers, TAX, paths, art, annotation(99, R, result), R)
    assert refusals == [] and decided is not None
    entry = next(d for d in decided.entries if d["item"] == TIME_ARG)
    assert (entry["action"], entry["why"]) == ("reject", "no TIME fits 'four months'")


def test_a_review_refused_for_itself_and_for_the_file_counts_once(tmp_path: Path) -> None:
    """The file the old bug wrote, and the review still keeping both regions: one review
    task, refused for the overlap and because no review replaces the file's decisions, was
    counted as '2 review(s) refused'."""
    paths = walkthrough_project(tmp_path)
    before = accept_the_short_one(paths)
    report, inputs = validate_inputs(paths)
    problems = [p for p in report.problems if p.rule != UNSETTLED_RULE]
    repairable, rest = repairable_articles(inputs, problems, paths)
    assert rest == [] and list(repairable) == [ART]
    layers, art, ann, _ = walkthrough_review(paths, {}, "both")  # the file's gold: both kept
    decided, refusals = review_decisions(layers, TAX, paths, art, ann, R, overwrite=True)
    assert decided is None and refusals
    # What pull_reviews does with them.
    summary, where = ReviewPullSummary(), f"review task 6 (article {ART})"
    summary.refuse(where, refusals)
    refuse_unrepaired(summary, repairable, set(), {ART: where})
    assert summary.line() == (
        "review --pull: 0 article(s) decided (0 decision(s) written), 0 unchanged, "
        "1 review(s) refused; 0 review task(s) not reviewed yet"
    )
    assert summary.refused[-1].startswith(f"{where}: annotations/decisions/{ART}.yaml makes")
    assert (paths.decisions_dir / f"{ART}.yaml").read_text(encoding="utf-8") == before


def test_the_sheet_lists_only_open_items_and_refuses_an_answer_on_a_settled_one(
    tmp_path: Path,
) -> None:
    """The walkthrough's skeleton listed, beside the quantity, six relations of events that
    earlier decisions reject, with no depends_on; an accept on one was submitted and then
    dropped by `review --pull` without a word."""
    paths = walkthrough_project(tmp_path, only_the_quantity=True)
    meeting = "relation:events:MEETING:1953:1965->entities:GPE:1984:1989:PLACE"
    assert "region:events:MEETING:1953:1965" in read_decisions(paths.decisions_dir, ART)
    _, inputs = validate_inputs(paths)
    layers = inputs.layers
    text = next(a for a in load_articles(paths) if a.id == ART).text
    skeleton, _ = sheet_skeleton(layers, TAX, paths, {ART: text})
    listed = [e["item"] for e in yaml.safe_load(skeleton)["articles"][0]["conflicts"]]
    assert listed == [TIME_SHORT]  # the one unsettled conflict, as adjudicate counts it
    entries = [
        {"item": TIME_SHORT, "action": "accept", "why": "GUIDELINES quantities: the duration"},
        {"item": TIME_LONG, "action": "reject", "why": "C's duration instead"},
        {"item": TIME_ARG, "action": "reject", "why": "no TIME fits 'four months'"},
    ]
    sheet = SheetArticle("sheet.yaml", ART, "GUIDELINES quantities", entries)
    checked, problems = check_article(sheet, layers, TAX, paths, R, text)
    assert problems == [] and checked is not None
    entries.append({"item": meeting, "action": "accept", "why": "the delegation meets in Niger"})
    checked, problems = check_article(sheet, layers, TAX, paths, R, text)
    assert checked is None
    assert problems == [
        f"sheet.yaml: article {ART}: item {meeting}: not a conflict under the decisions: "
        f"annotations/decisions/{ART}.yaml rejects region:events:MEETING:1953:1965 (by "
        "ai-annotator-reviewer@sahelwire.local), so it cannot be gold and takes no decision; "
        "leave its action empty (remove the entry)"
    ]


# -- earlier decisions that a later annotator made go against the majority -----------------


def test_adjudicate_and_the_review_box_flag_a_set_against_the_majority_now(
    tmp_path: Path,
) -> None:
    """003's unit of 'at least 3,500 soldiers' was tied (soldiers / people) and set to
    'people'; a third annotator copying ai-annotator-1 makes 'soldiers' 2 of 3."""
    paths = walkthrough_project(tmp_path)
    export = paths.exports_dir / "003_9f344fe3cdd782de.json"
    task = json.loads(export.read_text(encoding="utf-8"))
    human = copy.deepcopy(next(a for a in task["annotations"] if a["id"] == 13))
    human.update(id=500, unique_id=str(uuid.UUID(int=500)), completed_by={"email": HUMAN})
    task["annotations"].append(human)
    export.write_text(json.dumps(task, ensure_ascii=False, indent=1), encoding="utf-8")
    unit = "attr:quantities:TROOPS:546:569:unit"
    done = run_cli(paths.root, "adjudicate")
    assert done.returncode == 1, done.stderr  # 002's conflict is still unsettled
    lines = done.stdout.splitlines()
    head = next(i for i, line in enumerate(lines) if "go against the majority" in line)
    count = int(lines[head].split()[0])
    assert count >= 1
    shown = lines[head + 1 : head + 1 + min(count, 10)]
    assert any(unit in line and "decision=set 'people' by ai-annotator-reviewer" in line
               for line in shown), shown  # fmt: skip
    if count > 10:
        assert lines[head + 11] == f"  ... and {count - 10} more (`--json` lists all)"
    as_json = run_cli(paths.root, "adjudicate", "--json")
    against = json.loads(as_json.stdout)["against_majority"]
    assert len(against) == count
    (entry,) = [a for a in against if a["item"] == unit]
    assert entry["decision"] == "set" and entry["value"] == "people"
    # The review box flags it too (before, only accept and reject were flagged).
    _, inputs = validate_inputs(paths)
    decided = next(c for c in inputs.layers.conflicts if c["item"] == unit)
    case = Case("003_9f344fe3cdd782de", counted_versions(inputs.layers)["003_9f344fe3cdd782de"],
                [], [decided])  # fmt: skip
    box = task_data(case, "", "0" * 64, read_decisions(paths.decisions_dir, case.article_id))
    (line,) = [x for x in box["review_conflicts"].split("\n") if x.startswith("unit of")]
    assert line.endswith("set 'people' by ai-annotator-reviewer@sahelwire.local (against the "
                         "majority now)"), line  # fmt: skip
