"""Keys of the per-article memos (:mod:`sahelwire.io.article_packs`): what a result depends on.

A memo entry is used only under the key of exactly what its result depends on: a fingerprint
of the code that makes it, the versions, the taxonomy and schemas (:func:`code_fingerprint`),
and the article's own inputs; :func:`frame_digests` gives, per article, a digest of its rows
of a polars frame.
"""

from __future__ import annotations

import hashlib
import json
import platform
from typing import Any

import numpy as np
import polars as pl
import pyarrow as pa

from sahelwire.annotations.export_cache import Uncacheable, _canonical, parser_sources
from sahelwire.io.article_packs import memo_enabled
from sahelwire.io.paths import ProjectPaths

FORMAT = 1
# The published rows' validation (the build runs it). A memo whose rows are not validated
# again once a build has (a pack's checked mark) passes it as ``also``: a change to the
# rules must make every entry a miss.
VALIDATION_MODULE = "sahelwire.schema.table_validation"


def code_fingerprint(
    paths: ProjectPaths, module: str, *extra: Any, also: tuple[str, ...] = ()
) -> str:
    """sha256 of the code ``module`` runs (it and every sahelwire module it imports,
    transitively, imports for type checking included: a memo module imports what it
    memoises), the code of the modules ``also`` (the same way: code whose verdict on the
    memo's results is relied on without it being imported), the versions, every file of
    ``schemas/`` and ``extra`` (taxonomy, shapes).
    Uncacheable when the sources cannot be read (a code change could not be seen)."""
    digest = hashlib.sha256()

    def add(label: str, data: bytes) -> None:
        digest.update(f"{label}\0{len(data)}\0".encode())
        digest.update(data)

    add("format", f"{FORMAT} {module}".encode())
    versions = f"{platform.python_version()} polars {pl.__version__} pyarrow {pa.__version__}"
    add("versions", versions.encode())
    sources = parser_sources(module)
    if module not in sources or __name__ not in sources:
        raise Uncacheable("the source files are not readable")
    for other in also:
        more = parser_sources(other)
        if other not in more:
            raise Uncacheable("the source files are not readable")
        sources.update(more)
    for name, source in sorted(sources.items()):
        add(f"code {name}", source.read_bytes())
    for i, value in enumerate(extra):
        add(f"extra {i}", json.dumps(_canonical(value), sort_keys=True, default=repr).encode())
    if paths.schemas_dir.is_dir():
        for schema in sorted(p for p in paths.schemas_dir.rglob("*") if p.is_file()):
            add(f"schema {schema.relative_to(paths.schemas_dir)}", schema.read_bytes())
    return digest.hexdigest()


def memo_fingerprint(
    paths: ProjectPaths, module: str, *extra: Any, also: tuple[str, ...] = ()
) -> str | None:
    """:func:`code_fingerprint` for a per-article memo, or None: the memos are off
    (``SAHELWIRE_ARTICLE_CACHE``) or the code cannot be fingerprinted (then nothing is kept,
    since a change to it could not be seen)."""
    if not memo_enabled():
        return None
    try:
        return code_fingerprint(paths, module, *extra, also=also)
    except (OSError, ValueError):  # Uncacheable is a ValueError
        return None


def _row_hashes(df: pl.DataFrame) -> tuple[np.ndarray, np.ndarray]:
    """Two 64-bit hashes (two seeds) of every row of ``df``, in frame order: every column,
    its nulls apart from its values, floats by their bits."""
    exact = []
    for name, dtype in df.schema.items():
        column = df[name]
        if dtype.is_float():
            # Row hashes treat -0.0 and 0.0 (and NaNs) alike; the rows they make do not.
            bits = column.cast(pl.Float64).fill_null(0.0).to_numpy().view(np.int64)
            column = pl.Series(name, bits)
        exact += [column, df[name].is_null().alias(f"{name}\0null")]
    hashed = pl.DataFrame(exact)
    first, second = (hashed.hash_rows(seed=s).to_numpy() for s in (11, 101))
    return first, second


def frame_digest(df: pl.DataFrame) -> bytes:
    """sha256 of ``df`` whole: its schema and every row, in order."""
    digest = hashlib.sha256(f"{df.height}\0{df.schema!r}".encode())
    if df.height and df.width:
        first, second = _row_hashes(df)
        digest.update(np.ascontiguousarray(np.stack([first, second], axis=1)).tobytes())
    return digest.digest()


def frame_digests(df: pl.DataFrame, id_col: str = "article_id") -> dict[str, bytes]:
    """Per ``id_col`` value: a sha256 of its rows (every column, in frame order)."""
    if df.height == 0:
        return {}
    h = _row_hashes(df)
    keyed = (
        pl.DataFrame({"a": df[id_col], "h0": h[0], "h1": h[1]}).with_row_index("i").sort(["a", "i"])
    )
    hashes = np.ascontiguousarray(
        np.stack([keyed["h0"].to_numpy(), keyed["h1"].to_numpy()], axis=1)
    ).tobytes()
    counts = keyed.group_by("a", maintain_order=True).len()
    out: dict[str, bytes] = {}
    offset = 0
    width = 16
    schema = repr(df.schema).encode()
    for article_id, n in counts.iter_rows():
        chunk = hashes[offset * width : (offset + n) * width]
        out[article_id] = hashlib.sha256(schema + chunk).digest()
        offset += n
    return out
