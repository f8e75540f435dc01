"""Advisory single-writer locks (fcntl.flock), released by the kernel if the holder dies."""

from __future__ import annotations

import contextlib
import fcntl
import os
from collections.abc import Iterator
from pathlib import Path


class LockBusy(RuntimeError):
    """Another process holds the lock (e.g. two pulls at once)."""


def acquire(path: Path, what: str, *, create: bool = True) -> int | None:
    """Take the exclusive lock on ``path`` or raise LockBusy at once (never wait silently).

    Returns the open file descriptor that holds it: the lock lasts until every descriptor of
    that open file is closed (by the holder, a child it was passed to, or the kernel when they
    die). With ``create=False`` a missing file is not made and None is returned: nobody holds
    a lock on a file that does not exist.
    """
    flags = os.O_RDWR
    if create:
        path.parent.mkdir(parents=True, exist_ok=True)
        flags |= os.O_CREAT
    try:
        fd = os.open(path, flags, 0o600)
    except FileNotFoundError:
        if create:
            raise
        return None
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        os.close(fd)
        raise LockBusy(f"another {what} is running (lock {path}); try again when it ends") from None
    except BaseException:
        os.close(fd)
        raise
    return fd


def write_holder(fd: int, text: str) -> None:
    """Replace the lock file's content (who holds it), for the message of the next one refused."""
    os.ftruncate(fd, 0)
    os.pwrite(fd, text.encode(), 0)


@contextlib.contextmanager
def exclusive_lock(path: Path, what: str) -> Iterator[None]:
    """Hold an exclusive lock on ``path`` or raise LockBusy at once (never wait silently)."""
    fd = acquire(path, what)
    assert fd is not None  # created when missing
    try:
        write_holder(fd, str(os.getpid()))
        yield
    finally:
        os.close(fd)
