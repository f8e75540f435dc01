"""``sahelwire publish --repo-id ORG/NAME``: upload the released build folder and tag it.

Refuses unless dist/ is exactly the released version: a manifest releases/v<version>.json
exists for pyproject's version, the local git tag v<version> points at the commit that
added that manifest (:mod:`sahelwire.versions.history`), dist/ holds exactly the
manifest's files with the manifest's SHA-256 (so a rebuild from changed inputs is
caught), and ``validate`` passes on the inputs and dist/. Only files listed in the
manifest are uploaded, each read from inside dist/ (symlinks refused), in one Hub commit
that also deletes remote files the release no longer has; then the Hub tag v<version> is
created on that commit and the commit's URL is printed.

The card goes up as the whole README.md file the build wrote -- its YAML block included
-- never through ``metadata_update``/``DatasetCard.push_to_hub``, which merge the new
metadata into the remote card and so keep stale keys of an older card (huggingface_hub
#3043).

A version is published once: if the Hub already has the tag, publish refuses (exit 2)
and says what is there; ``--force`` replaces it and says what it overwrites (the old tag
commit and which files differ).

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
from sahelwire.io.release_manifests import ManifestDamaged
from sahelwire.release.validation import validate_project
from sahelwire.schema.problems import Problem
from sahelwire.versions.history import HistoryError, release_commit, tag_commit
from sahelwire.versions.releases import KEEP_REMOTE, load_manifest

TOKEN_ENV = "HF_TOKEN"


class PublishRefused(Exception):
    """``usage``: the command or the machine is wrong (exit 2: a malformed --repo-id, no
    build folder, no token), not the data (exit 1: not the release, invalid)."""

    def __init__(
        self, message: str, problems: list[Problem] | None = None, *, usage: bool = False
    ) -> None:
        super().__init__(message)
        self.problems = problems or []
        self.usage = usage


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
        raise PublishRefused(f"--repo-id must be ORG/NAME, got {repo_id!r}", usage=True)
    version = settings.data_version
    try:
        manifest = load_manifest(paths, version)
    except FileNotFoundError as exc:
        raise PublishRefused(
            f"version {version} is not released ({exc}); run `sahelwire release`"
        ) from None
    except ManifestDamaged as exc:
        raise PublishRefused(str(exc)) from None
    tag = str(manifest["tag"])
    try:
        source = release_commit(paths, version)
    except HistoryError as exc:
        raise PublishRefused(str(exc)) from None
    tagged = tag_commit(paths.root, tag)
    if tagged is None:
        raise PublishRefused(
            f"git tag {tag} does not exist (the release is commit {source[:12]}); "
            "run `sahelwire releases --create-tags`"
        )
    if tagged != source:
        raise PublishRefused(
            f"git tag {tag} points at {tagged[:12]}, but the release is commit {source[:12]} "
            f"(the commit that added releases/{tag}.json); fix the tag before publishing"
        )
    dist = paths.dist_dir
    if not dist.is_dir():
        what = "is not a folder" if dist.exists() else "does not exist"
        raise PublishRefused(
            f"the build folder {dist} {what}; run `sahelwire build` on the release commit, "
            f"or `sahelwire build --release {tag}`",
            usage=True,
        )
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
            + f". Run `sahelwire build --release {tag} --out {dist}` (the release's own "
            "code and inputs, byte-identical), or `sahelwire build` on the release commit."
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


def blob_oid(data: bytes) -> str:
    """Git's blob id for ``data``: how the Hub names a regular (non-LFS) file's content."""
    return hashlib.sha1(b"blob %d\0" % len(data) + data).hexdigest()


@dataclass(frozen=True)
class RemoteTag:
    """What the Hub already has under the release's tag, compared with the release."""

    tag: str
    commit: str
    same: list[str]
    differ: list[str]
    only_remote: list[str]
    missing: list[str]

    def lines(self) -> list[str]:
        out = [
            f"the Hub tag {self.tag} exists: commit {self.commit}; "
            f"{len(self.same)} file(s) identical to the release, {len(self.differ)} differ, "
            f"{len(self.missing)} missing there, {len(self.only_remote)} not in the release"
        ]
        out += [f"  differs: {name}" for name in self.differ]
        out += [f"  missing on the Hub: {name}" for name in self.missing]
        out += [f"  not in the release: {name}" for name in self.only_remote]
        return out


def _api(token: str, endpoint: str | None) -> Any:
    from huggingface_hub import HfApi

    return HfApi(endpoint=endpoint, token=token)


def remote_tag(plan: PublishPlan, token: str, endpoint: str | None = None) -> RemoteTag | None:
    """The Hub's tag for this version and how its files compare, or None if it is not there."""
    from huggingface_hub import RepoFile
    from huggingface_hub.errors import RepositoryNotFoundError

    api = _api(token, endpoint)
    try:
        refs = api.list_repo_refs(plan.repo_id, repo_type="dataset")
    except RepositoryNotFoundError:
        return None
    commit = {t.name: t.target_commit for t in refs.tags}.get(plan.tag)
    if commit is None:
        return None
    remote: dict[str, Any] = {
        entry.path: entry
        for entry in api.list_repo_tree(
            plan.repo_id, repo_type="dataset", revision=commit, recursive=True
        )
        if isinstance(entry, RepoFile) and entry.path not in KEEP_REMOTE
    }
    same: list[str] = []
    differ: list[str] = []
    for f in plan.files:
        entry = remote.get(f.name)
        if entry is None:
            continue
        lfs_sha = getattr(entry.lfs, "sha256", None) if entry.lfs else None
        equal = lfs_sha == f.sha256 if lfs_sha else entry.blob_id == blob_oid(f.path.read_bytes())
        (same if equal else differ).append(f.name)
    names = {f.name for f in plan.files}
    return RemoteTag(
        plan.tag,
        str(commit),
        same,
        differ,
        sorted(set(remote) - names),
        sorted(names - set(remote)),
    )


@dataclass(frozen=True)
class Published:
    commit: str
    commit_url: str
    replaced: RemoteTag | None


def publish(
    plan: PublishPlan,
    token: str,
    endpoint: str | None = None,
    *,
    replace: RemoteTag | None = None,
) -> Published:
    """Upload in one commit on main and tag it; ``replace``: the existing tag --force replaces."""
    from huggingface_hub import CommitOperationAdd, CommitOperationDelete

    api = _api(token, endpoint)
    api.create_repo(plan.repo_id, repo_type="dataset", exist_ok=True)
    names = {f.name for f in plan.files}
    refs = api.list_repo_refs(plan.repo_id, repo_type="dataset")
    head = {b.name: b.target_commit for b in refs.branches}.get("main")
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
        # the commit is refused if main moved since it was read (a concurrent publish)
        parent_commit=head,
    )
    commit = str(info.oid)
    if replace is not None:
        api.delete_tag(plan.repo_id, tag=plan.tag, repo_type="dataset")
    api.create_tag(
        plan.repo_id,
        tag=plan.tag,
        tag_message=f"SahelWire data {plan.tag}",
        revision=commit,
        repo_type="dataset",
    )
    return Published(commit, str(info.commit_url), replace)
