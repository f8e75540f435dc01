"""io.memory: the peak resident memory of a phase, reset between phases (scripts/bench.py)."""

from __future__ import annotations

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


def test_freed_memory_is_returned_and_what_is_held_stays() -> None:
    import pyarrow as pa

    from sahelwire.io.memory import return_freed_memory

    kept = pa.array(range(1_000_000), pa.int64())
    freed = pa.array(range(4_000_000), pa.int64())
    del freed
    return_freed_memory()
    # What is still referenced is untouched; the call is safe to make at any point.
    assert kept[999_999].as_py() == 999_999 and len(kept) == 1_000_000
