"""The card's plots: gold label distributions per layer and split, and article lengths.

Read here from the published tables into :class:`~sahelwire.release.card.plot_drawing.PlotInputs`
and drawn by :mod:`sahelwire.release.card.plot_drawing`. The build writes them to dist/plots/
and the card embeds them with relative links, which resolve on the Hub and in a local build.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping, Sequence
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc

from sahelwire.annotations.memo_keys import memo_fingerprint
from sahelwire.io.article_packs import ArticlePacks
from sahelwire.io.config import SPLITS
from sahelwire.io.paths import ProjectPaths
from sahelwire.release.card.columns import column_batches
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


def article_lengths(documents: Mapping[str, pa.Table]) -> list[tuple[str, str, int, int]]:
    """(id, split, len(text), len(clean_text)) per article, in code points, sorted by id."""
    rows: list[tuple[str, str, int, int]] = []
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


LENGTHS = "lengths"
LENGTHS_SCHEMA = pa.schema(
    [("id", pa.string()), ("split", pa.string()), ("length", pa.int64()), ("clean", pa.int64())]
)


def lengths_folder(paths: ProjectPaths) -> Path:
    return paths.state_dir / "cache" / "card" / LENGTHS


def kept_article_lengths(
    paths: ProjectPaths, documents: Mapping[str, pa.Table], digests: Sequence[str]
) -> list[tuple[str, str, int, int]]:
    """:func:`article_lengths` of ``documents``, kept (``.sahelwire/cache/card/lengths/``)
    under ``digests``, the sha256 of each ``documents`` file it reads (the build's own, as
    written or placed), and this code's fingerprint: a rebuild whose ``documents`` came out
    the same reads none of their texts for it (≈2.6 GB at 1M articles: 5–7 s). Computed
    each time with the memos off (``SAHELWIRE_ARTICLE_CACHE=off``)."""
    fingerprint = memo_fingerprint(paths, __name__)
    if fingerprint is None:
        return article_lengths(documents)
    packs = ArticlePacks(lengths_folder(paths), fingerprint, {LENGTHS: LENGTHS_SCHEMA})
    key = packs.key(*digests)
    pack = packs.load()
    if pack is not None:
        try:
            entry = pack.entries.get(LENGTHS)
            if isinstance(entry, dict) and entry.get("key") == key:
                first, n = entry["rows"][LENGTHS]
                kept = pack.tables[LENGTHS].slice(first, n) if n else LENGTHS_SCHEMA.empty_table()
                packs.stats.hits += 1
                columns = [kept.column(name).to_pylist() for name in LENGTHS_SCHEMA.names]
                return list(zip(*columns, strict=True))
        finally:
            pack.close()
    lengths = article_lengths(documents)
    packs.stats.misses += 1
    table = pa.table(
        {name: [row[i] for row in lengths] for i, name in enumerate(LENGTHS_SCHEMA.names)},
        schema=LENGTHS_SCHEMA,
    )
    packs.write({LENGTHS: [table]}, {LENGTHS: {"key": key, "rows": {LENGTHS: [0, len(lengths)]}}})
    return lengths


def plot_inputs(
    documents: Mapping[str, pa.Table],
    taxonomy: Taxonomy,
    lengths: list[tuple[str, str, int, int]],
) -> PlotInputs:
    """``lengths``: :func:`article_lengths` of ``documents`` (read once for the plot and
    :func:`plots_section`: the texts are the largest columns, 2.6 GB at 1M articles)."""
    layers = tuple(
        (layer.name, layer.title, tuple(layer.label_names)) for layer in taxonomy.span_layers
    )
    if len(lengths) <= LISTED_ARTICLES:
        return PlotInputs(layers, label_counts(documents, taxonomy), lengths, None)
    return PlotInputs(layers, label_counts(documents, taxonomy), None, length_histogram(lengths))


def plot_files(
    documents: Mapping[str, pa.Table],
    taxonomy: Taxonomy,
    lengths: list[tuple[str, str, int, int]],
) -> dict[str, bytes]:
    """Release-relative file name -> PNG bytes, drawn in this process (``lengths``:
    :func:`article_lengths` of ``documents``)."""
    return render_plots(plot_inputs(documents, taxonomy, lengths))


def plots_section(rows: list[tuple[str, str, int, int]]) -> str:
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
