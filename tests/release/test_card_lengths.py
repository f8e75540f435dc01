"""The card's article lengths kept under the digests of the documents files they read
(sahelwire.release.card.plots.kept_article_lengths): kept or computed, the same list."""

from __future__ import annotations

from pathlib import Path

import pytest

from helpers import ROOT, copy_project
from sahelwire.io.article_packs import CACHE_ENV
from sahelwire.io.paths import ProjectPaths
from sahelwire.release.build import ParquetTable, data_file
from sahelwire.release.card.plots import article_lengths, kept_article_lengths, lengths_folder


def test_lengths_are_kept_under_the_documents_files_digests(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv(CACHE_ENV, raising=False)
    paths = ProjectPaths(copy_project(tmp_path / "p"))
    splits = ("train", "validation", "test")
    # The committed release's documents (the copy has no dist/).
    documents = {s: ParquetTable(ROOT / "dist" / data_file("documents", s)) for s in splits}
    computed = article_lengths(documents)
    assert len(computed) == sum(t.num_rows for t in documents.values()) > 0

    assert kept_article_lengths(paths, documents, ["a"]) == computed  # computed, then kept
    (pack,) = lengths_folder(paths).glob("*.pack")
    # Kept: the documents are not read (these, without rows, would give no lengths).
    nothing = {s: documents[s].schema.empty_table() for s in splits}
    assert kept_article_lengths(paths, nothing, ["a"]) == computed
    assert kept_article_lengths(paths, nothing, ["b"]) == []  # other files: computed again
    assert kept_article_lengths(paths, documents, ["a"]) == computed  # "b"'s replaced "a"'s
    assert list(lengths_folder(paths).glob("*.pack")) == [pack]  # one pack: the last kept

    monkeypatch.setenv(CACHE_ENV, "off")
    assert kept_article_lengths(paths, nothing, ["a"]) == []  # off: always computed
