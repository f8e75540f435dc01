"""Per-annotator tables (from the raw exports) and the gold layer adjudicated from them.

The one place the build and ``validate`` get annotations from, so both always see the
same thing.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import polars as pl

from sahelwire.annotation_tables import ANNOTATION_COLUMNS
from sahelwire.gold_layer import GoldLayer
from sahelwire.paths import ProjectPaths
from sahelwire.problems import Problem
from sahelwire.taxonomy import Taxonomy


@dataclass(frozen=True)
class AnnotationLayers:
    annotations: pl.DataFrame
    regions: pl.DataFrame
    relations: pl.DataFrame
    choices: pl.DataFrame
    gold: GoldLayer
    problems: list[Problem] = field(default_factory=list)
    conflicts: list[dict[str, Any]] = field(default_factory=list)


def _has_exports(paths: ProjectPaths) -> bool:
    return paths.exports_dir.is_dir() and any(paths.exports_dir.glob("*.json"))


def load_annotation_layers(
    paths: ProjectPaths,
    taxonomy: Taxonomy,
    texts: Mapping[str, tuple[str, str]] | None = None,
) -> AnnotationLayers:
    """Read annotations/exports/ and adjudicate; an empty corpus of annotations is valid.

    ``texts`` (article id -> (text, manifest sha256)) saves re-reading dataset/raw when the
    caller (validation) has already read it.
    """
    if not _has_exports(paths):
        empty = pl.DataFrame(schema=ANNOTATION_COLUMNS)
        return AnnotationLayers(
            empty, pl.DataFrame(), pl.DataFrame(), pl.DataFrame(), GoldLayer.empty()
        )
    from sahelwire.adjudication import adjudicate
    from sahelwire.annotation_tables import read_annotation_tables

    tables = read_annotation_tables(paths, taxonomy, texts=texts)
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
    )


def raw_rows(layers: AnnotationLayers) -> list[dict[str, Any]]:
    """Rows of the ``annotations_raw`` config: every region, relation and choice, per annotator."""
    if not layers.annotations.height:
        return []
    meta = {r["annotation_id"]: r for r in layers.annotations.iter_rows(named=True)}
    base_keys = (
        "article_id",
        "task_id",
        "annotation_id",
        "annotator",
        "cancelled",
        "created_at",
        "updated_at",
        "lead_time",
        "prediction_model_version",
    )
    empty = dict.fromkeys(
        (
            "region_id",
            "to_region_id",
            "start",
            "end",
            "text",
            "entity_id",
            "event_id",
            "realis",
            "value",
            "unit",
            "approximate",
        )
    )
    rows = []
    for r in layers.regions.iter_rows(named=True):
        m = meta[r["annotation_id"]]
        rows.append(
            {
                **{k: m[k] for k in base_keys},
                **empty,
                "kind": "region",
                "layer": r["layer"],
                "label": r["label"],
                **{
                    k: r[k]
                    for k in (
                        "region_id",
                        "start",
                        "end",
                        "text",
                        "entity_id",
                        "event_id",
                        "realis",
                        "value",
                        "unit",
                        "approximate",
                    )
                },
            }
        )
    for r in layers.relations.iter_rows(named=True):
        m = meta[r["annotation_id"]]
        rows.append(
            {
                **{k: m[k] for k in base_keys},
                **empty,
                "kind": "relation",
                "layer": "relations",
                "label": r["label"],
                "region_id": r["from_region_id"],
                "to_region_id": r["to_region_id"],
            }
        )
    for r in layers.choices.iter_rows(named=True):
        m = meta[r["annotation_id"]]
        rows.append(
            {
                **{k: m[k] for k in base_keys},
                **empty,
                "kind": "choice",
                "layer": r["field"],
                "label": r["value"],
            }
        )
    return rows
