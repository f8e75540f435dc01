"""Hub-friendly, byte-reproducible Parquet files.

- explicit Arrow schema, no pandas metadata (it embeds library versions);
- zstd, page index, page checksums, content-defined chunking (pyarrow >= 21) so a small
  edit re-uploads a small fraction of the bytes through the Hub's Xet storage;
- the Hugging Face ``Features`` stored in the schema metadata, so ``load_dataset``
  restores ClassLabels and span structs instead of re-inferring plain types.
"""

from __future__ import annotations

import hashlib
import io
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import datasets
import pyarrow as pa
import pyarrow.parquet as pq

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
    to :meth:`write`: each row group is handed to the writer as one single-chunk table of
    exactly ``row_group_size`` rows (the last one shorter), which is what ``write_table``
    of the whole table does (docs/columnar.md, "Writing Parquet as rows are produced").
    Only the rows of one unfinished row group, plus the table being written, are held.
    No file is created when no row is written: an empty split has no file.
    """

    def __init__(self, path: Path, schema: pa.Schema) -> None:
        self.path = path
        self.schema = schema
        self.rows = 0
        self._size = PARQUET_OPTIONS["row_group_size"]
        self._pending: list[pa.Table] = []
        self._held = 0
        self._writer: pq.ParquetWriter | None = None

    def write(self, table: pa.Table) -> None:
        if not table.num_rows:
            return
        self._pending.append(table.replace_schema_metadata(self.schema.metadata))
        self._held += table.num_rows
        self.rows += table.num_rows
        if self._held >= self._size:
            self._flush(self._held - self._held % self._size)

    def _flush(self, count: int) -> None:
        """Write the first ``count`` pending rows, one row group at a time."""
        if self._writer is None:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            options = {k: v for k, v in PARQUET_OPTIONS.items() if k != "row_group_size"}
            self._writer = pq.ParquetWriter(str(self.path), self.schema, **options)
        while count:
            # Only one row group is combined at a time, and what is left pending is a slice
            # of the pieces given, not of a combined copy: slicing the copy of everything
            # pending kept the whole copy alive until the next flush (at 100k, ≈1.4 GB for
            # the span tables, which are given whole and never flushed again; ≈0.2 GB per
            # split for documents' 10,000-row groups).
            want = min(count, self._size)
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
            self._writer.write_table(
                pa.concat_tables(group).combine_chunks(), row_group_size=self._size
            )
            del group
            count -= want
            self._held -= want

    def close(self) -> WrittenFile | None:
        """Finish the file (None: no rows, no file); its size and sha256 read back from disk."""
        if self._held:
            self._flush(self._held)
        if self._writer is None:
            return None
        self._writer.close()
        self._writer = None
        digest = hashlib.sha256()
        with self.path.open("rb") as handle:
            for block in iter(lambda: handle.read(1 << 20), b""):
                digest.update(block)
        return WrittenFile(self.rows, self.path.stat().st_size, digest.hexdigest())

    def abort(self) -> None:
        """Close without finishing (the staging folder holding the file is discarded)."""
        if self._writer is not None:
            self._writer.close()
            self._writer = None
        self._pending = []
