"""Crash-safe file and folder replacement: readers see the old version or the new one.

Every write goes to a temporary sibling, is fsynced, then renamed over the target
(``os.replace`` is atomic on POSIX within one file system). A process killed at any
point leaves either the previous file or the complete new one, plus at worst a
``.tmp`` sibling that the next run ignores and overwrites.
"""

from __future__ import annotations

import contextlib
import errno
import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path


def _fsync_dir(folder: Path) -> None:
    fd = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def write_bytes_atomic(path: Path, data: bytes, *, staging: Path | None = None) -> None:
    """Replace ``path`` with ``data`` atomically (temp file in the same folder + rename).

    ``staging``: a folder on the same file system to write the temporary file in instead, so
    that a process killed mid-write leaves nothing beside ``path`` (a scratch folder of
    :mod:`sahelwire.io.scratch`, which the next run removes)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(
        prefix=f".{path.name}.", suffix=".tmp", dir=path.parent if staging is None else staging
    )
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.chmod(tmp, 0o644)
        os.replace(tmp, path)
        _fsync_dir(path.parent)
    except OSError as exc:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        if staging is None or exc.errno != errno.EXDEV:
            raise
        # The staging folder is on another file system (a symlinked .sahelwire): the
        # rename cannot cross it, so the temporary file goes beside the target after all.
        write_bytes_atomic(path, data)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise


def write_text_atomic(path: Path, text: str) -> None:
    """Replace ``path`` with UTF-8 ``text`` atomically; newlines are written as given."""
    write_bytes_atomic(path, text.encode("utf-8"))


@contextlib.contextmanager
def staged_directory(target: Path) -> Iterator[Path]:
    """Yield an empty staging folder; on success it replaces ``target`` in one rename.

    The previous ``target`` is moved aside and removed only after the new one is in
    place, so an interrupted build (exception, SIGKILL, full disk) leaves the previous
    folder intact.
    """
    target.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{target.name}.staging.", dir=target.parent))
    try:
        yield staging
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    old = target.parent / f".{target.name}.old"
    shutil.rmtree(old, ignore_errors=True)
    if target.exists():
        os.replace(target, old)
    os.replace(staging, target)
    _fsync_dir(target.parent)
    shutil.rmtree(old, ignore_errors=True)


def clean_stale_staging(target: Path) -> None:
    """Remove staging folders left by a killed build (never the target itself)."""
    for leftover in target.parent.glob(f".{target.name}.staging.*"):
        shutil.rmtree(leftover, ignore_errors=True)
    old = target.parent / f".{target.name}.old"
    if old.exists() and target.exists():
        shutil.rmtree(old, ignore_errors=True)
    elif old.exists():
        # Killed between the two renames: the old folder is the last good build.
        os.replace(old, target)
