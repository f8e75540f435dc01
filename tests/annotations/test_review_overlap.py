"""A review may not make two regions gold that the span rules keep apart (a walkthrough).

Article 002: two AI annotators marked the TIME_OFFSET 'four months later', a third (human)
annotator kept the older baseline's 'four months' inside it. The reviewer, told only that C
marked 'four months', kept it; `review --pull` wrote `accept`, and from then on validate,
adjudicate and build refused every input ("TIME_OFFSET overlaps TIME_OFFSET 1400:1417").
"""

from __future__ import annotations

import hashlib
import uuid
from pathlib import Path
from typing import Any

import pytest
import yaml

from helpers import ROOT, copy_project
from sahelwire.annotations.adjudication import adjudicate, read_decisions
from sahelwire.annotations.layers import AnnotationLayers
from sahelwire.annotations.review import (
    Case,
    overlap_notes,
    render_decisions,
    review_decisions,
    task_data,
    unsettled_cases,
)
from sahelwire.annotations.review_sheet import SheetArticle, check_article, sheet_skeleton
from sahelwire.annotations.tables import TableCollector, load_source_shapes
from sahelwire.io.paths import ProjectPaths
from sahelwire.labelstudio.offsets import to_label_studio
from sahelwire.raw.manifest import Article
from sahelwire.schema.taxonomy import load_taxonomy

TAX = load_taxonomy(ROOT / "schemas" / "taxonomy.yaml")
TEXT = "The junta asked the troops to leave; four months later the last of them left.\n"
AID = "a1"
A, B, C, R = "a@x.test", "b@x.test", "c@x.test", "lead@x.test"
STAMP = "2024-05-01T10:00:00.000000Z"
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


def layers_of(paths: ProjectPaths) -> AnnotationLayers:
    """A and B: 'four months later'; C: 'four months'."""
    art = article()
    anns = [
        annotation(1, A, offset("q", LONG)),
        annotation(2, B, offset("q", LONG)),
        annotation(3, C, offset("q", SHORT)),
    ]
    collector = TableCollector({AID: (TEXT, art.sha256)}, TAX, {A, B, C}, load_source_shapes(paths))
    data = {"text": TEXT, "article_id": AID, "text_sha256": art.sha256}
    collector.add_task({"id": 1, "data": data, "annotations": anns}, "t.json")
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


def test_the_review_box_names_the_gold_item_a_conflict_overlaps(paths: ProjectPaths) -> None:
    layers = layers_of(paths)
    cases, _ = unsettled_cases(layers)
    (case,) = cases
    assert isinstance(case, Case)
    data = task_data(case, TEXT, article().sha256, {}, overlap_notes(layers, TAX, case))
    assert data["review_conflicts"].split("\n") == [
        f"quantities TIME_OFFSET [{START}, {START + len(SHORT)}): 'four months' marked by C, "
        f"not by A, B; overlaps TIME_OFFSET [{START}, {START + len(LONG)}) 'four months later' "
        "marked by A, B (gold now): keeping one rejects the other"
    ]
    assert read_decisions(paths.decisions_dir, AID) == {}
    # The sheet's skeleton says it too, by e-mail.
    text, _ = sheet_skeleton(layers, TAX, paths, {AID: TEXT})
    (entry,) = yaml.safe_load(text)["articles"][0]["conflicts"]
    assert entry["overlaps"] == (
        f"overlaps TIME_OFFSET [{START}, {START + len(LONG)}) 'four months later' marked by "
        f"{A}, {B} (gold now): keeping one rejects the other"
    )
