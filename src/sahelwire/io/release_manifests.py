"""One reader of a release manifest (``releases/vX.Y.Z.json``) for every command that reads
one: ``diff``, ``verify``, ``publish``, ``build --release``, and the card's version line,
which says whether this build is that release.

A manifest is written once by ``sahelwire release`` and never edited; a damaged one (cut
short, not UTF-8, not the object the release wrote) is refused naming the file, what is
wrong and how to get it back, never read as "no release": the card then called a build the
release although nothing was compared (a hostile-input walkthrough).
"""

from __future__ import annotations

import json
import re
import subprocess
from pathlib import Path
from typing import Any

from sahelwire.io.config import SEMVER, SPLITS
from sahelwire.io.paths import ProjectPaths

RULE = "a release manifest is the JSON object `sahelwire release` wrote, never edited"


class ManifestDamaged(ValueError):
    """A release manifest that exists (or was committed) but cannot be what a release wrote."""


def _restore_hint(path: Path) -> str:
    return f"get it back with `git checkout -- releases/{path.name}`"


def read_release_manifest(path: Path) -> dict[str, Any]:
    """The manifest at ``path``: FileNotFoundError when there is none, ManifestDamaged when
    it is not a manifest (the message names the file, the rule, the fault and the fix)."""
    if not path.exists():
        raise FileNotFoundError(f"no release manifest {path.name}")
    try:
        manifest = json.loads(path.read_bytes().decode("utf-8"))
        problem = _shape_problem(manifest)
    except OSError as exc:
        problem = f"cannot be read ({exc.strerror or exc})"
    except UnicodeDecodeError as exc:
        problem = f"not UTF-8 (byte {exc.start})"
    except ValueError as exc:  # json.JSONDecodeError
        problem = f"not JSON ({exc})"
    if problem:
        raise ManifestDamaged(f"{path}: {RULE}: {problem}; {_restore_hint(path)}")
    return dict(manifest)


def _shape_problem(manifest: object) -> str | None:
    """What makes a parsed manifest not one a release wrote (the fields readers use)."""
    if not isinstance(manifest, dict):
        return f"not a JSON object but {type(manifest).__name__}"
    for key, kind in (("version", str), ("tag", str), ("files", dict)):
        if not isinstance(manifest.get(key), kind):
            return f"{key!r} missing or not a {kind.__name__}"
    for name, entry in manifest["files"].items():
        if not (
            isinstance(entry, dict)
            and isinstance(entry.get("sha256"), str)
            and isinstance(entry.get("bytes"), int)
        ):
            return f"files[{name!r}] is not {{'bytes': int, 'sha256': str}}"
    return None


def was_released(root: Path, version: str) -> bool:
    """Whether ``version`` was released: its manifest is committed at HEAD or CHANGELOG.md
    has its entry. A version being prepared (``sahelwire release`` builds before writing
    either) has neither: its missing manifest is no fault."""
    version = version.removeprefix("v")
    changelog = root / "CHANGELOG.md"
    try:
        text = changelog.read_bytes().decode("utf-8", errors="replace")
    except OSError:
        text = ""
    if re.search(rf"^## \[{re.escape(version)}\]", text, re.MULTILINE):
        return True
    try:
        shown = subprocess.run(
            ["git", "cat-file", "-e", f"HEAD:releases/v{version}.json"],
            cwd=root,
            capture_output=True,
            check=False,
        )
    except OSError:  # no git: the changelog alone says
        return False
    return shown.returncode == 0


def current_release_manifest(root: Path, path: Path, version: str) -> dict[str, Any] | None:
    """The manifest of ``version`` (the one being built), or None if it was never released.
    A released version whose manifest is gone is damaged too (ManifestDamaged)."""
    try:
        return read_release_manifest(path)
    except FileNotFoundError:
        if was_released(root, version):
            raise ManifestDamaged(
                f"{path}: {RULE}: missing, but v{version.removeprefix('v')} was released "
                f"(CHANGELOG.md or the last commit has it); {_restore_hint(path)}"
            ) from None
        return None


def _version_key(version: str) -> tuple[int, ...] | None:
    match = SEMVER.fullmatch(version)
    return tuple(int(part) for part in match.groups()) if match else None


def pinning_release(releases_dir: Path, version: str, *, before: bool = False) -> Path | None:
    """The manifest whose articles keep their split in a build of ``version``: the newest
    release at or before it (its own manifest when ``version`` was released), or None;
    ``before``: the newest release before it."""
    wanted = _version_key(version.removeprefix("v"))
    if wanted is None:
        return None
    found = [
        (key, path)
        for path in releases_dir.glob("v*.json")
        if (key := _version_key(path.stem[1:])) is not None
        and (key < wanted if before else key <= wanted)
    ]
    return max(found)[1] if found else None


def released_splits(
    releases_dir: Path, version: str, *, before: bool = False
) -> tuple[Path | None, dict[str, str]]:
    """(manifest, article id -> split) of :func:`pinning_release`: the split every article
    had when it was last released. Researchers compare versions on their test splits; an
    article released in test must not come back in train (a walkthrough's ingest of one new
    article moved the only test article to train). ManifestDamaged when the manifest cannot
    say it.

    A build pins to the newest release at or before its version: a released version's own
    manifest reproduces its splits (it honoured the releases before it), and a build after
    it keeps them. The card speaks of the release before (``before=True``), which is what
    the version's first build saw: a rebuild of the release, whose tree holds its own
    manifest, must write the same card."""
    path = pinning_release(releases_dir, version, before=before)
    if path is None:
        return None, {}
    manifest = read_release_manifest(path)
    content = manifest.get("content")
    articles = content.get("articles") if isinstance(content, dict) else None
    if not isinstance(articles, dict):
        problem: str | None = "'content' has no 'articles' object (each article's split)"
    else:
        problem = next(
            (
                f"content.articles[{article!r}] has no split of {list(SPLITS)}"
                for article, entry in articles.items()
                if not (isinstance(entry, dict) and entry.get("split") in SPLITS)
            ),
            None,
        )
    if problem or not isinstance(articles, dict):
        raise ManifestDamaged(f"{path}: {RULE}: {problem}; {_restore_hint(path)}")
    return path, {str(a): str(e["split"]) for a, e in articles.items()}


def released_versions(paths: ProjectPaths) -> list[str]:
    """Every version with a manifest under releases/, oldest first."""
    found = []
    for path in paths.releases_dir.glob("v*.json"):
        match = SEMVER.fullmatch(path.stem[1:])
        if match:
            found.append((int(match[1]), int(match[2]), int(match[3]), path.stem[1:]))
    return [version for *_, version in sorted(found)]


def load_manifest(paths: ProjectPaths, version: str) -> dict[str, Any]:
    """releases/v<version>.json (``version`` may carry a leading ``v``): FileNotFoundError
    naming the releases there are, ManifestDamaged (a ValueError) if damaged."""
    version = version.removeprefix("v")
    path = paths.release_manifest(version)
    try:
        return read_release_manifest(path)
    except FileNotFoundError:
        known = ", ".join(f"v{v}" for v in released_versions(paths)) or "none"
        raise FileNotFoundError(f"no release manifest {path.name} (releases: {known})") from None
