"""What the published views need from annotations: controlled units, one zone per span."""

from __future__ import annotations

import json
import random
from pathlib import Path
from typing import Any

import polars as pl

from helpers import ROOT, copy_project, region, regions_frame, run_cli
from sahelwire.annotations.gold_layer import region_key
from sahelwire.schema.publish_rules import check_units, check_zone_containment
from sahelwire.schema.taxonomy import load_taxonomy

TAX = load_taxonomy(ROOT / "schemas/taxonomy.yaml")
TEXT = "Skip to main content\nNiger's junta met Molly Phee in Niamey about 1,000 troops."


def test_units_outside_the_controlled_list_are_named() -> None:
    rows = [
        region(
            1, "a1", TEXT, "1,000 troops", "quantities", "TROOPS", "q1", value=1000.0, unit="troops"
        ),
        region(1, "a1", TEXT, "1,000", "quantities", "TROOPS", "q2", value=1000.0, unit="tanks"),
    ]
    problems = check_units(regions_frame(rows), TAX, file="t")
    assert [(p.record, p.field, p.value) for p in problems] == [("a1/1/q2", "unit", "tanks")]


def _gold(rows: list[tuple[str, str, int, int]]) -> pl.DataFrame:
    return pl.DataFrame(
        [
            {"article_id": "a1", "region_key": region_key(layer, label, s, e), "layer": layer,
             "label": label, "start": s, "end": e, "text": TEXT[s:e]}
            for layer, label, s, e in rows
        ]
    )  # fmt: skip


def test_a_span_across_a_zone_boundary_is_refused() -> None:
    niger = TEXT.index("Niger")
    inside = _gold([("zones", "NAVIGATION", 0, 20), ("entities", "GPE", niger, niger + 5)])
    assert check_zone_containment(inside) == []
    across = _gold([("zones", "NAVIGATION", 0, 25), ("entities", "GPE", niger, niger + 5)])
    (problem,) = check_zone_containment(across)
    assert problem.record == f"a1/entities:GPE:{niger}:{niger + 5}"
    assert problem.rule == "a span lies inside one zone or inside the body"


def test_zone_containment_by_join_finds_what_a_scan_of_every_boundary_finds() -> None:
    """The rule runs as an as-of join; on random zones and spans over three articles (shared
    boundaries, spans ending on one, nested zones, articles without zones) it refuses exactly
    the spans, in order and with the boundary named, that a scan of every boundary refuses."""
    seen = {"refused": 0, "kept": 0}
    for seed in range(40):
        rng = random.Random(seed)
        rows: list[dict[str, Any]] = []
        for _ in range(rng.randint(1, 25)):
            s = rng.randint(0, 60)
            layer = rng.choice(["zones", "entities", "events", "quantities"])
            rows.append(
                {"article_id": rng.choice(["a1", "a2", "a3"]), "region_key": f"k{len(rows)}",
                 "layer": layer, "label": "X", "start": s, "end": s + rng.randint(1, 15),
                 "text": "t"}
            )  # fmt: skip
        gold = pl.DataFrame(rows)
        found = [(p.record, p.value, p.message) for p in check_zone_containment(gold)]
        expected = []
        for r in rows:
            if r["layer"] == "zones":
                continue
            inside = sorted(
                {p for z in rows if z["layer"] == "zones" and z["article_id"] == r["article_id"]
                 for p in (z["start"], z["end"]) if r["start"] < p < r["end"]}
            )  # fmt: skip
            if inside:
                message = f"a zone starts or ends at {inside[0]}, inside 't'"
                expected.append(
                    (f"{r['article_id']}/{r['region_key']}", [r["start"], r["end"]], message)
                )
        assert found == expected, seed
        seen["refused"] += len(expected)
        seen["kept"] += sum(r["layer"] != "zones" for r in rows) - len(expected)
    assert seen["refused"] > 20 and seen["kept"] > 20, seen


def test_validate_and_build_refuse_an_unlisted_unit(tmp_path: Path) -> None:
    root = copy_project(tmp_path)
    export = root / "annotations/exports/001_a9cbf47f8b5096a3.json"
    task = json.loads(export.read_text())
    item = next(r for r in task["annotations"][0]["result"] if r.get("from_name") == "unit")
    item["value"]["text"] = ["tanks"]
    export.write_text(json.dumps(task))
    for command in ("validate", "build"):
        result = run_cli(root, command)
        assert result.returncode == 1, command
        out = result.stdout + result.stderr
        assert "tanks" in out and "controlled unit list" in out and "Traceback" not in out
    assert not (root / "dist").exists()
