"""What the card computes from published files, kept under the digests of those files
(sahelwire.release.card.kept and the values kept through it: the lengths, the label counts,
the organisations outside the body, the leakage section): kept or computed, the same value."""

from __future__ import annotations

from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from helpers import copy_project, run_cli
from sahelwire.io.article_packs import CACHE_ENV
from sahelwire.io.config import SPLITS
from sahelwire.io.paths import ProjectPaths
from sahelwire.release.card.facts import kept_organisations, organisations_outside_the_body
from sahelwire.release.card.kept import KEPT, LENGTHS, TEXT, card_folder, kept
from sahelwire.release.card.plots import (
    article_lengths,
    kept_article_lengths,
    kept_label_counts,
    label_counts,
)
from sahelwire.release.memos import memo_folders
from sahelwire.schema.taxonomy import load_taxonomy


def documents(texts: dict[str, list[str]]) -> dict[str, pa.Table]:
    """A ``documents`` table per split (the columns the lengths read), the clean text a cut."""
    return {
        split: pa.table(
            {
                "article_id": [f"{split}_{i}" for i in range(len(rows))],
                "text": rows,
                "clean_text": [row[: len(row) // 2] for row in rows],
                "n_annotators": [1] * len(rows),
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
    (pack,) = card_folder(paths, LENGTHS).glob("*.pack")
    # Kept: the documents are not read (these, without rows, would give no lengths).
    nothing = documents({"train": [], "validation": [], "test": []})
    assert kept_article_lengths(paths, nothing, ["a"]) == computed
    assert kept_article_lengths(paths, nothing, ["b"]) == []  # other files: computed again
    assert kept_article_lengths(paths, docs, ["a"]) == computed  # "b"'s replaced "a"'s
    assert list(card_folder(paths, LENGTHS).glob("*.pack")) == [pack]  # one pack: the last kept

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
    assert kept(paths, "s", module, ["f1 aa"], lambda: section("one"), TEXT) == "one"
    assert kept(paths, "s", module, ["f1 aa"], lambda: section("two"), TEXT) == "one"  # kept
    assert kept(paths, "s", module, ["f1 bb"], lambda: section("two"), TEXT) == "two"
    assert made == ["one", "two"] and len(list(card_folder(paths, "s").glob("*.pack"))) == 1
    monkeypatch.setenv(CACHE_ENV, "off")
    assert kept(paths, "s", module, ["f1 bb"], lambda: section("three"), TEXT) == "three"


def test_every_kept_card_value_is_a_listed_memo(tmp_path: Path) -> None:
    """``sahelwire cache info``/``clear`` and the benchmark's cold builds see every folder."""
    paths = ProjectPaths(copy_project(tmp_path / "p"))
    listed = {folder for _, folder in memo_folders(paths)}
    assert {card_folder(paths, name) for name in KEPT} <= listed


def test_label_counts_and_organisations_are_kept_as_computed(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """On the committed corpus's built documents: kept, the same value in the same order
    (the plot draws the labels in it); the documents are not read again for it."""
    monkeypatch.delenv(CACHE_ENV, raising=False)
    root = copy_project(tmp_path / "p")
    out = tmp_path / "dist"
    assert run_cli(root, "build", "--out", str(out)).returncode == 0
    paths = ProjectPaths(root)
    taxonomy = load_taxonomy(paths.taxonomy_file)
    docs = {
        split: pq.read_table(out / "data" / "documents" / f"{split}-00000-of-00001.parquet")
        for split in SPLITS
    }
    empty = {split: table.slice(0, 0) for split, table in docs.items()}
    registry = pq.read_table(out / "data" / "entity_registry" / "full-00000-of-00001.parquet")

    counts = label_counts(docs, taxonomy)
    assert sum(n for by in counts.values() for c in by.values() for n in c.values()) > 0
    for _ in range(2):  # computed, then kept
        got = kept_label_counts(paths, docs, taxonomy, ["documents aa"])
        assert got == counts
        assert [list(c.items()) for by in got.values() for c in by.values()] == [
            list(c.items()) for by in counts.values() for c in by.values()
        ]
    assert kept_label_counts(paths, empty, taxonomy, ["documents aa"]) == counts  # not read
    fresh = kept_label_counts(paths, empty, taxonomy, ["documents bb"])  # other files
    assert fresh == label_counts(empty, taxonomy) != counts

    orgs = organisations_outside_the_body(docs, registry, taxonomy)
    assert orgs  # the seeds' pages name publishers outside the body: something to keep
    assert kept_organisations(paths, docs, registry, taxonomy, ["d aa", "r aa"]) == orgs
    assert kept_organisations(paths, empty, registry, taxonomy, ["d aa", "r aa"]) == orgs
    assert kept_organisations(paths, empty, registry, taxonomy, ["d bb", "r aa"]) == []

    monkeypatch.setenv(CACHE_ENV, "off")  # off: always computed
    assert kept_label_counts(paths, empty, taxonomy, ["documents bb"]) == fresh
    assert kept_organisations(paths, empty, registry, taxonomy, ["d bb", "r aa"]) == []
    assert kept_organisations(paths, docs, registry, taxonomy, ["d bb", "r aa"]) == orgs
