"""io.bulk: the collector paused or made rare for a block, and put back as it was after."""

from __future__ import annotations

import gc
from pathlib import Path
from typing import Any

import pytest

from helpers import copy_project
from sahelwire.io import bulk
from sahelwire.io.config import Settings
from sahelwire.io.paths import ProjectPaths
from sahelwire.release import build, validation


def test_rare_collections_sets_the_build_thresholds_and_puts_back_the_old_ones() -> None:
    before = gc.get_threshold()
    with bulk.rare_collections():
        assert gc.get_threshold() == bulk.BUILD_THRESHOLDS != before
    assert gc.get_threshold() == before
    with pytest.raises(RuntimeError), bulk.rare_collections():
        raise RuntimeError("a refused build")
    assert gc.get_threshold() == before


def test_paused_gc_pauses_and_resumes_only_what_was_enabled() -> None:
    assert gc.isenabled()
    with bulk.paused_gc():
        assert not gc.isenabled()
    assert gc.isenabled()
    gc.disable()
    try:
        with bulk.paused_gc():
            pass
        assert not gc.isenabled()  # it was off before: left off
    finally:
        gc.enable()


def test_build_and_validate_run_their_inputs_under_the_build_thresholds(
    tmp_path: Path, monkeypatch: Any
) -> None:
    seen: list[tuple[str, tuple[int, int, int]]] = []
    render, validate_inputs = build._render, validation.validate_inputs

    def spy_render(*args: Any) -> None:
        seen.append(("build", gc.get_threshold()))
        render(*args)

    def spy_validate(*args: Any, **kwargs: Any) -> Any:
        seen.append(("validate", gc.get_threshold()))
        return validate_inputs(*args, **kwargs)

    monkeypatch.setattr(build, "_render", spy_render)
    monkeypatch.setattr(validation, "validate_inputs", spy_validate)
    paths = ProjectPaths(copy_project(tmp_path / "project"))
    before = gc.get_threshold()
    build.render_release(paths, Settings.load(paths))
    assert not validation.validate_project(paths, include_dist=False).problems
    assert ("build", bulk.BUILD_THRESHOLDS) in seen
    assert ("validate", bulk.BUILD_THRESHOLDS) in seen
    assert gc.get_threshold() == before
