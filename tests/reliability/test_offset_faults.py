"""Offsets on CRLF text and after astral characters: exact, or rejected, never shifted."""

from __future__ import annotations

import polars as pl

from helpers import ROOT, region, regions_frame
from sahelwire.labelstudio.offsets import codepoint_to_utf16, from_label_studio, to_label_studio
from sahelwire.schema.registries import Registries
from sahelwire.schema.span_rules import check_regions
from sahelwire.schema.taxonomy import load_taxonomy

TEXT = "Niamey\r\n\r\nThe junta 🤔 met US officials.\r\nTroops left Niger."
TAX = load_taxonomy(ROOT / "schemas/taxonomy.yaml")
EMPTY = Registries(
    pl.DataFrame(
        schema={
            "id": pl.Utf8,
            "name": pl.Utf8,
            "type": pl.Utf8,
            "aliases": pl.List(pl.Utf8),
            "wikidata": pl.Utf8,
            "description": pl.Utf8,
        }
    ),
    pl.DataFrame(
        schema={
            "id": pl.Utf8,
            "type": pl.Utf8,
            "date_start": pl.Utf8,
            "date_end": pl.Utf8,
            "description": pl.Utf8,
        }
    ),
)


def rules(row: dict[str, object]) -> list[str]:
    return [p.rule for p in check_regions(regions_frame([row]), {"a1": TEXT}, TAX, EMPTY, file="t")]


def test_span_after_crlf_and_emoji_round_trips_exactly() -> None:
    row = region(1, "a1", TEXT, "Niger", "entities", "GPE", "m1", occurrence=0)
    start, end = int(row["start"]), int(row["end"])  # type: ignore[call-overload]
    assert TEXT[start:end] == "Niger"
    assert rules(row) == []
    # through Label Studio's unit (measured: code points) and back, exactly
    assert from_label_studio(TEXT, *to_label_studio(TEXT, start, end)) == (start, end)
    # in UTF-16 (JavaScript string indices) the emoji counts twice: one unit further
    assert codepoint_to_utf16(TEXT, start) == start + 1


def test_offsets_computed_on_newline_normalised_text_are_rejected_not_shifted() -> None:
    # A tool that turned \r\n into \n before counting is two code points short here.
    row = region(1, "a1", TEXT, "Troops", "entities", "ORG", "m1")
    row.update(start=int(row["start"]) - 3, end=int(row["end"]) - 3)  # type: ignore[call-overload]
    assert "text[start:end] == span text" in rules(row)


def test_utf16_offsets_after_an_emoji_taken_as_code_points_are_rejected() -> None:
    row = region(1, "a1", TEXT, "met", "entities", "ORG", "m1")
    start, end = int(row["start"]), int(row["end"])  # type: ignore[call-overload]
    s16, e16 = codepoint_to_utf16(TEXT, start), codepoint_to_utf16(TEXT, end)
    row.update(start=s16, end=e16)
    assert "text[start:end] == span text" in rules(row)
