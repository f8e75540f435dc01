"""Quantity ``bound`` (taxonomy 3.0.0): read from exports, refused when wrong, adjudicated
like realis, and null for the annotations made before it existed."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import polars as pl
import pytest

from helpers import ROOT, SOURCE_SHAPES, copy_project, region, regions_frame, run_cli
from sahelwire.annotations.adjudication import adjudicate
from sahelwire.annotations.tables import read_annotation_tables
from sahelwire.io.paths import ProjectPaths
from sahelwire.schema.taxonomy import load_taxonomy

TAX = load_taxonomy(ROOT / "schemas/taxonomy.yaml")
A000 = "000_68e681b97d6ec23c"  # "over 70 soldiers"


def _export(root: Path) -> Path:
    return root / "annotations" / "exports" / f"{A000}.json"


def _quantity(task: dict[str, Any]) -> dict[str, Any]:
    return next(r for r in task["annotations"][0]["result"] if r.get("from_name") == "quantities")


def _with_bound(root: Path, choices: Any, *, on: str = "quantities") -> dict[str, Any]:
    """Add a ``bound`` result to the first region of layer ``on`` in article 000's export."""
    path = _export(root)
    task = json.loads(path.read_text(encoding="utf-8"))
    target = next(r for r in task["annotations"][0]["result"] if r.get("from_name") == on)
    span = {k: target["value"][k] for k in ("start", "end")}
    task["annotations"][0]["result"].append(
        {
            "id": target["id"],
            "from_name": "bound",
            "to_name": "text",
            "type": "choices",
            "origin": "manual",
            "value": {**span, "choices": choices},
        }
    )
    path.write_text(json.dumps(task, ensure_ascii=False), encoding="utf-8")
    return target


def test_annotations_made_before_taxonomy_3_have_no_bound_and_still_parse() -> None:
    # the first annotator's v1 annotations (superseded by the v2 revision) predate bound
    tables = read_annotation_tables(ProjectPaths(ROOT))
    assert tables.problems == []
    first = (
        tables.annotations.sort(["article_id", "updated_at", "annotation_id"])
        .group_by("article_id", maintain_order=True)
        .first()["annotation_id"]
    )
    quantities = tables.regions.filter(pl.col("layer") == "quantities")
    old = quantities.filter(pl.col("annotation_id").is_in(first.implode()))
    new = quantities.filter(~pl.col("annotation_id").is_in(first.implode()))
    assert old.height > 0 and old["bound"].null_count() == old.height
    assert new.height > 0 and new["bound"].null_count() == 0
    assert tables.regions.schema["bound"] == pl.Utf8


def test_a_bound_is_read_onto_its_quantity(tmp_path: Path) -> None:
    root = copy_project(tmp_path / "p")
    target = _with_bound(root, ["MORE_THAN"])
    tables = read_annotation_tables(ProjectPaths(root))
    assert tables.problems == []
    got = tables.regions.filter(pl.col("region_id") == target["id"]).row(0, named=True)
    assert (got["text"], got["bound"]) == ("over 70 soldiers", "MORE_THAN")


@pytest.mark.parametrize(
    ("choices", "on", "field", "rule"),
    [
        (["MORE_THAN", "AT_LEAST"], "quantities", "value.choices", "exactly one choice"),
        (["MORE_THAN"], "entities", "bound", "attribute belongs to its region's layer"),
    ],
)
def test_a_bound_that_is_not_one_value_of_a_quantity_is_refused(
    tmp_path: Path, choices: list[str], on: str, field: str, rule: str
) -> None:
    root = copy_project(tmp_path / "p")
    _with_bound(root, choices, on=on)
    problems = read_annotation_tables(ProjectPaths(root)).problems
    assert [(p.field, p.rule.startswith(rule)) for p in problems] == [(field, True)], problems
    assert A000 in problems[0].file


def test_a_bound_outside_the_choices_is_an_error_naming_file_record_field_value(
    tmp_path: Path,
) -> None:
    root = copy_project(tmp_path / "p")
    _with_bound(root, ["OVER"])
    result = run_cli(root, "validate", "--json")
    assert result.returncode == 1, result.stdout + result.stderr
    problems = json.loads(result.stdout)["problems"]
    hits = [p for p in problems if p.get("field") == "bound"]
    assert len(hits) == 1, problems
    hit = hits[0]
    assert A000 in str(hit["file"]) and hit["record"]
    assert "OVER" in json.dumps(hit) and hit["rule"]
    assert "Traceback" not in result.stderr


def test_validate_warns_about_quantities_without_a_bound(tmp_path: Path) -> None:
    root = copy_project(tmp_path / "p")
    # 000's quantity as if annotated before taxonomy 3.0.0 by both annotators: no bound
    path = root / "annotations" / "exports" / f"{A000}.json"
    task = json.loads(path.read_text(encoding="utf-8"))
    for ann in task["annotations"]:
        ann["result"] = [r for r in ann["result"] if r.get("from_name") != "bound"]
    path.write_text(json.dumps(task, ensure_ascii=False), encoding="utf-8")
    result = run_cli(root, "validate")
    assert result.returncode == 0, result.stdout + result.stderr
    warned = [line for line in result.stdout.splitlines() if "a quantity has a bound" in line]
    assert len(warned) == 1 and A000 in warned[0] and "over 70 soldiers" in warned[0]


TEXT = "over 70 soldiers were killed"


def _two_annotators(a: str | None, b: str | None) -> pl.DataFrame:
    return regions_frame(
        [
            region(1, "a1", TEXT, "over 70 soldiers", "quantities", "FATALITIES", "q",
                   value=70.0, approximate=False, bound=a),
            region(2, "a1", TEXT, "over 70 soldiers", "quantities", "FATALITIES", "q",
                   annotator="b@x", value=70.0, approximate=False, bound=b),
        ]
    )  # fmt: skip


ANNOTATIONS = pl.DataFrame(
    [
        {"annotation_id": i, "task_id": 1, "article_id": "a1", "annotator": who,
         "cancelled": False, "updated_at": "t"}
        for i, who in ((1, "a@x"), (2, "b@x"))
    ]
)  # fmt: skip
NO_RELATIONS = pl.DataFrame(schema=SOURCE_SHAPES["relations"])
NO_CHOICES = pl.DataFrame(
    schema={"annotation_id": pl.Int64, "article_id": pl.Utf8, "field": pl.Utf8, "value": pl.Utf8}
)


def test_agreeing_bounds_are_gold(tmp_path: Path) -> None:
    regs = _two_annotators("MORE_THAN", "MORE_THAN")
    result = adjudicate(ANNOTATIONS, regs, NO_RELATIONS, NO_CHOICES, tmp_path, TAX)
    assert result.problems == []
    assert result.gold.regions["bound"].to_list() == ["MORE_THAN"]


def test_a_tied_bound_is_a_conflict_until_a_decision_sets_it(tmp_path: Path) -> None:
    regs = _two_annotators("MORE_THAN", "AT_LEAST")
    result = adjudicate(ANNOTATIONS, regs, NO_RELATIONS, NO_CHOICES, tmp_path, TAX)
    item = "attr:quantities:FATALITIES:0:16:bound"
    assert [(p.field, p.rule) for p in result.problems] == [
        (item, "every conflict is settled by a decision")
    ]
    [conflict] = result.conflicts
    assert conflict["values"] == [
        {"value": "MORE_THAN", "by": ["a@x"]},
        {"value": "AT_LEAST", "by": ["b@x"]},
    ]
    (tmp_path / "a1.yaml").write_text(
        f"decisions:\n- item: '{item}'\n  action: set\n  value: MORE_THAN\n"
        "  decided_by: lead@x\n  why: over means more than\n",
        encoding="utf-8",
    )
    settled = adjudicate(ANNOTATIONS, regs, NO_RELATIONS, NO_CHOICES, tmp_path, TAX)
    assert settled.problems == []
    assert settled.gold.regions["bound"].to_list() == ["MORE_THAN"]


def test_a_decision_setting_a_bound_outside_the_choices_is_a_problem(tmp_path: Path) -> None:
    regs = _two_annotators("MORE_THAN", "AT_LEAST")
    item = "attr:quantities:FATALITIES:0:16:bound"
    (tmp_path / "a1.yaml").write_text(
        f"decisions:\n- item: '{item}'\n  action: set\n  value: OVER\n"
        "  decided_by: lead@x\n  why: a typo\n",
        encoding="utf-8",
    )
    result = adjudicate(ANNOTATIONS, regs, NO_RELATIONS, NO_CHOICES, tmp_path, TAX)
    [problem] = result.problems
    assert (problem.file, problem.record, problem.field, problem.value) == (
        "annotations/decisions/a1.yaml",
        "a1",
        item,
        "OVER",
    )
    assert problem.rule == "a decision sets bound to one of the taxonomy's values"
    assert result.gold.regions["bound"].to_list() == ["MORE_THAN"]  # the majority's first
