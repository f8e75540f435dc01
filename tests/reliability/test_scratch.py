"""Scratch folders (io.scratch): a killed run's are removed by the next run, a running
one's never. Real processes and real SIGKILLs; nothing mocked."""

from __future__ import annotations

import errno
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from helpers import SAHELWIRE, copy_project, run_cli, snapshot
from sahelwire.io import atomic
from sahelwire.io.atomic import write_bytes_atomic
from sahelwire.io.scratch import OWNER_LOCK, clean_stale_scratch, scratch_dir

HOLD = """
import sys, time
from pathlib import Path
from sahelwire.io.scratch import scratch_dir
with scratch_dir(Path(sys.argv[1]), "held-") as folder:
    (folder / "data").write_bytes(b"x" * 1000)
    print(folder, flush=True)
    time.sleep(600)
"""


def hold(root: Path) -> tuple[subprocess.Popen[str], Path]:
    """A process holding a scratch folder under ``root``; the folder."""
    proc = subprocess.Popen(
        [sys.executable, "-c", HOLD, str(root)], stdout=subprocess.PIPE, text=True
    )
    assert proc.stdout is not None
    return proc, Path(proc.stdout.readline().strip())


def test_a_killed_runs_folder_goes_a_running_ones_stays(tmp_path: Path) -> None:
    running, alive = hold(tmp_path)
    killed, dead = hold(tmp_path)
    foreign = tmp_path / "not-a-scratch-folder"  # no lock: made by something else
    foreign.mkdir()
    try:
        killed.send_signal(signal.SIGKILL)
        killed.wait(timeout=30)
        assert (dead / "data").exists()  # SIGKILL: nothing removed it
        assert clean_stale_scratch(tmp_path) == [dead]
        assert not dead.exists()
        assert (alive / "data").exists() and (alive / OWNER_LOCK).exists()
        assert foreign.exists()
        # a new scratch folder cleans first, and its own lock is held while it lives
        with scratch_dir(tmp_path, "mine-") as mine:
            assert clean_stale_scratch(tmp_path) == []
            assert mine.exists() and alive.exists()
        assert not mine.exists()
    finally:
        running.send_signal(signal.SIGKILL)
        running.wait(timeout=30)
    assert clean_stale_scratch(tmp_path) == [alive]
    assert sorted(tmp_path.iterdir()) == [foreign]


@pytest.mark.slow
def test_the_build_after_a_killed_build_removes_its_scratch(tmp_path: Path) -> None:
    """A build killed mid-render leaves its scratch folder (inputs, gold, DuckDB's spill:
    gigabytes at 100k articles); the next build removes it and builds the same files."""
    root = copy_project(tmp_path / "proj")
    assert run_cli(root, "build").returncode == 0
    built = snapshot(root / "dist")
    tmp = root / ".sahelwire" / "tmp"
    proc = subprocess.Popen(
        [str(SAHELWIRE), "build"],
        cwd=root,
        env={**os.environ, "SAHELWIRE_ROOT": str(root)},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + 120
    while not list(tmp.glob("sahelwire-build-*/inputs")) and proc.poll() is None:
        assert time.monotonic() < deadline, "the build made no scratch folder"
        time.sleep(0.005)
    proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=30)
    stale = list(tmp.glob("sahelwire-build-*"))
    assert stale, "the build ended before it was killed"
    result = run_cli(root, "build")
    assert result.returncode == 0, result.stderr
    assert snapshot(root / "dist") == built
    assert not any(path.exists() for path in stale)
    assert list(tmp.iterdir()) == []


def test_a_write_staged_in_a_scratch_folder_leaves_nothing_beside_its_target(
    tmp_path: Path,
) -> None:
    # What labelstudio pull does (tests/labelstudio/test_pull_faults.py kills it for real):
    # the temporary file is made in the scratch folder, renamed over the target.
    target = tmp_path / "annotations" / "exports" / "a.json"
    with scratch_dir(tmp_path / "tmp", "pull-write-") as staging:
        write_bytes_atomic(target, b"{}\n", staging=staging)
        write_bytes_atomic(target, b'{"a": 1}\n', staging=staging)
        assert sorted(p.name for p in staging.iterdir()) == [OWNER_LOCK]
    assert [p.name for p in target.parent.iterdir()] == ["a.json"]
    assert target.read_bytes() == b'{"a": 1}\n'


def test_a_staging_folder_on_another_file_system_falls_back_to_beside_the_target(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A symlinked .sahelwire on another disk: the rename out of it fails with EXDEV. No
    # second file system here, so that one failure is simulated; the write then goes beside.
    staging = tmp_path / "elsewhere"
    staging.mkdir()
    real = os.replace

    def cross_device(src: str, dst: Path) -> None:
        if str(src).startswith(str(staging)):
            raise OSError(errno.EXDEV, "Invalid cross-device link")
        real(src, dst)

    monkeypatch.setattr(atomic.os, "replace", cross_device)
    target = tmp_path / "exports" / "a.json"
    write_bytes_atomic(target, b"[1]\n", staging=staging)
    assert target.read_bytes() == b"[1]\n"
    assert list(staging.iterdir()) == [] and [p.name for p in target.parent.iterdir()] == ["a.json"]
