"""io.memory: the peak resident memory of a phase, reset between phases (scripts/bench.py)."""

from __future__ import annotations

import subprocess
import sys

import pytest

from sahelwire.io.memory import peak_rss_mb


def test_a_phase_peak_is_its_own_not_the_process_s() -> None:
    if peak_rss_mb(reset=False) is None:
        pytest.skip("no /proc/self/status here: nothing is recorded")
    peak_rss_mb()
    block = b"\x01" * (300 * 2**20)  # 300 MB written, so resident
    with_block = peak_rss_mb()
    del block
    peak_rss_mb()  # the next phase starts at the memory then resident: without the block
    after = peak_rss_mb()
    assert with_block is not None and after is not None
    if after >= with_block:
        pytest.skip("/proc/self/clear_refs refused here: the peak is the process's")
    # The 300 MB phase's peak is read with it; a phase after it was let go, without it.
    assert with_block - after >= 250


# Run in a fresh interpreter: 100,000 objects of 2 KB (glibc's heap, not Python's small-object
# arenas), every tenth kept, so the freed ones sit between held ones and the heap's top cannot
# shrink; prints the RSS (MB) drop across the call (or across nothing) and checks the kept ones.
_FREED_SCRIPT = """
import sys
from sahelwire.io.memory import return_freed_memory
def rss():
    for line in open("/proc/self/status"):
        if line.startswith("VmRSS"):
            return int(line.split()[1]) // 1024
objs = [bytes(2000) + bytes([i % 256]) for i in range(100_000)]
kept = objs[::10]
del objs
before = rss()
if sys.argv[1] == "call":
    return_freed_memory()
assert all(k[-1] == (10 * n) % 256 and len(k) == 2001 for n, k in enumerate(kept))
print(before - rss())
"""


def _rss_drop(mode: str) -> int:
    result = subprocess.run(
        [sys.executable, "-c", _FREED_SCRIPT, mode], capture_output=True, text=True, check=True
    )
    return int(result.stdout)


def test_freed_memory_is_returned_and_what_is_held_stays() -> None:
    """``return_freed_memory`` hands pages freed between held objects back (glibc's
    ``malloc_trim``); without it they stay resident. The held objects are intact."""
    if peak_rss_mb(reset=False) is None:
        pytest.skip("no /proc/self/status here")
    returned, kept = _rss_drop("call"), _rss_drop("none")
    if returned < 50 and kept < 50:
        pytest.skip("this C library returns freed pages by itself (or has no malloc_trim)")
    # ≈180 MB freed: the call returns most of it (≈80 MB measured), nothing does not.
    assert returned >= 50 and kept < 20, (returned, kept)
