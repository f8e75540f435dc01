"""The card's plots drawn: PNG bytes from small, picklable inputs (:class:`PlotInputs`).

Rendered with matplotlib's Agg backend into PNG bytes that are stable for identical
inputs: no pyplot global state, fixed size/DPI/fonts, and the PNG ``Software`` text chunk
(which carries the matplotlib version) removed. Apart from :mod:`sahelwire.release.card.plots`
(which reads the published tables into these inputs) so that the plot worker
(:mod:`sahelwire.release.card.plot_worker`) imports matplotlib and numpy only: with the
readers' imports (polars, datasets, the annotation tables) it took 195 MB and 1.3 s to start.
"""

from __future__ import annotations

import io
from collections import Counter
from dataclasses import dataclass
from typing import Any

import matplotlib
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.ticker import MaxNLocator

from sahelwire.io.config import SPLITS

LABELS_PLOT = "plots/label_distribution.png"
LENGTHS_PLOT = "plots/article_lengths.png"
SPLIT_COLORS = {"train": "#1f77b4", "validation": "#ff7f0e", "test": "#2ca02c"}
_RC: Any = {"font.family": "DejaVu Sans", "font.size": 8, "svg.hashsalt": "sahelwire"}
# Up to this many articles the card draws and lists every article's length; above it a
# per-article bar and table row would dominate the build (and bury the card), so it shows
# a histogram and per-split summary figures instead.
LISTED_ARTICLES = 50
_BINS = 40
# (id, split, len(text), len(clean_text), annotated): plots.article_lengths.
LengthRow = tuple[str, str, int, int, bool]


def _png(fig: Figure) -> bytes:
    FigureCanvasAgg(fig)
    buf = io.BytesIO()
    with matplotlib.rc_context(_RC):
        fig.savefig(buf, format="png", dpi=100, metadata={"Software": None})
    return buf.getvalue()


@dataclass(frozen=True)
class PlotInputs:
    """What the plots are drawn from, small and picklable (a plot worker is sent it):
    gold span counts per layer and split, and either every article's lengths (few articles)
    or their histogram per split (bin edges; raw and body counts)."""

    layers: tuple[tuple[str, str, tuple[str, ...]], ...]  # name, title, label names
    counts: dict[str, dict[str, Counter[str]]]
    listed: list[LengthRow] | None
    histogram: tuple[Any, dict[str, tuple[Any, Any]]] | None


def length_histogram(
    rows: list[LengthRow],
) -> tuple[Any, dict[str, tuple[Any, Any]]]:
    """Bin edges and, per split, the raw and body lengths' counts in those bins (a body of
    annotated articles only: a raw-only article's clean_text had no zones removed)."""
    import numpy as np

    top = max(max(r[2] for r in rows), 1)
    edges = np.linspace(0, top, _BINS + 1)
    counts = {}
    for split in SPLITS:
        mine = [r for r in rows if r[1] == split]
        counts[split] = (
            np.histogram([r[2] for r in mine], bins=edges)[0],
            np.histogram([r[3] for r in mine if r[4]], bins=edges)[0],
        )
    return edges, counts


def label_distribution_png(inputs: PlotInputs) -> bytes:
    layers, counts = inputs.layers, inputs.counts
    with matplotlib.rc_context(_RC):
        fig = Figure(figsize=(9, 2.4 * len(layers)))
        axes = fig.subplots(len(layers), 1, squeeze=False)[:, 0]
        width = 0.8 / len(SPLITS)
        for ax, (name, title, label_names) in zip(axes, layers, strict=True):
            names = list(label_names)
            for k, split in enumerate(SPLITS):
                ax.bar(
                    [i + (k - 1) * width for i in range(len(names))],
                    [counts[name][split][n] for n in names],
                    width,
                    label=split,
                    color=SPLIT_COLORS[split],
                )
            ax.set_xticks(range(len(names)), names, rotation=20, ha="right")
            ax.set_ylabel("gold spans")
            ax.yaxis.set_major_locator(MaxNLocator(integer=True))
            ax.set_title(f"{title} ({name})", loc="left")
        axes[0].legend(ncols=len(SPLITS), loc="upper right")
        fig.tight_layout()
        return _png(fig)


def article_lengths_png(rows: list[LengthRow]) -> bytes:
    """``rows``: :func:`article_lengths`."""
    if len(rows) > LISTED_ARTICLES:
        return _length_histogram_png(length_histogram(rows))
    with matplotlib.rc_context(_RC):
        fig = Figure(figsize=(9, 0.5 * max(len(rows), 4) + 1))
        ax = fig.subplots()
        ys = range(len(rows))
        ax.barh(
            ys,
            [r[2] for r in rows],
            color=[SPLIT_COLORS[r[1]] for r in rows],
            alpha=0.35,
            label="text (raw page)",
        )
        ax.barh(
            ys,
            [r[3] if r[4] else 0 for r in rows],  # raw-only: no body measured
            color=[SPLIT_COLORS[r[1]] for r in rows],
            label="clean_text (non-body zones removed)",
        )
        ax.set_yticks(list(ys), [f"{r[0][:3]} ({r[1]})" for r in rows])
        ax.invert_yaxis()
        ax.set_xlabel("length in Unicode code points")
        ax.set_title("Article lengths (pale: raw page, solid: article body)", loc="left")
        fig.tight_layout()
        return _png(fig)


def _length_histogram_png(histogram: tuple[Any, dict[str, tuple[Any, Any]]]) -> bytes:
    """Histogram of raw and body lengths per split (``histogram``: :func:`length_histogram`)."""
    edges, counts = histogram
    with matplotlib.rc_context(_RC):
        fig = Figure(figsize=(9, 2.2 * len(SPLITS) + 1))
        axes = fig.subplots(len(SPLITS), 1, squeeze=False, sharex=True)[:, 0]
        for ax, split in zip(axes, SPLITS, strict=True):
            for split_counts, alpha, label in (
                (counts[split][0], 0.35, "text (raw page)"),
                (counts[split][1], 1.0, "clean_text (non-body zones removed)"),
            ):
                ax.stairs(split_counts, edges, fill=True, color=SPLIT_COLORS[split], alpha=alpha,
                          label=label)  # fmt: skip
            ax.set_ylabel(f"{split} articles")
            ax.yaxis.set_major_locator(MaxNLocator(integer=True))
            ax.legend(loc="upper right")
        axes[-1].set_xlabel("length in Unicode code points")
        axes[0].set_title(
            "Article lengths per split (pale: raw page, solid: article body)", loc="left"
        )
        fig.tight_layout()
        return _png(fig)


def render_plots(inputs: PlotInputs) -> dict[str, bytes]:
    """Release-relative file name -> PNG bytes (the same bytes in any process)."""
    lengths = (
        article_lengths_png(inputs.listed)
        if inputs.listed is not None
        else _length_histogram_png(inputs.histogram)  # type: ignore[arg-type]
    )
    return {LABELS_PLOT: label_distribution_png(inputs), LENGTHS_PLOT: lengths}
