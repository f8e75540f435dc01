"""The diff's rows table has a column for every split a release has. It had only train,
validation and test: `entity_registry`, `event_registry` and `folds` (one split, `full`:
43, 19 and 10 rows in v0.2.0) showed 0 everywhere, and folds 10 -> 12 was not reported."""

from __future__ import annotations

import copy
import json

from helpers import ROOT, run_cli
from sahelwire.versions.changelog import entry
from sahelwire.versions.data_diff import diff_indexes, diff_json, render_diff

V010 = json.loads((ROOT / "releases" / "v0.1.0.json").read_text(encoding="utf-8"))
V020 = json.loads((ROOT / "releases" / "v0.2.0.json").read_text(encoding="utf-8"))
LEGEND = (
    "`full`: the one split of a config that is not split by article; "
    "'—': the config has no such split in either version."
)


def _rows_table(markdown: str) -> list[str]:
    tail = markdown.split("Rows per config and split (before → after)\n", 1)[1]
    return [line for line in tail.splitlines() if line.startswith("|")]


def test_diff_of_two_releases_shows_the_full_split() -> None:
    shown = run_cli(ROOT, "diff", "v0.1.0", "v0.2.0")
    assert shown.returncode == 0, shown.stderr
    assert LEGEND in shown.stdout
    table = _rows_table(shown.stdout)
    assert table[0] == "| config | train | validation | test | full |"
    assert "| `documents` | 3 | 1 | 1 | — |" in table
    assert "| `entity_registry` | — | — | — | 0 → 43 |" in table  # added in v0.2.0
    assert "| `event_registry` | — | — | — | 0 → 19 |" in table
    assert "| `folds` | — | — | — | 0 → 10 |" in table


def test_a_change_of_a_full_split_is_reported_in_the_changelog_entry() -> None:
    newer = copy.deepcopy(V020)
    newer["version"] = "0.2.1"
    newer["rows"]["folds"]["full"] = 12
    diff = diff_indexes(V020, newer)
    changelog = entry("0.2.1", "2026-12-08", "patch", diff)
    assert "#### Rows per config and split (before → after)" in changelog
    table = _rows_table(changelog)
    assert "| `folds` | — | — | — | 10 → 12 |" in table
    assert "| `entity_registry` | — | — | — | 43 |" in table
    assert diff_json(diff)["rows"]["folds"] == {"full": [10, 12]}
    assert diff_json(diff)["rows"]["documents"] == {
        "train": [3, 3],
        "validation": [1, 1],
        "test": [1, 1],
    }


def test_releases_without_a_full_split_keep_three_columns_and_no_legend() -> None:
    first = render_diff(diff_indexes(None, V010))
    assert _rows_table(first)[0] == "| config | train | validation | test |"
    assert "| `documents` | 0 → 3 | 0 → 1 | 0 → 1 |" in _rows_table(first)
    assert "'—'" not in first and "`full`" not in first
