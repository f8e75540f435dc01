"""Registry ids picked from the per-label lists read like the typed ids of older exports;
a proposal is listed, not published; a relation has one role."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from helpers import ROOT, copy_project, run_cli
from sahelwire.annotations.tables import read_annotation_tables
from sahelwire.io.paths import ProjectPaths
from sahelwire.labelstudio.label_config import LabelConfig

A001 = "001_a9cbf47f8b5096a3"


def exports(root: Path) -> list[Path]:
    return sorted((root / "annotations" / "exports").glob("*.json"))


def rewrite(root: Path, fn: Any, article: str | None = None) -> None:
    for path in exports(root):
        if article is not None and path.stem != article:
            continue
        task = json.loads(path.read_text(encoding="utf-8"))
        fn(task)
        path.write_text(json.dumps(task, ensure_ascii=False), encoding="utf-8")


def results(task: dict[str, Any]) -> list[dict[str, Any]]:
    result: list[dict[str, Any]] = task["annotations"][0]["result"]
    return result


def region_of(task: dict[str, Any], attribute: str) -> tuple[str, str]:
    """(region id, label) of the first region that has ``attribute`` in the typed form."""
    rid = next(r["id"] for r in results(task) if r.get("from_name") == attribute)
    span = next(r for r in results(task) if r.get("id") == rid and r["type"] == "labels")
    return rid, span["value"]["labels"][0]


def test_committed_exports_in_the_picker_form_give_the_same_tables(tmp_path: Path) -> None:
    root = copy_project(tmp_path / "p")
    config = LabelConfig.load(ProjectPaths(root))
    picked = 0

    def to_pickers(task: dict[str, Any]) -> None:
        nonlocal picked
        task["annotations"][0]["result"] = config.in_config_form(results(task))
        picked += sum(
            1
            for r in results(task)
            if str(r.get("from_name")).startswith(("entity_id_", "event_id_"))
        )

    rewrite(root, to_pickers)
    assert picked > 100  # the committed entity and event ids, now picked from the lists
    before = read_annotation_tables(ProjectPaths(ROOT))
    after = read_annotation_tables(ProjectPaths(root))
    assert after.problems == [] and after.proposals == []
    for name in ("annotations", "regions", "relations", "choices"):
        assert getattr(after, name).equals(getattr(before, name)), name


def test_an_id_from_another_labels_list_is_refused_by_name(tmp_path: Path) -> None:
    root = copy_project(tmp_path / "p")
    where: dict[str, str] = {}

    def relabelled(task: dict[str, Any]) -> None:
        rid, label = region_of(task, "entity_id")
        item = next(r for r in results(task) if r["id"] == rid and r["from_name"] == "entity_id")
        other = "ORG" if label != "ORG" else "GPE"
        item.update(from_name=f"entity_id_{other}", type="choices")
        item["value"]["choices"] = item["value"].pop("text")
        where.update(rid=rid, label=label, other=other)

    rewrite(root, relabelled, A001)
    problems = read_annotation_tables(ProjectPaths(root)).problems
    assert [(p.file, p.field, p.rule) for p in problems] == [
        (
            f"annotations/exports/{A001}.json",
            f"entity_id_{where['other']}",
            "an id picked from a label's list belongs to a region of that label",
        )
    ]
    record = problems[0].record
    assert record is not None and record.endswith(f"region {where['rid']}")
    assert f"the region is {where['label']}" in problems[0].message


def test_a_typed_and_a_picked_id_agree_or_are_refused(tmp_path: Path) -> None:
    root = copy_project(tmp_path / "p")

    def both(value: str | None) -> Any:
        def add(task: dict[str, Any]) -> None:
            rid, label = region_of(task, "entity_id")
            typed = next(
                r for r in results(task) if r["id"] == rid and r["from_name"] == "entity_id"
            )
            picked = {**typed, "from_name": f"entity_id_{label}", "type": "choices"}
            picked["value"] = {
                "start": typed["value"]["start"],
                "end": typed["value"]["end"],
                "choices": [value or typed["value"]["text"][0]],
            }
            results(task).append(picked)

        return add

    rewrite(root, both(None), A001)  # the same id, typed and picked: one value
    same = read_annotation_tables(ProjectPaths(root))
    assert same.problems == []
    assert same.regions.equals(read_annotation_tables(ProjectPaths(ROOT)).regions)
    root = copy_project(tmp_path / "q")
    rewrite(root, both("ent_atlantis"), A001)
    problems = read_annotation_tables(ProjectPaths(root)).problems
    assert [p.rule for p in problems] == ["one value per attribute and region"]
    assert "by entity_id" in problems[0].message


def test_a_proposal_is_listed_by_validate_and_is_not_an_error(tmp_path: Path) -> None:
    root = copy_project(tmp_path / "p")

    def propose(task: dict[str, Any]) -> None:
        span = next(
            r for r in results(task) if r["type"] == "labels" and r["from_name"] == "entities"
        )
        results(task).append(
            {
                "id": span["id"],
                "from_name": "entity_proposal",
                "to_name": "text",
                "type": "textarea",
                "value": {**{k: span["value"][k] for k in ("start", "end")},
                          "text": [" Agadez, a city in Niger "]},
            }
        )  # fmt: skip

    rewrite(root, propose, A001)
    tables = read_annotation_tables(ProjectPaths(root))
    assert tables.problems == []
    assert [(p["file"], p["field"], p["proposal"]) for p in tables.proposals] == [
        (f"annotations/exports/{A001}.json", "entity_proposal", "Agadez, a city in Niger")
    ]
    assert tables.regions.equals(read_annotation_tables(ProjectPaths(ROOT)).regions)
    shown = run_cli(root, "validate", "--no-dist")
    assert shown.returncode == 0, shown.stdout + shown.stderr
    assert "proposal (not an error)" in shown.stdout and "Agadez, a city in Niger" in shown.stdout
    as_json = json.loads(run_cli(root, "validate", "--no-dist", "--json").stdout)
    assert as_json["ok"] and as_json["proposals"][0]["annotator"].endswith("@sahelwire.local")


def test_a_relation_with_two_roles_is_refused(tmp_path: Path) -> None:
    root = copy_project(tmp_path / "p")

    def two_roles(task: dict[str, Any]) -> None:
        rel = next(r for r in results(task) if r["type"] == "relation")
        rel["labels"] = [rel["labels"][0], "PLACE" if rel["labels"][0] != "PLACE" else "AGENT"]

    rewrite(root, two_roles, A001)
    problems = read_annotation_tables(ProjectPaths(root)).problems
    assert [(p.field, p.rule) for p in problems] == [("labels", "one role per relation")]
    result = run_cli(root, "validate", "--no-dist")
    assert result.returncode == 1 and "one role per relation" in result.stdout
