"""``ner_bio`` has rows of annotated articles only. An O tag means "annotated as outside
every entity": a walkthrough found a raw-only article's 20 sentences published all-O, false
"no entity" labels a trainer could not tell from real ones (only ``documents`` says
``n_annotators`` 0). Raw-only articles stay in ``documents``; the card says how many were
left out of ``ner_bio``."""

from __future__ import annotations

from pathlib import Path

import pyarrow.parquet as pq

from helpers import copy_project, run_cli

RAW_ONLY = "004_d8470e8c95419e20"


def _rows(dist: Path, config: str) -> list[dict]:
    return [
        row
        for path in sorted((dist / "data" / config).glob("*.parquet"))
        for row in pq.read_table(path).to_pylist()
    ]


def test_an_unannotated_article_is_in_documents_but_has_no_ner_bio_rows(tmp_path: Path) -> None:
    root = copy_project(tmp_path / "p")
    (root / "annotations" / "exports" / f"{RAW_ONLY}.json").unlink()
    (root / "annotations" / "decisions" / f"{RAW_ONLY}.yaml").unlink()
    done = run_cli(root, "build", "--out", str(tmp_path / "d"), timeout=600)
    assert done.returncode == 0, done.stdout + done.stderr
    dist = tmp_path / "d"
    documents = {r["article_id"]: r for r in _rows(dist, "documents")}
    assert documents[RAW_ONLY]["n_annotators"] == 0  # still published, marked unannotated
    sentences = _rows(dist, "ner_bio")
    assert sentences and {r["article_id"] for r in sentences} == set(documents) - {RAW_ONLY}
    card = (dist / "README.md").read_text(encoding="utf-8")
    assert "Only annotated articles have rows: the 1 article(s) with no gold layer yet" in card
