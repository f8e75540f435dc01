"""The gold layer: the adjudicated annotations that the published configs carry.

Flat polars frames joined to articles by ``article_id`` only at build time (dolma's
parallel-tables design). ``sahelwire.annotations.adjudication`` produces it from the per-annotator
tables; an article nobody annotated has no rows and ``n_annotators`` 0.
"""

from __future__ import annotations

from dataclasses import dataclass

import polars as pl

from sahelwire.schema.span_rules import region_schema

# region_key is stable within an article: layer:label:start:end
REGION_SCHEMA = region_schema("article_id", "region_key")
RELATION_SCHEMA = {
    "article_id": pl.Utf8,
    "from_key": pl.Utf8,
    "to_key": pl.Utf8,
    "label": pl.Utf8,
}
CHOICE_SCHEMA = {"article_id": pl.Utf8, "field": pl.Utf8, "value": pl.Utf8}
STATUS_SCHEMA = {"article_id": pl.Utf8, "n_annotators": pl.Int32}


@dataclass(frozen=True)
class GoldLayer:
    regions: pl.DataFrame
    relations: pl.DataFrame
    choices: pl.DataFrame
    status: pl.DataFrame

    @classmethod
    def empty(cls) -> GoldLayer:
        return cls(
            regions=pl.DataFrame(schema=REGION_SCHEMA),
            relations=pl.DataFrame(schema=RELATION_SCHEMA),
            choices=pl.DataFrame(schema=CHOICE_SCHEMA),
            status=pl.DataFrame(schema=STATUS_SCHEMA),
        )


def region_key(layer: str, label: str, start: int, end: int) -> str:
    """Identity of a gold region within its article (annotator-independent)."""
    return f"{layer}:{label}:{start}:{end}"
