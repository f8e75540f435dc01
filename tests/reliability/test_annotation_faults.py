"""Bad annotations in a pulled export, end to end through `sahelwire validate` and `build`.

Each mutation breaks one rule of ANNOTATION.md in a committed export. The expected behaviour
is refusal: validate names the file and the rule (exit 1), build refuses and writes no dist/,
and the export itself stays untouched for inspection.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from helpers import copy_project, run_cli, snapshot

A001 = "001_a9cbf47f8b5096a3"


def result_of(task: dict[str, Any]) -> list[dict[str, Any]]:
    return task["annotations"][0]["result"]


def first(task: dict[str, Any], pred: Callable[[dict[str, Any]], bool]) -> dict[str, Any]:
    return next(r for r in result_of(task) if pred(r))


def set_label(label: str) -> Callable[[dict[str, Any]], None]:
    def fn(t: dict[str, Any]) -> None:
        first(t, lambda r: r.get("from_name") == "entities")["value"]["labels"] = [label]

    return fn


def set_realis(t: dict[str, Any]) -> None:
    first(t, lambda r: r.get("from_name") == "realis")["value"]["choices"] = ["MAYBE"]


def relation_to_missing(t: dict[str, Any]) -> None:
    first(t, lambda r: r.get("type") == "relation")["to_id"] = "no_such_region"


def unknown_event_id(t: dict[str, Any]) -> None:
    first(t, lambda r: r.get("from_name") == "event_id")["value"]["text"] = ["evt_not_registered"]


def unknown_entity_id(t: dict[str, Any]) -> None:
    first(t, lambda r: r.get("from_name") == "entity_id")["value"]["text"] = ["ent_not_registered"]


def reversed_span(t: dict[str, Any]) -> None:
    v = first(t, lambda r: r.get("from_name") == "entities")["value"]
    v["start"], v["end"] = v["end"], v["start"]


def overlapping_zone(t: dict[str, Any]) -> None:
    zone = first(t, lambda r: r.get("from_name") == "zones")
    v = zone["value"]
    clone = {**zone, "id": "zone_overlap", "value": {**v, "start": v["start"] + 1}}
    clone["value"]["text"] = t["data"]["text"][clone["value"]["start"] : v["end"]]
    result_of(t).append(clone)


MUTATIONS: dict[str, tuple[Callable[[dict[str, Any]], None], str]] = {
    "unknown-label": (set_label("SPACESHIP"), "label"),
    "unknown-attribute-value": (set_realis, "realis"),
    "relation-to-missing-region": (relation_to_missing, "no such region"),
    "event-id-not-in-registry": (unknown_event_id, "event_id in schemas/events.yaml"),
    "entity-id-not-in-registry": (unknown_entity_id, "entity_id in schemas/entities.yaml"),
    "reversed-span": (reversed_span, "0 <= start < end <= len(text)"),
    "overlapping-zones": (overlapping_zone, "zones do not overlap"),
}


@pytest.mark.parametrize("case", list(MUTATIONS), ids=list(MUTATIONS))
def test_bad_annotation_is_refused_named_and_kept(tmp_path: Path, case: str) -> None:
    mutate, needle = MUTATIONS[case]
    root = copy_project(tmp_path / "proj")
    path = root / "annotations/exports" / f"{A001}.json"
    task = json.loads(path.read_text(encoding="utf-8"))
    mutate(task)
    path.write_text(json.dumps(task, ensure_ascii=False), encoding="utf-8")
    before = snapshot(root / "annotations")
    result = run_cli(root, "validate", "--json")
    assert result.returncode == 1, result.stdout + result.stderr
    problems = json.loads(result.stdout)["problems"]
    hits = [p for p in problems if needle in json.dumps(p, ensure_ascii=False)]
    assert hits, problems
    assert any(A001 in str(p.get("file")) or A001 in str(p.get("record")) for p in hits), hits
    built = run_cli(root, "build")
    assert built.returncode == 1 and "Traceback" not in built.stderr
    assert not (root / "dist").exists()
    assert snapshot(root / "annotations") == before  # the rejected record stays inspectable
