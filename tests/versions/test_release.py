"""`sahelwire release` and `sahelwire diff` in a real temporary git repository.

The project is copied into a fresh repo, released through the real CLI (real build,
real git commit and tag), edited the way a maintainer would (an annotation removed from a
Label Studio export, a label set reordered), and released again. Tests run in file order
on one repository, each starting from the state the previous one left (a tag per release).
"""

from __future__ import annotations

import hashlib
import json
import subprocess
from pathlib import Path

import pytest

from helpers import drop_entity_region, run_cli, snapshot, unreleased_repo
from sahelwire.versions.changelog import MARKER
from sahelwire.versions.releases import bump, pyproject_versions, set_pyproject_version

pytestmark = pytest.mark.slow


def git(root: Path, *args: str) -> str:
    return subprocess.run(
        ["git", *args], cwd=root, capture_output=True, text=True, check=True
    ).stdout


def commit_all(root: Path, message: str) -> None:
    git(root, "add", "-A")
    git(root, "commit", "-q", "-m", message)


@pytest.fixture(scope="module")
def repo(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return unreleased_repo(tmp_path_factory.mktemp("release"))


def test_version_helpers() -> None:
    assert bump("0.0.0", "minor") == "0.1.0"
    assert bump("0.1.3", "patch") == "0.1.4"
    assert bump("0.9.2", "major") == "1.0.0"
    text = '[project]\nversion = "0.1.0"\n[tool.sahelwire]\ndata_version = "0.1.0"\n'
    assert pyproject_versions(set_pyproject_version(text, "2.0.0")) == ("2.0.0", "2.0.0")


def test_first_release_records_and_tags_everything(repo: Path) -> None:
    result = run_cli(repo, "release", "minor")
    assert result.returncode == 0, result.stderr
    assert "released v0.1.0" in result.stdout
    assert git(repo, "tag", "--list").split() == ["v0.1.0"]
    assert git(repo, "status", "--porcelain") == ""  # everything the release wrote is committed
    assert "releases/v0.1.0.json" in git(repo, "show", "--name-only", "v0.1.0")

    manifest = json.loads((repo / "releases/v0.1.0.json").read_text())
    assert manifest["version"] == "0.1.0" and manifest["previous"] is None
    assert manifest["taxonomy_version"]
    dist = repo / "dist"
    on_disk = {p.relative_to(dist).as_posix() for p in dist.rglob("*") if p.is_file()}
    assert set(manifest["files"]) == on_disk
    for name, meta in manifest["files"].items():
        data = (dist / name).read_bytes()
        assert meta == {"bytes": len(data), "sha256": hashlib.sha256(data).hexdigest()}
    n_articles = len((repo / "dataset/raw/manifest.jsonl").read_text().splitlines())
    assert sum(manifest["rows"]["documents"].values()) == n_articles
    assert len(manifest["content"]["articles"]) == n_articles

    # one version everywhere: pyproject (both keys), card, croissant, tag
    assert pyproject_versions((repo / "pyproject.toml").read_text()) == ("0.1.0", "0.1.0")
    assert "Data version **0.1.0**" in (repo / "DATASET_CARD.md").read_text()
    assert 'REVISION = "v0.1.0"' in (dist / "README.md").read_text()
    assert json.loads((dist / "croissant.json").read_text())["version"] == "0.1.0"
    # plots are in the release and the card, without the library version (stable bytes)
    for png in ("plots/label_distribution.png", "plots/article_lengths.png"):
        assert png in manifest["files"] and f"]({png})" in (dist / "README.md").read_text()
        assert b"Software" not in (dist / png).read_bytes()
    changelog = (repo / "CHANGELOG.md").read_text()
    assert "## [0.1.0]" in changelog and f"- added: {n_articles} (" in changelog
    assert "\nWhich (" not in changelog  # the first release adds all: no list of the whole gold


def test_refusals_change_nothing(repo: Path) -> None:
    before = snapshot(repo / "releases"), (repo / "pyproject.toml").read_bytes()
    (repo / "stray.txt").write_text("not committed")
    dirty = run_cli(repo, "release", "patch")
    assert dirty.returncode == 2 and "not clean" in dirty.stderr and "stray.txt" in dirty.stderr
    (repo / "stray.txt").unlink()

    bad = next((repo / "dataset/raw/texts").glob("*.txt"))
    original = bad.read_bytes()
    bad.write_bytes(original + b" tampered")
    commit_all(repo, "tamper with a raw text")
    invalid = run_cli(repo, "release", "patch")
    assert invalid.returncode == 1
    assert "validation failed" in invalid.stderr and bad.name in invalid.stderr
    bad.write_bytes(original)
    commit_all(repo, "restore the raw text")

    changelog = repo / "CHANGELOG.md"
    kept = changelog.read_text(encoding="utf-8")
    changelog.write_text(kept.replace(MARKER, MARKER + "\n\n## [0.1.1] - by hand\n"))
    commit_all(repo, "a CHANGELOG that already lists the next version")
    listed = run_cli(repo, "release", "patch")
    assert listed.returncode == 2 and "Traceback" not in listed.stderr, listed.stderr
    assert "CHANGELOG.md: already has an entry for 0.1.1" in listed.stderr
    changelog.write_text(kept)
    commit_all(repo, "restore the CHANGELOG")

    assert (snapshot(repo / "releases"), (repo / "pyproject.toml").read_bytes()) == before
    assert git(repo, "tag", "--list").split() == ["v0.1.0"]


def test_patch_release_changelog_and_diff(repo: Path) -> None:
    label = drop_entity_region(sorted((repo / "annotations/exports").glob("*.json"))[0])
    commit_all(repo, "correct an annotation")

    pending = run_cli(repo, "diff", "v0.1.0", "--json")
    assert pending.returncode == 0, pending.stderr
    data = json.loads(pending.stdout)
    assert data["required_level"] == "patch"
    assert data["annotations"]["entities"][label] == {"removed": 1}

    result = run_cli(repo, "release", "patch")
    assert result.returncode == 0, result.stderr
    assert git(repo, "tag", "--list").split() == ["v0.1.0", "v0.1.1"]
    entry = (repo / "CHANGELOG.md").read_text().split("## [0.1.0]")[0]
    assert "## [0.1.1]" in entry and f"| entities | `{label}` | 0 | 1 | 0 |" in entry
    # and which one: the removed mention's article and offsets (walkthrough D7)
    (removed,) = data["annotation_ids"]["entities"][label]["removed"]
    assert removed.startswith(sorted((repo / "annotations/exports").glob("*.json"))[0].stem)
    assert f"- entities `{label}` removed: `{removed}`\n" in entry
    assert "text changed: 0" in entry and "no config, column, type or label-set change" in entry

    printed = run_cli(repo, "diff", "v0.1.0", "v0.1.1")
    assert printed.returncode == 0
    assert f"| entities | `{label}` | 0 | 1 | 0 |" in printed.stdout
    missing = run_cli(repo, "diff", "v0.0.9", "v0.1.1")
    assert missing.returncode == 2 and "no release manifest v0.0.9.json" in missing.stderr


def test_breaking_label_change_requires_major(repo: Path) -> None:
    taxonomy = repo / "schemas/taxonomy.yaml"
    lines = taxonomy.read_text(encoding="utf-8").splitlines(keepends=True)
    nav = next(i for i, line in enumerate(lines) if "{name: NAVIGATION," in line)
    assert "{name: PROMOTION," in lines[nav + 1]
    lines[nav], lines[nav + 1] = lines[nav + 1], lines[nav]  # reorder: class ids change meaning
    taxonomy.write_text("".join(lines), encoding="utf-8")
    commit_all(repo, "reorder zone labels")

    # Before 1.0.0 the minor is the breaking position (Cargo's reading of SemVer §4).
    refused = run_cli(repo, "release", "patch")
    assert refused.returncode == 1
    assert "requires a minor release (breaking; before 1.0.0" in refused.stderr
    assert "documents.zones[].label" in refused.stderr and "reordered" in refused.stderr
    assert git(repo, "status", "--porcelain") == ""

    result = run_cli(repo, "release", "minor")
    assert result.returncode == 0, result.stderr
    assert pyproject_versions((repo / "pyproject.toml").read_text()) == ("0.2.0", "0.2.0")
    entry = (repo / "CHANGELOG.md").read_text().split("## [0.1.1]")[0]
    assert "## [0.2.0]" in entry and "**BREAKING** `documents.zones[].label`" in entry
    assert "Release level: minor (**BREAKING**: before 1.0.0" in entry
