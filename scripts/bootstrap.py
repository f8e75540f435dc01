#!/usr/bin/env python3
"""Set up a fresh checkout and run one stage: the README's two quick-start commands.

    python3 scripts/bootstrap.py build   # venv + package, then `sahelwire build` (no server)
    python3 scripts/bootstrap.py test    # venv + package + test tools, then the whole suite

Standard library only, because it runs before anything is installed. It only prepares
the environment and hands over to the package: the logic lives in `sahelwire`, and the
test suite itself starts the Label Studio server it needs (tests/conftest.py).
"""

from __future__ import annotations

import hashlib
import os
import re
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
VENV = ROOT / ".venv"
BIN = VENV / "bin"
STAMP = VENV / ".sahelwire-installed"
SPARK_VENV = ROOT / ".sahelwire" / "spark-venv"
# Every package of each venv at the version of a venv that passed the suite: pyproject pins
# the libraries that write bytes, the rest (test tools, their dependencies, pip and the build
# backend) would otherwise be whatever is newest on the day, and one new release is enough to
# turn a fresh clone red (sentry-sdk 3.0 did it to the Label Studio venv on 2026-12-07).
CONSTRAINTS = ROOT / "scripts" / "constraints"
PINNED = ("--constraint", CONSTRAINTS / "project.txt")
BUILD_PINNED = ("--build-constraint", CONSTRAINTS / "build.txt")


def run(*cmd: str | Path, env: dict[str, str] | None = None) -> None:
    print("+", " ".join(str(c) for c in cmd), flush=True)
    subprocess.run([str(c) for c in cmd], check=True, cwd=ROOT, env=env)


# pyproject's requires-python; builds under each give the same bytes
# (scripts/cross_python_build.py, docs/releasing.md).
SUPPORTED = ((3, 11), (3, 12), (3, 13))
SITE = f"python{sys.version_info[0]}.{sys.version_info[1]}"


def ensure_venv(extras: str) -> None:
    if sys.version_info[:2] not in SUPPORTED:
        wanted = ", ".join(f"{major}.{minor}" for major, minor in SUPPORTED)
        sys.exit(f"bootstrap: Python {wanted} is required, this is {sys.version.split()[0]}")
    if not (BIN / "python").exists():
        run(sys.executable, "-m", "venv", VENV)
    # Reinstall only when pyproject.toml or the pins changed: a second run starts in seconds.
    inputs = [ROOT / "pyproject.toml", CONSTRAINTS / "project.txt", CONSTRAINTS / "build.txt"]
    want = hashlib.sha256(b"".join(p.read_bytes() for p in inputs) + extras.encode()).hexdigest()
    if STAMP.exists() and STAMP.read_text() == want:
        return
    # pip first (pinned): --build-constraint needs pip >= 25.3.
    pip = (BIN / "python", "-m", "pip", "install", "--quiet", *PINNED)
    run(*pip, "--upgrade", "pip")
    run(*pip, *BUILD_PINNED, "-e", f".{extras}")
    STAMP.write_text(want)


def ensure_chromium() -> None:
    """The browser test drives Debian's Chromium (Playwright may not download browsers here)."""
    if shutil.which("chromium"):
        return
    if os.geteuid() != 0 or not shutil.which("apt-get"):
        print(
            "bootstrap: chromium missing and apt-get unavailable; the browser test will be skipped"
        )
        return
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    run("apt-get", "update", "-qq", env=env)
    run("apt-get", "install", "-y", "-qq", "--no-install-recommends", "chromium", env=env)


def ensure_spark_venv() -> None:
    """The `spark` extra in an overlay venv, so tests/release/test_spark.py runs in local[2] mode.

    pyspark 4.3.0 cannot import under pandas 3 (the project venv's), so the overlay holds
    the extra's own pins (pandas<3, pyspark) and sees the project venv and src/ through a
    .pth file for everything else. The pins come from pyproject's `spark` extra, minus the
    packages the project venv already has (pandera), so there is one list to maintain.
    """
    if not shutil.which("java"):
        print("bootstrap: no java on PATH; the Spark local-mode test will be skipped")
        return
    pyproject = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    project = pyproject["project"]
    installed = {_name(d) for d in project["dependencies"]}
    pins = [d for d in project["optional-dependencies"]["spark"] if _name(d) not in installed]
    spark_pins = CONSTRAINTS / "spark.txt"
    want = hashlib.sha256("\n".join(pins).encode() + spark_pins.read_bytes()).hexdigest()
    stamp = SPARK_VENV / ".sahelwire-installed"
    if stamp.exists() and stamp.read_text() == want:
        return
    if not (SPARK_VENV / "bin" / "python").exists():
        run(sys.executable, "-m", "venv", SPARK_VENV)
    run(SPARK_VENV / "bin" / "python", "-m", "pip", "install", "--quiet", *pins, "-c", spark_pins)
    site = SPARK_VENV / "lib" / SITE / "site-packages"
    # "zz_" sorts last, so the overlay's own pandas wins over the project venv's.
    (site / "zz_project_venv.pth").write_text(
        f"{VENV / 'lib' / SITE / 'site-packages'}\n{ROOT / 'src'}\n"
    )
    stamp.write_text(want)


def _name(requirement: str) -> str:
    """The distribution name of a requirement string ("pandera[pyspark]==0.35.0" -> "pandera")."""
    match = re.match(r"[A-Za-z0-9_.-]+", requirement)
    assert match, requirement
    return match.group(0).lower().replace("_", "-")


def main(argv: list[str]) -> int:
    if len(argv) < 1 or argv[0] not in ("build", "test"):
        print(__doc__)
        return 2
    stage, rest = argv[0], argv[1:]
    if stage == "build":
        ensure_venv("")
        run(BIN / "sahelwire", "build", *rest)
        return 0
    ensure_venv("[dev]")
    ensure_chromium()
    ensure_spark_venv()
    # Label Studio runs in its own venv (it pins older shared libraries); the test
    # session fixture creates it when missing, this only does it up front with output.
    run(BIN / "sahelwire", "labelstudio", "install")
    result = subprocess.run([str(BIN / "python"), "-m", "pytest", *rest], cwd=ROOT)
    return result.returncode


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
