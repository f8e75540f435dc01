"""The on-disk index ``sahelwire ingest`` checks ids and texts against: memory not O(N).

Ingest must compare every input record with every manifest row (same id? same text?) and
then write the manifest back sorted by id. Held in dicts that costs memory in proportion to
the corpus (hundreds of MB at a million articles); here the rows live in a throwaway SQLite
file under ``.sahelwire/tmp/`` and only a bounded page cache is in memory. The index is
never the source of truth: it is rebuilt from the manifest on every call and deleted after.
"""

from __future__ import annotations

import contextlib
import json
import os
import sqlite3
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from sahelwire.io.scratch import scratch_dir
from sahelwire.raw.manifest import iter_manifest

# SQLite page cache in KiB (negative = KiB in PRAGMA cache_size): enough for the B-tree
# interior pages at a million rows, and a constant whatever the corpus size.
_CACHE_KIB = 16_384


class ManifestIndex:
    """Manifest rows (existing and to add) keyed by id and by sha256, on disk."""

    def __init__(self, db_path: Path, fields: tuple[str, ...]) -> None:
        self.fields = fields
        self.db = sqlite3.connect(db_path, isolation_level=None)
        # A scratch file rebuilt every call: durability would only cost time.
        self.db.execute("PRAGMA journal_mode=OFF")
        self.db.execute("PRAGMA synchronous=OFF")
        self.db.execute(f"PRAGMA cache_size=-{_CACHE_KIB}")
        self.db.execute("PRAGMA temp_store=FILE")
        self.db.execute(
            "CREATE TABLE rows (seq INTEGER PRIMARY KEY, id TEXT, sha TEXT, line TEXT, record INTEGER)"
        )
        self.db.execute("CREATE INDEX rows_id ON rows (id, seq)")
        self.db.execute("CREATE INDEX rows_sha ON rows (sha, seq)")
        self.db.execute("BEGIN")
        self.new_rows = 0

    def close(self) -> None:
        self.db.close()

    def line_of(self, row: dict[str, Any]) -> str:
        """The manifest line of ``row``: keys in schema order (as manifest.write_manifest)."""
        return json.dumps({k: row.get(k) for k in self.fields}, ensure_ascii=False)

    def load_manifest(self, path: Path) -> None:
        """Index the manifest, streaming it line by line."""
        for row in iter_manifest(path):
            self._insert(row, None)

    def _insert(self, row: dict[str, Any], record: int | None) -> None:
        self.db.execute(
            "INSERT INTO rows (id, sha, line, record) VALUES (?, ?, ?, ?)",
            (row.get("id"), row.get("sha256"), self.line_of(row), record),
        )

    def add(self, row: dict[str, Any], record: int) -> None:
        """A new row, from the ``record``-th good input record (0-based, input order)."""
        self._insert(row, record)
        self.new_rows += 1

    def new_records(self) -> Iterator[tuple[int, str, str]]:
        """(record number, id, sha256) of every new row, in input order."""
        cursor = self.db.execute(
            "SELECT record, id, sha FROM rows WHERE record IS NOT NULL ORDER BY seq"
        )
        for record, article_id, sha in cursor:
            yield int(record), str(article_id), str(sha)

    def sha_of(self, article_id: str) -> str | None:
        """The sha256 of the last row with this id (a dict keyed by id keeps the last)."""
        hit = self.db.execute(
            "SELECT sha FROM rows WHERE id = ? ORDER BY seq DESC LIMIT 1", (article_id,)
        ).fetchone()
        return None if hit is None else str(hit[0])

    def has_id(self, article_id: str) -> bool:
        hit = self.db.execute("SELECT 1 FROM rows WHERE id = ? LIMIT 1", (article_id,)).fetchone()
        return hit is not None

    def id_with_sha(self, sha: str) -> str | None:
        """The id of the last row holding this text."""
        hit = self.db.execute(
            "SELECT id FROM rows WHERE sha = ? ORDER BY seq DESC LIMIT 1", (sha,)
        ).fetchone()
        return None if hit is None else str(hit[0])

    def sorted_lines(self) -> Iterator[str]:
        """Every row's manifest line, sorted by id (ties in file order, as a stable sort).

        SQLite compares TEXT with memcmp over UTF-8, which orders like Python's str.
        """
        for (line,) in self.db.execute("SELECT line FROM rows ORDER BY id, seq"):
            yield line


@contextlib.contextmanager
def manifest_index(tmp_dir: Path, fields: tuple[str, ...]) -> Iterator[ManifestIndex]:
    """A fresh index in a scratch folder under ``tmp_dir`` (``io.scratch``), removed afterwards."""
    with scratch_dir(tmp_dir, "ingest-") as work:
        index = ManifestIndex(work / "manifest-index.sqlite", fields)
        try:
            yield index
        finally:
            index.close()


def write_lines_atomic(path: Path, lines: Iterator[str]) -> None:
    """Stream ``lines`` (each without its newline) into ``path``: temp file, fsync, rename."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8", newline="\n") as out:
            for line in lines:
                out.write(line)
                out.write("\n")
            out.flush()
            os.fsync(out.fileno())
        os.chmod(tmp, 0o644)
        os.replace(tmp, path)
        dir_fd = os.open(path.parent, os.O_RDONLY)
        try:
            os.fsync(dir_fd)
        finally:
            os.close(dir_fd)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise
