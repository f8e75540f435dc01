"""`sahelwire publish`: refusals and --dry-run, all decided before anything is sent.

The upload itself -- through the real huggingface_hub client, into a repository a real
mirror serves -- is tested in test_hub_round_trip.py.
"""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest

from helpers import run_cli, unreleased_repo

pytestmark = pytest.mark.slow
REPO_ID = "sahelwire-test/sahelwire-us-niger"


def git(root: Path, *args: str) -> str:
    return subprocess.run(
        ["git", *args], cwd=root, capture_output=True, text=True, check=True
    ).stdout


@pytest.fixture(scope="module")
def released(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = unreleased_repo(tmp_path_factory.mktemp("publish"))
    # before any release there is nothing to publish
    early = run_cli(root, "publish", "--repo-id", REPO_ID, "--dry-run")
    assert early.returncode == 1 and "not released" in early.stderr
    result = run_cli(root, "release", "minor")
    assert result.returncode == 0, result.stderr
    return root


def test_dry_run_lists_exactly_the_released_files(released: Path) -> None:
    result = run_cli(released, "publish", "--repo-id", REPO_ID, "--dry-run")
    assert result.returncode == 0, result.stderr
    manifest = json.loads((released / "releases/v0.1.0.json").read_text())
    listed = {}
    for line in result.stdout.splitlines():
        parts = line.split()
        if len(parts) == 3 and len(parts[0]) == 64:
            listed[parts[2]] = (parts[0], int(parts[1]))
    assert listed == {n: (m["sha256"], m["bytes"]) for n, m in manifest["files"].items()}
    assert "tag v0.1.0" in result.stdout and "dry run: nothing uploaded" in result.stdout


def test_refuses_a_build_that_is_not_the_release(released: Path) -> None:
    dist = released / "dist"
    card = dist / "README.md"
    original = card.read_bytes()
    card.write_bytes(original + b"\nedited after the release\n")
    changed = run_cli(released, "publish", "--repo-id", REPO_ID, "--dry-run")
    card.write_bytes(original)
    assert changed.returncode == 1 and "README.md: differs from release v0.1.0" in changed.stderr

    (dist / "notes.txt").write_text("local scratch file")
    extra = run_cli(released, "publish", "--repo-id", REPO_ID, "--dry-run")
    (dist / "notes.txt").unlink()
    assert extra.returncode == 1 and "notes.txt: in dist/ but not in release" in extra.stderr

    bad_id = run_cli(released, "publish", "--repo-id", "no-slash", "--dry-run")
    assert bad_id.returncode == 2 and "ORG/NAME" in bad_id.stderr  # usage
    assert "sahelwire build --release v0.1.0 --out" in changed.stderr  # how to get it back

    moved = released.parent / "dist-moved"
    dist.rename(moved)
    try:
        gone = run_cli(released, "publish", "--repo-id", REPO_ID, "--dry-run")
    finally:
        moved.rename(dist)
    assert gone.returncode == 2, gone.stderr  # the machine's state, not invalid data
    assert f"the build folder {dist} does not exist" in gone.stderr
    assert "sahelwire build --release v0.1.0" in gone.stderr and "Traceback" not in gone.stderr


def test_publish_without_token_is_a_usage_error(released: Path) -> None:
    result = run_cli(released, "publish", "--repo-id", REPO_ID, env={"HF_TOKEN": ""})
    assert result.returncode == 2 and "HF_TOKEN" in result.stderr


def test_publish_needs_the_tag_at_the_release_commit(released: Path) -> None:
    """The local tag must be the commit that added the manifest; a missing one is recreated."""
    release_commit = git(released, "rev-parse", "v0.1.0^{commit}").strip()
    git(released, "tag", "-d", "v0.1.0")
    missing = run_cli(released, "publish", "--repo-id", REPO_ID, "--dry-run")
    assert missing.returncode == 1
    assert "git tag v0.1.0 does not exist" in missing.stderr
    assert "sahelwire releases --create-tags" in missing.stderr

    git(released, "tag", "v0.1.0", f"{release_commit}~1")  # a tag on the wrong commit
    elsewhere = run_cli(released, "publish", "--repo-id", REPO_ID, "--dry-run")
    assert elsewhere.returncode == 1 and "points at" in elsewhere.stderr
    git(released, "tag", "-d", "v0.1.0")

    recreated = run_cli(released, "releases", "--create-tags")
    assert recreated.returncode == 0, recreated.stderr
    assert f"v0.1.0  {release_commit[:12]}  tag ok  (created now)" in recreated.stdout
    assert git(released, "rev-parse", "v0.1.0^{commit}").strip() == release_commit
    assert run_cli(released, "publish", "--repo-id", REPO_ID, "--dry-run").returncode == 0
