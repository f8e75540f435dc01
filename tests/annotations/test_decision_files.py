"""annotations/decisions/ read as strictly as annotations/exports/: every entry is a regular
file ``<article_id>.yaml`` of a manifest article that has an export (a walkthrough: a copy
``X copy.yaml``, a file for an article no manifest row has, a ``.yml`` and a file whose export
was deleted were all skipped without a word, exit 0), and every decision is complete (an
unknown key, a blank why, a decided_by that names no reviewer were accepted, and the card
named ``-`` as a reviewer)."""

from __future__ import annotations

import os
import shutil
from collections.abc import Callable
from pathlib import Path

import pytest

from helpers import copy_project, refused_alike, run_cli
from sahelwire.annotations.adjudication import (
    DECISIONS_FILE_RULE,
    DECISIONS_NO_EXPORT_RULE,
    DECISIONS_UNKNOWN_RULE,
)

FIRST = "000_68e681b97d6ec23c"
DELETED = "004_d8470e8c95419e20"


def _export_deleted(root: Path) -> str:
    (root / "annotations" / "exports" / f"{DELETED}.json").unlink()
    return (
        f"error: annotations/decisions/{DELETED}.yaml record {DELETED}: rule "
        f"{DECISIONS_NO_EXPORT_RULE} value 'annotations/exports/{DELETED}.json': article "
        f"{DELETED} has no export"
    )


def _copy_named(name: str, meant: str | None = None) -> Callable[[Path], str]:
    """A copy of FIRST's decisions under ``name``; ``meant``: the id it is said to be close
    to (the story clusters' "did you mean", one helper)."""

    def edit(root: Path) -> str:
        folder = root / "annotations" / "decisions"
        shutil.copy2(folder / f"{FIRST}.yaml", folder / name)
        stem = name.removesuffix(".yaml")
        said = (
            f"error: annotations/decisions/{name} record {stem}: rule {DECISIONS_UNKNOWN_RULE} "
            f"value '{stem}': no row of dataset/raw/manifest.jsonl has the id {stem}: a copied "
            "or misnamed file? (adjudication reads annotations/decisions/<article_id>.yaml of "
            "the manifest's articles only)"
        )
        return said + (f"; did you mean {meant}.yaml?" if meant else "\n")

    return edit


def _renamed_yml(root: Path) -> str:
    folder = root / "annotations" / "decisions"
    (folder / f"{FIRST}.yaml").rename(folder / f"{FIRST}.yml")
    return (
        f"error: annotations/decisions/{FIRST}.yml: rule decisions files are named "
        f"<article_id>.yaml value '{FIRST}.yml': the extension must be .yaml (not .yml)"
    )


def _symlink_out(root: Path) -> str:
    folder = root / "annotations" / "decisions"
    outside = root.parent / "elsewhere.yaml"
    (folder / f"{FIRST}.yaml").rename(outside)
    os.symlink(outside, folder / f"{FIRST}.yaml")
    return (
        f"error: annotations/decisions/{FIRST}.yaml: rule a decisions file is a regular file, "
        f"not a symlink value '{outside}'"
    )


def _fifo(root: Path) -> str:
    folder = root / "annotations" / "decisions"
    (folder / f"{FIRST}.yaml").unlink()
    os.mkfifo(folder / f"{FIRST}.yaml")  # never opened: a read would block for ever
    return (
        f"error: annotations/decisions/{FIRST}.yaml: rule a decisions file is a regular file: "
        "not a regular file in annotations/decisions/"
    )


CASES = {
    "export-deleted": _export_deleted,
    "article-not-in-manifest": _copy_named("005_ffffffffffffffff.yaml"),
    "copy-of-a-file": _copy_named(f"{FIRST} copy.yaml", FIRST),
    # One hex digit mistyped: refused with no word of the article meant (a walkthrough).
    "mistyped-article-id": _copy_named(f"{FIRST[:-1]}d.yaml", FIRST),
    "yml-extension": _renamed_yml,
    "symlink-out-of-the-repository": _symlink_out,
    "fifo": _fifo,
}


@pytest.mark.parametrize("case", CASES)
def test_a_decisions_file_adjudication_would_not_read_is_refused_by_validate_and_build(
    tmp_path: Path, case: str
) -> None:
    root = copy_project(tmp_path / "p")
    said = CASES[case](root)
    refused_alike(root, tmp_path / "d", said, timeout=120)


def test_a_raw_only_article_without_decisions_is_valid(tmp_path: Path) -> None:
    """An article with no export is legitimate (raw only): only its decisions file is not."""
    root = copy_project(tmp_path / "p")
    (root / "annotations" / "exports" / f"{DELETED}.json").unlink()
    (root / "annotations" / "decisions" / f"{DELETED}.yaml").unlink()
    done = run_cli(root, "validate", "--no-dist", timeout=120)
    assert done.returncode == 0, done.stdout + done.stderr


def _entry(n: int, edit: Callable[[str], str]) -> Callable[[Path], None]:
    """Apply ``edit`` to the text of entry ``n`` (1-based) of FIRST's decisions file."""

    def apply(root: Path) -> None:
        path = root / "annotations" / "decisions" / f"{FIRST}.yaml"
        head, *entries = path.read_text(encoding="utf-8").split("\n- item:")
        entries[n - 1] = edit(entries[n - 1])
        path.write_text("\n- item:".join([head, *entries]), encoding="utf-8")

    return apply


def _blank_why(entry: str) -> str:
    start = entry.index("  why:")
    return entry[:start] + "  why: ' '\n" + entry[entry.index("  conflict:") :]


TIE = "attr:quantities:FATALITIES:387:403:unit"  # entry 1: a set
MEETING = "region:events:MEETING:15:29"  # entry 2: a reject
ACCEPTED = "region:events:MEETING:213:220"  # entry 4: an accept
# case -> (entry, its item, the edit, the line of the file it is on, what is said)
ENTRY_CASES = {
    "decided-by-a-dash": (
        1,
        TIE,
        lambda e: e.replace("decided_by: ai-annotator-reviewer@sahelwire.local", "decided_by: '-'"),
        "  decided_by: '-'",
        "decided_by '-' is not an e-mail; decided_by is the reviewer's e-mail address",
    ),
    "blank-why": (1, TIE, _blank_why, "  why: ' '", "why ' ' is not a reason"),
    "misspelt-key": (
        1,
        TIE,
        lambda e: e + "\n  whyy: a second reason",
        "  whyy:",
        "unknown key 'whyy' (did you mean why?)",
    ),
    # A value on an accept or reject was accepted without a word (a walkthrough).
    "value-on-a-reject": (
        2,
        MEETING,
        lambda e: e.replace("  action: reject\n", "  action: reject\n  value: contact\n"),
        "  value: contact",
        "key 'value' on action 'reject'; only a set decision (of an attr: item) has a value",
    ),
    "value-on-an-accept": (
        4,
        ACCEPTED,
        lambda e: e.replace("  action: accept\n", "  action: accept\n  value: null\n"),
        "  value: null",
        "key 'value' on action 'accept'; only a set decision (of an attr: item) has a value",
    ),
}


@pytest.mark.parametrize("case", ENTRY_CASES)
def test_an_incomplete_decision_is_refused_naming_the_file_the_item_and_what_is_wrong(
    tmp_path: Path, case: str
) -> None:
    root = copy_project(tmp_path / "p")
    n, item, edit, marker, said = ENTRY_CASES[case]
    _entry(n, edit)(root)
    lines = (root / "annotations" / "decisions" / f"{FIRST}.yaml").read_text().splitlines()
    (line,) = [i + 1 for i, text in enumerate(lines) if text.startswith(marker)]
    first = (
        f"error: annotations/decisions/{FIRST}.yaml record {FIRST}: rule {DECISIONS_FILE_RULE}: "
        f"line {line} (entry {n}): decision on '{item}': {said}"
    )
    refused_alike(root, tmp_path / "d", first, timeout=120)
