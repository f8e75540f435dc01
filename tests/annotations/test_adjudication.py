"""Per-annotator layer -> gold by the rules in sahelwire.annotations.adjudication, on known fixtures."""

from __future__ import annotations

import json
from pathlib import Path

import polars as pl
import pytest

from helpers import ROOT, copy_project, region, regions_frame, run_cli
from sahelwire.annotations.adjudication import DECISIONS_FILE_RULE, adjudicate
from sahelwire.annotations.agreement import agreement_report
from sahelwire.schema.taxonomy import load_taxonomy

TAX = load_taxonomy(ROOT / "schemas/taxonomy.yaml")
TEXT = "Niger's junta met Molly Phee in Niamey."


def annotations_frame(rows: list[tuple[int, str, bool, str]]) -> pl.DataFrame:
    return pl.DataFrame(
        [
            {
                "annotation_id": i,
                "task_id": 1,
                "article_id": "a1",
                "annotator": who,
                "cancelled": cancelled,
                "updated_at": when,
            }
            for i, who, cancelled, when in rows
        ]
    )


def choices(rows: list[tuple[int, str, str]]) -> pl.DataFrame:
    return pl.DataFrame(
        [{"annotation_id": i, "article_id": "a1", "field": f, "value": v} for i, f, v in rows],
        schema={
            "annotation_id": pl.Int64,
            "article_id": pl.Utf8,
            "field": pl.Utf8,
            "value": pl.Utf8,
        },
    )


NO_REL = pl.DataFrame(
    schema={
        "annotation_id": pl.Int64,
        "article_id": pl.Utf8,
        "from_region_id": pl.Utf8,
        "to_region_id": pl.Utf8,
        "label": pl.Utf8,
    }
)


def test_single_annotator_is_gold_as_is_and_cancelled_ignored(tmp_path: Path) -> None:
    ann = annotations_frame([(1, "a@x", False, "2024-01-01"), (2, "b@x", True, "2024-01-02")])
    regs = regions_frame(
        [
            region(1, "a1", TEXT, "Molly Phee", "entities", "PERSON", "m1"),
            region(2, "a1", TEXT, "Niamey", "entities", "GPE", "m9", annotator="b@x"),
        ]
    )
    result = adjudicate(
        ann, regs, NO_REL, choices([(1, "stance_us_presence", "NEUTRAL_REPORTING")]), tmp_path, TAX
    )
    assert result.problems == []
    assert result.gold.regions["text"].to_list() == ["Molly Phee"]
    assert result.gold.status.to_dicts() == [{"article_id": "a1", "n_annotators": 1}]
    assert result.gold.choices["value"].to_list() == ["NEUTRAL_REPORTING"]


def test_latest_annotation_of_an_annotator_counts(tmp_path: Path) -> None:
    ann = annotations_frame([(1, "a@x", False, "2024-01-01"), (3, "a@x", False, "2024-02-01")])
    regs = regions_frame(
        [
            region(1, "a1", TEXT, "Niamey", "entities", "LOC", "m1"),
            region(3, "a1", TEXT, "Niamey", "entities", "GPE", "m1"),
        ]
    )
    result = adjudicate(ann, regs, NO_REL, choices([]), tmp_path, TAX)
    assert result.gold.regions["label"].to_list() == ["GPE"]
    assert [c["kind"] for c in result.conflicts] == ["superseded"]


def test_disagreement_is_a_conflict_until_a_decision_settles_it(tmp_path: Path) -> None:
    ann = annotations_frame([(1, "a@x", False, "t"), (2, "b@x", False, "t")])
    regs = regions_frame(
        [
            region(1, "a1", TEXT, "Molly Phee", "entities", "PERSON", "m1"),
            region(2, "a1", TEXT, "Molly Phee", "entities", "PERSON", "m1", annotator="b@x"),
            region(1, "a1", TEXT, "Niger's junta", "entities", "ORG", "m2"),
        ]
    )
    result = adjudicate(ann, regs, NO_REL, choices([]), tmp_path, TAX)
    assert result.gold.regions["text"].to_list() == ["Molly Phee"]  # both agree
    assert [p.rule for p in result.problems] == ["every conflict is settled by a decision"]
    item = result.problems[0].field
    (tmp_path / "a1.yaml").write_text(
        f"decisions:\n- item: '{item}'\n  action: accept\n  decided_by: lead@example.org\n  why: the junta is an ORG mention\n"
    )
    settled = adjudicate(ann, regs, NO_REL, choices([]), tmp_path, TAX)
    assert settled.problems == []
    assert sorted(settled.gold.regions["text"].to_list()) == ["Molly Phee", "Niger's junta"]
    assert settled.conflicts[0]["decision"] == "accept"


def test_a_decision_stands_when_a_later_annotator_tips_the_vote(tmp_path: Path) -> None:
    """A reviewer settled a 1-1 tie; a third annotator then sided with one side. The decision
    still holds while anyone disagrees (it was an unused, "stale" decision that blocked
    adjudicate, review and build: the second walkthrough, annotators_per_task 2 -> 3); it is
    stale only once every annotator agrees."""
    two = annotations_frame([(1, "a@x", False, "t"), (2, "b@x", False, "t")])
    three = annotations_frame(
        [(1, "a@x", False, "t"), (2, "b@x", False, "t"), (3, "c@x", False, "t")]
    )

    def rows(c_unit: str | None, with_junta_by: tuple[int, ...]) -> pl.DataFrame:
        out = [
            region(1, "a1", TEXT, "Niamey", "entities", "GPE", "m1", unit="soldiers"),
            region(
                2, "a1", TEXT, "Niamey", "entities", "GPE", "m1", annotator="b@x", unit="people"
            ),
            region(3, "a1", TEXT, "Niamey", "entities", "GPE", "m1", annotator="c@x", unit=c_unit),
        ]
        who = {1: "a@x", 2: "b@x", 3: "c@x"}
        out += [
            region(i, "a1", TEXT, "Niger's junta", "entities", "ORG", "m2", annotator=who[i])
            for i in with_junta_by
        ]
        return regions_frame(out)

    before = rows("x", (1,))
    tied = adjudicate(
        two, before.filter(pl.col("annotation_id") < 3), NO_REL, choices([]), tmp_path, TAX
    )
    items = sorted(str(p.field) for p in tied.problems)
    assert items == ["attr:entities:GPE:32:38:unit", "region:entities:ORG:0:13"], items
    (tmp_path / "a1.yaml").write_text(
        "decisions:\n"
        f"- item: '{items[0]}'\n  action: set\n  value: people\n  decided_by: lead@example.org\n  why: w\n"
        f"- item: '{items[1]}'\n  action: reject\n  decided_by: lead@example.org\n  why: w\n"
    )
    # c@x sides with a@x on both: a 2-1 majority against each decision. The decisions hold.
    tipped = adjudicate(three, rows("soldiers", (1, 3)), NO_REL, choices([]), tmp_path, TAX)
    assert tipped.problems == []
    (gold,) = tipped.gold.regions.to_dicts()
    assert (gold["text"], gold["unit"]) == ("Niamey", "people")
    decided = {c["item"]: c["decision"] for c in tipped.conflicts}
    assert decided == {items[0]: "set", items[1]: "reject"}
    # Everyone agrees now (b@x took the junta and a@x's unit): both decisions are stale,
    # an error naming the remedy.
    agreed = rows("soldiers", (1, 2, 3)).with_columns(unit=pl.lit("soldiers"))
    moot = adjudicate(three, agreed, NO_REL, choices([]), tmp_path, TAX)
    assert sorted(str(p.field) for p in moot.problems) == items
    assert all(
        "stale decision" in p.message and "remove this entry" in p.message for p in moot.problems
    )


def test_agreement_known_answers() -> None:
    ann = annotations_frame([(1, "a@x", False, "t"), (2, "b@x", False, "t")])
    regs = regions_frame(
        [
            region(1, "a1", TEXT, "Molly Phee", "entities", "PERSON", "m1"),
            region(2, "a1", TEXT, "Molly Phee", "entities", "PERSON", "m1", annotator="b@x"),
            region(1, "a1", TEXT, "Niger's junta", "entities", "ORG", "m2"),
            region(2, "a1", TEXT, "junta", "entities", "ORG", "m2", annotator="b@x"),
        ]
    )
    report = agreement_report(ann, regs, choices([]), TAX)
    spans = report["spans"]["entities"]
    assert spans["pairs"] == 1
    assert spans["f1_exact"] == 0.5  # 1 exact match of 2 + 2 spans
    assert spans["f1_overlap"] == 1.0  # "junta" overlaps "Niger's junta"


def test_krippendorff_alpha_known_values() -> None:
    # Two annotators, four articles: perfect agreement -> 1.0; then a textbook case.
    rows, chs = [], []
    for k, (x, y) in enumerate(
        [
            ("SUPPORTS", "SUPPORTS"),
            ("OPPOSES", "OPPOSES"),
            ("MIXED", "MIXED"),
            ("SUPPORTS", "SUPPORTS"),
        ]
    ):
        rows += [
            {
                "annotation_id": 2 * k,
                "task_id": k,
                "article_id": f"a{k}",
                "annotator": "a",
                "cancelled": False,
                "updated_at": "t",
            },
            {
                "annotation_id": 2 * k + 1,
                "task_id": k,
                "article_id": f"a{k}",
                "annotator": "b",
                "cancelled": False,
                "updated_at": "t",
            },
        ]
        chs += [
            {
                "annotation_id": 2 * k,
                "article_id": f"a{k}",
                "field": "stance_us_presence",
                "value": x,
            },
            {
                "annotation_id": 2 * k + 1,
                "article_id": f"a{k}",
                "field": "stance_us_presence",
                "value": y,
            },
        ]
    ann, ch = pl.DataFrame(rows), pl.DataFrame(chs)
    empty = regions_frame([])
    assert (
        agreement_report(ann, empty, ch, TAX)["article_labels"]["stance_us_presence"]["alpha"]
        == 1.0
    )
    # one disagreement (S vs O) in four units; values S:3 O:3 M:2 of n=8.
    # D_o = 2/8 = 0.25, D_e = 2*(3*3 + 3*2 + 3*2) / (8*7) = 0.75, alpha = 1 - D_o/D_e = 2/3
    ch = ch.with_columns(
        pl.when(pl.col("annotation_id") == 7)
        .then(pl.lit("OPPOSES"))
        .otherwise(pl.col("value"))
        .alias("value")
    )
    alpha = agreement_report(ann, empty, ch, TAX)["article_labels"]["stance_us_presence"]["alpha"]
    assert abs(alpha - 2 / 3) < 1e-9


@pytest.mark.parametrize(
    ("content", "said"),
    [
        (b"decisions: [\n", "not YAML"),
        (b"\xff\xfe", "not UTF-8 (byte 0)"),
        (
            b"decisions:\n- item: region:entities:GPE:0:2\n  action: accept\n  why: y\n",
            # where: the line the entry starts on, and which entry
            "line 2 (entry 1): decision on 'region:entities:GPE:0:2' must say decided_by and why",
        ),
    ],
)
def test_a_bad_decisions_file_is_a_problem_for_validate_and_build(
    tmp_path: Path, content: bytes, said: str
) -> None:
    """Not a traceback (build raised one): the same Problem from both, exit 1, naming the
    file and the rule; the build writes nothing."""
    root = copy_project(tmp_path / "p")
    export = sorted((root / "annotations" / "exports").glob("*.json"))[0]
    article = json.loads(export.read_text(encoding="utf-8"))["data"]["article_id"]
    (root / "annotations" / "decisions" / f"{article}.yaml").write_bytes(content)
    first = f"error: annotations/decisions/{article}.yaml record {article}: rule "
    first += f"{DECISIONS_FILE_RULE}: {said}"
    for command in (["validate", "--no-dist"], ["build", "--out", str(tmp_path / "d")]):
        done = run_cli(root, *command)
        assert done.returncode == 1 and "Traceback" not in done.stderr, done.stderr
        assert first in done.stdout + done.stderr, done.stdout + done.stderr
    assert not (tmp_path / "d").exists()
