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

Everything here is importable (``verify_hub``, ``verify_folder``, ``check_loaded``); the
CLI command is a thin wrapper.
"""

from __future__ import annotations

import datetime
import decimal
import hashlib
import json
import re
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

from sahelwire.schema.problems import Problem

ISSUE_7928 = "huggingface datasets #7928"
_COMMIT = re.compile(r"^[0-9a-f]{40}$")
KEEP_REMOTE = {".gitattributes"}  # created by the Hub; not part of a release


class VersionMismatch(Exception):
    """What was loaded is not the version asked for; ``problems`` says where and how."""

    def __init__(self, message: str, problems: list[Problem]) -> None:
        super().__init__(message + "".join(f"\n  {p}" for p in problems))
        self.problems = problems


class VerifyUnavailable(Exception):
    """The check could not run (no network and nothing cached, no such tag, no manifest)."""


@dataclass
class VerifyReport:
    version: str
    source: str  # "datasets/ORG/NAME" or a folder
    commit: str | None = None
    checked: list[str] = field(default_factory=list)
    problems: list[Problem] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)  # what could not be checked, and why

    @property
    def ok(self) -> bool:
        return not self.problems

    def raise_for_problems(self) -> None:
        if self.problems:
            raise VersionMismatch(f"{self.source} is not {self.version}", self.problems)

    def to_json(self) -> dict[str, Any]:
        return {
            "version": self.version,
            "source": self.source,
            "commit": self.commit,
            "ok": self.ok,
            "checked": self.checked,
            "notes": self.notes,
            "problems": [p.to_json() for p in self.problems],
        }


def read_manifest(manifest: str | Path | Mapping[str, Any]) -> dict[str, Any]:
    """A release manifest from a path or an already-parsed mapping."""
    if isinstance(manifest, Mapping):
        return dict(manifest)
    path = Path(manifest)
    if not path.is_file():
        raise VerifyUnavailable(f"no release manifest at {path}")
    return dict(json.loads(path.read_text(encoding="utf-8")))


# -- 1. bytes ---------------------------------------------------------------------------


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def file_problems(
    folder: Path,
    manifest: Mapping[str, Any],
    *,
    present: Iterable[str] | None = None,
    not_cached: list[str] | None = None,
) -> list[Problem]:
    """The release's files in ``folder`` against the manifest: missing, extra, other bytes.

    ``present``: the file list to check for extras (default: every file under ``folder``;
    the hub cache holds only what was downloaded, so there the remote listing is passed).
    ``not_cached``: offline, a file the cache never downloaded is not a wrong file; its
    name goes into this list instead of becoming a problem.
    """
    tag = str(manifest["tag"])
    files: Mapping[str, Any] = manifest["files"]
    if present is None:
        present = [p.relative_to(folder).as_posix() for p in folder.rglob("*") if p.is_file()]
    problems = []
    for name in sorted(set(present) - set(files) - KEEP_REMOTE):
        problems.append(
            Problem(
                str(folder), name, None, f"only files of release {tag}", name, "not in the release"
            )
        )
    for name, meta in sorted(files.items()):
        path = folder / name
        if not path.is_file() and not_cached is not None:
            not_cached.append(name)
            continue
        if not path.is_file():
            problems.append(
                Problem(str(folder), name, None, f"every file of release {tag}", None, "missing")
            )
            continue
        digest = sha256_file(path)
        if digest != meta["sha256"]:
            problems.append(
                Problem(
                    str(folder),
                    name,
                    "sha256",
                    f"sha256 equals releases/{tag}.json",
                    digest,
                    f"release {tag} has {meta['sha256']}",
                )
            )
    return problems


# -- 2. rows ----------------------------------------------------------------------------


def _plain(value: Any) -> Any:
    if isinstance(value, (datetime.date, datetime.datetime, datetime.time)):
        return value.isoformat()
    if isinstance(value, bytes):
        return value.hex()
    if isinstance(value, decimal.Decimal):
        return str(value)
    return str(value)


def rows_digest(rows: Iterable[Mapping[str, Any]]) -> tuple[int, str]:
    """(row count, sha256 of the rows as canonical JSON lines).

    Python values, not Arrow bytes: the same rows read by pyarrow from Parquet, by
    ``datasets`` into its Arrow cache, or streamed, give the same digest even where the
    Arrow types differ (string vs large_string, list vs large_list).
    """
    digest = hashlib.sha256()
    count = 0
    for row in rows:
        line = json.dumps(dict(row), sort_keys=True, ensure_ascii=False, default=_plain)
        digest.update(line.encode())
        digest.update(b"\n")
        count += 1
    return count, digest.hexdigest()


def _table_rows(tables: Iterable[pa.Table]) -> Iterator[dict[str, Any]]:
    for table in tables:
        for batch in table.to_batches():
            yield from batch.to_pylist()


def split_files(folder: Path, config: str, split: str) -> list[Path]:
    """The Parquet shards of one split, in the order the card's ``data_files`` glob lists them."""
    return sorted((folder / "data" / config).glob(f"{split}-*.parquet"))


def reference_digests(
    folder: Path, manifest: Mapping[str, Any], config: str
) -> dict[str, tuple[int, str]]:
    """Rows and digest per split of a config, from the release's Parquet files in ``folder``."""
    out = {}
    for split in manifest["rows"].get(config, {}):
        files = split_files(folder, config, split)
        out[split] = rows_digest(_table_rows(pq.read_table(f) for f in files))
    return out


def _loaded_rows(split: Any) -> Iterator[dict[str, Any]]:
    """Rows of a loaded split: a map-style Dataset through Arrow, an IterableDataset as it streams."""
    if hasattr(split, "with_format") and hasattr(split, "cache_files"):
        yield from _table_rows(split.with_format("arrow").iter(batch_size=1000))
    else:
        yield from split


def loaded_commit(split: Any) -> str | None:
    """The Hub commit ``datasets`` built a map-style split from: it names the cache folder so."""
    for entry in getattr(split, "cache_files", None) or []:
        for part in Path(entry["filename"]).parts:
            if _COMMIT.match(part):
                return part
    return None


def loaded_problems(
    loaded: Mapping[str, Any],
    manifest: Mapping[str, Any],
    config: str,
    reference: Mapping[str, tuple[int, str]],
    *,
    call: str,
    commit: str | None = None,
) -> tuple[list[Problem], list[str]]:
    """A loaded DatasetDict (or IterableDatasetDict) of one config against the release.

    ``reference``: rows and digest per split from the verified Parquet files;
    ``commit``: the tag's commit, checked against the commit the splits were built from.
    Returns (problems, lines saying what was checked and passed).
    """
    tag = str(manifest["tag"])
    want: Mapping[str, int] = manifest["rows"].get(config, {})
    problems: list[Problem] = []
    passed: list[str] = []
    where = f"{call}"
    got_splits = set(loaded)
    if got_splits != set(want):
        problems.append(
            Problem(
                where,
                config,
                "splits",
                f"the splits of release {tag}",
                sorted(got_splits),
                f"release {tag} has {sorted(want)}",
            )
        )
    for split in [s for s in want if s in got_splits]:
        data = loaded[split]
        record = f"{config}/{split}"
        rows, digest = rows_digest(_loaded_rows(data))
        same_rows = rows == want[split] and (rows, digest) == reference[split]
        built_from = loaded_commit(data)
        if commit and built_from and built_from != commit:
            problems.append(
                Problem(
                    where,
                    record,
                    "commit",
                    f"data built from the commit behind {tag}",
                    built_from,
                    f"{tag} is commit {commit}; datasets served a cached copy of another "
                    f"revision ({ISSUE_7928})"
                    + ("; its rows happen to equal the release's" if same_rows else "")
                    + '. Load it again online with download_mode="force_redownload", '
                    "or delete that cache folder",
                )
            )
        if rows != want[split]:
            problems.append(
                Problem(
                    where,
                    record,
                    "rows",
                    f"row count of release {tag}",
                    rows,
                    f"release {tag} has {want[split]} rows",
                )
            )
        elif not same_rows:
            problems.append(
                Problem(
                    where,
                    record,
                    "content",
                    f"rows equal the rows of release {tag}'s Parquet files",
                    digest[:16],
                    f"release {tag} rows hash to {reference[split][1][:16]}",
                )
            )
        elif not (commit and built_from and built_from != commit):
            passed.append(f"{record}: {rows} row(s), content identical")
    return problems, passed


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
    for split in man["rows"].get(config, {}):
        if not split_files(folder, config, split):
            raise VerifyUnavailable(
                f"the Parquet files of {config}/{split} at {man['tag']} are not in the hub cache "
                "(offline); verify online once, or load that config online first"
            )
    return reference_digests(folder, man, config)


def _load(path: str, config: str, tag: str | None, streaming: bool, call: str) -> Any:
    from datasets import load_dataset

    try:
        if tag is None:
            return load_dataset(path, config, streaming=streaming)
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
    man = read_manifest(manifest)
    tag = str(man["tag"])
    report = VerifyReport(tag, str(folder))
    report.problems += file_problems(folder, man)
    if report.problems:
        return report  # loading files that are not the release proves nothing more
    report.checked.append(f"{folder}: {len(man['files'])} files, sha256 as in releases/{tag}.json")
    for config in configs or list(man["rows"]):
        call = f'load_dataset("{folder}", "{config}"' + (", streaming=True)" if streaming else ")")
        loaded = _load(str(folder), config, None, streaming, call)
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
