"""The input rules' clean verdicts memoised per export file (sahelwire.release.file_rule_cache).

``validate`` with the memo must report exactly what it reports without (Problems, in order,
and the rows it counts), whatever the memo holds: cold, warm, after one export changes
without breaking a rule, after one breaks a rule and is mended, after an article's decisions
file changes, with a repeated id in a chunk of clean files, and with a damaged pack.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import polars as pl
import pytest

from helpers import copy_project, record_made, run_cli
from sahelwire.annotations.adjudication import DECISIONS_FILE_RULE
from sahelwire.annotations.layers import AnnotationLayers
from sahelwire.io.article_packs import CACHE_ENV
from sahelwire.io.paths import ProjectPaths
from sahelwire.release import validation
from sahelwire.release.file_rule_cache import FileRuleMemo, cache_folder
from sahelwire.release.validation import validate_project

Report = tuple[list[str], dict[str, int]]


@pytest.fixture()
def memos(monkeypatch: pytest.MonkeyPatch) -> list[FileRuleMemo]:
    return record_made(monkeypatch, FileRuleMemo)


def report(paths: ProjectPaths, monkeypatch: pytest.MonkeyPatch, *, memo: bool) -> Report:
    monkeypatch.setenv(CACHE_ENV, "on" if memo else "off")
    found = validate_project(paths, include_dist=False)
    return [str(p) for p in found.problems], dict(found.checked)


def counts(memos: list[FileRuleMemo]) -> tuple[int, int]:
    return memos[-1].stats.hits, memos[-1].stats.misses


def rewrite(export: Path, task: dict[str, Any]) -> None:
    export.write_text(json.dumps(task, ensure_ascii=False, indent=2, sort_keys=True) + "\n")


def test_the_memo_never_changes_what_validate_reports(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, memos: list[FileRuleMemo]
) -> None:
    paths = ProjectPaths(copy_project(tmp_path / "p"))
    exports = sorted(paths.exports_dir.glob("*.json"))
    n = len(exports)
    plain = report(paths, monkeypatch, memo=False)
    assert plain[0] == [] and plain[1]["annotations"] > 0
    assert report(paths, monkeypatch, memo=True) == plain and counts(memos) == (0, n)
    assert list(cache_folder(paths).glob("*.pack"))
    assert report(paths, monkeypatch, memo=True) == plain and counts(memos) == (n, 0)

    # A lead time changes (no rule reads it): that file alone is checked again.
    task = json.loads(exports[0].read_text(encoding="utf-8"))
    task["annotations"][0]["lead_time"] = float(task["annotations"][0]["lead_time"] or 0.0) + 1.5
    rewrite(exports[0], task)
    plain = report(paths, monkeypatch, memo=False)
    assert plain[0] == []
    assert report(paths, monkeypatch, memo=True) == plain and counts(memos) == (n - 1, 1)
    assert report(paths, monkeypatch, memo=True) == plain and counts(memos) == (n, 0)

    # A region's text no longer matches the article in another file: its Problems are
    # those validate reports without the memo, and no verdict is kept from that run.
    original = exports[1].read_text(encoding="utf-8")
    task = json.loads(original)
    region = next(r for r in task["annotations"][0]["result"] if r.get("type") == "labels")
    region["value"]["text"] += "x"
    rewrite(exports[1], task)
    broken = report(paths, monkeypatch, memo=False)
    assert broken[0]
    assert report(paths, monkeypatch, memo=True) == broken and counts(memos) == (n - 1, 1)
    exports[1].write_text(original, encoding="utf-8")  # mended: its verdict of before holds
    assert report(paths, monkeypatch, memo=True) == plain and counts(memos) == (n, 0)

    # An article's decisions file changes (the gold is made from it): its file is checked.
    article = json.loads(exports[2].read_text(encoding="utf-8"))["data"]["article_id"]
    decisions = paths.decisions_dir / f"{article}.yaml"
    kept = decisions.read_bytes() if decisions.exists() else None
    decisions.write_bytes((kept or b"decisions: []\n") + b"# read again\n")
    expected = report(paths, monkeypatch, memo=False)
    assert report(paths, monkeypatch, memo=True) == expected and counts(memos) == (n - 1, 1)
    assert report(paths, monkeypatch, memo=True) == expected and counts(memos) == (n, 0)
    if kept is None:
        decisions.unlink()
    else:
        decisions.write_bytes(kept)
    assert report(paths, monkeypatch, memo=True) == plain and counts(memos) == (n - 1, 1)

    for pack in cache_folder(paths).glob("*.pack"):
        pack.write_bytes(b"damaged")
    assert report(paths, monkeypatch, memo=True) == plain
    assert memos[-1].stats.ignored and counts(memos) == (0, n)


def test_a_repeated_id_in_a_chunk_of_clean_files_is_checked_whole(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, memos: list[FileRuleMemo]
) -> None:
    # A column's `unique` (and a composite key) is a rule over the whole table: a clean
    # file and another can break it together, so such a chunk is never cut to its changes.
    paths = ProjectPaths(copy_project(tmp_path / "p"))
    assert report(paths, monkeypatch, memo=True)[0] == []  # every file clean now
    real = validation.iter_annotation_layers

    def repeated(*args: Any, **kwargs: Any) -> Iterator[AnnotationLayers]:
        for chunk in real(*args, **kwargs):
            ids = chunk.annotations["annotation_id"]
            twice = pl.Series("annotation_id", [*ids[:-1], ids[0]], dtype=ids.dtype)
            yield dataclasses.replace(chunk, annotations=chunk.annotations.with_columns(twice))

    monkeypatch.setattr(validation, "iter_annotation_layers", repeated)
    expected = report(paths, monkeypatch, memo=False)
    assert any("annotation_id" in p for p in expected[0]), expected[0]
    assert report(paths, monkeypatch, memo=True) == expected
    assert counts(memos)[0] == 0


def test_an_unreadable_decisions_file_is_a_problem_with_or_without_the_memo(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, memos: list[FileRuleMemo]
) -> None:
    """A decisions file that cannot be read (a folder in its place): the memo keys it as
    unreadable, adjudication reports it as a Problem naming the file, the same with the
    memo or without, and ``validate`` and ``build`` both refuse it (exit 1, no traceback).
    The article's gold is then made without decisions, so its export's rules run once under
    the unreadable key, and that verdict holds while it stays unreadable (one verdict a file:
    once mended, its rules run again)."""
    root = copy_project(tmp_path / "p")
    paths = ProjectPaths(root)
    exports = sorted(paths.exports_dir.glob("*.json"))
    n = len(exports)
    plain = report(paths, monkeypatch, memo=False)
    assert report(paths, monkeypatch, memo=True) == plain and counts(memos) == (0, n)
    article = json.loads(exports[0].read_text(encoding="utf-8"))["data"]["article_id"]
    decisions = paths.decisions_dir / f"{article}.yaml"
    aside = tmp_path / "aside.yaml"
    if decisions.exists():
        decisions.rename(aside)
    decisions.mkdir(parents=True)
    assert FileRuleMemo(cache_folder(paths), "f", paths.decisions_dir)._decision(article) == (
        b"unreadable"
    )
    broken = report(paths, monkeypatch, memo=False)
    named = f"annotations/decisions/{article}.yaml"
    assert any(
        p.startswith(named) and DECISIONS_FILE_RULE in p and "cannot be read (Is a directory)" in p
        for p in broken[0]
    ), broken[0]
    assert report(paths, monkeypatch, memo=True) == broken and counts(memos) == (n - 1, 1)
    assert report(paths, monkeypatch, memo=True) == broken and counts(memos) == (n, 0)
    for command in (["validate", "--no-dist"], ["build", "--out", str(tmp_path / "d")]):
        done = run_cli(root, *command)
        assert done.returncode == 1 and "Traceback" not in done.stderr, done.stderr
        assert "cannot be read (Is a directory)" in done.stdout + done.stderr
    assert not (tmp_path / "d").exists()
    decisions.rmdir()
    if aside.exists():
        aside.rename(decisions)
    assert report(paths, monkeypatch, memo=True) == plain and counts(memos) == (n - 1, 1)
    assert report(paths, monkeypatch, memo=True) == plain and counts(memos) == (n, 0)
