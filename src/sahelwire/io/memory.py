"""This process's peak resident memory per phase of a build (Linux), for scripts/bench.py.

``ru_maxrss`` is the peak of the whole process; the build's memory target is about which
phase sets it. Linux keeps the peak in ``VmHWM`` of ``/proc/self/status`` and resets it to
the current resident size when ``5`` is written to ``/proc/self/clear_refs`` (kernel 4.0+),
so each phase's peak is read, then reset, when the phase ends. Elsewhere nothing is recorded.

The reset also lowers what ``getrusage(RUSAGE_SELF).ru_maxrss`` reports afterwards (Linux
takes it from the same high-water mark): a caller wanting the process's peak takes the
highest of the phases' peaks too (as ``scripts/bench.py`` does).
"""

from __future__ import annotations

import contextlib
from pathlib import Path

_STATUS = Path("/proc/self/status")
_CLEAR_REFS = Path("/proc/self/clear_refs")


def peak_rss_mb(*, reset: bool = True) -> float | None:
    """The peak resident MB since the last reset (or the start), then reset; None when the
    system does not say."""
    try:
        status = _STATUS.read_text(encoding="ascii")
    except OSError:
        return None
    kb = next((line.split()[1] for line in status.splitlines() if line.startswith("VmHWM:")), None)
    if kb is None:
        return None
    if reset:
        # Refused (an old kernel, a sandbox): the peak then stays the process's so far.
        with contextlib.suppress(OSError), _CLEAR_REFS.open("w", encoding="ascii") as f:
            f.write("5")
    return int(kb) / 1024


def return_freed_memory() -> None:
    """Hand memory already freed back to the system: Arrow's pool and glibc's heap.

    Both keep freed pages for reuse. After the span tables (DuckDB's results, ≈1.6 GB at
    100k) were written and let go, they kept ≈1.8 GB resident that the per-article configs,
    made next from Python rows, did not reuse (2,944 → 1,114 MB when returned,
    docs/benchmarks.md). Nothing is freed that is in use; where the calls do not exist (not
    glibc), nothing happens.
    """
    import ctypes
    import ctypes.util

    import pyarrow as pa

    pa.default_memory_pool().release_unused()
    name = ctypes.util.find_library("c")
    if name is None:
        return
    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL(name).malloc_trim(0)
