"""What the card computes from published files, kept under the digests of those files
(sahelwire.release.card.plots.kept_article_lengths, sahelwire.release.card.kept): kept or
computed, the same value."""

from __future__ import annotations

from pathlib import Path

import pyarrow as pa
import pytest

from helpers import copy_project
from sahelwire.io.article_packs import CACHE_ENV
from sahelwire.io.paths import ProjectPaths
from sahelwire.release.card.kept import card_folder, kept_text
from sahelwire.release.card.plots import article_lengths, kept_article_lengths, lengths_folder


def documents(texts: dict[str, list[str]]) -> dict[str, pa.Table]:
    """A ``documents`` table per split (the columns the lengths read), the clean text a cut."""
    return {
        split: pa.table(
            {
                "article_id": [f"{split}_{i}" for i in range(len(rows))],
                "text": rows,
                "clean_text": [row[: len(row) // 2] for row in rows],
            }
        )
        for split, rows in texts.items()
    }


def test_lengths_are_kept_under_the_documents_files_digests(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv(CACHE_ENV, raising=False)
    paths = ProjectPaths(copy_project(tmp_path / "p"))
    docs = documents(
        {"train": ["Niamey 🇳🇪 « accord »", "x" * 70_000], "validation": ["é"], "test": []}
    )
    computed = article_lengths(docs)
    assert [row[2] for row in computed] == [
        len(t) for t in ("Niamey 🇳🇪 « accord »", "x" * 70_000, "é")
    ]

    assert kept_article_lengths(paths, docs, ["a"]) == computed  # computed, then kept
    (pack,) = lengths_folder(paths).glob("*.pack")
    # Kept: the documents are not read (these, without rows, would give no lengths).
    nothing = documents({"train": [], "validation": [], "test": []})
    assert kept_article_lengths(paths, nothing, ["a"]) == computed
    assert kept_article_lengths(paths, nothing, ["b"]) == []  # other files: computed again
    assert kept_article_lengths(paths, docs, ["a"]) == computed  # "b"'s replaced "a"'s
    assert list(lengths_folder(paths).glob("*.pack")) == [pack]  # one pack: the last kept

    monkeypatch.setenv(CACHE_ENV, "off")
    assert kept_article_lengths(paths, nothing, ["a"]) == []  # off: always computed


def test_a_section_is_kept_under_the_files_it_reads(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv(CACHE_ENV, raising=False)
    paths = ProjectPaths(copy_project(tmp_path / "p"))
    made: list[str] = []

    def section(text: str) -> str:
        made.append(text)
        return text

    module = "sahelwire.release.card.data_sections"
    assert kept_text(paths, "s", module, ["f1 aa"], lambda: section("one")) == "one"
    assert kept_text(paths, "s", module, ["f1 aa"], lambda: section("two")) == "one"  # kept
    assert kept_text(paths, "s", module, ["f1 bb"], lambda: section("two")) == "two"
    assert made == ["one", "two"] and len(list(card_folder(paths, "s").glob("*.pack"))) == 1
    monkeypatch.setenv(CACHE_ENV, "off")
    assert kept_text(paths, "s", module, ["f1 bb"], lambda: section("three")) == "three"
