"""Scratch folders under ``.sahelwire/tmp`` that a killed run does not leave behind for good.

A build, an ingest or a pull writes its intermediate files (DuckDB's spill, the gold on disk,
an export download: gigabytes at 100k articles) into a folder of its own, removed when it
ends. A run killed by SIGKILL or the kernel's OOM killer cannot remove it, so each folder
holds a lock (``fcntl.flock``, released by the kernel when its holder dies) for its whole
life, and every new scratch folder first removes the folders whose lock nobody holds. A
folder of a running process is never touched: its lock is held.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

# The lock inside each scratch folder.
OWNER_LOCK = ".owner.lock"


def clean_stale_scratch(root: Path) -> list[Path]:
    """Remove the folders under ``root`` whose owner is gone (their lock is free); the
    folders removed. A folder without the lock is left alone: made by something else, or
    by a run between making its folder and locking it."""
    removed: list[Path] = []
    if not root.is_dir():
        return removed
    for folder in sorted(root.iterdir()):
        try:
            fd = os.open(folder / OWNER_LOCK, os.O_RDWR)
        except (FileNotFoundError, NotADirectoryError):
            continue
        try:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                continue  # its owner is running
            shutil.rmtree(folder, ignore_errors=True)
            removed.append(folder)
        finally:
            os.close(fd)
    return removed


@contextlib.contextmanager
def scratch_dir(root: Path, prefix: str) -> Iterator[Path]:
    """A new empty folder under ``root``, locked while the block runs and removed after;
    the stale folders of killed runs are removed first (:func:`clean_stale_scratch`)."""
    root.mkdir(parents=True, exist_ok=True)
    clean_stale_scratch(root)
    folder = Path(tempfile.mkdtemp(prefix=prefix, dir=root))
    # Locked before it gets its name: a cleaner that finds the lock file finds it held.
    fd, locking = tempfile.mkstemp(prefix=".owner.", dir=folder)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        os.replace(locking, folder / OWNER_LOCK)
        yield folder
    finally:
        shutil.rmtree(folder, ignore_errors=True)
        os.close(fd)
