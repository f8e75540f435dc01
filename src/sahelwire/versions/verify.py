"""``sahelwire verify``: prove that what a user loaded or downloaded for a version *is* that version.

``load_dataset(repo, config, revision="v1.0.0")`` is not proof. Offline, ``datasets``
picks "the latest cached version" of a config whatever the revision, so it serves v1.1.0
rows for ``revision="v1.0.0"`` and rows for a tag that does not exist (huggingface
datasets #7928); a local folder silently ignores ``revision=`` altogether. The release
manifest (``releases/vX.Y.Z.json``, committed with the release) is the reference, and
three things are checked against it:

1. **Bytes.** Every file of the release, as the Hub serves it at the tag (downloaded into,
   or read from, the huggingface_hub cache, which is keyed by commit and not affected by
   #7928) or as it lies in a folder: same file list, same sha256.
2. **Rows.** For each config, the splits and row counts ``load_dataset`` returned equal
   the manifest's ``rows``, and the rows themselves hash to the same digest as the rows of
   the release's (verified) Parquet files -- so a correction that keeps the row count is
   caught too.
3. **The commit behind the tag.** The tag's commit on the Hub (or, offline, in the hub
   cache's refs) must be the commit ``datasets`` built the loaded split from, which it
   records as the name of its cache folder.

Everything here is importable (``verify_hub``, ``verify_folder``, ``check_loaded``; the
checks themselves are in :mod:`sahelwire.versions.release_checks`); the CLI command is a
thin wrapper.
"""

from __future__ import annotations

import tempfile
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from sahelwire.schema.problems import Problem
from sahelwire.versions.release_checks import (
    ISSUE_7928,
    VerifyReport,
    VerifyUnavailable,
    VersionMismatch,
    file_problems,
    loaded_commit,
    loaded_problems,
    read_manifest,
    reference_digests,
    rows_digest,
    split_files,
)

# Re-exported: a notebook needs only this module.
__all__ = [
    "ISSUE_7928",
    "VerifyReport",
    "VerifyUnavailable",
    "VersionMismatch",
    "check_loaded",
    "file_problems",
    "loaded_commit",
    "rows_digest",
    "verify_folder",
    "verify_hub",
]

# -- sources: the Hub (through huggingface_hub) or a folder ----------------------------


def hub_snapshot(repo_id: str, manifest: Mapping[str, Any]) -> tuple[Path, str, list[str] | None]:
    """The release's files at its tag in the huggingface_hub cache: (folder, commit, remote files).

    Online, the tag is resolved on the Hub and the files are downloaded into the cache (or
    reused, keyed by commit); offline (HF_HUB_OFFLINE=1) the cache's own record of the tag
    is used. The remote file list is None offline (it cannot be listed).
    """
    from huggingface_hub import HfApi, constants, snapshot_download
    from huggingface_hub.errors import HfHubHTTPError, LocalEntryNotFoundError

    tag = str(manifest["tag"])
    remote: list[str] | None = None
    commit = None
    try:
        if not constants.HF_HUB_OFFLINE:
            api = HfApi()
            refs = api.list_repo_refs(repo_id, repo_type="dataset")
            tags = {t.name: t.target_commit for t in refs.tags}
            if tag not in tags:
                raise VerifyUnavailable(
                    f"datasets/{repo_id} has no tag {tag} (tags: {', '.join(sorted(tags)) or 'none'})"
                )
            commit = tags[tag]
            remote = api.list_repo_files(repo_id, repo_type="dataset", revision=commit)
        # By tag, not by commit: the cache then records the tag (refs/<tag>) for a later
        # offline check, and the folder it returns is named after the commit it resolved.
        folder = Path(
            snapshot_download(
                repo_id,
                repo_type="dataset",
                revision=tag,
                allow_patterns=sorted(manifest["files"]),
            )
        )
    except LocalEntryNotFoundError:
        raise VerifyUnavailable(
            f"offline, and the hub cache has no copy of datasets/{repo_id} at {tag}; "
            "verify online once (or load the version online first)"
        ) from None
    except HfHubHTTPError as exc:
        raise VerifyUnavailable(f"datasets/{repo_id}: {exc}") from None
    except Exception as exc:
        # The HTTP client's own errors (connection refused, time-outs) are not
        # HfHubHTTPError; name them instead of ending in a traceback.
        if type(exc).__module__.split(".")[0] in ("httpx", "httpx2", "httpcore") or isinstance(
            exc, OSError
        ):
            raise VerifyUnavailable(
                f"cannot reach {constants.ENDPOINT}: {type(exc).__name__}: {exc}"
            ) from None
        raise
    if commit is not None and folder.name != commit:
        raise VerifyUnavailable(
            f"datasets/{repo_id}: the tag {tag} moved while verifying ({commit} -> {folder.name})"
        )
    return folder, folder.name, remote


def _hub_files(
    report: VerifyReport, folder: Path, man: Mapping[str, Any], remote: list[str] | None
) -> list[Problem]:
    """Check the files at the tag; offline, note the ones the cache never downloaded."""
    not_cached: list[str] | None = None if remote is not None else []
    problems = file_problems(folder, man, present=remote, not_cached=not_cached)
    if not problems:
        n = len(man["files"]) - len(not_cached or [])
        where = "on the Hub" if remote is not None else "in the hub cache (offline)"
        report.checked.append(
            f"{man['tag']} is commit {report.commit}: {n} file(s) {where}, sha256 as in the manifest"
        )
    if not_cached:
        shown = ", ".join(not_cached[:5]) + (
            f" and {len(not_cached) - 5} more" if len(not_cached) > 5 else ""
        )
        report.notes.append(
            f"offline: {len(not_cached)} file(s) of {man['tag']} are not in the hub cache and "
            f"were not checked: {shown}"
        )
    return problems


def _references(folder: Path, man: Mapping[str, Any], config: str) -> dict[str, tuple[int, str]]:
    """Reference digests for a config; VerifyUnavailable if its Parquet files are not at hand."""
    for split, rows in man["rows"].get(config, {}).items():
        if rows and not split_files(folder, config, split):
            raise VerifyUnavailable(
                f"the Parquet files of {config}/{split} at {man['tag']} are not in the hub cache "
                "(offline); verify online once, or load that config online first"
            )
    return reference_digests(folder, man, config)


def _load(
    path: str,
    config: str,
    tag: str | None,
    streaming: bool,
    call: str,
    cache_dir: str | None = None,
) -> Any:
    from datasets import load_dataset

    try:
        if tag is None:
            return load_dataset(path, config, streaming=streaming, cache_dir=cache_dir)
        return load_dataset(path, config, revision=tag, streaming=streaming)
    except Exception as exc:  # whatever datasets raises, the check could not run
        raise VerifyUnavailable(f"{call} failed: {type(exc).__name__}: {exc}") from exc


def verify_hub(
    repo_id: str,
    manifest: str | Path | Mapping[str, Any],
    *,
    configs: Iterable[str] | None = None,
    streaming: bool = False,
) -> VerifyReport:
    """Files at the tag, then every config loaded as a user would, against the manifest."""
    man = read_manifest(manifest)
    tag = str(man["tag"])
    report = VerifyReport(tag, f"datasets/{repo_id}")
    folder, commit, remote = hub_snapshot(repo_id, man)
    report.commit = commit
    report.problems += _hub_files(report, folder, man, remote)
    if report.problems:
        return report  # loading files that are not the release proves nothing more
    for config in configs or list(man["rows"]):
        call = f'load_dataset("{repo_id}", "{config}", revision="{tag}"' + (
            ", streaming=True)" if streaming else ")"
        )
        reference = _references(folder, man, config)
        loaded = _load(repo_id, config, tag, streaming, call)
        problems, passed = loaded_problems(loaded, man, config, reference, call=call, commit=commit)
        report.problems += problems
        report.checked += passed
    return report


def verify_folder(
    folder: Path,
    manifest: str | Path | Mapping[str, Any],
    *,
    configs: Iterable[str] | None = None,
    streaming: bool = False,
) -> VerifyReport:
    """A downloaded or rebuilt folder: its files, then every config loaded from it.

    ``load_dataset(folder, config, revision=...)`` ignores ``revision``: the folder is
    whatever it holds, which is why its bytes are checked here.
    """
    if not folder.is_dir():  # one line, exit 2: not a list of every file "missing"
        what = "is not a folder" if folder.exists() else "does not exist"
        raise VerifyUnavailable(f"{folder} {what}")
    man = read_manifest(manifest)
    tag = str(man["tag"])
    report = VerifyReport(tag, str(folder))
    report.problems += file_problems(folder, man)
    if report.problems:
        return report  # loading files that are not the release proves nothing more
    report.checked.append(f"{folder}: {len(man['files'])} files, sha256 as in releases/{tag}.json")
    # The folder's Arrow copies go to a cache of this check, removed after it: datasets
    # wrote them into the user's ~/.cache/huggingface (an uncompressed copy of every
    # config: ≈42 GiB at 1M articles), for a check that needs them once.
    with tempfile.TemporaryDirectory(prefix="sahelwire-verify-") as cache:
        for config in configs or list(man["rows"]):
            call = f'load_dataset("{folder}", "{config}"' + (
                ", streaming=True)" if streaming else ")"
            )
            loaded = _load(str(folder), config, None, streaming, call, cache_dir=cache)
            problems, passed = loaded_problems(
                loaded, man, config, reference_digests(folder, man, config), call=call
            )
            report.problems += problems
            report.checked += passed
    return report


def check_loaded(
    dataset: Mapping[str, Any],
    manifest: str | Path | Mapping[str, Any],
    config: str,
    *,
    repo_id: str | None = None,
    folder: str | Path | None = None,
) -> VerifyReport:
    """For a notebook: raise :class:`VersionMismatch` unless ``dataset`` is the release.

    ``dataset`` is what ``load_dataset(..., config, revision=tag)`` returned (streaming or
    not); the reference files come from the Hub at the manifest's tag (``repo_id``) or
    from a folder.
    """
    man = read_manifest(manifest)
    tag = str(man["tag"])
    if (repo_id is None) == (folder is None):
        raise ValueError("pass exactly one of repo_id= or folder=")
    commit = None
    if repo_id is not None:
        source, commit, remote = hub_snapshot(repo_id, man)
        report = VerifyReport(tag, f"datasets/{repo_id}", commit)
        report.problems += _hub_files(report, source, man, remote)
        call = f'load_dataset("{repo_id}", "{config}", revision="{tag}")'
    else:
        source = Path(str(folder))
        report = VerifyReport(tag, str(source))
        report.problems += file_problems(source, man)
        call = f'load_dataset("{source}", "{config}")'
    if not report.problems:
        reference = _references(source, man, config)
        problems, passed = loaded_problems(
            dataset, man, config, reference, call=call, commit=commit
        )
        report.problems += problems
        report.checked += passed
    report.raise_for_problems()
    return report
