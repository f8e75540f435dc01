"""The distributed path: published tables validated and written as Parquet splits by Spark.

Optional (``pip install -e '.[spark]'``). The pandera schemas are derived from schemas/
(``table_specs`` + taxonomy) exactly as ``sahelwire.schema.pandera_schemas`` derives the polars ones,
but for pandera's pyspark.sql backend, so a Spark cluster checks the same columns, types,
nullability and value rules. Nested list<struct> columns are carried as they are and not
typed by pandera (same limitation as the polars path, pandera #823).

The per-article configs that Python makes (``documents``, which nests every span layer, and
``ner_bio``, which tokenizes every text: most of a build's published phase) are made by
Spark tasks (:func:`per_article_frames`): each task runs ``ReleaseTableBuilder.rows``, the
local build's own code, on its range of articles, whose texts and gold travel as rows of a
Spark DataFrame. ``annotations_raw`` and the span configs are SQL texts that Spark runs
unchanged (``release.columnar``, ``release.columnar_spans``); the registries and folds
(one row per registry entry or article) are still made on the driver. :func:`spark_tables`
gives every config so; Spark then validates each config/split with the pandera rules and
writes it (:func:`write_splits`).
"""

from __future__ import annotations

import hashlib
import json
import math
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pandera.pyspark as ps
import polars as pl
import pyarrow as pa
import pyarrow.parquet as pq
from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F
from pyspark.sql import types as T
from pyspark.sql.pandas.types import from_arrow_schema

from sahelwire.annotations.gold_layer import (
    CHOICE_SCHEMA,
    REGION_SCHEMA,
    RELATION_SCHEMA,
    STATUS_SCHEMA,
    GoldLayer,
)
from sahelwire.io.config import SPLITS
from sahelwire.io.paths import ProjectPaths
from sahelwire.raw.manifest import Article
from sahelwire.release.build import PlannedRelease
from sahelwire.release.columnar import raw_sources, raw_sql
from sahelwire.release.columnar_spans import SPAN_CONFIGS, span_sources, sql_span_tables
from sahelwire.release.gold_files import GoldFiles, GoldSource, gold_between
from sahelwire.release.tables import CHUNK_ARTICLES, ReleaseInputs, ReleaseTableBuilder
from sahelwire.schema.table_specs import ColumnSpec, ShapeBuilder, TableSpec, load_table_specs
from sahelwire.schema.taxonomy import Taxonomy, load_taxonomy

_SPARK: dict[str, Any] = {
    "string": T.StringType(),
    "int32": T.IntegerType(),
    "int64": T.LongType(),
    "float64": T.DoubleType(),
    "bool": T.BooleanType(),
}


def _spark_checks(col: ColumnSpec, taxonomy: Taxonomy) -> list[ps.Check]:
    checks: list[ps.Check] = []
    c = col.checks
    if "pattern" in c:
        checks.append(ps.Check.str_matches(f"^(?:{c['pattern']})$"))
    if "ge" in c:
        checks.append(ps.Check.ge(c["ge"]))
    if "le" in c:
        checks.append(ps.Check.le(c["le"]))
    if isinstance(col.type, dict) and "class_label" in col.type:
        # Published ClassLabel integers; -1 is the datasets convention for "no label".
        names = taxonomy.class_names(col.type["class_label"])
        checks.append(ps.Check.in_range(-1 if col.nullable else 0, len(names) - 1))
    return checks


def _spark_dtype(col: ColumnSpec) -> Any:
    if isinstance(col.type, str):
        return _SPARK.get(col.type)
    if "class_label" in col.type:
        return T.LongType()
    return None


def spark_schema(table: TableSpec, taxonomy: Taxonomy) -> ps.DataFrameSchema:
    """pandera pyspark.sql schema of a published table's flat columns (from schemas/)."""
    columns = {
        col.name: ps.Column(
            _spark_dtype(col), checks=_spark_checks(col, taxonomy), nullable=col.nullable
        )
        for col in table.columns
        if _spark_dtype(col) is not None
    }
    return ps.DataFrameSchema(columns, name=table.name)


def validation_errors(df: DataFrame, table: TableSpec, taxonomy: Taxonomy) -> dict[str, Any]:
    """pandera's error report for ``df`` (empty when valid); pyspark backend never raises."""
    validated = spark_schema(table, taxonomy).validate(df)
    # getattr: the accessor's type differs with and without pyspark installed.
    errors: dict[str, Any] = dict(getattr(validated, "pandera").errors)  # noqa: B009
    return errors


def to_spark(spark: SparkSession, table: pa.Table) -> DataFrame:
    return spark.createDataFrame(table)


# The per-article configs that Spark tasks make with the build's own Python (see the module
# docstring); the column that carries each row's split out of a task.
TASK_CONFIGS = ("documents", "ner_bio")
SPLIT_COLUMN = "_split"
# The gold tables nested into each article's row, with the schema a task restores them to.
_NESTED_GOLD = {"regions": REGION_SCHEMA, "relations": RELATION_SCHEMA, "choices": CHOICE_SCHEMA}


def article_parts(plan: PlannedRelease, articles_per_part: int) -> Iterator[pa.Table]:
    """One row per published article, sorted by id, holding all its per-article rows are made
    from: id, sha256, manifest row (JSON), text, split, story cluster, ``n_annotators`` (null:
    no gold status) and its gold regions, relations and choices as lists of structs, in the
    gold layer's order; a table of ``articles_per_part`` articles at a time (texts read, and
    checked against their sha256, and gold taken per part, so one part is held at a time)."""
    ordered = sorted(plan.articles, key=lambda a: a.id)
    parts = [
        ordered[lo : lo + articles_per_part] for lo in range(0, len(ordered), articles_per_part)
    ]
    if not parts:
        yield _article_rows([], plan, GoldLayer.empty())
        return
    for part, gold in zip(parts, gold_parts(plan.validated.layers.gold, parts), strict=True):
        yield _article_rows(part, plan, gold)


def gold_parts(gold: GoldSource, parts: list[list[Article]]) -> Iterator[GoldLayer]:
    """The gold of each part (ranges of sorted ids), in the gold layer's order. Gold on disk
    skips to each range's row groups; gold in memory is cut into the parts in one pass over
    each table, not filtered whole once per part (parts x rows: quadratic in the corpus)."""
    if isinstance(gold, GoldFiles):
        for part in parts:
            yield gold_between(gold, part[0].id, part[-1].id)
        return
    firsts = pl.Series([part[0].id for part in parts], dtype=pl.String)
    lasts = pl.Series([part[-1].id for part in parts], dtype=pl.String)

    def cut(df: pl.DataFrame) -> dict[int, pl.DataFrame]:
        if not df.height:
            return {}
        # Each row goes to the part whose first id is the last one <= its id; rows past that
        # part's last id (articles not published) are dropped, as gold_between drops them.
        ids = df["article_id"]
        part = firsts.search_sorted(ids, side="right").cast(pl.Int64) - 1
        kept = (part >= 0) & (ids <= lasts.gather(part.clip(lower_bound=0)))
        keyed = df.with_columns(part.alias("_part")).filter(kept)
        frames = keyed.partition_by("_part", maintain_order=True, include_key=False, as_dict=True)
        return {int(key[0]): frame for key, frame in frames.items()}

    tables = {
        name: cut(getattr(gold, name)) for name in ("regions", "relations", "choices", "status")
    }
    empty = {name: getattr(gold, name).clear() for name in tables}
    for i in range(len(parts)):
        yield GoldLayer(*(tables[name].get(i, empty[name]) for name in tables))


def _article_rows(part: list[Article], plan: PlannedRelease, gold: GoldLayer) -> pa.Table:
    table = pl.DataFrame(
        {
            "article_id": [a.id for a in part],
            "sha256": [a.sha256 for a in part],
            "meta": [json.dumps(a.meta, sort_keys=True, ensure_ascii=False) for a in part],
            "text": [a.text for a in part],
            "split": [plan.splits[a.id] for a in part],
            "cluster": [plan.clusters[a.id] for a in part],
        },
        schema={c: pl.String for c in ("article_id", "sha256", "meta", "text", "split", "cluster")},
    )
    for name, schema in _NESTED_GOLD.items():
        # Cast to the gold layer's schema first: every part then has the same struct fields,
        # in the same order, whether it has rows of this table or none.
        frame = getattr(gold, name)
        typed = (
            frame.select(list(schema)).cast(schema) if frame.height else pl.DataFrame(schema=schema)
        )
        nested = typed.group_by("article_id", maintain_order=True).agg(
            pl.struct(pl.exclude("article_id")).alias(name)
        )
        table = table.join(nested, on="article_id", how="left", maintain_order="left")
    status = gold.status.select("article_id", "n_annotators").cast(STATUS_SCHEMA)  # type: ignore[arg-type]
    return table.join(status, on="article_id", how="left", maintain_order="left").to_arrow()


def article_table(plan: PlannedRelease) -> pa.Table:
    """:func:`article_parts`, whole (tests; the driver holds every text)."""
    return pa.concat_tables(article_parts(plan, CHUNK_ARTICLES))


def write_article_parts(plan: PlannedRelease, folder: Path, articles_per_part: int) -> int:
    """:func:`article_parts` written as Parquet files under ``folder`` (created; it must not
    exist), read by Spark from there: on a cluster, a folder every executor sees. The
    driver holds one part at a time. Returns the number of parts."""
    folder.mkdir(parents=True, exist_ok=False)
    count = 0
    for count, part in enumerate(article_parts(plan, articles_per_part), start=1):
        pq.write_table(part, folder / f"part-{count:06d}.parquet")
    return count


def _unnested(frame: pl.DataFrame, name: str) -> pl.DataFrame:
    """The gold table ``name`` of the articles in ``frame`` (:func:`article_table`'s rows)."""
    schema = _NESTED_GOLD[name]
    rows = frame.select("article_id", name).explode(name).drop_nulls(name)
    if not rows.height:
        return pl.DataFrame(schema=schema)
    return rows.unnest(name).select(list(schema)).cast(schema)  # type: ignore[arg-type]


def make_rows(
    config: str, tables_file: str, taxonomy_file: str
) -> Callable[[Iterator[pa.RecordBatch]], Iterator[pa.RecordBatch]]:
    """What a Spark task runs (``DataFrame.mapInArrow``): ``config``'s rows, with their split
    in :data:`SPLIT_COLUMN`, for each batch of :func:`article_table` rows, made by
    ``ReleaseTableBuilder.rows`` as the local build makes them (its ``ner_bio`` without
    worker processes: Spark runs a task per core). Only paths travel to the task; it reads
    the table specs and taxonomy itself."""

    def run(batches: Iterator[pa.RecordBatch]) -> Iterator[pa.RecordBatch]:
        taxonomy = load_taxonomy(Path(taxonomy_file))
        shapes = ShapeBuilder(load_table_specs(Path(tables_file)), taxonomy)
        schema = shapes.arrow_schema(shapes.specs.configs[config], published=True)
        builder = ReleaseTableBuilder(shapes, bio_workers=0)
        for batch in batches:
            if not batch.num_rows:
                continue
            frame = pl.from_arrow(batch)
            assert isinstance(frame, pl.DataFrame)  # a record batch is a frame
            articles = []
            for article_id, sha256, meta, text in frame.select(
                "article_id", "sha256", "meta", "text"
            ).iter_rows():
                if hashlib.sha256(text.encode()).hexdigest() != sha256:
                    raise ValueError(f"{article_id}: the text a task got is not the validated one")
                articles.append(Article(article_id, text, sha256, json.loads(meta)))
            splits = dict(zip(frame["article_id"], frame["split"], strict=True))
            gold = GoldLayer(
                **{name: _unnested(frame, name) for name in _NESTED_GOLD},
                status=frame.filter(pl.col("n_annotators").is_not_null())
                .select("article_id", "n_annotators")
                .cast(STATUS_SCHEMA),  # type: ignore[arg-type]
            )
            inputs = ReleaseInputs(
                articles,
                splits,
                dict(zip(frame["article_id"], frame["cluster"], strict=True)),
                gold,
                pl.DataFrame(),
            )
            others = {*SPAN_CONFIGS, *TASK_CONFIGS} - {config}
            made = builder.rows(inputs, skip=others)[config]
            table = made if isinstance(made, pa.Table) else pa.Table.from_pylist(made, schema)
            split_of = [splits[a] for a in table.column("article_id").to_pylist()]
            table = table.append_column(SPLIT_COLUMN, pa.array(split_of, pa.string()))
            yield from table.to_batches()
        builder.bio_workers.close()

    return run


def per_article_frames(
    spark: SparkSession,
    plan: PlannedRelease,
    shapes: ShapeBuilder,
    paths: ProjectPaths,
    stage: Path,
    *,
    articles_per_task: int = CHUNK_ARTICLES,
) -> dict[str, dict[str, DataFrame]]:
    """config -> split -> Spark DataFrame of :data:`TASK_CONFIGS`, made by Spark tasks of
    ``articles_per_task`` articles (ranges of ids, in order), each split's rows in the
    build's order. Each config's rows are made once (cached) for its three splits.
    ``stage``: a new folder for :func:`write_article_parts`, which Spark reads the articles
    from; it must outlive the frames (they are lazy)."""
    write_article_parts(plan, stage, articles_per_task)
    tasks = max(1, math.ceil(len(plan.articles) / articles_per_task))
    articles = (
        spark.read.parquet(str(stage))
        .repartitionByRange(tasks, "article_id")
        .sortWithinPartitions("article_id")
    )
    out: dict[str, dict[str, DataFrame]] = {}
    for config in TASK_CONFIGS:
        schema = shapes.arrow_schema(shapes.specs.configs[config], published=True)
        made = articles.mapInArrow(
            make_rows(config, str(paths.tables_file), str(paths.taxonomy_file)),
            from_arrow_schema(schema.append(pa.field(SPLIT_COLUMN, pa.string()))),
        ).cache()
        out[config] = {
            split: made.filter(F.col(SPLIT_COLUMN) == split).drop(SPLIT_COLUMN) for split in SPLITS
        }
    return out


def write_splits(
    spark: SparkSession,
    tables: dict[str, dict[str, pa.Table | DataFrame]],
    configs: dict[str, TableSpec],
    taxonomy: Taxonomy,
    out: Path,
) -> dict[str, dict[str, Any]]:
    """Validate every config/split with pandera on Spark and write it under out/config/split.

    Returns the pandera errors per config/split; nothing is written for a table with errors.
    """
    errors: dict[str, dict[str, Any]] = {}
    for name, by_split in tables.items():
        for split, table in by_split.items():
            df = table if isinstance(table, DataFrame) else to_spark(spark, table)
            if df.isEmpty():
                continue
            found = validation_errors(df, configs[name], taxonomy)
            if found:
                errors.setdefault(name, {})[split] = found
                continue
            df.coalesce(1).write.mode("errorifexists").option("compression", "zstd").parquet(
                str(out / name / split)
            )
    return errors


def spark_tables(
    spark: SparkSession,
    plan: PlannedRelease,
    paths: ProjectPaths,
    stage: Path,
    *,
    articles_per_task: int = CHUNK_ARTICLES,
) -> dict[str, dict[str, DataFrame | pa.Table]]:
    """config -> split -> table, every published config as the distributed path makes it:

    - ``annotations_raw`` and the span configs: the build's SQL texts run by ``spark.sql``
      on the same sources (the span configs' event arguments nested by the build's Arrow
      code on the driver, as DuckDB's results are);
    - ``documents`` and ``ner_bio``: :func:`per_article_frames` (the build's Python in Spark
      tasks);
    - the registries and folds: the build's Python on the driver (a row per registry entry
      or article).

    Spark DataFrames or, for what the driver made, Arrow tables (:func:`write_splits` takes
    both). ``plan``: :func:`release.build.plan_release`'s, with the per-annotator layers
    still held (no input sink). ``stage``: see :func:`per_article_frames`.
    """
    validated = plan.validated
    specs, taxonomy = validated.specs, validated.taxonomy
    shapes = ShapeBuilder(specs, taxonomy)

    def published(name: str) -> pa.Schema:
        return shapes.arrow_schema(specs.configs[name], published=True)

    for name, table in raw_sources(validated.layers, plan.splits, specs).items():
        spark.createDataFrame(table).createOrReplaceTempView(name)
    raw_types = from_arrow_schema(published("annotations_raw"))
    out: dict[str, dict[str, DataFrame | pa.Table]] = {
        "annotations_raw": {
            split: spark.sql(raw_sql(split)).select(
                *(F.col(f.name).cast(f.dataType) for f in raw_types.fields)
            )
            for split in SPLITS
        }
    }
    gold = validated.layers.gold
    for name, table in span_sources(gold, plan.articles, plan.splits, taxonomy).items():
        spark.createDataFrame(table).createOrReplaceTempView(name)
    spans = sql_span_tables(
        lambda sql: spark.sql(sql).toArrow(), {name: published(name) for name in SPAN_CONFIGS}
    )
    out.update(spans)
    out.update(
        per_article_frames(spark, plan, shapes, paths, stage, articles_per_task=articles_per_task)
    )
    inputs = ReleaseInputs(
        plan.articles, plan.splits, plan.clusters, gold, pl.DataFrame(), validated.registries
    )
    unsplit = ReleaseTableBuilder(shapes, bio_workers=0).unsplit_tables(
        inputs, {name: published(name) for name in specs.configs}
    )
    for name, table in unsplit.items():
        out[name] = {specs.unsplit: table}
    return {name: out[name] for name in specs.configs}
