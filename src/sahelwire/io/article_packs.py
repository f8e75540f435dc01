"""Per-article memo packs: work done for each article, kept in ``.sahelwire/cache/<kind>/``.

A build repeats, for every article, work whose result depends only on that article's inputs
(its published rows, its adjudicated gold). A *pack* keeps those results for the articles of
the last run: a few Arrow tables, the rows of each article being one range per table, a
table of *entries* (one per article: its key, its row ranges, the rest as JSON), then the
metadata (JSON) and a footer with the metadata's sha256. Each table is a run of *blocks*,
each a small Arrow IPC stream (zstd: smaller than lz4 and, measured, faster to read back) of
the rows a few pieces held when they were written; the metadata lists every block's place
and rows, so a run reads back the blocks it uses, when it uses them (:class:`PackTable`), and
never the whole pack: at 1M articles the pack is the whole release's per-article rows. The
entries are read as columns and an entry made a dict when asked for (:class:`PackEntries`).
Each article's entry records the *key* it was made under: a sha256 of exactly what its
result depends on (the caller's fingerprint of code, taxonomy and schemas, and the article's
own inputs). An entry is used only when its key equals the key of the current inputs.

**Never a source of truth.** A pack is used only when its footer, metadata sha256, format
and fingerprint hold and every table matches its sha256 and the schema asked for; anything
else (missing, truncated, tampered, foreign, stale) is an empty pack, never an error, and
is replaced by the next write. One pack per kind is kept: a run that computed anything
writes one pack of exactly its articles and removes the others. Writes go to a temporary
file renamed into place, so readers see a whole pack or none.

**Checked marks.** A caller whose results are checked after they are stored (the published
rows: pandera, once the build has validated every batch) marks the pack then
(:meth:`ArticlePacks.mark_checked`: an empty ``<pack>.checked`` file beside it). A pack's
name is its metadata's sha256, which holds every table's sha256, so the mark is bound to
those exact bytes; a pack without one is used as before and its rows checked again.
"""

from __future__ import annotations

import bisect
import contextlib
import hashlib
import json
import logging
import os
import struct
import tempfile
import time
from collections import OrderedDict, deque
from collections.abc import Iterator, Mapping, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.ipc as ipc

from sahelwire.io.config import env_switch

log = logging.getLogger(__name__)

FORMAT = 2  # 2: tables and entries as blocks read on use (1: streams and JSON, read whole)
MAGIC = b"SWARTPK1"
# Footer: metadata length (u64, little-endian), metadata sha256 (32 bytes), MAGIC.
_FOOTER = struct.Struct("<Q32s8s")
SUFFIX = ".pack"
CHECKED = ".checked"  # the mark beside a pack whose rows a run has checked (mark_checked)
CACHE_ENV = "SAHELWIRE_ARTICLE_CACHE"


def memo_enabled() -> bool:
    """False when ``SAHELWIRE_ARTICLE_CACHE`` is ``off`` (or 0/no/false); another value
    than on/off words is refused (io.config.env_switch)."""
    return env_switch(CACHE_ENV)


class BadPack(ValueError):
    """A pack that is not a sound one of this fingerprint and schema: ignored."""


# Blocks of one table kept decoded by PackTable (runs read a pack nearly in order: a few
# behind the one in use cover a chunk whose articles moved between splits or chunks; a
# block is at most about BLOCK_BYTES decoded, so this bounds a table's reads).
DECODED_BLOCKS = 3
# Blocks of a table read in order that the reader thread reads and decodes ahead of the one
# taken (PackTable._read_ahead): a table holds at most DECODED_BLOCKS + READ_AHEAD_BLOCKS.
# One ahead, a rebuild at 1M waited ≈17 s for blocks the thread had spent ≈4 s on (py-spy):
# each hand-off waits for the interpreter lock, held by the build's other threads, and
# 6,000 blocks of annotations_raw are taken one after the other.
READ_AHEAD_BLOCKS = 4
# The section of a pack that holds its entries (PackWriter; "entry_table" in the metadata).
ENTRIES = "__entries__"
# Rows per block written (PackWriter): pieces are gathered up to it, or up to BLOCK_BYTES
# (rows of documents hold a whole text), so a block's stream header is a small share of it
# and a read decodes a bounded amount.
BLOCK_ROWS = 4096
BLOCK_BYTES = 8 << 20
# Pieces handed to a PackWriter's thread and not yet written, at most this many bytes: past
# it the caller waits for the oldest block (what the thread holds stays bounded). About two
# blocks (BLOCK_BYTES): a piece may be a slice that keeps a whole decoded block alive, and
# the 1M build's peak is near its 4 GB bound.
WRITE_AHEAD_BYTES = 16 << 20
# Bytes read per step when a pack's sha256s are checked (never the whole file at once).
HASH_BLOCK = 1 << 24


# The thread that reads and decodes the next block of a table read in order (one for all
# packs: started on first use, idle otherwise).
_READER: ThreadPoolExecutor | None = None


def _reader() -> ThreadPoolExecutor:
    global _READER
    if _READER is None:
        _READER = ThreadPoolExecutor(1, thread_name_prefix="pack-read")
    return _READER


class PackTable:
    """One table of a verified pack, read a block at a time as :meth:`slice` needs it.

    Blocks are read with plain file reads (not a memory map, whose pages would count in the
    process's resident memory) from the pack's file as opened when it was verified (another
    run may replace the pack and remove this file meanwhile), and the last
    :data:`DECODED_BLOCKS` are kept decoded. When the blocks are taken in order, the next
    :data:`READ_AHEAD_BLOCKS` are read and decoded in a thread meanwhile
    (:meth:`_read_ahead`): a rebuild reads the last run's pack in order, and at 1M its
    reading and zstd decoding were ≈47 s of the main thread (py-spy) while the second core
    had room; both release the GIL.
    """

    def __init__(
        self, file: Any, offset: int, blocks: Sequence[Sequence[int]], schema: pa.Schema
    ) -> None:
        self.file = file
        self.declared = schema
        self.places = [(offset + int(at), int(length)) for at, length, _ in blocks]
        self.starts = [0]  # the first row of each block, then the table's length
        for _, _, rows in blocks:
            self.starts.append(self.starts[-1] + int(rows))
        self.num_rows = self.starts[-1]
        self._decoded: OrderedDict[int, pa.Table] = OrderedDict()
        # The blocks asked of the reader thread, in order: (block, its read).
        self._ahead: deque[tuple[int, Future[pa.Table]]] = deque()
        self._last = -1  # the block taken last

    def _read(self, i: int) -> pa.Table:
        return ipc.open_stream(pa.py_buffer(self.block_bytes(i))).read_all()

    def block_bytes(self, i: int) -> bytes:
        """Block ``i`` as stored: one Arrow IPC stream (what :meth:`PackWriter.copy` copies)."""
        at, length = self.places[i]
        return os.pread(self.file.fileno(), length, at)

    def _block(self, i: int) -> pa.Table:
        table = self._decoded.pop(i, None)
        if table is None:
            table = self._taken_ahead(i)
        if table is None:
            table = self._read(i)
        self._decoded[i] = table
        while len(self._decoded) > DECODED_BLOCKS:
            self._decoded.popitem(last=False)
        if i == self._last + 1:
            self._read_ahead(i + 1)
        self._last = i
        return table

    def _taken_ahead(self, i: int) -> pa.Table | None:
        """Block ``i`` if it is the next one read ahead (its error, if any, raised as a
        read's)."""
        if not self._ahead or self._ahead[0][0] != i:
            return None
        return self._ahead.popleft()[1].result()

    def _read_ahead(self, i: int) -> None:
        """Have blocks ``i`` to ``i + READ_AHEAD_BLOCKS - 1`` read in the reader thread,
        unless past the end, kept or asked. Blocks read ahead and never taken (the reads
        jumped) are dropped first."""
        if self._ahead and self._ahead[0][0] != i:
            self.settle()
        asked = {j for j, _ in self._ahead}
        for j in range(i, min(i + READ_AHEAD_BLOCKS, len(self.places))):
            if j not in asked and j not in self._decoded:
                self._ahead.append((j, _reader().submit(self._read, j)))

    def settle(self) -> None:
        """Wait for the blocks being read ahead, if any, and drop them (before the file
        closes: a read still under way would use a closed descriptor). Their errors, if
        any, are dropped with them: no one asked for those blocks."""
        while self._ahead:
            future = self._ahead.popleft()[1]
            with contextlib.suppress(Exception):
                future.result()

    def schema(self) -> pa.Schema:
        """The first block's schema (its stream's header: no rows decoded)."""
        return ipc.open_stream(pa.py_buffer(self.block_bytes(0))).schema

    def parts(self, start: int, length: int) -> Iterator[tuple[pa.Table, int | None]]:
        """Rows ``start`` to ``start + length`` (within the table), a block's share at a
        time: (rows, the block's number when they are the whole block, else None)."""
        i = max(bisect.bisect_right(self.starts, start) - 1, 0)
        at, left = start, length
        while left > 0:
            block = self._block(i)
            lo = at - self.starts[i]
            part = block.slice(lo, min(left, block.num_rows - lo))
            yield part, i if part.num_rows == block.num_rows else None
            at += part.num_rows
            left -= part.num_rows
            i += 1

    def slice(self, start: int, length: int) -> pa.Table:
        """Rows ``start`` to ``start + length`` (within the table) as one table."""
        parts = [part for part, _ in self.parts(start, length)]
        if not parts:
            return self.declared.empty_table()
        return parts[0] if len(parts) == 1 else pa.concat_tables(parts)

    def read_all(self) -> pa.Table:
        """The whole table."""
        blocks = [self._block(i) for i in range(len(self.places))]
        return pa.concat_tables(blocks) if blocks else self.declared.empty_table()


class _Strings:
    """A string column read by index without a pyarrow scalar per read (≈20 µs each): the
    offsets as NumPy and the bytes as a memoryview."""

    def __init__(self, column: pa.ChunkedArray) -> None:
        array = column.cast(pa.large_string()).combine_chunks()
        if array.null_count:
            raise BadPack("an entry has no key or no extra")
        _, offsets, data = array.buffers()
        self._offsets = np.frombuffer(offsets, dtype=np.int64)[
            array.offset : array.offset + len(array) + 1
        ]
        self._data = memoryview(data) if data is not None else memoryview(b"")

    def __getitem__(self, i: int) -> str:
        return str(self._data[self._offsets[i] : self._offsets[i + 1]], "utf-8")


class PackEntries(Mapping[str, dict[str, Any]]):
    """A verified pack's entries, article id -> entry, kept as Arrow columns (one row per
    article) and made into a dict only when asked for: at 1M articles, as dicts they were
    ≈0.9 GB."""

    def __init__(self, table: pa.Table, names: Sequence[str]) -> None:
        self.names = list(names)  # the tables whose row ranges the entries give
        ids = table.column("article_id").to_pylist()
        self._row = dict(zip(ids, range(len(ids)), strict=True))
        if len(self._row) != len(ids):
            raise BadPack("an article has two entries")
        # One chunk per column and the ranges as NumPy (null: -1): a lookup indexes them
        # (a one-row slice of the table made into a dict took ≈200 µs; 1M lookups a build).
        self._key = _Strings(table.column("key"))
        self._extra = _Strings(table.column("extra"))
        self._ranges = {
            name: (
                table.column(f"{name}.start").fill_null(-1).to_numpy(),
                table.column(f"{name}.length").fill_null(-1).to_numpy(),
            )
            for name in self.names
        }

    def __getitem__(self, article_id: str) -> dict[str, Any]:
        found = self.found(article_id)
        if found is None:
            raise KeyError(article_id)
        key, extra, rows = found
        entry: dict[str, Any] = json.loads(extra)
        entry["key"] = key
        entry["rows"] = rows
        return entry

    def found(self, article_id: str) -> tuple[str, str, dict[str, list[int]]] | None:
        """An entry's key, the rest of it as the JSON it is stored as (not parsed), and its
        row ranges; None when the article has none. A rebuild reads nearly every entry
        unchanged: parsing, decoding, encoding and dumping each again cost ≈50 µs an article
        (100k articles, docs/benchmarks.md)."""
        i = self._row.get(article_id)
        if i is None:
            return None
        rows = {
            name: [int(starts[i]), int(lengths[i])]
            for name, (starts, lengths) in self._ranges.items()
            if starts[i] >= 0
        }
        return self._key[i], self._extra[i], rows

    def __iter__(self) -> Iterator[str]:
        return iter(self._row)

    def __len__(self) -> int:
        return len(self._row)


def entry_schema(names: Sequence[str]) -> pa.Schema:
    """The entries' columns: the id, the key, the row range in each table (null: none), the
    rest of the entry as JSON."""
    fields = [("article_id", pa.string()), ("key", pa.string())]
    for name in names:
        fields += [(f"{name}.start", pa.int64()), (f"{name}.length", pa.int64())]
    return pa.schema([*fields, ("extra", pa.string())])


# An entry's key for its extra given as the stored JSON (from PackEntries.found), written
# verbatim instead of the entry's other keys.
EXTRA_JSON = "extra_json"


def entry_rows(entries: Mapping[str, dict[str, Any]], names: Sequence[str]) -> pa.Table:
    """``entries`` as a table of :func:`entry_schema` (an entry's rows must name tables of
    ``names``; ValueError otherwise). An entry with :data:`EXTRA_JSON` has that string as
    its extra, as is."""
    columns: dict[str, list[Any]] = {f.name: [] for f in entry_schema(names)}
    for article_id, entry in entries.items():
        rows = entry.get("rows", {})
        unknown = set(rows) - set(names)
        if unknown:
            raise ValueError(f"entry {article_id!r} gives rows of no table: {sorted(unknown)}")
        columns["article_id"].append(article_id)
        columns["key"].append(entry["key"])
        for name in names:
            lo, n = rows.get(name, (None, None))
            columns[f"{name}.start"].append(lo)
            columns[f"{name}.length"].append(n)
        stored = entry.get(EXTRA_JSON)
        if isinstance(stored, str):  # the extra as a loaded pack stored it (PackEntries.found)
            columns["extra"].append(stored)
            continue
        extra = {k: v for k, v in entry.items() if k not in ("key", "rows")}
        columns["extra"].append(json.dumps(extra, ensure_ascii=True, allow_nan=False))
    return pa.table(columns, schema=entry_schema(names))


@dataclass
class LoadedPack:
    """A verified pack: its tables (read on use) and, per article, its entry (key, row
    ranges, extra)."""

    path: Path
    tables: dict[str, PackTable]
    entries: PackEntries
    file: Any = None  # open while tables are read from it
    checked: bool = False  # marked by ArticlePacks.mark_checked when it was loaded

    def close(self) -> None:
        for table in self.tables.values():
            table.settle()
        if self.file is not None:
            self.file.close()
            self.file = None


@dataclass
class MemoStats:
    """What one run did with a memo pack (tests, the benchmark)."""

    hits: int = 0
    misses: int = 0
    ignored: list[str] = field(default_factory=list)  # "pack: why" for every pack not used
    stored: int = 0
    copied: int = 0  # blocks of the last pack stored again as they were (PackWriter.copy)
    write_error: str | None = None
    written: Path | None = None  # the pack this run stored


def _sha256(source: Any, offset: int, length: int) -> str:
    digest = hashlib.sha256()
    source.seek(offset)
    while length > 0:
        block = source.read(min(HASH_BLOCK, length))
        if not block:
            break
        digest.update(block)
        length -= len(block)
    return digest.hexdigest()


def _read_pack(path: Path, fingerprint: str, schemas: Mapping[str, pa.Schema]) -> LoadedPack:
    source = open(path, "rb")  # noqa: SIM115 (kept open for the tables: PackTable)
    try:
        pack = _verified(path, source, fingerprint, schemas)
    except BaseException:
        source.close()
        raise
    if not pack.tables:
        source.close()
    else:
        pack.file = source
    pack.checked = checked_mark(path).is_file()
    return pack


def checked_mark(pack: Path) -> Path:
    """Where the mark of ``pack``'s rows having been checked is (:meth:`ArticlePacks.mark_checked`)."""
    return pack.with_name(pack.name + CHECKED)


def _verified(
    path: Path, source: Any, fingerprint: str, schemas: Mapping[str, pa.Schema]
) -> LoadedPack:
    size = os.fstat(source.fileno()).st_size
    if size < _FOOTER.size:
        raise BadPack("shorter than its footer (truncated)")
    source.seek(size - _FOOTER.size)
    length, digest, magic = _FOOTER.unpack(source.read(_FOOTER.size))
    if magic != MAGIC:
        raise BadPack("no pack footer (truncated or not a pack)")
    end = size - _FOOTER.size - length
    if end < 0:
        raise BadPack("metadata longer than the file")
    source.seek(end)
    raw = source.read(length)
    if hashlib.sha256(raw).digest() != digest:
        raise BadPack("metadata does not match its sha256 (corrupt)")
    meta = json.loads(raw)
    del raw
    if meta.get("format") != FORMAT or meta.get("fingerprint") != fingerprint:
        raise BadPack("another format, code, taxonomy or schema (foreign or stale)")
    tables: dict[str, PackTable] = {}
    for name, schema in schemas.items():
        section = meta["tables"].get(name)
        if section is None:
            raise BadPack(f"no {name} table")
        tables[name] = _section(source, section, end, schema, f"the {name} table")
    names = list(schemas)
    entry_table = _section(
        source, meta["entry_table"], end, entry_schema(names), "the entries"
    ).read_all()
    for name in names:
        lo, n = entry_table.column(f"{name}.start"), entry_table.column(f"{name}.length")
        given = pc.is_valid(lo)
        if not pc.all(pc.equal(given, pc.is_valid(n)), min_count=0).as_py():
            raise BadPack(f"an entry's {name} rows lie outside the table")
        lo, n = pc.filter(lo, given), pc.filter(n, given)
        inside = pc.and_(
            pc.and_(pc.greater_equal(lo, 0), pc.greater_equal(n, 0)),
            pc.less_equal(pc.add(lo, n), tables[name].num_rows),
        )
        if not pc.all(inside, min_count=0).as_py():
            raise BadPack(f"an entry's {name} rows lie outside the table")
    return LoadedPack(path, tables, PackEntries(entry_table, names))


def _section(
    source: Any, section: Mapping[str, Any], end: int, schema: pa.Schema, what: str
) -> PackTable:
    """The table a metadata section describes, its bytes checked against their sha256 and
    its blocks against the section (``end``: where the tables' part of the file ends)."""
    lo, n = int(section["offset"]), int(section["length"])
    if not 0 <= lo <= lo + n <= end:
        raise BadPack(f"{what} lies outside the file")
    if _sha256(source, lo, n) != section["sha256"]:
        raise BadPack(f"{what} does not match its sha256 (corrupt)")
    blocks = section["blocks"]
    at = 0
    for block_at, block_length, _ in blocks:
        if block_at != at or block_length <= 0:
            raise BadPack(f"{what}: its blocks do not tile it")
        at += block_length
    if at != n:
        raise BadPack(f"{what}: its blocks do not tile it")
    table = PackTable(source, lo, blocks, schema)
    if table.num_rows != section["rows"]:
        raise BadPack(f"{what} has another length")
    if blocks and not table.schema().equals(schema):
        raise BadPack(f"{what} has another schema")
    return table


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

    def mark_checked(self, pack: Path) -> None:
        """Mark ``pack`` as holding only rows the caller has checked (its own rules, run
        after the pack was stored): :attr:`LoadedPack.checked` of the next load. Never
        raises: a mark that cannot be written only means the rows are checked again."""
        if not pack.is_file():  # replaced by a newer run's pack meanwhile
            return
        try:
            fd, tmp = tempfile.mkstemp(prefix=".pack.", suffix=".tmp", dir=pack.parent)
            os.close(fd)
            os.replace(tmp, checked_mark(pack))
        except OSError as exc:
            log.debug("article cache: %s not marked: %s", pack, exc)


@dataclass
class _Section:
    """A table of the pack being written: its temporary file of blocks."""

    tmp: str
    handle: Any
    blocks: list[list[int]] = field(default_factory=list)  # [offset, length, rows] each
    size: int = 0
    rows: int = 0
    waiting: list[pa.Table] = field(default_factory=list)  # pieces not yet in a block
    # Their rows and bytes, counted as they come (summed at every piece, they were
    # quadratic in the pieces of a block: ≈2 s of a 1M rebuild's main thread, py-spy).
    waiting_rows: int = 0
    waiting_bytes: int = 0


class PackWriter:
    """One pack, its tables written piece by piece as a run produces them.

    Each table goes to its own temporary file in the folder as pieces arrive, a block of at
    least :data:`BLOCK_ROWS` rows at a time, so a run never holds the rows it stores (a cold
    build of a large corpus would otherwise keep every article's rows until the end); so do
    the entries given to :meth:`add_entries` (one more table: at 1M articles, held as dicts
    until the end, they were ≈0.9 GB). :meth:`finish` joins the files into the pack. Never
    raises: a pack that cannot be written is skipped (``stats.write_error``). The blocks are
    encoded and written by one thread of the writer's own, in order, so that the encoding
    overlaps the caller's next rows on the second core.
    """

    def __init__(self, packs: ArticlePacks) -> None:
        self.packs = packs
        self.failed = False
        self.sections: dict[str, _Section] = {}  # the tables', then ENTRIES
        self.schemas = {**packs.schemas, ENTRIES: entry_schema(list(packs.schemas))}
        self.options = ipc.IpcWriteOptions(compression="zstd")
        # One thread encodes and writes the blocks, in the order given (the same bytes as
        # written inline); the pieces handed to it and not yet written, and their bytes.
        self._thread = ThreadPoolExecutor(max_workers=1, thread_name_prefix="sahelwire-pack")
        self._in_flight: deque[tuple[Future[None], int]] = deque()
        self._in_flight_bytes = 0
        try:
            packs.folder.mkdir(parents=True, exist_ok=True)
            for leftover in packs.folder.glob(".pack.*.tmp"):
                # A killed writer's leftover (writers are not locked: the newest rename wins).
                if leftover.stat().st_mtime < time.time() - 3600:
                    with contextlib.suppress(FileNotFoundError):
                        leftover.unlink()
            for name in self.schemas:
                fd, tmp = tempfile.mkstemp(prefix=".pack.", suffix=".tmp", dir=packs.folder)
                self.sections[name] = _Section(tmp, os.fdopen(fd, "wb"))
        except (OSError, pa.ArrowException, ValueError) as exc:
            self._fail(exc)

    def _fail(self, exc: BaseException) -> None:
        self.failed = True
        self.packs.stats.write_error = str(exc)
        log.debug("article cache: not written: %s", exc)
        self.abort()

    def add(self, name: str, piece: pa.Table) -> None:
        if self.failed or not piece.num_rows:
            return
        section = self.sections[name]
        section.waiting.append(piece)
        section.waiting_rows += piece.num_rows
        section.waiting_bytes += piece.nbytes
        if section.waiting_rows >= BLOCK_ROWS or section.waiting_bytes >= BLOCK_BYTES:
            self._flush(name)

    def _flush(self, name: str) -> None:
        """The waiting pieces of table ``name`` as one block (one small IPC stream), encoded
        and written by the writer's thread; the caller waits only when more than
        :data:`WRITE_AHEAD_BYTES` of pieces are not yet written."""
        if self.failed or not self.sections[name].waiting:
            return
        section = self.sections[name]
        pieces, section.waiting = section.waiting, []
        nbytes, section.waiting_rows, section.waiting_bytes = section.waiting_bytes, 0, 0
        self._in_flight.append((self._thread.submit(self._encode, name, pieces), nbytes))
        self._in_flight_bytes += nbytes
        while self._in_flight_bytes > WRITE_AHEAD_BYTES and not self.failed:
            self._wait_oldest()

    def _encode(self, name: str, pieces: list[pa.Table]) -> None:
        """In the writer's thread, in the order given: one block of ``pieces`` appended to
        table ``name``'s file. (The zstd encoding is pyarrow's, without the GIL: at 1M
        articles it was ≈60 s of a rebuild's main thread, py-spy.)"""
        schema = self.schemas[name]
        block = pa.concat_tables(p.replace_schema_metadata(schema.metadata) for p in pieces)
        if len(pieces) > 1:
            # One record batch: a batch per small piece (an article's rows, the ends of a
            # copied run) is a compressed buffer per column each, slow to encode and decode.
            block = block.combine_chunks()
        sink = pa.BufferOutputStream()
        with ipc.new_stream(sink, schema, options=self.options) as writer:
            writer.write_table(block)
        self._append(name, sink.getvalue(), block.num_rows)

    def _append(self, name: str, data: bytes | pa.Buffer, rows: int) -> None:
        """In the writer's thread: one encoded block appended to table ``name``'s file."""
        section = self.sections[name]
        section.handle.write(data)
        size = len(data)
        section.blocks.append([section.size, size, rows])
        section.size += size
        section.rows += rows

    def copy(self, name: str, source: PackTable, block: int, rows: pa.Table) -> None:
        """Block ``block`` of ``source`` (a verified pack's table) appended to table
        ``name`` as it is stored: its bytes copied, not decoded and encoded again
        (a rebuild stores its kept rows again: at 1M, ≈15 s of the writer's thread and ≈9 s
        of the caller's waits, py-spy). ``rows``, the block decoded, are added instead while
        pieces wait for a block, and for a short block (the end of a table): they make one
        block with the next, so blocks stay at least :data:`BLOCK_ROWS` long (or
        :data:`BLOCK_BYTES`) however many runs have copied them. The bytes are read by the
        writer's thread when it gets to them: ``source``'s pack must stay open until
        :meth:`finish` or :meth:`abort` has returned (``RawRowCache.merge`` closes it after)."""
        if self.failed:
            return
        short = rows.num_rows < BLOCK_ROWS and rows.nbytes < BLOCK_BYTES
        if short or self.sections[name].waiting or not source.declared.equals(self.schemas[name]):
            self.add(name, rows)
            return
        count = source.starts[block + 1] - source.starts[block]
        nbytes = source.places[block][1]

        def append() -> None:
            self._append(name, source.block_bytes(block), count)

        self._in_flight.append((self._thread.submit(append), nbytes))
        self._in_flight_bytes += nbytes
        self.packs.stats.copied += 1
        while self._in_flight_bytes > WRITE_AHEAD_BYTES and not self.failed:
            self._wait_oldest()

    def _wait_oldest(self) -> None:
        future, nbytes = self._in_flight.popleft()
        self._in_flight_bytes -= nbytes
        try:
            future.result()
        except (OSError, pa.ArrowException, ValueError) as exc:
            self._fail(exc)

    def _wait_all(self) -> None:
        while self._in_flight and not self.failed:
            self._wait_oldest()

    def add_entries(self, entries: Mapping[str, dict[str, Any]]) -> None:
        """Entries of the pack (article id -> entry: ``key``, ``rows`` (table -> [first
        row, rows]) and anything JSON), written as they come, not held; an id is given once
        (here or to :meth:`finish`)."""
        if self.failed or not entries:
            return
        try:
            rows = entry_rows(entries, list(self.packs.schemas))
        except (ValueError, TypeError, KeyError) as exc:
            self._fail(exc)
            return
        self.add(ENTRIES, rows)

    def abort(self) -> None:
        """Close and remove the temporary files (nothing is stored)."""
        # The block being written is finished, those not started are dropped: only then
        # are the files closed under the thread.
        self._thread.shutdown(wait=True, cancel_futures=True)
        self._in_flight.clear()
        self._in_flight_bytes = 0
        for section in self.sections.values():
            with contextlib.suppress(Exception):
                section.handle.close()
            with contextlib.suppress(FileNotFoundError):
                os.unlink(section.tmp)
        self.sections = {}

    def finish(self, entries: Mapping[str, dict[str, Any]]) -> None:
        """Join the files into one pack with ``entries`` (after those of
        :meth:`add_entries`) and remove every other pack."""
        self.add_entries(entries)
        for name in self.schemas:
            self._flush(name)
        self._wait_all()
        self._thread.shutdown(wait=True)
        if self.failed:
            return
        folder = self.packs.folder
        try:
            for section in self.sections.values():
                section.handle.close()
            fd, tmp = tempfile.mkstemp(prefix=".pack.", suffix=".tmp", dir=folder)
            try:
                with os.fdopen(fd, "wb") as out:
                    sections: dict[str, Any] = {}
                    for name in self.schemas:
                        section = self.sections[name]
                        digest = hashlib.sha256()
                        offset = out.tell()
                        with open(section.tmp, "rb") as source:
                            while block := source.read(1 << 20):
                                digest.update(block)
                                out.write(block)
                        sections[name] = {
                            "offset": offset,
                            "length": out.tell() - offset,
                            "sha256": digest.hexdigest(),
                            "rows": section.rows,
                            "blocks": section.blocks,
                        }
                    entry_table = sections.pop(ENTRIES)
                    meta = {
                        "format": FORMAT,
                        "fingerprint": self.packs.fingerprint,
                        "tables": sections,
                        "entry_table": entry_table,
                    }
                    raw = json.dumps(meta, ensure_ascii=True, allow_nan=False).encode("ascii")
                    meta_digest = hashlib.sha256(raw)
                    out.write(raw)
                    out.write(_FOOTER.pack(len(raw), meta_digest.digest(), MAGIC))
                path = folder / f"{meta_digest.hexdigest()[:32]}{SUFFIX}"
                os.replace(tmp, path)
            except BaseException:
                with contextlib.suppress(FileNotFoundError):
                    os.unlink(tmp)
                raise
            for other in [*folder.glob(f"*{SUFFIX}"), *folder.glob(f"*{SUFFIX}{CHECKED}")]:
                # The other packs and their marks; this pack's name is new (its metadata's
                # sha256) unless it holds the very bytes of the one it replaces, whose
                # mark then still holds.
                if other not in (path, checked_mark(path)):
                    with contextlib.suppress(FileNotFoundError):
                        other.unlink()
            self.packs.stats.stored = entry_table["rows"]
            self.packs.stats.written = path
        except (OSError, pa.ArrowException, ValueError) as exc:
            self.packs.stats.write_error = str(exc)
            log.debug("article cache: not written: %s", exc)
        finally:
            self.abort()


def clear_folder(folder: Path) -> tuple[int, int]:
    """Remove every pack (its mark, leftover temporary files) in ``folder``: (files, bytes)."""
    removed = size = 0
    if not folder.is_dir():
        return 0, 0
    for path in sorted(folder.iterdir()):
        if path.is_file() and path.name.endswith((SUFFIX, SUFFIX + CHECKED, ".tmp")):
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
            meta = json.loads(raw)
            if "entry_table" in meta:  # ours (the export cache's list them in the metadata)
                return int(meta["entry_table"]["rows"])
            return len(meta["entries"])
    return None


def describe_folder(folder: Path) -> list[tuple[str, int, int | None, bool]]:
    """Each pack file: (name, bytes, entries or None when its metadata cannot be read,
    whether it carries a checked mark)."""
    if not folder.is_dir():
        return []
    return [
        (path.name, path.stat().st_size, pack_entries(path), checked_mark(path).is_file())
        for path in sorted(folder.glob(f"*{SUFFIX}"))
    ]
