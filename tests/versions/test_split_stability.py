"""Released articles keep their split across versions, and a release with an empty split
verifies (a researcher/maintainer walkthrough: ingesting one new article moved v0.2.0's only
test article to train; a release whose validation split had no gold failed `verify` of its
own build).

Real CLI in a real git repository: `release`, `ingest`, `verify`, `build`.
"""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest

from helpers import run_cli, unreleased_repo
from sahelwire.release.splits import assign_splits

pytestmark = pytest.mark.slow

RATIOS = {"train": 0.6, "validation": 0.2, "test": 0.2}


def git(root: Path, *args: str) -> str:
    return subprocess.run(
        ["git", *args], cwd=root, capture_output=True, text=True, check=True
    ).stdout


def splits_of(root: Path, version: str) -> dict[str, str]:
    manifest = json.loads((root / "releases" / f"v{version}.json").read_text())
    return {a: e["split"] for a, e in manifest["content"]["articles"].items()}


def test_pinned_clusters_stay_and_only_new_ones_are_placed() -> None:
    # Without pins, adding a large new cluster reshuffles: with them, the released stay put.
    before = {"a1": "s", "a2": "s", "b1": "t", "c1": "u", "d1": "v", "e1": "w"}
    released = assign_splits(before, RATIOS, 7)
    grown = {**before, **{f"n{i}": "big" for i in range(5)}}
    after = assign_splits(grown, RATIOS, 7, released)
    assert {a: after[a] for a in before} == released
    assert len({after[f"n{i}"] for i in range(5)}) == 1
    # A cluster whose released articles were in different splits goes where most were...
    merged = {"x1": "m", "x2": "m", "x3": "m", "y": "o"}
    pins = {"x1": "train", "x2": "train", "x3": "test"}
    assert assign_splits(merged, RATIOS, 7, pins)["x3"] == "train"
    # ... and on a tie to the held-out split (test before validation before train).
    tie = assign_splits({"x1": "m", "x2": "m"}, RATIOS, 7, {"x1": "train", "x2": "test"})
    assert tie == {"x1": "test", "x2": "test"}
    # Ids a release had that the corpus no longer has are ignored.
    assert assign_splits({"z": "z"}, RATIOS, 7, {"gone": "test"}) == {"z": "train"}


def test_a_new_article_moves_no_released_one(tmp_path: Path) -> None:
    root = unreleased_repo(tmp_path / "repo")
    assert run_cli(root, "release", "minor").returncode == 0
    first = splits_of(root, "0.1.0")
    assert "test" in first.values()

    story = tmp_path / "new_story.txt"
    story.write_text(
        "Niamey, 3 May 2024. A new unannotated report on the drawdown.\n", encoding="utf-8"
    )
    ingested = run_cli(root, "ingest", str(story))
    assert ingested.returncode == 0, ingested.stdout + ingested.stderr
    git(root, "add", "-A")
    git(root, "commit", "-q", "-m", "ingest one article")

    released = run_cli(root, "release", "minor")
    assert released.returncode == 0, released.stdout + released.stderr
    second = splits_of(root, "0.2.0")
    assert {a: second[a] for a in first} == first  # every released article kept its split
    assert len(second) == len(first) + 1
    card = (root / "DATASET_CARD.md").read_text(encoding="utf-8")
    assert (
        f"Every article of release v0.1.0 keeps the split it had there ({len(first)} article(s), "
        "`releases/v0.1.0.json`)"
    ) in card
    diff = run_cli(root, "diff", "v0.1.0", "v0.2.0")
    assert diff.returncode == 0 and "- added: 1 (" in diff.stdout, diff.stdout
    assert "moved to another split" not in diff.stdout, diff.stdout


def test_a_release_with_an_empty_split_verifies(tmp_path: Path) -> None:
    root = unreleased_repo(tmp_path / "repo")
    # The validation article without annotations: `documents` has it, the gold configs have
    # no validation rows (and so no validation file).
    validation = "004_d8470e8c95419e20"
    (root / "annotations" / "exports" / f"{validation}.json").unlink()
    (root / "annotations" / "decisions" / f"{validation}.yaml").unlink()
    git(root, "add", "-A")
    git(root, "commit", "-q", "-m", "the validation article unannotated")

    released = run_cli(root, "release", "minor")
    assert released.returncode == 0, released.stdout + released.stderr
    assert splits_of(root, "0.1.0")[validation] == "validation"
    rows = json.loads((root / "releases/v0.1.0.json").read_text())["rows"]
    assert rows["documents"]["validation"] == 1
    assert "validation" not in rows["mentions"]  # no file, so not a split the release has
    assert not list((root / "dist/data/mentions").glob("validation-*"))
    card = (root / "DATASET_CARD.md").read_text(encoding="utf-8")
    assert "Splits with no rows have no file, so `load_dataset` does not return them: " in card
    assert "`mentions` validation" in card

    verified = run_cli(root, "verify", "v0.1.0", "--path", "dist", timeout=600)
    output = verified.stdout + verified.stderr
    assert verified.returncode == 0 and "Traceback" not in output, output
