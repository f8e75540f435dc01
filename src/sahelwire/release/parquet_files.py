"""Hub-friendly, byte-reproducible Parquet files.

- explicit Arrow schema, no pandas metadata (it embeds library versions);
- zstd, page index, page checksums, content-defined chunking (pyarrow >= 21) so a small
  edit re-uploads a small fraction of the bytes through the Hub's Xet storage;
- the Hugging Face ``Features`` stored in the schema metadata, so ``load_dataset``
  restores ClassLabels and span structs instead of re-inferring plain types.
"""

from __future__ import annotations

import io
import json
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
