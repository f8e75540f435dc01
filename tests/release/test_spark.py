"""The distributed path in Spark local[2] mode: same pandera rules, same Parquet split contents.

Needs the optional ``spark`` extra and Java 17; skipped (with the reason) when absent.
"""

from __future__ import annotations

import dataclasses
import os
import shutil
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import polars as pl
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

try:
    import pandera.pyspark  # noqa: F401
except ImportError as exc:
    # pyspark 4.3's pyspark.pandas (imported by pandera.pyspark) fails on pandas >= 3 with an
    # ImportError, not ModuleNotFoundError: see README, the extra runs in a pandas<3 overlay.
    pytest.skip(f"spark extra not usable in this environment: {exc}", allow_module_level=True)
if shutil.which("java") is None:
    pytest.skip("no java on PATH", allow_module_level=True)

from pyspark.sql import DataFrame, SparkSession

from helpers import copy_project
from sahelwire.annotations.gold_layer import GoldLayer
from sahelwire.io.config import Settings
from sahelwire.io.paths import ProjectPaths
from sahelwire.raw.manifest import Article
from sahelwire.release.build import build, plan_release
from sahelwire.release.columnar import RAW_SOURCES, raw_sources, raw_sql
from sahelwire.release.columnar_spans import (
    SPAN_CONFIGS,
    SPAN_SOURCES,
    span_sources,
    sql_span_tables,
)
from sahelwire.release.gold_files import gold_between
from sahelwire.release.spark import (
    SPLIT_COLUMN,
    TASK_CONFIGS,
    article_parts,
    article_table,
    gold_parts,
    make_rows,
    per_article_frames,
    spark_tables,
    to_spark,
    validation_errors,
    write_splits,
)
from sahelwire.release.tables import ReleaseInputs, ReleaseTableBuilder
from sahelwire.release.validation import ValidatedInputs
from sahelwire.schema.table_specs import ShapeBuilder, load_table_specs
from sahelwire.schema.taxonomy import load_taxonomy

pytestmark = [pytest.mark.slow, pytest.mark.timeout(240)]


@pytest.fixture(scope="module")
def spark(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SparkSession]:
    # Tasks that run Python (mapInArrow) need this venv's, with sahelwire and pyarrow: Spark
    # starts `python3` from PATH otherwise (the `spark.pyspark.python` setting is not read
    # once the session is made from Python; the variable is).
    os.environ["PYSPARK_PYTHON"] = sys.executable
    session = (
        SparkSession.builder.master("local[2]")
        .appName("sahelwire-test")
        .config("spark.ui.enabled", "false")
        .config("spark.driver.bindAddress", "127.0.0.1")
        # Large results are fetched from the driver's block manager at this address (the
        # machine's own otherwise, where nothing listens: seen with annotations_raw at 10k).
        .config("spark.driver.host", "127.0.0.1")
        .config("spark.sql.shuffle.partitions", "2")
        # Spark makes ./spark-warehouse in the working folder otherwise: the checkout's root.
        .config("spark.sql.warehouse.dir", str(tmp_path_factory.mktemp("spark-warehouse")))
        .getOrCreate()
    )
    yield session
    session.stop()


def _rows(path: Path) -> list[dict[str, Any]]:
    rows = pq.read_table(path).to_pylist()
    return sorted(rows, key=repr)


def test_spark_writes_the_same_splits_as_the_build(spark: SparkSession, tmp_path: Path) -> None:
    """Every config as the distributed path makes it (SQL texts on spark.sql, the per-article
    Python in Spark tasks of two articles, registries and folds on the driver), validated by
    pandera on Spark and written by Spark: the build's rows in every file."""
    root = copy_project(tmp_path / "proj")
    paths = ProjectPaths(root)
    build(paths, Settings.load(paths))
    specs = load_table_specs(paths.tables_file)
    taxonomy = load_taxonomy(paths.taxonomy_file)
    plan = plan_release(paths, Settings.load(paths))
    tables = spark_tables(spark, plan, paths, tmp_path / "stage", articles_per_task=2)
    assert list(tables) == list(specs.configs)
    made_by_spark = {
        c for c, by in tables.items() if isinstance(next(iter(by.values())), DataFrame)
    }
    assert made_by_spark == {"annotations_raw", *TASK_CONFIGS}
    errors = write_splits(spark, tables, specs.configs, taxonomy, tmp_path / "spark")
    assert errors == {}
    built = sorted((root / "dist" / "data").rglob("*.parquet"))
    written = {(d.parent.name, d.name) for d in (tmp_path / "spark").glob("*/*")}
    assert written == {(f.parent.name, f.name.split("-")[0]) for f in built}
    for file in built:
        config, split = file.parent.name, file.name.split("-")[0]
        assert _rows(tmp_path / "spark" / config / split) == _rows(file), (config, split)


def test_pandera_on_spark_rejects_what_the_schemas_forbid(
    spark: SparkSession, tmp_path: Path
) -> None:
    root, _, _, _ = _built(tmp_path)
    paths = ProjectPaths(root)
    specs = load_table_specs(paths.tables_file)
    taxonomy = load_taxonomy(paths.taxonomy_file)
    name, spec = "documents", specs.configs["documents"]
    table = pq.read_table(root / "dist" / "data" / name / "train-00000-of-00001.parquet")
    assert table.num_rows
    assert validation_errors(to_spark(spark, table), spec, taxonomy) == {}
    bad = table.to_pylist()
    class_col = next(
        c.name for c in spec.columns if isinstance(c.type, dict) and "class_label" in c.type
    )
    bad[0][class_col] = 99  # no such ClassLabel index
    df = spark.createDataFrame(bad, schema=to_spark(spark, table).schema)
    errors = validation_errors(df, spec, taxonomy)
    assert class_col in repr(errors)


def _built(tmp_path: Path) -> tuple[Path, ValidatedInputs, list[Article], dict[str, str]]:
    """A built copy of the project: its root, validated inputs, articles and splits."""
    root = copy_project(tmp_path / "proj")
    paths = ProjectPaths(root)
    settings = Settings.load(paths)
    build(paths, settings)
    plan = plan_release(paths, settings)
    return root, plan.validated, plan.articles, plan.splits


def test_spark_sql_runs_the_duckdb_text_to_the_same_annotations_raw(
    spark: SparkSession, tmp_path: Path
) -> None:
    """build_engine = "duckdb"'s SQL text, unchanged, on Spark: the build's rows, in order."""
    root, validated, _, splits = _built(tmp_path)
    for name, table in raw_sources(validated.layers, splits, validated.specs).items():
        spark.createDataFrame(table).createOrReplaceTempView(name)
    shapes = ShapeBuilder(validated.specs, validated.taxonomy)
    schema = shapes.arrow_schema(validated.specs.configs["annotations_raw"], published=True)
    assert {t.name for t in spark.catalog.listTables()} >= set(RAW_SOURCES)
    for split in ("train", "validation", "test"):
        got = spark.sql(raw_sql(split)).toArrow().select(schema.names).cast(schema)
        built = pq.read_table(
            root / "dist" / "data" / "annotations_raw" / f"{split}-00000-of-00001.parquet"
        )
        assert built.num_rows
        assert got.to_pylist() == built.to_pylist(), split


def test_spark_sql_runs_the_duckdb_span_text_to_the_same_span_configs(
    spark: SparkSession, tmp_path: Path
) -> None:
    """columnar_spans' SQL texts, unchanged, on Spark, nested by the same Arrow code: the
    build's mentions, events (with their arguments) and quantities, in order, every split."""
    root, validated, articles, splits = _built(tmp_path)
    sources = span_sources(validated.layers.gold, articles, splits, validated.taxonomy)
    for name, table in sources.items():
        spark.createDataFrame(table).createOrReplaceTempView(name)
    assert {t.name for t in spark.catalog.listTables()} >= set(SPAN_SOURCES)
    shapes = ShapeBuilder(validated.specs, validated.taxonomy)
    schemas = {
        config: shapes.arrow_schema(validated.specs.configs[config], published=True)
        for config in SPAN_CONFIGS
    }
    got = sql_span_tables(lambda sql: spark.sql(sql).toArrow(), schemas)
    assert list(got) == list(SPAN_CONFIGS)
    for config in SPAN_CONFIGS:
        for split in ("train", "validation", "test"):
            built = pq.read_table(
                root / "dist" / "data" / config / f"{split}-00000-of-00001.parquet"
            )
            assert built.num_rows, (config, split)
            assert got[config][split].to_pylist() == built.to_pylist(), (config, split)


def test_spark_tasks_make_documents_and_ner_bio_with_the_builds_code(
    spark: SparkSession, tmp_path: Path
) -> None:
    """ReleaseTableBuilder.rows in Spark tasks of two articles (three tasks for the five
    committed articles), texts and gold sent as rows: the build's rows, in order, per split."""
    root, _, articles, _ = _built(tmp_path)
    paths = ProjectPaths(root)
    plan = plan_release(paths, Settings.load(paths))
    inputs = article_table(plan)
    # Not vacuous: every article travels with its text and gold, some with relations.
    assert inputs.column("article_id").to_pylist() == sorted(a.id for a in articles)
    assert all(len(r) for r in inputs.column("regions").to_pylist())
    assert any(r for r in inputs.column("relations").to_pylist())
    # Written a part at a time (one article each here): the same rows, one schema.
    for per_part in (1, 2, 3):
        parts = list(article_parts(plan, per_part))
        assert {p.schema for p in parts} == {inputs.schema}
        assert pa.concat_tables(parts).equals(inputs), per_part
    shapes = ShapeBuilder(plan.validated.specs, plan.validated.taxonomy)
    frames = per_article_frames(spark, plan, shapes, paths, tmp_path / "stage", articles_per_task=2)
    assert list(frames) == list(TASK_CONFIGS)
    for config in TASK_CONFIGS:
        for split in ("train", "validation", "test"):
            frame = frames[config][split]
            built = pq.read_table(
                root / "dist" / "data" / config / f"{split}-00000-of-00001.parquet"
            )
            assert built.num_rows, (config, split)
            assert frame.toArrow().to_pylist() == built.to_pylist(), (config, split)
    made = frames["ner_bio"]["train"]
    assert made.rdd.getNumPartitions() == 3  # one per two articles: the work was spread


def test_gold_is_cut_into_parts_as_gold_between_cuts_it(tmp_path: Path) -> None:
    """One pass over each in-memory gold table gives each part what a filter per part gives:
    the same rows in the same order, gold of an article between parts (not published) in none."""
    root, _, _, _ = _built(tmp_path)
    paths = ProjectPaths(root)
    plan = plan_release(paths, Settings.load(paths))
    gold = plan.validated.layers.gold
    assert isinstance(gold, GoldLayer)
    ordered = sorted(plan.articles, key=lambda a: a.id)
    dropped = ordered[2].id
    assert gold.regions.filter(pl.col("article_id") == dropped).height  # not vacuous
    for parts in ([ordered[:2], ordered[3:]], [[a] for a in ordered if a.id != dropped]):
        cut = list(gold_parts(gold, parts))
        assert len(cut) == len(parts)
        for part, got in zip(parts, cut, strict=True):
            want = gold_between(gold, part[0].id, part[-1].id)
            for name in ("regions", "relations", "choices", "status"):
                assert getattr(got, name).equals(getattr(want, name)), (name, part[0].id)
        regions = pl.concat([c.regions for c in cut])
        assert dropped not in regions["article_id"].to_list() and regions.height


def test_a_task_with_no_gold_relations_or_choices_makes_the_local_rows(tmp_path: Path) -> None:
    """The task function run in this process, on gold with its relations and choices left out
    (their columns then travel as nulls): the rows ReleaseTableBuilder makes from that gold."""
    root, _, _, splits = _built(tmp_path)
    paths = ProjectPaths(root)
    plan = plan_release(paths, Settings.load(paths))
    gold = plan.validated.layers.gold
    assert isinstance(gold, GoldLayer) and gold.relations.height and gold.choices.height
    bare = dataclasses.replace(gold, relations=gold.relations.head(0), choices=gold.choices.head(0))
    with_relations = article_table(plan).schema
    plan.validated.layers = dataclasses.replace(plan.validated.layers, gold=bare)
    table = article_table(plan)
    assert table.column("relations").null_count == table.num_rows
    # The same schema as parts with relations and choices: Spark reads the parts as one table.
    assert table.schema == with_relations
    shapes = ShapeBuilder(plan.validated.specs, plan.validated.taxonomy)
    inputs = ReleaseInputs(plan.articles, plan.splits, plan.clusters, bare, pl.DataFrame())
    local = ReleaseTableBuilder(shapes, bio_workers=0).rows(inputs)
    for config in TASK_CONFIGS:
        run = make_rows(config, str(paths.tables_file), str(paths.taxonomy_file))
        made = pa.Table.from_batches(list(run(iter(table.to_batches(max_chunksize=2)))))
        expected = local[config]
        rows = expected.to_pylist() if isinstance(expected, pa.Table) else expected
        got = made.drop_columns([SPLIT_COLUMN]).to_pylist()
        assert got == rows and rows, config
        assert made.column(SPLIT_COLUMN).to_pylist() == [splits[r["article_id"]] for r in rows]


def test_a_task_refuses_a_text_that_is_not_the_validated_one(tmp_path: Path) -> None:
    """A text changed between the driver's read and the task (a stale stage folder, a
    damaged part) is refused, naming the article, instead of published."""
    root, _, _, _ = _built(tmp_path)
    paths = ProjectPaths(root)
    table = article_table(plan_release(paths, Settings.load(paths)))
    texts = table.column("text").to_pylist()
    texts[1] = texts[1].replace("Niger", "Nigeria", 1)
    assert texts[1] != table.column("text")[1].as_py()
    damaged = table.set_column(table.schema.get_field_index("text"), "text", pa.array(texts))
    run = make_rows("documents", str(paths.tables_file), str(paths.taxonomy_file))
    article = table.column("article_id")[1].as_py()
    with pytest.raises(ValueError, match=f"{article}: the text a task got is not the validated"):
        list(run(iter(damaged.to_batches())))
