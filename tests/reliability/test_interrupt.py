"""Ctrl-C (SIGINT) during `sahelwire build`, in its DuckDB phase too: DuckDB turns the
interrupt into RuntimeError("Query interrupted"), which printed a traceback and exited 1
(the code of invalid data). Now as any interruption: exit 130, no traceback, at most the
one line `sahelwire: interrupted`, the previous dist/ intact and no staging folder left."""

from __future__ import annotations

import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from helpers import copy_project, environ, run_cli

SAHELWIRE = Path(sys.executable).parent / "sahelwire"


def _snapshot(folder: Path) -> dict[str, bytes]:
    return {str(p.relative_to(folder)): p.read_bytes() for p in folder.rglob("*") if p.is_file()}


@pytest.fixture(scope="module")
def project(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = copy_project(tmp_path_factory.mktemp("interrupt") / "project")
    text = (root / "pyproject.toml").read_text(encoding="utf-8")
    assert 'build_engine = "duckdb"' in text  # the engine whose queries are interrupted
    result = run_cli(root, "build")
    assert result.returncode == 0, result.stdout + result.stderr
    return root


def _interrupt_when(root: Path, ready: str, delay: float) -> subprocess.CompletedProcess[str]:
    """`sahelwire build` sent SIGINT ``delay`` s after a path matching ``ready`` appears
    under the project (DuckDB's spill folder: its connection is open, its queries run)."""
    subprocess.run([str(SAHELWIRE), "cache", "clear"], cwd=root, check=True, capture_output=True)
    proc = subprocess.Popen(
        [str(SAHELWIRE), "build"],
        cwd=root,
        env=environ(None),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    deadline = time.monotonic() + 120
    while proc.poll() is None and time.monotonic() < deadline:
        if next(root.glob(ready), None) is not None:
            time.sleep(delay)
            proc.send_signal(signal.SIGINT)
            break
        time.sleep(0.005)
    out, err = proc.communicate(timeout=300)
    return subprocess.CompletedProcess(proc.args, proc.returncode, out, err)


@pytest.mark.parametrize("delay", [0.0, 0.05, 0.15, 0.3])
def test_ctrl_c_in_the_duckdb_phase_exits_130_and_keeps_dist(project: Path, delay: float) -> None:
    dist = _snapshot(project / "dist")
    result = _interrupt_when(project, "**/sahelwire-duckdb-*", delay)
    if result.returncode == 0:  # finished before the signal: nothing to judge
        pytest.skip(f"the build ended before SIGINT at +{delay}s")
    assert result.returncode == 130, result.stderr
    assert "Traceback" not in result.stderr, result.stderr
    lines = [x for x in result.stderr.splitlines() if x and not x.startswith("warning")]
    assert lines == ["sahelwire: interrupted"], result.stderr  # said, not silent
    assert _snapshot(project / "dist") == dist
    assert not list(project.glob(".*dist*")), list(project.glob(".*dist*"))
