"""The rules the gold layer must meet, in one place: ``validate`` and ``build`` apply them to
the gold they adjudicate, and ``review --pull`` / ``review --submit`` to the gold a review would
give, before writing a decision (a review that accepted an item overlapping a majority's was
written, and then validate, adjudicate and build refused)."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

import polars as pl

from sahelwire.annotations.gold_layer import GoldLayer
from sahelwire.schema.problems import Problem
from sahelwire.schema.publish_rules import check_units, check_zone_containment
from sahelwire.schema.registries import Registries
from sahelwire.schema.span_rules import check_regions, check_relations
from sahelwire.schema.taxonomy import Taxonomy


def gold_span_problems(
    gold: GoldLayer, taxonomy: Taxonomy, spans: Callable[..., list[Problem]]
) -> list[Problem]:
    """The span and relation rules on the gold (``spans``: check_regions with its texts and
    registries). One definition for validate/build and for ``review --pull``, which checks
    the gold a review would give before it writes a decision (a review that accepted an item
    overlapping a majority's was written, and then validate, adjudicate and build refused)."""
    return [
        *spans(gold.regions, file="gold", id_col="region_key", group_col="article_id"),
        *check_relations(
            gold.relations,
            gold.regions,
            taxonomy,
            file="gold",
            from_col="from_key",
            to_col="to_key",
            id_col="region_key",
            group_col="article_id",
        ),
    ]


def gold_published_problems(gold: GoldLayer, taxonomy: Taxonomy) -> list[Problem]:
    """What the published views need of the gold: controlled units, one zone per span."""
    return [
        *check_units(gold.regions, taxonomy, file="gold", id_col="region_key", group_col="layer"),
        *check_zone_containment(gold.regions),
    ]


def gold_rule_problems(
    gold: GoldLayer, texts: Mapping[str, str], taxonomy: Taxonomy, registries: Registries
) -> list[Problem]:
    """Every rule validate applies to the gold (:func:`gold_span_problems`,
    :func:`gold_published_problems`), for a gold computed outside validate."""

    def spans(regions: pl.DataFrame, **options: Any) -> list[Problem]:
        return check_regions(regions, texts, taxonomy, registries, **options)

    return [*gold_span_problems(gold, taxonomy, spans), *gold_published_problems(gold, taxonomy)]
