"""Issue 17 item 1: one heavy table operation of the build in several engines, measured.

The operation is the ``annotations_raw`` config: every region, relation and choice of every
annotation and prediction, joined to its annotation's (or prediction's) provenance, sorted by
``layers.RAW_SORT_KEY`` (each key as its text zero-filled to 12 characters, missing first; the
input order breaks ties), split by the article's split, in the published Arrow schema. All
engines start from the same Parquet files of the parsed exports (``prepare``) and end with the
same Arrow tables, written with the build's own Parquet writer; the files are compared byte for
byte with the current code's.

    # 1. the inputs: a bench corpus kept by scripts/bench.py (ingest + validate fill the cache)
    .venv/bin/python scripts/bench.py --n 10000 --stages ingest,validate --keep /tmp/c/keep
    .venv/bin/python scripts/columnar_eval.py prepare /tmp/c/keep/sahelwire-bench-10000-*/project /tmp/c/in10k
    # 2. every engine, each in its own process (wall, CPU, peak RSS), then compared
    .sahelwire/columnar-venv/bin/python scripts/columnar_eval.py run /tmp/c/in10k /tmp/c/out10k
    # 3. JSON readers: DuckDB read_json of the export files vs the project's strict parser
    .sahelwire/columnar-venv/bin/python scripts/columnar_eval.py read-json /tmp/c/keep/.../project

Engines (``--engines``): ``current`` (layers.raw_frame + ReleaseTableBuilder.raw_tables),
``polars_lazy``, ``duckdb_sql``, ``ibis_duckdb``, ``ibis_pyspark`` and ``sql_pyspark`` (the
duckdb_sql text run by ``spark.sql``); the Spark ones run in the Spark overlay venv
(``--spark-python``). Not part of the package: an evaluation, recorded in docs/columnar.md.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
FRAMES = ("annotations", "regions", "relations", "choices", "predictions", "prediction_results")
SPLITS = ("train", "validation", "test")
ENGINES = (
    "current",
    "polars_lazy",
    "duckdb_sql",
    "duckdb_stream",
    "ibis_duckdb",
    "ibis_pyspark",
    "sql_pyspark",
)
SPARK_ENGINES = {"ibis_pyspark", "sql_pyspark"}
SORT_KEY = (
    "article_id",
    "annotation_id",
    "prediction_id",
    "kind",
    "layer",
    "region_id",
    "to_region_id",
    "label",
    "start",
    "end",
)
META = (
    "article_id",
    "task_id",
    "annotation_id",
    "annotator",
    "cancelled",
    "created_at",
    "updated_at",
    "lead_time",
    "parent_prediction",
    "prediction_model_version",
)
SPAN = (
    "kind",
    "layer",
    "label",
    "region_id",
    "to_region_id",
    "start",
    "end",
    "text",
    "entity_id",
    "event_id",
    "realis",
    "value",
    "unit",
    "approximate",
    "bound",
)


# -- prepare -------------------------------------------------------------------------------


def prepare(project: Path, out: Path) -> None:
    """The parsed exports as Parquet (one file per frame, ``_row`` = input order) + splits."""
    import polars as pl

    from sahelwire.io.config import Settings
    from sahelwire.io.paths import ProjectPaths
    from sahelwire.release.build import plan_release

    paths = ProjectPaths(project)
    plan = plan_release(paths, Settings.load(paths))
    validated, splits = plan.validated, plan.splits
    out.mkdir(parents=True, exist_ok=True)
    layers = validated.layers
    for name in FRAMES:
        frame = getattr(layers, name)
        frame.with_row_index("_row").write_parquet(out / f"{name}.parquet")
    pl.DataFrame(
        {"article_id": list(splits), "split": list(splits.values())},
        schema={"article_id": pl.Utf8, "split": pl.Utf8},
    ).write_parquet(out / "splits.parquet")
    print(json.dumps({name: getattr(layers, name).height for name in FRAMES}))


def replicate(indir: Path, out: Path, times: int) -> None:
    """``times`` copies of prepared inputs, every id renumbered (a 10x corpus without
    parsing it: the generator's 100k export parse needs more memory than this shared machine
    can spare). Copy k: article ids ``syn<k>...``, numeric ids + k * 10**9; order kept."""
    import polars as pl

    out.mkdir(parents=True, exist_ok=True)
    numeric = ("annotation_id", "task_id", "prediction_id", "parent_prediction")
    for name in (*FRAMES, "splits"):
        frame = pl.read_parquet(indir / f"{name}.parquet")
        if "_row" in frame.columns:
            frame = frame.drop("_row")
        copies = []
        for k in range(times):
            copies.append(
                frame.with_columns(
                    pl.concat_str(pl.lit(f"syn{k}"), pl.col("article_id").str.slice(3)).alias(
                        "article_id"
                    ),
                    *(pl.col(c) + k * 10**9 for c in numeric if c in frame.columns),
                )
            )
        whole = pl.concat(copies)
        if name != "splits":
            whole = whole.with_row_index("_row")
        whole.write_parquet(out / f"{name}.parquet")
        del copies, whole


# -- the engines ----------------------------------------------------------------------------


def published_schema() -> Any:
    from sahelwire.io.paths import ProjectPaths
    from sahelwire.schema.table_specs import ShapeBuilder, load_table_specs
    from sahelwire.schema.taxonomy import load_taxonomy

    paths = ProjectPaths(ROOT)
    shapes = ShapeBuilder(load_table_specs(paths.tables_file), load_taxonomy(paths.taxonomy_file))
    return shapes.arrow_schema(shapes.specs.configs["annotations_raw"], published=True)


def run_current(indir: Path) -> Iterator[tuple[str, Any]]:
    import polars as pl

    from sahelwire.annotations.gold_layer import GoldLayer
    from sahelwire.annotations.layers import AnnotationLayers, raw_frame
    from sahelwire.release.tables import ReleaseTableBuilder

    frames = {n: pl.read_parquet(indir / f"{n}.parquet").drop("_row") for n in FRAMES}
    split_rows = pl.read_parquet(indir / "splits.parquet")
    splits = dict(zip(split_rows["article_id"], split_rows["split"], strict=True))
    layers = AnnotationLayers(
        frames["annotations"],
        frames["regions"],
        frames["relations"],
        frames["choices"],
        GoldLayer.empty(),
        predictions=frames["predictions"],
        prediction_results=frames["prediction_results"],
    )
    raw = raw_frame(layers)
    yield from ReleaseTableBuilder.raw_tables(raw, splits, published_schema()).items()


def raw_sql(source: dict[str, str], split: str) -> str:
    """The build's SQL text (``sahelwire.release.columnar``), reading ``source`` views."""
    from sahelwire.release.columnar import raw_sql as build_sql

    return build_sql(split, source)


def run_duckdb_sql(indir: Path) -> Iterator[tuple[str, Any]]:
    import duckdb

    con = duckdb.connect()
    # Two cores on this machine; the memory limit lets DuckDB spill instead of growing.
    con.execute("SET threads = 2")
    source = {n: f"read_parquet('{indir / n}.parquet')" for n in (*FRAMES, "splits")}
    schema = published_schema()
    for split in SPLITS:
        table = con.sql(raw_sql(source, split)).fetch_arrow_table()
        yield split, table.select(schema.names).cast(schema).combine_chunks()
        del table


def write_slices(batches: Iterator[Any], schema: Any, path: Path) -> int:
    """Write record batches as the build's writer would write their concatenation.

    The Parquet bytes are the same as ``parquet_bytes`` of the whole table when every
    row group is handed over as one single-chunk table of ``row_group_size`` rows
    (checked byte for byte by ``run``); so only one row group is held at a time.
    """
    import pyarrow as pa
    import pyarrow.parquet as pq

    from sahelwire.release.parquet_files import PARQUET_OPTIONS

    size = PARQUET_OPTIONS["row_group_size"]
    options = {k: v for k, v in PARQUET_OPTIONS.items() if k != "row_group_size"}
    pending: list[Any] = []
    held = rows = 0
    with pq.ParquetWriter(str(path), schema, **options) as writer:

        def flush(count: int) -> None:
            nonlocal pending, held
            table = pa.Table.from_batches(pending, schema=schema).combine_chunks()
            writer.write_table(table.slice(0, count), row_group_size=size)
            rest = table.slice(count)
            pending, held = rest.to_batches(), rest.num_rows

        for batch in batches:
            batch = pa.Table.from_batches([batch]).select(schema.names).cast(schema)
            pending += batch.to_batches()
            held += batch.num_rows
            rows += batch.num_rows
            while held >= size:
                flush(size)
        if held:
            flush(held)
    return rows


def stream_duckdb(indir: Path, outdir: Path) -> dict[str, int]:
    """duckdb_sql with a memory limit (the sort spills) and a streamed, sliced write."""
    import tempfile

    import duckdb

    schema = published_schema()
    rows = {}
    with tempfile.TemporaryDirectory(prefix="duckdb-spill-", dir=outdir) as spill:
        con = duckdb.connect(
            config={
                "threads": 2,
                "memory_limit": os.environ.get("EVAL_DUCKDB_MEMORY", "2GB"),
                "temp_directory": spill,
                "preserve_insertion_order": True,
            }
        )
        source = {n: f"read_parquet('{indir / n}.parquet')" for n in (*FRAMES, "splits")}
        for split in SPLITS:
            reader = con.sql(raw_sql(source, split)).to_arrow_reader(100_000)
            rows[split] = write_slices(iter(reader), schema, outdir / f"{split}.parquet")
    return rows


def run_sql_pyspark(indir: Path) -> Iterator[tuple[str, Any]]:
    spark = _spark()
    for n in (*FRAMES, "splits"):
        spark.read.parquet(str(indir / f"{n}.parquet")).createOrReplaceTempView(n)
    schema = published_schema()
    for split in SPLITS:
        table = spark.sql(raw_sql({n: n for n in (*FRAMES, "splits")}, split)).toArrow()
        _record_jvm(spark)
        yield split, table.select(schema.names).cast(schema).combine_chunks()
        del table


def raw_ibis(t: dict[str, Any], split: str) -> Any:
    """annotations_raw with its split as one Ibis expression (any backend)."""
    import ibis

    def zfill(col: Any) -> Any:
        s = col.cast("string")
        return ibis.coalesce(
            ibis.cases(
                (s.length() >= 12, s),
                (s.left(1).isin(["-", "+"]), s.left(1) + s.substr(1).lpad(11, "0")),
                else_=s.lpad(12, "0"),
            ),
            "",
        )

    types = {
        "region_id": "string",
        "to_region_id": "string",
        "start": "int64",
        "end": "int64",
        "text": "string",
        "entity_id": "string",
        "event_id": "string",
        "realis": "string",
        "value": "float64",
        "unit": "string",
        "approximate": "boolean",
        "bound": "string",
        "kind": "string",
        "layer": "string",
        "label": "string",
    }

    def span(table: Any, given: dict[str, Any], part: int) -> Any:
        return table.select(
            annotation_id=table.annotation_id,
            **{c: given.get(c, ibis.null(types[c])) for c in SPAN},
            _part=ibis.literal(part, "int64"),
            _row=table._row.cast("int64"),
        )

    r, rel, ch = t["regions"], t["relations"], t["choices"]
    spans = ibis.union(
        span(
            r,
            {c: r[c] for c in SPAN if c not in ("kind", "to_region_id")}
            | {"kind": ibis.literal("region")},
            0,
        ),
        span(
            rel,
            {
                "kind": ibis.literal("relation"),
                "layer": ibis.literal("relations"),
                "label": rel.label,
                "region_id": rel.from_region_id,
                "to_region_id": rel.to_region_id,
            },
            1,
        ),
        span(ch, {"kind": ibis.literal("choice"), "layer": ch.field, "label": ch.value}, 2),
        distinct=False,
    )
    a = t["annotations"]
    annotated = spans.join(a, spans.annotation_id == a.annotation_id).select(
        **{c: a[c] for c in META},
        **{c: spans[c] for c in SPAN},
        source=ibis.literal("annotation"),
        prediction_id=ibis.null("int64"),
        prediction_score=ibis.null("float64"),
        _part=spans._part,
        _row=spans._row,
    )
    res, p = t["prediction_results"], t["predictions"]
    predicted = res.join(p, res.prediction_id == p.prediction_id).select(
        article_id=p.article_id,
        task_id=p.task_id,
        annotation_id=ibis.null("int64"),
        annotator=ibis.null("string"),
        cancelled=ibis.literal(False),
        created_at=p.created_at,
        updated_at=p.updated_at,
        lead_time=ibis.null("float64"),
        parent_prediction=ibis.null("int64"),
        prediction_model_version=p.model_version,
        **{c: res[c].cast(types[c]) for c in SPAN},
        source=ibis.literal("prediction"),
        prediction_id=p.prediction_id,
        prediction_score=p.score,
        _part=ibis.literal(3, "int64"),
        _row=res._row.cast("int64"),
    )
    rows = ibis.union(annotated, predicted, distinct=False)
    sp = t["splits"]
    mine = sp.filter(sp.split == split)
    joined = rows.join(mine, rows.article_id == mine.article_id).select(
        *[rows[c] for c in rows.columns], _split=mine.split
    )
    return joined.order_by([*(zfill(joined[c]) for c in SORT_KEY), "_part", "_row"])


def run_ibis_duckdb(indir: Path) -> Iterator[tuple[str, Any]]:
    import ibis

    con = ibis.duckdb.connect(threads=2)
    t = {n: con.read_parquet(indir / f"{n}.parquet", table_name=n) for n in (*FRAMES, "splits")}
    schema = published_schema()
    for split in SPLITS:
        table = raw_ibis(t, split).to_pyarrow()
        yield split, table.select(schema.names).cast(schema).combine_chunks()
        del table


def run_ibis_pyspark(indir: Path) -> Iterator[tuple[str, Any]]:
    import ibis

    spark = _spark()
    con = ibis.pyspark.connect(spark)
    t = {
        n: con.read_parquet(str(indir / f"{n}.parquet"), table_name=n) for n in (*FRAMES, "splits")
    }
    schema = published_schema()
    for split in SPLITS:
        table = raw_ibis(t, split).to_pyarrow()
        _record_jvm(spark)
        yield split, table.select(schema.names).cast(schema).combine_chunks()
        del table


def raw_polars_lazy(indir: Path, split: str) -> Any:
    import polars as pl

    scan = {n: pl.scan_parquet(indir / f"{n}.parquet") for n in (*FRAMES, "splits")}
    dtypes = {
        "kind": pl.Utf8,
        "layer": pl.Utf8,
        "label": pl.Utf8,
        "region_id": pl.Utf8,
        "to_region_id": pl.Utf8,
        "start": pl.Int64,
        "end": pl.Int64,
        "text": pl.Utf8,
        "entity_id": pl.Utf8,
        "event_id": pl.Utf8,
        "realis": pl.Utf8,
        "value": pl.Float64,
        "unit": pl.Utf8,
        "approximate": pl.Boolean,
        "bound": pl.Utf8,
    }

    def span(frame: pl.LazyFrame, given: dict[str, pl.Expr], part: int) -> pl.LazyFrame:
        return frame.select(
            "annotation_id",
            *(given.get(c, pl.lit(None)).cast(dtypes[c]).alias(c) for c in SPAN),
            pl.lit(part, pl.Int64).alias("_part"),
            pl.col("_row").cast(pl.Int64),
        )

    lit = pl.lit
    spans = pl.concat(
        [
            span(
                scan["regions"],
                {c: pl.col(c) for c in SPAN if c not in ("kind", "to_region_id")}
                | {"kind": lit("region")},
                0,
            ),
            span(
                scan["relations"],
                {
                    "kind": lit("relation"),
                    "layer": lit("relations"),
                    "label": pl.col("label"),
                    "region_id": pl.col("from_region_id"),
                    "to_region_id": pl.col("to_region_id"),
                },
                1,
            ),
            span(
                scan["choices"],
                {"kind": lit("choice"), "layer": pl.col("field"), "label": pl.col("value")},
                2,
            ),
        ]
    )
    annotated = spans.join(
        scan["annotations"].select(META), on="annotation_id", how="inner"
    ).select(
        *META,
        *SPAN,
        lit("annotation").alias("source"),
        lit(None, pl.Int64).alias("prediction_id"),
        lit(None, pl.Float64).alias("prediction_score"),
        "_part",
        "_row",
    )
    p = scan["predictions"].select(
        "prediction_id",
        "task_id",
        "created_at",
        "updated_at",
        pl.col("model_version").alias("prediction_model_version"),
        pl.col("score").alias("prediction_score"),
    )
    predicted = (
        scan["prediction_results"]
        .join(p, on="prediction_id", how="inner")
        .select(
            "article_id",
            "task_id",
            lit(None, pl.Int64).alias("annotation_id"),
            lit(None, pl.Utf8).alias("annotator"),
            lit(False).alias("cancelled"),
            "created_at",
            "updated_at",
            lit(None, pl.Float64).alias("lead_time"),
            lit(None, pl.Int64).alias("parent_prediction"),
            "prediction_model_version",
            *(pl.col(c).cast(dtypes[c]) for c in SPAN),
            lit("prediction").alias("source"),
            "prediction_id",
            "prediction_score",
            lit(3, pl.Int64).alias("_part"),
            pl.col("_row").cast(pl.Int64),
        )
    )
    mine = scan["splits"].filter(pl.col("split") == split).rename({"split": "_split"})
    rows = pl.concat([annotated, predicted], how="vertical_relaxed").join(
        mine, on="article_id", how="inner"
    )
    keys = [pl.col(c).cast(pl.Utf8).str.zfill(12).fill_null("") for c in SORT_KEY]
    return rows.sort([*keys, pl.col("_part"), pl.col("_row")])


def run_polars_lazy(indir: Path) -> Iterator[tuple[str, Any]]:
    schema = published_schema()
    for split in SPLITS:
        table = raw_polars_lazy(indir, split).collect(engine="streaming").to_arrow()
        yield split, table.select(schema.names).cast(schema).combine_chunks()
        del table


RUNNERS = {
    "current": run_current,
    "polars_lazy": run_polars_lazy,
    "duckdb_sql": run_duckdb_sql,
    "ibis_duckdb": run_ibis_duckdb,
    "ibis_pyspark": run_ibis_pyspark,
    "sql_pyspark": run_sql_pyspark,
}
_JVM: dict[str, float] = {}


def _spark() -> Any:
    from pyspark.sql import SparkSession

    return (
        SparkSession.builder.master("local[2]")
        .appName("sahelwire-columnar-eval")
        .config("spark.ui.enabled", "false")
        .config("spark.driver.bindAddress", "127.0.0.1")
        # Results above spark.task.maxDirectResultSize are fetched from the block manager at
        # spark.driver.host: the machine's address otherwise, which nothing listens on.
        .config("spark.driver.host", "127.0.0.1")
        .config("spark.ui.showConsoleProgress", "false")
        .config("spark.sql.shuffle.partitions", "2")
        .config("spark.driver.memory", os.environ.get("EVAL_SPARK_MEMORY", "8g"))
        .config("spark.sql.execution.arrow.pyspark.enabled", "true")
        # ./spark-warehouse in the working folder otherwise (the checkout's root).
        .config("spark.sql.warehouse.dir", tempfile.mkdtemp(prefix="spark-warehouse-"))
        .getOrCreate()
    )


def _record_jvm(spark: Any) -> None:
    """The JVM's CPU seconds and peak RSS (a child the Python rusage does not count)."""
    pid = spark.sparkContext._gateway.proc.pid
    status = Path(f"/proc/{pid}/status").read_text()
    hwm = next(line for line in status.splitlines() if line.startswith("VmHWM:"))
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    ticks = os.sysconf("SC_CLK_TCK")
    _JVM["jvm_peak_rss_mb"] = int(hwm.split()[1]) / 1024
    _JVM["jvm_cpu_seconds"] = (int(fields[11]) + int(fields[12])) / ticks


def one_engine(engine: str, indir: Path, outdir: Path) -> dict[str, Any]:
    """Run ``engine`` here; write its splits with the build's writer; return its measures."""
    from sahelwire.release.parquet_files import parquet_bytes

    outdir.mkdir(parents=True, exist_ok=True)
    usage = resource.getrusage(resource.RUSAGE_SELF)
    cpu0 = usage.ru_utime + usage.ru_stime
    t0 = time.perf_counter()
    if engine == "duckdb_stream":
        rows = stream_duckdb(indir, outdir)
        usage = resource.getrusage(resource.RUSAGE_SELF)
        return {
            "seconds": time.perf_counter() - t0,  # the write included: it is interleaved
            "write_seconds": None,
            "cpu_seconds_incl_write": usage.ru_utime + usage.ru_stime - cpu0,
            "peak_rss_mb": usage.ru_maxrss / 1024,
            "rows": rows,
        }
    rows, write = {}, 0.0
    # Each split is written with the build's writer as it is produced and then dropped;
    # the write is timed apart ("write_seconds"), "seconds" is the engine alone.
    for split, table in RUNNERS[engine](indir):
        w = time.perf_counter()
        (outdir / f"{split}.parquet").write_bytes(parquet_bytes(table))
        write += time.perf_counter() - w
        rows[split] = table.num_rows
        del table
    seconds = time.perf_counter() - t0 - write
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return {
        "seconds": seconds,
        "write_seconds": write,
        "cpu_seconds_incl_write": usage.ru_utime + usage.ru_stime - cpu0,
        "peak_rss_mb": usage.ru_maxrss / 1024,
        "rows": rows,
        **_JVM,
    }


def _tree_rss_mb(pid: int) -> float:
    """RSS of ``pid`` and its descendants (the Spark JVM is one), from /proc."""
    total, todo = 0.0, [pid]
    while todo:
        p = todo.pop()
        try:
            status = Path(f"/proc/{p}/status").read_text()
            total += int(next(x for x in status.splitlines() if x.startswith("VmRSS:")).split()[1])
            for task in Path(f"/proc/{p}/task").iterdir():
                todo += [int(c) for c in (task / "children").read_text().split()]
        except (OSError, StopIteration):
            continue
    return total / 1024


def _watch(proc: subprocess.Popen[str], max_rss_mb: float) -> tuple[str | None, int, Any]:
    """Wait for ``proc`` (its status and rusage); kill its group if its tree's RSS passes
    ``max_rss_mb`` (a shared machine: no OOM killer run)."""
    killed = None
    while True:
        pid, status, usage = os.wait4(proc.pid, os.WNOHANG)
        if pid:
            proc.returncode = status
            return killed, status, usage
        rss = _tree_rss_mb(proc.pid)
        if killed is None and rss > max_rss_mb:
            os.killpg(proc.pid, 9)
            killed = f"killed at {rss:.0f} MB RSS (limit {max_rss_mb:.0f} MB)"
        time.sleep(0.2)


def run_all(
    indir: Path, outdir: Path, engines: list[str], spark_python: Path, max_rss_mb: float
) -> None:
    results: dict[str, Any] = {}
    for engine in engines:
        python = spark_python if engine in SPARK_ENGINES else Path(sys.executable)
        cmd = [str(python), __file__, "one", engine, str(indir), str(outdir / engine)]
        os.sync()
        t0 = time.perf_counter()
        logs = outdir / f"{engine}.log"
        outdir.mkdir(parents=True, exist_ok=True)
        with logs.open("w") as err_file:
            proc = subprocess.Popen(
                cmd, stdout=subprocess.PIPE, stderr=err_file, text=True, start_new_session=True
            )
            killed, status, usage = _watch(proc, max_rss_mb)
        out = proc.stdout.read()  # type: ignore[union-attr]
        err = logs.read_text(errors="replace")
        wall = time.perf_counter() - t0
        if killed:
            results[engine] = {"status": "killed", "wall": wall, "error": killed}
        elif status != 0:
            results[engine] = {"status": "failed", "wall": wall, "error": err[-1500:]}
        else:
            measured = json.loads(out.strip().splitlines()[-1])
            results[engine] = {
                "status": "ok",
                "process_wall": wall,
                "process_cpu_seconds": usage.ru_utime + usage.ru_stime,
                "process_peak_rss_mb": usage.ru_maxrss / 1024,
                **measured,
            }
        print(engine, json.dumps(results[engine]), flush=True)
    ok = [e for e, r in results.items() if r["status"] == "ok"]
    if not ok:
        return
    # The current code's output, or (when it did not finish here) the first engine's.
    ref = "current" if (outdir / "current" / "test.parquet").exists() else ok[0]
    reference = outdir / ref
    for engine, r in results.items():
        if r["status"] != "ok" or engine == ref:
            continue
        r["compared_with"] = ref
        r["identical_bytes"] = {
            s: (outdir / engine / f"{s}.parquet").read_bytes()
            == (reference / f"{s}.parquet").read_bytes()
            for s in SPLITS
        }
        print(engine, "identical bytes:", r["identical_bytes"], flush=True)
    (outdir / "results.json").write_text(json.dumps(results, indent=2) + "\n")


# -- JSON readers -------------------------------------------------------------------------


def read_json(project: Path, limit: int | None) -> None:
    """MB/s of DuckDB's read_json over the export files vs the project's strict parser."""
    import duckdb

    from sahelwire.annotations.tables import read_annotation_tables
    from sahelwire.io.paths import ProjectPaths
    from sahelwire.raw.manifest_texts import ManifestTexts
    from sahelwire.schema.taxonomy import load_taxonomy

    paths = ProjectPaths(project)
    files = sorted(paths.exports_dir.glob("*.json"))[:limit]
    mb = sum(f.stat().st_size for f in files) / 2**20
    out: dict[str, Any] = {"files": len(files), "mb": mb}
    con = duckdb.connect()
    con.execute("SET threads = 2")
    listing = "[" + ", ".join(f"'{f}'" for f in files) + "]"
    for label, query in {
        # Every region/relation/choice item, flattened: the rows our parser produces.
        "duckdb_read_json_results": f"""
            SELECT count(*) FROM (
              SELECT unnest(a.result, recursive := false) AS item
              FROM (SELECT unnest(annotations) AS a
                    FROM read_json({listing}, format = 'auto', maximum_object_size = 67108864)))
        """,
    }.items():
        t0, c0 = time.perf_counter(), time.process_time()
        rows = con.sql(query).fetchall()[0]
        wall, cpu = time.perf_counter() - t0, time.process_time() - c0
        out[label] = {
            "rows": rows[0] if rows else None,
            "seconds": wall,
            "cpu_seconds": cpu,
            "mb_per_s": mb / wall,
        }
    if limit is None:
        manifest = ManifestTexts(paths)
        texts = {aid: manifest[aid] for aid in manifest}
        t0, c0 = time.perf_counter(), time.process_time()
        tables = read_annotation_tables(
            paths, load_taxonomy(paths.taxonomy_file), texts=texts, cache=False
        )
        wall, cpu = time.perf_counter() - t0, time.process_time() - c0
        out["strict_parser"] = {
            "regions": tables.regions.height,
            "seconds": wall,
            "cpu_seconds": cpu,
            "mb_per_s": mb / wall,
        }
    print(json.dumps(out, indent=2))


# -- pandera.ibis -------------------------------------------------------------------------


def pandera_ibis(indir: Path) -> None:
    """Does pandera's Ibis backend check our table specs? Built like release.spark's schema.

    The flat columns of annotations_raw (dtypes, nullability, pattern/ge/le/isin/class-index
    checks, unique) on one split of the duckdb_sql output: valid as built, then with one bad
    value per rule; timed against the polars path (``table_validation.validate_published``).
    """
    import ibis
    import pandera.ibis as pi
    import polars as pl

    from sahelwire.io.paths import ProjectPaths
    from sahelwire.schema.table_specs import load_table_specs
    from sahelwire.schema.table_validation import validate_published
    from sahelwire.schema.taxonomy import load_taxonomy

    paths = ProjectPaths(ROOT)
    specs = load_table_specs(paths.tables_file)
    taxonomy = load_taxonomy(paths.taxonomy_file)
    spec = specs.configs["annotations_raw"]
    dt = ibis.expr.datatypes
    types = {
        "string": dt.String(),
        "int64": dt.Int64(),
        "int32": dt.Int32(),
        "float64": dt.Float64(),
        "bool": dt.Boolean(),
    }
    columns = {}
    for col in spec.columns:
        if not isinstance(col.type, str):
            continue
        checks = []
        c = col.checks
        if "pattern" in c:
            checks.append(pi.Check.str_matches(f"^(?:{c['pattern']})$"))
        if "ge" in c:
            checks.append(pi.Check.ge(c["ge"]))
        if "le" in c:
            checks.append(pi.Check.le(c["le"]))
        if "isin" in c:
            checks.append(pi.Check.isin(list(c["isin"])))
        columns[col.name] = pi.Column(
            types[col.type],
            checks=checks,
            nullable=col.nullable,
            unique=bool(c.get("unique", False)),
        )
    schema = pi.DataFrameSchema(columns, name=spec.name)
    con = ibis.duckdb.connect(threads=2)
    file = indir / "validation.parquet"
    table = con.read_parquet(file, table_name="raw")
    out: dict[str, Any] = {"columns": list(columns)}
    t0 = time.perf_counter()
    schema.validate(table, lazy=True)
    out["valid_seconds"] = time.perf_counter() - t0
    bad = {
        "source": table.mutate(source=ibis.literal("human")),
        "start_as_text": table.mutate(start=table.start.cast("string")),
        "cancelled_null": table.mutate(cancelled=ibis.null("boolean")),
        "article_id": table.mutate(article_id=ibis.null("string")),
    }
    for name, frame in bad.items():
        try:
            schema.validate(frame, lazy=True)
            out[f"bad_{name}"] = "accepted"
        except pi.errors.SchemaErrors as exc:
            out[f"bad_{name}"] = f"refused: {' '.join(str(exc).split())[:300]}"
    frame = pl.read_parquet(file)
    t0 = time.perf_counter()
    problems = validate_published(frame, spec, specs, taxonomy, file=str(file))
    out["polars_seconds"] = time.perf_counter() - t0
    out["polars_problems"] = len(problems)
    print(json.dumps(out, indent=2))


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    sub = parser.add_subparsers(dest="cmd", required=True)
    p = sub.add_parser("prepare")
    p.add_argument("project", type=Path)
    p.add_argument("out", type=Path)
    x = sub.add_parser("replicate")
    x.add_argument("indir", type=Path)
    x.add_argument("out", type=Path)
    x.add_argument("--times", type=int, default=10)
    r = sub.add_parser("run")
    r.add_argument("indir", type=Path)
    r.add_argument("outdir", type=Path)
    r.add_argument("--engines", default=",".join(ENGINES))
    r.add_argument("--max-rss-mb", type=float, default=14000)
    r.add_argument(
        "--spark-python", type=Path, default=ROOT / ".sahelwire" / "spark-venv" / "bin" / "python"
    )
    o = sub.add_parser("one")
    o.add_argument("engine", choices=ENGINES)
    o.add_argument("indir", type=Path)
    o.add_argument("outdir", type=Path)
    j = sub.add_parser("read-json")
    j.add_argument("project", type=Path)
    j.add_argument("--limit", type=int)
    q = sub.add_parser("pandera-ibis")
    q.add_argument("indir", type=Path, help="an engine's output folder (run)")
    args = parser.parse_args()
    if args.cmd == "prepare":
        prepare(args.project, args.out)
    elif args.cmd == "replicate":
        replicate(args.indir, args.out, args.times)
    elif args.cmd == "run":
        run_all(
            args.indir, args.outdir, args.engines.split(","), args.spark_python, args.max_rss_mb
        )
    elif args.cmd == "one":
        print(json.dumps(one_engine(args.engine, args.indir, args.outdir)))
    elif args.cmd == "pandera-ibis":
        pandera_ibis(args.indir)
    else:
        read_json(args.project, args.limit)


if __name__ == "__main__":
    main()
