"""Memoised ``annotations_raw`` rows per article: DuckDB sorts only the articles that changed.

``annotations_raw`` (:func:`sahelwire.release.columnar.raw_sql`) is sorted by the article id
first, and an article's rows are made from its own rows of the six source frames alone (its
annotations' regions, relations and choices joined to their annotation, its predictions'
results joined to their prediction; ties in the order the frames give them; annotation and
prediction ids are unique across exports, which the parser checks, so no join reaches another
article's rows). So each
article's published rows are a function of its source rows, and the split's rows are the
articles' rows one after the other, in id order. A rebuild after 1% of the exports changed
sorted every row of the corpus again (≈6 s of ≈40 s at 10k, docs/benchmarks.md); with this
memo DuckDB sorts the changed articles only and the others' rows are read back.

Rows are kept in ``.sahelwire/cache/annotations_raw/`` (:mod:`sahelwire.io.article_packs`;
git-ignored, never a source of truth) under a key per article: the fingerprint of this code
(with the columnar SQL it imports and DuckDB's version), the schemas, and a digest of the
article's rows of each source frame in input order (:func:`~sahelwire.annotations.memo_keys.
frame_digests`, chained over the chunks the inputs come in). The input order number
(``_row``) is left out: it counts the rows of every article before, which a change elsewhere
shifts, while only the order within the article matters to its rows.

Used only when every article id has at least 12 characters: the sort compares ids as
``str(id).zfill(12)``, which is then the id itself, so articles are ordered by id alone (two
shorter ids such as ``1`` and ``01`` would compare equal and their rows interleave). Merged
rows are the same values in the same order as one sort of everything: the published bytes are
the same (tests/release/test_raw_cache.py). ``SAHELWIRE_ARTICLE_CACHE=off`` turns it off.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Iterator, Mapping
from importlib.metadata import version
from pathlib import Path
from typing import Any

import numpy as np
import pandera
import polars as pl
import pyarrow as pa
import pyarrow.compute as pc

from sahelwire.annotations.memo_keys import VALIDATION_MODULE, frame_digests, memo_fingerprint
from sahelwire.io.article_packs import BLOCK_ROWS, ArticlePacks, LoadedPack, PackWriter
from sahelwire.io.config import SPLITS
from sahelwire.io.paths import ProjectPaths
from sahelwire.release.columnar import ARROW_BATCH_ROWS, RAW_SOURCES

TABLE = "annotations_raw"
# Below 1 in this many articles to sort, DuckDB's inputs are cut to them before the joins.
FEW_SHARE = 10
# raw_sql's sort compares ids zero-filled to this width (columnar._WIDTH).
MIN_ID_CHARS = 12


def cache_folder(paths: ProjectPaths) -> Path:
    return paths.state_dir / "cache" / "annotations_raw"


class RawRowCache:
    """The per-article ``annotations_raw`` rows of one build.

    :meth:`note` each chunk of source frames as the inputs are read; :meth:`plan` says which
    articles DuckDB must sort; :meth:`merge` interleaves DuckDB's rows of those with the
    kept rows of the others, and stores this run's pack when anything was sorted.
    """

    def __init__(self, folder: Path, fingerprint: str) -> None:
        self.folder = folder
        self.fingerprint = fingerprint
        self.packs = ArticlePacks(folder, fingerprint, {})
        # Per article: the digest of its source rows so far (chained over chunks and frames).
        self.digests: dict[str, bytes] = {}
        self.pack: LoadedPack | None = None
        self.hits: dict[str, tuple[str, int, int]] = {}  # article -> (key, first row, rows)
        self.keys: dict[str, str] = {}  # the misses' keys
        self.active = False
        self.few_to_sort = False
        self.kept_checked = False  # the pack read is marked checked: its rows are valid
        # The pack to mark as checked once the build has validated every row (validated()).
        self.to_mark: Path | None = None

    @classmethod
    def for_project(cls, paths: ProjectPaths) -> RawRowCache | None:
        """The memo of ``paths``, or None when it is off or the code cannot be fingerprinted."""
        # The published rows' validation is in it too: a checked pack's rows are not
        # validated again, so a change to the rules must make every entry a miss.
        fingerprint = memo_fingerprint(
            paths,
            __name__,
            f"duckdb {version('duckdb')}",
            f"pandera {pandera.__version__}",
            also=(VALIDATION_MODULE,),
        )
        return None if fingerprint is None else cls(cache_folder(paths), fingerprint)

    @property
    def stats(self) -> Any:
        return self.packs.stats

    def note(self, frames: Mapping[str, pl.DataFrame]) -> None:
        """One chunk of the source frames (:func:`~sahelwire.release.columnar.source_frames`),
        in input order."""
        for name in RAW_SOURCES[:-1]:
            frame = frames[name]
            if "_row" in frame.columns:
                frame = frame.drop("_row")
            tag = f"{name}\0".encode()
            for article, digest in frame_digests(frame).items():
                before = self.digests.get(article, b"")
                self.digests[article] = hashlib.sha256(before + tag + digest).digest()

    def plan(self, splits: Mapping[str, str], schema: pa.Schema) -> Mapping[str, str]:
        """The splits of the articles DuckDB must sort: the changed ones (all of them when
        no kept row can be used)."""
        self.packs = ArticlePacks(self.folder, self.fingerprint, {TABLE: schema})
        self.schema = schema
        self.splits = splits
        with_rows = [a for a in self.digests if a in splits]
        self.active = all(len(a) >= MIN_ID_CHARS for a in with_rows)
        if not self.active:
            return splits
        self.pack = self.packs.load()
        self.kept_checked = self.pack is not None and self.pack.checked
        entries: Mapping[str, dict[str, Any]] = self.pack.entries if self.pack else {}
        for article in with_rows:
            key = self.packs.key(article, self.digests[article])
            entry = entries.get(article)
            if entry is not None and entry.get("key") == key and TABLE in entry.get("rows", {}):
                first, n = entry["rows"][TABLE]
                self.hits[article] = (key, first, n)
            else:
                self.keys[article] = key
        self.digests = {}
        self.packs.stats.hits, self.packs.stats.misses = len(self.hits), len(self.keys)
        # Most rows kept: DuckDB is better off cutting its inputs to the changed articles
        # first (a semi-join per file) than computing every row and dropping most.
        self.few_to_sort = len(self.keys) * FEW_SHARE < len(with_rows)
        return {a: s for a, s in splits.items() if a not in self.hits}

    def source_digests(self) -> dict[tuple[str, str], str]:
        """Per (``annotations_raw``, split) with rows to make: a digest of what they are made
        from, each of its articles' key in id order (the rows are the articles' rows one
        after the other, each a function of its key: module docstring); the published
        file is placed from the last build's when it was made from the same
        (:meth:`~sahelwire.release.parquet_files.StreamedParquet.place_from_source`).
        Nothing when the memo is not used (:attr:`active`). After :meth:`plan`."""
        if not self.active:
            return {}
        keys = {**{a: hit[0] for a, hit in self.hits.items()}, **self.keys}
        digests: dict[str, Any] = {}
        for article in sorted(keys):
            split = self.splits[article]
            if split not in digests:
                digests[split] = hashlib.sha256(f"{TABLE}\0{split}\0".encode())
            digests[split].update(f"{article}\0{keys[article]}\0".encode())
        return {(TABLE, split): digest.hexdigest() for split, digest in digests.items()}

    def merge(
        self, sorted_rows: Iterable[tuple[str, pa.Table]]
    ) -> Iterator[tuple[str, pa.Table, pa.Table]]:
        """(split, table, rows to validate) as :func:`~sahelwire.release.columnar.
        duckdb_raw_batches` gives them for every article: ``sorted_rows`` (DuckDB's, of the
        articles :meth:`plan` returned) interleaved in id order with the kept rows of the
        others. The rows to validate are the table's made rows, or all of them when the pack
        read is not marked checked; none when all were (:attr:`Piece.unchecked
        <sahelwire.release.tables.Piece.unchecked>`)."""
        if not self.active:
            for split, table in sorted_rows:
                yield split, table, table
            return
        writer = self.packs.writer() if self.keys or self.pack is None else None
        out = _Gathered(self, writer)
        try:
            made = iter(sorted_rows)
            pending = next(made, None)
            for split in SPLITS:
                kept = sorted(a for a in self.hits if self.splits[a] == split)
                i = 0
                while pending is not None and pending[0] == split:
                    table = pending[1]
                    runs = _article_runs(table)
                    j = 0
                    while j < len(runs):
                        while i < len(kept) and kept[i] < runs[j][0]:
                            yield from out.kept(split, kept[i])
                            i += 1
                        # The made articles up to the next kept one: one slice of the table
                        # (a cold build's tables pass whole, not cut per article).
                        k = j + 1
                        while k < len(runs) and (i == len(kept) or runs[k][0] < kept[i]):
                            k += 1
                        yield from out.made(split, table, runs[j:k])
                        j = k
                    pending = next(made, None)
                for article in kept[i:]:
                    yield from out.kept(split, article)
                yield from out.flush(split)
            if pending is not None:
                raise ValueError(f"annotations_raw: rows of split {pending[0]!r} out of order")
            out.finish()
            if writer is not None:
                # It holds exactly this run's articles (kept and made).
                self.to_mark = self.packs.stats.written
            elif self.pack is not None and not self.kept_checked:
                # Nothing stored: the pack read stays. Marked only when it holds this run's
                # articles alone (an article gone since has rows no build validated now).
                self.to_mark = self.pack.path if len(self.pack.entries) == len(self.hits) else None
        except BaseException:
            if writer is not None:
                writer.abort()
            raise
        finally:
            if self.pack is not None:
                self.pack.close()
                self.pack = None

    def validated(self) -> None:
        """The build validated every row :meth:`merge` gave, without a problem: the pack that
        now holds exactly those rows is marked checked (its rows not validated again)."""
        if self.to_mark is not None:
            self.packs.mark_checked(self.to_mark)
        self.to_mark = None


# Entries handed to the pack writer at a time (not all held to the end).
ENTRY_BATCH = 10_000


class _Gathered:
    """The piece of a split being gathered by :meth:`RawRowCache.merge`: made tables and
    ranges of kept rows (a run of kept articles stored one after the other is one range),
    handed on past ARROW_BATCH_ROWS rows; and the entries of the pack being written."""

    def __init__(self, memo: RawRowCache, writer: PackWriter | None) -> None:
        self.memo, self.writer = memo, writer
        self.parts: list[pa.Table | list[int]] = []
        self.made_parts: list[pa.Table] = []  # the tables of ``parts``: rows made this run
        self.held = 0
        self.at = 0  # the next row of the pack being written
        self.entries: dict[str, dict[str, Any]] = {}

    def _entry(self, article: str, key: str, n: int) -> None:
        self.entries[article] = {"key": key, "rows": {TABLE: [self.at, n]}}
        self.at += n
        self.held += n
        if self.writer is not None and len(self.entries) >= ENTRY_BATCH:
            self.writer.add_entries(self.entries)
            self.entries = {}

    def kept(self, split: str, article: str) -> Iterator[tuple[str, pa.Table, pa.Table | None]]:
        key, first, n = self.memo.hits[article]
        self._entry(article, key, n)
        last = self.parts[-1] if self.parts else None
        if isinstance(last, list) and last[0] + last[1] == first:
            last[1] += n
        elif n:
            self.parts.append([first, n])
        if self.held >= ARROW_BATCH_ROWS:
            yield from self.flush(split)

    def made(
        self, split: str, table: pa.Table, runs: list[tuple[str, int, int]]
    ) -> Iterator[tuple[str, pa.Table, pa.Table | None]]:
        for article, start, end in runs:
            self._entry(article, self.memo.keys[article], end - start)
        lo, hi = runs[0][1], runs[-1][2]
        part = table if (lo, hi) == (0, table.num_rows) else table.slice(lo, hi - lo)
        self.parts.append(part)
        self.made_parts.append(part)
        if self.held >= ARROW_BATCH_ROWS:
            yield from self.flush(split)

    def flush(self, split: str) -> Iterator[tuple[str, pa.Table, pa.Table]]:
        if self.parts:
            piece = self._piece()
            yield split, piece, self._to_check(piece)
        self.parts, self.made_parts, self.held = [], [], 0

    def _to_check(self, piece: pa.Table) -> pa.Table:
        """The rows of ``piece`` a build has not validated: the made ones, when the kept
        ones come from a pack marked checked (:meth:`RawRowCache.validated`)."""
        if not self.memo.kept_checked or len(self.made_parts) == len(self.parts):
            return piece
        if not self.made_parts:
            return piece.slice(0, 0)
        metadata = self.memo.schema.metadata
        return pa.concat_tables(t.replace_schema_metadata(metadata) for t in self.made_parts)

    def finish(self) -> None:
        if self.writer is not None:
            self.writer.finish(self.entries)
        self.entries = {}

    def _piece(self) -> pa.Table:
        """One table of the parts (kept ranges read from the pack), also stored by the
        writer: a kept block whole in a range is copied as stored
        (:meth:`~sahelwire.io.article_packs.PackWriter.copy`), the other rows encoded."""
        memo, writer = self.memo, self.writer
        metadata = memo.schema.metadata
        tables = []
        for part in self.parts:
            if isinstance(part, list):
                assert memo.pack is not None
                source = memo.pack.tables[TABLE]
                for rows, block in source.parts(part[0], part[1]):
                    tables.append(rows.replace_schema_metadata(metadata))
                    if writer is None:
                        continue
                    if block is None:
                        writer.add(TABLE, rows)
                    else:
                        writer.copy(TABLE, source, block, rows)
            else:
                tables.append(part.replace_schema_metadata(metadata))
                if writer is not None:
                    # A block's rows at a time: the writer gathers pieces up to a block.
                    for offset in range(0, part.num_rows, BLOCK_ROWS):
                        writer.add(TABLE, part.slice(offset, BLOCK_ROWS))
        # One chunk per column: a piece of many small chunks (an article's rows each) cost
        # more to validate, write and store than the copy.
        piece = pa.concat_tables(tables)
        if len(tables) > 1:
            piece = piece.combine_chunks()
        return piece


def _article_runs(table: pa.Table) -> list[tuple[str, int, int]]:
    """(article, first row, end row) of each article of ``table`` (whole articles in id
    order)."""
    if not table.num_rows:
        return []
    ids = table.column("article_id").combine_chunks()
    # Where the id changes: the first row of every article but the first.
    changes = pc.not_equal(ids.slice(1), ids.slice(0, len(ids) - 1))
    starts = [0, *(np.flatnonzero(changes.to_numpy(zero_copy_only=False)) + 1).tolist()]
    ends = [*starts[1:], table.num_rows]
    return [(ids[a].as_py(), a, b) for a, b in zip(starts, ends, strict=True)]
