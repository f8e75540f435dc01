"""Held-out facts of the five seed articles, checked in the published gold (issue 16's bar).

Written by a reader who did not annotate: each fact below was read off the raw text
(`dataset/raw/texts/`) and decided by guidelines v2, the rule cited next to it, before the
adjudicated gold was built. The gold must hold every one of them; a failure means the gold
(or the rule) is wrong, never that the fact should be changed to match. Read back from the
built Parquet files like a user would read them.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from helpers import ROOT, built_dist, parquet_rows
from sahelwire.io.paths import ProjectPaths
from sahelwire.raw.manifest import load_articles
from sahelwire.schema.taxonomy import load_taxonomy

TAX = load_taxonomy(ROOT / "schemas/taxonomy.yaml")
TEXTS = {a.id[:3]: a.text for a in load_articles(ProjectPaths(ROOT))}


@pytest.fixture(scope="module")
def dist(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return built_dist(tmp_path_factory.mktemp("facts"))


def _name(path: str, value: int) -> str:
    return TAX.class_names(path)[value]


def _find(rows: list[dict[str, Any]], article: str, text: str, context: str) -> dict[str, Any]:
    """The one row of ``article`` whose span is ``text`` inside the passage ``context``."""
    full = TEXTS[article]
    at = full.index(context)
    hits = [
        r
        for r in rows
        if r["article_id"].startswith(article)
        and r["text"] == text
        and at <= r["start"] < at + len(context)
    ]
    assert len(hits) == 1, (article, text, context, hits)
    return hits[0]


QUANTITIES = [
    # article, text, context, type, value, unit, bound, approximate (GUIDELINES §4)
    ("000", "over 70 soldiers", "resulted in the death of over 70 soldiers",
     "FATALITIES", 70, "people", "MORE_THAN", False),
    ("001", "around 650 troops", "still had around 650 troops in Niger",
     "TROOPS", 650, "people", "POINT", True),
    ("001", "around 1,000", "including civilians and contractors, is around 1,000",
     "PERSONNEL", 1000, "people", "POINT", True),
    ("002", "approximately 1,000 troops", "maintains approximately 1,000 troops in Niger",
     "TROOPS", 1000, "people", "POINT", True),
    ("002", "$100 million", "constructed at a cost of $100 million",
     "MONEY", 100_000_000, "USD", "POINT", False),
    ("002", "four months later", "just four months later, Bazoum was deposed",
     "TIME_OFFSET", 4, "months", "POINT", False),
]  # fmt: skip


@pytest.mark.parametrize(
    ("article", "text", "context", "qtype", "value", "unit", "bound", "approx"), QUANTITIES
)
def test_quantity_claims(
    dist: Path, article: str, text: str, context: str, qtype: str, value: float,
    unit: str, bound: str, approx: bool,
) -> None:  # fmt: skip
    row = _find(parquet_rows(dist, "quantities"), article, text, context)
    assert _name("span_layers.quantities", row["quantity_type"]) == qtype
    assert row["value"] == value
    assert _name("span_layers.quantities.attributes.unit", row["unit"]) == unit
    assert _name("span_layers.quantities.attributes.bound", row["bound"]) == bound
    assert row["approximate"] is approx


def test_a_caption_figure_is_the_captions_once_and_a_bound(dist: Path) -> None:
    # §4: annotated in the first caption copy with its zone, not in the duplicate copy
    rows = [
        r for r in parquet_rows(dist, "quantities")
        if r["article_id"].startswith("003") and r["text"] == "at least 3,500 soldiers"
    ]  # fmt: skip
    assert len(rows) == 1
    row = rows[0]
    assert _name("zone:span_layers.zones", row["zone"]) == "CAPTION"
    assert _name("span_layers.quantities.attributes.bound", row["bound"]) == "AT_LEAST"
    assert row["approximate"] is False


EVENTS = [
    # article, trigger, context, type, realis, event_id (GUIDELINES §3.3, §3.4)
    ("001", "remain", "could no longer remain in the country",
     "FORCE_POSTURE", "NEGATED", "evt_us_troop_presence"),  # §3.4 rule 2: not the withdrawal
    ("001", "leave", "a directive ordering them to leave the country",
     "FORCE_POSTURE", "PLANNED", "evt_us_troop_withdrawal"),  # ordered: PLANNED
    ("002", "withdrawal", "has not demanded the withdrawal of US forces",
     "FORCE_POSTURE", "HYPOTHETICAL", "evt_us_troop_withdrawal"),  # under a negated demand
    ("002", "deposed", "Bazoum was deposed by the military",
     "COUP", "ACTUAL", "evt_niger_coup"),
    ("003", "withdraw", "has not yet issued orders for US troops to withdraw from Niger",
     "FORCE_POSTURE", "HYPOTHETICAL", "evt_us_troop_withdrawal"),  # under a negated order
    ("004", "Withdraw", "Agrees to Withdraw Troops from Niger",
     "FORCE_POSTURE", "PLANNED", "evt_us_troop_withdrawal"),  # agreed: PLANNED
]  # fmt: skip


@pytest.mark.parametrize(("article", "text", "context", "etype", "realis", "event_id"), EVENTS)
def test_event_mentions(
    dist: Path, article: str, text: str, context: str, etype: str, realis: str, event_id: str
) -> None:
    row = _find(parquet_rows(dist, "events"), article, text, context)
    assert _name("span_layers.events", row["event_type"]) == etype
    assert _name("span_layers.events.attributes.realis", row["realis"]) == realis
    assert row["event_id"] == event_id


@pytest.mark.parametrize(
    ("article", "trigger", "context", "role", "target"),
    [
        # §3.5: every role a tagged mention of the same sentence fills; TIME to a TIME_OFFSET
        ("002", "deposed", "Bazoum was deposed by the military", "TIME", "four months later"),
        ("002", "deposed", "Bazoum was deposed by the military", "PATIENT", "Bazoum"),
        ("004", "Withdraw", "Agrees to Withdraw Troops from Niger", "PLACE", "Niger"),
    ],
)
def test_event_arguments(
    dist: Path, article: str, trigger: str, context: str, role: str, target: str
) -> None:
    row = _find(parquet_rows(dist, "events"), article, trigger, context)
    args = {(_name("span_layers.events.relations", a["role"]), a["text"]) for a in row["arguments"]}
    assert (role, target) in args, args


def test_one_delegation_event_across_articles_and_no_retired_id(dist: Path) -> None:
    # §3.4 rule 4: 001, 002 and 003 describe one delegation (they share Molly Phee)
    events = parquet_rows(dist, "events")
    with_id = {
        r["article_id"][:3] for r in events if r["event_id"] == "evt_phee_delegation_meeting"
    }
    assert {"001", "002", "003"} <= with_id
    assert not [r for r in events if r["event_id"] == "evt_langley_delegation_visit"]


def test_every_article_has_two_annotators_and_001_has_no_headline(dist: Path) -> None:
    docs = {r["article_id"][:3]: r for r in parquet_rows(dist, "documents")}
    assert {k: d["n_annotators"] for k, d in docs.items()} == dict.fromkeys(TEXTS, 2)
    zones = [_name("span_layers.zones", z["label"]) for z in docs["001"]["zones"]]
    assert "HEADLINE" not in zones  # §1: the page has no title line
