#!/usr/bin/env python3
"""Set up a fresh checkout and run one stage: the README's two quick-start commands.

    python3 scripts/bootstrap.py build   # venv + package, then `sahelwire build` (no server)
    python3 scripts/bootstrap.py test    # venv + package + test tools, then the whole suite

Standard library only, because it runs before anything is installed. It only prepares
the environment and hands over to the package: the logic lives in `sahelwire`, and the
test suite itself starts the Label Studio server it needs (tests/labelstudio/conftest.py).
"""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
VENV = ROOT / ".venv"
BIN = VENV / "bin"
STAMP = VENV / ".sahelwire-installed"


def run(*cmd: str | Path, env: dict[str, str] | None = None) -> None:
    print("+", " ".join(str(c) for c in cmd), flush=True)
    subprocess.run([str(c) for c in cmd], check=True, cwd=ROOT, env=env)


def ensure_venv(extras: str) -> None:
    if sys.version_info[:2] != (3, 11):
        sys.exit(f"bootstrap: Python 3.11 is required, this is {sys.version.split()[0]}")
    if not (BIN / "python").exists():
        run(sys.executable, "-m", "venv", VENV)
    # Reinstall only when pyproject.toml changed: a second run starts in seconds.
    want = hashlib.sha256((ROOT / "pyproject.toml").read_bytes() + extras.encode()).hexdigest()
    if STAMP.exists() and STAMP.read_text() == want:
        return
    run(BIN / "python", "-m", "pip", "install", "--quiet", "--upgrade", "pip")
    run(BIN / "python", "-m", "pip", "install", "--quiet", "-e", f".{extras}")
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
    # Label Studio runs in its own venv (it pins older shared libraries); the test
    # session fixture creates it when missing, this only does it up front with output.
    run(BIN / "sahelwire", "labelstudio", "install")
    result = subprocess.run([str(BIN / "python"), "-m", "pytest", *rest], cwd=ROOT)
    return result.returncode


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
