"""``ner_bio`` and ``folds`` have rows of annotated articles only. An O tag means "annotated
as outside every entity": a walkthrough found a raw-only article's 20 sentences published
all-O, false "no entity" labels a trainer could not tell from real ones (only ``documents``
says ``n_annotators`` 0). Another walkthrough found the same article a cross-validation fold
of its own, evaluated against no gold. Raw-only articles stay in ``documents``; the card says
how many were left out of ``ner_bio`` and of the folds."""

from __future__ import annotations

import re
from pathlib import Path

import pyarrow.parquet as pq
import pytest

from helpers import copy_project, run_cli

RAW_ONLY = "004_d8470e8c95419e20"


def _rows(dist: Path, config: str) -> list[dict]:
    return [
        row
        for path in sorted((dist / "data" / config).glob("*.parquet"))
        for row in pq.read_table(path).to_pylist()
    ]


@pytest.fixture(scope="module")
def dist(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A build of the project in which one article was ingested and never annotated."""
    tmp = tmp_path_factory.mktemp("raw-only")
    root = copy_project(tmp / "p")
    (root / "annotations" / "exports" / f"{RAW_ONLY}.json").unlink()
    (root / "annotations" / "decisions" / f"{RAW_ONLY}.yaml").unlink()
    done = run_cli(root, "build", "--out", str(tmp / "d"), timeout=600)
    assert done.returncode == 0, done.stdout + done.stderr
    return tmp / "d"


def test_an_unannotated_article_is_in_documents_but_has_no_ner_bio_rows(dist: Path) -> None:
    documents = {r["article_id"]: r for r in _rows(dist, "documents")}
    assert documents[RAW_ONLY]["n_annotators"] == 0  # still published, marked unannotated
    sentences = _rows(dist, "ner_bio")
    assert sentences and {r["article_id"] for r in sentences} == set(documents) - {RAW_ONLY}
    card = (dist / "README.md").read_text(encoding="utf-8")
    assert "Only annotated articles have rows: the 1 article(s) with no gold layer yet" in card


def test_an_unannotated_article_is_in_no_fold(dist: Path) -> None:
    documents = {r["article_id"]: r for r in _rows(dist, "documents")}
    annotated = {a for a, r in documents.items() if r["n_annotators"] > 0}
    assert annotated == set(documents) - {RAW_ONLY}
    folds = _rows(dist, "folds")
    card = (dist / "README.md").read_text(encoding="utf-8")
    clusters = {documents[a]["story_cluster"] for a in annotated}
    assert documents[RAW_ONLY]["story_cluster"] not in clusters  # its cluster: no fold either
    for scheme, n in (
        ("leave_one_article_out", len(annotated)),
        ("leave_one_cluster_out", len(clusters)),
    ):
        mine = [f for f in folds if f["scheme"] == scheme]
        assert {f["article_id"] for f in mine} == annotated and len(mine) == len(annotated)
        assert sorted({f["fold"] for f in mine}) == list(range(n))
        assert re.search(rf"\| `{scheme}` \| {n} \|", card)
    assert (
        f"cross-validation folds over the annotated articles ({len(annotated)} of "
        f"{len(documents)} in this version; the 1 with no gold layer yet (`n_annotators` 0 in "
        "`documents`) are in no fold" in card
    )
