"""``sahelwire publish --repo-id ORG/NAME``: upload the released build folder and tag it.

Refuses unless dist/ is exactly the released version: a manifest releases/v<version>.json
exists for pyproject's version, the local git tag v<version> exists, dist/ holds exactly
the manifest's files with the manifest's SHA-256 (so a rebuild from changed inputs is
caught), and ``validate`` passes on the inputs and dist/. Only files listed in the
manifest are uploaded, each read from inside dist/ (symlinks refused), in one Hub commit
that also deletes remote files the release no longer has; then the Hub tag v<version> is
created on that commit.

The token comes from the environment (HF_TOKEN) only and is handed to huggingface_hub,
never printed, logged or put in an error message.
"""

from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sahelwire.io.config import Settings
from sahelwire.io.paths import ProjectPaths
from sahelwire.release.validation import validate_project
from sahelwire.schema.problems import Problem
from sahelwire.versions.releases import load_manifest, tag_exists

TOKEN_ENV = "HF_TOKEN"
KEEP_REMOTE = {".gitattributes"}  # created by the Hub; not part of a release


class PublishRefused(Exception):
    def __init__(self, message: str, problems: list[Problem] | None = None) -> None:
        super().__init__(message)
        self.problems = problems or []


@dataclass(frozen=True)
class UploadFile:
    name: str  # path in the repo, relative to dist/
    path: Path
    size: int
    sha256: str


@dataclass(frozen=True)
class PublishPlan:
    repo_id: str
    version: str
    tag: str
    files: list[UploadFile]

    def lines(self) -> list[str]:
        out = [f"{f.sha256}  {f.size:>9}  {f.name}" for f in self.files]
        total = sum(f.size for f in self.files)
        out.append(
            f"{len(self.files)} file(s), {total} bytes -> datasets/{self.repo_id}, "
            f"one commit, then tag {self.tag}; remote files not in the release are deleted"
        )
        return out


def dist_files(dist: Path) -> dict[str, Path]:
    """Every regular file under dist/, refusing symlinks (they could point outside)."""
    found: dict[str, Path] = {}
    for path in sorted(dist.rglob("*")):
        if path.is_symlink():
            raise PublishRefused(f"{path}: symlink in the build folder; refusing to follow it")
        if path.is_file():
            found[path.relative_to(dist).as_posix()] = path
    return found


def plan_publish(paths: ProjectPaths, settings: Settings, repo_id: str) -> PublishPlan:
    """All checks, nothing sent: what would be uploaded, or PublishRefused with the reason."""
    if repo_id.count("/") != 1 or not all(repo_id.split("/")):
        raise PublishRefused(f"--repo-id must be ORG/NAME, got {repo_id!r}")
    version = settings.data_version
    try:
        manifest = load_manifest(paths, version)
    except FileNotFoundError as exc:
        raise PublishRefused(
            f"version {version} is not released ({exc}); run `sahelwire release`"
        ) from None
    tag = str(manifest["tag"])
    if not tag_exists(paths.root, tag):
        raise PublishRefused(f"git tag {tag} does not exist; run `sahelwire release`")
    dist = paths.dist_dir
    if not dist.is_dir():
        raise PublishRefused(f"no build folder {dist}; run `sahelwire build`")
    on_disk = dist_files(dist)
    expected: dict[str, Any] = manifest["files"]
    problems = []
    for name in sorted(set(on_disk) | set(expected)):
        if name not in expected:
            problems.append(f"{name}: in dist/ but not in release {tag}")
        elif name not in on_disk:
            problems.append(f"{name}: in release {tag} but missing from dist/")
        elif hashlib.sha256(on_disk[name].read_bytes()).hexdigest() != expected[name]["sha256"]:
            problems.append(f"{name}: differs from release {tag} (sha256)")
    if problems:
        raise PublishRefused(
            f"dist/ is not the released build {tag}: "
            + "; ".join(problems[:8])
            + (f" and {len(problems) - 8} more" if len(problems) > 8 else "")
            + ". Run `sahelwire build` on the release commit."
        )
    report = validate_project(paths, include_dist=True)
    if not report.ok:
        raise PublishRefused("validation failed", report.problems)
    files = [
        UploadFile(name, on_disk[name], int(expected[name]["bytes"]), expected[name]["sha256"])
        for name in sorted(expected)
    ]
    return PublishPlan(repo_id, version, tag, files)


def token_from_env() -> str:
    token = os.environ.get(TOKEN_ENV, "")
    if not token.strip():
        raise PublishRefused(f"set {TOKEN_ENV} in the environment to publish")
    return token.strip()


def publish(plan: PublishPlan, token: str, endpoint: str | None = None) -> str:
    """Upload in one commit and tag it; returns the commit id on the Hub."""
    from huggingface_hub import CommitOperationAdd, CommitOperationDelete, HfApi

    api = HfApi(endpoint=endpoint, token=token)
    api.create_repo(plan.repo_id, repo_type="dataset", exist_ok=True)
    names = {f.name for f in plan.files}
    remote = api.list_repo_files(plan.repo_id, repo_type="dataset")
    operations: list[Any] = [
        CommitOperationAdd(path_in_repo=f.name, path_or_fileobj=str(f.path)) for f in plan.files
    ]
    operations += [
        CommitOperationDelete(path_in_repo=name)
        for name in sorted(remote)
        if name not in names and name not in KEEP_REMOTE
    ]
    info = api.create_commit(
        plan.repo_id,
        operations,
        commit_message=f"SahelWire data {plan.tag}",
        repo_type="dataset",
    )
    commit = str(getattr(info, "oid", ""))
    api.create_tag(
        plan.repo_id,
        tag=plan.tag,
        tag_message=f"SahelWire data {plan.tag}",
        revision=commit or None,
        repo_type="dataset",
    )
    return commit
