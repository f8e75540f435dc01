"""The card's article lengths cover every article of ``documents``, a raw-only one too
(ingested, not annotated yet), and say what its ``clean_text`` is: with no zones marked,
nothing was removed from its page, so it is not an article body. The walkthrough: after
``sahelwire ingest some.txt`` and a build the card counted 6 articles and its lengths
table, without a word, read as 5 article bodies and a sixth."""

from __future__ import annotations

from pathlib import Path

import pyarrow.parquet as pq

from helpers import copy_project, run_cli

RAW_ONLY = "wire_report"
TEXT = "Niamey, 12 March 2024 -- US officials met Niger's junta.\n\nShare on WhatsApp\n"


def _section(card: str, name: str) -> str:
    return card.split(f"<!-- sahelwire:begin {name} -->")[1].split(
        f"<!-- sahelwire:end {name} -->"
    )[0]


def test_the_lengths_table_lists_a_raw_only_article_and_says_what_its_clean_text_is(
    tmp_path: Path,
) -> None:
    root = copy_project(tmp_path / "p")
    source = tmp_path / f"{RAW_ONLY}.txt"
    source.write_text(TEXT, encoding="utf-8")
    ingested = run_cli(root, "ingest", str(source))
    assert ingested.returncode == 0, ingested.stderr
    built = run_cli(root, "build", timeout=600)
    assert built.returncode == 0, built.stdout + built.stderr

    documents = [
        (row, path.name.split("-", 1)[0])
        for path in sorted((root / "dist/data/documents").glob("*.parquet"))
        for row in pq.read_table(path).to_pylist()
    ]
    assert len(documents) == 6
    plots = _section((root / "dist/README.md").read_text(encoding="utf-8"), "plots")
    assert "Article lengths (Unicode code points; all 6 articles of `documents`):" in plots
    table = [line for line in plots.splitlines() if line.startswith("| ")]
    assert table[0] == "| article | split | text | clean_text |"
    expected = []
    for row, split in sorted(documents, key=lambda d: d[0]["article_id"]):
        clean = str(len(row["clean_text"]))
        if row["n_annotators"] == 0:
            clean += " (not annotated: no zones removed)"
        expected.append(f"| {row['article_id']} | {split} | {len(row['text'])} | {clean} |")
    assert table[1:] == expected
    assert any(RAW_ONLY in line and "not annotated" in line for line in table)
    assert (
        f"1 of the 6 articles (`{RAW_ONLY}`) is not annotated yet (`n_annotators` 0): no "
        "zones are marked in it, so its `clean_text` is not an article body"
    ) in plots
