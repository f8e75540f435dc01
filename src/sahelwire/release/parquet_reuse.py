"""The last build's Parquet files, kept to be placed again when a file's rows are the same.

A rebuild after a change that leaves most published files as they were (a lead time, a
review's metadata, a second annotator the gold does not take) still encoded every file again:
at 1M articles (10% annotated) the writer thread spent ≈190 s of a ≈450 s rebuild encoding 21
data files of which 18 came out byte-identical (docs/benchmarks.md, "Files whose rows did not
change are placed, not encoded"). Encoding is the cost (zstd, statistics, page index,
content-defined chunking); hashing the same rows costs a fraction of it.

So every row group handed to the encoder is hashed (:func:`group_digest`: BLAKE3, a
cryptographic hash, of its Arrow IPC stream, which holds every value, null and type, so equal
digests are equal rows), and each written file is kept in ``.sahelwire/cache/parquet/`` under
its sha256 (a hard link to the built file where the file system allows, so no second copy),
with its row groups' digests in ``index.json``. The next build's writer for the same file
compares each row group with the kept one's before encoding it:

* while they match, nothing is encoded; when every one matched, the kept file is copied into
  place (its sha256 checked as it is copied; a copy, so no two builds' outputs share a file):
  the same bytes encoding would give, because the encoder's output depends only on the rows,
  the schema (with the Hugging Face features), the options and the pyarrow version, all in
  :func:`fingerprint`;
* at the first row group that differs, the ones before it are read back from the kept file
  (whose sha256 was checked) and encoded, and the writer goes on as without it.

**Placed from its sources.** A producer that can name what a file's rows are made from gives
the writer a *source* digest (``StreamedParquet(source=...)``), kept in the index with the
file and anything the producer keeps beside it (``extra``). The article memo's configs do:
their rows are a function of the keys of their articles (``ArticleRowCache.plan``), so a
build whose digest for a file is the kept one's places it before any row is read or made
(:meth:`StreamedParquet.place_from_source`), and the card's ``ner_bio`` token counts come
from ``extra``. The fingerprint still has to match, and the kept file's sha256 is checked.
``annotations_raw``'s source is its articles' keys in the raw memo
(:meth:`~sahelwire.release.raw_cache.RawRowCache.source_digests`); its files are written
without row group digests (``group_digests=False``): with other keys they are other rows, and
hashing its 26M rows at 1M articles cost the writer thread ≈10 s every rebuild.

Never a source of truth: a missing, changed or foreign entry is a miss, and
``SAHELWIRE_ARTICLE_CACHE=off`` turns it off with the other memos. ``sahelwire cache clear``
removes it; the benchmark's full builds start without it.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pyarrow as pa
from blake3 import blake3

from sahelwire.io.article_packs import memo_enabled
from sahelwire.io.atomic import write_text_atomic
from sahelwire.io.paths import ProjectPaths

FORMAT = 2  # 2: BLAKE3 digests of the row groups (1: sha256)
INDEX = "index.json"
SUFFIX = ".parquet"


def cache_folder(paths: ProjectPaths) -> Path:
    return paths.state_dir / "cache" / "parquet"


def fingerprint(schema: pa.Schema, options: dict[str, Any]) -> str:
    """What besides the rows decides a file's bytes: schema (metadata too), options, pyarrow."""
    digest = hashlib.sha256()
    settings = {"format": FORMAT, "pyarrow": pa.__version__, "options": options}
    digest.update(json.dumps(settings, sort_keys=True).encode())
    digest.update(schema.serialize().to_pybytes())
    return digest.hexdigest()


def group_digest(table: pa.Table) -> str:
    """BLAKE3 of ``table``'s Arrow IPC stream (schema message and record batches)."""
    # Serialised into an Arrow buffer, then hashed whole: both run without the GIL. A Python
    # sink hashing each buffer as written took the GIL once per buffer, so the writer thread
    # waited for the build's main thread at every one; and sha256 (1.2 GB/s) was most of
    # the writer thread's time in a rebuild that placed every file (docs/benchmarks.md).
    sink = pa.BufferOutputStream()
    with pa.ipc.new_stream(sink, table.schema) as writer:
        writer.write_table(table)
    return str(blake3(sink.getvalue()).hexdigest())


@dataclass(frozen=True)
class Kept:
    """A file of the last build: where it is kept and what it holds."""

    path: Path
    groups: tuple[str, ...]  # each row group's digest, in order
    sha256: str
    rows: int = 0
    # What its rows were made from, as its producer digested it (None: not said), and what
    # the producer kept beside it (JSON; ner_bio's token counts for the card).
    source: str | None = None
    extra: Any = None


def place(source: Path, target: Path) -> None:
    """``target`` becomes a hard link to ``source`` (a copy where links are not possible)."""
    with contextlib.suppress(FileNotFoundError):
        target.unlink()
    try:
        os.link(source, target)
    except OSError:
        shutil.copyfile(source, target)


class ParquetStore:
    """The kept files of one project: looked up when a writer starts, renewed after a build."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.entries: dict[str, dict[str, Any]] = {}
        with contextlib.suppress(OSError, ValueError):
            index = json.loads((folder / INDEX).read_text(encoding="utf-8"))
            if isinstance(index, dict) and index.get("format") == FORMAT:
                files = index.get("files")
                if isinstance(files, dict):
                    self.entries = files
        self.written: dict[str, dict[str, Any]] = {}  # this build's files, by name

    @classmethod
    def for_project(cls, paths: ProjectPaths) -> ParquetStore | None:
        return cls(cache_folder(paths)) if memo_enabled() else None

    def kept(self, name: str, fingerprint: str) -> Kept | None:
        """The kept file for data file ``name`` written with ``fingerprint``, if any."""
        entry = self.entries.get(name)
        try:
            if not isinstance(entry, dict) or entry.get("fingerprint") != fingerprint:
                return None
            sha = str(entry["sha256"])
            if len(sha) != 64 or not all(c in "0123456789abcdef" for c in sha):
                return None  # the name of a file in this folder, nothing else
            source = entry.get("source")
            return Kept(
                self.folder / f"{sha}{SUFFIX}",
                tuple(str(g) for g in entry["groups"]),
                sha,
                int(entry["rows"]),
                source if isinstance(source, str) else None,
                entry.get("extra"),
            )
        except (KeyError, TypeError, ValueError):
            return None

    def keep(
        self,
        name: str,
        path: Path,
        fingerprint: str,
        groups: list[str],
        rows: int,
        sha: str,
        *,
        source: str | None = None,
        extra: Any = None,
    ) -> None:
        """Keep the finished file ``path`` as data file ``name`` (a cache: never an error)."""
        try:
            self.folder.mkdir(parents=True, exist_ok=True)
            kept = self.folder / f"{sha}{SUFFIX}"
            if not kept.is_file() or not os.path.samefile(kept, path):
                # Linked again even when a file of that name is there: it may have been
                # changed since (a kept file is checked before use, and would miss forever).
                temporary = kept.with_name(f"{kept.name}.{os.getpid()}.tmp")
                place(path, temporary)
                os.replace(temporary, kept)
            self.written[name] = {
                "fingerprint": fingerprint,
                "groups": groups,
                "rows": rows,
                "size": path.stat().st_size,
                "sha256": sha,
            }
            if source is not None:
                self.written[name].update(source=source, extra=extra)
        except OSError:
            pass

    def save(self) -> None:
        """This build's files become the kept ones; files no entry names are removed."""
        if not self.written:
            return
        try:
            self.folder.mkdir(parents=True, exist_ok=True)
            index = {"format": FORMAT, "files": dict(sorted(self.written.items()))}
            write_text_atomic(self.folder / INDEX, json.dumps(index, indent=1) + "\n")
        except OSError:
            return
        named = {f"{entry['sha256']}{SUFFIX}" for entry in self.written.values()}
        for path in self.folder.iterdir():
            if path.name != INDEX and path.name not in named:
                with contextlib.suppress(OSError):
                    path.unlink()
        self.entries, self.written = self.written, {}


def clear(paths: ProjectPaths) -> tuple[int, int]:
    """Remove the kept files and their index: (files, bytes)."""
    folder = cache_folder(paths)
    removed = size = 0
    if not folder.is_dir():
        return 0, 0
    for path in sorted(folder.iterdir()):
        if path.is_file():
            with contextlib.suppress(FileNotFoundError):
                size += path.stat().st_size
                path.unlink()
                removed += 1
    return removed, size


def describe(paths: ProjectPaths) -> tuple[int, int]:
    """(files kept, bytes) of the store."""
    folder = cache_folder(paths)
    if not folder.is_dir():
        return 0, 0
    files = [p for p in folder.iterdir() if p.is_file() and p.name.endswith(SUFFIX)]
    return len(files), sum(p.stat().st_size for p in files)
