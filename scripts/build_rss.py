"""Peak RSS of ``render_release`` per build phase (issue 17 item 3: where the memory goes).

    .venv/bin/python scripts/build_rss.py PROJECT_DIR [--out DIR]

Runs the build of PROJECT_DIR (e.g. a bench corpus kept with ``scripts/bench.py --keep``,
``<kept>/project``) in this process, samples this process's RSS every 20 ms in a thread,
and prints, per phase, the highest RSS seen while it ran and the RSS when it ended. The
phases producing, validating and writing the published tables are interleaved since the
build streams them, so they are reported together as ``published_tables+validate+write``.
The export cache is used as it is found (a bench build leaves it warm), or emptied
first with ``--cold`` (as the bench's ``build`` stage does).
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import resource
import threading
import time
from pathlib import Path

INTERLEAVED = {"published_tables", "validate_published", "write_parquet"}


def rss_mb() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("project", type=Path)
    parser.add_argument("--out", type=Path, help="build into this folder (default: a temp one)")
    parser.add_argument("--engine", help="build_engine instead of the project's setting")
    parser.add_argument("--cold", action="store_true", help="empty the export cache first")
    args = parser.parse_args()

    from sahelwire.io.config import Settings
    from sahelwire.io.paths import ProjectPaths
    from sahelwire.release import build as build_module

    peak = {"now": rss_mb()}
    stop = threading.Event()

    def sample() -> None:
        while not stop.is_set():
            peak["now"] = max(peak["now"], rss_mb())
            time.sleep(0.02)

    phases: dict[str, dict[str, float]] = {}
    real = build_module.BuiltRelease.phase_done

    def phase_done(self: build_module.BuiltRelease, name: str, since: float) -> float:
        key = "published_tables+validate+write" if name in INTERLEAVED else name
        seen = phases.setdefault(key, {"peak_rss_mb": 0.0, "rss_at_end_mb": 0.0})
        seen["peak_rss_mb"] = max(seen["peak_rss_mb"], peak["now"], rss_mb())
        seen["rss_at_end_mb"] = rss_mb()
        peak["now"] = rss_mb()
        return real(self, name, since)

    build_module.BuiltRelease.phase_done = phase_done  # type: ignore[method-assign]
    # Within the published tables: the highest RSS up to the end of each config's pieces
    # (producing a piece counts for the config it belongs to).
    configs: dict[str, float] = {}
    # (Absent from builds before the streamed writes: then only the phases are reported.)
    published = getattr(build_module, "_Published", None)
    real_add = published.add if published is not None else None

    def add(self: build_module._Published, name: str, split: str, table: object) -> None:
        configs[name] = max(configs.get(name, 0.0), peak["now"], rss_mb())
        assert real_add is not None
        real_add(self, name, split, table)
        configs[name] = max(configs[name], rss_mb())

    if published is not None:
        published.add = add
    thread = threading.Thread(target=sample, daemon=True)
    thread.start()
    paths = ProjectPaths(args.project)
    if args.cold:
        from sahelwire.annotations.export_cache import clear

        clear(paths)
    settings = Settings.load(paths)
    if args.engine:
        settings = dataclasses.replace(settings, build_engine=args.engine)
    wall, cpu = time.perf_counter(), time.process_time()
    if args.out:
        release = build_module.build(paths, settings, args.out)
    else:
        release = build_module.render_release(paths, settings)
    stop.set()
    thread.join()
    print(
        json.dumps(
            {
                "engine": settings.build_engine,
                "wall_seconds": round(time.perf_counter() - wall, 2),
                "cpu_seconds": round(time.process_time() - cpu, 2),
                "process_peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
                "phases": {k: {m: round(v, 1) for m, v in d.items()} for k, d in phases.items()},
                "published_peak_rss_mb_by_config": {k: round(v, 1) for k, v in configs.items()},
                "phase_seconds": {k: round(v, 2) for k, v in release.seconds.items()},
            },
            indent=1,
        )
    )


if __name__ == "__main__":
    main()
