"""The distributed path: published tables validated and written as Parquet splits by Spark.

Optional (``pip install -e '.[spark]'``). The pandera schemas are derived from schemas/
(``table_specs`` + taxonomy) exactly as ``sahelwire.schema.pandera_schemas`` derives the polars ones,
but for pandera's pyspark.sql backend, so a Spark cluster checks the same columns, types,
nullability and value rules. Nested list<struct> columns are carried as they are and not
typed by pandera (same limitation as the polars path, pandera #823).

Scope today: the tables themselves are still assembled by ``ReleaseTableBuilder`` in Python;
Spark distributes validation and the Parquet write of each config/split.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pandera.pyspark as ps
import pyarrow as pa
from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import types as T

from sahelwire.annotations.layers import load_annotation_layers, raw_frame
from sahelwire.io.config import Settings
from sahelwire.io.paths import ProjectPaths
from sahelwire.raw.manifest import load_articles
from sahelwire.release.splits import assign_splits, read_story_clusters
from sahelwire.release.tables import ReleaseInputs, ReleaseTableBuilder
from sahelwire.schema.registries import load_registries
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


def write_splits(
    spark: SparkSession,
    tables: dict[str, dict[str, pa.Table]],
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
            if table.num_rows == 0:
                continue
            df = to_spark(spark, table)
            found = validation_errors(df, configs[name], taxonomy)
            if found:
                errors.setdefault(name, {})[split] = found
                continue
            df.coalesce(1).write.mode("errorifexists").option("compression", "zstd").parquet(
                str(out / name / split)
            )
    return errors


def published_tables(paths: ProjectPaths) -> dict[str, dict[str, pa.Table]]:
    """config -> split -> published Arrow table, assembled as ``build.render_release`` does.

    The Spark test compares what Spark writes from these with the normal build's files, so
    any drift between this and the build shows up there.
    """
    settings = Settings.load(paths)
    taxonomy = load_taxonomy(paths.taxonomy_file)
    shapes = ShapeBuilder(load_table_specs(paths.tables_file), taxonomy)
    articles = load_articles(paths)
    clusters = read_story_clusters(paths.story_clusters_file, [a.id for a in articles])
    splits = assign_splits(clusters, settings.split_ratios, settings.split_seed)
    layers = load_annotation_layers(paths, taxonomy)
    inputs = ReleaseInputs(
        articles, splits, clusters, layers.gold, raw_frame(layers), load_registries(paths)
    )
    return ReleaseTableBuilder(shapes).tables(inputs)
