"""Helpers for loops that create millions of short-lived Python objects."""

from __future__ import annotations

import gc
from collections.abc import Iterator
from contextlib import contextmanager


@contextmanager
def paused_gc() -> Iterator[None]:
    """Pause the cyclic garbage collector for the block (reference counting still frees).

    Parsing exports and building rows allocate many dicts that live until the next flush;
    each full collection walks all of them, which made parsing ~40% slower. These loops
    create no reference cycles, so nothing is lost by collecting once afterwards.
    """
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


# A build keeps its long-lived objects (the manifest rows, the caches' indexes, the packs'
# metadata) for minutes, and with the default thresholds (700, 10, 10) CPython walks all of
# them again at every full collection: 17 full collections in a 100k rebuild (5% of its
# time), 57 in a 1M rebuild (13-14%; docs/benchmarks.md, twenty-fifth session). Young collections stay (every 50k
# allocations, so short-lived cycles are still freed); full ones all but stop.
BUILD_THRESHOLDS = (50_000, 20, 100)


@contextmanager
def rare_collections() -> Iterator[None]:
    """The cyclic collector at :data:`BUILD_THRESHOLDS` for the block, then as it was."""
    before = gc.get_threshold()
    gc.set_threshold(*BUILD_THRESHOLDS)
    try:
        yield
    finally:
        gc.set_threshold(*before)
