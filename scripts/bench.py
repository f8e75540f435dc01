"""Benchmark the pipeline on a synthetic corpus of N articles, against a bare Parquet write.

    .venv/bin/python scripts/bench.py                 # N = 10k and 100k
    .venv/bin/python scripts/bench.py --n 10000       # one size
    .venv/bin/python scripts/bench.py --with-1m       # also 1M, 10% annotated (hours; see
                                                      # docs/benchmarks.md for its disk)
    .venv/bin/python scripts/bench.py --n 1000000 --estimate-disk   # the disk it needs, then stop
    .venv/bin/python scripts/bench.py --n 5000 --annotated 0.1      # 500 tasks, 4,500 raw only
    .venv/bin/python scripts/bench.py --n 10000 --stages ingest,parse_export,json_load
    .venv/bin/python scripts/bench.py --n 10000 --skip build --timeout 600
    .venv/bin/python scripts/bench.py --reuse /tmp/bb10/sahelwire-bench-10000-xyz --stages build
    .venv/bin/python scripts/bench.py --n 10000 --stages ingest,build,rebuild_1pct,baseline

Each stage runs in its own subprocess so its peak RSS (ru_maxrss) is its own, not the
maximum of everything before it. The baseline, in the same run, is ``pyarrow.parquet.
write_table`` of the very tables the build published (read back from its output) with the
build's Parquet options. Printed per stage: status, seconds, ratio to the baseline,
microseconds per article, peak RSS. A stage that fails or runs past ``--timeout`` is recorded
as such (with the end of its error output) and the run goes on. Nothing here is asserted and
no figure is written in advance: the numbers go into docs/benchmarks.md.

``validate`` and ``build`` start from an empty export cache (sahelwire.annotations.export_cache),
empty per-article memos (every folder of ``sahelwire.release.memos``) and no remembered file
hashes (exports, raw texts), so they are full figures whatever ran before; ``rebuild_1pct`` then changes 1% of the export
files (one annotation's lead_time each: a real change that stays valid, and one that leaves
the gold and so most published files as they were) and builds again, with the caches the build
left: the incremental figure. ``rebuild_1pct_gold`` does the same with a change to the gold:
every annotation of 1% of the export files gets another stance (a document label), so every
``documents`` file changes.

Disk: the standard sizes have an annotated share (STANDARD_ANNOTATED: 1M is 10% annotated,
the rest raw only); before generating, the run's peak disk is estimated (estimate_disk) and
a run that would not fit in the free disk less DISK_MARGIN is refused with exit 2. What each
size used is recorded under "disk" in the results.
"""

from __future__ import annotations

import argparse
import itertools
import json
import logging
import os
import resource
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
PROJECT_FILES = ("pyproject.toml", "DATASET_CARD.md")
PROJECT_FOLDERS = ("schemas",)
ANNOTATION_FILES = ("label_config.xml", "GUIDELINES.md")
STAGES = (
    "ingest",
    "json_load",
    "parse_export",
    "validate",
    "build",
    "rebuild_1pct",
    "rebuild_1pct_gold",
    "baseline",
    "annotations_raw_polars",
    "annotations_raw_duckdb",
    "converter_json_min",
    "converter_conll",
    "load_first",
    "load_cached",
)
# The peer a user would reach for: Label Studio's own converter, run on the same export list
# (JSON_MIN and CoNLL-2003, both lossy and unvalidated), so the comparison is in every run.
CONVERTER_FORMATS = {
    "converter_json_min": "convert_to_json_min",
    "converter_conll": "convert_to_conll2003",
}
# Characters of a failed stage's stderr kept in the results (the end: where the error is).
ERROR_TAIL = 2000
# Which stages read which generated inputs: the rest is not written (disk at large N).
TASK_FILES_NEEDED_BY = {
    "validate",
    "build",
    "rebuild_1pct",
    "rebuild_1pct_gold",
    "baseline",
    "annotations_raw_polars",
    "annotations_raw_duckdb",
    "load_first",
    "load_cached",
}
# rebuild_1pct: the share of export files changed before the incremental build.
REBUILD_SHARE = 0.01
EXPORT_LIST_NEEDED_BY = {"json_load", "parse_export", *CONVERTER_FORMATS}
# json.load builds Python objects for the whole export: its peak RSS was ~10.6x the file's
# size on the synthetic corpus (10k run). Above MemAvailable / this factor the stage is not
# run (recorded "not_run") rather than pushing the machine into swap or the OOM killer.
JSON_LOAD_MEMORY_FACTOR = 12


# The standard sizes and the share of their articles that is annotated; the rest are raw only
# (ingested text, no task). 10k and 100k stay fully annotated, so their figures compare with
# the earlier runs; 1M is the standard corpus with 10% annotated, which keeps its
# disk within ~40 GB (estimate: docs/benchmarks.md, or --estimate-disk). Other sizes given with
# --n are fully annotated unless --annotated says otherwise.
STANDARD_SIZES = (10_000, 100_000)
SIZE_1M = 1_000_000
STANDARD_ANNOTATED = {10_000: 1.0, 100_000: 1.0, SIZE_1M: 0.1}
# The parts of a work folder whose disk use is recorded (results "disk"; docs/benchmarks.md).
DISK_PARTS = {
    "articles.jsonl": "corpus/articles.jsonl",
    "export.json": "corpus/export.json",
    "exports": "project/annotations/exports",
    "raw": "project/dataset/raw",
    "state": "project/.sahelwire",  # the export cache, parse_export's spill
    "dist": "dist",
    "hf-cache": "hf-cache",
    **{stage: stage for stage in CONVERTER_FORMATS},
}
# What the stages write, by part: (stages that write it, bytes per article, bytes per
# annotated task). Solved from the disk use of two runs (docs/benchmarks.md, "Disk"): 2,000
# articles all annotated and 5,000 with 10% annotated; a negative term is taken as 0.
DERIVED_BYTES: dict[str, tuple[set[str], float, float]] = {
    "state": (TASK_FILES_NEEDED_BY | {"parse_export"}, 40, 3100),
    "dist": ({"build", "rebuild_1pct", "rebuild_1pct_gold"}, 1200, 2650),
    "baseline": ({"baseline"}, 1150, 2400),
    "hf-cache": ({"load_first", "load_cached"}, 33_800, 111_200),
    "converter_json_min": ({"converter_json_min"}, 0, 21_700),
    "converter_conll": ({"converter_conll"}, 0, 11_100),
}
# Outputs no later stage reads, removed after the last selected stage of the set (their size
# is recorded first): a run's peak disk is its inputs, export cache and dist plus the largest
# of these, not their sum.
REMOVED_AFTER = {
    "baseline": {"baseline"},
    "hf-cache": {"load_first", "load_cached"},
    **{stage: {stage} for stage in CONVERTER_FORMATS},
}
# Not run at 1M unless --stages names them: the datasets cache of every config (an
# uncompressed Arrow copy; ner_bio's token lists dominate) would be ~42 GiB at 1M with 10%
# annotated, more than the rest of the run (DERIVED_BYTES).
NOT_AT_1M = ("load_first", "load_cached")
# dataset/raw/ beyond the texts' own blocks: the manifest row and the directory entry
# (measured: 5,000 articles, docs/benchmarks.md "Disk").
RAW_BYTES_PER_ARTICLE = 400
# Free disk kept untouched by a run: other jobs share the disk, and the estimate is one.
DISK_MARGIN = 2 * 2**30
# Articles rendered (not written) to measure the mean per-article sizes of the estimate.
ESTIMATE_SAMPLE = 500


def _mem_available_bytes() -> int | None:
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemAvailable:"):
                return int(line.split()[1]) * 1024
    except OSError:
        return None
    return None


def make_project(
    work: Path, n: int, seed: int, stages: tuple[str, ...] = STAGES, annotated: float = 1.0
) -> Path:
    """A fresh project under ``work``: committed schemas, no articles, synthetic inputs.

    The per-task export files go into the project's annotations/exports/ (where ``labelstudio
    pull`` writes them); the corpus' articles.jsonl and export.json stay under ``work/corpus``.
    Only the inputs that ``stages`` read are written (see the *_NEED_* sets).
    """
    from sahelwire.io.paths import ProjectPaths
    from sahelwire.raw.synthetic import write_corpus

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
    sizes = write_corpus(
        ProjectPaths(ROOT),
        work / "corpus",
        n,
        seed=seed,
        task_files=bool(TASK_FILES_NEEDED_BY & set(stages)),
        export_list=bool(EXPORT_LIST_NEEDED_BY & set(stages)),
        annotated=annotated,
    )
    shutil.copy2(work / "corpus" / "annotators.json", root / "annotations" / "annotators.json")
    os.replace(work / "corpus" / "exports", root / "annotations" / "exports")
    print(f"  corpus: {sizes}", flush=True)
    return root


def disk_usage(path: Path) -> int:
    """Bytes allocated on disk under ``path`` (blocks, as ``du``; symlinks not followed)."""
    if not path.exists():
        return 0
    if not path.is_dir():
        return path.lstat().st_blocks * 512
    total = 0
    stack = [path]
    while stack:
        with os.scandir(stack.pop()) as entries:
            for entry in entries:
                if entry.is_dir(follow_symlinks=False):
                    stack.append(Path(entry.path))
                total += entry.stat(follow_symlinks=False).st_blocks * 512
    return total


def _part_usage(work: Path, part: str) -> int:
    if part == "baseline":
        return sum(disk_usage(p) for p in work.glob("baseline-*.parquet"))
    return disk_usage(work / DISK_PARTS[part])


def _parts_usage(work: Path) -> dict[str, int]:
    """disk_usage of each part of a work folder (see DISK_PARTS); "other" is the rest."""
    parts = {name: _part_usage(work, name) for name in (*DISK_PARTS, "baseline")}
    parts["other"] = max(0, disk_usage(work) - sum(parts.values()))
    return parts


def _remove_unread_outputs(
    work: Path, stage: str, stages: tuple[str, ...], usage: dict[str, int]
) -> None:
    """After ``stage``: remove the REMOVED_AFTER outputs no later selected stage reads."""
    later = set(stages[stages.index(stage) + 1 :])
    for part, readers in REMOVED_AFTER.items():
        if stage in readers and not later & readers:
            if part == "baseline":
                for path in work.glob("baseline-*.parquet"):
                    path.unlink()
            else:
                shutil.rmtree(work / DISK_PARTS[part], ignore_errors=True)
            usage[part] = 0


def _on_disk(size: int, block: int) -> int:
    return -(-size // block) * block


def estimate_disk(
    n: int, annotated: float, stages: tuple[str, ...], seed: int, block: int = 4096
) -> dict[str, int]:
    """Bytes a run at size ``n`` has on disk at its peak with the stages in ``stages``, by
    part (the names of DISK_PARTS; of the REMOVED_AFTER outputs, only the largest).

    The generated inputs and the ingested texts from the mean sizes of the first
    ESTIMATE_SAMPLE articles, rendered (not written), each file rounded up to ``block``; what
    the stages write from the per-article and per-task bytes measured on a small run
    (DERIVED_BYTES).
    """
    from sahelwire.io.paths import ProjectPaths
    from sahelwire.raw.synthetic import annotated_count, generate

    tasks = annotated_count(n, annotated)
    sample = list(itertools.islice(generate(ProjectPaths(ROOT), n, seed=seed), ESTIMATE_SAMPLE))
    k = max(1, len(sample))

    def mean(sizes: Iterable[int]) -> float:
        return sum(sizes) / k

    line = mean(
        len(json.dumps({"id": a.id, "text": a.text}, ensure_ascii=False).encode()) + 1
        for a in sample
    )
    parts = {"articles.jsonl": n * line}
    chosen = set(stages)
    if chosen & TASK_FILES_NEEDED_BY:
        parts["exports"] = tasks * mean(
            _on_disk(len(a.task_json().encode()), block) for a in sample
        )
    if chosen & EXPORT_LIST_NEEDED_BY:
        parts["export.json"] = tasks * mean(len(a.export_item_json().encode()) + 1 for a in sample)
    if "ingest" in chosen:
        texts = mean(_on_disk(len(a.text.encode()), block) for a in sample)
        parts["raw"] = n * (texts + RAW_BYTES_PER_ARTICLE)
    removed: dict[str, float] = {}
    for part, (made_by, per_article, per_task) in DERIVED_BYTES.items():
        if chosen & made_by:
            (removed if part in REMOVED_AFTER else parts)[part] = n * per_article + tasks * per_task
    if removed:  # one at a time: only the largest counts
        largest = max(removed, key=lambda part: removed[part])
        parts[f"largest removed output ({largest})"] = removed[largest]
    return {part: round(size) for part, size in parts.items()}


def check_disk(folder: Path, estimates: dict[int, dict[str, int]], keep: bool = False) -> None:
    """Refuse (exit 2) a run whose estimated disk use passes the free disk less DISK_MARGIN.

    Without ``keep`` each size's work folder goes before the next: the largest size counts;
    with it they pile up: the sum.
    """
    totals = {n: sum(parts.values()) for n, parts in estimates.items()}
    need = sum(totals.values()) if keep else max(totals.values(), default=0)
    # --keep may name a folder not made yet, under parents not made yet either.
    while not folder.exists():
        folder = folder.parent
    free = shutil.disk_usage(folder).free
    for n, total in totals.items():
        print(f"disk estimate at N = {n:,}: {total / 2**30:.1f} GiB {estimates[n]}", flush=True)
    if need > free - DISK_MARGIN:
        print(
            f"error: this run needs ~{need / 2**30:.1f} GiB of disk under {folder}"
            f"{' (--keep: every size is kept)' if keep else ''}; "
            f"{free / 2**30:.1f} GiB free, less a {DISK_MARGIN / 2**30:.0f} GiB margin. "
            "Free disk, choose another --keep folder or fewer stages.",
            file=sys.stderr,
            flush=True,
        )
        raise SystemExit(2)


def touch_exports(folder: Path, share: float, stances: Sequence[str] | None = None) -> list[str]:
    """Change ``share`` of the export files (evenly spread): one annotation's lead_time each,
    or with ``stances`` (the taxonomy's names) every annotation's stance, so the gold changes.

    A real change that stays valid (lead_time >= 0; a stance of the taxonomy), written as pull
    writes a task file; the names of the files changed, in order.
    """
    from sahelwire.raw.synthetic import task_json

    files = sorted(folder.glob("*.json"))
    if not files:
        return []
    count = max(1, round(len(files) * share))
    chosen = [files[i * len(files) // count] for i in range(count)]
    for path in chosen:
        task = json.loads(path.read_text(encoding="utf-8"))
        if stances is None:
            annotation = task["annotations"][0]
            annotation["lead_time"] = round((annotation.get("lead_time") or 0.0) + 1.5, 3)
        else:
            for annotation in task["annotations"]:
                for result in annotation["result"]:
                    if result.get("from_name") == "stance_us_presence":
                        old = result["value"]["choices"][0]
                        result["value"]["choices"] = [next(n for n in stances if n != old)]
        path.write_text(task_json(task), encoding="utf-8")
    return [p.name for p in chosen]


class _CacheLog(logging.Handler):
    """What the export cache did during a stage (the parser logs it at DEBUG), and the
    ner_bio workers' last share and wait (``release.bio_workers`` logs them at DEBUG)."""

    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.reads: list[Any] = []
        self.bio_workers: list[dict[str, float]] = []

    def emit(self, record: logging.LogRecord) -> None:
        stats = getattr(record, "cache_stats", None)
        if stats is not None:
            self.reads.append(stats)
        bio = getattr(record, "bio_workers", None)
        if bio is not None:  # the ner_bio workers' last share and the build's wait for them
            self.bio_workers.append(bio)

    def summary(self) -> list[dict[str, Any]]:
        return [
            {"parsed": len(s.parsed), "from_cache": len(s.hits), "stored": s.stored}
            for s in self.reads
        ]


def _stage(name: str, root: Path, work: Path) -> dict[str, Any]:
    """Run one stage in this process (called in a fresh subprocess); return its measures."""
    from sahelwire.annotations.export_cache import clear
    from sahelwire.io.config import Settings
    from sahelwire.io.paths import ProjectPaths

    paths = ProjectPaths(root)
    settings = Settings.load(paths)
    export = work / "corpus" / "export.json"
    extra: dict[str, Any] = {}
    if name in ("validate", "build"):
        from sahelwire.io import file_hashes
        from sahelwire.io.article_packs import clear_folder
        from sahelwire.release import parquet_reuse
        from sahelwire.release.memos import memo_folders
        from sahelwire.release.validation import raw_hashes_folder

        clear(paths)  # a full figure, whatever stage filled the cache before
        file_hashes.clear(raw_hashes_folder(paths))  # every raw text read, as the exports
        for _, memo in memo_folders(paths):
            clear_folder(memo)  # the per-article memos too
        parquet_reuse.clear(paths)  # and the last build's files: every file encoded
    if name == "rebuild_1pct":
        extra["changed_files"] = len(touch_exports(paths.exports_dir, REBUILD_SHARE))
    if name == "rebuild_1pct_gold":
        from sahelwire.schema.taxonomy import load_taxonomy

        stances = load_taxonomy(paths.taxonomy_file).class_names(
            "document_labels.stance_us_presence"
        )
        extra["changed_files"] = len(touch_exports(paths.exports_dir, REBUILD_SHARE, stances))
    cache_log = _CacheLog()
    for logger_name in ("sahelwire.annotations.tables", "sahelwire.release.bio_workers"):
        logger = logging.getLogger(logger_name)
        logger.addHandler(cache_log)
        logger.setLevel(logging.DEBUG)
    usage = resource.getrusage(resource.RUSAGE_SELF)
    before = usage.ru_maxrss
    # CPU seconds too: on a machine shared with other jobs, wall time swings with their load.
    # The children's count as well: a cold read parses in worker processes.
    kids = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu0 = usage.ru_utime + usage.ru_stime + kids.ru_utime + kids.ru_stime
    child0 = kids.ru_utime + kids.ru_stime
    t0 = time.perf_counter()
    try:
        with TreeMemory() as tree:
            timed_from = _run_stage(name, root, work, paths, settings, export, extra)
            end = time.perf_counter()  # before the sampler's thread is joined
    except _NotRun as reason:
        return {"status": "not_run", "error": str(reason)}
    seconds = end - (t0 if timed_from is None else timed_from)
    usage = resource.getrusage(resource.RUSAGE_SELF)
    kids = resource.getrusage(resource.RUSAGE_CHILDREN)
    extra["cpu_seconds"] = usage.ru_utime + usage.ru_stime + kids.ru_utime + kids.ru_stime - cpu0
    extra["child_cpu_seconds"] = kids.ru_utime + kids.ru_stime - child0
    if cache_log.reads:
        extra["export_cache"] = cache_log.summary()
    if cache_log.bio_workers:
        extra["bio_workers"] = cache_log.bio_workers
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    children = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
    # The build resets the kernel's peak at each phase (io.memory), and ru_maxrss reads
    # that reset peak: the true one is the highest phase's (1,504 MB where ru_maxrss said
    # 1,086 at 10k).
    phase_peaks = extra.get("phase_peak_rss_mb") or {}
    return {
        "seconds": seconds,
        "peak_rss_mb": max(peak, children, *phase_peaks.values()),
        # The stage and its workers together (sampled): see TreeMemory.
        "peak_tree_rss_mb": tree.peak_rss_kb / 1024,
        "peak_tree_pss_mb": tree.peak_pss_kb / 1024,
        "peak_tree_processes": tree.peak_processes,
        "rss_before_mb": before / 1024,
        **extra,
    }


def _run_stage(
    name: str,
    root: Path,
    work: Path,
    paths: Any,
    settings: Any,
    export: Path,
    extra: dict[str, Any],
) -> float | None:
    """The work of stage ``name``; its figures go into ``extra``. Returns when the timed part
    began if the stage times only part of its work (the baseline: its writes), else None;
    raises :class:`_NotRun` for a stage that cannot run here."""
    if name == "ingest":
        from sahelwire.raw.ingest import ingest

        result = ingest(paths, [work / "corpus" / "articles.jsonl"], settings.max_article_bytes)
        extra["added"] = len(result.added)
        extra["input_mb"] = (work / "corpus" / "articles.jsonl").stat().st_size / 2**20
    elif name == "json_load":
        need = JSON_LOAD_MEMORY_FACTOR * export.stat().st_size
        available = _mem_available_bytes()
        if available is not None and need > available:
            raise _NotRun(
                f"json.load of this {export.stat().st_size / 2**30:.1f} GiB export "
                f"would need ~{need / 2**30:.0f} GiB; {available / 2**30:.0f} GiB available"
            )
        with export.open("rb") as f:
            extra["tasks"] = len(json.load(f))
        extra["input_mb"] = export.stat().st_size / 2**20
    elif name == "parse_export":
        from sahelwire.annotations.export_stream import streamed_tables

        parsed = streamed_tables(paths, export)
        extra["tasks"] = parsed.tasks
        extra["regions"] = parsed.regions.height
        extra["problems"] = len(parsed.problems)
        if parsed.problems:
            extra["first_problem"] = str(parsed.problems[0])
        extra["input_mb"] = export.stat().st_size / 2**20
    elif name == "validate":
        from sahelwire.release.validation import validate_project

        report = validate_project(paths, include_dist=False)
        extra["problems"] = len(report.problems)
        if report.problems:
            extra["first_problem"] = str(report.problems[0])
    elif name in ("build", "rebuild_1pct", "rebuild_1pct_gold"):
        from sahelwire.release.build import build

        release = build(paths, settings, work / "dist")
        extra["files"] = len(release.files)
        # Data files placed from the last build's, not encoded (release.parquet_reuse).
        extra["reused_files"] = len(release.reused_files)
        extra["data_files"] = len(release.data)
        extra["phases"] = release.seconds
        extra["phase_peak_rss_mb"] = release.peak_rss_mb
        extra["overlapped_seconds"] = release.overlapped_seconds
    elif name == "baseline":
        import pyarrow.parquet as pq

        from sahelwire.release.parquet_files import PARQUET_OPTIONS

        built = sorted((work / "dist" / "data").rglob("*.parquet"))
        if not built:
            raise SystemExit(f"no build output under {work / 'dist' / 'data'}: run build first")
        # One table in memory at a time: all 27 at once (≈21 GB at 1M) were killed by the
        # kernel. Only the writes are the baseline, so the reads are left out of its time.
        writing, rows = 0.0, 0
        for i, path in enumerate(built):
            table = pq.read_table(path)
            started = time.perf_counter()
            pq.write_table(table, str(work / f"baseline-{i}.parquet"), **PARQUET_OPTIONS)
            writing += time.perf_counter() - started
            rows += table.num_rows
            del table
        extra["tables"] = len(built)
        extra["rows"] = rows
        return time.perf_counter() - writing
    elif name in ("annotations_raw_polars", "annotations_raw_duckdb"):
        timed_from, figures = _annotations_raw(paths, settings, name.rsplit("_", 1)[1])
        extra.update(figures)
        return timed_from
    elif name in CONVERTER_FORMATS:
        from label_studio_sdk.converter import Converter

        out_dir = work / name
        converter = Converter(
            config=str(root / "annotations" / "label_config.xml"),
            project_dir=str(work),
            download_resources=False,
        )
        getattr(converter, CONVERTER_FORMATS[name])(str(export), str(out_dir), is_dir=False)
        extra["output_mb"] = (
            sum(p.stat().st_size for p in out_dir.rglob("*") if p.is_file()) / 2**20
        )
        extra["input_mb"] = export.stat().st_size / 2**20
    elif name in ("load_first", "load_cached"):
        import datasets

        cache = work / "hf-cache"
        data = work / "dist" / "data"
        if not data.is_dir():
            raise SystemExit(f"no build output under {data}: run build first")
        for config in sorted(p.name for p in data.iterdir()):
            files = {
                p.name.split("-")[0]: str(p) for p in sorted((data / config).glob("*.parquet"))
            }
            ds = datasets.load_dataset("parquet", data_files=files, cache_dir=str(cache))
            extra[config] = sum(len(split) for split in ds.values())
    else:
        raise SystemExit(f"unknown stage {name}")
    return None


class _NotRun(Exception):
    """A stage that cannot run on this machine (recorded as not_run, with the reason)."""


def _annotations_raw(paths: Any, settings: Any, engine: str) -> tuple[float, dict[str, Any]]:
    """The annotations_raw config by ``engine`` (build_engine), timed alone, and the bare
    write of the very tables it made: the engine's cost as a ratio to writing its output.

    The inputs are parsed and validated first as the build does (through the export cache
    the build stage left), untimed; returns the start time of the timed part for _stage.
    """
    import io

    import pyarrow.parquet as pq

    from sahelwire.annotations.layers import raw_frame
    from sahelwire.release.build import BuildRefused, plan_release
    from sahelwire.release.columnar import duckdb_raw_tables
    from sahelwire.release.parquet_files import PARQUET_OPTIONS
    from sahelwire.release.tables import ReleaseTableBuilder
    from sahelwire.schema.table_specs import ShapeBuilder

    try:
        plan = plan_release(paths, settings)
    except BuildRefused as refused:
        raise SystemExit(f"invalid inputs: {refused.problems[0]}") from None
    validated, splits = plan.validated, plan.splits
    shapes = ShapeBuilder(validated.specs, validated.taxonomy)
    schema = shapes.arrow_schema(validated.specs.configs["annotations_raw"], published=True)
    layers = validated.layers
    rss_before = _vm_kb("VmRSS") / 1024
    # "5" resets the kernel's peak RSS (VmHWM) to the current RSS: the peak read after the
    # engine is its own, not the validation's before it.
    Path("/proc/self/clear_refs").write_text("5")
    cpu0 = time.process_time()
    t0 = time.perf_counter()
    if engine == "duckdb":
        tables = duckdb_raw_tables(layers, splits, validated.specs, schema)
    else:
        tables = ReleaseTableBuilder.raw_tables(raw_frame(layers), splits, schema)
    seconds = time.perf_counter() - t0
    cpu = time.process_time() - cpu0
    engine_peak = _vm_kb("VmHWM") / 1024
    w = time.perf_counter()
    for table in tables.values():
        pq.write_table(table, io.BytesIO(), **PARQUET_OPTIONS)
    write = time.perf_counter() - w
    # _stage times from t0 to its end: move t0 so that the write is not counted.
    return time.perf_counter() - seconds, {
        "rows": sum(t.num_rows for t in tables.values()),
        "bare_write_seconds": write,
        # The stage's cpu_seconds and peak RSS include the untimed parse and validation;
        # these are the engine's own.
        "engine_cpu_seconds": cpu,
        "rss_before_engine_mb": rss_before,
        "engine_peak_rss_mb": engine_peak,
    }


# The page size /proc/<pid>/statm counts in (the sampler reads /proc: Linux only).
PAGE_KB = os.sysconf("SC_PAGE_SIZE") // 1024


class TreeMemory:
    """The stage's process and its live descendants (parse and ``ner_bio`` workers), their
    memory summed, sampled every ``interval`` seconds on a thread: ru_maxrss is one process's
    peak, and workers run beside the build. Two sums: RSS (pages shared by the processes,
    such as the libraries' code, counted in each) and PSS (shared pages divided among their
    sharers, what the processes take from the machine together). A sample can miss a peak
    shorter than ``interval``.

    RSS comes from ``/proc/<pid>/statm`` (a counter); PSS only from ``smaps_rollup``, for
    which the kernel walks every page of the process: at a 4 GB build that sampler thread
    was busy 77 s of a 628 s rebuild when it read ``smaps_rollup`` every sample (py-spy,
    docs/benchmarks.md). So PSS is read when the RSS sum reaches a new high by more than
    ``PSS_STEP``, or is within it of the high and ``pss_every`` seconds have passed: the PSS
    peak is where the RSS is high, not where it is low (PSS ≤ RSS).
    """

    PSS_STEP = 0.02

    def __init__(self, interval: float = 0.5, pss_every: float = 5.0) -> None:
        self.interval = interval
        self.pss_every = pss_every
        self.peak_rss_kb = 0
        self.peak_pss_kb = 0
        self.peak_processes = 0
        self.pss_reads = 0
        self._pss_at = -float("inf")  # when PSS was last read (time.monotonic)
        self._pss_rss_kb = 0  # the RSS sum at that read
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="tree-memory", daemon=True)

    def __enter__(self) -> TreeMemory:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()
        self.sample()  # the last state too

    def _run(self) -> None:
        while not self._stop.wait(self.interval):
            self.sample()

    def sample(self) -> None:
        rss = 0
        pids = _tree(os.getpid())
        for pid in pids:
            try:
                rss += int(Path(f"/proc/{pid}/statm").read_text().split()[1]) * PAGE_KB
            except (OSError, IndexError, ValueError):
                continue  # it ended between the walk and the read
        high = max(self.peak_rss_kb, self._pss_rss_kb)
        now = time.monotonic()
        if rss > self.peak_rss_kb:
            self.peak_rss_kb = rss
            self.peak_processes = len(pids)
        if rss > high * (1 + self.PSS_STEP) or (
            rss >= high * (1 - self.PSS_STEP) and now - self._pss_at >= self.pss_every
        ):
            self._read_pss(pids, rss, now)

    def _read_pss(self, pids: list[int], rss: int, now: float) -> None:
        pss = 0
        for pid in pids:
            try:
                text = Path(f"/proc/{pid}/smaps_rollup").read_text()
            except OSError:
                continue  # it ended between the walk and the read
            for line in text.splitlines():
                if line.startswith("Pss:"):
                    pss += int(line.split()[1])
        self.peak_pss_kb = max(self.peak_pss_kb, pss)
        self.pss_reads += 1
        self._pss_at = now
        self._pss_rss_kb = max(self._pss_rss_kb, rss)


def _tree(pid: int) -> list[int]:
    """``pid`` and its descendants, from /proc's children lists (a thread's children are
    listed under that thread)."""
    found = [pid]
    for parent in found:
        try:
            tasks = os.listdir(f"/proc/{parent}/task")
        except OSError:
            continue
        for task in tasks:
            try:
                kids = Path(f"/proc/{parent}/task/{task}/children").read_text().split()
            except OSError:
                continue
            found += [int(k) for k in kids if int(k) not in found]
    return found


def _vm_kb(field: str) -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(f"{field}:"):
            return int(line.split()[1])
    return 0


def stages_at(
    n: int, stages: tuple[str, ...], named: bool
) -> tuple[tuple[str, ...], dict[str, str]]:
    """The stages run at size ``n`` and why any selected one is not: NOT_AT_1M at 1M and
    above, unless ``--stages`` named the stages."""
    if n < SIZE_1M or named:
        return stages, {}
    why = "not at 1M unless --stages names it: the datasets cache would not fit (NOT_AT_1M)"
    return (
        tuple(s for s in stages if s not in NOT_AT_1M),
        {s: why for s in stages if s in NOT_AT_1M},
    )


def annotated_share(n: int, annotated: float | None) -> float:
    """The annotated share at size ``n``: ``--annotated`` if given, else the standard one."""
    return annotated if annotated is not None else STANDARD_ANNOTATED.get(n, 1.0)


def _annotated_text(n: int, annotated: float) -> str:
    from sahelwire.raw.synthetic import annotated_count

    return f"{100 * annotated:g}% annotated: {annotated_count(n, annotated):,} tasks"


def stage_command(name: str, root: Path, work: Path) -> list[str]:
    return [sys.executable, str(Path(__file__).resolve()), "--stage", name, str(root), str(work)]


def run_stage(
    name: str, root: Path, work: Path, env: dict[str, str], timeout: float | None
) -> dict[str, Any]:
    """One stage in a fresh process: its measures, or how it failed; never raises for it."""
    # Dirty pages left by earlier steps (the generated corpus: gigabytes) would otherwise be
    # flushed during, and billed to, this stage (ingest syncs before writing its manifest).
    os.sync()
    started = time.perf_counter()
    proc = subprocess.Popen(
        stage_command(name, root, work),
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,  # its own process group: a timeout ends its children too
    )
    try:
        out, err = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        out, err = proc.communicate()
        return {
            "status": "timeout",
            "seconds": time.perf_counter() - started,
            "error": f"over the --timeout of {timeout} s; killed",
            "stderr_tail": err[-ERROR_TAIL:],
        }
    wall = time.perf_counter() - started
    if proc.returncode != 0:
        return {
            "status": "failed",
            "seconds": wall,
            "returncode": proc.returncode,
            "error": (err.strip().splitlines() or [f"exit {proc.returncode}"])[-1],
            "stderr_tail": err[-ERROR_TAIL:],
        }
    try:
        measured = json.loads(out.strip().splitlines()[-1])
    except (IndexError, json.JSONDecodeError):
        return {
            "status": "failed",
            "seconds": wall,
            "error": "the stage printed no result line",
            "stderr_tail": err[-ERROR_TAIL:],
        }
    return {"status": "ok", "wall_seconds": wall, **measured}  # "status" in measured wins


def run_size(
    n: int,
    seed: int,
    keep: Path | None,
    stages: tuple[str, ...] = STAGES,
    timeout: float | None = None,
    reuse: Path | None = None,
    annotated: float = 1.0,
    skip_notes: dict[str, str] | None = None,
) -> dict[str, dict[str, Any]]:
    """Every selected stage at size ``n``: {stage: measures}, plus "generate" and "disk"."""
    from sahelwire.raw.synthetic import annotated_count

    results: dict[str, dict[str, Any]] = {}
    if reuse is not None:
        work = reuse
        root = work / "project"
        print(f"N = {n}: reusing {work}", flush=True)
        results["generate"] = {"status": "skipped", "error": f"reused {work}"}
        estimate = None
    else:
        estimate = estimate_disk(n, annotated, stages, seed)
        check_disk(keep or Path(tempfile.gettempdir()), {n: estimate})
        work = Path(tempfile.mkdtemp(prefix=f"sahelwire-bench-{n}-", dir=keep))
        print(f"N = {n} ({_annotated_text(n, annotated)}): generating in {work}", flush=True)
        t0 = time.perf_counter()
        root = make_project(work, n, seed, stages, annotated)
        results["generate"] = {
            "status": "ok",
            "seconds": time.perf_counter() - t0,
            "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
            # Only what the selected stages read was generated (see make_project).
            **{
                f"{f.stem}_mb": f.stat().st_size / 2**20
                for f in (work / "corpus" / "export.json", work / "corpus" / "articles.jsonl")
                if f.exists()
            },
        }
        print(f"  generate: {results['generate']}", flush=True)
    # Measured outside every stage's timing (a walk of a million files takes a while).
    disk: dict[str, Any] = {
        "annotated": annotated if reuse is None else None,
        "tasks": (
            annotated_count(n, annotated)
            if reuse is None
            else sum(1 for _ in (root / "annotations" / "exports").glob("*.json"))
        ),
        "corpus_bytes": disk_usage(work),
        "corpus_parts_bytes": _parts_usage(work),
    }
    env = {**os.environ, "SAHELWIRE_ROOT": str(root), "HF_DATASETS_OFFLINE": "1"}
    # What is on disk, by part, followed stage by stage without walking the big parts again
    # (the generated inputs do not grow; the texts are measured once, after ingest).
    usage = dict(disk["corpus_parts_bytes"])
    peak = disk["corpus_bytes"]
    notes = skip_notes or {}
    for stage in STAGES:
        if stage not in stages:
            results[stage] = {
                "status": "skipped",
                **({"error": notes[stage]} if stage in notes else {}),
            }
            continue
        results[stage] = run_stage(stage, root, work, env, timeout)
        for part in ("raw",) if stage == "ingest" else ():
            usage[part] = disk_usage(work / DISK_PARTS[part])
        for part in ("state", "dist"):
            usage[part] = disk_usage(work / DISK_PARTS[part])
        for part in REMOVED_AFTER:
            usage[part] = _part_usage(work, part)
        results[stage]["disk_after_mb"] = sum(usage.values()) / 2**20
        peak = max(peak, sum(usage.values()))
        _remove_unread_outputs(work, stage, stages, usage)
        shown = {k: v for k, v in results[stage].items() if k != "stderr_tail"}
        print(f"  {stage}: {shown}", flush=True)
    disk["peak_bytes"] = peak
    disk["after_stages_bytes"] = disk_usage(work)
    disk["after_stages_parts_bytes"] = _parts_usage(work)
    if estimate is not None:
        disk["estimate_bytes"] = sum(estimate.values())
        disk["estimate_parts_bytes"] = estimate
    results["disk"] = disk
    print(f"  disk: {disk}", flush=True)
    if keep is None and reuse is None:
        shutil.rmtree(work, ignore_errors=True)
    return results


def _cell(value: float | None, fmt: str) -> str:
    return "—" if value is None else format(value, fmt)


def report(n: int, results: dict[str, dict[str, Any]]) -> str:
    """A Markdown table of ``results``; ratios only where the baseline ran."""
    baseline = results.get("baseline", {})
    base = baseline.get("seconds") if baseline.get("status") == "ok" else None
    disk = results.get("disk") or {}
    annotated = disk.get("annotated")
    title = f"### N = {n:,}"
    if annotated is not None:
        title += f" ({100 * annotated:g}% annotated: {disk['tasks']:,} tasks)"
    lines = [
        title,
        "",
        "| stage | status | seconds | x baseline | µs / article | peak RSS MB "
        "| with workers: RSS / PSS MB |",
        "|---|---|---:|---:|---:|---:|---:|",
    ]
    for stage, r in results.items():
        if stage == "disk":
            continue
        ok = r.get("status") == "ok"
        seconds = r.get("seconds")
        lines.append(
            f"| {stage} | {r.get('status')} | {_cell(seconds, '.2f')} | "
            f"{_cell(seconds / base if ok and base and seconds is not None else None, '.2f')} | "
            f"{_cell(1e6 * seconds / n if ok and seconds is not None else None, '.0f')} | "
            f"{_cell(r.get('peak_rss_mb') if ok else None, '.0f')} | "
            f"{_cell(r.get('peak_tree_rss_mb') if ok else None, '.0f')} / "
            f"{_cell(r.get('peak_tree_pss_mb') if ok else None, '.0f')} |"
        )
    phases = results.get("build", {}).get("phases") or {}
    if phases:
        # Peak RSS per phase: the three interleaved ones (made, validated and written a chunk
        # at a time) share one figure.
        peaks = results.get("build", {}).get("phase_peak_rss_mb") or {}
        lines += [
            "",
            "| build phase | seconds | x baseline | peak RSS MB |",
            "|---|---:|---:|---:|",
        ]
        for phase, seconds in phases.items():
            lines.append(
                f"| {phase} | {seconds:.2f} | {_cell(seconds / base if base else None, '.2f')} "
                f"| {_cell(peaks.get(phase), '.0f')} |"
            )
        # The per-phase targets: writing splits + metadata from validated tables,
        # and validation (input parsing and checks included: they are one pass).
        writing = phases.get("write_parquet", 0.0) + phases.get(
            "metadata_card_plots_croissant", 0.0
        )
        checking = phases.get("parse_and_validate_inputs", 0.0) + phases.get(
            "validate_published", 0.0
        )
        # The writes run in the build's writer thread beside the next rows: write_parquet is
        # the time the build waited for them, and this the thread's own time writing.
        overlapped = (results.get("build", {}).get("overlapped_seconds") or {}).get("write_parquet")
        if base and overlapped is not None:
            busy = overlapped + phases.get("metadata_card_plots_croissant", 0.0)
            lines += [
                "",
                f"writes in the writer thread (overlapped): {overlapped:.2f} s = "
                f"{overlapped / base:.2f} x baseline; with the metadata: {busy:.2f} s = "
                f"{busy / base:.2f} x baseline",
            ]
        if base:
            lines += [
                "",
                f"writing splits and metadata: {writing:.2f} s = {writing / base:.2f} x baseline",
                f"validation (parsing included): {checking:.2f} s = {checking / base:.2f} x baseline",
            ]
    # The build validates its own inputs, so raw + export -> published splits is ingest + build.
    e2e_stages = ("ingest", "build")
    if all(results.get(s, {}).get("status") == "ok" for s in e2e_stages):
        e2e = sum(results[s]["seconds"] for s in e2e_stages)
        ratio = f" = {e2e / base:.2f} x baseline" if base else ""
        lines += ["", f"end to end (ingest + build): {e2e:.2f} s{ratio}"]
    build_r = results.get("build", {})
    for stage, what in (
        ("rebuild_1pct", "one lead_time each"),
        ("rebuild_1pct_gold", "every annotation's stance: the gold changes"),
    ):
        lines += _rebuild_lines(stage, what, results.get(stage, {}), build_r)
    engines = {}
    for stage in ("annotations_raw_polars", "annotations_raw_duckdb"):
        r = results.get(stage, {})
        if r.get("status") == "ok" and r.get("bare_write_seconds"):
            engines[stage] = r["seconds"]
            lines.append(
                f"{stage}: {r['seconds']:.2f} s = {r['seconds'] / r['bare_write_seconds']:.2f} x "
                f"the bare write of its {r['rows']:,} rows ({r['bare_write_seconds']:.2f} s); "
                f"CPU {r['engine_cpu_seconds']:.2f} s; RSS {r['rss_before_engine_mb']:.0f} MB "
                f"before it, peak {r['engine_peak_rss_mb']:.0f} MB during it"
            )
    if len(engines) == 2:
        duck, pol = engines["annotations_raw_duckdb"], engines["annotations_raw_polars"]
        lines.append(f"annotations_raw, duckdb / polars: {duck / pol:.2f} x the time")
    for stage in CONVERTER_FORMATS:
        conv = results.get(stage, {})
        if conv.get("status") == build_r.get("status") == "ok":
            lines.append(
                f"build (six validated configs) vs Label Studio's {stage}: "
                f"{build_r['seconds']:.2f} s / {conv['seconds']:.2f} s = "
                f"{build_r['seconds'] / conv['seconds']:.2f} x"
            )
    parse, load = results.get("parse_export", {}), results.get("json_load", {})
    if parse.get("status") == load.get("status") == "ok":
        growth = parse["peak_rss_mb"] - parse["rss_before_mb"]
        lines.append(
            f"export parsing vs json.load: {parse['seconds'] / load['seconds']:.2f} x time, "
            f"peak RSS {parse['peak_rss_mb']:.0f} MB vs {load['peak_rss_mb']:.0f} MB; "
            f"parse memory growth {growth:.0f} MB = {growth / parse['input_mb']:.2f} x "
            f"the {parse['input_mb']:.0f} MB export"
        )
    if disk:
        lines += ["", _disk_line(disk)]
    for stage, r in results.items():
        if r.get("status") in ("failed", "timeout", "not_run"):
            lines.append(f"- {stage} {r['status']}: {r.get('error')}")
    return "\n".join(lines) + "\n"


def _gib(size: float) -> str:
    return f"{size / 2**30:.2f} GiB" if size >= 2**30 else f"{size / 2**20:.1f} MiB"


def _disk_line(disk: dict[str, Any]) -> str:
    """The disk the run used: its generated corpus, after every stage (by part), estimate."""

    def parts(sizes: dict[str, int]) -> str:
        return ", ".join(f"{k} {_gib(v)}" for k, v in sizes.items() if v)

    text = (
        f"disk: corpus as generated {_gib(disk['corpus_bytes'])} "
        f"({parts(disk['corpus_parts_bytes'])}); peak {_gib(disk['peak_bytes'])}; after every "
        f"stage {_gib(disk['after_stages_bytes'])} ({parts(disk['after_stages_parts_bytes'])})"
    )
    if disk.get("estimate_bytes") is not None:
        text += f"; estimated beforehand {_gib(disk['estimate_bytes'])}"
    return text


def select_stages(only: str | None, skip: str | None) -> tuple[str, ...]:
    """The stages to run, in pipeline order, from ``--stages a,b`` and ``--skip c,d``."""
    chosen = [s.strip() for s in only.split(",") if s.strip()] if only else list(STAGES)
    skipped = {s.strip() for s in skip.split(",") if s.strip()} if skip else set()
    # "generate" is accepted: it always runs (unless --reuse), so it changes nothing.
    chosen = [s for s in chosen if s != "generate"]
    unknown = sorted((set(chosen) | skipped) - set(STAGES))
    if unknown:
        raise SystemExit(f"unknown stage(s) {unknown}; stages are: {', '.join(STAGES)}")
    return tuple(s for s in STAGES if s in chosen and s not in skipped)


def _rebuild_lines(
    stage: str, what: str, rebuild: dict[str, Any], build_r: dict[str, Any]
) -> list[str]:
    """A rebuild stage's figures against the full build of the same run."""
    lines: list[str] = []
    if not rebuild.get("status") == build_r.get("status") == "ok":
        return lines
    cache = (rebuild.get("export_cache") or [{}])[-1]
    lines.append(
        f"{stage}: rebuild after changing {rebuild.get('changed_files')} export file(s) "
        f"({100 * REBUILD_SHARE:g}%, {what}; parsed {cache.get('parsed')}, "
        f"{cache.get('from_cache')} from the cache; {rebuild.get('reused_files')} of "
        f"{rebuild.get('data_files')} data files placed unchanged): {rebuild['seconds']:.2f} s = "
        f"{rebuild['seconds'] / build_r['seconds']:.3f} x the full build"
    )
    if rebuild.get("cpu_seconds") and build_r.get("cpu_seconds"):
        lines.append(
            f"in CPU seconds: {rebuild['cpu_seconds']:.2f} / {build_r['cpu_seconds']:.2f} = "
            f"{rebuild['cpu_seconds'] / build_r['cpu_seconds']:.3f} x the full build"
        )
    phases = rebuild.get("phases") or {}
    full = build_r.get("phases") or {}
    if phases and full:
        lines += [
            "",
            f"| build phase | full build s | {stage} s | rebuild / full |",
            "|---|---:|---:|---:|",
        ]
        for phase, seconds in phases.items():
            was = full.get(phase)
            ratio = _cell(seconds / was if was else None, ".2f")
            lines.append(f"| {phase} | {_cell(was, '.2f')} | {seconds:.2f} | {ratio} |")
        lines.append("")
    return lines


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--n", type=int, action="append", help="corpus size (repeatable)")
    parser.add_argument(
        "--with-1m", action="store_true", help="also run N = 1,000,000 (10%% annotated)"
    )
    parser.add_argument(
        "--annotated",
        type=float,
        help="share of the articles that are annotated, 0..1, for every size (default: "
        "10%% at 1M, all at any other size); the rest are raw only",
    )
    parser.add_argument(
        "--estimate-disk",
        action="store_true",
        help="print the disk each size would use, check it against the free disk, and stop",
    )
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--keep", type=Path, help="keep work folders under this folder")
    parser.add_argument("--json", type=Path, help="also write all results as JSON here")
    parser.add_argument(
        "--stages", help=f"comma-separated stages to run (default all: {','.join(STAGES)})"
    )
    parser.add_argument("--skip", help="comma-separated stages not to run")
    parser.add_argument(
        "--timeout", type=float, help="seconds after which a stage is killed and recorded"
    )
    parser.add_argument(
        "--reuse",
        type=Path,
        help="a work folder kept by an earlier --keep run: no generation, one --n",
    )
    parser.add_argument(
        "--stage", nargs=3, metavar=("NAME", "ROOT", "WORK"), help=argparse.SUPPRESS
    )
    args = parser.parse_args(argv)
    if args.stage:
        name, root, work = args.stage
        print(json.dumps(_stage(name, Path(root), Path(work))))
        return
    stages = select_stages(args.stages, args.skip)
    sizes = args.n or list(STANDARD_SIZES)
    if args.with_1m:
        sizes.append(SIZE_1M)
    if args.reuse and len(sizes) != 1:
        raise SystemExit("--reuse needs exactly one --n (the size of the reused corpus)")
    if args.annotated is not None and not 0.0 <= args.annotated <= 1.0:
        parser.error(f"--annotated {args.annotated} is not between 0 and 1")
    shares = {n: annotated_share(n, args.annotated) for n in sizes}
    per_size = {n: stages_at(n, stages, named=args.stages is not None) for n in sizes}
    print("command:", " ".join([Path(sys.executable).name, *sys.argv]), flush=True)
    if args.reuse is None:
        # Before anything is generated: a run refused at its last size would waste hours.
        estimates = {n: estimate_disk(n, shares[n], per_size[n][0], args.seed) for n in sizes}
        where = args.keep or Path(tempfile.gettempdir())
        check_disk(where, estimates, keep=args.keep is not None)
        if args.estimate_disk:
            return
    if args.keep is not None:
        args.keep.mkdir(parents=True, exist_ok=True)
    everything: dict[str, Any] = {}
    for n in sizes:
        run, notes = per_size[n]
        results = run_size(n, args.seed, args.keep, run, args.timeout, args.reuse, shares[n], notes)
        everything[str(n)] = results
        print(report(n, results), flush=True)
        if args.json:  # after each size: a later size that dies keeps the earlier ones
            args.json.parent.mkdir(parents=True, exist_ok=True)
            tmp = args.json.with_name(f".{args.json.name}.tmp")
            tmp.write_text(json.dumps(everything, indent=2) + "\n")
            os.replace(tmp, args.json)


if __name__ == "__main__":
    main()
