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
import sys
import tempfile
import threading
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


class MountPointTarget(OSError):
    """The output folder is a mount point (or busy like one): it cannot be replaced as a
    whole by a rename, so a build into it is refused. An OSError with ``errno.EBUSY`` and
    the folder as ``filename``, so a caller that handles OSError still handles it."""

    def __init__(self, target: Path) -> None:
        super().__init__(
            errno.EBUSY, "is a mount point and cannot be replaced as a whole", str(target)
        )


def refuse_mount_point(target: Path) -> None:
    """Raise :class:`MountPointTarget` if ``target`` is a mount point.

    A folder is replaced by renaming a new one over it, and the kernel refuses to rename a
    mount point (EBUSY). Checked before any work so that a build is not made only to be
    thrown away. A bind mount on the same file system is not seen here (``os.path.ismount``
    compares devices); :func:`staged_directory` turns its EBUSY into the same error."""
    if os.path.ismount(target):
        raise MountPointTarget(target)


class ForeignTarget(OSError):
    """The output folder holds what no build wrote (or is a file, or a symbolic link): a
    build replaces its target as a whole, so building into it would delete them. An OSError
    (``errno.EEXIST``) with the folder as ``filename``; ``strerror`` says what is there."""

    def __init__(self, target: Path, why: str) -> None:
        super().__init__(errno.EEXIST, why, str(target))


def refuse_foreign_target(target: Path, index: str, *, show: int = 3) -> None:
    """Raise :class:`ForeignTarget` unless ``target`` is new, an empty folder, or a folder a
    build made: ``index`` in it (``<sha256>  <path>`` lines) lists every file it holds.

    ``build --out`` replaced whatever it was given (a folder of notes, a git repository,
    the project itself) without a word; a build folder is replaced as a whole, so only one
    that holds nothing but a build's own files is (a user walkthrough)."""
    if target.is_symlink():
        raise ForeignTarget(
            target,
            "is a symbolic link (a build would replace the link, not fill what it "
            "points to); give --out the folder it points to",
        )
    if not target.exists():
        return
    if not target.is_dir():
        raise ForeignTarget(target, "is a file, not a build folder")
    listed: set[str] = set()
    try:
        for line in (target / index).read_text(encoding="utf-8").splitlines():
            listed.add(line.partition("  ")[2].lstrip("*"))
        listed.add(index)
    except (OSError, UnicodeDecodeError):
        listed = set()
    foreign: list[str] = []
    for folder, dirs, files in os.walk(target):
        dirs.sort()
        rel = Path(folder).relative_to(target)
        # a folder that is a symbolic link is not walked into: it is no build's
        foreign += [str(rel / d) for d in dirs if (Path(folder) / d).is_symlink()]
        foreign += [str(rel / f) for f in sorted(files) if (rel / f).as_posix() not in listed]
        if len(foreign) > show:
            break
    if foreign:
        names = ", ".join(foreign[:show]) + (", ..." if len(foreign) > show else "")
        raise ForeignTarget(
            target,
            f"holds files no build wrote ({names}): a build replaces the whole folder and "
            "would delete them; move them out of it, or give --out a new or empty folder",
        )


_UMASK_LOCK = threading.Lock()


def current_umask() -> int:
    """The process's umask, read without changing it where the kernel says it.

    There is no getter: ``os.umask`` sets a new mask and returns the old one, and the mask
    is process-global, so another thread creating a file between the set and the restore
    gets the temporary mask. Linux (4.7+) shows it in /proc/self/status, which changes
    nothing; elsewhere it is set and restored under a lock (so two callers here never
    restore each other's temporary value), and the temporary mask is the strict 077 so that
    a file another thread creates in that instant is private rather than world-writable."""
    try:
        with open("/proc/self/status", encoding="ascii", errors="replace") as status:
            for line in status:
                if line.startswith("Umask:"):
                    return int(line.split()[1], 8)
    except (OSError, ValueError, IndexError):
        pass
    with _UMASK_LOCK:
        mask = os.umask(0o077)
        os.umask(mask)
    return mask


def folder_mode() -> int:
    """The mode ``mkdir`` gives a new folder under the current umask (0o755 under 022)."""
    return 0o777 & ~current_umask()


def _old_folder(target: Path) -> Path:
    """Where the previous ``target`` waits while the new one is renamed in (git-ignored)."""
    return target.parent / f".{target.name}.old"


def _remove(folder: Path) -> str | None:
    """Remove ``folder`` (if any); what stopped it ("path: reason"), None once it is gone."""
    failures: list[str] = []

    def note(exc: BaseException, path: str) -> None:
        if not failures:  # the first says why; the rest follow from it
            reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else exc
            failures.append(f"{path}: {reason}")

    if not folder.exists():
        return None
    if sys.version_info >= (3, 12):
        shutil.rmtree(folder, onexc=lambda _f, path, exc: note(exc, path))
    else:  # 3.11 has only onerror (deprecated from 3.12), given sys.exc_info()
        shutil.rmtree(folder, onerror=lambda _f, path, info: note(info[1], path))
    if not folder.exists():
        return None
    return failures[0] if failures else "still present"


@contextlib.contextmanager
def staged_directory(
    target: Path, index: str | None = None, *, warnings: list[str] | None = None
) -> Iterator[Path]:
    """Yield an empty staging folder; on success it replaces ``target`` in one rename.

    The previous ``target`` is moved aside and removed only after the new one is in
    place, so an interrupted build (exception, SIGKILL, full disk) leaves the previous
    folder intact. A failed swap (either rename) puts the previous folder back and removes
    the staging folder: nothing is left beside ``target``. A ``target`` that is a mount point
    is refused (:class:`MountPointTarget`) before the staging folder is made, and with
    ``index`` so is one that holds files no build wrote (:func:`refuse_foreign_target`).

    ``warnings``: gets a line when the previous folder, renamed aside, cannot be removed
    (a read-only or immutable file in it): the new folder is in place, so the swap
    succeeded, but the user learns of the leftover and how to remove it.
    """
    refuse_mount_point(target)
    if index is not None:
        refuse_foreign_target(target, index)
    target.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{target.name}.staging.", dir=target.parent))
    try:
        yield staging
        # mkdtemp makes the folder 0700 (private while it is written); the release folder is
        # for everyone who could read a folder made by mkdir, so it gets mkdir's mode.
        os.chmod(staging, folder_mode())
        try:
            leftover = _swap_in(staging, target)
            if leftover is not None and warnings is not None:
                warnings.append(leftover)
        except OSError as exc:
            if exc.errno == errno.EBUSY:
                # The kernel would not rename the target: a mount point os.path.ismount
                # cannot see (a bind mount on the same file system).
                raise MountPointTarget(target) from exc
            raise
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise


def _swap_in(staging: Path, target: Path) -> str | None:
    """Rename ``staging`` to ``target``, the previous ``target`` moved aside first and put
    back if the second rename fails; removed only once the new one is in place. Returns a
    warning when that removal fails (the folder aside is then left: see below)."""
    old = _old_folder(target)
    _remove_old(old)
    moved_aside = False
    if target.exists():
        os.replace(target, old)
        moved_aside = True
    try:
        os.replace(staging, target)
    except BaseException:
        if moved_aside:
            # Should even this fail, clean_stale_staging puts .old back on the next run.
            with contextlib.suppress(OSError):
                os.replace(old, target)
        raise
    _fsync_dir(target.parent)
    why = _remove(old)
    if why is None:
        return None
    # Silently left before: the next build's rename then failed naming the target ("dist:
    # Directory not empty"), and every build after it, until the user found the folder.
    return (
        f"the previous build folder, moved aside to {old}, could not be removed ({why}); "
        f"{target} is the new build. Make it writable and remove it (chmod -R u+w {old} "
        f"&& rm -rf {old}); the next build tries again and stops if it still cannot"
    )


def _remove_old(old: Path) -> None:
    """Remove the folder a previous swap left aside, or raise an OSError naming it (the
    rename of the target onto it would fail naming the target instead)."""
    why = _remove(old)
    if why is not None:
        raise OSError(
            errno.ENOTEMPTY,
            f"a previous build folder an earlier build moved aside cannot be removed ({why}); "
            f"make it writable and remove it (chmod -R u+w {old} && rm -rf {old})",
            str(old),
        )


def clean_stale_staging(target: Path) -> None:
    """Remove staging folders left by a killed build (never the target itself); a folder a
    previous swap left aside that cannot be removed is an OSError naming it."""
    for leftover in target.parent.glob(f".{target.name}.staging.*"):
        shutil.rmtree(leftover, ignore_errors=True)
    old = _old_folder(target)
    if old.exists() and target.exists():
        _remove_old(old)
    elif old.exists():
        # Killed between the two renames: the old folder is the last good build.
        os.replace(old, target)
