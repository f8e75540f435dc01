"""The pinned environments (scripts/constraints/) agree with pyproject and with the venv in use.

pyproject pins the libraries that write bytes; the constraints pin everything else the
bootstrap installs. A pyproject pin moved without its constraint would make pip refuse to
install (or, for a range, pin a version outside it): caught here, not on a fresh clone.
"""

from __future__ import annotations

import tomllib
from importlib import metadata

from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

from helpers import ROOT, exact_pins

CONSTRAINTS = ROOT / "scripts" / "constraints"
PYPROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))


def pins(name: str) -> dict[str, str]:
    return exact_pins(CONSTRAINTS / name)


def outside(requirements: list[str], pinned: dict[str, str]) -> list[str]:
    """Each requirement its pin does not satisfy, or that has no pin."""
    wrong = []
    for text in requirements:
        requirement = Requirement(text)
        version = pinned.get(canonicalize_name(requirement.name))
        if version is None or not requirement.specifier.contains(version, prereleases=True):
            wrong.append(f"{text} (pinned: {version})")
    return wrong


def test_the_project_pins_satisfy_pyproject() -> None:
    project = PYPROJECT["project"]
    wanted = project["dependencies"] + project["optional-dependencies"]["dev"]
    assert outside(wanted, pins("project.txt")) == []


def test_the_spark_pins_satisfy_the_spark_extra() -> None:
    project = PYPROJECT["project"]
    shared = {canonicalize_name(Requirement(d).name) for d in project["dependencies"]}
    own = [
        d
        for d in project["optional-dependencies"]["spark"]
        if canonicalize_name(Requirement(d).name) not in shared
    ]
    assert own and outside(own, pins("spark.txt")) == []


def test_the_build_backend_pin_satisfies_the_build_system() -> None:
    assert outside(PYPROJECT["build-system"]["requires"], pins("build.txt")) == []


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
