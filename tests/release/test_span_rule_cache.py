"""The span rules' clean verdicts memoised per article (sahelwire.release.span_rule_cache).

``validate`` with the memo must report exactly what it reports without (Problems, in order),
whatever the memo holds: cold, warm, after one export's span breaks a rule, after it is
fixed again, and with a damaged pack.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from helpers import copy_project, record_made
from sahelwire.io.article_packs import CACHE_ENV
from sahelwire.io.paths import ProjectPaths
from sahelwire.release.file_rule_cache import FileRuleMemo
from sahelwire.release.span_rule_cache import SpanRuleMemo, cache_folder
from sahelwire.release.validation import validate_project


@pytest.fixture()
def memos(monkeypatch: pytest.MonkeyPatch) -> list[SpanRuleMemo]:
    # The span memo alone: with the per-file memo (test_file_rule_cache) a warm run would
    # not ask it about files that passed every rule before.
    monkeypatch.setattr(FileRuleMemo, "for_project", classmethod(lambda cls, *a: None))
    return record_made(monkeypatch, SpanRuleMemo)


def problems(paths: ProjectPaths, monkeypatch: pytest.MonkeyPatch, *, memo: bool) -> list[str]:
    monkeypatch.setenv(CACHE_ENV, "on" if memo else "off")
    return [str(p) for p in validate_project(paths).problems]


def test_the_memo_never_changes_what_validate_reports(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, memos: list[SpanRuleMemo]
) -> None:
    paths = ProjectPaths(copy_project(tmp_path / "p"))
    assert problems(paths, monkeypatch, memo=False) == []
    assert problems(paths, monkeypatch, memo=True) == []  # cold: every article checked
    cold = {kind: stats.misses for kind, stats in memos[-1].stats.items()}
    assert cold["annotations"] > 0 and cold["gold"] > 0
    assert problems(paths, monkeypatch, memo=True) == []
    warm = memos[-1].stats
    assert {k: (s.hits, s.misses) for k, s in warm.items()} == {k: (n, 0) for k, n in cold.items()}

    # One region's text no longer matches the article: that article is checked again and
    # the Problem is the one validate reports without the memo.
    export = sorted(paths.exports_dir.glob("*.json"))[0]
    original = export.read_text(encoding="utf-8")
    task = json.loads(original)
    region = next(r for r in task["annotations"][0]["result"] if r.get("type") == "labels")
    region["value"]["text"] = region["value"]["text"] + "x"
    export.write_text(json.dumps(task, ensure_ascii=False, indent=2, sort_keys=True) + "\n")
    expected = problems(paths, monkeypatch, memo=False)
    assert expected
    assert problems(paths, monkeypatch, memo=True) == expected
    assert memos[-1].stats["annotations"].misses == 1

    export.write_text(original, encoding="utf-8")
    assert problems(paths, monkeypatch, memo=True) == []

    for pack in cache_folder(paths).rglob("*.pack"):
        pack.write_bytes(b"damaged")
    assert problems(paths, monkeypatch, memo=True) == []
    assert all(s.ignored and s.hits == 0 for s in memos[-1].stats.values())
