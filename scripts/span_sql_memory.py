"""Peak memory of the span SQL alone, the whole corpus in one query or a range of articles at a
time (``columnar_spans.duckdb_span_pieces``), on a project kept by ``scripts/bench.py --keep``.

    .venv/bin/python scripts/span_sql_memory.py PROJECT RANGE_ARTICLES

Parses and validates the project's inputs first (``plan_release``; not measured), then runs the
span SQL over the gold held in memory and prints its rows, seconds, the resident memory before
it and the peak during it (``io.memory``: VmHWM, reset just before). Run once per range size:
each run is its own process, so the peaks do not mix.
"""

from __future__ import annotations

import gc
import sys
import time
from pathlib import Path

from sahelwire.io.config import Settings
from sahelwire.io.memory import peak_rss_mb
from sahelwire.io.paths import ProjectPaths
from sahelwire.release.build import plan_release
from sahelwire.release.columnar_spans import SPAN_CONFIGS, duckdb_span_pieces
from sahelwire.schema.table_specs import ShapeBuilder, load_table_specs
from sahelwire.schema.taxonomy import load_taxonomy


def current_rss_mb() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS"):
            return int(line.split()[1]) / 1024
    return float("nan")


def main(argv: list[str]) -> int:
    if len(argv) != 2:
        print(__doc__)
        return 2
    paths, range_articles = ProjectPaths(Path(argv[0])), int(argv[1])
    plan = plan_release(paths, Settings.load(paths))
    specs = load_table_specs(paths.tables_file)
    shapes = ShapeBuilder(specs, load_taxonomy(paths.taxonomy_file))
    schemas = {c: shapes.arrow_schema(specs.configs[c], published=True) for c in SPAN_CONFIGS}
    validated = plan.validated
    gc.collect()
    before = current_rss_mb()
    peak_rss_mb()  # reset: the peak read below is the span SQL's
    clock, rows = time.perf_counter(), 0
    pieces = duckdb_span_pieces(
        validated.layers.gold,
        plan.articles,
        plan.splits,
        validated.taxonomy,
        schemas,
        range_articles=range_articles,
    )
    for _, _, table in pieces:
        rows += table.num_rows
    seconds = time.perf_counter() - clock
    print(
        f"range_articles={range_articles} rows={rows} seconds={seconds:.1f} "
        f"rss_before_mb={before:.0f} peak_during_mb={peak_rss_mb()}"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
