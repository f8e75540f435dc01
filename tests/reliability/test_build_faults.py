"""Real faults during `sahelwire build`: SIGKILL at random points, a full disk, a file size limit.

Nothing is mocked: the build runs as a subprocess of the real CLI and the kernel kills it or
refuses its writes. After every fault the build folder is the previous complete build or the
new complete build (never a mix, never partial), and the next normal build succeeds.
"""

from __future__ import annotations

import os
import random
import resource
import shutil
import signal
import subprocess
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from helpers import ROOT, SAHELWIRE, copy_project, run_cli, snapshot, unreleased_repo

pytestmark = pytest.mark.slow

NEW_ARTICLE = "Agadez, 2024. A new story about the drone base 201 and its closure.\n"


def effective_dist(root: Path) -> dict[str, bytes]:
    """What a reader gets after the fault: dist/, or the last good build a killed swap left
    in .dist.old (killed between the two renames), which the next build restores."""
    if (root / "dist").exists():
        return snapshot(root / "dist")
    return snapshot(root / ".dist.old")


@pytest.fixture(scope="module")
def two_builds(
    tmp_path_factory: pytest.TempPathFactory,
) -> tuple[Path, dict[str, bytes], dict[str, bytes]]:
    """A project with a built dist/ (state A) and new input whose build gives state B."""
    root = copy_project(tmp_path_factory.mktemp("killbuild"))
    assert run_cli(root, "build").returncode == 0
    old = snapshot(root / "dist")
    story = root.parent / "fresh_story.txt"
    story.write_text(NEW_ARTICLE, encoding="utf-8")
    ingested = run_cli(root, "ingest", str(story))
    assert ingested.returncode == 0, ingested.stderr
    probe = run_cli(root, "build", "--out", str(root.parent / "probe"))
    assert probe.returncode == 0, probe.stderr
    new = snapshot(root.parent / "probe")
    assert new != old  # the two states are distinguishable
    return root, old, new


def restore(root: Path, files: dict[str, bytes]) -> None:
    shutil.rmtree(root / "dist", ignore_errors=True)
    for name, data in files.items():
        (root / "dist" / name).parent.mkdir(parents=True, exist_ok=True)
        (root / "dist" / name).write_bytes(data)


def test_kill_9_during_build_at_random_points(
    two_builds: tuple[Path, dict[str, bytes], dict[str, bytes]],
) -> None:
    root, old, new = two_builds
    rng = random.Random(20240316)  # fixed seed: a failure is reproducible
    env = {**os.environ, "SAHELWIRE_ROOT": str(root)}
    outcomes = []
    for attempt in range(10):
        restore(root, old)
        proc = subprocess.Popen(
            [str(SAHELWIRE), "build"],
            cwd=root,
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        if attempt % 2 == 0:
            time.sleep(rng.uniform(0.2, 3.0))  # anywhere in the run: import, render, write
        else:
            # aim at the write phase: wait for the staging folder, then a few ms more
            deadline = time.monotonic() + 30
            while not list(root.glob(".dist.staging.*")) and proc.poll() is None:
                if time.monotonic() > deadline:
                    break
                time.sleep(0.001)
            time.sleep(rng.uniform(0.0, 0.03))
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=30)
        state = effective_dist(root)
        assert state in (old, new), f"attempt {attempt}: dist is neither the old nor the new build"
        outcomes.append("old" if state == old else "new")
    # the next normal build cleans any staging leftovers and completes
    result = run_cli(root, "build")
    assert result.returncode == 0, result.stderr
    assert snapshot(root / "dist") == new
    assert not list(root.glob(".dist.*"))
    assert not list((root / ".sahelwire" / "tmp").iterdir())  # killed builds' scratch too
    assert "old" in outcomes  # at least some kills really interrupted a build


def limit_file_size(max_bytes: int) -> Callable[[], None]:
    def apply() -> None:
        resource.setrlimit(resource.RLIMIT_FSIZE, (max_bytes, max_bytes))
        # ignored SIGXFSZ: the kernel refuses the write with EFBIG instead of killing
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)

    return apply


def test_file_size_limit_during_build_keeps_previous_dist(tmp_path: Path) -> None:
    root = copy_project(tmp_path / "proj")
    assert run_cli(root, "build").returncode == 0
    before = snapshot(root / "dist")
    biggest = max(len(b) for b in before.values())
    result = subprocess.run(
        [str(SAHELWIRE), "build"],
        cwd=root,
        env={**os.environ, "SAHELWIRE_ROOT": str(root)},
        capture_output=True,
        text=True,
        timeout=300,
        preexec_fn=limit_file_size(biggest // 2),
    )
    assert result.returncode == 2, result.stderr
    assert "File too large" in result.stderr and "previous build folder is intact" in result.stderr
    assert "Traceback" not in result.stderr
    assert snapshot(root / "dist") == before
    assert not list(root.glob(".dist.*"))
    again = run_cli(root, "build")
    assert again.returncode == 0 and snapshot(root / "dist") == before


def can_mount_tmpfs() -> bool:
    if not shutil.which("unshare"):
        return False
    probe = subprocess.run(
        ["unshare", "-rm", "sh", "-c", "mount -t tmpfs -o size=16k tmpfs /mnt"],
        capture_output=True,
    )
    return probe.returncode == 0


@pytest.mark.skipif(not can_mount_tmpfs(), reason="no user+mount namespaces to mount a tmpfs")
def test_full_disk_during_build_keeps_previous_dist(tmp_path: Path) -> None:
    """A real ENOSPC: the build folder lives on a tmpfs that holds one build but not two."""
    root = copy_project(tmp_path / "proj")
    assert run_cli(root, "build").returncode == 0
    before = snapshot(root / "dist")
    size = sum(len(b) for b in before.values())
    mnt, saved = tmp_path / "mnt", tmp_path / "saved"
    mnt.mkdir()
    saved.mkdir()
    # All in one private mount namespace: mount, put the old build on it, build, copy out.
    script = (
        f'mount -t tmpfs -o size={size * 3 // 2} tmpfs "{mnt}" && cp -a "{root}/dist" "{mnt}/dist" '
        f'&& "{SAHELWIRE}" build --out "{mnt}/dist"; rc=$?; cp -a "{mnt}/." "{saved}/"; exit $rc'
    )
    result = in_mount_namespace(root, script)
    assert result.returncode == 2, result.stderr
    assert "No space left on device" in result.stderr and "Traceback" not in result.stderr
    assert snapshot(saved / "dist") == before
    assert sorted(p.name for p in saved.iterdir()) == ["dist"]  # no staging left behind


MOUNT_POINT = "is a mount point and cannot be replaced as a whole"


def in_mount_namespace(root: Path, script: str) -> subprocess.CompletedProcess[str]:
    """``script`` in a private user+mount namespace: its mounts go when it ends."""
    return subprocess.run(
        ["unshare", "-rm", "sh", "-c", script],
        cwd=root,
        env={**os.environ, "SAHELWIRE_ROOT": str(root)},
        capture_output=True,
        text=True,
        timeout=300,
    )


@pytest.mark.skipif(not can_mount_tmpfs(), reason="no user+mount namespaces to mount a tmpfs")
@pytest.mark.parametrize("inside", [False, True], ids=["mount-point", "folder-inside"])
def test_build_into_a_read_only_mount_keeps_it_and_leaves_nothing(
    tmp_path: Path, inside: bool
) -> None:
    """The user walkthrough's report: `build --out` a read-only tmpfs MOUNT POINT ran the
    whole build, then its rename was refused (EBUSY) and the full build stayed beside it in
    `.rofs.staging.*`. A mount point is now refused before the build, saying why and to use
    --out with a folder inside it. A folder inside the read-only mount fails (EROFS) with
    nothing written, as before."""
    root = copy_project(tmp_path / "proj")
    assert run_cli(root, "build").returncode == 0
    before = snapshot(root / "dist")
    parent, saved = tmp_path / "s28", tmp_path / "saved"
    rofs = parent / "rofs"
    out = rofs / "dist" if inside else rofs
    rofs.mkdir(parents=True)
    saved.mkdir()
    # The previous build on the tmpfs, the tmpfs made read-only, the build, its state copied out.
    script = (
        f'mount -t tmpfs -o size=8m tmpfs "{rofs}" && cp -a "{root}/dist" "{rofs}/dist" '
        f'&& mount -o remount,ro "{rofs}" && "{SAHELWIRE}" build --out "{out}"; rc=$?; '
        f'cp -a "{rofs}/." "{saved}/"; exit $rc'
    )
    result = in_mount_namespace(root, script)
    assert result.returncode == 2, result.stderr
    assert "Traceback" not in result.stderr
    assert "the previous build folder is intact" in result.stderr
    if inside:
        # (named: the staging folder it could not make inside the mount)
        assert f"{rofs}/.dist.staging." in result.stderr
        assert ": Read-only file system" in result.stderr
    else:
        assert f"the output folder {rofs} {MOUNT_POINT}" in result.stderr
        assert f"use --out with a folder inside it, e.g. --out {rofs / 'dist'}" in result.stderr
    assert snapshot(saved / "dist") == before
    assert sorted(p.name for p in saved.iterdir()) == ["dist"]
    assert sorted(p.name for p in parent.iterdir()) == ["rofs"]  # no .rofs.staging.* beside it


@pytest.mark.skipif(not can_mount_tmpfs(), reason="no user+mount namespaces to mount a tmpfs")
def test_build_into_a_bind_mounted_folder_fails_its_rename_and_leaves_nothing(
    tmp_path: Path,
) -> None:
    """A mount point os.path.ismount cannot see (dist/ bind-mounted on itself: same device):
    the build runs and the kernel refuses to rename dist/ aside (EBUSY). The staging folder
    (a full build) is removed, dist/ is byte for byte as before, the message says why."""
    root = copy_project(tmp_path / "proj")
    assert run_cli(root, "build").returncode == 0
    before = snapshot(root / "dist")
    dist = root / "dist"
    result = in_mount_namespace(root, f'mount --bind "{dist}" "{dist}" && "{SAHELWIRE}" build')
    assert result.returncode == 2, result.stderr
    assert "Traceback" not in result.stderr
    assert f"the output folder {dist} {MOUNT_POINT}" in result.stderr
    assert f"--out {dist / 'dist'}" in result.stderr
    assert "the previous build folder is intact" in result.stderr
    assert snapshot(dist) == before
    assert not list(root.glob(".dist.*"))  # neither a staging folder nor .dist.old


@pytest.mark.skipif(not can_mount_tmpfs(), reason="no user+mount namespaces to mount a tmpfs")
def test_release_with_a_mount_point_as_its_build_folder_changes_nothing(tmp_path: Path) -> None:
    """`sahelwire release` builds into dist/: a dist/ that is a mount point ended in a
    traceback (the helper that fixed `build --out` saw it). Refused, exit 2, nothing
    changed: no version bump, manifest, changelog entry, commit or tag."""
    root = unreleased_repo(tmp_path / "repo")
    (root / "dist").mkdir()
    head = subprocess.run(
        ["git", "rev-parse", "HEAD"], cwd=root, capture_output=True, text=True, check=True
    ).stdout
    pyproject = (root / "pyproject.toml").read_bytes()
    result = in_mount_namespace(
        root, f'mount -t tmpfs -o size=64m tmpfs "{root}/dist" && "{SAHELWIRE}" release minor'
    )
    assert result.returncode == 2, result.stdout + result.stderr
    assert MOUNT_POINT in result.stderr and "nothing was changed" in result.stderr
    assert "Traceback" not in result.stderr
    assert (root / "pyproject.toml").read_bytes() == pyproject
    assert not (root / "releases").exists() or not list((root / "releases").iterdir())
    after = subprocess.run(
        ["git", "rev-parse", "HEAD"], cwd=root, capture_output=True, text=True, check=True
    ).stdout
    tags = subprocess.run(
        ["git", "tag", "--list"], cwd=root, capture_output=True, text=True, check=True
    ).stdout
    status = subprocess.run(
        ["git", "status", "--porcelain"], cwd=root, capture_output=True, text=True, check=True
    ).stdout
    assert (after, tags, status) == (head, "", "")  # every file put back (dist/ is ignored)


@pytest.mark.skipif(not can_mount_tmpfs(), reason="no user+mount namespaces to mount a tmpfs")
def test_a_previous_build_that_cannot_be_removed_is_named_and_git_ignored(
    tmp_path: Path,
) -> None:
    """A file of the old dist/ that cannot be deleted (the walkthrough: `chattr +i`; here
    dist/data bind-mounted read-only, as root ignores chmod): the build put the new dist/ in
    place and exited 0 saying nothing, leaving `.dist.old` (not git-ignored); every build
    after it failed naming dist/ ("Directory not empty"). Now the build warns naming
    `.dist.old`, why and how to remove it; the next one stops at once naming it; once it can
    be removed, the next build removes it."""
    root = copy_project(tmp_path / "proj")
    assert run_cli(root, "build").returncode == 0
    before = snapshot(root / "dist")
    dist, old = root / "dist", root / ".dist.old"
    script = (
        f'mount --bind "{dist}/data" "{dist}/data" && mount -o remount,bind,ro "{dist}/data" '
        f'&& "{SAHELWIRE}" build; echo "rc=$?"; echo "==="; "{SAHELWIRE}" build; echo "rc=$?"; '
        f'echo "==="; umount "{old}/data" && "{SAHELWIRE}" build; echo "rc=$?"'
    )
    result = in_mount_namespace(root, script)
    first, second, third = result.stdout.split("===\n")
    stderr = [x for x in result.stderr.splitlines() if not x.startswith("warning: 1")]
    assert "rc=0" in first, result.stdout + result.stderr
    warning = next(x for x in stderr if x.startswith("warning: the previous build folder"))
    assert f"moved aside to {old}, could not be removed ({old}/data/" in warning
    assert ": Read-only file system)" in warning and f"rm -rf {old}" in warning
    assert "rc=2" in second
    refusal = next(x for x in stderr if x.startswith("sahelwire: build failed"))
    assert refusal.startswith(f"sahelwire: build failed: {old}: a previous build folder")
    assert f"chmod -R u+w {old} && rm -rf {old}" in refusal
    assert "Traceback" not in result.stderr
    assert "rc=0" in third and f"built 27 files into {dist}" in third
    assert snapshot(dist) == before and not old.exists()
    # git ignores it, so `sahelwire release` does not see a dirty tree meanwhile
    for name in (".dist.old/", ".dist.staging.x1y2/"):
        ignored = subprocess.run(["git", "check-ignore", "-q", "--no-index", name], cwd=ROOT)
        assert ignored.returncode == 0, name
