"""`sahelwire publish` refusals, on a real release in a temporary git repository.

No upload happens in these tests: every case is refused before anything is sent (the
refusals run in plan_publish, before the token is even read), so the Hub is not needed
and not mocked.
"""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

from helpers import SAHELWIRE, run_cli, snapshot, unreleased_repo

pytestmark = pytest.mark.slow


def git(root: Path, *args: str) -> str:
    return subprocess.run(
        ["git", *args], cwd=root, capture_output=True, text=True, check=True
    ).stdout


@pytest.fixture(scope="module")
def released(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = unreleased_repo(tmp_path_factory.mktemp("publish") / "proj")
    result = run_cli(root, "release", "minor")
    assert result.returncode == 0, result.stderr
    return root


def publish(root: Path, *args: str, token: str | None = None) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k != "HF_TOKEN"}
    env["SAHELWIRE_ROOT"] = str(root)
    if token is not None:
        env["HF_TOKEN"] = token
    return subprocess.run(
        [str(SAHELWIRE), "publish", *args],
        cwd=root,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )


def test_released_build_passes_the_dry_run(released: Path) -> None:
    result = publish(released, "--repo-id", "someone/sahelwire-test", "--dry-run")
    assert result.returncode == 0, result.stderr
    assert "dry run: nothing uploaded" in result.stdout


def test_symlink_out_of_the_build_folder_is_refused(released: Path, tmp_path: Path) -> None:
    outside = tmp_path / "private.txt"
    outside.write_text("not part of the dataset")
    link = released / "dist" / "data" / "extra.txt"
    link.symlink_to(outside)
    try:
        result = publish(released, "--repo-id", "someone/sahelwire-test", token="hf_" + "x" * 34)
        assert result.returncode == 1, result.stdout
        assert "symlink in the build folder" in result.stderr and "Traceback" not in result.stderr
    finally:
        link.unlink()


def test_extra_or_changed_file_in_dist_is_refused(released: Path) -> None:
    extra = released / "dist" / "notes.txt"
    extra.write_text("a stray file")
    card = released / "dist" / "README.md"
    original = card.read_bytes()
    card.write_bytes(original + b"\nedited after the release\n")
    try:
        result = publish(released, "--repo-id", "someone/sahelwire-test", token="hf_" + "x" * 34)
        assert result.returncode == 1
        assert "notes.txt: in dist/ but not in release" in result.stderr
        assert "README.md: differs from release" in result.stderr
    finally:
        extra.unlink()
        card.write_bytes(original)


@pytest.mark.parametrize("repo_id", ["no-slash", "a/b/c"])
def test_malformed_repo_id_is_refused(released: Path, repo_id: str) -> None:
    result = publish(released, "--repo-id", repo_id, "--dry-run")
    assert result.returncode == 2 and "--repo-id must be ORG/NAME" in result.stderr


def test_missing_hub_token_is_refused_before_any_upload(released: Path) -> None:
    before = snapshot(released / "dist")
    result = publish(released, "--repo-id", "someone/sahelwire-test")
    assert result.returncode == 2
    assert "set HF_TOKEN" in result.stderr and "Traceback" not in result.stderr
    assert snapshot(released / "dist") == before


def test_unreleased_version_is_refused(released: Path) -> None:
    pyproject = released / "pyproject.toml"
    original = pyproject.read_text()
    pyproject.write_text(original.replace('data_version = "0.1.0"', 'data_version = "9.9.9"'))
    try:
        result = publish(released, "--repo-id", "someone/sahelwire-test", "--dry-run")
        assert result.returncode == 1 and "is not released" in result.stderr
    finally:
        pyproject.write_text(original)


def test_publish_without_an_explicit_repo_id_is_refused(released: Path) -> None:
    result = publish(released, "--dry-run")
    assert result.returncode == 2
    assert "explicit --repo-id" in result.stderr and "nothing uploaded" in result.stderr
