"""What the parsed inputs hold in memory (issue 17 item 3: the build's floor).

    .venv/bin/python scripts/input_memory.py PROJECT_DIR

Runs ``plan_release`` (parse, validate, adjudicate, splits) on PROJECT_DIR (e.g. a bench
corpus kept with ``scripts/bench.py --keep``, ``<kept>/project``) in this process and prints:
the RSS after importing the code, the peak and the RSS once the plan exists, each input
frame's rows and polars' estimate of its size, and the RSS once the plan is let go.
With ``_RJEM_MALLOC_CONF=dirty_decay_ms:0,muzzy_decay_ms:0`` in the environment polars'
allocator returns freed pages at once, so the last figure shows what the plan really held.
"""

from __future__ import annotations

import argparse
import gc
import time
from pathlib import Path

import polars as pl


def status_mb(key: str) -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(key + ":"):
            return int(line.split()[1]) / 1024
    return 0.0


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("project", type=Path)
    args = parser.parse_args()

    from sahelwire.io.config import Settings
    from sahelwire.io.paths import ProjectPaths
    from sahelwire.release.build import plan_release

    print(f"code imported: RSS {status_mb('VmRSS'):,.0f} MB")
    paths = ProjectPaths(args.project)
    started = time.perf_counter()
    plan = plan_release(paths, Settings.load(paths))
    gc.collect()
    print(
        f"plan made in {time.perf_counter() - started:.1f} s: RSS {status_mb('VmRSS'):,.0f} MB, "
        f"peak {status_mb('VmHWM'):,.0f} MB"
    )
    layers = plan.validated.layers
    per_annotator = ("annotations", "regions", "relations", "choices", "predictions")
    frames = {name: getattr(layers, name) for name in (*per_annotator, "prediction_results")}
    frames.update({f"gold.{name}": frame for name, frame in vars(layers.gold).items()})
    total = 0.0
    for name, frame in frames.items():
        if isinstance(frame, pl.DataFrame):
            size = frame.estimated_size() / 2**20
            total += size
            print(f"  {name:22} {frame.height:>12,} rows {size:>10,.0f} MB")
    print(f"  {'frames':22} {'':>17} {total:>10,.0f} MB (polars' estimate)")
    del plan, layers, frames
    gc.collect()
    print(f"plan let go: RSS {status_mb('VmRSS'):,.0f} MB")


if __name__ == "__main__":
    main()
