"""Per-annotator tables (from the raw exports) and the gold layer adjudicated from them.

The one place the build and ``validate`` get annotations from, so both always see the
same thing.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

import polars as pl

from sahelwire.annotations.gold_layer import GoldLayer
from sahelwire.annotations.tables import (
    AnnotationTables,
    FileRows,
    has_exports,
    load_source_shapes,
)
from sahelwire.io.paths import ProjectPaths
from sahelwire.schema.problems import Problem
from sahelwire.schema.taxonomy import Taxonomy


@dataclass(frozen=True)
class AnnotationLayers:
    annotations: pl.DataFrame
    regions: pl.DataFrame
    relations: pl.DataFrame
    choices: pl.DataFrame
    gold: GoldLayer
    problems: list[Problem] = field(default_factory=list)
    conflicts: list[dict[str, Any]] = field(default_factory=list)
    # Predictions stored on the tasks and their result rows (annotations.tables);
    # None when the layers were assembled without them.
    predictions: pl.DataFrame | None = None
    prediction_results: pl.DataFrame | None = None
    # Registry proposals typed in Label Studio (annotations.tables): listed, not published.
    proposals: list[dict[str, Any]] = field(default_factory=list)
    # Per export file, what its rows are a function of (annotations.tables.FileRows): the
    # input rules' memo keys each file by it (release.file_rule_cache).
    files: Mapping[str, FileRows] = field(default_factory=dict)


def load_annotation_layers(
    paths: ProjectPaths,
    taxonomy: Taxonomy,
    texts: Mapping[str, tuple[str, str]] | None = None,
) -> AnnotationLayers:
    """Read annotations/exports/ and adjudicate; an empty corpus of annotations is valid.

    ``texts`` (article id -> (text, manifest sha256)) saves re-reading dataset/raw when the
    caller (validation) has already read it.
    """
    # Anything in annotations/exports/ is read or refused: an `X.JSON` alone is not "no
    # annotations".
    if not has_exports(paths):
        return empty_layers(paths)
    from sahelwire.annotations.tables import read_annotation_tables

    return adjudicated(paths, taxonomy, read_annotation_tables(paths, taxonomy, texts=texts))


def iter_annotation_layers(
    paths: ProjectPaths,
    taxonomy: Taxonomy,
    texts: Mapping[str, tuple[str, str]] | None = None,
) -> Iterator[AnnotationLayers]:
    """:func:`load_annotation_layers` a chunk of export files at a time
    (``annotations.tables.read_annotation_chunks``), each chunk adjudicated alone: exact,
    since every article's annotations are in one file. At least one chunk."""
    if not has_exports(paths):
        yield empty_layers(paths)
        return
    from sahelwire.annotations.tables import read_annotation_chunks

    for tables in read_annotation_chunks(paths, taxonomy, texts=texts):
        yield adjudicated(paths, taxonomy, tables)


def empty_layers(paths: ProjectPaths) -> AnnotationLayers:
    empty = {name: pl.DataFrame(schema=s) for name, s in load_source_shapes(paths).items()}
    return AnnotationLayers(
        empty["annotations"],
        empty["regions"],
        empty["relations"],
        empty["choices"],
        GoldLayer.empty(),
        predictions=empty["predictions"],
        prediction_results=empty["prediction_results"],
    )


def adjudicated(
    paths: ProjectPaths, taxonomy: Taxonomy, tables: AnnotationTables
) -> AnnotationLayers:
    """The per-annotator ``tables`` with their gold layer."""
    from sahelwire.annotations.adjudication import adjudicate

    result = adjudicate(
        tables.annotations,
        tables.regions,
        tables.relations,
        tables.choices,
        paths.decisions_dir,
        taxonomy,
    )
    return AnnotationLayers(
        tables.annotations,
        tables.regions,
        tables.relations,
        tables.choices,
        result.gold,
        problems=[*tables.problems, *result.problems],
        conflicts=result.conflicts,
        predictions=tables.predictions,
        prediction_results=tables.prediction_results,
        proposals=tables.proposals,
        files=tables.files,
    )


# annotations_raw columns taken from the annotation each row belongs to.
RAW_META = (
    "article_id",
    "task_id",
    "annotation_id",
    "annotator",
    "cancelled",
    "created_at",
    "updated_at",
    "lead_time",
    "parent_prediction",
    "prediction_model_version",
)
# Provenance columns of annotations_raw that annotation rows do not have (prediction rows do).
_ANNOTATION_ROW_PROVENANCE: dict[str, Any] = {
    "source": ("annotation", pl.Utf8),
    "prediction_id": (None, pl.Int64),
    "prediction_score": (None, pl.Float64),
}
# One long row per region, relation or choice: the span fields take their types from the
# region table they come from (whose shape is schemas/tables.yaml's annotation_regions).
_SPAN_FIELDS = ("start", "end", "text", "entity_id", "event_id", "realis", "value", "unit")
_RAW_KEYS: dict[str, Any] = {
    "kind": pl.Utf8,
    "layer": pl.Utf8,
    "label": pl.Utf8,
    "region_id": pl.Utf8,
    "to_region_id": pl.Utf8,
}
RAW_SORT_KEY = (
    "article_id",
    "annotation_id",  # null on prediction rows: an article's predictions come first
    "prediction_id",  # null on annotation rows
    "kind",
    "layer",
    "region_id",
    "to_region_id",
    "label",
    "start",
    "end",
)


def raw_frame(layers: AnnotationLayers) -> pl.DataFrame:
    """The ``annotations_raw`` config: every region, relation and choice, per annotator.

    Sorted by :data:`RAW_SORT_KEY`, each value compared as its text zero-filled to 12
    characters (so ids and offsets sort numerically) and missing values first; built in
    polars because it has a row per region of every annotation.
    """
    meta_schema = {k: layers.annotations.schema[k] for k in RAW_META}
    raw_span = {
        **_RAW_KEYS,
        **{k: layers.regions.schema[k] for k in (*_SPAN_FIELDS, "approximate", "bound")},
    }
    provenance = [
        pl.lit(value, dtype=dtype).alias(name)
        for name, (value, dtype) in _ANNOTATION_ROW_PROVENANCE.items()
    ]
    predicted = _prediction_rows(layers, meta_schema, raw_span)
    if not layers.annotations.height and predicted is None:
        return pl.DataFrame(schema={**meta_schema, **raw_span}).with_columns(provenance)
    lit = pl.lit
    parts = [
        layers.regions.select(
            "annotation_id",
            lit("region").alias("kind"),
            *(k for k in raw_span if k not in ("kind", "to_region_id")),
        ),
        layers.relations.select(
            "annotation_id",
            lit("relation").alias("kind"),
            lit("relations").alias("layer"),
            "label",
            pl.col("from_region_id").alias("region_id"),
            "to_region_id",
        ),
        layers.choices.select(
            "annotation_id",
            lit("choice").alias("kind"),
            pl.col("field").alias("layer"),
            pl.col("value").alias("label"),
        ),
    ]
    spans = pl.concat(
        [
            part.with_columns(
                lit(None, dtype=dtype).alias(name)
                for name, dtype in raw_span.items()
                if name not in part.columns
            ).select(["annotation_id", *raw_span])
            for part in parts
            if part.height
        ]
        or [pl.DataFrame(schema={"annotation_id": pl.Int64, **raw_span})],
        how="vertical_relaxed",
    ).with_row_index("_order")
    meta = layers.annotations.select(RAW_META)
    columns = ["_order", *meta_schema, *raw_span, *_ANNOTATION_ROW_PROVENANCE]
    rows = (
        spans.join(meta, on="annotation_id", how="inner", suffix="_meta")
        .with_columns(provenance)
        .select(columns)
    )
    del spans, parts  # only one copy of the rows besides the sorted one (peak memory)
    if predicted is not None:
        shifted = predicted.with_columns(pl.col("_order") + rows.height)
        rows = pl.concat([rows, shifted.select(columns)], how="vertical_relaxed")
    # Each key as the dense rank of its zero-filled text: the same order, but sorting
    # millions of rows on small integers instead of strings.
    keys = [_sort_rank(rows, k).alias(f"_key{i}") for i, k in enumerate(RAW_SORT_KEY)]
    return (
        rows.with_columns(keys)
        .sort([*(f"_key{i}" for i in range(len(RAW_SORT_KEY))), "_order"])
        .select([*meta_schema, *raw_span, *_ANNOTATION_ROW_PROVENANCE])
    )


def _prediction_rows(
    layers: AnnotationLayers, meta_schema: dict[str, Any], raw_span: dict[str, Any]
) -> pl.DataFrame | None:
    """annotations_raw rows of the predictions' results (None when there are none).

    A prediction has no annotator, is never cancelled and records no lead time; its model
    version and score are the prediction's own.
    """
    results, predictions = layers.prediction_results, layers.predictions
    if results is None or predictions is None or not results.height:
        return None
    meta = predictions.select(
        "prediction_id",
        "task_id",
        "created_at",
        "updated_at",
        pl.col("model_version").alias("prediction_model_version"),
        pl.col("score").alias("prediction_score"),
    )
    rows = results.join(meta, on="prediction_id", how="inner").with_row_index("_order")
    missing = {
        "annotation_id": None,
        "annotator": None,
        "cancelled": False,
        "lead_time": None,
        "parent_prediction": None,
    }
    return rows.with_columns(
        pl.lit("prediction").alias("source"),
        *(pl.lit(v, dtype=meta_schema[k]).alias(k) for k, v in missing.items()),
        *(pl.col(k).cast(dtype) for k, dtype in raw_span.items()),
    ).select(["_order", *meta_schema, *raw_span, *_ANNOTATION_ROW_PROVENANCE])


def _sort_rank(frame: pl.DataFrame, name: str) -> pl.Expr:
    """Dense rank of ``"" if v is None else str(v).zfill(12)`` (missing values first)."""
    column = pl.col(name)
    if frame.schema[name].is_integer():
        low, high = frame[name].min(), frame[name].max()
        # Zero-filled decimal text sorts like the number for 0 <= v < 10**12.
        if low is None or (low >= 0 and high < 10**12):  # type: ignore[operator]
            return column.rank("dense").fill_null(0)
    return column.cast(pl.Utf8).str.zfill(12).fill_null("").rank("dense")
