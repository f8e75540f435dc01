"""``sahelwire release {major|minor|patch}``: bump the one version, record and tag the release.

The data version lives in pyproject.toml twice -- ``[project].version`` (the package) and
``[tool.sahelwire].data_version`` (read by the build: card, Croissant) -- and they must
be equal; the release bumps both, and the tag is ``v<version>``. The version being bumped
is the previous *release's* (releases/v*.json), so the first release is
``sahelwire release minor`` -> v0.1.0, diffed against nothing.

Steps, each refusing with the reason before anything is written: clean git tree (tracked
and untracked, since an untracked export would be built but not committed), versions in
sync and equal to the last release, inputs valid, the requested level at least what the
data diff requires (a breaking schema or label change needs ``major``; before 1.0.0,
``minor``, Cargo's reading of SemVer §4), tag not taken.
Then: write the new version, regenerate DATASET_CARD.md, build dist/, write
releases/v<version>.json and the CHANGELOG entry, commit those paths and create an
annotated tag. A failure after the first write restores every file it touched.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sahelwire.io.atomic import write_bytes_atomic, write_text_atomic
from sahelwire.io.config import SEMVER, Settings
from sahelwire.io.paths import ProjectPaths

# load_manifest and released_versions live with the strict reader (io), so that history,
# which this module's release checks use, can read manifests without importing this module.
from sahelwire.io.release_manifests import load_manifest, released_versions
from sahelwire.release.build import BuildRefused, BuiltRelease, build, render_release, update_card
from sahelwire.release.validation import validate_project
from sahelwire.schema.problems import Problem
from sahelwire.schema.taxonomy import Taxonomy, load_taxonomy
from sahelwire.versions.changelog import CHANGELOG_FILE, add_entry, entry_problem
from sahelwire.versions.data_diff import LEVELS, DataDiff, content_index, diff_indexes
from sahelwire.versions.history import HistoryError, release_commit

# Files the Hub creates in every repository; never part of a release, never deleted by one.
KEEP_REMOTE = frozenset({".gitattributes"})
_PROJECT_VERSION = re.compile(r'^(version\s*=\s*")([^"]*)(")', re.MULTILINE)
_DATA_VERSION = re.compile(r'^(data_version\s*=\s*")([^"]*)(")', re.MULTILINE)


class ReleaseRefused(Exception):
    """The release cannot be cut; nothing was changed. ``problems`` from validation, if any."""

    def __init__(self, message: str, problems: list[Problem] | None = None) -> None:
        super().__init__(message)
        self.problems = problems or []


def parse_version(text: str) -> tuple[int, int, int]:
    match = SEMVER.fullmatch(text)
    if not match:
        raise ValueError(f"not a semantic version X.Y.Z: {text!r}")
    return int(match[1]), int(match[2]), int(match[3])


def bump(version: str, level: str) -> str:
    major, minor, patch = parse_version(version)
    if level == "major":
        return f"{major + 1}.0.0"
    if level == "minor":
        return f"{major}.{minor + 1}.0"
    if level == "patch":
        return f"{major}.{minor}.{patch + 1}"
    raise ValueError(f"level must be one of {', '.join(LEVELS)}, got {level!r}")


def pyproject_versions(text: str) -> tuple[str | None, str | None]:
    """([project].version, [tool.sahelwire].data_version) as written in pyproject.toml."""
    project = _PROJECT_VERSION.search(text)
    data = _DATA_VERSION.search(text)
    return (project[2] if project else None), (data[2] if data else None)


def set_pyproject_version(text: str, version: str) -> str:
    """Both version lines rewritten in place; every other byte of the file kept."""
    text, n1 = _PROJECT_VERSION.subn(rf"\g<1>{version}\g<3>", text, count=1)
    text, n2 = _DATA_VERSION.subn(rf"\g<1>{version}\g<3>", text, count=1)
    if (n1, n2) != (1, 1):
        raise ValueError("pyproject.toml lacks a version or data_version line")
    return text


def release_manifest(
    release: BuiltRelease, version: str, taxonomy: Taxonomy, previous: str | None
) -> dict[str, Any]:
    """What a release records: files with sizes and sha256, rows, versions, content index."""
    fields = tuple(f.name for f in taxonomy.document_fields)
    return {
        "version": version,
        "tag": f"v{version}",
        "previous": previous,
        "taxonomy_version": taxonomy.version,
        "files": {
            name: {"bytes": size, "sha256": sha256}
            for name, (size, sha256) in sorted(release.digests().items())
        },
        "rows": release.rows,
        "content": content_index(release.files, fields),
    }


def manifest_bytes(manifest: dict[str, Any]) -> bytes:
    return (json.dumps(manifest, indent=1, ensure_ascii=False) + "\n").encode()


def working_manifest(paths: ProjectPaths, settings: Settings) -> dict[str, Any]:
    """A manifest for the current inputs (not released), to diff against a release."""
    release = render_release(paths, settings)
    taxonomy = load_taxonomy(paths.taxonomy_file)
    manifest = release_manifest(release, settings.data_version, taxonomy, None)
    manifest["version"] = f"{settings.data_version}+working-tree"
    return manifest


def _git(root: Path, *args: str) -> str:
    result = subprocess.run(["git", *args], cwd=root, capture_output=True, text=True, check=False)
    if result.returncode != 0:
        raise ReleaseRefused(f"git {' '.join(args)} failed: {result.stderr.strip()}")
    return result.stdout


def dirty_paths(root: Path) -> list[str]:
    """Tracked changes and untracked (not ignored) files, as git reports them."""
    out = _git(root, "status", "--porcelain", "--untracked-files=all")
    return [line[3:] for line in out.splitlines() if line.strip()]


def tag_exists(root: Path, tag: str) -> bool:
    return bool(_git(root, "tag", "--list", tag).strip())


@dataclass
class ReleaseResult:
    version: str
    previous: str | None
    diff: DataDiff
    manifest: Path
    commit: str


def release_date() -> str:
    """Today (UTC), or SOURCE_DATE_EPOCH's date for reproducible changelogs."""
    epoch = os.environ.get("SOURCE_DATE_EPOCH")
    moment = datetime.fromtimestamp(int(epoch), UTC) if epoch else datetime.now(UTC)
    return moment.date().isoformat()


def plan_release(paths: ProjectPaths, level: str) -> tuple[str, str | None, DataDiff]:
    """All checks, no writes: (new version, previous version, diff) or ReleaseRefused."""
    if level not in LEVELS:
        raise ReleaseRefused(f"level must be one of {', '.join(LEVELS)}, got {level!r}")
    dirty = dirty_paths(paths.root)
    if dirty:
        shown = ", ".join(dirty[:10]) + (f" and {len(dirty) - 10} more" if len(dirty) > 10 else "")
        raise ReleaseRefused(f"the working tree is not clean ({shown}); commit or remove first")
    project_version, data_version = pyproject_versions(paths.pyproject.read_text("utf-8"))
    if project_version != data_version:
        raise ReleaseRefused(
            f"pyproject.toml: [project].version {project_version} != "
            f"[tool.sahelwire].data_version {data_version}; they are one version"
        )
    versions = released_versions(paths)
    previous = versions[-1] if versions else None
    if previous is not None and data_version != previous:
        raise ReleaseRefused(
            f"pyproject.toml says {data_version} but the last release is v{previous}; "
            "the version is only changed by `sahelwire release`"
        )
    if previous is not None:
        # The new entry is a diff against the previous release as it was released: an
        # edited manifest is refused as `releases`, `diff` and `verify` refuse it (one
        # check).
        try:
            release_commit(paths, previous)
        except HistoryError as exc:
            raise ReleaseRefused(str(exc)) from None
    report = validate_project(paths, include_dist=False)
    if not report.ok:
        raise ReleaseRefused("validation failed", report.problems)
    settings = Settings.load(paths)
    try:
        current = working_manifest(paths, settings)
    except BuildRefused as exc:
        raise ReleaseRefused("the build refused the inputs", exc.problems) from None
    old = load_manifest(paths, previous) if previous else None
    version = bump(previous or "0.0.0", level)
    current["version"] = version
    diff = diff_indexes(old, current)
    required, reasons = diff.required_level()
    zero = required == "major" and parse_version(previous or "0.0.0")[0] == 0
    if zero:
        # SemVer §4 leaves 0.y.z open; we follow Cargo's rule that in 0.y.z the minor is the
        # breaking position, so 0.1.0 -> 0.2.0 may break (the CHANGELOG marks it BREAKING)
        # and 1.0.0 stays a deliberate `release major`.
        required = "minor"
    if LEVELS.index(level) < LEVELS.index(required):
        what = " (breaking; before 1.0.0 the minor is the breaking position)" if zero else ""
        raise ReleaseRefused(
            f"this change requires a {required} release{what}, not {level}: " + "; ".join(reasons)
        )
    if tag_exists(paths.root, f"v{version}"):
        raise ReleaseRefused(f"tag v{version} already exists")
    # Checked before anything is written: a CHANGELOG that already lists this version
    # (e.g. copied from another checkout without its releases/) must not half-cut a release.
    problem = entry_problem(paths.root / CHANGELOG_FILE, version)
    if problem:
        raise ReleaseRefused(problem)
    return version, previous, diff


def cut_release(paths: ProjectPaths, level: str) -> ReleaseResult:
    """Plan, then write version, card, dist/, manifest, changelog; commit and tag."""
    version, previous, diff = plan_release(paths, level)
    changelog = paths.root / CHANGELOG_FILE
    touched = [paths.pyproject, paths.card_template, changelog]
    saved = {p: p.read_bytes() if p.exists() else None for p in touched}
    manifest_file = paths.release_manifest(version)
    try:
        write_text_atomic(
            paths.pyproject,
            set_pyproject_version(paths.pyproject.read_text("utf-8"), version),
        )
        settings = Settings.load(paths)
        update_card(paths, settings, check=False)
        release = build(paths, settings)
        taxonomy = load_taxonomy(paths.taxonomy_file)
        manifest = release_manifest(release, version, taxonomy, previous)
        write_bytes_atomic(manifest_file, manifest_bytes(manifest))
        add_entry(changelog, version, release_date(), level, diff)
        rel = [str(p.relative_to(paths.root)) for p in [*touched, manifest_file]]
        _git(paths.root, "add", "--", *rel)
        _git(paths.root, "commit", "-q", "-m", f"Release v{version}", "--", *rel)
        _git(paths.root, "tag", "-a", f"v{version}", "-m", f"SahelWire data v{version}")
    except BaseException:
        for path, data in saved.items():
            if data is None:
                path.unlink(missing_ok=True)
            else:
                write_bytes_atomic(path, data)
        manifest_file.unlink(missing_ok=True)
        raise
    commit = _git(paths.root, "rev-parse", "HEAD").strip()
    return ReleaseResult(version, previous, diff, manifest_file, commit)
