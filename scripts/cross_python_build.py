#!/usr/bin/env python3
"""Build the dataset under several Python versions and compare every output byte.

    python3 scripts/cross_python_build.py                      # .venv + python3.12, python3.13
    python3 scripts/cross_python_build.py --python /path/to/python3.13 --keep

The baseline is the project venv (``.venv``, made by ``scripts/bootstrap.py``). Every other
interpreter gets its own venv under ``.sahelwire/python-X.Y/`` with the package installed
from the same pinned pyproject.toml (reinstalled only when pyproject.toml changes), then
runs ``sahelwire build --out`` on the same checkout, and ``sahelwire build --release`` for
every release under releases/ (that release's own code, checked against its manifest).
Exit 0 when every file of every build has the same sha256 as the baseline's and every
release rebuilds byte-identical under every version, 1 otherwise (differences listed).

Why a script and not a test: two fresh venvs take minutes to install; the suite stays
fast, and CI runs the same comparison as a 3.11-3.13 matrix
(.github/workflows/python-versions.yml). The measured result is in docs/releasing.md.
Standard library only.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
STATE = ROOT / ".sahelwire"


def find_python(version: str) -> str | None:
    """A pyenv install of python3.X, else python3.X on PATH -- one that actually runs
    (a pyenv shim for a version not selected exits 127)."""
    pyenv = Path(os.environ.get("PYENV_ROOT", Path.home() / ".pyenv")) / "versions"
    candidates = [str(d / "bin" / f"python{version}") for d in sorted(pyenv.glob(f"{version}.*"))]
    candidates.reverse()  # newest patch release first
    candidates.append(shutil.which(f"python{version}") or "")
    for exe in filter(None, candidates):
        ok = subprocess.run([exe, "-c", "pass"], capture_output=True, check=False)
        if Path(exe).exists() and ok.returncode == 0:
            return exe
    return None


def version_of(python: str) -> str:
    out = subprocess.run(
        [python, "-c", "import platform; print(platform.python_version())"],
        capture_output=True,
        text=True,
        check=True,
    )
    return out.stdout.strip()


def venv_for(python: str) -> Path:
    """A venv for this interpreter with the pinned package installed (cached by pyproject hash)."""
    full = version_of(python)
    venv = STATE / f"python-{'.'.join(full.split('.')[:2])}"
    stamp = venv / ".sahelwire-installed"
    want = hashlib.sha256((ROOT / "pyproject.toml").read_bytes() + full.encode()).hexdigest()
    if stamp.exists() and stamp.read_text() == want:
        return venv
    if not (venv / "bin" / "python").exists():
        subprocess.run([python, "-m", "venv", str(venv)], check=True)
    pip = [str(venv / "bin" / "python"), "-m", "pip", "install", "--quiet"]
    subprocess.run([*pip, "--upgrade", "pip"], check=True)
    subprocess.run([*pip, "-e", str(ROOT)], check=True, cwd=ROOT)
    stamp.write_text(want)
    return venv


def build(venv: Path, out: Path) -> dict[str, str]:
    env = {**os.environ, "SAHELWIRE_ROOT": str(ROOT), "PYTHONDONTWRITEBYTECODE": "1"}
    result = subprocess.run(
        [str(venv / "bin" / "sahelwire"), "build", "--out", str(out)],
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    if result.returncode != 0:
        sys.exit(f"build with {venv} failed:\n{result.stderr[-3000:]}")
    return {
        p.relative_to(out).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(out.rglob("*"))
        if p.is_file()
    }


def rebuild_releases(venv: Path, out: Path) -> dict[str, str]:
    """``build --release`` of every release under releases/: version -> "identical" or the error."""
    env = {**os.environ, "SAHELWIRE_ROOT": str(ROOT), "PYTHONDONTWRITEBYTECODE": "1"}
    results = {}
    for manifest in sorted((ROOT / "releases").glob("v*.json")):
        tag = manifest.stem
        result = subprocess.run(
            [str(venv / "bin" / "sahelwire"), "build", "--release", tag, "--out", str(out / tag)],
            env=env,
            capture_output=True,
            text=True,
            check=False,
        )
        last = (result.stderr.strip().splitlines() or ["?"])[-1]
        results[tag] = "identical" if result.returncode == 0 else f"FAILED: {last}"
    return results


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawTextHelpFormatter
    )
    parser.add_argument("--python", action="append", help="Another interpreter (repeatable).")
    parser.add_argument("--keep", action="store_true", help="Keep the build folders.")
    parser.add_argument("--json", action="store_true", help="Print the digests as JSON.")
    args = parser.parse_args(argv)

    baseline = ROOT / ".venv"
    if not (baseline / "bin" / "sahelwire").exists():
        print("no .venv: run `python3 scripts/bootstrap.py build` first", file=sys.stderr)
        return 2
    others = args.python or [p for v in ("3.12", "3.13") if (p := find_python(v))]
    if not others:
        print(
            "no other Python found (python3.12/python3.13 or pyenv); pass --python", file=sys.stderr
        )
        return 2
    venvs = {version_of(str(baseline / "bin" / "python")): baseline}
    for python in others:
        venvs[version_of(python)] = venv_for(python)

    tmp = Path(tempfile.mkdtemp(prefix="sahelwire-cross-python-"))
    digests = {version: build(venv, tmp / version) for version, venv in venvs.items()}
    rebuilt = {
        version: rebuild_releases(venv, tmp / f"{version}-releases")
        for version, venv in venvs.items()
    }
    base_version, base = next(iter(digests.items()))
    differ = {
        version: sorted(name for name in set(base) | set(d) if base.get(name) != d.get(name))
        for version, d in digests.items()
    }
    if args.json:
        report = {"digests": digests, "differ_from_baseline": differ, "releases": rebuilt}
        print(json.dumps(report, indent=2))
    else:
        for version, names in differ.items():
            status = (
                "identical" if not names else f"{len(names)} file(s) differ: {', '.join(names)}"
            )
            print(
                f"Python {version:8} {len(digests[version])} files, {status} (baseline {base_version})"
            )
            for tag, outcome in rebuilt[version].items():
                print(f"Python {version:8} build --release {tag}: {outcome} to its manifest")
    if args.keep:
        print(f"builds kept in {tmp}")
    else:
        shutil.rmtree(tmp)
    failed = any(o != "identical" for r in rebuilt.values() for o in r.values())
    return 1 if any(differ.values()) or failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
