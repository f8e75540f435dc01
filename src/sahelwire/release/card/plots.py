"""The card's plots: gold label distributions per layer and split, and article lengths.

Read here from the published tables into :class:`~sahelwire.release.card.plot_drawing.PlotInputs`
and drawn by :mod:`sahelwire.release.card.plot_drawing`. The build writes them to dist/plots/
and the card embeds them with relative links, which resolve on the Hub and in a local build.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Mapping, Sequence
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc

from sahelwire.io.config import SPLITS
from sahelwire.io.paths import ProjectPaths
from sahelwire.release.card.columns import column_batches
from sahelwire.release.card.kept import LABEL_COUNTS, LENGTHS, Form, kept
from sahelwire.release.card.plot_drawing import (
    LABELS_PLOT,
    LENGTHS_PLOT,
    LISTED_ARTICLES,
    PlotInputs,
    length_histogram,
    render_plots,
)
from sahelwire.schema.table_specs import ARTICLE_ID
from sahelwire.schema.taxonomy import Taxonomy

# (id, split, len(text), len(clean_text)) per article: article_lengths.
LengthRows = list[tuple[str, str, int, int]]


def label_counts(
    documents: Mapping[str, pa.Table], taxonomy: Taxonomy
) -> dict[str, dict[str, Counter[str]]]:
    """layer -> split -> label name -> gold span count (from the documents config)."""
    out: dict[str, dict[str, Counter[str]]] = {}
    for layer in taxonomy.span_layers:
        out[layer.name] = {}
        for split in SPLITS:
            ids = span_label_counts(documents[split], layer.name)
            out[layer.name][split] = Counter(
                {name: ids[i] for i, name in enumerate(layer.label_names)}
            )
    return out


def span_label_counts(table: pa.Table, column: str) -> Counter[int]:
    """Class index -> number of spans in a list<struct{label}> column (counted in Arrow)."""
    total: Counter[int] = Counter()
    for batch in column_batches(table, [column]):
        counts = pc.value_counts(pc.struct_field(pc.list_flatten(batch.column(0)), "label"))
        total.update(
            dict(
                zip(
                    counts.field("values").to_pylist(),
                    counts.field("counts").to_pylist(),
                    strict=True,
                )
            )
        )
    return total


def article_lengths(documents: Mapping[str, pa.Table]) -> LengthRows:
    """(id, split, len(text), len(clean_text)) per article, in code points, sorted by id."""
    rows: LengthRows = []
    for split in SPLITS:
        for batch in column_batches(documents[split], [ARTICLE_ID, "text", "clean_text"]):
            rows += zip(
                batch.column(0).to_pylist(),
                [split] * batch.num_rows,
                pc.utf8_length(batch.column(1)).to_pylist(),
                pc.utf8_length(batch.column(2)).to_pylist(),
                strict=True,
            )
    return sorted(rows)


LENGTHS_SCHEMA = pa.schema(
    [("id", pa.string()), ("split", pa.string()), ("length", pa.int64()), ("clean", pa.int64())]
)


def _lengths_table(rows: LengthRows) -> pa.Table:
    return pa.table(
        {name: [row[i] for row in rows] for i, name in enumerate(LENGTHS_SCHEMA.names)},
        schema=LENGTHS_SCHEMA,
    )


def _length_rows(table: pa.Table) -> LengthRows:
    return list(zip(*(table.column(n).to_pylist() for n in LENGTHS_SCHEMA.names), strict=True))


LENGTHS_FORM: Form[LengthRows] = Form(_lengths_table, _length_rows, LENGTHS_SCHEMA)


def kept_article_lengths(
    paths: ProjectPaths, documents: Mapping[str, pa.Table], digests: Sequence[str]
) -> LengthRows:
    """:func:`article_lengths` of ``documents``, kept (:mod:`.kept`, ``card/lengths/``)
    under ``digests``, the sha256 of each ``documents`` file it reads (the build's own, as
    written or placed): a rebuild whose ``documents`` came out the same reads none of their
    texts for it (≈2.6 GB at 1M articles: 5–7 s)."""
    return kept(paths, LENGTHS, __name__, digests, lambda: article_lengths(documents), LENGTHS_FORM)


def _counts_json(counts: dict[str, dict[str, Counter[str]]]) -> Any:
    return {layer: {split: dict(c) for split, c in by.items()} for layer, by in counts.items()}


def kept_label_counts(
    paths: ProjectPaths,
    documents: Mapping[str, pa.Table],
    taxonomy: Taxonomy,
    digests: Sequence[str],
) -> dict[str, dict[str, Counter[str]]]:
    """:func:`label_counts`, kept (``card/label_counts/``) under ``digests`` (as for the
    lengths) and the layers' label names: every gold span list of ``documents`` is read
    for it (≈4 s of a 1M rebuild's card, py-spy)."""
    layers = [(layer.name, list(layer.label_names)) for layer in taxonomy.span_layers]

    def decode(value: Any) -> dict[str, dict[str, Counter[str]]] | None:
        # Rebuilt in the taxonomy's label order, as label_counts gives them; a value of
        # another shape (not written by this code) is computed again.
        try:
            return {
                name: {
                    split: Counter({label: int(value[name][split][label]) for label in labels})
                    for split in SPLITS
                }
                for name, labels in layers
            }
        except (KeyError, TypeError, ValueError):
            return None

    return kept(
        paths,
        LABEL_COUNTS,
        __name__,
        [*digests, json.dumps(layers)],
        lambda: label_counts(documents, taxonomy),
        Form(_counts_json, decode),
    )


def plot_inputs(
    taxonomy: Taxonomy,
    counts: dict[str, dict[str, Counter[str]]],
    lengths: LengthRows,
) -> PlotInputs:
    """``counts``: :func:`label_counts` of the documents; ``lengths``: their
    :func:`article_lengths` (read once for the plot and :func:`plots_section`: the texts are
    the largest columns, 2.6 GB at 1M articles)."""
    layers = tuple(
        (layer.name, layer.title, tuple(layer.label_names)) for layer in taxonomy.span_layers
    )
    if len(lengths) <= LISTED_ARTICLES:
        return PlotInputs(layers, counts, lengths, None)
    return PlotInputs(layers, counts, None, length_histogram(lengths))


def plot_files(
    documents: Mapping[str, pa.Table], taxonomy: Taxonomy, lengths: LengthRows
) -> dict[str, bytes]:
    """Release-relative file name -> PNG bytes, drawn in this process (``lengths``:
    :func:`article_lengths` of ``documents``)."""
    return render_plots(plot_inputs(taxonomy, label_counts(documents, taxonomy), lengths))


def plots_section(rows: LengthRows) -> str:
    """Markdown embedding the plots, with the length figures (``rows``:
    :func:`article_lengths`) as a table too."""
    from sahelwire.io.markdown import markdown_table

    head = (
        f"![Gold label distribution per layer and split]({LABELS_PLOT})\n\n"
        f"![Article lengths, raw page vs article body]({LENGTHS_PLOT})\n\n"
    )
    if len(rows) <= LISTED_ARTICLES:
        return (
            head
            + "Article lengths (Unicode code points):\n\n"
            + markdown_table(["article", "split", "text", "clean_text"], [list(r) for r in rows])
        )
    summary = []
    for split in SPLITS:
        mine = [r for r in rows if r[1] == split]
        for col, name in ((2, "text"), (3, "clean_text")):
            values = sorted(r[col] for r in mine)
            if values:
                summary.append(
                    [split, name, len(values), values[0], values[len(values) // 2], values[-1]]
                )
    return (
        head
        + f"Article lengths (Unicode code points; {len(rows)} articles, too many to list):\n\n"
        + markdown_table(["split", "column", "articles", "min", "median", "max"], summary)
    )
