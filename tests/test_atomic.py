"""`staged_directory`: the folder it puts in place has mkdir's mode, and a swap that fails
leaves the previous folder as it was and nothing beside it."""

from __future__ import annotations

import errno
import os
import stat
from pathlib import Path

import pytest

from helpers import run_python, snapshot
from sahelwire.io import atomic
from sahelwire.io.atomic import MountPointTarget, staged_directory

# Run in a child process: the umask is process-wide, and this process's must not change
# under the other tests (a file made meanwhile would get the test's mask).
_UNDER_UMASK = """
import os, stat, sys
from pathlib import Path
from sahelwire.io.atomic import current_umask, staged_directory
mask = int(sys.argv[1], 8)
os.umask(mask)
assert current_umask() == mask
target = Path(sys.argv[2])
for _ in range(2):  # made, then replacing the folder made first
    with staged_directory(target) as stage:
        (stage / "sub").mkdir()
        (stage / "sub" / "f.txt").write_text("x")
    print(oct(stat.S_IMODE(target.stat().st_mode)), oct(stat.S_IMODE((target / "sub").stat().st_mode)))
assert os.umask(0) == mask  # reading it left it as it was
"""


@pytest.mark.parametrize("mask", [0o022, 0o027, 0o077, 0o002], ids=lambda m: f"{m:03o}")
def test_the_folder_put_in_place_has_the_mode_mkdir_gives(tmp_path: Path, mask: int) -> None:
    """mkdtemp makes the staging folder 0700; the folder renamed into place must be readable
    by whoever could read a folder made by mkdir (0o755 under umask 022), like its subfolders."""
    result = run_python(_UNDER_UMASK, f"{mask:o}", str(tmp_path / "dist"))
    assert result.returncode == 0, result.stderr
    want = oct(0o777 & ~mask)
    assert result.stdout.split() == [want, want, want, want]


def test_a_mount_point_is_refused_before_the_staging_folder_is_made() -> None:
    """/proc is a real mount point on every Linux machine; nothing may be made beside it."""
    target = Path("/proc")
    if not os.path.ismount(target):
        pytest.skip("/proc is not a mount point here")
    before = sorted(p.name for p in target.parent.iterdir())
    with pytest.raises(MountPointTarget) as refused, staged_directory(target):
        pytest.fail("the block ran: the mount point was not refused first")
    assert refused.value.errno == errno.EBUSY and refused.value.filename == "/proc"
    assert sorted(p.name for p in target.parent.iterdir()) == before


@pytest.mark.parametrize(
    ("code", "raised"), [(errno.EIO, OSError), (errno.EBUSY, MountPointTarget)]
)
def test_a_failed_second_rename_puts_the_previous_folder_back(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, code: int, raised: type[OSError]
) -> None:
    """The second rename (staging -> target, after the target was moved aside) failing.

    Simulated: os.replace is patched to raise for that one rename. Nothing real makes a
    rename of a fresh folder to a name just freed fail on demand (no mount point, no
    permission as root, no full disk stops it); a real failure of the first rename (a
    mount point, a bind mount) is in tests/reliability/test_build_faults.py."""
    target = tmp_path / "dist"
    (target / "sub").mkdir(parents=True)
    (target / "sub" / "old.bin").write_bytes(b"\x00previous build\xff")
    before = snapshot(target)
    real = os.replace

    def second_rename_fails(src: str | os.PathLike[str], dst: str | os.PathLike[str]) -> None:
        if ".staging." in Path(src).name:
            raise OSError(code, os.strerror(code), str(src), None, str(dst))
        real(src, dst)

    monkeypatch.setattr(atomic.os, "replace", second_rename_fails)
    with pytest.raises(raised), staged_directory(target) as stage:
        (stage / "new.bin").write_bytes(b"new build")
    assert snapshot(target) == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["dist"]  # no staging, no .dist.old
    assert stat.S_ISDIR(target.stat().st_mode)
