"""A release manifest edited after its release is refused by every command that takes it as
the release: ``verify`` and ``diff`` now as ``releases`` and ``build --release`` always did
(one check, ``history.release_commit``: the copy the commit that added it recorded). And a
file's size is checked beside its sha256.

Walkthrough D8: a tampered copy of v0.2.0 with the manifest "fixed" to match was verified
(exit 0, "IS v0.2.0"); a manifest's ``bytes`` was never compared.
"""

from __future__ import annotations

import hashlib
import json
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest

from helpers import ROOT, copy_project, run_cli

pytestmark = pytest.mark.slow

MANIFEST = "releases/v0.2.0.json"


def clone(dest: Path) -> Path:
    """This repository's history (its real releases), in a throwaway clone."""
    subprocess.run(["git", "clone", "-q", str(ROOT), str(dest)], check=True)
    return dest


def git(root: Path, *args: str) -> None:
    identity = ["-c", "user.name=t", "-c", "user.email=t@example.org", "-c", "commit.gpgsign=false"]
    subprocess.run(["git", "-C", str(root), *identity, *args], check=True, capture_output=True)


def test_an_edited_manifest_is_refused_by_verify_and_diff_as_by_releases(tmp_path: Path) -> None:
    root = clone(tmp_path / "clone")
    path = root / MANIFEST
    manifest = json.loads(path.read_text(encoding="utf-8"))
    # the walkthrough's edit: LICENSE.md's sha256 set to a tampered copy's (uncommitted)
    manifest["files"]["LICENSE.md"]["sha256"] = hashlib.sha256(b"tampered\n").hexdigest()
    path.write_text(json.dumps(manifest, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")

    said = "recorded; a release manifest is never edited after its release"
    releases = run_cli(root, "releases")
    assert releases.returncode == 2 and said in releases.stderr, releases.stderr
    message = releases.stderr.strip().removeprefix("sahelwire: ")
    assert message.startswith(f"{MANIFEST} differs from the copy every adding commit (")

    folder = tmp_path / "download"  # never read: the reference is refused first
    folder.mkdir()
    for command, prefix in (
        (("verify", "v0.2.0", "--path", str(folder)), "cannot verify v0.2.0: "),
        (("diff", "v0.1.0", "v0.2.0", "--json"), ""),
    ):
        result = run_cli(root, *command)
        assert result.returncode == 2, (command, result.stdout + result.stderr)
        # the same message as `releases`, one line, nothing on stdout
        assert result.stderr == f"sahelwire: {prefix}{message}\n", (command, result.stderr)
        assert result.stdout == "", command

    # committed, the edit is still refused: the adding commit's copy is the record
    git(root, "commit", "-qam", "edit v0.2.0")
    again = run_cli(root, "diff", "v0.1.0", "v0.2.0")
    assert again.returncode == 2 and again.stderr == f"sahelwire: {message}\n", again.stderr
    # nor is a release cut on top of it (its CHANGELOG entry is that diff)
    head = subprocess.run(
        ["git", "-C", str(root), "rev-parse", "HEAD"], capture_output=True, text=True, check=True
    ).stdout
    cut = run_cli(root, "release", "patch")
    assert cut.returncode == 2, cut.stdout + cut.stderr
    assert cut.stderr == f"sahelwire: release refused: {message}; nothing was changed\n"
    assert not (root / "releases/v0.2.1.json").exists()
    assert (
        subprocess.run(
            ["git", "-C", str(root), "rev-parse", "HEAD"], capture_output=True, text=True
        ).stdout
        == head
    )

    # put back, both work again
    git(root, "revert", "--no-edit", "HEAD")
    diff = run_cli(root, "diff", "v0.1.0", "v0.2.0")
    assert diff.returncode == 0 and diff.stderr == "", diff.stderr
    assert diff.stdout.startswith("# v0.1.0 -> v0.2.0")


def test_without_git_history_diff_says_the_manifests_were_not_checked(tmp_path: Path) -> None:
    # a source tarball: the diff still reads two manifests (docs/releasing.md), and says
    # what it could not check
    root = copy_project(tmp_path / "tarball")
    shutil.copytree(ROOT / "releases", root / "releases")
    result = run_cli(root, "diff", "v0.1.0", "v0.2.0")
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("# v0.1.0 -> v0.2.0")
    for version in ("v0.1.0", "v0.2.0"):
        assert (
            f"note: no git history here: releases/{version}.json was not checked against the "
            "commit that added it" in result.stderr
        )


def test_a_file_of_another_size_than_the_manifest_says_is_named(tmp_path: Path) -> None:
    # a manifest held apart from the project (--manifest): its `bytes` are compared as its
    # sha256 are (they were never compared: a manifest saying 1 byte verified, exit 0)
    folder = tmp_path / "download"
    folder.mkdir()
    data = b"annotations CC BY 4.0\n"
    (folder / "LICENSE.md").write_bytes(data)
    sha = hashlib.sha256(data).hexdigest()
    manifest: dict[str, Any] = {
        "version": "0.2.0",
        "tag": "v0.2.0",
        "files": {"LICENSE.md": {"bytes": 1, "sha256": sha}},
        "rows": {},
    }
    held = tmp_path / "v0.2.0.json"
    held.write_text(json.dumps(manifest), encoding="utf-8")
    result = run_cli(tmp_path, "verify", "v0.2.0", "--path", str(folder), "--manifest", str(held))
    assert result.returncode == 1, result.stdout + result.stderr
    assert (
        f"error: {folder} record LICENSE.md field bytes: rule size equals releases/v0.2.0.json "
        f"value {len(data)}: release v0.2.0 has 1 bytes"
    ) in result.stdout, result.stdout
    assert "is NOT v0.2.0: 1 problem(s)" in result.stdout

    manifest["files"]["LICENSE.md"]["bytes"] = len(data)
    held.write_text(json.dumps(manifest), encoding="utf-8")
    ok = run_cli(tmp_path, "verify", "v0.2.0", "--path", str(folder), "--manifest", str(held))
    assert ok.returncode == 0, ok.stdout + ok.stderr
    assert "IS v0.2.0: 0 problem(s)" in ok.stdout
