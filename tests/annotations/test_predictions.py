"""Predictions stored on the tasks reach annotations_raw as exported: nothing lost or shifted.

The committed exports are in repository form, which holds no predictions (pull leaves them
out), so these tests put the gazetteer's pre-annotations on the committed tasks the way
``labelstudio push`` sends them and a server's export returns them. They are read by the
same strict parser as annotations (their results are published in annotations_raw).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import polars as pl
import pytest

from helpers import copy_project, run_cli
from sahelwire.annotations.layers import load_annotation_layers, raw_frame
from sahelwire.io.paths import ProjectPaths
from sahelwire.labelstudio.offsets import from_label_studio
from sahelwire.labelstudio.prelabel import model_version, predict_results
from sahelwire.schema.registries import load_registries
from sahelwire.schema.taxonomy import load_taxonomy

STAMP = "2026-11-23T02:46:06.975371Z"


def _tasks(root: Path) -> list[dict[str, Any]]:
    exports = root / "annotations" / "exports"
    return [json.loads(p.read_text(encoding="utf-8")) for p in sorted(exports.glob("*.json"))]


def add_predictions(root: Path) -> None:
    """Each task gets the gazetteer's prediction; every other task's annotation started from it."""
    paths = ProjectPaths(root)
    taxonomy, registries = load_taxonomy(paths.taxonomy_file), load_registries(paths)
    version = model_version(registries, taxonomy)
    for i, path in enumerate(sorted(paths.exports_dir.glob("*.json"))):
        task = json.loads(path.read_text(encoding="utf-8"))
        pid = 900 + i
        task["predictions"] = [
            {
                "id": pid,
                "model_version": version,
                "score": None if i % 2 else 0.5,
                "created_at": STAMP,
                "updated_at": STAMP,
                "result": predict_results(task["data"]["text"], registries, taxonomy),
            }
        ]
        if i % 2 == 0:
            task["annotations"][0]["parent_prediction"] = pid
        path.write_text(json.dumps(task, ensure_ascii=False, indent=2, sort_keys=True) + "\n")


@pytest.fixture(scope="module")
def predicted(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = copy_project(tmp_path_factory.mktemp("predicted") / "proj")
    add_predictions(root)
    return root


def test_every_exported_prediction_and_its_provenance_is_kept(predicted: Path) -> None:
    paths = ProjectPaths(predicted)
    layers = load_annotation_layers(paths, load_taxonomy(paths.taxonomy_file))
    assert layers.problems == []
    assert layers.predictions is not None and layers.prediction_results is not None
    exported = {p["id"]: (t, p) for t in _tasks(predicted) for p in t.get("predictions") or []}
    assert exported
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
        # offsets converted from the frontend's unit to code points, exactly as annotations'
        expected = {(rid, *from_label_studio(text, s, e), label) for rid, s, e, label in spans}
        rows = {
            (r["region_id"], r["start"], r["end"], r["label"]) for r in mine.iter_rows(named=True)
        }
        assert rows == expected and mine.height == len(spans)
        assert all(text[r["start"] : r["end"]] == r["text"] for r in mine.iter_rows(named=True))


def test_annotations_raw_carries_prediction_rows_and_annotation_provenance(
    predicted: Path,
) -> None:
    paths = ProjectPaths(predicted)
    layers = load_annotation_layers(paths, load_taxonomy(paths.taxonomy_file))
    raw = raw_frame(layers)
    assert layers.prediction_results is not None
    predicted_rows = raw.filter(pl.col("source") == "prediction")
    assert predicted_rows.height == layers.prediction_results.height > 0
    assert predicted_rows["annotator"].null_count() == predicted_rows.height
    assert predicted_rows["prediction_model_version"].null_count() == 0
    annotated = raw.filter(pl.col("source") == "annotation")
    exported = {a["id"]: a for t in _tasks(predicted) for a in t["annotations"]}
    for row in annotated.unique("annotation_id").iter_rows(named=True):
        ann = exported[row["annotation_id"]]
        assert row["lead_time"] == ann["lead_time"]
        assert row["parent_prediction"] == ann.get("parent_prediction")
    started = annotated.filter(pl.col("parent_prediction").is_not_null())
    assert started.height and started["prediction_model_version"].null_count() == 0


def test_a_broken_prediction_region_is_reported_not_shifted(tmp_path: Path) -> None:
    root = copy_project(tmp_path)
    add_predictions(root)
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
