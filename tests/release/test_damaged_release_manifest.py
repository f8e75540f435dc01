"""A damaged manifest of the release being built (releases/v<data_version>.json cut short,
not UTF-8, not an object, or deleted although the version was released): `validate` and
`build` refuse it naming the file, the rule and the fix; `diff` and `verify` exit 2 with one
line, as for a missing manifest. Before: both exited 0 and the card's version line turned
plain ("Data version **0.2.0**.", the build called the release), and diff/verify raised."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import pytest

from helpers import ROOT, copy_project, run_cli

MANIFEST = "releases/v0.2.0.json"
RULE = "a release manifest is the JSON object `sahelwire release` wrote, never edited"
FIX = "get it back with `git checkout -- releases/v0.2.0.json`"
DAMAGE = {
    "truncated": ((ROOT / MANIFEST).read_bytes()[:500], "not JSON"),
    "not-utf8": (b"\xff", "not UTF-8 (byte 0)"),
    "not-an-object": (b"[]\n", "not a JSON object but list"),
    "no-files": (b'{"version": "0.2.0", "tag": "v0.2.0"}\n', "'files' missing"),
    "deleted": (None, "missing, but v0.2.0 was released"),
}


@pytest.fixture(scope="module")
def released(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A copy with the releases and the changelog (which says v0.2.0 was released), built."""
    root = copy_project(tmp_path_factory.mktemp("released") / "project")
    shutil.copytree(ROOT / "releases", root / "releases")
    shutil.copy2(ROOT / "CHANGELOG.md", root / "CHANGELOG.md")
    result = run_cli(root, "build")
    assert result.returncode == 0, result.stdout + result.stderr
    return root


def _snapshot(folder: Path) -> dict[str, bytes]:
    return {str(p.relative_to(folder)): p.read_bytes() for p in folder.rglob("*") if p.is_file()}


@pytest.mark.parametrize("damage", sorted(DAMAGE))
def test_a_damaged_manifest_of_the_built_version_is_refused(released: Path, damage: str) -> None:
    root, (content, what) = released, DAMAGE[damage]
    path = root / MANIFEST
    good = path.read_bytes()
    dist = _snapshot(root / "dist")
    try:
        if content is None:
            path.unlink()
        else:
            path.write_bytes(content)
        refused: list[tuple[str, ...]] = [("validate", "--no-dist"), ("build",)]
        for command in refused:
            result = run_cli(root, *command)
            out = result.stdout + result.stderr
            assert result.returncode == 1, out
            assert f"{MANIFEST}: rule {RULE}: {what}" in out, out
            assert FIX in out and "Traceback" not in out, out
        assert _snapshot(root / "dist") == dist  # the refused build wrote nothing
        usage: list[tuple[str, ...]] = [("diff", "v0.2.0"), ("verify", "v0.2.0", "--path", "dist")]
        for command in usage:
            result = run_cli(root, *command)
            assert result.returncode == 2, result.stdout + result.stderr
            assert "Traceback" not in result.stderr
            if content is not None:
                assert f"{RULE}: {what}" in result.stderr and FIX in result.stderr
            assert len(result.stderr.strip().splitlines()) == 1, result.stderr
    finally:
        path.write_bytes(good)


def test_a_released_manifest_in_git_is_missed_when_deleted(tmp_path: Path) -> None:
    """Without a changelog entry, git's last commit says the version was released."""
    root = copy_project(tmp_path / "project")
    shutil.copytree(ROOT / "releases", root / "releases")
    git = ["git", "-c", "user.name=t", "-c", "user.email=t@example.org"]
    subprocess.run([*git, "init", "-q"], cwd=root, check=True)
    subprocess.run([*git, "add", "releases"], cwd=root, check=True)
    subprocess.run([*git, "commit", "-qm", "releases"], cwd=root, check=True)
    (root / MANIFEST).unlink()
    result = run_cli(root, "validate", "--no-dist")
    assert result.returncode == 1, result.stdout + result.stderr
    assert "missing, but v0.2.0 was released" in result.stdout


def test_a_version_never_released_builds_with_the_plain_line(tmp_path: Path) -> None:
    """The version being prepared (`sahelwire release` builds before writing its manifest)
    has no manifest, no changelog entry and no commit of one: no fault, the plain line."""
    root = copy_project(tmp_path / "project")
    result = run_cli(root, "build")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "Data version **0.2.0**.\n" in (root / "dist" / "README.md").read_text()


def test_a_manifest_that_cannot_say_its_articles_splits_is_refused(released: Path) -> None:
    """The build keeps released articles in their splits (release.splits), reading them from
    v0.1.0's and v0.2.0's manifests: one without them is refused by both commands, never
    read as "no article was released" (which would reshuffle the splits)."""
    path = released / "releases/v0.1.0.json"
    good = path.read_bytes()
    dist = _snapshot(released / "dist")
    try:
        damaged = json.loads(good)
        damaged["content"]["articles"]["000_68e681b97d6ec23c"]["split"] = "holdout"
        path.write_text(json.dumps(damaged), encoding="utf-8")
        for command in (("validate", "--no-dist"), ("build",)):
            result = run_cli(released, *command)
            out = result.stdout + result.stderr
            assert result.returncode == 1 and "Traceback" not in out, out
            assert (
                f"releases/v0.1.0.json: rule {RULE}: content.articles['000_68e681b97d6ec23c'] "
                "has no split of ['train', 'validation', 'test']"
            ) in out, out
        assert _snapshot(released / "dist") == dist
    finally:
        path.write_bytes(good)
