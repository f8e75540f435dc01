"""Predictions stored on the tasks reach annotations_raw as exported: nothing lost or shifted."""

from __future__ import annotations

import json
from pathlib import Path

import polars as pl

from helpers import ROOT, copy_project, run_cli
from sahelwire.annotations.layers import load_annotation_layers, raw_frame
from sahelwire.io.paths import ProjectPaths
from sahelwire.schema.taxonomy import load_taxonomy

PATHS = ProjectPaths(ROOT)
TAX = load_taxonomy(PATHS.taxonomy_file)


def _exported_tasks() -> list[dict]:
    return [json.loads(p.read_text()) for p in sorted(PATHS.exports_dir.glob("*.json"))]


def test_every_exported_prediction_and_its_provenance_is_kept() -> None:
    layers = load_annotation_layers(PATHS, TAX)
    assert layers.predictions is not None and layers.prediction_results is not None
    exported = {p["id"]: (t, p) for t in _exported_tasks() for p in t.get("predictions") or []}
    assert exported  # the committed exports carry the pre-annotations pushed as predictions
    got = {r["prediction_id"]: r for r in layers.predictions.iter_rows(named=True)}
    assert set(got) == set(exported)
    for pid, (task, pred) in exported.items():
        row = got[pid]
        assert (row["task_id"], row["article_id"]) == (task["id"], task["data"]["article_id"])
        assert (row["model_version"], row["score"]) == (pred["model_version"], pred.get("score"))
        text = task["data"]["text"]
        spans = {
            (r["id"], r["value"]["start"], r["value"]["end"], r["value"]["labels"][0])
            for r in pred["result"]
            if r["type"] == "labels"
        }
        mine = layers.prediction_results.filter(
            (pl.col("prediction_id") == pid) & (pl.col("kind") == "region")
        )
        assert {
            (r["region_id"], r["start"], r["end"], r["label"]) for r in mine.iter_rows(named=True)
        } == spans
        assert all(text[r["start"] : r["end"]] == r["text"] for r in mine.iter_rows(named=True))


def test_annotations_raw_carries_prediction_rows_and_annotation_provenance() -> None:
    layers = load_annotation_layers(PATHS, TAX)
    raw = raw_frame(layers)
    assert layers.prediction_results is not None
    predicted = raw.filter(pl.col("source") == "prediction")
    assert predicted.height == layers.prediction_results.height
    assert predicted["annotator"].null_count() == predicted.height
    assert predicted["prediction_model_version"].null_count() == 0
    annotated = raw.filter(pl.col("source") == "annotation")
    exported = {a["id"]: a for t in _exported_tasks() for a in t["annotations"]}
    for row in annotated.unique("annotation_id").iter_rows(named=True):
        ann = exported[row["annotation_id"]]
        assert row["lead_time"] == ann["lead_time"]
        assert row["parent_prediction"] == ann["parent_prediction"]


def test_a_broken_prediction_region_is_reported_not_shifted(tmp_path: Path) -> None:
    root = copy_project(tmp_path)
    export = next((root / "annotations/exports").glob("*.json"))
    task = json.loads(export.read_text())
    region = next(r for r in task["predictions"][0]["result"] if r["type"] == "labels")
    region["value"]["start"] += 1  # the hint no longer matches the text there
    export.write_text(json.dumps(task))
    result = run_cli(root, "validate")
    assert result.returncode == 1
    assert export.name in result.stdout + result.stderr
    assert f"prediction {task['predictions'][0]['id']}/region {region['id']}" in (
        result.stdout + result.stderr
    )
