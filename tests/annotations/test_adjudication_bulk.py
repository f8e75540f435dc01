"""The bulk path for several annotators gives exactly what the article-by-article path gives.

``adjudication.BULK_MAJORITY`` off runs the reference (every article one by one); on, the
articles a strict majority settles alone go through polars. Both on the committed project, a
synthetic one and hand-made frames with every case the bulk path must leave to the reference.
"""

from __future__ import annotations

import sys
from collections.abc import Collection
from pathlib import Path
from typing import Any

import polars as pl
import pytest
from polars.testing import assert_frame_equal

from helpers import ROOT, region, regions_frame, run_cli
from sahelwire.annotations import adjudication
from sahelwire.annotations.adjudication import Adjudication, adjudicate
from sahelwire.annotations.tables import read_annotation_tables
from sahelwire.io.paths import ProjectPaths
from sahelwire.schema.taxonomy import load_taxonomy

sys.path.insert(0, str(ROOT / "scripts"))
import bench

TAX = load_taxonomy(ROOT / "schemas/taxonomy.yaml")
TEXT = "Niger's junta met Molly Phee in Niamey. Washington said 1,000 troops left."


def both_paths(
    monkeypatch: pytest.MonkeyPatch, *args: Any, **kwargs: Any
) -> tuple[Adjudication, Adjudication]:
    """(reference, bulk) results of ``adjudicate(*args, **kwargs)``, asserted identical."""
    monkeypatch.setattr(adjudication, "BULK_MAJORITY", False)
    want = adjudicate(*args, **kwargs)
    monkeypatch.setattr(adjudication, "BULK_MAJORITY", True)
    got = adjudicate(*args, **kwargs)
    for name in ("regions", "relations", "choices", "status"):
        # Same rows, order and dtypes (NaN equal to NaN: a NaN value is a value).
        assert_frame_equal(getattr(got.gold, name), getattr(want.gold, name), check_exact=True)
    # repr: a NaN attribute makes a conflict's values unequal to themselves; repr still tells
    # 1 from 1.0 and every key, value and position apart.
    assert repr(got.conflicts) == repr(want.conflicts)
    assert repr(got.problems) == repr(want.problems)
    return want, got


def bulk_articles(
    annotations: pl.DataFrame,
    regions: pl.DataFrame,
    relations: pl.DataFrame,
    choices: pl.DataFrame,
    decisions_dir: Path,
    decided: Collection[str] = (),
) -> set[str]:
    """The articles of several annotators the bulk path takes (to prove it is exercised)."""
    counted, _ = adjudication._latest(annotations)
    with_decisions = adjudication._with_decisions(decisions_dir, decided)
    single = adjudication._single_annotations(counted, regions, with_decisions)
    clean, _ = adjudication._majority_gold(
        counted, set(single) | with_decisions, regions, relations, choices
    )
    return clean


def test_same_gold_on_the_committed_project(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    paths = ProjectPaths(ROOT)
    t = read_annotation_tables(paths, TAX)
    tables = (t.annotations, t.regions, t.relations, t.choices)
    want, _ = both_paths(monkeypatch, *tables, paths.decisions_dir, TAX)
    assert want.gold.regions.height and want.conflicts
    # Without its decisions every article is a candidate of the bulk path; unsettled
    # conflicts must still come out the same, in the same order.
    undecided, _ = both_paths(monkeypatch, *tables, tmp_path, TAX)
    assert undecided.problems


@pytest.mark.slow
def test_same_gold_on_a_synthetic_project(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    root = bench.make_project(tmp_path, 2000, seed=17, stages=("build",))
    assert run_cli(root, "ingest", str(tmp_path / "corpus" / "articles.jsonl")).returncode == 0
    paths = ProjectPaths(root)
    t = read_annotation_tables(paths, TAX)
    tables = (t.annotations, t.regions, t.relations, t.choices)
    want, _ = both_paths(monkeypatch, *tables, paths.decisions_dir, TAX)
    several = set(want.gold.status.filter(pl.col("n_annotators") > 1)["article_id"])
    assert several and want.gold.relations.height and want.gold.choices.height
    # The generator's annotators agree: every article of several annotators goes in bulk.
    assert bulk_articles(*tables, paths.decisions_dir) == several
    # Disagreements on real-shaped rows, in a quarter of the articles each: the first region
    # of one annotation dropped (a minority region, relations losing an end) or given another
    # entity id (a tie, or outvoted); the other half untouched.
    group = pl.col("article_id").rank("dense") % 4
    one = pl.col("annotation_id") == pl.col("annotation_id").min().over("article_id")
    first = one & (pl.int_range(pl.len()).over("annotation_id") == 0)
    regions = t.regions.filter(~(first & (group == 0))).with_columns(
        pl.when(first & (group == 1)).then(pl.lit("Q0")).otherwise("entity_id").alias("entity_id")
    )
    mixed = (t.annotations, regions, t.relations, t.choices)
    want, _ = both_paths(monkeypatch, *mixed, paths.decisions_dir, TAX)
    clean = bulk_articles(*mixed, paths.decisions_dir)
    conflicted = {c["article_id"] for c in want.conflicts if c["kind"] == "conflict"}
    assert 0 < len(clean) < len(several) and conflicted and conflicted.isdisjoint(clean)


# -- hand-made frames: one article per case ---------------------------------------------------

ANN_COLUMNS = ("annotation_id", "article_id", "annotator", "cancelled", "updated_at")


class Corpus:
    """Annotations, regions, relations and choices of hand-made articles."""

    def __init__(self) -> None:
        self.annotations: list[dict[str, Any]] = []
        self.regions: list[dict[str, object]] = []
        self.relations: list[dict[str, Any]] = []
        self.choices: list[dict[str, Any]] = []
        self.next_id = 1

    def annotation(
        self, article: str, who: str, *, cancelled: bool = False, when: str = "2024-01-01"
    ) -> int:
        aid, self.next_id = self.next_id, self.next_id + 1
        self.annotations.append(
            {
                "annotation_id": aid,
                "task_id": 1,
                "article_id": article,
                "annotator": who,
                "cancelled": cancelled,
                "updated_at": when,
            }
        )
        return aid

    def region(
        self, aid: int, needle: str, layer: str, label: str, rid: str | None, **attrs: object
    ) -> None:
        ann = next(a for a in self.annotations if a["annotation_id"] == aid)
        row = region(aid, ann["article_id"], TEXT, needle, layer, label, "", ann["annotator"])
        self.regions.append({**row, "region_id": rid, **attrs})

    def relation(self, aid: int, src: str, dst: str | None, label: str | None) -> None:
        ann = next(a for a in self.annotations if a["annotation_id"] == aid)
        self.relations.append(
            {
                "annotation_id": aid,
                "article_id": ann["article_id"],
                "annotator": ann["annotator"],
                "from_region_id": src,
                "to_region_id": dst,
                "label": label,
            }
        )

    def choice(self, aid: int, field: str, value: str | None) -> None:
        ann = next(a for a in self.annotations if a["annotation_id"] == aid)
        self.choices.append(
            {"annotation_id": aid, "article_id": ann["article_id"], "field": field, "value": value}
        )

    def tables(self) -> tuple[pl.DataFrame, pl.DataFrame, pl.DataFrame, pl.DataFrame]:
        return (
            pl.DataFrame(self.annotations),
            regions_frame(self.regions),
            pl.DataFrame(
                self.relations,
                schema={
                    "annotation_id": pl.Int64,
                    "article_id": pl.Utf8,
                    "annotator": pl.Utf8,
                    "from_region_id": pl.Utf8,
                    "to_region_id": pl.Utf8,
                    "label": pl.Utf8,
                },
            ),
            pl.DataFrame(
                self.choices,
                schema={
                    "annotation_id": pl.Int64,
                    "article_id": pl.Utf8,
                    "field": pl.Utf8,
                    "value": pl.Utf8,
                },
            ),
        )


def agreed(c: Corpus, article: str, who: list[str], **attrs: object) -> list[int]:
    """Every annotator of ``who`` marks the same event, person, place and relation."""
    ids = []
    for w in who:
        aid = c.annotation(article, w)
        c.region(aid, "met", "events", "MEETING", "e", realis="ACTUAL")
        c.region(aid, "Molly Phee", "entities", "PERSON", "p", entity_id="Q1", **attrs)
        c.region(aid, "Niamey", "entities", "GPE", "g")
        c.relation(aid, "e", "p", "PARTICIPANT")
        c.choice(aid, "stance_us_presence", "NEUTRAL_REPORTING")
        ids.append(aid)
    return ids


def hand_made() -> tuple[Corpus, set[str]]:
    """The hand-made corpus and the articles the bulk path must take."""
    c = Corpus()
    # Clean with two and with three annotators; in the second, a region, relation and value
    # made by two of three are gold, entity_id Q1 wins 2-1, each annotator's notes are kept.
    agreed(c, "clean2", ["a@x", "b@x"])
    three = agreed(c, "clean3", ["a@x", "b@x"])
    aid = c.annotation("clean3", "c@x")
    c.region(aid, "met", "events", "MEETING", "e", realis="ACTUAL")
    c.region(aid, "Molly Phee", "entities", "PERSON", "p", entity_id="Q2")
    c.choice(three[0], "notes", "first note")
    c.choice(aid, "notes", "a note only c wrote")
    # The same with two annotators: one of two is no majority.
    minority = agreed(c, "minority2", ["a@x", "b@x"])
    c.region(minority[0], "Washington", "entities", "GPE", "w")
    # Attribute ties: 1-1 of two, 1-1-1 of three (null among them).
    agreed(c, "tie2", ["a@x"], unit="troops")
    agreed(c, "tie2", ["b@x"], unit="soldiers")
    for who, entity in (("a@x", "Q7"), ("b@x", "Q8"), ("c@x", None)):
        aid = c.annotation("tie3", who)
        c.region(aid, "Niamey", "entities", "GPE", "g", entity_id=entity)
    # Null attributes: null by majority is the gold value; the first annotator's bound is
    # outvoted (the gold is the majority, not the first row).
    for who, bound in (("a@x", "AT_LEAST"), ("b@x", None), ("c@x", None)):
        aid = c.annotation("nulls", who)
        c.region(aid, "1,000", "quantities", "COUNT", "q", value=1000.0, unit="troops",
                 approximate=None, bound=bound)  # fmt: skip
    # A relation to a region only one of three made: the region is a conflict, the relation
    # not (its end is not gold); a relation whose end names no region of its annotation is
    # dropped, no conflict either.
    ends = agreed(c, "relend", ["a@x", "b@x", "c@x"])
    c.region(ends[0], "Washington", "entities", "GPE", "w")
    c.relation(ends[0], "e", "w", "PARTICIPANT")
    unresolved = agreed(c, "unresolved", ["a@x", "b@x"])
    c.relation(unresolved[0], "e", "gone", "PARTICIPANT")
    c.relation(unresolved[1], "nowhere", "p", "PARTICIPANT")
    # A relation and a value made by one of two.
    rel_minority = agreed(c, "relminority", ["a@x", "b@x"])
    c.relation(rel_minority[0], "e", "g", "LOCATION")
    cho_minority = agreed(c, "chominority", ["a@x", "b@x"])
    c.choice(cho_minority[1], "topics", "DIPLOMACY")
    # Two regions of one key, or one region id twice, in one annotation.
    dup = agreed(c, "dupkey", ["a@x", "b@x"])
    c.region(dup[0], "Niamey", "entities", "GPE", "g2", entity_id="Q9")
    # (b@x's relation to `p` reaches Niamey alone there, both regions in a join.)
    aid = c.annotation("dupid", "a@x")
    c.region(aid, "met", "events", "MEETING", "e")
    c.region(aid, "Molly Phee", "entities", "PERSON", "p")
    c.region(aid, "Niamey", "entities", "GPE", "g")
    c.relation(aid, "e", "p", "PARTICIPANT")
    c.relation(aid, "e", "g", "PARTICIPANT")
    aid = c.annotation("dupid", "b@x")
    c.region(aid, "met", "events", "MEETING", "e")
    c.region(aid, "Molly Phee", "entities", "PERSON", "p")
    c.region(aid, "Niamey", "entities", "GPE", "p")
    c.relation(aid, "e", "p", "PARTICIPANT")
    # Decided in a file (with a stale decision) and in `decided`.
    agreed(c, "withfile", ["a@x", "b@x"])
    agreed(c, "decided", ["a@x", "b@x"])
    # Cancelled and superseded annotations do not count: two counted, agreeing.
    old = c.annotation("cancel", "a@x", when="2023-12-01")
    c.region(old, "Washington", "entities", "GPE", "w")
    c.annotation("cancel", "c@x", cancelled=True)
    agreed(c, "cancel", ["a@x", "b@x"])
    # NaN and -0.0: Python's == and polars' grouping disagree, left to the reference.
    for article, value in (("nan", float("nan")), ("negzero", -0.0)):
        for who in ("a@x", "b@x"):
            aid = c.annotation(article, who)
            c.region(aid, "1,000", "quantities", "COUNT", "q", value=value, unit="troops")
    # Nulls where the reference compares or sorts keys.
    nullrel = agreed(c, "nullrel", ["a@x", "b@x"])
    c.relation(nullrel[0], "e", "g", None)
    nullcho = agreed(c, "nullcho", ["a@x", "b@x"])
    c.choice(nullcho[0], "topics", None)
    # A null region id, which the reference finds as a relation end (polars joins never match
    # nulls): left to the reference.
    for who in ("a@x", "b@x"):
        aid = c.annotation("nullid", who)
        c.region(aid, "met", "events", "MEETING", "e")
        c.region(aid, "Niamey", "entities", "GPE", None)
        c.relation(aid, "e", None, "LOCATION")
    # Span and text come from the first row in counted order (annotators sorted), not in
    # table order: b@x's rows come first in the table, a@x's text is gold.
    for who, text in (("b@x", "NIAMEY"), ("a@x", "Niamey")):
        aid = c.annotation("firstrow", who)
        c.region(aid, "Niamey", "entities", "GPE", "g")
        c.regions[-1]["text"] = text
    # One annotator only (as is; with two regions of one key, one by one, n = 1 there), and
    # nobody (an article with no regions at all).
    agreed(c, "single", ["a@x"])
    (lone,) = agreed(c, "singledup", ["a@x"])
    c.region(lone, "Niamey", "entities", "GPE", "g2", entity_id="Q9")
    c.annotation("empty", "a@x")
    c.annotation("empty", "b@x")
    return c, {"clean2", "clean3", "nulls", "unresolved", "cancel", "empty", "firstrow"}


STALE = """decisions:
- item: region:entities:GPE:9999:10000
  action: reject
  decided_by: lead@x
  why: a decision on nothing
"""


def test_same_gold_on_hand_made_frames(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    corpus, clean = hand_made()
    (tmp_path / "withfile.yaml").write_text(STALE, encoding="utf-8")
    tables = corpus.tables()
    decided: dict[str, dict[str, dict[str, Any]]] = {"decided": {}}
    want, got = both_paths(monkeypatch, *tables, tmp_path, TAX, decided=decided)
    assert bulk_articles(*tables, tmp_path, set(decided)) == clean
    # What the cases are there for happened (on the reference's result, equal to the bulk's).
    conflicted = {c["article_id"] for c in want.conflicts if c["kind"] == "conflict"}
    assert {"minority2", "tie2", "tie3", "relend", "relminority", "chominority"} <= conflicted
    assert {p.record for p in want.problems if "stale" in p.message} == {"withfile"}
    assert [c["article_id"] for c in want.conflicts if c["kind"] == "superseded"] == ["cancel"]
    status = dict(got.gold.status.iter_rows())
    assert (status["clean2"], status["clean3"], status["cancel"], status["empty"]) == (2, 3, 2, 2)
    regions = got.gold.regions.filter(pl.col("article_id") == "clean3")
    assert regions["region_key"].to_list() == [
        "entities:GPE:32:38",
        "entities:PERSON:18:28",
        "events:MEETING:14:17",
    ]
    assert regions["entity_id"].to_list() == [None, "Q1", None]
    assert got.gold.relations.filter(pl.col("article_id") == "clean3").height == 1
    stance = got.gold.choices.filter(
        (pl.col("article_id") == "clean3") & (pl.col("field") != "notes")
    )
    assert stance["value"].to_list() == ["NEUTRAL_REPORTING"]
    notes = got.gold.choices.filter(pl.col("field") == "notes")["value"].to_list()
    assert notes == ["a note only c wrote", "first note"]
    firstrow = got.gold.regions.filter(pl.col("article_id") == "firstrow")["text"].to_list()
    assert firstrow == ["Niamey"]
    assert got.gold.relations.filter(pl.col("article_id") == "nullid").height == 1
    nulls = got.gold.regions.filter(pl.col("article_id") == "nulls").row(0, named=True)
    assert (nulls["bound"], nulls["approximate"], nulls["value"]) == (None, None, 1000.0)
    # Also without `decided`, and with no decisions folder at all.
    both_paths(monkeypatch, *tables, tmp_path, TAX)
    both_paths(monkeypatch, *tables, tmp_path / "absent", TAX)


@pytest.mark.parametrize("table", ["relations", "choices"])
def test_a_null_label_or_value_fails_in_bulk_as_in_the_reference(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, table: str
) -> None:
    """Beside the same relation (value) with a label, a null one cannot be sorted: the
    reference raises, so the bulk path must not quietly make gold of it (such rows never pass
    the table checks; this is about the two paths staying one)."""
    c = Corpus()
    for aid in agreed(c, "a1", ["a@x", "b@x"]):
        if table == "relations":
            c.relation(aid, "e", "p", None)
        else:
            c.choice(aid, "stance_us_presence", None)
    for bulk in (False, True):
        monkeypatch.setattr(adjudication, "BULK_MAJORITY", bulk)
        with pytest.raises(TypeError, match="not supported between"):
            adjudicate(*c.tables(), tmp_path, TAX)
