"""The per-span configs (``mentions``, ``events``, ``quantities``) as SQL texts.

The next slice of the columnar core (issue 17 item 1; docs/columnar.md). With
``[tool.sahelwire] build_engine = "duckdb"`` the build makes these configs here instead of
from the Python rows of ``ReleaseTableBuilder.rows``; both give the same rows in the same
order, hence the same Parquet bytes (tests/release/test_columnar.py), and ``spark.sql``
runs the very same texts through the same :func:`sql_span_tables` (tests/release/
test_spark.py).

What the rows are, as ``rows()`` makes them:

- one row per gold span of the layer, of the articles being published, in the order
  articles by id, then ``_rows_by_article``'s (start, end, label);
- ``mention_id`` is ``<article_id>:<region_key>`` (``tables.mention_id``);
- ``zone`` is the zone the span *starts* in, as ``tables._ZoneOf`` finds it: the last of
  ``ner_bio.zone_segments`` whose start is at or before the span's start, BODY when there is
  none. The segments are each zone in (start, end, label) order, a BODY segment before a
  zone that starts after the furthest end so far (the "cursor"), and a trailing BODY one
  from the cursor when it is short of the text's end. A zone nested in another one is its
  own segment and the outer zone does not resume after it: a span after the inner zone's
  end, still inside the outer zone, gets the inner zone's label. The SQL keeps that rule
  (a range join on start <= span start, the last segment in list order), not "the zone
  that covers the span";
- class labels are indices into the taxonomy's names, given to SQL as the small table
  ``classes`` (path, name, idx), built here in Python. The unit is mapped from the
  annotated text by ``Attribute.unit_of`` (aliases, case folding), so ``classes`` carries
  each distinct annotated unit that maps to a unit, rather than SQL redoing ``casefold``.

The SQL is in the subset DuckDB and Spark SQL share (window ``MAX ... ROWS BETWEEN``,
``ROW_NUMBER``, ``max_by``, ``||``, back-quoted names).

``events`` nests its ``arguments`` (an ordered list of structs), which the shared subset
cannot build: the two engines share no struct constructor (DuckDB has ``struct_pack``/
``{...}`` and no ``named_struct``/``struct(a AS x)``; Spark the reverse) nor a lambda
function to drop the sort keys from sorted structs (DuckDB ``list_transform``, Spark
``transform``). So SQL gives two flat results in the same order, :func:`event_sql` (one row
per event, with its number of arguments) and :func:`argument_sql` (one row per argument,
event by event, each event's in ``rows()``' order: target key, then role), and
:func:`nest_arguments` nests them in Arrow (list offsets from the counts), the same Python
for every engine. Both texts take the arguments from one CTE (:func:`_arguments_sql`), so
the counts and the rows cannot disagree.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterable, Iterator, Mapping
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc

from sahelwire.io.config import SPLITS
from sahelwire.raw.manifest import Article
from sahelwire.release.columnar import ARROW_BATCH_ROWS, article_pieces, duckdb_connection
from sahelwire.release.gold_files import GoldFiles, GoldSource, gold_column
from sahelwire.schema.taxonomy import BODY_ZONE, Taxonomy

# Articles per span SQL query (duckdb_span_pieces): DuckDB's memory grows with them.
SPAN_RANGE_ARTICLES = 10_000
# The configs this module makes, in the order the build asks for them.
SPAN_CONFIGS = ("mentions", "events", "quantities")
# The configs that are one SQL text each (:func:`span_sql`); events is two (module docstring).
FLAT_CONFIGS = ("mentions", "quantities")
# The tables the SQL reads (view names).
SPAN_SOURCES = ("gold_regions", "gold_relations", "span_articles", "classes")
# config -> the gold layer its rows are.
_LAYER = {"mentions": "entities", "events": "events", "quantities": "quantities"}
# classes.path -> the taxonomy path of an events attribute's names.
_EVENT_CLASSES = {
    "realis": "span_layers.events.attributes.realis",
    "role": "span_layers.events.relations",
    "target_layer": "span_layers.events.relations.to_layers",
}


def _segments_sql(src: Mapping[str, str], layer: str) -> str:
    """CTEs ``segments`` (article_id, seg_start, pos, zone) and ``located`` (each span of
    ``layer`` with the zone it starts in), the rule of ``tables._ZoneOf`` (module docstring)."""
    regions, articles = src["gold_regions"], src["span_articles"]
    # k: the zone's place in (start, end, label) order; cursor: the furthest end of the
    # zones before it (0 for the first), as zone_segments' running max.
    order = "PARTITION BY z.article_id ORDER BY z.`start`, z.`end`, z.label"
    return f"""
zones AS (
  SELECT z.article_id, z.`start`, z.`end`, z.label,
         ROW_NUMBER() OVER ({order}) AS k,
         COALESCE(MAX(z.`end`) OVER ({order}
           ROWS BETWEEN UNBOUNDED PRECEDING AND 1 PRECEDING), 0) AS cursor
  FROM {regions} z WHERE z.layer = 'zones'
),
reach AS (
  SELECT article_id, MAX(`end`) AS cursor, MAX(k) AS n FROM zones GROUP BY article_id
),
segments AS (
  SELECT article_id, `start` AS seg_start, 2 * k AS pos, label AS zone FROM zones
  UNION ALL
  SELECT article_id, cursor, 2 * k - 1, '{BODY_ZONE}' FROM zones WHERE `start` > cursor
  UNION ALL
  SELECT r.article_id, r.cursor, 2 * r.n + 1, '{BODY_ZONE}'
  FROM reach r JOIN {articles} a ON r.article_id = a.article_id
  WHERE r.cursor < a.text_length
),
located AS (
  SELECT s.article_id, s.region_key, max_by(g.zone, g.pos) AS zone
  FROM {regions} s JOIN segments g
    ON s.article_id = g.article_id AND g.seg_start <= s.`start`
  WHERE s.layer = '{layer}'
  GROUP BY s.article_id, s.region_key
)"""


def span_sql(config: str, source: Mapping[str, str] | None = None) -> str:
    """SELECT the ``config`` rows (one of :data:`FLAT_CONFIGS`) in published order, split by split.

    One query for every split (the zone join is done once): rows are ordered by
    ``split_index`` (the split's place in ``io.config.SPLITS``) first, so each split is a
    slice of the result (:func:`split_slices`).
    ``source``: view name of each of :data:`SPAN_SOURCES` (default: the names themselves).
    ``config`` is checked: it is put in the text.
    """
    if config not in FLAT_CONFIGS:
        raise ValueError(f"unknown span config {config!r}")
    src = _sources(source)
    layer, classes = _LAYER[config], src["classes"]
    label = "label" if config == "mentions" else "quantity_type"
    if config == "mentions":
        extra = "s.entity_id"
        joins = ""
    else:
        # unit: -1 when none was typed or it maps to no unit; bound: -1 when not annotated
        # (an unknown bound stays null, so the published validation refuses it).
        extra = (
            "s.`value`, COALESCE(uc.idx, -1) AS unit, s.unit AS unit_annotated, "
            "s.approximate, CASE WHEN s.bound IS NULL THEN -1 ELSE bc.idx END AS bound"
        )
        joins = (
            f"LEFT JOIN {classes} uc ON uc.path = 'unit' AND uc.name = s.unit\n"
            f"  LEFT JOIN {classes} bc ON bc.path = 'bound' AND bc.name = s.bound"
        )
    return f"""
WITH {_segments_sql(src, layer)}
SELECT a.split_index, s.article_id || ':' || s.region_key AS mention_id, s.article_id,
       zc.idx AS zone, s.`start`, s.`end`, s.text, lc.idx AS {label}, {extra}
FROM {src["gold_regions"]} s
  JOIN {src["span_articles"]} a ON s.article_id = a.article_id
  LEFT JOIN located l ON s.article_id = l.article_id AND s.region_key = l.region_key
  LEFT JOIN {classes} zc ON zc.path = 'zone' AND zc.name = COALESCE(l.zone, '{BODY_ZONE}')
  LEFT JOIN {classes} lc ON lc.path = '{layer}' AND lc.name = s.label
  {joins}
WHERE s.layer = '{layer}'
ORDER BY a.split_index, s.article_id, s.`start`, s.`end`, s.label
"""


def _sources(source: Mapping[str, str] | None) -> dict[str, str]:
    return {name: (source or {}).get(name, name) for name in SPAN_SOURCES}


def _arguments_sql(src: Mapping[str, str]) -> str:
    """CTE ``event_arguments``: each gold relation from an event of an article being
    published to a region of the same article, with the published columns of the argument
    and its event's sort keys (as ``rows()``: a relation is an argument of the event its
    ``from_key`` names; its target is the region its ``to_key`` names)."""
    regions, classes = src["gold_regions"], src["classes"]
    return f"""
event_arguments AS (
  SELECT a.split_index, r.article_id, r.from_key,
         e.`start` AS event_start, e.`end` AS event_end, e.label AS event_label,
         r.to_key, r.label AS role_name,
         rc.idx AS `role`, r.article_id || ':' || r.to_key AS target_mention_id,
         tc.idx AS target_layer, t.entity_id AS target_entity_id,
         t.`start`, t.`end`, t.text
  FROM {src["gold_relations"]} r
    JOIN {src["span_articles"]} a ON r.article_id = a.article_id
    JOIN {regions} e
      ON e.article_id = r.article_id AND e.region_key = r.from_key AND e.layer = 'events'
    JOIN {regions} t ON t.article_id = r.article_id AND t.region_key = r.to_key
    LEFT JOIN {classes} rc ON rc.path = 'role' AND rc.name = r.label
    LEFT JOIN {classes} tc ON tc.path = 'target_layer' AND tc.name = t.layer
)"""


def event_sql(source: Mapping[str, str] | None = None) -> str:
    """SELECT the ``events`` rows without ``arguments``, with ``n_arguments`` (their count),
    in published order, every split (as :func:`span_sql`)."""
    src = _sources(source)
    classes = src["classes"]
    return f"""
WITH {_segments_sql(src, "events")},
{_arguments_sql(src)},
counts AS (
  SELECT article_id, from_key, COUNT(*) AS n FROM event_arguments
  GROUP BY article_id, from_key
)
SELECT a.split_index, s.article_id || ':' || s.region_key AS mention_id, s.article_id,
       zc.idx AS zone, s.`start`, s.`end`, s.text, lc.idx AS event_type,
       rc.idx AS realis, s.event_id, COALESCE(n.n, 0) AS n_arguments
FROM {src["gold_regions"]} s
  JOIN {src["span_articles"]} a ON s.article_id = a.article_id
  LEFT JOIN located l ON s.article_id = l.article_id AND s.region_key = l.region_key
  LEFT JOIN {classes} zc ON zc.path = 'zone' AND zc.name = COALESCE(l.zone, '{BODY_ZONE}')
  LEFT JOIN {classes} lc ON lc.path = 'events' AND lc.name = s.label
  LEFT JOIN {classes} rc ON rc.path = 'realis' AND rc.name = s.realis
  LEFT JOIN counts n ON s.article_id = n.article_id AND s.region_key = n.from_key
WHERE s.layer = 'events'
ORDER BY a.split_index, s.article_id, s.`start`, s.`end`, s.label
"""


def argument_sql(source: Mapping[str, str] | None = None) -> str:
    """SELECT every event's arguments, events in :func:`event_sql`'s order, each event's in
    ``rows()``' (target key, then role); a full tie is the same argument twice."""
    return f"""
WITH {_arguments_sql(_sources(source))}
SELECT split_index, `role`, target_mention_id, target_layer, target_entity_id,
       `start`, `end`, text
FROM event_arguments
ORDER BY split_index, article_id, event_start, event_end, event_label, to_key, role_name
"""


def nest_arguments(events: pa.Table, arguments: pa.Table, schema: pa.Schema) -> pa.Table:
    """:func:`event_sql`'s rows with :func:`argument_sql`'s nested as their ``arguments``.

    Event i's arguments are the next ``n_arguments[i]`` rows of ``arguments`` (both are in
    published order): list offsets are the running sum of the counts. ``schema``: the
    published events schema, whose ``arguments`` struct fields are taken, in order, from
    ``arguments``. The result keeps ``split_index`` for :func:`split_slices`.
    """
    counts = events.column("n_arguments").cast(pa.int32())
    total = pc.sum(counts).as_py() or 0
    if total != arguments.num_rows:
        raise ValueError(f"events count {total} arguments, but {arguments.num_rows} were given")
    list_type = schema.field("arguments").type
    struct = list_type.value_type
    values = pa.StructArray.from_arrays(
        [arguments.column(f.name).combine_chunks().cast(f.type) for f in struct],
        fields=list(struct),
    )
    offsets = pa.concat_arrays(
        [pa.array([0], pa.int32()), pc.cumulative_sum(counts).combine_chunks()]
    )
    nested = pa.ListArray.from_arrays(offsets, values, type=list_type)
    return events.drop_columns(["n_arguments"]).append_column("arguments", nested)


class _Rows:
    """A result's rows handed out ``n`` at a time, in order, a batch fetched when needed."""

    def __init__(self, reader: pa.RecordBatchReader) -> None:
        self.reader, self.schema = iter(reader), reader.schema
        self.rest: pa.Table | None = None

    def take(self, n: int) -> pa.Table:
        """The next ``n`` rows (fewer when the result ends)."""
        parts: list[pa.Table] = []
        while n > 0:
            if self.rest is None or self.rest.num_rows == 0:
                batch = next(self.reader, None)
                if batch is None:
                    break
                self.rest = pa.Table.from_batches([batch])
            part = self.rest.slice(0, n)
            self.rest = self.rest.slice(part.num_rows)
            parts.append(part)
            n -= part.num_rows
        return pa.concat_tables(parts) if parts else self.schema.empty_table()

    def left(self) -> int:
        """How many rows were never taken (reads the rest of the result)."""
        rest = self.rest.num_rows if self.rest is not None else 0
        return rest + sum(batch.num_rows for batch in self.reader)


def _event_pieces(
    events: pa.RecordBatchReader,
    arguments: pa.RecordBatchReader,
    schema: pa.Schema,
    min_rows: int,
) -> Iterator[pa.Table]:
    """:func:`event_sql`'s rows a piece at a time (:func:`article_pieces`), each with its
    events' arguments nested: the next rows of :func:`argument_sql`'s result, the two being
    read side by side."""
    rows = _Rows(arguments)
    for piece in article_pieces(events, min_rows):
        n = pc.sum(piece.column("n_arguments")).as_py() or 0
        yield nest_arguments(piece, rows.take(n), schema)
    left = rows.left()
    if left:
        raise ValueError(f"the events counted {left} arguments fewer than were given")


def sql_span_pieces(
    run: Callable[[str], pa.RecordBatchReader],
    schemas: Mapping[str, pa.Schema],
    configs: Iterable[str] = SPAN_CONFIGS,
    *,
    min_rows: int = ARROW_BATCH_ROWS,
    source: Mapping[str, str] | None = None,
) -> Iterator[tuple[str, str, pa.Table]]:
    """(config, split, table in the published schema) for ``configs``, config by config, each
    config's rows in published order: concatenated per split, the tables of
    :func:`sql_span_tables`. A table holds whole articles (:func:`article_pieces`) and is
    empty for none: a split without rows gets no table.

    ``run``: executes one SQL text of this module on the engine where :func:`span_sources`
    are registered under their names, and returns a reader of its result; the events'
    two texts are read side by side, so two results of ``run`` must be readable at once
    (DuckDB: a cursor each). ``source``: the view names the texts read (as :func:`span_sql`).
    """
    for config in configs:
        if config == "events":
            pieces = _event_pieces(
                run(event_sql(source)), run(argument_sql(source)), schemas[config], min_rows
            )
        else:
            pieces = article_pieces(run(span_sql(config, source)), min_rows)
        for piece in pieces:
            for split, part in split_slices(piece, schemas[config]).items():
                if part.num_rows:
                    yield config, split, part


def sql_span_tables(
    run: Callable[[str], pa.Table],
    schemas: Mapping[str, pa.Schema],
    configs: Iterable[str] = SPAN_CONFIGS,
) -> dict[str, dict[str, pa.Table]]:
    """config -> split -> Arrow table in the published schema, for ``configs``: the pieces of
    :func:`sql_span_pieces`, whole.

    ``run``: executes one SQL text of this module on the engine where :func:`span_sources`
    are registered under their names, and returns its result as an Arrow table (``spark.sql``
    in the Spark test).
    """
    configs = tuple(configs)

    def reader(sql: str) -> pa.RecordBatchReader:
        table = run(sql)
        return pa.RecordBatchReader.from_batches(table.schema, table.to_batches())

    return whole_span_tables(sql_span_pieces(reader, schemas, configs), schemas, configs)


def whole_span_tables(
    pieces: Iterable[tuple[str, str, pa.Table]],
    schemas: Mapping[str, pa.Schema],
    configs: Iterable[str] = SPAN_CONFIGS,
) -> dict[str, dict[str, pa.Table]]:
    """config -> split -> the (config, split, table) ``pieces`` concatenated; an empty table
    of the config's schema for a split that had none (tests and scripts compare whole tables:
    ``whole_span_tables(duckdb_span_pieces(...), schemas)``)."""
    parts: dict[str, dict[str, list[pa.Table]]] = {c: {s: [] for s in SPLITS} for c in configs}
    for config, split, table in pieces:
        parts[config][split].append(table)
    return {
        config: {
            split: pa.concat_tables(tables) if tables else schemas[config].empty_table()
            for split, tables in by_split.items()
        }
        for config, by_split in parts.items()
    }


def split_slices(table: pa.Table, schema: pa.Schema) -> dict[str, pa.Table]:
    """:func:`span_sql`'s result as one table per split, in the published ``schema``.

    The rows of a split are contiguous (ordered by ``split_index``): each split is a
    zero-copy slice.
    """
    counts: dict[int, int] = {
        item["values"]: item["counts"]
        for item in pc.value_counts(table.column("split_index")).to_pylist()
    }
    out, at = {}, 0
    typed = table.select(schema.names).cast(schema)
    for index, split in enumerate(SPLITS):
        out[split] = typed.slice(at, counts.get(index, 0))
        at += counts.get(index, 0)
    return out


def class_rows(taxonomy: Taxonomy, annotated_units: Iterable[str | None]) -> pa.Table:
    """The ``classes`` table: (path, name, idx) for every class label the SQL maps.

    ``annotated_units``: the units as typed in gold; each one ``unit_of`` maps gets a row
    ``('unit', typed, index of its unit)``.
    """
    rows: list[tuple[str, str, int]] = []

    def add(path: str, names: Iterable[str]) -> None:
        rows.extend((path, name, i) for i, name in enumerate(names))

    add("zone", taxonomy.class_names("zone:span_layers.zones"))
    for layer in _LAYER.values():
        add(layer, taxonomy.class_names(f"span_layers.{layer}"))
    for kind, taxonomy_path in _EVENT_CLASSES.items():
        add(kind, taxonomy.class_names(taxonomy_path))
    add("bound", taxonomy.class_names("span_layers.quantities.attributes.bound"))
    unit_attr = taxonomy.layer("quantities").attribute("unit")
    if unit_attr is not None:
        units = {
            name: i
            for i, name in enumerate(taxonomy.class_names("span_layers.quantities.attributes.unit"))
        }
        for typed in sorted({u for u in annotated_units if u is not None}):
            unit = unit_attr.unit_of(typed)
            if unit is not None:
                rows.append(("unit", typed, units[unit]))
    path, name, idx = zip(*rows, strict=True) if rows else ((), (), ())
    return pa.table(
        {"path": list(path), "name": list(name), "idx": list(idx)},
        schema=pa.schema([("path", pa.string()), ("name", pa.string()), ("idx", pa.int64())]),
    )


def span_sources(
    gold: GoldSource,
    articles: Iterable[Article],
    splits: Mapping[str, str],
    taxonomy: Taxonomy,
) -> dict[str, Any]:
    """The Arrow tables the SQL texts read (:data:`SPAN_SOURCES`): gold's regions and
    relations, and the two below.

    ``span_articles``: the articles being published, with their split and their text's
    length in code points (Python's ``len``: where the trailing BODY segment ends).
    Gold on disk (``GoldFiles``) is given as the paths of its files, which DuckDB reads
    itself (the SQL orders every result fully: the files' order is not the gold's). A
    pyarrow dataset of them instead took 3.5 x the memory and 5 x the time at 10k.
    """
    if isinstance(gold, GoldFiles):
        regions: Any = gold.path("regions")
        relations: Any = gold.path("relations")
    else:
        regions, relations = gold.regions.to_arrow(), gold.relations.to_arrow()
    units = list(dict.fromkeys(gold_column(gold, "regions", "unit")))
    ids, lengths = [], []
    for art in articles:
        ids.append(art.id)
        lengths.append(art.n_chars)  # from the manifest row: no text is read
    split_index = {split: i for i, split in enumerate(SPLITS)}
    return {
        "gold_regions": regions,
        "gold_relations": relations,
        "span_articles": pa.table(
            {
                "article_id": ids,
                "split_index": [split_index[splits[i]] for i in ids],
                "text_length": lengths,
            },
            schema=pa.schema(
                [
                    ("article_id", pa.string()),
                    ("split_index", pa.int64()),
                    ("text_length", pa.int64()),
                ]
            ),
        ),
        "classes": class_rows(taxonomy, units),
    }


def _range_sources(sources: Mapping[str, Any], first: str, last: str) -> dict[str, Any]:
    """:func:`span_sources` restricted to the articles with ids from ``first`` to ``last``
    (files stay paths, filtered by DuckDB); ``classes`` is the same for every range."""
    out: dict[str, Any] = {}
    for name, table in sources.items():
        if isinstance(table, Path) or name == "classes":
            out[name] = table
        else:
            ids = table.column("article_id")
            out[name] = table.filter(
                pc.and_(pc.greater_equal(ids, first), pc.less_equal(ids, last))
            )
    return out


def _annotated_ids(con: Any, sources: Mapping[str, Any]) -> list[str]:
    """The ids, sorted, of the articles being published that have a gold region: every row
    of the span configs is one of their regions (or an argument between two), so ranges of
    them are all the span SQL needs. At 1M articles, 10% annotated, ranges of every
    published article ran ten times as many queries, nine in ten of them over no gold."""
    regions = sources["gold_regions"]
    if isinstance(regions, Path):
        found = con.read_parquet(str(regions)).project("article_id").distinct().to_arrow_table()
        with_gold = found.column("article_id")
    else:
        with_gold = pc.unique(regions.column("article_id"))
    published = sources["span_articles"].column("article_id")
    return sorted(published.filter(pc.is_in(published, value_set=with_gold)).to_pylist())


def span_source_digests(
    gold: GoldFiles, articles: Iterable[Article], splits: Mapping[str, str], fingerprint: str
) -> dict[tuple[str, str], str]:
    """(config, split) -> a digest of what :func:`duckdb_span_pieces` makes its rows from:
    ``fingerprint`` (this module's code and its imports', the versions, every file of
    ``schemas/``: ``memo_keys.code_fingerprint``), the gold's regions and relations files
    (BLAKE3 of their bytes; the class table is the taxonomy's and the gold's units) and every
    published article's id, split and length. The same digest gives the same rows, so the
    build places the last build's file made from it (``release.parquet_reuse``) and runs no
    SQL for it. One digest for every split: any change makes them all again."""
    from blake3 import blake3

    digest = hashlib.sha256(f"sahelwire span rows 1\0{fingerprint}\0".encode())
    for table in ("regions", "relations"):
        hashed = blake3()
        hashed.update_mmap(gold.path(table))
        digest.update(f"{table}\0".encode() + hashed.digest())
    for art in articles:
        digest.update(f"{art.id}\0{splits[art.id]}\0{art.n_chars}\n".encode())
    whole = digest.hexdigest()
    return {
        (config, split): hashlib.sha256(f"{whole}\0{config}\0{split}".encode()).hexdigest()
        for config in SPAN_CONFIGS
        for split in SPLITS
    }


def duckdb_span_pieces(
    gold: GoldSource,
    articles: Iterable[Article],
    splits: Mapping[str, str],
    taxonomy: Taxonomy,
    schemas: Mapping[str, pa.Schema],
    configs: Iterable[str] = SPAN_CONFIGS,
    *,
    spill_dir: Path | None = None,
    memory_limit: str | None = None,
    min_rows: int = ARROW_BATCH_ROWS,
    range_articles: int = SPAN_RANGE_ARTICLES,
) -> Iterator[tuple[str, str, pa.Table]]:
    """:func:`sql_span_pieces` computed by DuckDB, ``range_articles`` annotated articles (in
    id order; :func:`_annotated_ids`) at a time: (config, split, table) as DuckDB's batches come, ranges one after the other
    (so the configs interleave; each (config, split)'s pieces stay in published order). A
    caller that writes each piece holds one piece, not the config (the tables whole, then
    one query over the whole corpus, were the published phase's peak at 100k,
    docs/benchmarks.md).

    ``memory_limit``: DuckDB's, past which it spills to a folder made under ``spill_dir``
    (as ``columnar.duckdb_raw_batches``).
    """
    import duckdb

    configs = tuple(configs)
    sources = span_sources(gold, articles, splits, taxonomy)
    with duckdb_connection(
        "for the span configs", spill_dir=spill_dir, memory_limit=memory_limit
    ) as con:
        cursors: list[Any] = []
        try:
            ids = _annotated_ids(con, sources)
            ranges = [
                (ids[lo], ids[min(lo + range_articles, len(ids)) - 1])
                for lo in range(0, len(ids), range_articles)
            ]
            for i, (first, last) in enumerate(ranges):
                # A range of articles at a time: the whole 100k corpus in one query held
                # ≈2.2 GB of DuckDB's memory, and its window and range join do not spill
                # (it failed under a 1GB limit). Ranges in id order give each split's rows
                # in its published order, one range after the other.
                names = {name: f"{name}_{i}" for name in SPAN_SOURCES}
                names["classes"] = "classes"
                mine = _range_sources(sources, first, last)
                for name, table in mine.items():
                    if isinstance(table, Path):  # gold on disk: DuckDB reads the file itself
                        # A view of the database, seen by every cursor.
                        column = duckdb.ColumnExpression("article_id")
                        within = (column >= duckdb.ConstantExpression(first)) & (
                            column <= duckdb.ConstantExpression(last)
                        )
                        con.read_parquet(str(table)).filter(within).create_view(names[name])

                def run(
                    sql: str, mine: dict[str, Any] = mine, names: dict[str, str] = names
                ) -> pa.RecordBatchReader:
                    # A cursor per result: the events' two are read side by side, and a
                    # connection streams one result at a time. Arrow tables registered are
                    # the cursor's own, so each registers them.
                    cursor = con.cursor()
                    cursors.append(cursor)
                    for name, table in mine.items():
                        if not isinstance(table, Path):
                            cursor.register(names[name], table)
                    # DuckDB's batches as they come: the Parquet bytes do not depend on the
                    # chunking (test_columnar).
                    return cursor.sql(sql).to_arrow_reader(ARROW_BATCH_ROWS)

                yield from sql_span_pieces(run, schemas, configs, min_rows=min_rows, source=names)
                for cursor in cursors:
                    cursor.close()
                cursors.clear()
        finally:
            for cursor in cursors:
                cursor.close()
