"""The pinned environments (scripts/constraints/) agree with pyproject and with the venv in use.

pyproject pins the libraries that write bytes; the constraints pin everything else the
bootstrap installs. A pyproject pin moved without its constraint would make pip refuse to
install (or, for a range, pin a version outside it): caught here, not on a fresh clone.
"""

from __future__ import annotations

import importlib.util
import shutil
import tomllib
from importlib import metadata
from pathlib import Path
from typing import Any

from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

from helpers import ROOT, exact_pins, unpinned

CONSTRAINTS = ROOT / "scripts" / "constraints"
BOOTSTRAP = ROOT / "scripts" / "bootstrap.py"
PYPROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))


def pins(name: str) -> dict[str, str]:
    return exact_pins(CONSTRAINTS / name)


def test_the_project_pins_satisfy_pyproject() -> None:
    project = PYPROJECT["project"]
    wanted = project["dependencies"] + project["optional-dependencies"]["dev"]
    assert unpinned(wanted, pins("project.txt")) == []


def test_the_spark_pins_satisfy_the_spark_extra() -> None:
    project = PYPROJECT["project"]
    shared = {canonicalize_name(Requirement(d).name) for d in project["dependencies"]}
    own = [
        d
        for d in project["optional-dependencies"]["spark"]
        if canonicalize_name(Requirement(d).name) not in shared
    ]
    assert own and unpinned(own, pins("spark.txt")) == []


def test_the_build_backend_pin_satisfies_the_build_system() -> None:
    assert unpinned(PYPROJECT["build-system"]["requires"], pins("build.txt")) == []


def test_the_suite_runs_in_the_pinned_project_venv() -> None:
    """Every pinned package this venv has is at its pin (a package added by hand is not judged)."""
    drift = {}
    for name, version in pins("project.txt").items():
        try:
            installed = metadata.version(name)
        except metadata.PackageNotFoundError:
            continue
        if installed != version:
            drift[name] = (installed, version)
    assert drift == {}


def _bootstrap(tmp: Path, monkeypatch: Any) -> tuple[Any, list[tuple[str, ...]]]:
    """scripts/bootstrap.py with its venvs under ``tmp`` and pip's runs recorded, not run."""
    spec = importlib.util.spec_from_file_location("bootstrap_under_test", BOOTSTRAP)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    ran: list[tuple[str, ...]] = []
    monkeypatch.setattr(module, "run", lambda *cmd, env=None: ran.append(tuple(map(str, cmd))))
    monkeypatch.setattr(module, "VENV", tmp / "venv")
    monkeypatch.setattr(module, "BIN", tmp / "venv" / "bin")
    monkeypatch.setattr(module, "STAMP", tmp / "venv" / ".sahelwire-installed")
    monkeypatch.setattr(module, "SPARK_VENV", tmp / "spark")
    (tmp / "venv" / "bin").mkdir(parents=True)
    (tmp / "venv" / "bin" / "python").touch()
    (tmp / "spark" / "bin").mkdir(parents=True)
    (tmp / "spark" / "bin" / "python").touch()
    (tmp / "spark" / "lib" / module.SITE / "site-packages").mkdir(parents=True)
    return module, ran


def test_bootstrap_installs_every_venv_with_its_pins_and_again_when_they_change(
    tmp_path: Path, monkeypatch: Any
) -> None:
    bootstrap, ran = _bootstrap(tmp_path, monkeypatch)
    project, build = str(CONSTRAINTS / "project.txt"), str(CONSTRAINTS / "build.txt")
    bootstrap.ensure_venv("[dev]")
    assert len(ran) == 2 and all(("--constraint", project) == c[5:7] for c in ran), ran
    assert ran[0][-2:] == ("--upgrade", "pip")
    assert ran[1][-4:] == ("--build-constraint", build, "-e", ".[dev]")
    bootstrap.ensure_venv("[dev]")
    assert len(ran) == 2  # stamped: nothing to do
    edited = tmp_path / "constraints"
    shutil.copytree(CONSTRAINTS, edited)
    with (edited / "project.txt").open("a") as pins_file:
        pins_file.write("# moved\n")
    monkeypatch.setattr(bootstrap, "CONSTRAINTS", edited)
    bootstrap.ensure_venv("[dev]")
    assert len(ran) == 4  # a pin changed: installed again

    monkeypatch.setattr(bootstrap.shutil, "which", lambda name: f"/usr/bin/{name}")
    bootstrap.ensure_spark_venv()
    assert ran[-1][-2:] == ("-c", str(edited / "spark.txt")), ran[-1]
