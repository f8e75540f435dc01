"""The synthetic corpus: deterministic, realistic shape, and accepted by the real pipeline."""

from __future__ import annotations

import copy
import hashlib
import json
import random
import sys
import tracemalloc
from collections import Counter
from pathlib import Path
from typing import Any

import pytest

from helpers import ROOT, run_cli
from sahelwire.annotations.tables import collector_for, iter_export_tasks, tables_from_tasks
from sahelwire.io.paths import ProjectPaths
from sahelwire.raw.synthetic import (
    SECOND_ANNOTATOR,
    _paragraph,
    annotated_count,
    generate,
    is_annotated,
    synthetic_unique_id,
    task_json,
    write_corpus,
)

sys.path.insert(0, str(ROOT / "scripts"))
import bench


def test_same_seed_same_corpus_other_seed_other_corpus() -> None:
    paths = ProjectPaths(ROOT)
    first = [(a.id, a.text, a.task_json()) for a in generate(paths, 30, seed=7)]
    again = [(a.id, a.text, a.task_json()) for a in generate(paths, 30, seed=7)]
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
    result = run_cli(root, "build")
    assert result.returncode == 0, result.stderr + result.stdout
    assert (root / "dist" / "data" / "documents").is_dir()
    sizes = write_corpus(ProjectPaths(ROOT), tmp_path / "again", 12, seed=5)
    assert sizes["export.json"] == (tmp_path / "corpus" / "export.json").stat().st_size


def _reference_tasks(n: int, seed: int, multi_share: float = 0.2) -> list[dict[str, Any]]:
    """The tasks built the plain (slow) way: deep copy of a seed task, ids and text set."""
    paths = ProjectPaths(ROOT)
    seeds = []
    for export in sorted(paths.exports_dir.glob("*.json")):
        task = json.loads(export.read_text(encoding="utf-8"))
        text = paths.raw_text_path(task["data"]["article_id"]).read_text(encoding="utf-8")
        seeds.append((text.removeprefix("\ufeff"), task))
    rng = random.Random(seed)
    out = []
    for i in range(n):
        base_text, base_task = seeds[rng.randrange(len(seeds))]
        text = base_text + _paragraph(rng, i)
        sha = hashlib.sha256(text.encode("utf-8")).hexdigest()
        task = copy.deepcopy(base_task)
        task["id"] = i + 1
        task["data"] = {"article_id": f"syn{i:07d}_{sha[:12]}", "text": text, "text_sha256": sha}
        for k, prediction in enumerate(task.get("predictions") or []):  # unique ids, as on a server
            prediction["id"], prediction["task"] = 4 * (i + 1) + k, i + 1
        first = task["annotations"][0]
        first["id"], first["unique_id"] = 2 * i + 1, synthetic_unique_id(2 * i + 1)
        task["annotations"] = [first]
        if rng.random() < multi_share:
            second = copy.deepcopy(first)
            second["id"], second["unique_id"] = 2 * i + 2, synthetic_unique_id(2 * i + 2)
            second["completed_by"] = {"email": SECOND_ANNOTATOR}
            task["annotations"].append(second)
        out.append(task)
    return out


def test_rendered_json_is_byte_for_byte_json_dumps_of_the_task() -> None:
    """The template fast path writes exactly what pull's serializer and json.dumps write."""
    from sahelwire.labelstudio.pull import serialize

    articles = list(generate(ProjectPaths(ROOT), 60, seed=11))
    reference = _reference_tasks(60, seed=11)
    assert {len(t["annotations"]) for t in reference} == {1, 2}
    for art, task in zip(articles, reference, strict=True):
        assert art.task_json().encode("utf-8") == serialize(task)
        assert art.task_json() == task_json(task)
        assert art.export_item_json() == json.dumps(task, ensure_ascii=False)
        assert art.task == task


def test_corpus_files_are_deterministic(tmp_path: Path) -> None:
    paths = ProjectPaths(ROOT)
    write_corpus(paths, tmp_path / "a", 25, seed=2)
    write_corpus(paths, tmp_path / "b", 25, seed=2)
    files = sorted(p.relative_to(tmp_path / "a") for p in (tmp_path / "a").rglob("*"))
    assert len(files) > 25
    for rel in files:
        if (tmp_path / "a" / rel).is_file():
            assert (tmp_path / "a" / rel).read_bytes() == (tmp_path / "b" / rel).read_bytes()
    assert not list(tmp_path.rglob("*.tmp"))
    # The compact export list is valid JSON holding the per-task files' tasks.
    listed = json.loads((tmp_path / "a" / "export.json").read_text(encoding="utf-8"))
    one = json.loads(
        (tmp_path / "a" / "exports" / f"{listed[3]['data']['article_id']}.json").read_text("utf-8")
    )
    assert listed[3] == one


def test_an_annotated_share_gives_tasks_to_that_many_evenly_and_the_same_texts(
    tmp_path: Path,
) -> None:
    paths = ProjectPaths(ROOT)
    write_corpus(paths, tmp_path / "all", 20, seed=4)
    sizes = write_corpus(paths, tmp_path / "tenth", 20, seed=4, annotated=0.25)
    all_, part = tmp_path / "all", tmp_path / "tenth"
    # Every article is in articles.jsonl, with the same text: only the tasks are left out.
    assert (part / "articles.jsonl").read_bytes() == (all_ / "articles.jsonl").read_bytes()
    ids = [json.loads(line)["id"] for line in (all_ / "articles.jsonl").open(encoding="utf-8")]
    chosen = [ids[i] for i in range(20) if is_annotated(i, 0.25)]
    assert chosen == [ids[3], ids[7], ids[11], ids[15], ids[19]]  # spread, not the first five
    assert sorted(p.stem for p in (part / "exports").iterdir()) == chosen
    for name in chosen:  # the same task as in the fully annotated corpus
        one = f"exports/{name}.json"
        assert (part / one).read_bytes() == (all_ / one).read_bytes()
    listed = json.loads((part / "export.json").read_text(encoding="utf-8"))
    assert [t["data"]["article_id"] for t in listed] == chosen
    assert sizes["export.json"] == (part / "export.json").stat().st_size
    for n, share in ((20, 0.25), (7, 0.0), (7, 1.0), (1000, 0.3), (1000, 0.1)):
        marked = sum(a.annotated for a in generate(paths, n, annotated=share))
        assert marked == annotated_count(n, share) == int(n * share)
    assert annotated_count(1_000_000, 0.1) == 100_000
    with pytest.raises(ValueError, match="not between 0 and 1"):
        next(generate(paths, 3, annotated=1.5))


def _peak_bytes_generating(n: int) -> int:
    tracemalloc.start()
    try:
        for art in generate(ProjectPaths(ROOT), n, seed=0):
            art.task_json()
            art.export_item_json()
        return tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


def test_generation_memory_does_not_grow_with_n() -> None:
    small, big = _peak_bytes_generating(20), _peak_bytes_generating(400)
    assert big < 1.2 * small + 1_000_000, (small, big)
