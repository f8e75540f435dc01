"""Runs tests/release/test_spark.py in the Spark overlay venv, so the distributed path is tested in CI.

pyspark 4.3.0 cannot import under the project venv's pandas 3, so test_spark.py skips itself
here; ``scripts/bootstrap.py test`` creates the overlay (``.sahelwire/spark-venv``, pandas<3 +
pyspark, seeing the project venv) and this test runs the Spark tests there for real, in
``local[2]`` mode, and fails unless every one of them passed.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest

from helpers import ROOT

OVERLAY_PYTHON = ROOT / ".sahelwire" / "spark-venv" / "bin" / "python"

pytestmark = [pytest.mark.slow, pytest.mark.timeout(400)]


def test_spark_local_mode_in_the_overlay_venv(tmp_path: Path) -> None:
    if not OVERLAY_PYTHON.exists():
        pytest.skip("no Spark overlay venv: `python3 scripts/bootstrap.py test` creates it")
    if shutil.which("java") is None:
        pytest.skip("no java on PATH (the Spark path needs Java 17)")
    proc = subprocess.run(
        [
            str(OVERLAY_PYTHON),
            "-m",
            "pytest",
            "tests/release/test_spark.py",
            "-q",
            "-rs",
            # One process: the overlay sees the project venv's xdist, and two workers would
            # start two Spark JVMs for two tests.
            "-n",
            "0",
            "-p",
            "no:cacheprovider",
            f"--basetemp={tmp_path / 'spark'}",
        ],
        cwd=ROOT,
        env={**os.environ, "PYTHONDONTWRITEBYTECODE": "1"},
        capture_output=True,
        text=True,
        timeout=380,
    )
    tail = proc.stdout[-3000:] + proc.stderr[-2000:]
    assert proc.returncode == 0, tail
    summary = re.search(r"(\d+) passed", proc.stdout)
    assert summary and int(summary.group(1)) >= 2, tail
    assert "skipped" not in proc.stdout.splitlines()[-1], tail
