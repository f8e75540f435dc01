"""Real faults during `sahelwire ingest`: SIGKILL at random points, two ingests at once."""

from __future__ import annotations

import hashlib
import json
import os
import random
import signal
import subprocess
import time
from pathlib import Path

import pytest

from helpers import SAHELWIRE, copy_project, run_cli, snapshot
from sahelwire.io.locks import exclusive_lock

pytestmark = pytest.mark.slow


def batch(folder: Path, n: int) -> Path:
    folder.mkdir()
    for i in range(n):
        (folder / f"batch_{i:04d}.txt").write_text(
            f"Story {i} from Niamey about US troops.\n" * 20, encoding="utf-8"
        )
    return folder


def consistent(root: Path) -> list[str]:
    """Manifest ids, after checking every listed text exists with the recorded sha256."""
    raw = root / "dataset/raw"
    rows = [json.loads(x) for x in (raw / "manifest.jsonl").read_text().splitlines()]
    for row in rows:
        data = (raw / "texts" / f"{row['id']}.txt").read_bytes()
        assert hashlib.sha256(data).hexdigest() == row["sha256"], row["id"]
    return [r["id"] for r in rows]


def test_kill_9_during_ingest_loses_nothing_and_the_rerun_completes(tmp_path: Path) -> None:
    root = copy_project(tmp_path / "proj", annotations=False)
    before_ids = consistent(root)
    inputs = batch(tmp_path / "in", 300)
    env = {**os.environ, "SAHELWIRE_ROOT": str(root)}
    rng = random.Random(2)
    for attempt in range(5):
        proc = subprocess.Popen(
            [str(SAHELWIRE), "ingest", str(inputs)],
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        time.sleep(rng.uniform(0.5, 2.5))
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=30)
        ids = consistent(root)  # the manifest is old or new, and everything it lists is whole
        assert set(before_ids) <= set(ids), f"attempt {attempt}: an article was lost"
        assert len(ids) == len(set(ids)), f"attempt {attempt}: an article was duplicated"
    result = run_cli(root, "ingest", str(inputs))
    assert result.returncode == 0, result.stderr
    ids = consistent(root)
    assert set(ids) == set(before_ids) | {f"batch_{i:04d}" for i in range(300)}
    assert run_cli(root, "validate", "--no-dist").returncode == 0  # no orphan text left


def test_two_ingests_at_once_the_second_is_refused(tmp_path: Path) -> None:
    root = copy_project(tmp_path / "proj", annotations=False)
    story = tmp_path / "story.txt"
    story.write_text("A story from Agadez.\n", encoding="utf-8")
    before = snapshot(root / "dataset/raw")
    with exclusive_lock(root / ".sahelwire/locks/raw.lock", "test holder"):
        result = run_cli(root, "ingest", str(story))
    assert result.returncode == 2
    assert "another ingest is running" in result.stderr and "Traceback" not in result.stderr
    assert snapshot(root / "dataset/raw") == before
    assert run_cli(root, "ingest", str(story)).returncode == 0
