"""Every release is recoverable without tags: its source commit from history, its bytes rebuilt.

The real v0.1.0 (this repository's own history, no tag needed) is rebuilt by
``sahelwire build --release v0.1.0`` with the code of the commit that added
releases/v0.1.0.json -- module names of that time, not today's -- and must equal its
manifest byte for byte. Refusals run in temporary repositories.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import stat
import subprocess
from importlib import metadata
from pathlib import Path

import pytest

from helpers import ROOT, run_cli, snapshot, unreleased_repo
from sahelwire.io.atomic import folder_mode
from sahelwire.versions.rebuild import pin_mismatches

pytestmark = pytest.mark.slow


def git(root: Path, *args: str) -> str:
    return subprocess.run(
        ["git", *args], cwd=root, capture_output=True, text=True, check=True
    ).stdout


def test_build_release_reproduces_v0_1_0_from_history(tmp_path: Path) -> None:
    manifest = json.loads((ROOT / "releases/v0.1.0.json").read_text())
    out = tmp_path / "dist-v0.1.0"
    result = run_cli(ROOT, "build", "--release", "v0.1.0", "--out", str(out))
    assert result.returncode == 0, result.stderr
    built = {p.relative_to(out).as_posix(): p for p in out.rglob("*") if p.is_file()}
    assert set(built) == set(manifest["files"])
    for name, path in built.items():
        assert hashlib.sha256(path.read_bytes()).hexdigest() == manifest["files"][name]["sha256"]
    # v0.1.0's code left its build folder 0700 (mkdtemp's mode): handed out with mkdir's
    assert stat.S_IMODE(out.stat().st_mode) == folder_mode()

    # the source is the commit that added the manifest, found without any tag
    listed = json.loads(run_cli(ROOT, "releases", "--json").stdout)
    source = next(r for r in listed if r["tag"] == "v0.1.0")
    assert f"from commit {source['commit'][:12]}" in result.stdout
    added = git(ROOT, "show", "--diff-filter=A", "--name-only", "--format=", source["commit"])
    assert "releases/v0.1.0.json" in added.split()
    # that commit's code predates the stage packages: it really was the old code that ran
    old_tree = git(ROOT, "ls-tree", "-r", "--name-only", source["commit"], "src/sahelwire")
    assert "src/sahelwire/build.py" in old_tree.split()

    # a rebuilt folder is verified like a download (load_dataset ignores revision= for it)
    hf_home = out.parent / "hf-home"
    env = {"HF_HOME": str(hf_home), "HF_DATASETS_CACHE": None}
    verified = run_cli(ROOT, "verify", "v0.1.0", "--path", str(out), env=env)
    assert verified.returncode == 0, verified.stdout + verified.stderr
    assert f"{out} IS v0.1.0" in verified.stdout
    # its loads' Arrow copies went to a cache of its own, removed after: none in the user's
    assert not list(hf_home.rglob("*.arrow")), list(hf_home.rglob("*"))[:5]
    # a folder that is not there, or a file: one line, exit 2 (a list of every file
    # "missing", exit 1, before)
    for missing, what in (
        (out.parent / "nothing", "does not exist"),
        (out / "README.md", "is not a folder"),
    ):
        gone = run_cli(ROOT, "verify", "v0.1.0", "--path", str(missing))
        assert gone.returncode == 2, gone.stdout + gone.stderr
        assert gone.stderr == f"sahelwire: cannot verify v0.1.0: {missing} {what}\n"
        assert gone.stdout == ""


def test_tags_are_recreated_at_the_release_commit(tmp_path: Path) -> None:
    repo = unreleased_repo(tmp_path / "p")
    assert run_cli(repo, "release", "minor").returncode == 0
    release = git(repo, "rev-parse", "HEAD").strip()
    (repo / "notes.md").write_text("work after the release\n")
    git(repo, "add", "notes.md")
    git(repo, "commit", "-qm", "later work")
    git(repo, "tag", "-d", "v0.1.0")  # e.g. a clone without --tags

    listed = run_cli(repo, "releases")
    assert listed.returncode == 0 and f"v0.1.0  {release[:12]}  tag missing" in listed.stdout
    assert "--create-tags" in listed.stderr
    created = run_cli(repo, "releases", "--create-tags")
    assert created.returncode == 0, created.stderr
    assert "git push origin v0.1.0" in created.stdout
    assert git(repo, "rev-parse", "v0.1.0^{commit}").strip() == release
    assert git(repo, "cat-file", "-t", "v0.1.0").strip() == "tag"  # annotated, like release's

    # unreleased_repo holds data, not code: a release without its code cannot be rebuilt
    refused = run_cli(repo, "build", "--release", "v0.1.0")
    assert refused.returncode == 2 and "has no src/sahelwire" in refused.stderr


def test_build_release_refusals_leave_the_output_alone(tmp_path: Path) -> None:
    repo = unreleased_repo(tmp_path / "with-code")
    shutil.copytree(
        ROOT / "src", repo / "src", ignore=shutil.ignore_patterns("__pycache__", "*.egg-info")
    )
    git(repo, "add", "src")
    git(repo, "commit", "-qm", "the code")
    assert run_cli(repo, "release", "minor").returncode == 0

    unknown = run_cli(repo, "build", "--release", "v9.9.9")
    assert unknown.returncode == 2 and "no release manifest v9.9.9.json" in unknown.stderr
    odd = run_cli(repo, "build", "--release", "../etc")  # named releases/etc.json before
    assert odd.returncode == 2 and odd.stderr == (
        "sahelwire: build --release refused: '../etc' is not a version vX.Y.Z (releases: v0.1.0)\n"
    ), odd.stderr

    # A mount point (/proc is one on every Linux machine) cannot be renamed over: refused
    # before the rebuild, nothing made beside it.
    if os.path.ismount("/proc"):
        beside = sorted(os.listdir("/"))
        mounted = run_cli(repo, "build", "--release", "v0.1.0", "--out", "/proc")
        assert mounted.returncode == 2, mounted.stderr
        assert "the output folder /proc is a mount point" in mounted.stderr
        assert "--out /proc/dist" in mounted.stderr and "Traceback" not in mounted.stderr
        assert sorted(os.listdir("/")) == beside

    out = tmp_path / "out"
    good = run_cli(repo, "build", "--release", "v0.1.0", "--out", str(out))
    assert good.returncode == 0, good.stderr
    before = snapshot(out)

    # A manifest edited after its release is not trusted: no adding commit recorded it.
    path = repo / "releases/v0.1.0.json"
    manifest = json.loads(path.read_text())
    manifest["files"]["README.md"]["sha256"] = "0" * 64
    path.write_text(json.dumps(manifest, indent=1) + "\n")
    git(repo, "commit", "-qam", "edit the manifest")
    edited = run_cli(repo, "build", "--release", "v0.1.0", "--out", str(out))
    assert edited.returncode == 2 and "a release manifest is never edited" in edited.stderr

    # Re-added with that wrong hash, the rebuild runs and its bytes disagree: exit 1.
    git(repo, "rm", "-q", "releases/v0.1.0.json")
    git(repo, "commit", "-qm", "drop")
    path.parent.mkdir(exist_ok=True)
    path.write_text(json.dumps(manifest, indent=1) + "\n")
    git(repo, "add", "releases/v0.1.0.json")
    git(repo, "commit", "-qm", "re-add")
    mismatch = run_cli(repo, "build", "--release", "v0.1.0", "--out", str(out))
    assert mismatch.returncode == 1, mismatch.stderr
    assert "README.md: sha256" in mismatch.stderr and "left as it was" in mismatch.stderr
    assert snapshot(out) == before
    assert not list(tmp_path.glob(".rebuild-*"))  # the staging folder is gone


def test_pins_of_an_old_release_are_checked_up_front() -> None:
    pyproject = {
        "project": {"dependencies": ["pyarrow==0.0.1", "pandera[polars]==0.35.0", "PyYAML>=6.0"]}
    }
    # pandera is pinned to 0.35.0 in this project too: only the pyarrow pin differs
    assert pin_mismatches(pyproject) == [
        f"pyarrow==0.0.1 (installed: {metadata.version('pyarrow')})"
    ]
