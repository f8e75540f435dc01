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

from bisect import bisect_right
from collections import defaultdict

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
    zones: dict[str, list[tuple[int, int]]] = defaultdict(list)
    for row in gold_regions.filter(pl.col("layer") == "zones").iter_rows(named=True):
        zones[row["article_id"]].append((row["start"], row["end"]))
    problems: list[Problem] = []
    boundaries = {a: sorted({p for z in zs for p in z}) for a, zs in zones.items()}
    for row in gold_regions.filter(pl.col("layer") != "zones").iter_rows(named=True):
        points = boundaries.get(row["article_id"], [])
        # A zone boundary strictly inside the span puts the span in two zones.
        k = bisect_right(points, row["start"])
        if k < len(points) and points[k] < row["end"]:
            problems.append(
                Problem(
                    file=file,
                    record=f"{row['article_id']}/{row['region_key']}",
                    field="start/end",
                    rule="a span lies inside one zone or inside the body",
                    value=[row["start"], row["end"]],
                    message=f"a zone starts or ends at {points[k]}, inside {row['text']!r}",
                )
            )
    return problems
