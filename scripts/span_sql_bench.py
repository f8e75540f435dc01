"""Time mentions, events, quantities: SQL (release.columnar_spans, DuckDB) against Python rows.

Usage: python scripts/span_sql_bench.py PROJECT [--repeat N]

Parses and validates PROJECT as the build does and makes ``ReleaseTableBuilder.rows`` per
chunk of articles as ``tables()`` does (untimed), then, N times in turn, for each config on
its own and for the three together:
- ``rows -> Arrow``: what ``tables()`` does for the config from those rows (split,
  ``from_pylist`` per chunk, concatenation). It leaves out building the row dicts in
  ``rows()``, which documents shares (it nests the same spans, events' arguments too), so
  it is what the SQL path saves at least;
- ``sql``: ``duckdb_span_pieces`` (whole) for the config (sources, connection, its queries, for
  events the nesting in Arrow, Arrow tables in the published schema).
Prints CPU seconds (process time: every thread, DuckDB's included) and wall seconds, and
checks that both give the same Parquet bytes.
"""

from __future__ import annotations

import argparse
import dataclasses
import time
from collections.abc import Callable
from functools import partial
from pathlib import Path
from typing import Any, TypeVar

import polars as pl
import pyarrow as pa

from sahelwire.io.config import SPLITS, Settings
from sahelwire.io.paths import ProjectPaths
from sahelwire.release.build import plan_release
from sahelwire.release.columnar_spans import (
    SPAN_CONFIGS,
    duckdb_span_pieces,
    whole_span_tables,
)
from sahelwire.release.gold_files import gold_between
from sahelwire.release.parquet_files import parquet_bytes
from sahelwire.release.tables import (
    CHUNK_ARTICLES,
    ReleaseInputs,
    ReleaseTableBuilder,
)
from sahelwire.schema.table_specs import ARTICLE_ID, ShapeBuilder

T = TypeVar("T")


def _timed(fn: Callable[[], T]) -> tuple[T, float, float]:
    cpu, wall = time.process_time(), time.perf_counter()
    out = fn()
    return out, time.process_time() - cpu, time.perf_counter() - wall


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("project", type=Path)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    paths = ProjectPaths(args.project)
    plan = plan_release(paths, Settings.load(paths))
    validated, articles, clusters, splits = (
        plan.validated,
        plan.articles,
        plan.clusters,
        plan.splits,
    )
    shapes = ShapeBuilder(validated.specs, validated.taxonomy)
    schemas = {
        c: shapes.arrow_schema(validated.specs.configs[c], published=True) for c in SPAN_CONFIGS
    }
    gold = validated.layers.gold
    inputs = ReleaseInputs(articles, splits, clusters, gold, pl.DataFrame(), validated.registries)
    n_spans = gold.regions.group_by("layer").len().rows()
    print(
        f"{len(articles)} articles, gold spans per layer: {sorted(n_spans)}, "
        f"gold relations: {gold.relations.height}"
    )
    builder = ReleaseTableBuilder(shapes)
    # The rows tables() makes per chunk of articles, made once here (untimed).
    chunks = []
    ordered = sorted(articles, key=lambda a: a.id)
    for lo in range(0, len(ordered), CHUNK_ARTICLES):
        chunk = ordered[lo : lo + CHUNK_ARTICLES]
        part = gold_between(gold, chunk[0].id, chunk[-1].id)
        made = builder.rows(dataclasses.replace(inputs, articles=chunk, gold=part))
        chunks.append({c: made[c] for c in SPAN_CONFIGS})

    def from_rows(configs: tuple[str, ...]) -> dict[str, dict[str, pa.Table]]:
        """tables()' work for ``configs`` once rows() made their rows."""
        parts: dict[str, dict[str, list[pa.Table]]] = {c: {s: [] for s in SPLITS} for c in configs}
        for chunk_rows in chunks:
            for c in configs:
                by_split: dict[str, list[dict[str, Any]]] = {s: [] for s in SPLITS}
                for r in chunk_rows[c]:
                    by_split[splits[r[ARTICLE_ID]]].append(r)
                for s in SPLITS:
                    parts[c][s].append(pa.Table.from_pylist(by_split[s], schema=schemas[c]))
        return {
            c: {s: pa.concat_tables(parts[c][s]).combine_chunks() for s in SPLITS} for c in configs
        }

    def by_sql(configs: tuple[str, ...]) -> dict[str, dict[str, pa.Table]]:
        pieces = duckdb_span_pieces(gold, articles, splits, validated.taxonomy, schemas, configs)
        return whole_span_tables(pieces, schemas, configs)

    groups = [(c,) for c in SPAN_CONFIGS] + [SPAN_CONFIGS]
    for run in range(1, args.repeat + 1):
        for configs in groups:
            want, rows_cpu, rows_wall = _timed(partial(from_rows, configs))
            got, sql_cpu, sql_wall = _timed(partial(by_sql, configs))
            same = all(
                parquet_bytes(got[c][s]) == parquet_bytes(want[c][s])
                for c in configs
                for s in SPLITS
            )
            name = configs[0] if len(configs) == 1 else "all three"
            print(
                f"run {run} {name:>10}: rows -> Arrow {rows_cpu:.2f} CPU s ({rows_wall:.2f} wall)"
                f" | sql {sql_cpu:.2f} CPU s ({sql_wall:.2f} wall)"
                f" | sql/rows CPU {sql_cpu / max(rows_cpu, 1e-9):.2f} x | same bytes: {same}"
            )


if __name__ == "__main__":
    main()
