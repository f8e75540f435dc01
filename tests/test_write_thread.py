"""io.write_thread: the build's scratch writes in a background thread keep their order and
surface a failed write's own error in the caller (as an inline write does)."""

from __future__ import annotations

import functools
import threading
import time

import pytest

from sahelwire.io.write_thread import OrderedWrites


def test_calls_run_in_order_off_the_callers_thread() -> None:
    writes = OrderedWrites()
    done: list[tuple[int, str]] = []

    def write(i: int) -> None:
        time.sleep(0.01 * (5 - i))  # the earlier ones slower: order is kept, not raced
        done.append((i, threading.current_thread().name))

    for i in range(5):
        writes.submit(functools.partial(write, i))
    writes.wait()
    assert [i for i, _ in done] == [0, 1, 2, 3, 4]
    assert all(name.startswith("sahelwire-write") for _, name in done)  # not the caller's
    writes.close()


def test_a_failed_write_is_raised_by_wait_and_stops_the_writes_after_it() -> None:
    writes = OrderedWrites()
    ran: list[int] = []

    def fail() -> None:
        raise OSError(28, "No space left on device", "gold_regions.parquet")

    writes.submit(lambda: ran.append(1))
    writes.submit(fail)
    writes.submit(lambda: ran.append(3))
    with pytest.raises(OSError, match=r"No space left on device.*gold_regions\.parquet"):
        writes.wait()
    assert ran == [1]  # nothing written past the failed write
    writes.submit(lambda: ran.append(4))
    writes.close()  # the caller is failing already: close waits and does not raise again
    assert ran == [1]
    with pytest.raises(RuntimeError):
        writes.submit(lambda: None)  # stopped
