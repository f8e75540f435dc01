"""The gold layer on disk while a build runs: a Parquet file per table, written a chunk of
articles at a time and read back a range of articles at a time (issue 17 item 3).

The build adjudicates the inputs a chunk of export files at a time
(``release.validation.validate_inputs``); each chunk's gold goes here instead of staying in
memory, where at 100k articles it was ≈2.5 GB. What the published configs need is read
back per range of article ids (``between``), per list of articles (``of``) or per column,
always in the gold layer's order (``adjudication.GOLD_ORDER``): exactly the rows of the gold
held whole. The status (one row per article) is small and stays in memory. The files live
in a temporary folder of the build and are never published.
"""

from __future__ import annotations

import bisect
import contextlib
import functools
from collections import OrderedDict
from collections.abc import Callable, Collection
from pathlib import Path
from typing import Any

import polars as pl
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from sahelwire.annotations.adjudication import GOLD_ORDER, merged_gold
from sahelwire.annotations.gold_layer import (
    CHOICE_SCHEMA,
    REGION_SCHEMA,
    RELATION_SCHEMA,
    STATUS_SCHEMA,
    GoldLayer,
)
from sahelwire.annotations.memo_keys import frame_digests
from sahelwire.io.write_thread import OrderedWrites

SPILLED = {"regions": REGION_SCHEMA, "relations": RELATION_SCHEMA, "choices": CHOICE_SCHEMA}
# Rows per row group: each holds a narrow run of article ids (a chunk's gold is sorted by
# article), so a read of a range of articles skips the others by their statistics.
ROW_GROUP_ROWS = 65_536
# Decoded row groups kept per table, the last used: the build reads the gold a chunk of
# CHUNK_ARTICLES articles at a time, in id order, and a row group holds the gold of about a
# dozen such chunks, so each group was read and decoded a dozen times (at 1M articles,
# 10% annotated, ≈70 s of a rebuild's 628 s; docs/benchmarks.md). Two: a chunk's range can
# straddle two groups.
KEPT_GROUPS = 2


class GoldFiles:
    """The gold layer, its regions, relations and choices in Parquet files under ``folder``."""

    def __init__(self, folder: Path, writes: OrderedWrites | None = None) -> None:
        self.folder = folder
        # The Parquet writes in a background thread when given (its owner waits for a
        # chunk's before it hands the next), else inline; the reads come after finish().
        self.writes = writes
        self._writers: dict[str, Any] = {}
        self._status: list[pl.DataFrame] = []
        self.status: pl.DataFrame = pl.DataFrame(schema=STATUS_SCHEMA)
        self.rows = dict.fromkeys(SPILLED, 0)
        self._groups: dict[str, OrderedDict[int, pa.Table]] = {
            name: OrderedDict() for name in SPILLED
        }
        # Each table's file opened once, with its row groups' article id ranges (None: no
        # statistics): opened again for every chunk's read it was ≈7 s of a 1M rebuild
        # (2,000 chunks, three tables; py-spy).
        self._files: dict[str, tuple[pq.ParquetFile, list[tuple[str, str] | None]]] = {}
        # Per table, each article's digest of its rows (memo_keys.frame_digests), taken as
        # its chunk is written: the article memo keys every article by its gold, and reading
        # the whole gold back for that alone was a tenth of a rebuild's published phase
        # (docs/benchmarks.md). The rows read back are a function of these: the same.
        self.digests: dict[str, dict[str, bytes]] = {name: {} for name in SPILLED}

    def path(self, table: str) -> Path:
        return self.folder / f"gold_{table}.parquet"

    def add(self, gold: GoldLayer) -> None:
        """Append a chunk's gold (articles no earlier chunk had)."""
        self._forget()
        for name, schema in SPILLED.items():
            frame: pl.DataFrame = getattr(gold, name)
            frame = frame.select(list(schema)).cast(pl.Schema(schema))
            self.digests[name].update(frame_digests(frame))
            table = frame.to_arrow()
            writer = self._writers.get(name)
            if writer is None:
                writer = pq.ParquetWriter(self.path(name), table.schema, compression="none")
                self._writers[name] = writer
            if table.num_rows:
                write = functools.partial(
                    writer.write_table, table.cast(writer.schema), row_group_size=ROW_GROUP_ROWS
                )
                if self.writes is None:
                    write()
                else:
                    self.writes.submit(write)
            self.rows[name] += table.num_rows
        self._status.append(gold.status)

    def finish(self) -> None:
        """Close the files; the status merged in its order."""
        if self.writes is not None:
            self.writes.wait()
        self._forget()
        for name in SPILLED:
            writer = self._writers.pop(name, None)
            if writer is not None:
                writer.close()
            elif not self.path(name).exists():
                empty = pl.DataFrame(schema=SPILLED[name]).to_arrow()
                pq.write_table(empty, self.path(name), compression="none")
        parts = [GoldLayer.empty(), *(_status_only(s) for s in self._status)]
        self.status = merged_gold(parts).status
        self._status = []

    def abort(self) -> None:
        if self.writes is not None:
            with contextlib.suppress(Exception):
                self.writes.wait()  # no write of a file once it is closed
        self._forget()
        for writer in self._writers.values():
            writer.close()
        self._writers.clear()

    def _forget(self) -> None:
        """Drop the decoded row groups kept and the files opened (they are being written)."""
        for kept in self._groups.values():
            kept.clear()
        for file, _ in self._files.values():
            file.close()
        self._files.clear()

    def _file(self, name: str) -> tuple[pq.ParquetFile, list[tuple[str, str] | None]]:
        opened = self._files.get(name)
        if opened is None:
            file = pq.ParquetFile(self.path(name))
            column = file.schema_arrow.get_field_index("article_id")
            ranges: list[tuple[str, str] | None] = []
            for i in range(file.num_row_groups):
                stats = file.metadata.row_group(i).column(column).statistics
                has = stats is not None and stats.has_min_max
                ranges.append((stats.min, stats.max) if has else None)
            opened = self._files[name] = (file, ranges)
        return opened

    def _row_group(self, name: str, file: pq.ParquetFile, i: int) -> pa.Table:
        """Row group ``i`` of table ``name``, decoded once while it is among the last
        :data:`KEPT_GROUPS` used."""
        kept = self._groups[name]
        group = kept.get(i)
        if group is None:
            group = file.read_row_group(i)
            kept[i] = group
            while len(kept) > KEPT_GROUPS:
                kept.popitem(last=False)
        else:
            kept.move_to_end(i)
        return group

    def _select(
        self,
        name: str,
        overlaps: Callable[[str, str], bool],
        keep: Callable[[pa.ChunkedArray], Any],
    ) -> pl.DataFrame:
        """The rows of table ``name`` that ``keep`` selects (a mask of their article ids),
        read from the row groups whose
        range of article ids (min, max) ``overlaps`` says may hold one, in the gold's order.

        Read a row group at a time, those outside by their statistics skipped: the card's
        baseline sample of 250 articles, read with pyarrow's ``in`` filter, held all of the
        gold for a moment (+0.3 GB at 10k, +3 GB at 100k).
        """
        file, ranges = self._file(name)
        schema = pl.Schema(SPILLED[name])
        parts = [pl.DataFrame(schema=schema)]
        for i, bounds in enumerate(ranges):
            if bounds is not None and not overlaps(*bounds):
                continue
            # One row group at a time (a sample spread over the corpus touches most of
            # them), filtered by Arrow, which copies the rows kept: polars' filter would
            # keep views into every group's strings, i.e. all of them.
            group = self._row_group(name, file, i)
            kept = pl.from_arrow(group.filter(keep(group["article_id"])))
            assert isinstance(kept, pl.DataFrame)
            parts.append(kept.cast(schema))
        frame = pl.concat(parts)
        return frame.sort(GOLD_ORDER[name], maintain_order=True)

    def between(self, first: str, last: str) -> GoldLayer:
        """The gold of articles with ids in [first, last], in the gold layer's order."""

        def overlaps(low: str, high: str) -> bool:
            return low <= last and first <= high

        def keep(ids: pa.ChunkedArray) -> Any:
            return pc.and_(pc.greater_equal(ids, first), pc.less_equal(ids, last))

        regions, relations, choices = (self._select(n, overlaps, keep) for n in SPILLED)
        status = self.status.filter(pl.col("article_id").is_between(pl.lit(first), pl.lit(last)))
        return GoldLayer(regions, relations, choices, status)

    def of(self, ids: Collection[str]) -> GoldLayer:
        """The gold of these articles, in the gold layer's order."""
        wanted = sorted(set(ids))
        if not wanted:
            return GoldLayer.empty()
        value_set = pa.array(wanted, pa.string())

        def overlaps(low: str, high: str) -> bool:
            at = bisect.bisect_left(wanted, low)  # the first wanted id >= low
            return at < len(wanted) and wanted[at] <= high

        def keep(ids: pa.ChunkedArray) -> Any:
            return pc.is_in(ids, value_set=value_set)

        regions, relations, choices = (self._select(n, overlaps, keep) for n in SPILLED)
        status = self.status.filter(pl.col("article_id").is_in(wanted))
        return GoldLayer(regions, relations, choices, status)

    def column(self, table: str, name: str) -> pa.ChunkedArray:
        """One column of a gold table (every article's rows; not in any order)."""
        return pq.read_table(self.path(table), columns=[name]).column(name)


def _status_only(status: pl.DataFrame) -> GoldLayer:
    empty = GoldLayer.empty()
    return GoldLayer(empty.regions, empty.relations, empty.choices, status)


GoldSource = GoldLayer | GoldFiles


def gold_between(gold: GoldSource, first: str, last: str) -> GoldLayer:
    """The gold rows of articles with ids in [first, last] (a chunk of sorted articles)."""
    if isinstance(gold, GoldFiles):
        return gold.between(first, last)

    def between(df: pl.DataFrame) -> pl.DataFrame:
        return (
            df.filter(pl.col("article_id").is_between(pl.lit(first), pl.lit(last)))
            if df.height
            else df
        )

    return GoldLayer(
        between(gold.regions), between(gold.relations), between(gold.choices), between(gold.status)
    )


def gold_of(gold: GoldSource, ids: Collection[str]) -> GoldLayer:
    """The gold rows of these articles."""
    if isinstance(gold, GoldFiles):
        return gold.of(ids)
    keep = pl.col("article_id").is_in(list(ids))

    def of(df: pl.DataFrame) -> pl.DataFrame:
        return df.filter(keep) if df.height else df

    return GoldLayer(of(gold.regions), of(gold.relations), of(gold.choices), of(gold.status))


def gold_column(gold: GoldSource, table: str, name: str) -> list[Any]:
    """A column of a gold table as a list (every row; the order is not to be relied on)."""
    if isinstance(gold, GoldFiles):
        return gold.column(table, name).to_pylist()
    frame: pl.DataFrame = getattr(gold, table)
    return frame[name].to_list() if frame.height else []
