"""The checks behind ``sahelwire verify``, independent of where the data came from.

Files against a release manifest (same list, same sha256), and a loaded config against
the release: splits, row counts, a digest of the rows themselves, and the Hub commit
``datasets`` built each split from. :mod:`sahelwire.versions.verify` gets the data (the Hub
through huggingface_hub, or a folder) and runs these.
"""

from __future__ import annotations

import datetime
import decimal
import hashlib
import json
import logging
import re
from collections.abc import Iterable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

from sahelwire.io.file_hashes import sha256_file
from sahelwire.io.release_manifests import ManifestDamaged, read_release_manifest
from sahelwire.schema.problems import Problem
from sahelwire.versions.releases import KEEP_REMOTE

ISSUE_7928 = "huggingface datasets #7928"
_COMMIT = re.compile(r"^[0-9a-f]{40}$")


class VersionMismatch(Exception):
    """What was loaded is not the version asked for; ``problems`` says where and how."""

    def __init__(self, message: str, problems: list[Problem]) -> None:
        super().__init__(message + "".join(f"\n  {p}" for p in problems))
        self.problems = problems


class VerifyUnavailable(Exception):
    """The check could not run (no network and nothing cached, no such tag, no manifest, a
    read of the loaded data that failed)."""


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
    try:
        return read_release_manifest(path)
    except FileNotFoundError:
        raise VerifyUnavailable(f"no release manifest at {path}") from None
    except ManifestDamaged as exc:  # as a missing one: nothing to verify against
        raise VerifyUnavailable(str(exc)) from None


# -- 1. bytes ---------------------------------------------------------------------------


def file_problems(
    folder: Path,
    manifest: Mapping[str, Any],
    *,
    present: Iterable[str] | None = None,
    not_cached: list[str] | None = None,
) -> list[Problem]:
    """The release's files in ``folder`` against the manifest: missing, extra, another size
    or sha256 (one problem per file).

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
        # The size first (a stat): the manifest records both, and both must hold; a file
        # of another size is another file whatever its hash.
        size = path.stat().st_size
        if size != meta["bytes"]:
            problems.append(
                Problem(
                    str(folder),
                    name,
                    "bytes",
                    f"size equals releases/{tag}.json",
                    size,
                    f"release {tag} has {meta['bytes']} bytes",
                )
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


@contextmanager
def _datasets_errors_raised_not_logged() -> Iterator[None]:
    """``datasets`` logs a failed Parquet read as an error line before raising it; the
    failure is reported once, by the caller, in its own line."""
    logger = logging.getLogger("datasets")
    level = logger.level
    logger.setLevel(logging.CRITICAL)
    try:
        yield
    finally:
        logger.setLevel(level)


def _read_digest(data: Any, call: str, record: str) -> tuple[int, str]:
    """rows_digest of a loaded split; VerifyUnavailable if reading it fails.

    A streamed split is read only here, lazily, over the network: a server that ignores an
    HTTP Range request (olah 0.5.4's mirror answers 200 with the whole file, and the Parquet
    reader takes the file's first bytes for its footer), a dropped connection, a time-out.
    That is a check that could not run, not a difference from the release (exit 2, not 1),
    and whatever the reader raises, it ends in one line, never a traceback.
    """
    try:
        with _datasets_errors_raised_not_logged():
            return rows_digest(_loaded_rows(data))
    except Exception as exc:
        said = " ".join(str(exc).split())
        raise VerifyUnavailable(
            f"{call} could not read {record}: {type(exc).__name__}: {said} "
            "(a failed read, not a difference: its rows were not compared; a server that "
            "ignores HTTP Range requests breaks streaming reads)"
        ) from exc


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
    # A split of no rows has no file and does not load (releases cut before the build left
    # them out of `rows` recorded them as 0).
    want: Mapping[str, int] = {
        split: n for split, n in manifest["rows"].get(config, {}).items() if n
    }
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
        rows, digest = _read_digest(data, call, record)
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
