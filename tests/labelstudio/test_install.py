"""The server venv's install: exact pins, and a venv made from other pins is made again.

sentry-sdk 3.0 reached PyPI on 2026-12-07 and a fresh install of label-studio 1.23.2 (which
left it unpinned) exited at start; these tests hold the pins that prevent that class of
breakage and the stamp that replaces a venv made before them.
"""

from __future__ import annotations

import subprocess
from pathlib import Path
from typing import Any

from packaging.utils import canonicalize_name

from helpers import ROOT, exact_pins, unpinned
from sahelwire.io.paths import ProjectPaths
from sahelwire.labelstudio import server


def _pins() -> dict[str, str]:
    return exact_pins(server.INSTALL_CONSTRAINTS)


def test_the_constraints_pin_every_requirement_within_its_range() -> None:
    pins = _pins()
    assert pins["label-studio"] == server.LABEL_STUDIO_VERSION
    assert unpinned(server.INSTALL_REQUIREMENTS, pins) == []


def test_the_suite_runs_the_pinned_server(ls_server: Any) -> None:
    """The venv the suite's server runs from holds exactly the pinned versions, nothing else."""
    python = server.venv_dir(ProjectPaths(ROOT)) / "bin" / "python"
    # --all: the pip of Python 3.11's venvs hides setuptools and wheel (label-studio requires
    # both), 3.12+'s lists them; only pip itself, the venv's own, is not pinned.
    frozen = subprocess.run(
        [str(python), "-m", "pip", "freeze", "--all"], capture_output=True, text=True, check=True
    ).stdout
    installed = {
        canonicalize_name(name): version
        for name, _, version in (line.partition("==") for line in frozen.splitlines())
    }
    installed.pop(canonicalize_name("pip"), None)
    assert installed == _pins()


def _fake_venv(root: Path, stamp: str) -> ProjectPaths:
    paths = ProjectPaths(root)
    server.executable(paths).parent.mkdir(parents=True)
    server.executable(paths).write_text("#!/bin/sh\n")
    (server.venv_dir(paths) / ".sahelwire-version").write_text(stamp)
    return paths


def test_a_venv_made_before_the_pins_is_made_again(tmp_path: Path) -> None:
    """The stamp 56285fa wrote (requirements, no constraints) no longer counts as installed."""
    before = _fake_venv(tmp_path / "before", " ".join(server.INSTALL_REQUIREMENTS))
    assert not server.is_installed(before)
    unpinned = _fake_venv(tmp_path / "unpinned", f"label-studio=={server.LABEL_STUDIO_VERSION}")
    assert not server.is_installed(unpinned)
    current = _fake_venv(tmp_path / "current", server.install_stamp())
    assert server.is_installed(current)
    # Installed: install() returns at once (this venv has no python for pip to run).
    assert server.install(current) == server.executable(current)


def test_changed_pins_change_the_stamp(tmp_path: Path, monkeypatch: Any) -> None:
    edited = tmp_path / "server-constraints.txt"
    edited.write_text(server.INSTALL_CONSTRAINTS.read_text() + "# edited\n")
    paths = _fake_venv(tmp_path / "project", server.install_stamp())
    monkeypatch.setattr(server, "INSTALL_CONSTRAINTS", edited)
    assert not server.is_installed(paths)
