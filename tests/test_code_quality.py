"""ruff and mypy are part of the suite, so CI enforces them."""

from __future__ import annotations

import os
import subprocess
import sys
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent


def test_ruff_clean() -> None:
    result = subprocess.run(
        [str(BIN / "ruff"), "check", "src", "tests", "scripts"],
        cwd=ROOT,
        capture_output=True,
        text=True,
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_mypy_clean() -> None:
    """The plain ``mypy`` checks what pyproject.toml's [tool.mypy] ``files`` names: the
    package, the tests and the scripts."""
    files = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["mypy"]["files"]
    assert set(files) == {"src/sahelwire", "tests", "scripts"}
    result = subprocess.run([str(BIN / "mypy")], cwd=ROOT, capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr


def test_readme_quick_start_is_two_commands_and_ci_runs_the_second() -> None:
    readme = (ROOT / "README.md").read_text()
    block = readme.split("## Quick start", 1)[1].split("```sh\n", 1)[1].split("```", 1)[0]
    lines = block.strip().splitlines()
    assert len(lines) == 2
    assert "build" in lines[0] and "test" in lines[1]
    assert "README.md" in (ROOT / ".ci/run").read_text()


def test_every_script_imports() -> None:
    """The scripts load: their imports name what src/ still has and nothing fails at import
    time (span_sql_bench.py once imported a renamed helper unnoticed, when mypy did not check
    scripts; it does now, and this also catches what types cannot). Each is loaded, main not
    run."""
    check = (
        "import importlib.util, sys\n"
        "for path in sys.argv[1:]:\n"
        "    spec = importlib.util.spec_from_file_location('script_under_test', path)\n"
        "    assert spec is not None and spec.loader is not None, path\n"
        "    spec.loader.exec_module(importlib.util.module_from_spec(spec))\n"
    )
    scripts = sorted(str(p) for p in (ROOT / "scripts").glob("*.py"))
    assert len(scripts) > 5
    result = subprocess.run(
        [sys.executable, "-c", check, *scripts],
        cwd=ROOT,
        capture_output=True,
        text=True,
        env={**os.environ, "PYTHONPATH": str(ROOT / "scripts")},
    )
    assert result.returncode == 0, result.stdout + result.stderr
