"""Hub-friendly, byte-reproducible Parquet files.

- explicit Arrow schema, no pandas metadata (it embeds library versions);
- zstd, page index, page checksums, content-defined chunking (pyarrow >= 21) so a small
  edit re-uploads a small fraction of the bytes through the Hub's Xet storage;
- the Hugging Face ``Features`` stored in the schema metadata, so ``load_dataset``
  restores ClassLabels and span structs instead of re-inferring plain types.
"""

from __future__ import annotations

import contextlib
import io
import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import datasets
import pyarrow as pa
import pyarrow.parquet as pq

from sahelwire.io.file_hashes import copy_sha256, sha256_file
from sahelwire.release.parquet_reuse import (
    Kept,
    ParquetStore,
    fingerprint,
    group_digest,
)

PARQUET_OPTIONS: dict[str, Any] = {
    "compression": "zstd",
    "compression_level": 3,
    "use_dictionary": True,
    "write_statistics": True,
    "write_page_index": True,
    "write_page_checksum": True,
    "use_content_defined_chunking": True,
    "row_group_size": 10_000,
}


# Row groups combined and handed to the encoder at once by a StreamedParquet that does not
# compare them with a kept file: about this many bytes of rows (at least one row group).
WRITE_BYTES = 32 << 20


def with_hf_features(table: pa.Table, features: datasets.Features) -> pa.Table:
    """Attach the HF features to the schema metadata (the key ``datasets`` itself reads)."""
    info = {"info": {"features": features.to_dict()}}
    metadata = {b"huggingface": json.dumps(info, sort_keys=True).encode()}
    return table.replace_schema_metadata(metadata)


def parquet_bytes(table: pa.Table, **overrides: Any) -> bytes:
    """Serialise ``table`` with PARQUET_OPTIONS (deterministic for identical input)."""
    sink = io.BytesIO()
    pq.write_table(table, sink, **{**PARQUET_OPTIONS, **overrides})
    return sink.getvalue()


@dataclass(frozen=True)
class WrittenFile:
    """A data file written to disk: what the checksums, Croissant and the caller need."""

    rows: int
    size: int
    sha256: str


class StreamedParquet:
    """Writes a table's rows to ``path`` as they are produced, in row groups.

    The bytes are those of :func:`parquet_bytes` of the concatenation of every table passed
    to :meth:`write`: the rows are handed to the writer as single-chunk tables of exactly
    ``row_group_size`` rows each (the last one shorter), or of several such row groups at
    once when none is compared with a kept file (:data:`WRITE_BYTES`), which is what
    ``write_table`` of the whole table does (docs/columnar.md, "Writing Parquet as rows are
    produced"). Only the rows of one unfinished row group, plus the table being written and
    the row groups combined for one call, are held.
    No file is created when no row is written: an empty split has no file.
    """

    def __init__(
        self,
        path: Path,
        schema: pa.Schema,
        *,
        name: str | None = None,
        store: ParquetStore | None = None,
        source: str | None = None,
        group_digests: bool = True,
    ) -> None:
        self.path = path
        self.schema = schema
        self.rows = 0
        self._size = PARQUET_OPTIONS["row_group_size"]
        self._pending: list[pa.Table] = []
        self._held = 0
        self._writer: pq.ParquetWriter | None = None
        # The last build's file of the same name (``store``, :mod:`.parquet_reuse`): row
        # groups equal to its are not encoded; all equal, it is placed instead.
        self._store = store if name is not None else None
        self._name = name or ""
        self._fingerprint = fingerprint(schema, PARQUET_OPTIONS) if self._store else ""
        self._kept: Kept | None = (
            self._store.kept(self._name, self._fingerprint) if self._store else None
        )
        self._placed: Path | None = None  # the kept file, copied beside ``path``, checked
        self._digests: list[str] = []  # each row group's, in order (kept with the file)
        # Off for a file whose ``source`` says all its rows are the same or not: a row group
        # then matches the kept one's only when the source does (annotations_raw's: at 1M,
        # hashing its 26M rows was ≈10 s of the writer thread each rebuild, py-spy).
        self._group_digests = group_digests
        self.reused = False  # the kept file was placed: nothing encoded
        # What the rows are made from, as the producer digests it (kept with the file: the
        # next build with the same source places the file without making its rows), and
        # what the producer keeps beside it (:meth:`place_from_source`).
        self.source = source
        self.extra: Any = None
        self._whole = False  # placed by its source: no row may be written

    def place_from_source(self) -> bool:
        """Place the kept file made from the same ``source``, before any row is written;
        then its ``rows`` and ``extra`` are the kept file's, and no row may be written.
        False (nothing done): no such file, or it is not usable."""
        kept = self._kept
        if kept is None or self.source is None or kept.source != self.source or self.rows:
            return False
        if not self._place_kept():
            return False
        assert self._placed is not None
        os.replace(self._placed, self.path)
        self._placed, self.reused, self._whole = None, True, True
        self.rows, self.extra, self._digests = kept.rows, kept.extra, list(kept.groups)
        return True

    def write(self, table: pa.Table) -> None:
        if not table.num_rows:
            return
        if self._whole:
            raise ValueError(f"{self._name}: placed from its source, given rows")
        self._pending.append(table.replace_schema_metadata(self.schema.metadata))
        self._held += table.num_rows
        self.rows += table.num_rows
        if self._held >= self._size:
            self._flush(self._held - self._held % self._size)

    def _open(self) -> pq.ParquetWriter:
        if self._writer is None:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            # A file already there may be a hard link to a kept file: written anew, not
            # truncated in place.
            with contextlib.suppress(FileNotFoundError):
                self.path.unlink()
            options = {k: v for k, v in PARQUET_OPTIONS.items() if k != "row_group_size"}
            self._writer = pq.ParquetWriter(str(self.path), self.schema, **options)
        return self._writer

    def _place_kept(self) -> bool:
        """Copy the kept file beside ``path`` and check its sha256 (False: not usable)."""
        if self._placed is not None:
            return True
        assert self._kept is not None
        self.path.parent.mkdir(parents=True, exist_ok=True)
        placed = self.path.with_name(f"{self.path.name}.kept.tmp")
        try:
            # A copy, not a link: two builds' outputs never share a file, so changing one in
            # place cannot change the other. (The kept file is a link to the last output:
            # changed in place, its sha256 no longer matches and it is not used.)
            if copy_sha256(self._kept.path, placed) == self._kept.sha256:
                self._placed = placed
                return True
        except OSError:
            pass
        with contextlib.suppress(OSError):
            placed.unlink()
        self._kept = None  # changed or gone: every row group is encoded
        return False

    def _diverge(self) -> None:
        """A row group differs from the kept file's: the ones before it are read back from
        the kept file and encoded, and the kept file is let go."""
        placed, self._placed, self._kept = self._placed, None, None
        if placed is None:
            return
        try:
            if self._digests:
                writer = self._open()
                source = pq.ParquetFile(placed)
                # The kept file's sha256 was checked, so these are the rows its digests were
                # taken of; encoded again they give the same bytes (the encoder sees values
                # and nulls only). Their IPC digests may differ: what lies under a null is
                # not kept by Parquet, so a digest miss never means other rows.
                for i in range(len(self._digests)):
                    group = source.read_row_group(i)
                    if not group.schema.equals(self.schema):
                        group = group.cast(self.schema)
                    writer.write_table(group, row_group_size=self._size)
                source.close()
        finally:
            with contextlib.suppress(OSError):
                placed.unlink()

    def _encode(self, group: pa.Table) -> None:
        """Write one row group, unless it is the kept file's row group at the same place."""
        assert self._store is not None
        digest = group_digest(group)
        if self._kept is not None:
            at = len(self._digests)
            same = at < len(self._kept.groups) and self._kept.groups[at] == digest
            if same and self._place_kept():
                self._digests.append(digest)
                return
            self._diverge()
        self._digests.append(digest)
        self._open().write_table(group, row_group_size=self._size)

    def _flush(self, count: int) -> None:
        """Write the first ``count`` pending rows: one row group at a time while each is
        compared with the kept file's, else up to :data:`WRITE_BYTES` of row groups."""
        # Several row groups in one call to the encoder, which runs without the GIL: a
        # call per row group took the GIL a few times for each, and the build's main thread
        # holds it (Python) most of the time, so the writer thread waited for it at every
        # step (at 1M, 2,600 row groups of annotations_raw each rebuild).
        batched = self._store is None or not self._group_digests
        while count:
            # Only a few row groups are combined at a time, and what is left pending is a
            # slice of the pieces given, not of a combined copy: slicing the copy of
            # everything pending kept the whole copy alive until the next flush (at 100k,
            # ≈1.4 GB for the span tables, which are given whole and never flushed again;
            # ≈0.2 GB per split for documents' 10,000-row groups).
            want = min(count, self._size)
            if batched:
                first = self._pending[0]
                row_bytes = max(1, first.nbytes // max(1, first.num_rows))
                groups = max(1, WRITE_BYTES // (row_bytes * self._size))
                want = min(count, groups * self._size)
            group: list[pa.Table] = []
            need = want
            while need:
                piece = self._pending.pop(0)
                if piece.num_rows > need:
                    # The rest of a piece given whole (a split of a span config) is copied
                    # out: as a slice it would keep the whole piece until the file closes.
                    rest = piece.slice(need)
                    if rest.num_rows < self._size:
                        rest = rest.take(pa.array(range(rest.num_rows), pa.int64()))
                    self._pending.insert(0, rest)
                    piece = piece.slice(0, need)
                group.append(piece)
                need -= piece.num_rows
            combined = pa.concat_tables(group).combine_chunks()
            if batched:
                if self._kept is not None:
                    self._diverge()  # nothing to compare: the kept file is let go
                # Cut into row groups by the encoder: the bytes of a call per row group.
                self._open().write_table(combined, row_group_size=self._size)
            else:
                if len(group) == 1:
                    # A slice of one piece keeps its whole buffers, and Arrow IPC writes
                    # them whole: copied out, its digest is that of the same rows cut
                    # otherwise (a rebuild hands over other pieces where an article changed
                    # nearby).
                    combined = combined.take(pa.array(range(combined.num_rows), pa.int64()))
                self._encode(combined)
            del group, combined
            count -= want
            self._held -= want

    def close(self) -> WrittenFile | None:
        """Finish the file (None: no rows, no file); its size and sha256 read back from disk."""
        if self._whole:
            assert self._kept is not None
            self._keep(self._kept.sha256)
            return WrittenFile(self.rows, self.path.stat().st_size, self._kept.sha256)
        if self._held:
            self._flush(self._held)
        if self._kept is not None and self._placed is not None:
            if len(self._digests) == len(self._kept.groups):
                # Every row group matched the kept file's: it is this file, byte for byte.
                os.replace(self._placed, self.path)
                self._placed, self.reused = None, True
                sha = self._kept.sha256
                self._keep(sha)
                return WrittenFile(self.rows, self.path.stat().st_size, sha)
            self._diverge()  # fewer rows than the kept file: the matched groups encoded
        if self._writer is None:
            return None
        self._writer.close()
        self._writer = None
        sha = sha256_file(self.path)
        self._keep(sha)
        return WrittenFile(self.rows, self.path.stat().st_size, sha)

    def _keep(self, sha: str) -> None:
        if self._store is not None:
            self._store.keep(
                self._name,
                self.path,
                self._fingerprint,
                self._digests,
                self.rows,
                sha,
                source=self.source,
                extra=self.extra,
            )

    def abort(self) -> None:
        """Close without finishing (the staging folder holding the file is discarded)."""
        if self._writer is not None:
            self._writer.close()
            self._writer = None
        if self._placed is not None:
            with contextlib.suppress(OSError):
                self._placed.unlink()
            self._placed = None
        if self._whole:  # placed at ``path`` from its source: not this writer's any more
            with contextlib.suppress(OSError):
                self.path.unlink()
            self._whole = False
        self._pending = []
