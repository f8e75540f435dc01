"""Where each release came from, found in git history rather than in tags.

A tag is a convenience: it can be missing (never pushed, a fresh clone without
``--tags``, a mirror that dropped it) or moved. The release itself is the commit that
*added* ``releases/vX.Y.Z.json`` -- ``sahelwire release`` writes the manifest and commits
it together with the version, card and CHANGELOG, so that commit's tree is exactly what
was built. This module finds that commit, says whether the tag agrees with it, and
recreates missing tags (annotated, at that commit). A tag that exists but points
elsewhere is reported and never moved: that is for a person to look at.
"""

from __future__ import annotations

import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sahelwire.io.paths import RELEASES_DIR, ProjectPaths
from sahelwire.io.release_manifests import load_manifest, released_versions


class HistoryError(Exception):
    """The release's source commit cannot be established from git history."""


class NoHistory(HistoryError):
    """The project is not a git repository (a source tarball) or git is not installed: there
    is no history to check a manifest against. Commands that need the release's commit
    refuse; ``diff`` and ``verify``, which need only the manifest, say it was not checked."""


def _git(root: Path, *args: str, check: bool = True) -> subprocess.CompletedProcess[bytes]:
    result = subprocess.run(["git", *args], cwd=root, capture_output=True, check=False)
    if check and result.returncode != 0:
        raise HistoryError(
            f"git {' '.join(args)} failed: {result.stderr.decode(errors='replace').strip()}"
        )
    return result


def release_commit(paths: ProjectPaths, version: str) -> str:
    """The commit that added ``releases/v<version>.json`` with its current content.

    If the manifest was added more than once (deleted and re-added), the newest adding
    commit whose copy is byte-identical to the checked-out manifest wins: the manifest
    on disk is the record being trusted.
    """
    version = version.removeprefix("v")
    manifest = paths.release_manifest(version)
    if not manifest.is_file():
        known = ", ".join(f"v{v}" for v in released_versions(paths)) or "none"
        raise HistoryError(f"no release manifest {manifest.name} (releases: {known})")
    rel = f"{RELEASES_DIR}/v{version}.json"
    try:
        shallow = _git(paths.root, "rev-parse", "--is-shallow-repository", check=False)
    except OSError as exc:  # no git executable
        raise NoHistory(
            f"git cannot run ({exc.strerror or exc}); {rel} has no history here"
        ) from None
    if shallow.returncode != 0:
        raise NoHistory(
            f"{paths.root} is not a git repository; {rel} has no history here "
            f"({shallow.stderr.decode(errors='replace').strip()})"
        )
    if shallow.stdout.strip() == b"true":
        # A shallow clone may not reach the adding commit; say so instead of guessing.
        raise HistoryError(
            "this is a shallow clone; run `git fetch --unshallow` so the release commit "
            f"that added {rel} can be found"
        )
    out = _git(paths.root, "log", "--diff-filter=A", "--format=%H", "--", rel).stdout.decode()
    candidates = out.split()
    if not candidates:
        raise HistoryError(f"{rel} is not committed: no commit in history adds it")
    current = manifest.read_bytes()
    for commit in candidates:  # newest first
        shown = _git(paths.root, "show", f"{commit}:{rel}", check=False)
        if shown.returncode == 0 and shown.stdout == current:
            return commit
    raise HistoryError(
        f"{rel} differs from the copy every adding commit ({', '.join(c[:12] for c in candidates)}) "
        "recorded; a release manifest is never edited after its release"
    )


def recorded_manifest(paths: ProjectPaths, version: str) -> tuple[dict[str, Any], str | None]:
    """``releases/v<version>.json`` for a command that takes it as the release (``diff``,
    ``verify``): read strictly, then held to the copy the commit that added it recorded --
    :func:`release_commit`, the check ``releases``, ``build --release`` and ``publish`` make,
    so an edited manifest is refused alike everywhere (HistoryError, its message).

    Returns (manifest, that commit); the commit is None when there is no git history to
    check against (NoHistory: a source tarball), which the caller says. Damage is named
    first (FileNotFoundError, ManifestDamaged), as the strict reader names it.
    """
    manifest = load_manifest(paths, version)
    try:
        return manifest, release_commit(paths, version)
    except NoHistory:
        return manifest, None


def tag_commit(root: Path, tag: str) -> str | None:
    """The commit a tag points at (annotated tags peeled), or None if there is no tag."""
    result = _git(
        root, "rev-parse", "--verify", "--quiet", f"refs/tags/{tag}^{{commit}}", check=False
    )
    return result.stdout.decode().strip() or None


@dataclass(frozen=True)
class ReleaseSource:
    version: str
    tag: str
    commit: str
    tag_commit: str | None  # None: the tag is missing

    @property
    def state(self) -> str:
        if self.tag_commit is None:
            return "missing"
        return "ok" if self.tag_commit == self.commit else "elsewhere"

    def describe(self) -> str:
        if self.state == "ok":
            return f"{self.tag}  {self.commit[:12]}  tag ok"
        if self.state == "missing":
            return f"{self.tag}  {self.commit[:12]}  tag missing"
        return (
            f"{self.tag}  {self.commit[:12]}  tag points at {self.tag_commit[:12] if self.tag_commit else '?'}, "
            "not at the commit that added the manifest"
        )


def release_sources(paths: ProjectPaths) -> list[ReleaseSource]:
    """Every release under releases/, oldest first, with its source commit and tag state."""
    return [
        ReleaseSource(v, f"v{v}", release_commit(paths, v), tag_commit(paths.root, f"v{v}"))
        for v in released_versions(paths)
    ]


def create_missing_tags(paths: ProjectPaths) -> list[ReleaseSource]:
    """Create an annotated tag at the source commit of every release that has none.

    Returns the releases it tagged. Tags that exist are left alone, even if they point
    elsewhere (reported by :func:`release_sources`).
    """
    created = []
    for source in release_sources(paths):
        if source.state != "missing":
            continue
        _git(
            paths.root,
            "tag",
            "-a",
            source.tag,
            source.commit,
            "-m",
            f"SahelWire data {source.tag} (tag recreated from the commit that added "
            f"{RELEASES_DIR}/{source.tag}.json)",
        )
        created.append(ReleaseSource(source.version, source.tag, source.commit, source.commit))
    return created
