"""Peak RSS of ``render_release`` per build phase (issue 17 item 3: where the memory goes).

    .venv/bin/python scripts/build_rss.py PROJECT_DIR [--out DIR]

Runs the build of PROJECT_DIR (e.g. a bench corpus kept with ``scripts/bench.py --keep``,
``<kept>/project``) in this process, samples this process's RSS every 20 ms in a thread,
and prints, per phase, the highest RSS seen while it ran and the RSS when it ended. The
phases producing, validating and writing the published tables are interleaved since the
build streams them, so they are reported together as ``published_tables+validate+write``.
The export cache is used as it is found (a bench build leaves it warm), or emptied
first with ``--cold`` (as the bench's ``build`` stage does). ``--top N`` also prints the N
highest RSS samples (one every 0.25 s) with the build's frames the main thread was in: what
held the memory at the peak (how the 1M rebuild's ``folds`` spike was found).
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import resource
import sys
import threading
import time
import traceback
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
    parser.add_argument("--top", type=int, default=0, help="print the N highest RSS samples")
    args = parser.parse_args()

    from sahelwire.io.config import Settings
    from sahelwire.io.paths import ProjectPaths
    from sahelwire.release import build as build_module

    peak = {"now": rss_mb()}
    stop = threading.Event()
    main_thread = threading.get_ident()
    started = time.perf_counter()
    where: list[tuple[float, float, list[str]]] = []  # (seconds, RSS MB, the build's frames)

    def sample() -> None:
        last = 0.0
        while not stop.is_set():
            now = rss_mb()
            peak["now"] = max(peak["now"], now)
            at = time.perf_counter() - started
            if args.top and at - last >= 0.25:
                last = at
                frame = sys._current_frames().get(main_thread)
                stack = traceback.extract_stack(frame) if frame is not None else []
                frames = [
                    f"{Path(f.filename).name}:{f.lineno} {f.name}"
                    for f in stack
                    if "sahelwire" in f.filename
                ]
                where.append((round(at, 2), round(now), frames[-5:]))
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

    def add(
        self: build_module._Published, name: str, split: str, table: object, **kw: object
    ) -> None:
        configs[name] = max(configs.get(name, 0.0), peak["now"], rss_mb())
        assert real_add is not None
        real_add(self, name, split, table, **kw)
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
    # ru_maxrss alone is not the process's peak: the build resets the kernel's high-water
    # mark at each phase (io.memory), so afterwards it reports the last phase's peak only
    # (the sixteenth session took 2.8-3.0 GB from it for a rebuild that peaked at 4.0).
    process_peak = max(
        resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
        *release.peak_rss_mb.values(),
        *(d["peak_rss_mb"] for d in phases.values()),
    )
    print(
        json.dumps(
            {
                "engine": settings.build_engine,
                "wall_seconds": round(time.perf_counter() - wall, 2),
                "cpu_seconds": round(time.process_time() - cpu, 2),
                "process_peak_rss_mb": round(process_peak, 1),
                "phase_peak_rss_mb": {k: round(v, 1) for k, v in release.peak_rss_mb.items()},
                "phases": {k: {m: round(v, 1) for m, v in d.items()} for k, d in phases.items()},
                "published_peak_rss_mb_by_config": {k: round(v, 1) for k, v in configs.items()},
                "phase_seconds": {k: round(v, 2) for k, v in release.seconds.items()},
            },
            indent=1,
        )
    )
    for at, rss, frames in sorted(where, key=lambda w: -w[1])[: args.top]:
        print(f"{at:9.2f} s {rss:7,.0f} MB  " + " < ".join(reversed(frames)))


if __name__ == "__main__":
    main()
