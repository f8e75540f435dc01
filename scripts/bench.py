"""Benchmark the pipeline on a synthetic corpus of N articles, against a bare Parquet write.

    .venv/bin/python scripts/bench.py                 # N = 10k and 100k
    .venv/bin/python scripts/bench.py --n 10000       # one size
    .venv/bin/python scripts/bench.py --with-1m       # also 1M (hours, tens of GB of disk)

Each stage runs in its own subprocess so its peak RSS (ru_maxrss) is its own, not the
maximum of everything before it. The baseline, in the same run, is ``pyarrow.parquet.
write_table`` of the very tables the build published (read back from its output) with the
build's Parquet options. Printed per stage: seconds, ratio to the baseline, microseconds per
article, peak RSS. Nothing here is asserted: the numbers go into docs/benchmarks.md.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
PROJECT_FILES = ("pyproject.toml", "DATASET_CARD.md")
PROJECT_FOLDERS = ("schemas",)
ANNOTATION_FILES = ("label_config.xml", "GUIDELINES.md")


def make_project(work: Path, n: int, seed: int) -> Path:
    """A fresh project under ``work``: committed schemas, no articles, synthetic inputs."""
    from sahelwire.paths import ProjectPaths
    from sahelwire.synthetic import write_corpus

    root = work / "project"
    (root / "dataset" / "raw" / "texts").mkdir(parents=True)
    (root / "dataset" / "raw" / "manifest.jsonl").write_text("")
    (root / "dataset" / "story_clusters.yaml").write_text("clusters: []\n")
    (root / "annotations").mkdir()
    for name in PROJECT_FILES:
        shutil.copy2(ROOT / name, root / name)
    for folder in PROJECT_FOLDERS:
        shutil.copytree(ROOT / folder, root / folder)
    for name in ANNOTATION_FILES:
        shutil.copy2(ROOT / "annotations" / name, root / "annotations" / name)
    sizes = write_corpus(ProjectPaths(ROOT), work / "corpus", n, seed=seed)
    shutil.copy2(work / "corpus" / "annotators.json", root / "annotations" / "annotators.json")
    print(f"  corpus: {sizes}", flush=True)
    return root


def _stage(name: str, root: Path, work: Path) -> dict[str, Any]:
    """Run one stage in this process (called in a fresh subprocess); return its measures."""
    from sahelwire.config import Settings
    from sahelwire.paths import ProjectPaths

    paths = ProjectPaths(root)
    settings = Settings.load(paths)
    export = work / "corpus" / "export.json"
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    extra: dict[str, Any] = {}
    t0 = time.perf_counter()
    if name == "ingest":
        from sahelwire.ingest import ingest

        result = ingest(paths, [work / "corpus" / "articles.jsonl"], settings.max_article_bytes)
        extra["added"] = len(result.added)
        # What `labelstudio pull` would have written: one file per task (not timed as a stage).
        os.replace(work / "corpus" / "exports", paths.exports_dir)
    elif name == "json_load":
        with export.open("rb") as f:
            extra["tasks"] = len(json.load(f))
    elif name == "parse_export":
        from sahelwire.annotation_tables import (
            collector_for,
            iter_export_tasks,
            tables_from_tasks,
        )

        parsed = tables_from_tasks(iter_export_tasks(export), collector_for(paths), "export.json")
        extra["problems"] = len(parsed.problems)
    elif name == "validate":
        from sahelwire.validation import validate_project

        report = validate_project(paths, include_dist=False)
        extra["problems"] = len(report.problems)
        if report.problems:
            extra["first_problem"] = str(report.problems[0])
    elif name == "build":
        from sahelwire.build import build

        release = build(paths, settings, work / "dist")
        extra["files"] = len(release.files)
    elif name == "baseline":
        import pyarrow.parquet as pq

        from sahelwire.parquet_files import PARQUET_OPTIONS

        tables = [pq.read_table(p) for p in sorted((work / "dist" / "data").rglob("*.parquet"))]
        t0 = time.perf_counter()
        for i, table in enumerate(tables):
            pq.write_table(table, str(work / f"baseline-{i}.parquet"), **PARQUET_OPTIONS)
        extra["tables"] = len(tables)
    elif name in ("load_first", "load_cached"):
        import datasets

        cache = work / "hf-cache"
        for config in sorted(p.name for p in (work / "dist" / "data").iterdir()):
            files = {
                p.name.split("-")[0]: str(p)
                for p in sorted((work / "dist" / "data" / config).glob("*.parquet"))
            }
            ds = datasets.load_dataset("parquet", data_files=files, cache_dir=str(cache))
            extra[config] = sum(len(split) for split in ds.values())
    else:
        raise SystemExit(f"unknown stage {name}")
    seconds = time.perf_counter() - t0
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return {"seconds": seconds, "peak_rss_mb": peak / 1024, "rss_before_mb": before / 1024, **extra}


STAGES = (
    "ingest",
    "json_load",
    "parse_export",
    "validate",
    "build",
    "baseline",
    "load_first",
    "load_cached",
)


def run_size(n: int, seed: int, keep: Path | None) -> dict[str, dict[str, Any]]:
    work = Path(tempfile.mkdtemp(prefix=f"sahelwire-bench-{n}-", dir=keep))
    print(f"N = {n}: generating in {work}", flush=True)
    t0 = time.perf_counter()
    root = make_project(work, n, seed)
    print(f"  generated in {time.perf_counter() - t0:.1f} s", flush=True)
    results: dict[str, dict[str, Any]] = {}
    env = {**os.environ, "SAHELWIRE_ROOT": str(root), "HF_DATASETS_OFFLINE": "1"}
    for stage in STAGES:
        proc = subprocess.run(
            [sys.executable, __file__, "--stage", stage, str(root), str(work)],
            env=env,
            capture_output=True,
            text=True,
        )
        if proc.returncode != 0:
            print(proc.stderr[-3000:], file=sys.stderr)
            raise SystemExit(f"stage {stage} failed at N={n}")
        results[stage] = json.loads(proc.stdout.strip().splitlines()[-1])
        print(f"  {stage}: {results[stage]}", flush=True)
    if keep is None:
        shutil.rmtree(work, ignore_errors=True)
    return results


def report(n: int, results: dict[str, dict[str, Any]]) -> str:
    base = results["baseline"]["seconds"]
    lines = [
        f"### N = {n:,}",
        "",
        "| stage | seconds | x baseline | µs / article | peak RSS MB |",
        "|---|---:|---:|---:|---:|",
    ]
    for stage, r in results.items():
        lines.append(
            f"| {stage} | {r['seconds']:.2f} | {r['seconds'] / base:.2f} | "
            f"{1e6 * r['seconds'] / n:.0f} | {r['peak_rss_mb']:.0f} |"
        )
    e2e = sum(results[s]["seconds"] for s in ("ingest", "validate", "build"))
    lines += [
        "",
        f"end to end (ingest + validate + build): {e2e:.2f} s = {e2e / base:.2f} x baseline",
    ]
    parse, load = results["parse_export"], results["json_load"]
    lines.append(
        f"export parsing vs json.load: {parse['seconds'] / load['seconds']:.2f} x time, "
        f"peak RSS {parse['peak_rss_mb']:.0f} MB vs {load['peak_rss_mb']:.0f} MB"
    )
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, action="append", help="corpus size (repeatable)")
    parser.add_argument("--with-1m", action="store_true", help="also run N = 1,000,000")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--keep", type=Path, help="keep work folders under this folder")
    parser.add_argument("--json", type=Path, help="also write all results as JSON here")
    parser.add_argument(
        "--stage", nargs=3, metavar=("NAME", "ROOT", "WORK"), help=argparse.SUPPRESS
    )
    args = parser.parse_args()
    if args.stage:
        name, root, work = args.stage
        print(json.dumps(_stage(name, Path(root), Path(work))))
        return
    sizes = args.n or [10_000, 100_000]
    if args.with_1m:
        sizes.append(1_000_000)
    print("command:", " ".join([Path(sys.executable).name, *sys.argv]), flush=True)
    everything = {}
    for n in sizes:
        results = run_size(n, args.seed, args.keep)
        everything[n] = results
        print(report(n, results), flush=True)
    if args.json:
        args.json.write_text(json.dumps(everything, indent=2) + "\n")


if __name__ == "__main__":
    main()
