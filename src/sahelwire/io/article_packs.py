"""Per-article memo packs: work done for each article, kept in ``.sahelwire/cache/<kind>/``.

A build repeats, for every article, work whose result depends only on that article's inputs
(its published rows, its adjudicated gold). A *pack* keeps those results for the articles of
the last run: a few Arrow tables (Arrow IPC streams, zstd: smaller than lz4 and, measured,
faster to read back), the rows of each article being one range per table, plus per-article
metadata (JSON), then a footer with the metadata's sha256. Each article's entry records the *key* it was made under: a sha256 of exactly what
its result depends on (the caller's fingerprint of code, taxonomy and schemas, and the
article's own inputs). An entry is used only when its key equals the key of the current
inputs.

**Never a source of truth.** A pack is used only when its footer, metadata sha256, format
and fingerprint hold and every table matches its sha256 and the schema asked for; anything
else (missing, truncated, tampered, foreign, stale) is an empty pack, never an error, and
is replaced by the next write. One pack per kind is kept: a run that computed anything
writes one pack of exactly its articles and removes the others. Writes go to a temporary
file renamed into place, so readers see a whole pack or none.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import os
import struct
import tempfile
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.ipc as ipc

log = logging.getLogger(__name__)

FORMAT = 1
MAGIC = b"SWARTPK1"
# Footer: metadata length (u64, little-endian), metadata sha256 (32 bytes), MAGIC.
_FOOTER = struct.Struct("<Q32s8s")
SUFFIX = ".pack"
_OFF = frozenset({"0", "off", "no", "false"})
CACHE_ENV = "SAHELWIRE_ARTICLE_CACHE"


def memo_enabled() -> bool:
    """False when ``SAHELWIRE_ARTICLE_CACHE`` is ``off`` (or 0/no/false)."""
    return os.environ.get(CACHE_ENV, "").strip().lower() not in _OFF


class BadPack(ValueError):
    """A pack that is not a sound one of this fingerprint and schema: ignored."""


@dataclass
class LoadedPack:
    """A verified pack: its tables and, per article, its entry (key, row ranges, extra)."""

    path: Path
    tables: dict[str, pa.Table]
    entries: dict[str, dict[str, Any]]


@dataclass
class MemoStats:
    """What one run did with a memo pack (tests, the benchmark)."""

    hits: int = 0
    misses: int = 0
    ignored: list[str] = field(default_factory=list)  # "pack: why" for every pack not used
    stored: int = 0
    write_error: str | None = None


def _read_pack(path: Path, fingerprint: str, schemas: Mapping[str, pa.Schema]) -> LoadedPack:
    data = path.read_bytes()
    size = len(data)
    if size < _FOOTER.size:
        raise BadPack("shorter than its footer (truncated)")
    length, digest, magic = _FOOTER.unpack(data[size - _FOOTER.size :])
    if magic != MAGIC:
        raise BadPack("no pack footer (truncated or not a pack)")
    end = size - _FOOTER.size - length
    if end < 0:
        raise BadPack("metadata longer than the file")
    raw = data[end : size - _FOOTER.size]
    if hashlib.sha256(raw).digest() != digest:
        raise BadPack("metadata does not match its sha256 (corrupt)")
    meta = json.loads(raw)
    if meta.get("format") != FORMAT or meta.get("fingerprint") != fingerprint:
        raise BadPack("another format, code, taxonomy or schema (foreign or stale)")
    tables: dict[str, pa.Table] = {}
    view = memoryview(data)
    for name, schema in schemas.items():
        section = meta["tables"].get(name)
        if section is None:
            raise BadPack(f"no {name} table")
        lo, n = int(section["offset"]), int(section["length"])
        if not 0 <= lo <= lo + n <= end:
            raise BadPack(f"the {name} table lies outside the file")
        chunk = view[lo : lo + n]
        if hashlib.sha256(chunk).hexdigest() != section["sha256"]:
            raise BadPack(f"the {name} table does not match its sha256 (corrupt)")
        table = ipc.open_stream(pa.py_buffer(chunk)).read_all()
        if not table.schema.equals(schema) or table.num_rows != section["rows"]:
            raise BadPack(f"the {name} table has another schema or length")
        tables[name] = table
    entries = meta["entries"]
    for entry in entries.values():
        for name, (lo, n) in entry["rows"].items():
            if name not in tables or not 0 <= lo <= lo + n <= tables[name].num_rows:
                raise BadPack(f"an entry's {name} rows lie outside the table")
    return LoadedPack(path, tables, entries)


class ArticlePacks:
    """The memo packs of one kind (one folder) for one fingerprint and set of schemas."""

    def __init__(self, folder: Path, fingerprint: str, schemas: Mapping[str, pa.Schema]) -> None:
        self.folder = folder
        self.fingerprint = fingerprint
        self.schemas = dict(schemas)
        self.stats = MemoStats()

    def key(self, *parts: bytes | str) -> str:
        """sha256 of the fingerprint and ``parts``, each length-prefixed (no ambiguity)."""
        digest = hashlib.sha256(self.fingerprint.encode())
        for part in parts:
            data = part.encode() if isinstance(part, str) else part
            digest.update(f"\0{len(data)}\0".encode())
            digest.update(data)
        return digest.hexdigest()

    def load(self) -> LoadedPack | None:
        """The newest sound pack, or None (every other pack is noted and later removed)."""
        try:
            listed = sorted(
                self.folder.glob(f"*{SUFFIX}"), key=lambda p: p.stat().st_mtime, reverse=True
            )
        except OSError as exc:
            self.stats.ignored.append(f"{self.folder}: {exc}")
            return None
        for path in listed:
            try:
                return _read_pack(path, self.fingerprint, self.schemas)
            except FileNotFoundError:
                continue
            except Exception as exc:  # a cache is never an error: a miss
                self.stats.ignored.append(f"{path.name}: {exc}")
                log.debug("article cache: ignoring %s: %s", path, exc)
        return None

    def write(
        self,
        tables: Mapping[str, Sequence[pa.Table]],
        entries: Mapping[str, dict[str, Any]],
    ) -> None:
        """Write one pack (``tables``: name -> pieces, concatenated in order) and remove
        every other pack of the folder. Never raises: a cache that cannot be written is
        skipped."""
        writer = self.writer()
        for name in self.schemas:
            for piece in tables.get(name, ()):
                writer.add(name, piece)
        writer.finish(entries)

    def writer(self) -> PackWriter:
        """A pack written as its pieces come (:class:`PackWriter`)."""
        return PackWriter(self)


class PackWriter:
    """One pack, its tables written piece by piece as a run produces them.

    Each table goes to its own temporary IPC stream in the folder as pieces arrive, so a run
    never holds the rows it stores (a cold build of a large corpus would otherwise keep every
    article's rows until the end); so do the entries given to :meth:`add_entries` (as JSON
    text: at 1M articles, held as dicts until the end, they were ≈0.9 GB). :meth:`finish`
    joins the streams into the pack. Never raises: a pack that cannot be written is skipped
    (``stats.write_error``).
    """

    def __init__(self, packs: ArticlePacks) -> None:
        self.packs = packs
        self.failed = False
        self.sections: dict[str, tuple[str, Any, Any, int]] = {}  # name -> tmp, file, writer, rows
        self.entries: tuple[str, Any] | None = None  # the streamed entries' temporary file
        self.n_entries = 0
        try:
            packs.folder.mkdir(parents=True, exist_ok=True)
            for leftover in packs.folder.glob(".pack.*.tmp"):
                # A killed writer's leftover (writers are not locked: the newest rename wins).
                if leftover.stat().st_mtime < time.time() - 3600:
                    with contextlib.suppress(FileNotFoundError):
                        leftover.unlink()
            fd, tmp = tempfile.mkstemp(prefix=".pack.", suffix=".tmp", dir=packs.folder)
            self.entries = (tmp, os.fdopen(fd, "w", encoding="ascii"))
            options = ipc.IpcWriteOptions(compression="zstd")
            for name, schema in packs.schemas.items():
                fd, tmp = tempfile.mkstemp(prefix=".pack.", suffix=".tmp", dir=packs.folder)
                handle = os.fdopen(fd, "wb")
                self.sections[name] = (tmp, handle, None, 0)  # removed by abort if next fails
                writer = ipc.new_stream(handle, schema, options=options)
                self.sections[name] = (tmp, handle, writer, 0)
        except (OSError, pa.ArrowException, ValueError) as exc:
            self._fail(exc)

    def _fail(self, exc: BaseException) -> None:
        self.failed = True
        self.packs.stats.write_error = str(exc)
        log.debug("article cache: not written: %s", exc)
        self.abort()

    def add(self, name: str, piece: pa.Table) -> None:
        if self.failed:
            return
        tmp, handle, writer, rows = self.sections[name]
        try:
            writer.write_table(piece)
        except (OSError, pa.ArrowException, ValueError) as exc:
            self._fail(exc)
            return
        self.sections[name] = (tmp, handle, writer, rows + piece.num_rows)

    def add_entries(self, entries: Mapping[str, dict[str, Any]]) -> None:
        """Entries of the pack (article id -> entry), written now, not held; an id is given
        once (here or to :meth:`finish`)."""
        if self.failed or self.entries is None:
            return
        try:
            handle = self.entries[1]
            for article_id, entry in entries.items():
                handle.write(", " if self.n_entries else "")
                handle.write(_entry_json(article_id, entry))
                self.n_entries += 1
        except (OSError, ValueError, TypeError) as exc:
            self._fail(exc)

    def abort(self) -> None:
        """Close and remove the temporary streams (nothing is stored)."""
        if self.entries is not None:
            with contextlib.suppress(Exception):
                self.entries[1].close()
            with contextlib.suppress(FileNotFoundError):
                os.unlink(self.entries[0])
            self.entries = None
        for tmp, handle, writer, _ in self.sections.values():
            with contextlib.suppress(Exception):
                if writer is not None:
                    writer.close()
            with contextlib.suppress(Exception):
                handle.close()
            with contextlib.suppress(FileNotFoundError):
                os.unlink(tmp)
        self.sections = {}

    def finish(self, entries: Mapping[str, dict[str, Any]]) -> None:
        """Join the streams into one pack with ``entries`` (after those of
        :meth:`add_entries`) and remove every other pack."""
        self.add_entries(entries)
        if self.failed or self.entries is None:
            return
        folder = self.packs.folder
        try:
            for _, handle, writer, _ in self.sections.values():
                writer.close()
                handle.close()
            self.entries[1].close()
            fd, tmp = tempfile.mkstemp(prefix=".pack.", suffix=".tmp", dir=folder)
            try:
                with os.fdopen(fd, "wb") as out:
                    sections: dict[str, Any] = {}
                    for name in self.packs.schemas:
                        part, _, _, rows = self.sections[name]
                        digest = hashlib.sha256()
                        offset = out.tell()
                        with open(part, "rb") as source:
                            while block := source.read(1 << 20):
                                digest.update(block)
                                out.write(block)
                        sections[name] = {
                            "offset": offset,
                            "length": out.tell() - offset,
                            "sha256": digest.hexdigest(),
                            "rows": rows,
                        }
                    meta = {
                        "format": FORMAT,
                        "fingerprint": self.packs.fingerprint,
                        "tables": sections,
                        "entries": {},
                    }
                    # The metadata as json.dumps(meta) with the entries in it, the entries
                    # copied from their file: never all in memory.
                    head = json.dumps(meta, ensure_ascii=True, allow_nan=False)
                    assert head.endswith("{}}")
                    meta_digest = hashlib.sha256()
                    start = out.tell()

                    def put(data: bytes) -> None:
                        meta_digest.update(data)
                        out.write(data)

                    put(head[: -len("}}")].encode("ascii"))
                    with open(self.entries[0], "rb") as source:
                        while block := source.read(1 << 20):
                            put(block)
                    put(b"}}")
                    out.write(_FOOTER.pack(out.tell() - start, meta_digest.digest(), MAGIC))
                path = folder / f"{meta_digest.hexdigest()[:32]}{SUFFIX}"
                os.replace(tmp, path)
            except BaseException:
                with contextlib.suppress(FileNotFoundError):
                    os.unlink(tmp)
                raise
            for other in folder.glob(f"*{SUFFIX}"):
                if other != path:
                    with contextlib.suppress(FileNotFoundError):
                        other.unlink()
            self.packs.stats.stored = self.n_entries
        except (OSError, pa.ArrowException, ValueError) as exc:
            self.packs.stats.write_error = str(exc)
            log.debug("article cache: not written: %s", exc)
        finally:
            self.abort()


def _entry_json(article_id: str, entry: dict[str, Any]) -> str:
    """``"id": {...}`` as json.dumps writes a member of the metadata's entries."""
    member = json.dumps({article_id: entry}, ensure_ascii=True, allow_nan=False)
    return member[1:-1]


def clear_folder(folder: Path) -> tuple[int, int]:
    """Remove every pack (and leftover temporary file) in ``folder``: (files, bytes)."""
    removed = size = 0
    if not folder.is_dir():
        return 0, 0
    for path in sorted(folder.iterdir()):
        if path.is_file() and (path.name.endswith(SUFFIX) or path.name.endswith(".tmp")):
            with contextlib.suppress(FileNotFoundError):
                size += path.stat().st_size
                path.unlink()
                removed += 1
    return removed, size


def pack_entries(path: Path, magic: bytes = MAGIC) -> int | None:
    """How many entries a pack file's metadata lists (None: unreadable or not such a pack).

    Both caches' packs end in the same footer (metadata length, its sha256, a magic number);
    the export cache passes its own magic.
    """
    with contextlib.suppress(Exception), path.open("rb") as handle:
        size = os.fstat(handle.fileno()).st_size
        handle.seek(size - _FOOTER.size)
        length, digest, found = _FOOTER.unpack(handle.read(_FOOTER.size))
        handle.seek(size - _FOOTER.size - length)
        raw = handle.read(length)
        if found == magic and hashlib.sha256(raw).digest() == digest:
            return len(json.loads(raw)["entries"])
    return None


def describe_folder(folder: Path) -> list[tuple[str, int, int | None]]:
    """Each pack file: (name, bytes, entries or None when its metadata cannot be read)."""
    if not folder.is_dir():
        return []
    return [
        (path.name, path.stat().st_size, pack_entries(path))
        for path in sorted(folder.glob(f"*{SUFFIX}"))
    ]
