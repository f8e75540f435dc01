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
    LengthRow,
    PlotInputs,
    length_histogram,
    render_plots,
)
from sahelwire.schema.table_specs import ARTICLE_ID
from sahelwire.schema.taxonomy import Taxonomy

# (id, split, len(text), len(clean_text), annotated) per article: article_lengths.
LengthRows = list[LengthRow]


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
    """(id, split, len(text), len(clean_text), annotated) per article, in code points,
    sorted by id. ``annotated``: ``n_annotators`` > 0; a raw-only article has no zones
    marked, so its clean_text is not an article body (the card says so)."""
    rows: LengthRows = []
    columns = [ARTICLE_ID, "text", "clean_text", "n_annotators"]
    for split in SPLITS:
        for batch in column_batches(documents[split], columns):
            rows += zip(
                batch.column(0).to_pylist(),
                [split] * batch.num_rows,
                pc.utf8_length(batch.column(1)).to_pylist(),
                pc.utf8_length(batch.column(2)).to_pylist(),
                pc.greater(batch.column(3), 0).to_pylist(),
                strict=True,
            )
    return sorted(rows)


LENGTHS_SCHEMA = pa.schema(
    [
        ("id", pa.string()),
        ("split", pa.string()),
        ("length", pa.int64()),
        ("clean", pa.int64()),
        ("annotated", pa.bool_()),
    ]
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
    raw_only = [r[0] for r in rows if not r[4]]
    if len(rows) <= LISTED_ARTICLES:
        listed = [
            [i, split, n, f"{clean}" if annotated else f"{clean} {NOT_ANNOTATED}"]
            for i, split, n, clean, annotated in rows
        ]
        return (
            head
            + f"Article lengths (Unicode code points; all {len(rows)} articles of `documents`):\n\n"
            + markdown_table(["article", "split", "text", "clean_text"], listed)
            + _raw_only_sentence(raw_only, len(rows), listed=True)
        )
    summary = []
    for split in SPLITS:
        mine = [r for r in rows if r[1] == split]
        # A raw-only article's clean_text is not a body: the body figures leave it out.
        for col, name in ((2, "text"), (3, "clean_text")):
            values = sorted(r[col] for r in mine if col == 2 or r[4])
            if values:
                summary.append(
                    [split, name, len(values), values[0], values[len(values) // 2], values[-1]]
                )
    return (
        head
        + f"Article lengths (Unicode code points; {len(rows)} articles, too many to list):\n\n"
        + markdown_table(["split", "column", "articles", "min", "median", "max"], summary)
        + _raw_only_sentence(raw_only, len(rows), listed=False)
    )


NOT_ANNOTATED = "(not annotated: no zones removed)"
# Raw-only articles named in the sentence at most; past it, the count alone.
NAMED_RAW_ONLY = 10


def _raw_only_sentence(raw_only: list[str], n: int, *, listed: bool) -> str:
    """What a raw-only article's clean_text is: the table and the plot give clean_text as
    the article body, which an article with no zones marked does not have."""
    if not raw_only:
        return ""
    names = ", ".join(f"`{a}`" for a in raw_only[:NAMED_RAW_ONLY])
    more = f" and {len(raw_only) - NAMED_RAW_ONLY} more" if len(raw_only) > NAMED_RAW_ONLY else ""
    one = len(raw_only) == 1
    it, its = ("it", "its") if one else ("them", "their")
    left_out = "" if listed else f" The clean_text figures above leave {it} out."
    return (
        f"\n{len(raw_only)} of the {n} articles ({names}{more}) "
        f"{'is' if one else 'are'} not annotated yet (`n_annotators` 0): no zones are marked "
        f"in {it}, so {its} `clean_text` is not an article body (no navigation, promotion or "
        f"reader comments were removed from {it}), and the plot draws no body bar for {it}."
        f"{left_out}\n"
    )
