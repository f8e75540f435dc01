"""`sahelwire labelstudio serve`: a busy port, someone else's server, the first-run install
line, a second serve of the same checkout.

The busy port and the foreign listener are the session's real server (``ls_server``); the
install is a real venv + pip run against an index that does not answer, so it fails fast
after printing its progress line. The second serve needs a serve of its own checkout: one
real ``sahelwire labelstudio serve`` in a project copy (with the installed server's venv),
killed by SIGKILL as a user's terminal might be.
"""

from __future__ import annotations

import contextlib
import json
import os
import select
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from helpers import ROOT, SAHELWIRE, copy_project, environ, run_cli
from sahelwire.io.paths import ProjectPaths
from sahelwire.labelstudio import server

NO_SERVER_ENV = {"LABEL_STUDIO_URL": None, "LABEL_STUDIO_API_KEY": None}


@pytest.mark.labelstudio
def test_serve_refuses_a_port_another_label_studio_holds(tmp_path: Path, ls_server: Any) -> None:
    """The reported defect: serve on a taken port said "up" (the other server answered)."""
    root = copy_project(tmp_path / "project")
    port = int(ls_server.url.rsplit(":", 1)[1])
    result = run_cli(root, "labelstudio", "serve", "--port", str(port), env=NO_SERVER_ENV)
    out = result.stdout + result.stderr
    assert result.returncode == 2, out
    assert f"port {port} on 127.0.0.1 is already in use" in out and "--port" in out
    assert "is up" not in out and "Traceback" not in out
    # refused before anything: no install, no data dir, no recorded URL
    assert not (root / ".sahelwire").exists()


@pytest.mark.labelstudio
def test_a_server_started_elsewhere_is_not_taken_for_ours(ls_server: Any) -> None:
    """The check behind serve's "up": who holds the listening socket (kernel tables)."""
    port = int(ls_server.url.rsplit(":", 1)[1])
    assert server.owns_port(ls_server.running.process, port) is True
    other = subprocess.Popen(["sleep", "30"], start_new_session=True)  # a process of ours
    try:
        assert server.owns_port(other, port) is False  # ... that is not the one answering
    finally:
        other.kill()
        other.wait()
    with pytest.raises(server.PortInUse, match="already in use"):
        server.start(
            ProjectPaths(ROOT),
            data_dir=Path(ls_server.data_dir) / "never-used",
            port=port,
            creds=ls_server.running.credentials,
        )
    assert not (Path(ls_server.data_dir) / "never-used").exists()


def test_serve_says_it_installs_label_studio_on_first_run(tmp_path: Path) -> None:
    """First run: a progress line before the ~1-2 min install (here pip cannot reach an index)."""
    root = copy_project(tmp_path / "project")
    env = {
        **NO_SERVER_ENV,
        "PIP_CONFIG_FILE": "/dev/null",
        "PIP_INDEX_URL": f"http://127.0.0.1:{server.free_port()}/simple",
        "PIP_RETRIES": "0",
        "PIP_TIMEOUT": "2",
        "PIP_NO_INDEX": None,
        "PIP_FIND_LINKS": None,
    }
    result = run_cli(root, "labelstudio", "serve", "--port", str(server.free_port()), env=env)
    out = result.stdout + result.stderr
    assert result.returncode == 2, out
    assert f"installing Label Studio {server.LABEL_STUDIO_VERSION} into" in result.stdout
    assert "(first run only, ~1-2 min)" in result.stdout
    assert "pip could not install" in result.stderr and "Traceback" not in out
    assert not server.served_url_file(ProjectPaths(root)).exists()


@pytest.mark.parametrize(
    ("content", "reason"),
    [
        ('{"email": "admin@x", "password": "p"', "JSONDecodeError"),  # cut short
        ('["admin@x", "p", "k"]', "TypeError"),
        ('{"email": "admin@x", "password": "p"}', "KeyError: 'api_key'"),
        ('{"email": "admin@x", "password": "p", "api_key": ""}', "non-empty strings"),
    ],
)
def test_a_damaged_credentials_file_is_named_and_kept(
    tmp_path: Path, content: str, reason: str
) -> None:
    """serve and pull name the file and what is wrong with it (a decoder's traceback before),
    exit before starting or calling anything, and leave the file as it was: it is the only
    copy of the login of the server data beside it."""
    root = copy_project(tmp_path / "project")
    creds = server.credentials_file(ProjectPaths(root))
    creds.parent.mkdir(parents=True)
    creds.write_text(content)
    creds.chmod(0o600)
    port = str(server.free_port())
    env = {**NO_SERVER_ENV, "LABEL_STUDIO_URL": f"http://127.0.0.1:{port}"}
    for args, code in ((("serve", "--port", port), 2), (("pull",), 1)):
        result = run_cli(root, "labelstudio", *args, env=env)
        out = result.stdout + result.stderr
        assert result.returncode == code, out
        assert f"{creds} cannot be read (" in result.stderr and reason in result.stderr, out
        assert "put a good copy back" in result.stderr and "Traceback" not in out
        assert "Label Studio" not in result.stdout  # neither installed nor started
        assert creds.read_text() == content
    assert not server.port_in_use(int(port))


def test_serve_refuses_a_served_url_file_that_is_not_a_file(tmp_path: Path) -> None:
    """A folder where serve records its URL: refused before the server starts (it failed
    only after the ~40 s start, with a traceback)."""
    root = copy_project(tmp_path / "project")
    paths = ProjectPaths(root)
    server.served_url_file(paths).mkdir(parents=True)
    port = str(server.free_port())
    result = run_cli(root, "labelstudio", "serve", "--port", port, env=NO_SERVER_ENV)
    out = result.stdout + result.stderr
    assert result.returncode == 2, out
    assert result.stderr == (
        f"sahelwire labelstudio: {server.served_url_file(paths)} is not a file; "
        "move it aside and start again\n"
    ), out
    assert result.stdout == "" and not server.port_in_use(int(port))  # nothing installed


def _serve(root: Path, *args: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [str(SAHELWIRE), "labelstudio", "serve", *args],
        cwd=root,
        env=environ(NO_SERVER_ENV, SAHELWIRE_ROOT=str(root)),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def _wait_until_up(proc: subprocess.Popen[str], timeout: float = 300) -> None:
    assert proc.stdout is not None
    seen = ""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and proc.poll() is None:
        if select.select([proc.stdout], [], [], 1.0)[0]:
            seen += proc.stdout.readline()
            if "Label Studio is up at" in seen:
                return
    raise AssertionError(f"serve did not come up: {seen}{proc.stderr and proc.stderr.read()}")


def _gone(pid: int, timeout: float = 60) -> bool:
    """Whether ``pid`` exited (a zombie nobody reaped yet has closed its files, locks too)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            stat = Path(f"/proc/{pid}/stat").read_text()
        except FileNotFoundError:
            return True
        if stat.rsplit(")", 1)[1].split()[0] in ("Z", "X"):
            return True
        time.sleep(0.2)
    return False


@pytest.mark.labelstudio
@pytest.mark.slow
def test_a_second_serve_of_the_checkout_is_refused_until_its_server_is_gone(
    tmp_path: Path,
) -> None:
    """The reported defect: `serve --port 8391` running, then `serve` (default port) started a
    second Label Studio on the same SQLite data dir and left served.json pointing at it."""
    root = copy_project(tmp_path / "project")
    paths = ProjectPaths(root)
    server.install(ProjectPaths(ROOT))
    server.venv_dir(paths).parent.mkdir(parents=True)
    server.venv_dir(paths).symlink_to(server.venv_dir(ProjectPaths(ROOT)))  # no new install
    first_port, other_port = server.free_port(), server.free_port()
    data = server.home(paths) / "data"
    # A previous server's leftover export, in the server's own temporary folder.
    server.server_tmp_dir(data).mkdir(parents=True)
    leftover = server.server_tmp_dir(data) / "tmpab12cd.json"
    leftover.write_text('[{"id": 1, "annotations": []}]')
    first = _serve(root, "--port", str(first_port))
    lock_file = server.serve_lock_file(data)
    servers: list[int] = []  # Label Studio pids, killed at the end whatever happens
    try:
        _wait_until_up(first)
        server_pid = json.loads(lock_file.read_text())["server_pid"]
        servers.append(server_pid)
        # Its temporary files go to its data dir (not /tmp), emptied at the start.
        environ = Path(f"/proc/{server_pid}/environ").read_bytes().split(b"\0")
        assert f"TMPDIR={server.server_tmp_dir(data)}".encode() in environ
        assert not leftover.exists() and server.server_tmp_dir(data).is_dir()
        assert server.server_tmp_dir(data).stat().st_mode & 0o777 == 0o700
        recorded = server.served_url_file(paths).read_bytes()
        for args in (("--port", str(other_port)), (), ("--port", str(first_port))):
            result = run_cli(root, "labelstudio", "serve", *args, env=NO_SERVER_ENV)
            out = result.stdout + result.stderr
            assert result.returncode == 2, out
            assert result.stderr == (
                "sahelwire labelstudio: a Label Studio server from this checkout is already "
                f"running at http://127.0.0.1:{first_port} (pid {first.pid}); stop it first "
                "(Ctrl-C in its terminal) or use that one\n"
            ), out
            assert result.stdout == ""  # refused before installing or starting anything
        assert server.served_url_file(paths).read_bytes() == recorded
        assert not server.port_in_use(other_port)

        # SIGKILL skips serve's cleanup: its server runs on, on the same database, and still
        # holds the lock it inherited; the message names that process.
        first.kill()
        first.wait(timeout=30)
        assert server.health(f"http://127.0.0.1:{first_port}")
        result = run_cli(root, "labelstudio", "serve", "--port", str(other_port), env=NO_SERVER_ENV)
        assert result.returncode == 2, result.stdout + result.stderr
        assert (
            f"already running at http://127.0.0.1:{first_port} (pid {server_pid}; the serve "
            f"that started it is gone); stop it first (kill {server_pid})"
        ) in result.stderr
        assert "Traceback" not in result.stderr

        os.kill(server_pid, signal.SIGTERM)  # as the message says
        assert _gone(server_pid)
        again = _serve(root, "--port", str(other_port))  # the kernel released the lock
        try:
            _wait_until_up(again)
            servers.append(json.loads(lock_file.read_text())["server_pid"])
            recorded = json.loads(server.served_url_file(paths).read_text())
            assert recorded == {"url": f"http://127.0.0.1:{other_port}"}
        finally:
            again.send_signal(signal.SIGTERM)
            again.wait(timeout=60)
        assert again.returncode == 0
        assert server.lock_data_dir(server.home(paths) / "data", "http://x") is not None
    finally:
        first.kill()
        first.wait(timeout=30)
        for pid in servers:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(pid, signal.SIGKILL)


HOLDER = """
import os, subprocess, sys, time
from pathlib import Path
from sahelwire.labelstudio import server
lock = server.lock_data_dir(Path(sys.argv[1]), sys.argv[2])
child = subprocess.Popen(["sleep", "300"], pass_fds=(lock.fd,))  # as start() passes it on
lock.record(url=sys.argv[2], pid=os.getpid(), server_pid=child.pid)
print(child.pid, flush=True)
time.sleep(300)
"""


def test_the_data_dir_lock_outlives_a_killed_holder_only_while_its_server_runs(
    tmp_path: Path,
) -> None:
    """The lock without Label Studio: real processes, real SIGKILLs, one lock per data dir."""
    data_dir, other_dir = tmp_path / "data", tmp_path / "worker-2-data"
    holder = subprocess.Popen(
        [sys.executable, "-c", HOLDER, str(data_dir), "http://127.0.0.1:8391"],
        stdout=subprocess.PIPE,
        text=True,
    )
    assert holder.stdout is not None
    child = int(holder.stdout.readline())
    try:
        with pytest.raises(server.ServerRunning) as refused:
            server.lock_data_dir(data_dir, "http://127.0.0.1:8089")
        assert refused.value.where == f"at http://127.0.0.1:8391 (pid {holder.pid})"
        # another data dir (another test worker's server) is not held by it
        lock = server.lock_data_dir(other_dir, "http://127.0.0.1:8090")
        assert lock is not None
        lock.release()

        holder.kill()
        holder.wait(timeout=30)
        with pytest.raises(server.ServerRunning) as refused:
            server.lock_data_dir(data_dir, "http://127.0.0.1:8089")
        assert refused.value.hint == f"kill {child}"
        assert "the serve that started it is gone" in refused.value.where

        os.kill(child, signal.SIGKILL)
        assert _gone(child)
        lock = server.lock_data_dir(data_dir, "http://127.0.0.1:8089")
        assert lock is not None
        lock.release()
    finally:
        holder.kill()
        holder.wait(timeout=30)
        with contextlib.suppress(ProcessLookupError):
            os.kill(child, signal.SIGKILL)
