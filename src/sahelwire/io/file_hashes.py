"""Files' sha256, remembered with their stat, so an unchanged file is not read again.

The inputs are checked by content: the export cache is keyed by each export's sha256, and
validation compares each raw text's sha256 with the manifest's. A warm build therefore read
and hashed every export and every raw text only to find them unchanged (at 10k articles
≈1.7 GB of exports, ≈9 s of a rebuild's ≈45 s). Here each hash is kept with the file's stat
(size, inode, mtime and ctime in ns), as git's index does, in a ``hashes.json`` under
``.sahelwire/cache/`` (git-ignored local state: one for the exports, one for the raw texts).
A later read takes the hash without reading the file while its stat is the same.

**Why a stat that holds means the bytes are the same.** Any write to a file or its
replacement by another changes its ctime to the time of the change, and no call sets ctime
back (only moving the system clock would). What remains is a change within the file system's
timestamp resolution of the moment the hash was taken (git's "racy clean" case): an entry is
therefore trusted only if the file's mtime and ctime were both at least :data:`RACY_NS` older
than the moment its stat was taken. A file changed just before it was hashed is hashed again
next time (and then trusted).

**Never a source of truth.** The file ends with the sha256 of its body; a missing, damaged,
foreign-format or unreadable index is an empty one, and writing it is best effort. A hash
only stands for the bytes it was taken of: the export cache entry it picks must still exist
and match everything else the cache checks, and a raw text the build reads to publish is
checked against the validated hash again. ``SAHELWIRE_EXPORT_CACHE=off`` reads every
file (no index is used); ``sahelwire cache clear`` removes them.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import os
import time
from collections.abc import Iterable
from pathlib import Path

from sahelwire.io.atomic import write_bytes_atomic

log = logging.getLogger(__name__)

NAME = "hashes.json"
FORMAT = 2  # 2: each entry may carry one more integer (a raw text's length in code points)
# Trusted only when the file last changed at least this long before its stat was taken:
# more than any file system's timestamp resolution (FAT's is 2 s; ext4's is the kernel tick).
RACY_NS = 3 * 10**9

StatKey = tuple[int, int, int, int]  # size, inode, mtime_ns, ctime_ns
# sha256, stat before the read, time.time_ns() before the stat, what the caller adds (or None)
Entry = tuple[str, StatKey, int, int | None]


def sha256_file(path: Path) -> str:
    """The sha256 (hex) of the file at ``path``, read a MiB at a time."""
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def copy_sha256(source: Path, target: Path) -> str:
    """Copy ``source`` to ``target``; the sha256 (hex) of the bytes copied, in the same pass."""
    digest = hashlib.sha256()
    with source.open("rb") as reading, target.open("wb") as writing:
        for block in iter(lambda: reading.read(1 << 20), b""):
            digest.update(block)
            writing.write(block)
    return digest.hexdigest()


def stat_key(path: Path | str) -> StatKey:
    """What changes when a file is written or replaced: size, inode, mtime and ctime (ns)."""
    st = os.stat(path)
    return (st.st_size, st.st_ino, st.st_mtime_ns, st.st_ctime_ns)


def now_ns() -> int:
    return time.time_ns()


def settled(stat: StatKey, taken_ns: int) -> bool:
    """Whether a file of ``stat``, stat'ed at ``taken_ns``, had stopped changing by then."""
    return max(stat[2], stat[3]) + RACY_NS <= taken_ns


class FileHashes:
    """The remembered hashes of one kind of file (by path under the project)."""

    def __init__(self, path: Path, entries: dict[str, Entry] | None = None) -> None:
        self.path = path
        self.entries: dict[str, Entry] = entries or {}
        self.noted: dict[str, Entry] = {}  # hashed, or found still valid, in this run

    @classmethod
    def load(cls, folder: Path) -> FileHashes:
        path = folder / NAME
        try:
            raw = path.read_bytes()
            body, _, digest = raw.rstrip(b"\n").rpartition(b"\n")
            if hashlib.sha256(body).hexdigest().encode() != digest:
                raise ValueError("checksum does not match")
            data = json.loads(body)
            if data.get("format") != FORMAT:
                raise ValueError(f"format {data.get('format')!r}")
            entries = {
                source: (
                    str(sha),
                    (int(a), int(b), int(c), int(d)),
                    int(at),
                    None if extra is None else int(extra),
                )
                for source, (sha, (a, b, c, d), at, extra) in data["entries"].items()
            }
        except FileNotFoundError:
            return cls(path)
        except Exception as exc:  # never an error: every file is read and hashed
            log.debug("file hashes: ignoring %s: %s", path, exc)
            return cls(path)
        return cls(path, entries)

    def known(self, source: str, path: Path | str, stat: StatKey | None = None) -> Entry | None:
        """The remembered entry of ``path`` if its stat still holds (and had settled when
        the hash was taken); else None (read and hash it). ``stat``: the file's
        :func:`stat_key` taken just now by the caller (saves a second stat call)."""
        entry = self.entries.get(source)
        if entry is None or not settled(entry[1], entry[2]):
            return None
        try:
            if (stat_key(path) if stat is None else stat) != entry[1]:
                return None
        except OSError:
            return None
        self.noted[source] = entry
        return entry

    def note(
        self, source: str, sha: str, stat: StatKey, taken_ns: int, extra: int | None = None
    ) -> None:
        """``source`` hashed in this run: ``stat`` was taken at ``taken_ns``, before the read."""
        self.noted[source] = (sha, stat, taken_ns, extra)

    def save(self, sources: Iterable[str]) -> None:
        """Keep the entries of ``sources`` (this run's files) noted in this run; best effort."""
        keep = {s: self.noted[s] for s in sources if s in self.noted}
        if keep == self.entries:
            return
        body = json.dumps(
            {
                "format": FORMAT,
                "entries": {s: [e[0], list(e[1]), e[2], e[3]] for s, e in keep.items()},
            },
            ensure_ascii=True,
            separators=(",", ":"),
        ).encode("ascii")
        data = body + b"\n" + hashlib.sha256(body).hexdigest().encode() + b"\n"
        try:
            write_bytes_atomic(self.path, data)
        except OSError as exc:
            log.debug("file hashes: not written: %s", exc)
            return
        self.entries = keep


def clear(folder: Path) -> tuple[int, int]:
    """Remove the index of ``folder`` and its killed writers' temporary files: (files, bytes)."""
    removed = size = 0
    if not folder.is_dir():
        return 0, 0
    for path in [folder / NAME, *folder.glob(f".{NAME}.*.tmp")]:
        with contextlib.suppress(FileNotFoundError):
            size += path.stat().st_size
            path.unlink()
            removed += 1
    return removed, size
