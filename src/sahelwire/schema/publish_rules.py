"""Rules the published views need from the annotations, beyond ANNOTATION.md's span rules.

- **Units:** a quantity's unit is a unit name or alias of the taxonomy's controlled list,
  so the published ``unit`` is a ClassLabel and "troops", "soldiers" and "people" are one
  unit (what kind of people is the label).
- **Zones:** an entity, event or quantity span lies inside one zone, or inside the body
  (no zone). Every published span row carries its zone, and ``ner_bio`` rows never cross a
  zone boundary, so a span across one would have two zones and be cut in two.

Both ``validate`` and ``build`` run these (``release.validation.validate_annotations``),
so they agree on every input.
"""

from __future__ import annotations

import polars as pl

from sahelwire.schema.problems import Problem
from sahelwire.schema.taxonomy import Taxonomy


def check_units(
    regions: pl.DataFrame,
    taxonomy: Taxonomy,
    *,
    file: str,
    id_col: str = "region_id",
    group_col: str = "annotation_id",
) -> list[Problem]:
    """Every quantity unit maps to the taxonomy's controlled unit list."""
    unit = (
        taxonomy.layer("quantities").attribute("unit")
        if "quantities" in taxonomy.layer_names
        else None
    )
    if unit is None or not unit.units or not regions.height or "unit" not in regions.columns:
        return []
    typed = regions.filter((pl.col("layer") == "quantities") & pl.col("unit").is_not_null())
    names = ", ".join(u.name for u in unit.units)
    return [
        Problem(
            file=str(row.get("source_file") or file),
            record=f"{row['article_id']}/{row[group_col]}/{row[id_col]}",
            field="unit",
            rule="unit in the taxonomy's controlled unit list (a name or an alias)",
            value=row["unit"],
            message=f"units: {names}; add a unit or alias to schemas/taxonomy.yaml if one is missing",
        )
        for row in typed.iter_rows(named=True)
        if unit.unit_of(row["unit"]) is None
    ]


def check_zone_containment(gold_regions: pl.DataFrame, *, file: str = "gold") -> list[Problem]:
    """Every gold entity, event and quantity span lies inside one zone or inside the body."""
    if not gold_regions.height:
        return []
    is_zone = pl.col("layer") == "zones"
    points = (
        gold_regions.filter(is_zone)
        .select("article_id", pl.concat_list("start", "end").alias("_point"))
        .explode("_point")
        .unique()
        .sort("_point")
    )
    # A zone boundary strictly inside the span puts the span in two zones: the first boundary
    # after its start (an as-of join, per article) lies before its end. Offsets are integers.
    spans = (
        gold_regions.filter(~is_zone)
        .with_row_index("_row")
        .with_columns((pl.col("start") + 1).alias("_after"))
        .sort("_after")
    )
    crossed = (
        spans.join_asof(
            points.with_columns(pl.col("_point").cast(spans.schema["_after"])),
            left_on="_after",
            right_on="_point",
            by="article_id",
            strategy="forward",
            # Both sides are sorted on the key just above; polars cannot check it per group.
            check_sortedness=False,
        )
        .filter(pl.col("_point") < pl.col("end"))
        .sort("_row")
    )
    return [
        Problem(
            file=file,
            record=f"{row['article_id']}/{row['region_key']}",
            field="start/end",
            rule="a span lies inside one zone or inside the body",
            value=[row["start"], row["end"]],
            message=f"a zone starts or ends at {row['_point']}, inside {row['text']!r}",
        )
        for row in crossed.iter_rows(named=True)
    ]
