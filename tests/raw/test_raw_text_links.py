"""dataset/raw/texts/ holds the texts ingest stored, as regular files: a symlink (which may
point out of the repository; git commits the link, not the text) was followed and accepted,
while annotations/exports/ refused one. Now both ``validate`` and ``build`` refuse it, and a
FIFO, without following or opening it."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from helpers import copy_project, refused_alike

ARTICLE = "002_4eb8b75709aad65d"


@pytest.mark.parametrize("kind", ["symlink", "fifo"])
def test_a_raw_text_that_is_not_a_regular_file_is_refused(tmp_path: Path, kind: str) -> None:
    root = copy_project(tmp_path / "p")
    text = root / "dataset" / "raw" / "texts" / f"{ARTICLE}.txt"
    outside = tmp_path / "outside.txt"
    text.rename(outside)  # the same bytes: only the kind of file differs
    if kind == "symlink":
        os.symlink(outside, text)
        said = (
            f"error: dataset/raw/texts/{ARTICLE}.txt record {ARTICLE}: rule a raw text is a "
            f"regular file, not a symlink value '{outside}'"
        )
    else:
        os.mkfifo(text)
        said = (
            f"error: dataset/raw/texts/{ARTICLE}.txt record {ARTICLE}: rule a raw text is a "
            "regular file: not a regular file in dataset/raw/texts/"
        )
    refused_alike(root, tmp_path / "d", said, timeout=120)
