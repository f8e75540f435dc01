"""Parquet writes handed to one background thread, run in the order given.

pyarrow encodes and writes without the GIL, so a write handed here overlaps the Python work
that makes the next rows (the build's inputs phase: parsing and adjudicating the next chunk of
export files while the last chunk's rows go to its scratch files). One thread keeps every
file's row groups in the order they were given: the files are the bytes an inline write makes.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor


class OrderedWrites:
    """Calls run in a background thread in submission order; :meth:`wait` re-raises the
    first error of one in the caller (an OSError naming the file, as an inline write). After
    a call fails the later ones are not run: a file is not written past a failed write."""

    def __init__(self, name: str = "sahelwire-write") -> None:
        self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix=name)
        self._pending: list[Future[None]] = []
        self._failed = False  # set in the thread only; read there before each call

    def submit(self, call: Callable[[], None]) -> None:
        self._pending.append(self._pool.submit(self._run, call))

    def _run(self, call: Callable[[], None]) -> None:
        if self._failed:
            return
        try:
            call()
        except BaseException:
            self._failed = True
            raise

    def wait(self) -> None:
        """Return when every call given so far has run; raise the first one's error."""
        pending, self._pending = self._pending, []
        for future in pending:
            future.result()

    def close(self) -> None:
        """Wait for the calls (their errors dropped: the caller is failing already or has
        waited) and stop the thread."""
        with contextlib.suppress(Exception):
            self.wait()
        self._pending.clear()
        self._pool.shutdown(wait=True)
