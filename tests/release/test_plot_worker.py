"""The card's plots drawn in a child interpreter: the same bytes as drawn here, and drawn
here when the worker cannot start, fails or answers with something else."""

from __future__ import annotations

import logging
import sys
from collections import Counter
from pathlib import Path

import pyarrow as pa
import pytest

from helpers import ROOT, copy_project
from sahelwire.io.config import SPLITS, Settings
from sahelwire.io.paths import ProjectPaths
from sahelwire.release import build as build_module
from sahelwire.release.build import build
from sahelwire.release.card import plot_worker
from sahelwire.release.card.plot_drawing import (
    LABELS_PLOT,
    LENGTHS_PLOT,
    LISTED_ARTICLES,
    PlotInputs,
    length_histogram,
    render_plots,
)
from sahelwire.release.card.plot_worker import PlotWorker
from sahelwire.release.card.plots import article_lengths
from sahelwire.schema.taxonomy import load_taxonomy

TAX = load_taxonomy(ProjectPaths(ROOT).taxonomy_file)
# A worker that answers a pickle that is not the plots (and reads none of its input).
NOT_PLOTS = "import pickle, sys; sys.stdout.buffer.write(pickle.dumps([1]))"


def _inputs(n: int) -> PlotInputs:
    documents = {
        split: pa.table(
            {
                "article_id": [f"a{i:04d}" for i in range(n) if i % 3 == k],
                "text": ["é" * (100 + 7 * i) for i in range(n) if i % 3 == k],
                "clean_text": ["x" * (50 + 5 * i) for i in range(n) if i % 3 == k],
                "n_annotators": [i % 5 for i in range(n) if i % 3 == k],  # some raw-only
            }
        )
        for k, split in enumerate(SPLITS)
    }
    lengths = article_lengths(documents)
    layers = tuple((x.name, x.title, tuple(x.label_names)) for x in TAX.span_layers)
    counts = {
        name: {
            split: Counter({label: 3 * i + k for i, label in enumerate(labels)})
            for k, split in enumerate(SPLITS)
        }
        for name, _, labels in layers
    }
    if n <= LISTED_ARTICLES:
        return PlotInputs(layers, counts, lengths, None)
    return PlotInputs(layers, counts, None, length_histogram(lengths))


@pytest.mark.parametrize("n", [7, LISTED_ARTICLES + 40])
def test_the_worker_draws_the_bytes_drawn_here(n: int, caplog: pytest.LogCaptureFixture) -> None:
    inputs = _inputs(n)
    here = render_plots(inputs)
    assert set(here) == {LABELS_PLOT, LENGTHS_PLOT}
    assert all(png.startswith(b"\x89PNG") for png in here.values())
    worker = PlotWorker()
    with caplog.at_level(logging.DEBUG, logger=plot_worker.__name__):
        worker.send(inputs)
        assert worker.result() == here
    assert "failed" not in caplog.text and "not started" not in caplog.text


@pytest.mark.parametrize(
    ("command", "said"),
    [
        ([sys.executable, "-c", "import sys; sys.stdin.read(); sys.exit(3)"], "exit status 3"),
        ([sys.executable, "-c", "import sys; sys.stdin.read(); print('x')"], "failed"),
        ([sys.executable, "-c", NOT_PLOTS], "failed"),
        (["/nonexistent/python"], "not started"),
    ],
)
def test_a_worker_that_fails_leaves_the_plots_to_this_process(
    command: list[str], said: str, caplog: pytest.LogCaptureFixture
) -> None:
    inputs = _inputs(LISTED_ARTICLES + 40)
    with caplog.at_level(logging.DEBUG, logger=plot_worker.__name__):
        worker = PlotWorker(command)
        worker.send(inputs)
        assert worker.result() == render_plots(inputs)
    assert said in caplog.text
    worker.close()  # again: nothing left to stop


def test_result_before_send_is_an_error_and_close_stops_the_worker() -> None:
    worker = PlotWorker()
    child = worker._child
    assert child is not None and child.poll() is None
    with pytest.raises(RuntimeError, match="before send"):
        worker.result()
    worker.close()
    assert child.poll() is not None


def test_a_build_with_the_plot_worker_writes_the_same_files(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    """The committed corpus built with its plots drawn in the worker (the article threshold
    lowered to 0): byte for byte what the same corpus builds with them drawn in-process.

    Both builds are made here: CI's clean clone has no dist/ (it is git-ignored and made by
    the README's first command, which CI does not run)."""
    paths = ProjectPaths(copy_project(tmp_path / "p"))
    started: list[PlotWorker] = []

    class Counted(PlotWorker):
        def __init__(self) -> None:
            super().__init__()
            started.append(self)

    monkeypatch.setattr(build_module, "PlotWorker", Counted)
    build(paths, Settings.load(paths), tmp_path / "in_process")
    assert started == []  # five articles: under the worker's threshold, drawn in-process
    monkeypatch.setattr(build_module, "PLOT_WORKER_ARTICLES", 0)
    with caplog.at_level(logging.DEBUG, logger=plot_worker.__name__):
        build(paths, Settings.load(paths), tmp_path / "dist")
    assert len(started) == 1 and started[0]._child is None  # used, then stopped
    assert "failed" not in caplog.text and "not started" not in caplog.text
    made = (tmp_path / "dist" / "checksums.sha256").read_text()
    assert made == (tmp_path / "in_process" / "checksums.sha256").read_text()
