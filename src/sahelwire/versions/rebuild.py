"""``sahelwire build --release vX.Y.Z``: rebuild a past release, byte for byte, into its own folder.

The release's source commit is found from history (:mod:`sahelwire.versions.history`),
not from its tag. Its tree is exported with ``git archive`` into a temporary folder and
built by **that commit's own code** (the ``sahelwire`` console entry point its
pyproject.toml declares, imported from its ``src/``), run by this interpreter: today's
code would interpret old inputs its own way, and module names change between versions
(v0.1.0 predates the stage packages). The pinned libraries must be the ones that commit
pins, because the Parquet footer records the writer's version; a difference is refused
up front rather than discovered as a byte mismatch.

The result is compared, file by file, with the release manifest; only an exact match
(same file list, same sha256) is moved into the output folder, with one rename, so the
folder either holds the release or is left as it was.
"""

from __future__ import annotations

import errno
import hashlib
import os
import re
import subprocess
import sys
import tarfile
import tempfile
import tomllib
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path
from typing import Any

from sahelwire.io.atomic import (
    ForeignTarget,
    MountPointTarget,
    folder_mode,
    refuse_foreign_target,
    refuse_mount_point,
)
from sahelwire.io.paths import CHECKSUMS, ProjectPaths
from sahelwire.io.release_manifests import ManifestDamaged
from sahelwire.versions.history import HistoryError, release_commit
from sahelwire.versions.releases import load_manifest, parse_version, released_versions

# Runs the old code: its src/ first on sys.path, then its declared entry point. The
# assertion proves the old package was imported, not this interpreter's own install.
_BOOT = """
import importlib, sys
src, module, attr = sys.argv[1:4]
sys.path.insert(0, src)
import sahelwire
assert sahelwire.__file__.startswith(src), sahelwire.__file__
entry = getattr(importlib.import_module(module), attr)
sys.argv = ["sahelwire", *sys.argv[4:]]
entry()
"""


class RebuildRefused(Exception):
    """The release cannot be rebuilt here (environment: history, pins, its build failed)."""


class RebuildMismatch(Exception):
    """The rebuild ran but its bytes are not the release's; ``problems`` says which files."""

    def __init__(self, message: str, problems: list[str]) -> None:
        super().__init__(message)
        self.problems = problems


@dataclass(frozen=True)
class RebuildResult:
    version: str
    commit: str
    out: Path
    files: int
    bytes: int


def _pins(pyproject: dict[str, Any]) -> dict[str, str]:
    """Exact ``name==version`` pins of [project].dependencies (extras stripped)."""
    pins = {}
    for requirement in pyproject.get("project", {}).get("dependencies", []):
        match = re.match(r"^\s*([A-Za-z0-9_.-]+)(?:\[[^\]]*\])?\s*==\s*([^\s;,]+)", requirement)
        if match:
            pins[match[1].lower().replace("_", "-")] = match[2]
    return pins


def pin_mismatches(pyproject: dict[str, Any]) -> list[str]:
    """Pins of the old pyproject that this environment does not have, as readable lines."""
    out = []
    for name, wanted in sorted(_pins(pyproject).items()):
        try:
            have = metadata.version(name)
        except metadata.PackageNotFoundError:
            have = "not installed"
        if have != wanted:
            out.append(f"{name}=={wanted} (installed: {have})")
    return out


def _entry_point(pyproject: dict[str, Any]) -> tuple[str, str]:
    target = pyproject.get("project", {}).get("scripts", {}).get("sahelwire")
    if not target or ":" not in target:
        raise RebuildRefused("the release's pyproject.toml declares no `sahelwire` entry point")
    module, attr = target.split(":", 1)
    return module.strip(), attr.strip()


def export_tree(root: Path, commit: str, dest: Path) -> None:
    """The commit's tree (tracked files only) written under ``dest`` via ``git archive``."""
    proc = subprocess.Popen(
        ["git", "archive", "--format=tar", commit],
        cwd=root,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    assert proc.stdout is not None
    with tarfile.open(fileobj=proc.stdout, mode="r|") as archive:
        archive.extractall(dest, filter="data")
    err = proc.stderr.read().decode(errors="replace") if proc.stderr else ""
    if proc.wait() != 0:
        raise RebuildRefused(f"git archive {commit[:12]} failed: {err.strip()}")


def compare_with_manifest(folder: Path, files: dict[str, Any]) -> list[str]:
    """Every difference between a folder and a manifest's ``files`` (empty: identical)."""
    on_disk = {
        p.relative_to(folder).as_posix(): p for p in sorted(folder.rglob("*")) if p.is_file()
    }
    problems = []
    for name in sorted(set(on_disk) | set(files)):
        if name not in files:
            problems.append(f"{name}: built but not in the release")
        elif name not in on_disk:
            problems.append(f"{name}: in the release but not built")
        else:
            digest = hashlib.sha256(on_disk[name].read_bytes()).hexdigest()
            if digest != files[name]["sha256"]:
                problems.append(
                    f"{name}: sha256 {digest[:16]}..., release has {files[name]['sha256'][:16]}..."
                )
    return problems


def default_out(paths: ProjectPaths, version: str) -> Path:
    return paths.root / f"dist-v{version.removeprefix('v')}"


def _mount_point(out: Path) -> str:
    return (
        f"the output folder {out} is a mount point and cannot be replaced as a whole; "
        f"use --out with a folder inside it, e.g. --out {out / 'dist'}; {out} left as it was"
    )


def rebuild_release(paths: ProjectPaths, version: str, out: Path | None = None) -> RebuildResult:
    """Rebuild release ``version`` from its source commit into ``out`` (default dist-vX.Y.Z/)."""
    given, version = version, version.removeprefix("v")
    try:
        parse_version(version)  # '../etc' named releases/etc.json, not what was given
    except ValueError:
        known = ", ".join(f"v{v}" for v in released_versions(paths)) or "none"
        raise RebuildRefused(f"{given!r} is not a version vX.Y.Z (releases: {known})") from None
    try:
        manifest = load_manifest(paths, version)
        commit = release_commit(paths, version)
    except (FileNotFoundError, ManifestDamaged, HistoryError) as exc:
        raise RebuildRefused(str(exc)) from None
    out = (out or default_out(paths, version)).resolve()
    try:
        refuse_mount_point(out)  # before minutes of rebuilding: its rename would be refused
        refuse_foreign_target(out, CHECKSUMS)  # it would replace a folder of the user's
    except MountPointTarget:
        raise RebuildRefused(_mount_point(out)) from None
    except ForeignTarget as exc:
        raise RebuildRefused(
            f"the output folder {out} {exc.strerror}; {out} left as it was"
        ) from None
    out.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix=f".rebuild-v{version}-", dir=out.parent) as tmp:
        tree, staging = Path(tmp) / "tree", Path(tmp) / "out"
        tree.mkdir()
        export_tree(paths.root, commit, tree)
        if not (tree / "src" / "sahelwire").is_dir():
            raise RebuildRefused(
                f"commit {commit[:12]} has no src/sahelwire: the code that built v{version} "
                "is not in this repository's history"
            )
        pyproject = tomllib.loads((tree / "pyproject.toml").read_text(encoding="utf-8"))
        missing = pin_mismatches(pyproject)
        if missing:
            raise RebuildRefused(
                f"v{version} pins other library versions than this environment has: "
                + "; ".join(missing)
                + f". Rebuild it in a venv made from that commit's pyproject.toml ({commit[:12]})"
            )
        module, attr = _entry_point(pyproject)
        env = {**os.environ, "SAHELWIRE_ROOT": str(tree), "PYTHONDONTWRITEBYTECODE": "1"}
        env.pop("PYTHONPATH", None)
        result = subprocess.run(
            [
                sys.executable,
                "-c",
                _BOOT,
                str(tree / "src"),
                module,
                attr,
                "build",
                "--out",
                str(staging),
            ],
            cwd=tree,
            env=env,
            capture_output=True,
            text=True,
            check=False,
        )
        if result.returncode != 0:
            tail = "\n".join((result.stderr or result.stdout).strip().splitlines()[-8:])
            raise RebuildRefused(
                f"the build of v{version} (commit {commit[:12]}, its own code) failed "
                f"with exit {result.returncode}:\n{tail}"
            )
        problems = compare_with_manifest(staging, manifest["files"])
        if problems:
            raise RebuildMismatch(
                f"the rebuild of v{version} (commit {commit[:12]}) is not byte-identical to "
                f"releases/v{version}.json; {out} left as it was",
                problems,
            )
        # The release's own code may make its build folder 0700 (mkdtemp's mode, before
        # staged_directory set mkdir's): the folder handed out gets mkdir's mode either way.
        os.chmod(staging, folder_mode())
        # Swap in with renames on one filesystem: `out` is the old folder or the new one.
        old = Path(tmp) / "previous"
        try:
            if out.exists():
                out.rename(old)
            try:
                staging.rename(out)
            except OSError:
                if old.exists():
                    old.rename(out)
                raise
        except OSError as exc:
            if exc.errno == errno.EBUSY:  # a mount point os.path.ismount cannot see
                raise RebuildRefused(_mount_point(out)) from None
            raise
    total = sum(int(f["bytes"]) for f in manifest["files"].values())
    return RebuildResult(version, commit, out, len(manifest["files"]), total)
