"""The ``annotations_raw`` config as one SQL text: DuckDB embedded, Spark SQL unchanged.

The first slice of the columnar core (issue 17; the measured decision is docs/columnar.md).
``[tool.sahelwire] build_engine = "duckdb"`` makes the build assemble ``annotations_raw`` here
instead of in polars (``annotations.layers.raw_frame``); the default stays ``"polars"``. Both
give the same rows in the same order, hence the same Parquet bytes (tests/release/
test_columnar.py), and ``spark.sql`` runs the very same text in ``local[2]``
(tests/release/test_spark.py).

The rule it implements is ``layers.RAW_SORT_KEY``'s: every region, relation and choice of
every annotation, then every prediction result, with its annotation's (or prediction's)
provenance, sorted by the ten keys, each compared as ``str(value).zfill(12)`` with a missing
value as ``""`` (ids and offsets sort as numbers, missing first), ties kept in input order.
The SQL is written in the subset DuckDB and Spark SQL share (``CAST(... AS STRING)``,
``lpad``, ``substr``, ``||``, back-quoted names), so there is one text, not one per engine.
"""

from __future__ import annotations

import contextlib
import functools
import tempfile
from collections.abc import Callable, Iterable, Iterator, Mapping
from pathlib import Path
from typing import Any

import polars as pl
import pyarrow as pa
import pyarrow.compute as pc

from sahelwire.annotations.layers import RAW_META, RAW_SORT_KEY, AnnotationLayers
from sahelwire.annotations.tables import source_shapes
from sahelwire.io.config import SPLITS
from sahelwire.io.write_thread import OrderedWrites
from sahelwire.schema.table_specs import TableSpecs

# The frames the SQL reads (view names), each with a ``_row`` column: its input order.
RAW_SOURCES = (
    "annotations",
    "regions",
    "relations",
    "choices",
    "predictions",
    "prediction_results",
    "splits",
)
# The span columns of an annotations_raw row, with the SQL type of a missing one.
_SPAN: dict[str, str] = {
    "kind": "STRING",
    "layer": "STRING",
    "label": "STRING",
    "region_id": "STRING",
    "to_region_id": "STRING",
    "start": "BIGINT",
    "end": "BIGINT",
    "text": "STRING",
    "entity_id": "STRING",
    "event_id": "STRING",
    "realis": "STRING",
    "value": "DOUBLE",
    "unit": "STRING",
    "approximate": "BOOLEAN",
    "bound": "STRING",
}
# Rows per Arrow batch fetched from DuckDB (a multiple of the Parquet row group size).
ARROW_BATCH_ROWS = 100_000
# Rows per slice when the sources are written to Parquet (write_raw_sources).
SOURCE_SLICE_ROWS = 100_000
# Python's str.zfill width that RAW_SORT_KEY compares at.
_WIDTH = 12


def _zfill(column: str) -> str:
    """``"" if v is None else str(v).zfill(12)`` in SQL (a sign stays in front, as zfill)."""
    s = f"CAST({column} AS STRING)"
    # lpad truncates a longer string: zfill leaves it as it is.
    return (
        f"COALESCE(CASE WHEN length({s}) >= {_WIDTH} THEN {s} "
        f"WHEN substr({s}, 1, 1) IN ('-', '+') "
        f"THEN substr({s}, 1, 1) || lpad(substr({s}, 2), {_WIDTH - 1}, '0') "
        f"ELSE lpad({s}, {_WIDTH}, '0') END, '')"
    )


def _span_columns(given: Mapping[str, str]) -> str:
    return ", ".join(
        f"{given[c]} AS `{c}`" if c in given else f"CAST(NULL AS {t}) AS `{c}`"
        for c, t in _SPAN.items()
    )


def raw_sql(
    split: str,
    source: Mapping[str, str] | None = None,
    *,
    articles: tuple[str, str] | None = None,
) -> str:
    """SELECT the ``annotations_raw`` rows of ``split`` in published order.

    ``source``: view name of each of :data:`RAW_SOURCES` (default: the names themselves).
    ``split`` is one of ``io.config.SPLITS`` (checked: it is put in the text).
    ``articles``: only the rows of articles with ids from the first to the second (both
    included); see :func:`article_ranges` for when the ranges' rows in turn are the split's.
    """
    if split not in SPLITS:
        raise ValueError(f"unknown split {split!r}")
    src = {name: (source or {}).get(name, name) for name in RAW_SOURCES}
    if articles is not None:
        low, high = (_literal(a) for a in articles)
        for name in RAW_SOURCES[:-1]:
            # On every source, so each scan skips the row groups outside the range.
            src[name] = f"(SELECT * FROM {src[name]} WHERE article_id BETWEEN {low} AND {high})"
    region = {c: f"`{c}`" for c in _SPAN if c not in ("kind", "to_region_id")}
    region["kind"] = "'region'"
    relation = {
        "kind": "'relation'",
        "layer": "'relations'",
        "label": "label",
        "region_id": "from_region_id",
        "to_region_id": "to_region_id",
    }
    choice = {"kind": "'choice'", "layer": "field", "label": "value"}
    predicted = {c: f"CAST(r.`{c}` AS {t})" for c, t in _SPAN.items()}
    spans = ", ".join(f"s.`{c}`" for c in _SPAN)
    meta = ", ".join(f"a.`{c}`" for c in RAW_META)
    keys = ", ".join(_zfill(f"`{c}`") for c in RAW_SORT_KEY)
    # _part/_row: the order raw_frame concatenates its parts in, the tie-breaker of the sort.
    return f"""
WITH spans AS (
  SELECT annotation_id, {_span_columns(region)}, 0 AS _part, _row FROM {src["regions"]}
  UNION ALL
  SELECT annotation_id, {_span_columns(relation)}, 1 AS _part, _row FROM {src["relations"]}
  UNION ALL
  SELECT annotation_id, {_span_columns(choice)}, 2 AS _part, _row FROM {src["choices"]}
),
raw_rows AS (
  SELECT {meta}, {spans}, 'annotation' AS `source`, CAST(NULL AS BIGINT) AS prediction_id,
         CAST(NULL AS DOUBLE) AS prediction_score, s._part, s._row
  FROM spans s JOIN {src["annotations"]} a ON s.annotation_id = a.annotation_id
  UNION ALL
  SELECT p.article_id, p.task_id, CAST(NULL AS BIGINT), CAST(NULL AS STRING), false,
         p.created_at, p.updated_at, CAST(NULL AS DOUBLE), CAST(NULL AS BIGINT),
         p.model_version, {", ".join(predicted.values())}, 'prediction', p.prediction_id,
         p.score, 3, r._row
  FROM {src["prediction_results"]} r JOIN {src["predictions"]} p
    ON r.prediction_id = p.prediction_id
)
SELECT * FROM (
  SELECT raw_rows.* FROM raw_rows JOIN {src["splits"]} sp ON raw_rows.article_id = sp.article_id
  WHERE sp.split = '{split}'
) in_split
ORDER BY {keys}, _part, _row
"""


def _literal(text: str) -> str:
    """A SQL string literal (article ids are checked against a pattern without quotes; a
    quote is doubled all the same)."""
    return "'" + text.replace("'", "''") + "'"


# About this many annotations_raw rows are sorted at once: the articles of a split
# are taken in ranges of ids (article_ranges), each sorted alone. One sort of the whole
# split needed more than 4 GB of DuckDB's memory at 100k (docs/benchmarks.md).
RAW_RANGE_ROWS = 250_000


def article_ranges(con: Any, split: str, limit: int | None = None) -> list[tuple[str, str] | None]:
    """The split's articles as ranges of ids (first, last), in order, of about ``limit``
    rows each (default :data:`RAW_RANGE_ROWS`); ``[None]`` (the whole split at once) unless
    every id has at least 12 characters.

    The sort's first key is the article id compared as ``str(id).zfill(12)``, which is the
    id itself when it has 12 characters or more: then every row of a range comes before
    every row of the next, and the ranges' sorted rows one after the other are the split's.
    """
    limit = RAW_RANGE_ROWS if limit is None else limit
    counts = con.sql(
        f"""
SELECT c.article_id, sum(c.n) AS n, min(length(c.article_id)) AS shortest FROM (
  SELECT article_id, count(*) AS n FROM regions GROUP BY article_id
  UNION ALL SELECT article_id, count(*) FROM relations GROUP BY article_id
  UNION ALL SELECT article_id, count(*) FROM choices GROUP BY article_id
  UNION ALL SELECT article_id, count(*) FROM prediction_results GROUP BY article_id
) c JOIN splits sp ON c.article_id = sp.article_id
WHERE sp.split = {_literal(split)}
GROUP BY c.article_id ORDER BY c.article_id
"""
    ).fetchall()
    if not counts or min(row[2] for row in counts) < _WIDTH:
        return [None]
    ranges: list[tuple[str, str] | None] = []
    first, rows = counts[0][0], 0
    for i, (article, n, _) in enumerate(counts):
        rows += n
        if rows >= limit or i == len(counts) - 1:
            ranges.append((first, article))
            rows = 0
            if i + 1 < len(counts):
                first = counts[i + 1][0]
    return ranges


def source_frames(
    layers: AnnotationLayers,
    splits: Mapping[str, str],
    specs: TableSpecs,
    *,
    first_row: Mapping[str, int] | None = None,
) -> dict[str, pl.DataFrame]:
    """The frames :func:`raw_sql` reads, by view name, each with its ``_row`` column.

    ``first_row``: each frame's first ``_row`` (a later chunk of the layers continues the
    numbering of the chunks before it); default 0.
    """
    out: dict[str, pl.DataFrame] = {}
    for name in RAW_SOURCES[:-1]:
        frame = getattr(layers, name)
        if frame is None:  # layers assembled without predictions: their empty shape
            frame = pl.DataFrame(schema=source_shapes(specs)[name])
        # int64, not polars' uint32 row index: Spark has no unsigned types.
        start = (first_row or {}).get(name, 0)
        row = (pl.int_range(pl.len(), dtype=pl.Int64) + start).alias("_row")
        out[name] = frame.select(row, pl.all())
    out["splits"] = splits_frame(splits)
    return out


def splits_frame(splits: Mapping[str, str]) -> pl.DataFrame:
    """The ``splits`` view: article id -> split."""
    return pl.DataFrame(
        {"article_id": list(splits), "split": list(splits.values())},
        schema={"article_id": pl.String, "split": pl.String},
    )


def raw_sources(
    layers: AnnotationLayers, splits: Mapping[str, str], specs: TableSpecs
) -> dict[str, pa.Table]:
    """:func:`source_frames` as Arrow tables (Spark's ``createDataFrame`` reads these)."""
    return {name: frame.to_arrow() for name, frame in source_frames(layers, splits, specs).items()}


def write_raw_sources(
    layers: AnnotationLayers, splits: Mapping[str, str], specs: TableSpecs, folder: Path
) -> dict[str, Path]:
    """:func:`source_frames` as Parquet files in ``folder``, one per view name."""
    sink = RawSourceSink(folder, specs)
    sink.add(layers)
    return sink.finish(splits)


class RawSourceSink:
    """:func:`write_raw_sources` a chunk of the layers at a time: each chunk's rows are
    appended to the files, numbered on from the chunks before (the same files as one call
    with every chunk's rows), so the per-annotator rows can be let go chunk by chunk before
    DuckDB sorts them (issue 17 item 3).
    """

    def __init__(
        self,
        folder: Path,
        specs: TableSpecs,
        on_frames: Callable[[Mapping[str, pl.DataFrame]], None] | None = None,
        writes: OrderedWrites | None = None,
    ) -> None:
        self.folder, self.specs = folder, specs
        # Shown each chunk's frames before they are written (the per-article memo's keys).
        self.on_frames = on_frames
        # The Parquet writes, in a background thread when given (else inline): a chunk's
        # rows are written while the next chunk is parsed (the owner waits for them before
        # it hands the next chunk, so one chunk's rows at most are held for the thread).
        self.writes = writes
        self.rows: dict[str, int] = dict.fromkeys(RAW_SOURCES[:-1], 0)
        self._writers: dict[str, Any] = {}

    def add(self, layers: AnnotationLayers) -> None:
        import pyarrow.parquet as pq

        frames = source_frames(layers, {}, self.specs, first_row=self.rows)
        if self.on_frames is not None:
            self.on_frames(frames)
        for name in RAW_SOURCES[:-1]:
            frame = frames[name]
            writer = self._writers.get(name)
            if writer is None:
                # Written by pyarrow, a slice at a time: a failed write (full disk, file size
                # limit) is then an OSError naming its cause like every other file of the
                # build, where polars' writer gives a ComputeError without it; slices keep
                # each Arrow copy small. Uncompressed: the files live for one query.
                schema = frame.head(0).to_arrow().schema
                writer = pq.ParquetWriter(self._path(name), schema, compression="none")
                self._writers[name] = writer
            for offset in range(0, frame.height, SOURCE_SLICE_ROWS):
                piece = frame.slice(offset, SOURCE_SLICE_ROWS).to_arrow()
                if piece.schema != writer.schema:
                    piece = piece.cast(writer.schema)  # one file, one schema, whatever the chunk
                if self.writes is None:
                    writer.write_table(piece)
                else:
                    self.writes.submit(functools.partial(writer.write_table, piece))
            self.rows[name] += frame.height

    def finish(self, splits: Mapping[str, str]) -> dict[str, Path]:
        """Close the files and add the splits': every view's file by name."""
        import pyarrow.parquet as pq

        if self.writes is not None:
            self.writes.wait()
        for writer in self._writers.values():
            writer.close()
        self._writers.clear()
        shapes = source_shapes(self.specs)
        for name in RAW_SOURCES[:-1]:
            if not self._path(name).exists():  # no chunk came: the empty shape
                empty = pl.DataFrame(schema=shapes[name])
                empty = empty.select(pl.lit(0, dtype=pl.Int64).alias("_row"), pl.all())
                pq.write_table(empty.to_arrow(), self._path(name), compression="none")
        pq.write_table(splits_frame(splits).to_arrow(), self._path("splits"), compression="none")
        return {name: self._path(name) for name in RAW_SOURCES}

    def abort(self) -> None:
        if self.writes is not None:
            with contextlib.suppress(Exception):
                self.writes.wait()  # no write of a file once it is closed
        for writer in self._writers.values():
            with contextlib.suppress(Exception):
                writer.close()

    def _path(self, name: str) -> Path:
        return self.folder / f"{name}.parquet"


def article_pieces(
    batches: Iterable[pa.RecordBatch], min_rows: int = ARROW_BATCH_ROWS
) -> Iterator[pa.Table]:
    """``batches`` of a result ordered by article, regrouped into tables of whole articles.

    Each table holds at least ``min_rows`` rows (the last may hold fewer) and no article is
    in two of them: the build validates a piece at a time and a config's key includes the
    article (``_Published.add``), so a duplicate key cannot straddle two pieces. One piece
    and the batches of the next article are held at a time, whatever the result's size.
    """
    pending: list[pa.RecordBatch] = []
    held = 0
    for batch in batches:
        if batch.num_rows == 0:
            continue
        pending.append(batch)
        held += batch.num_rows
        if held < min_rows:
            continue
        table = pa.Table.from_batches(pending)
        ids = table.column("article_id")
        # The last article's rows are the result's tail (it is ordered by article).
        cut = table.num_rows - (pc.sum(pc.equal(ids, ids[-1])).as_py() or 0)
        if cut < min_rows:  # the articles before the last are too few: read on
            continue
        yield table.slice(0, cut)
        rest = table.slice(cut)
        pending, held = rest.to_batches(), rest.num_rows
    if held:
        yield pa.Table.from_batches(pending)


class EngineOutOfMemory(MemoryError):
    """DuckDB needed more memory than its limit allowed: the build stops, nothing written."""


@contextlib.contextmanager
def duckdb_connection(
    what: str,
    *,
    spill_dir: Path | None = None,
    memory_limit: str | None = None,
    settings: Mapping[str, str | bool | int] | None = None,
) -> Iterator[Any]:
    """A DuckDB connection that spills to a new folder under ``spill_dir`` (default: the
    system's), with ``memory_limit`` and ``settings``; closed and the folder removed after.
    DuckDB running out of memory in the block is :class:`EngineOutOfMemory`, naming
    ``what`` it was making and how to give it more."""
    import duckdb

    if spill_dir is not None:
        spill_dir.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="sahelwire-duckdb-", dir=spill_dir) as spill:
        config: dict[str, str | bool | int | float | list[str]] = {"temp_directory": spill}
        config.update(settings or {})
        if memory_limit is not None:
            config["memory_limit"] = memory_limit
        con = duckdb.connect(config=config)
        try:
            yield con
        except duckdb.OutOfMemoryException:
            raise EngineOutOfMemory(
                f"DuckDB needed more than its memory limit ({memory_limit or 'its default'}) "
                f"{what}; set a larger one with SAHELWIRE_DUCKDB_MEMORY (a size such as 16GB) "
                "or free memory"
            ) from None
        finally:
            con.close()


def duckdb_raw_batches(
    sources: Mapping[str, Path],
    schema: pa.Schema,
    *,
    spill_dir: Path | None = None,
    memory_limit: str | None = None,
    threads: int | None = None,
    range_rows: int | None = None,
    few_articles: bool = False,
) -> Iterator[tuple[str, pa.Table]]:
    """``annotations_raw`` as (split, table of up to ARROW_BATCH_ROWS rows), split by split,
    in published order and schema, computed by DuckDB from the files of
    :func:`write_raw_sources`.

    Concatenated per split: the tables of ``ReleaseTableBuilder.raw_tables(raw_frame(layers),
    ...)``. DuckDB streams the files; with ``memory_limit`` its sort spills to a temporary
    folder made under ``spill_dir`` (default: the system's), so a caller that writes each
    batch as it comes holds one batch, not the split (issue 17, item 3; ``duckdb_stream``
    in docs/columnar.md).

    ``few_articles``: the ``splits`` file names a few of the articles the other files hold
    rows of (``release.raw_cache``: the changed ones); each file is then cut to them first,
    once, not joined and cast whole by every query to have most rows dropped by its last join.
    """
    settings: dict[str, str | bool | int] = {}
    if memory_limit is not None:
        # The ORDER BY is total (it ends with _part, _row), so the rows' order is its
        # own whatever the engine does; keeping scan order on top cost the memory that
        # made the 100k sort fail at 2GB and at 4GB (docs/benchmarks.md).
        settings["preserve_insertion_order"] = False
    if threads is not None:
        settings["threads"] = threads
    with duckdb_connection(
        "to sort annotations_raw", spill_dir=spill_dir, memory_limit=memory_limit, settings=settings
    ) as con:
        for name in RAW_SOURCES:
            relation = con.read_parquet(str(sources[name]))
            if few_articles and name != "splits":
                # Cut once into a table of DuckDB's (spilled past its memory limit like the
                # sort): a view would read the whole file again for every query.
                relation.join(
                    con.read_parquet(str(sources["splits"])).project("article_id"),
                    "article_id",
                    how="semi",
                ).create(name)
            else:
                relation.create_view(name)
        for split in SPLITS:
            # Kept in DuckDB's batches, not combined into one chunk per column: the
            # Parquet bytes do not depend on the chunking (test_columnar), and a
            # combined copy of a split costs more than the query (issue 17 bench).
            for articles in article_ranges(con, split, range_rows):
                sql = raw_sql(split, articles=articles)
                reader = con.sql(sql).to_arrow_reader(ARROW_BATCH_ROWS)
                for table in article_pieces(reader):
                    yield split, table.select(schema.names).cast(schema)


def duckdb_raw_tables(
    layers: AnnotationLayers, splits: Mapping[str, str], specs: TableSpecs, schema: pa.Schema
) -> dict[str, pa.Table]:
    """``annotations_raw`` per split, whole, in the published schema, computed by DuckDB."""
    parts: dict[str, list[pa.Table]] = {split: [] for split in SPLITS}
    with tempfile.TemporaryDirectory(prefix="sahelwire-raw-sources-") as folder:
        sources = write_raw_sources(layers, splits, specs, Path(folder))
        for split, table in duckdb_raw_batches(sources, schema):
            parts[split].append(table)
    return {
        split: pa.concat_tables(parts[split]) if parts[split] else schema.empty_table()
        for split in SPLITS
    }
