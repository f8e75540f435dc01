"""The synthetic corpus: deterministic, realistic shape, and accepted by the real pipeline."""

from __future__ import annotations

import json
import shutil
import sys
from collections import Counter
from pathlib import Path

from helpers import ROOT, run_cli
from sahelwire.annotation_tables import collector_for, iter_export_tasks, tables_from_tasks
from sahelwire.paths import ProjectPaths
from sahelwire.synthetic import generate, task_json, write_corpus

sys.path.insert(0, str(ROOT / "scripts"))
import bench


def test_same_seed_same_corpus_other_seed_other_corpus() -> None:
    paths = ProjectPaths(ROOT)
    first = [(a.id, a.text, task_json(a.task)) for a in generate(paths, 30, seed=7)]
    again = [(a.id, a.text, task_json(a.task)) for a in generate(paths, 30, seed=7)]
    other = [a.id for a in generate(paths, 30, seed=8)]
    assert first == again
    assert [a[0] for a in first] != other


def test_shape_like_the_seeds() -> None:
    articles = list(generate(ProjectPaths(ROOT), 200, seed=1))
    sizes = [len(a.text.encode("utf-8")) for a in articles]
    assert min(sizes) >= 2_000 and max(sizes) <= 6_500
    assert all(any(ord(c) > 127 for c in a.text) for a in articles)
    assert sum(any(ord(c) > 0xFFFF for c in a.text) for a in articles) > 50  # emoji
    assert len({a.id for a in articles}) == len({a.text for a in articles}) == 200
    per_task = Counter(len(a.task["annotations"]) for a in articles)
    assert per_task[1] > 0 and per_task[2] > 0  # several annotators on a share of tasks
    layers = Counter(
        r.get("from_name") or r["type"]
        for a in articles
        for r in a.task["annotations"][0]["result"]
    )
    for name in ("zones", "entities", "events", "quantities", "relation", "primary_frame"):
        assert layers[name] > 0, name


def test_export_list_parses_with_no_rejection(tmp_path: Path) -> None:
    """Every synthetic region survives the real export parser once the texts are ingested."""
    root = bench.make_project(tmp_path, 40, seed=3)
    result = run_cli(root, "ingest", str(tmp_path / "corpus" / "articles.jsonl"))
    assert result.returncode == 0, result.stderr
    paths = ProjectPaths(root)
    export = tmp_path / "corpus" / "export.json"
    tasks = json.loads(export.read_text(encoding="utf-8"))
    tables = tables_from_tasks(iter_export_tasks(export), collector_for(paths), "export.json")
    assert tables.problems == []
    assert tables.tasks == len(tasks) == 40
    n_regions = sum(
        1 for t in tasks for a in t["annotations"] for r in a["result"] if r["type"] == "labels"
    )
    assert tables.regions.height == n_regions


def test_synthetic_project_validates_and_builds(tmp_path: Path) -> None:
    root = bench.make_project(tmp_path, 12, seed=5)
    assert run_cli(root, "ingest", str(tmp_path / "corpus" / "articles.jsonl")).returncode == 0
    shutil.move(tmp_path / "corpus" / "exports", root / "annotations" / "exports")
    result = run_cli(root, "build")
    assert result.returncode == 0, result.stderr + result.stdout
    assert (root / "dist" / "data" / "documents").is_dir()
    sizes = write_corpus(ProjectPaths(ROOT), tmp_path / "again", 12, seed=5)
    assert sizes["export.json"] == (tmp_path / "corpus" / "export.json").stat().st_size
