"""The export cache: what the parser produced for each export file, kept so it is parsed once.

``annotations/exports/<article_id>.json`` files change a few at a time (a pull, a fix), yet
every ``validate`` and ``build`` parsed all of them. Here each file's parse is stored in
``.sahelwire/cache/exports/`` (git-ignored local state) under a key made of

* the file's sha256 and its name (the rows and Problems name their ``source_file``), and
* a fingerprint of everything else the parse reads: the parser's code (every module
  :mod:`sahelwire.annotations.tables` imports, transitively), the taxonomy object handed to
  it, the table shapes, every file of ``schemas/`` (taxonomy, tables, registries), the
  polars/pyarrow/Python versions and this format's version.

What a parse also depends on is recorded with the entry and compared at every use, so that a
new annotator or an edited raw text re-parses only the files that asked about it: each raw
text the file looked up (manifest sha256 and the text's own sha256, or absent) and each
annotator e-mail (known or not).

**Never a source of truth.** An entry is used only when its pack file is complete (a footer
with a magic number and the metadata's sha256), every table section matches its sha256 and
its polars schema, the fingerprint and key match, and every recorded dependency still holds;
anything else — a missing, truncated, corrupt, foreign or older entry — is a miss and the file
is parsed again, never an error. ``SAHELWIRE_EXPORT_CACHE=off`` turns the cache off (the
parser then runs exactly as without it); ``sahelwire cache clear`` removes it.

**Columnar packs.** Entries are stored many to a *pack*: the six source tables of all its
files as Arrow IPC streams (rows in file order, each entry naming its row ranges), then the
entries' metadata (Problems, rejected records, registry proposals, counts, dependencies, the
cross-file ids of below) as JSON, then a footer. One pack per run that parsed anything; when
packs pile up or hold mostly rows no current file uses, the run writes one pack of exactly its
files (in their order, so the next load is one slice per table) and removes the others.

**Cross-file checks stay outside.** Some rules span files: one task per article, task,
annotation, prediction ids and annotation UUIDs unique across exports (the first file read
keeps it, later ones are refused naming it). An entry is the file's parse *on its own*, with
the ids it looked up (``asked``) and took (``claimed``);
:func:`sahelwire.annotations.tables.read_annotation_tables` replays them in file order against
the ids of the files before it. A file none of whose asked ids an earlier file took gets the
same answer to every lookup as when parsed on its own, so its stored parse is exactly its
sequential parse; a file whose asked ids meet an earlier file's is parsed again in sequence
with the earlier ids in place (and not stored). The Problems and rows are those of one
sequential parse of every file.

**Concurrency.** Packs are written to a temporary file and renamed into place (readers see a
whole pack or none); writers take a non-blocking lock and a run that finds it taken stores
nothing (another run is storing the same parses); a pack removed while another run reads it
stays readable to that run (POSIX), and one removed before it is opened is a miss.
"""

from __future__ import annotations

import ast
import contextlib
import dataclasses
import functools
import hashlib
import io
import json
import logging
import math
import os
import platform
import struct
import tempfile
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import polars as pl
import pyarrow

from sahelwire.io import file_hashes
from sahelwire.io.article_packs import pack_entries
from sahelwire.io.config import env_switch
from sahelwire.io.locks import LockBusy, exclusive_lock
from sahelwire.io.paths import ProjectPaths
from sahelwire.schema.problems import Problem

log = logging.getLogger(__name__)

CACHE_ENV = "SAHELWIRE_EXPORT_CACHE"
FORMAT = 1
MAGIC = b"SWXCACH1"
# Footer: metadata length (u64, little-endian), metadata sha256 (32 bytes), MAGIC.
_FOOTER = struct.Struct("<Q32s8s")
SUFFIX = ".pack"
# Compaction: more packs than this, or less than this share of their rows still used.
MAX_PACKS = 4
MIN_LIVE_SHARE = 0.5
BUSY = "another run is writing the cache"  # CacheStats.write_error when the lock is taken
# The cross-file id kinds: one per "seen" map of TableCollector.
NAMESPACES = ("articles", "tasks", "annotations", "unique_ids", "predictions")
# The module whose transitive sahelwire imports are "the parser's code".
PARSER_MODULE = "sahelwire.annotations.tables"


def cache_enabled() -> bool:
    """False when ``SAHELWIRE_EXPORT_CACHE`` is ``off`` (or 0/no/false); another value
    than on/off words is refused (io.config.env_switch)."""
    return env_switch(CACHE_ENV)


def cache_dir(paths: ProjectPaths) -> Path:
    return paths.state_dir / "cache" / "exports"


class Uncacheable(ValueError):
    """A parse whose output this format cannot store exactly: it is used, not stored."""


# -- exact JSON for Problem values and rejected records ----------------------------------
# json alone would turn a tuple into a list and a non-finite float into NaN (not equal to
# itself); anything that is not plain JSON data is refused, so a stored parse is either
# exact or not stored.


def encode_value(value: Any) -> Any:
    kind = type(value)
    if value is None or kind in (bool, int, str):
        return value
    if kind is float:
        return value if math.isfinite(value) else {"f": repr(value)}
    if kind is list:
        return [encode_value(v) for v in value]
    if kind is tuple:
        return {"t": [encode_value(v) for v in value]}
    if kind is dict and all(type(k) is str for k in value):
        return {"d": {k: encode_value(v) for k, v in value.items()}}
    raise Uncacheable(f"a {kind.__name__} value")


def decode_value(data: Any) -> Any:
    if isinstance(data, list):
        return [decode_value(v) for v in data]
    if isinstance(data, dict):
        ((tag, inner),) = data.items()
        if tag == "f":
            return float(inner)
        if tag == "t":
            return tuple(decode_value(v) for v in inner)
        if tag == "d":
            return {k: decode_value(v) for k, v in inner.items()}
        raise ValueError(f"unknown tag {tag!r}")
    return data


def _text_or_none(value: Any) -> str | None:
    if value is not None and type(value) is not str:
        raise Uncacheable(f"a {type(value).__name__} in a Problem")
    return value


def encode_problem(p: Problem) -> list[Any]:
    if type(p) is not Problem or type(p.rule) is not str or type(p.message) is not str:
        raise Uncacheable("not a plain Problem")
    return [
        _text_or_none(p.file),
        _text_or_none(p.record),
        _text_or_none(p.field),
        p.rule,
        encode_value(p.value),
        p.message,
    ]


def decode_problem(data: list[Any]) -> Problem:
    file, record, fld, rule, value, message = data
    if not all(isinstance(x, str) for x in (file, rule, message)):
        raise ValueError("not a stored Problem")
    return Problem(file, record, fld, rule, decode_value(value), message)


def _ids(values: list[Any]) -> list[Any]:
    # Ids are compared with ==: 1 == True, so only exact ints and strings are stored.
    if not all(type(v) in (int, str) for v in values):
        raise Uncacheable("an id that is not an int or a string")
    return list(values)


# -- one file's parse ----------------------------------------------------------------------


@dataclass
class FileParse:
    """What the parser produced for one export file, and what it depended on.

    Everything :class:`~sahelwire.annotations.tables.AnnotationTables` holds per file is here:
    a new per-file output of the parser must be added too (the cache tests compare them all).
    ``rows`` are [start, stop) ranges in the tables of whatever holds them (the collector
    of this run, or a pack); ``rejected`` pairs an index into ``problems`` with the record.
    """

    source: str
    file_sha256: str | None
    rows: dict[str, tuple[int, int]]
    problems: list[Problem]
    rejected: list[tuple[int, Any]]
    tasks: int
    drafts: int
    proposals: list[dict[str, Any]] = field(default_factory=list)  # registry proposals
    texts: dict[str, Any] = field(default_factory=dict)
    annotators: dict[str, bool] = field(default_factory=dict)
    asked: dict[str, list[Any]] = field(default_factory=dict)
    claimed: dict[str, list[Any]] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        """The stored form; :class:`Uncacheable` when it would not read back equal."""
        if type(self.file_sha256) is not str:
            raise Uncacheable("no sha256")
        for aid in self.texts:
            if type(aid) is not str:
                raise Uncacheable("an article id that is not a string")
        data: dict[str, Any] = {
            "source": _text_or_none(self.source),
            "sha256": self.file_sha256,
            "rows": {k: list(v) for k, v in self.rows.items() if v[1] > v[0]},
            "tasks": self.tasks,
            "drafts": self.drafts,
        }
        optional = {
            "problems": [encode_problem(p) for p in self.problems],
            "rejected": [[i, encode_value(r)] for i, r in self.rejected],
            "proposals": [encode_value(p) for p in self.proposals],
            "texts": {k: encode_value(v) for k, v in self.texts.items()},
            "annotators": {k: bool(v) for k, v in self.annotators.items()},
            "asked": {k: _ids(v) for k, v in self.asked.items() if v},
            "claimed": {k: _ids(v) for k, v in self.claimed.items() if v},
        }
        if not all(type(k) is str for k in self.annotators):
            raise Uncacheable("an annotator that is not a string")
        data.update((k, v) for k, v in optional.items() if v)
        return data

    @classmethod
    def from_json(cls, data: dict[str, Any], tables: Mapping[str, int]) -> FileParse:
        """The entry back; ValueError (or KeyError/TypeError) when it is not a sound one."""
        rows: dict[str, tuple[int, int]] = {}
        for name, (start, stop) in data["rows"].items():
            if not (
                type(start) is int and type(stop) is int and 0 <= start <= stop <= tables[name]
            ):
                raise ValueError(f"rows {start}:{stop} outside {name}")
            rows[name] = (start, stop)
        problems = [decode_problem(p) for p in data.get("problems", [])]
        rejected = [(int(i), decode_value(r)) for i, r in data.get("rejected", [])]
        proposals = [decode_value(p) for p in data.get("proposals", [])]
        if not all(isinstance(p, dict) for p in proposals):
            raise ValueError("a proposal that is not an object")
        if any(not 0 <= i < len(problems) for i, _ in rejected):
            raise ValueError("a rejected record without its Problem")
        asked = {str(k): list(v) for k, v in data.get("asked", {}).items()}
        claimed = {str(k): list(v) for k, v in data.get("claimed", {}).items()}
        if not set(asked) | set(claimed) <= set(NAMESPACES):
            raise ValueError("unknown id kind")
        tasks, drafts = data["tasks"], data["drafts"]
        if type(tasks) is not int or type(drafts) is not int or type(data["source"]) is not str:
            raise ValueError("bad counts")
        return cls(
            source=data["source"],
            file_sha256=str(data["sha256"]),
            rows=rows,
            problems=problems,
            rejected=rejected,
            proposals=proposals,
            tasks=tasks,
            drafts=drafts,
            texts={str(k): decode_value(v) for k, v in data.get("texts", {}).items()},
            annotators={str(k): bool(v) for k, v in data.get("annotators", {}).items()},
            asked=asked,
            claimed=claimed,
        )


def text_dependency(texts: Mapping[str, tuple[str, str]], article_id: str) -> Any:
    """What a parse read of ``texts`` for one article: None (absent) or both hashes.

    The text's own hash, not only the manifest's: validation hands the parser a text whose
    bytes differ from its manifest row too (it reports that itself), and the parse slices it.
    """
    if article_id not in texts:
        return None
    # Validation's texts (release.validation.ReadableTexts) know both hashes without reading
    # the file: each text is read from disk on use and checked against its own hash then.
    known = getattr(texts, "hashes", None)
    hashes = known(article_id) if known is not None else None
    if hashes is not None:
        return encode_value(list(hashes))
    text, sha = texts[article_id]
    own = hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest()
    return encode_value([sha, own])


# -- the fingerprint ------------------------------------------------------------------------


def _module_file(package_root: Path, name: str) -> Path | None:
    relative = Path(*name.split(".")[1:])
    for candidate in (package_root / relative / "__init__.py", package_root / f"{relative}.py"):
        if candidate.is_file():
            return candidate
    return None


@functools.lru_cache(maxsize=512)
def _imports(path: str, stat: tuple[int, int, int]) -> tuple[str, ...]:
    """The sahelwire modules a source file imports (maybe: ``from m import y`` may name a
    module m.y). Kept per file and stat: a build fingerprints several memos whose code
    overlaps, and parsing every module again for each cost ≈1 s a build."""
    found: list[str] = []
    for node in ast.walk(ast.parse(Path(path).read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found += [a.name for a in node.names if a.name.startswith("sahelwire.")]
        elif isinstance(node, ast.ImportFrom) and (node.module or "").startswith("sahelwire"):
            module = node.module or ""
            found.append(module)
            # `from sahelwire.x import y` may name the module sahelwire.x.y
            found += [f"{module}.{a.name}" for a in node.names]
    return tuple(found)


def parser_sources(root_module: str = PARSER_MODULE) -> dict[str, Path]:
    """Module name -> source file of ``root_module`` and every sahelwire module it imports,
    transitively (imports inside functions included)."""
    package_root = Path(__file__).resolve().parents[1]
    seen: dict[str, Path] = {}
    todo = [root_module]
    while todo:
        name = todo.pop()
        path = _module_file(package_root, name)
        if name in seen or path is None:
            continue
        seen[name] = path
        stat = path.stat()
        todo += _imports(str(path), (stat.st_size, stat.st_mtime_ns, stat.st_ctime_ns))
        # Importing a module runs its packages' __init__ too.
        parts = name.split(".")
        todo += [".".join(parts[:i]) for i in range(1, len(parts))]
    return dict(sorted(seen.items()))


def _canonical(value: Any) -> Any:
    """A JSON-able form of a taxonomy or shape object that does not depend on set order."""
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {
            "@": type(value).__name__,
            **{f.name: _canonical(getattr(value, f.name)) for f in dataclasses.fields(value)},
        }
    if isinstance(value, Mapping):
        return [[_canonical(k), _canonical(v)] for k, v in value.items()]
    if isinstance(value, (set, frozenset)):
        return sorted((_canonical(v) for v in value), key=lambda v: json.dumps(v, sort_keys=True))
    if isinstance(value, (list, tuple)):
        return [_canonical(v) for v in value]
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    return repr(value)  # polars dtypes and the like: their repr is their identity


def fingerprint(paths: ProjectPaths, taxonomy: Any, shapes: Mapping[str, Any]) -> str:
    digest = hashlib.sha256()

    def add(label: str, data: bytes) -> None:
        digest.update(f"{label}\0{len(data)}\0".encode())
        digest.update(data)

    add("format", str(FORMAT).encode())
    versions = f"{platform.python_version()} polars {pl.__version__} pyarrow {pyarrow.__version__}"
    add("versions", versions.encode())
    sources = parser_sources()
    if PARSER_MODULE not in sources or __name__ not in sources:
        # Installed without its sources: a code change could not be seen, so no cache.
        raise Uncacheable("the parser's source files are not readable")
    for module, source in sources.items():
        add(f"code {module}", source.read_bytes())
    add("taxonomy", json.dumps(_canonical(taxonomy), sort_keys=True).encode())
    add("shapes", json.dumps(_canonical(shapes), sort_keys=True).encode())
    if paths.schemas_dir.is_dir():
        for schema in sorted(p for p in paths.schemas_dir.rglob("*") if p.is_file()):
            add(f"schema {schema.relative_to(paths.schemas_dir)}", schema.read_bytes())
    return digest.hexdigest()


# -- packs ----------------------------------------------------------------------------------


class BadPack(ValueError):
    """A pack that is not (or no longer) a sound one of this fingerprint: ignored."""


class Pack:
    """One pack file: its entries' metadata at once, its tables when first needed."""

    def __init__(self, path: Path, meta: dict[str, Any], rows: int) -> None:
        self.path = path
        self.meta = meta
        self.rows = rows  # all tables' rows: what compaction weighs
        self.entries: dict[str, Any] = meta["entries"]
        self._frames: dict[str, pl.DataFrame] | None = None
        self._handle: Any = None

    @classmethod
    def open(cls, path: Path, fingerprint: str) -> Pack:
        # The file stays open: once opened, a pack another run removes is still read whole.
        handle = path.open("rb")
        try:
            size = os.fstat(handle.fileno()).st_size
            if size < _FOOTER.size:
                raise BadPack("shorter than its footer (truncated)")
            handle.seek(size - _FOOTER.size)
            length, digest, magic = _FOOTER.unpack(handle.read(_FOOTER.size))
            if magic != MAGIC:
                raise BadPack("no pack footer (truncated or not a pack)")
            if length > size - _FOOTER.size:
                raise BadPack("metadata longer than the file")
            handle.seek(size - _FOOTER.size - length)
            raw = handle.read(length)
            if hashlib.sha256(raw).digest() != digest:
                raise BadPack("metadata does not match its sha256 (corrupt)")
            meta = json.loads(raw)
            if meta.get("format") != FORMAT or meta.get("fingerprint") != fingerprint:
                raise BadPack("another format, parser, taxonomy or schema (foreign or stale)")
            tables = meta["tables"]
            end = size - _FOOTER.size - length
            for section in tables.values():
                if not 0 <= section["offset"] <= section["offset"] + section["length"] <= end:
                    raise BadPack("a table section outside the file")
            pack = cls(path, meta, sum(int(t["rows"]) for t in tables.values()))
        except BaseException:
            handle.close()
            raise
        pack._handle = handle
        return pack

    def close(self) -> None:
        if self._handle is not None:
            self._handle.close()
            self._handle = None

    def table_rows(self) -> dict[str, int]:
        return {name: int(t["rows"]) for name, t in self.meta["tables"].items()}

    def frames(self, shapes: Mapping[str, Mapping[str, Any]]) -> dict[str, pl.DataFrame]:
        """The pack's tables, each checked against its sha256 and shape (BadPack if not)."""
        if self._frames is not None:
            return self._frames
        if self._handle is None:
            raise BadPack("closed")
        frames = {}
        for name, shape in shapes.items():
            section = self.meta["tables"].get(name)
            if section is None:
                raise BadPack(f"no {name} table")
            self._handle.seek(section["offset"])
            data = self._handle.read(section["length"])
            if hashlib.sha256(data).hexdigest() != section["sha256"]:
                raise BadPack(f"the {name} table does not match its sha256 (corrupt)")
            frame = pl.read_ipc_stream(io.BytesIO(data))
            if dict(frame.schema) != dict(shape) or frame.height != section["rows"]:
                raise BadPack(f"the {name} table has another shape")
            frames[name] = frame
        self._frames = frames
        # The file stays open: a chunked read lets the tables go (release) and may need them
        # again for a later chunk's file.
        return frames

    def release(self) -> None:
        """Let go of the tables read (read again from the open file when next asked for)."""
        self._frames = None


@dataclass
class CacheStats:
    """What one read did with the cache: for tests, ``--verbose`` logs and the benchmark."""

    enabled: bool
    hits: list[str] = field(default_factory=list)  # sources read from the cache
    parsed: list[str] = field(default_factory=list)  # sources parsed this time
    unstored: list[str] = field(default_factory=list)  # parsed but not storable (cross-file)
    ignored: list[str] = field(default_factory=list)  # "pack: why" for every pack not used
    stored: int = 0  # entries written this time
    compacted: bool = False
    write_error: str | None = None


class ExportCache:
    """The packs of one project's cache folder, for one fingerprint."""

    def __init__(
        self,
        folder: Path,
        fingerprint: str,
        shapes: Mapping[str, Mapping[str, Any]],
        stats: CacheStats,
        *,
        existing: bool = True,
    ) -> None:
        """``existing=False``: open none of the packs there (a prefill worker, whose files
        the parent found in none of them, only adds its own: opening them all parsed every
        pack's metadata, ≈3 s per worker at 1M articles, 10% annotated)."""
        self.folder = folder
        self.fingerprint = fingerprint
        self.shapes = shapes
        self.stats = stats
        self.packs: list[Pack] = []
        self.garbage: list[Path] = []  # pack files that are not sound ones of this fingerprint
        self._index: dict[str, list[tuple[Pack, Any]]] = {}
        self._bad: set[Path] = set()
        self.used: dict[str, Pack] = {}  # key -> the pack its entry came from
        try:
            listed = sorted(folder.glob(f"*{SUFFIX}")) if existing and folder.is_dir() else []
        except OSError as exc:  # an unreadable folder is an empty cache
            self.stats.ignored.append(f"{folder}: {exc}")
            listed = []
        self._open(listed)

    def _open(self, listed: list[Path]) -> None:
        for path in listed:
            try:
                pack = Pack.open(path, self.fingerprint)
            except FileNotFoundError:
                continue  # removed by another run since the listing
            except Exception as exc:  # a cache is never an error: a miss
                self._ignore(path, exc)
                continue
            self.packs.append(pack)
            for key, entry in pack.entries.items():
                self._index.setdefault(key, []).append((pack, entry))

    def refresh(self) -> None:
        """Open the packs written since this cache was opened (by the prefill's workers):
        the packs already open are not read again, as parsing their metadata is most of
        opening a cache (≈3.5 s at 1M articles, 10% annotated).

        A pack removed since it was opened stays readable (its file is held open).
        """
        known = {p.path for p in self.packs} | self._bad
        try:
            listed = sorted(self.folder.glob(f"*{SUFFIX}")) if self.folder.is_dir() else []
        except OSError as exc:
            self.stats.ignored.append(f"{self.folder}: {exc}")
            return
        self._open([path for path in listed if path not in known])

    def _ignore(self, path: Path, why: BaseException) -> None:
        self.garbage.append(path)
        self._bad.add(path)
        self.stats.ignored.append(f"{path.name}: {why}")
        log.debug("export cache: ignoring %s: %s", path.name, why)

    def key(self, source: str, file_sha256: str) -> str:
        return hashlib.sha256(f"{self.fingerprint}\0{source}\0{file_sha256}".encode()).hexdigest()

    def has(self, key: str) -> bool:
        """Whether some pack has an entry under ``key`` (whether it fits is for :meth:`get`)."""
        return key in self._index

    def get(
        self, key: str, fits: Callable[[FileParse], bool]
    ) -> tuple[FileParse, dict[str, pl.DataFrame], dict[str, Any]] | None:
        """A stored parse of ``key`` that ``fits`` (its dependencies still hold), the tables
        its rows are in and its stored form; None is a miss.

        A key may have several entries (the same file parsed against another raw text, say):
        the first that fits is used.
        """
        for pack, entry in self._index.get(key, ()):
            if pack.path in self._bad:
                continue
            try:
                parse = FileParse.from_json(entry, pack.table_rows())
                if not fits(parse):
                    continue
                frames = pack.frames(self.shapes)
            except Exception as exc:  # a cache is never an error: a miss
                pack.close()
                self._ignore(pack.path, exc)
                continue
            self.used[key] = pack
            return parse, frames, entry
        return None

    def release_frames(self) -> None:
        """Let go of every pack's tables read so far: a chunked read holds one chunk's rows,
        not the packs of every chunk before it (issue 17 item 3)."""
        for pack in self.packs:
            pack.release()

    def close(self) -> None:
        for pack in self.packs:
            pack.close()

    # -- writing -----------------------------------------------------------------------

    def store(
        self,
        new: list[tuple[str, dict[str, Any]]],
        new_frames: Mapping[str, pl.DataFrame],
        live: list[tuple[str, dict[str, Any]]],
        live_frames: Mapping[str, pl.DataFrame],
        *,
        compact: bool = True,
        wait_seconds: float = 0.0,
    ) -> None:
        """Store this run's new parses: one more pack, or one pack of every live entry.

        ``new``: (key, stored form) of the files parsed and storable, rows in ``new_frames``;
        ``live``: (key, stored form) of every storable file of this run, rows in
        ``live_frames`` (the tables the run returns). Never raises: a cache that cannot be
        written is skipped.

        ``compact=False``: only add a pack, never remove one (a worker that parsed a share of
        the files sees only its share as live). ``wait_seconds``: how long to retry when
        another writer holds the lock (workers of one read finish at about the same time).
        """
        packs = [p for p in self.packs if p.path not in self._bad]
        total = sum(p.rows for p in packs) + sum(f.height for f in new_frames.values())
        live_rows = sum(b - a for _, entry in live for a, b in entry["rows"].values())
        if compact:
            compact = bool(self.garbage) or len(packs) + bool(new) > MAX_PACKS
            compact = compact or (bool(packs) and live_rows < MIN_LIVE_SHARE * total)
        if not new and not compact:
            return
        deadline = time.monotonic() + wait_seconds
        while True:
            self.stats.write_error = None
            self._store_locked(new, new_frames, live, live_frames, compact=compact)
            if self.stats.write_error != BUSY or time.monotonic() >= deadline:
                return
            time.sleep(0.05)

    def _store_locked(
        self,
        new: list[tuple[str, dict[str, Any]]],
        new_frames: Mapping[str, pl.DataFrame],
        live: list[tuple[str, dict[str, Any]]],
        live_frames: Mapping[str, pl.DataFrame],
        *,
        compact: bool,
    ) -> None:
        try:
            self.folder.mkdir(parents=True, exist_ok=True)
            with exclusive_lock(self.folder / ".lock", "export cache write"):
                # Writers hold the lock while they write: a temporary file now is one a
                # killed writer left.
                for leftover in self.folder.glob(".pack.*.tmp"):
                    with contextlib.suppress(FileNotFoundError):
                        leftover.unlink()
                if compact:
                    # Pack names are their metadata's hash: the new pack may have the name
                    # of one it replaces (a damaged copy of the same parses), so keep it.
                    kept = self._write(live, live_frames) if live else None
                    for path in {p.path for p in self.packs} | set(self.garbage):
                        if path != kept:
                            with contextlib.suppress(FileNotFoundError):
                                path.unlink()
                    self.stats.compacted = True
                    self.stats.stored = len(live)
                else:
                    self._write(new, new_frames)
                    self.stats.stored += len(new)  # a chunked read stores several packs
        except LockBusy:
            self.stats.write_error = BUSY
        except (OSError, pl.exceptions.PolarsError) as exc:
            self.stats.write_error = str(exc)
            log.debug("export cache: not written: %s", exc)

    def _write(
        self, entries: list[tuple[str, dict[str, Any]]], frames: Mapping[str, pl.DataFrame]
    ) -> Path:
        meta_entries = dict(entries)
        fd, tmp = tempfile.mkstemp(prefix=".pack.", suffix=".tmp", dir=self.folder)
        try:
            with os.fdopen(fd, "wb") as out:
                tables: dict[str, Any] = {}
                for name in self.shapes:
                    buffer = io.BytesIO()
                    frames[name].write_ipc_stream(buffer, compression="zstd")
                    data = buffer.getvalue()
                    tables[name] = {
                        "offset": out.tell(),
                        "length": len(data),
                        "sha256": hashlib.sha256(data).hexdigest(),
                        "rows": frames[name].height,
                    }
                    out.write(data)
                meta = {
                    "format": FORMAT,
                    "fingerprint": self.fingerprint,
                    "tables": tables,
                    "entries": meta_entries,
                }
                raw = json.dumps(meta, ensure_ascii=True, allow_nan=False).encode("ascii")
                digest = hashlib.sha256(raw)
                out.write(raw)
                out.write(_FOOTER.pack(len(raw), digest.digest(), MAGIC))
            # No fsync: a pack torn by a crash fails its checksums and is only a miss, so
            # durability is not worth a flush of the whole pack on every build.
            path = self.folder / f"{digest.hexdigest()[:32]}{SUFFIX}"
            os.replace(tmp, path)
        except BaseException:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(tmp)
            raise
        return path


def clear(paths: ProjectPaths) -> tuple[int, int]:
    """Remove every cache file (packs, the files' hashes, leftovers of killed writes):
    (files, bytes) removed."""
    folder = cache_dir(paths)
    if not folder.is_dir():
        return 0, 0
    removed, size = file_hashes.clear(folder)
    for path in sorted(folder.iterdir()):
        if path.is_file() and path.name.endswith((SUFFIX, ".tmp")):
            size += path.stat().st_size
            with contextlib.suppress(FileNotFoundError):
                path.unlink()
            removed += 1
    return removed, size


def describe(paths: ProjectPaths) -> Iterator[tuple[str, int, int | None]]:
    """Each pack file: (name, bytes, entries or None when it cannot be read)."""
    folder = cache_dir(paths)
    if not folder.is_dir():
        return
    for path in sorted(folder.glob(f"*{SUFFIX}")):
        yield path.name, path.stat().st_size, pack_entries(path, MAGIC)
