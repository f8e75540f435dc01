"""The managed Label Studio server: its own venv, a loopback-only process, local credentials.

Label Studio pins older versions of libraries SahelWire uses (pip downgrades pyarrow when
both share a venv), so it lives in ``.sahelwire/labelstudio/venv``. Its data dir holds the
SQLite database and a SECRET_KEY, hence mode 0700; the admin's password and API token are
created on first start and kept in ``credentials.json`` (mode 0600), never printed or put
on a command line (they reach the server through its environment only).
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Iterator, Mapping
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from sahelwire.io.locks import LockBusy, acquire, exclusive_lock, write_holder
from sahelwire.io.paths import ProjectPaths

# >=1.23.2: fixes a world-readable SECRET_KEY in the data dir; <=1.22.0 has CVE-2026-22033.
LABEL_STUDIO_VERSION = "1.23.2"
# What pip installs into the server's venv. sentry-sdk 3.0 (on PyPI since 2026-12-07) drops an
# option label-studio 1.23.2 passes at start (`send_default_pii`): the server exits at once.
INSTALL_REQUIREMENTS = (f"label-studio=={LABEL_STUDIO_VERSION}", "sentry-sdk>=2,<3")
# Every other package of the venv at the version of a venv whose server passed the suite: an
# unpinned dependency's new major release (as sentry-sdk 3.0 was) cannot break a fresh install.
INSTALL_CONSTRAINTS = Path(__file__).with_name("server-constraints.txt")
HOST = "127.0.0.1"
ADMIN_EMAIL = "admin@sahelwire.local"


class ServerError(RuntimeError):
    """The server could not be installed or started (message says what to do)."""


class PortInUse(ServerError):
    """The requested port is taken before the server starts."""


class ServerRunning(ServerError):
    """A server of this data dir already runs: two on one SQLite database risk corrupting it.

    ``where`` says where it answers and which process to stop (``at URL (pid N)``), ``hint``
    how to stop it; both come from the lock file its serve wrote.
    """

    def __init__(self, data_dir: Path, holder: Mapping[str, Any]) -> None:
        url, pid, server_pid = holder.get("url"), holder.get("pid"), holder.get("server_pid")
        if isinstance(pid, int) and _alive(pid):
            self.where, self.hint = f"at {url} (pid {pid})", "Ctrl-C in its terminal"
        elif isinstance(server_pid, int):
            # The serve that started it was killed (SIGKILL skips its cleanup): the server
            # itself still runs and still holds the lock it inherited.
            self.where = f"at {url} (pid {server_pid}; the serve that started it is gone)"
            self.hint = f"kill {server_pid}"
        else:  # between the lock and its first record, or a lock file of another version
            self.where = f"(lock {serve_lock_file(data_dir)} is held)"
            self.hint = "Ctrl-C in its terminal"
        super().__init__(
            f"a Label Studio server of {data_dir} is already running {self.where}; "
            f"stop it first ({self.hint})"
        )


@dataclass(frozen=True)
class Credentials:
    url: str
    email: str
    password: str
    api_key: str

    def __repr__(self) -> str:  # never leak secrets through logs or tracebacks
        return f"Credentials(url={self.url!r}, email={self.email!r}, password=***, api_key=***)"


def home(paths: ProjectPaths) -> Path:
    return paths.state_dir / "labelstudio"


def venv_dir(paths: ProjectPaths) -> Path:
    return home(paths) / "venv"


def executable(paths: ProjectPaths) -> Path:
    return venv_dir(paths) / "bin" / "label-studio"


def credentials_file(paths: ProjectPaths) -> Path:
    return home(paths) / "credentials.json"


def _private_dir(folder: Path) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    os.chmod(folder, 0o700)
    return folder


def write_private_json(path: Path, data: Mapping[str, Any]) -> None:
    """Atomic write that is mode 0600 from the first byte to the rename.

    Not sahelwire.io.atomic.write_bytes_atomic: that one makes its temp file 0644 before the
    rename (right for data files), which would leave the secret world-readable for a moment.
    """
    _private_dir(path.parent)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as handle:  # mkstemp creates the file 0600
            handle.write((json.dumps(data, indent=2) + "\n").encode())
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise


def install_stamp() -> str:
    """What the venv was made from: another stamp (older requirements or pins) makes it again."""
    pins = hashlib.sha256(INSTALL_CONSTRAINTS.read_bytes()).hexdigest()
    return " ".join(INSTALL_REQUIREMENTS) + f" constraints-sha256={pins}"


def is_installed(paths: ProjectPaths) -> bool:
    stamp = venv_dir(paths) / ".sahelwire-version"
    return executable(paths).exists() and stamp.exists() and stamp.read_text() == install_stamp()


def install(paths: ProjectPaths, *, quiet: bool = True) -> Path:
    """Create the server's own venv with ``label-studio`` pinned; a no-op when present."""
    if is_installed(paths):
        return executable(paths)
    _private_dir(home(paths))
    with exclusive_lock(home(paths) / "install.lock", "Label Studio install"):
        if is_installed(paths):
            return executable(paths)
        venv = venv_dir(paths)
        if not (venv / "bin" / "python").exists():
            subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
        cmd = [str(venv / "bin" / "python"), "-m", "pip", "install"]
        cmd += ["--quiet"] if quiet else []
        cmd += [*INSTALL_REQUIREMENTS, "--constraint", str(INSTALL_CONSTRAINTS)]
        result = subprocess.run(cmd)
        if result.returncode != 0:
            raise ServerError(
                f"pip could not install label-studio=={LABEL_STUDIO_VERSION} into {venv}"
            )
        (venv / ".sahelwire-version").write_text(install_stamp())
    return executable(paths)


def load_or_create_credentials(paths: ProjectPaths, url: str) -> Credentials:
    path = credentials_file(paths)
    if path.exists():
        mode = path.stat().st_mode & 0o777
        if mode & 0o077:
            raise ServerError(
                f"{path} is readable by others (mode {mode:o}); run: chmod 600 {path}"
            )
        # A damaged file is named, not a decoder's traceback: it is the only copy of the admin
        # login and token of the server data beside it, so it is never replaced by a new one.
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
            fields = [data[key] for key in ("email", "password", "api_key")]
        except (OSError, ValueError, KeyError, TypeError) as exc:
            reason = exc.strerror if isinstance(exc, OSError) else f"{type(exc).__name__}: {exc}"
            raise ServerError(
                f"{path} cannot be read ({reason}); it holds the admin login and API token of "
                f"the server data in {home(paths) / 'data'}: put a good copy back, or move "
                f"{home(paths)} aside to start a new, empty server"
            ) from None
        if not all(isinstance(field, str) and field for field in fields):
            raise ServerError(
                f"{path} cannot be read (email, password and api_key must be non-empty "
                f"strings); it holds the admin login and API token of the server data in "
                f"{home(paths) / 'data'}: put a good copy back, or move {home(paths)} aside "
                "to start a new, empty server"
            )
        email, password, api_key = fields
        return Credentials(url=url, email=email, password=password, api_key=api_key)
    _private_dir(home(paths))
    # 40 hex characters: the legacy token format Label Studio accepts for LABEL_STUDIO_USER_TOKEN.
    creds = Credentials(url, ADMIN_EMAIL, secrets.token_urlsafe(18), secrets.token_hex(20))
    write_private_json(path, {k: v for k, v in asdict(creds).items() if k != "url"})
    return creds


def update_api_key(paths: ProjectPaths, api_key: str) -> None:
    """Store a rotated token (atomically, mode 0600), keeping the admin login."""
    path = credentials_file(paths)
    data = json.loads(path.read_text()) if path.exists() else {}
    write_private_json(path, {**data, "api_key": api_key})


def free_port() -> int:
    with socket.socket() as s:
        s.bind((HOST, 0))
        return int(s.getsockname()[1])


def port_in_use(port: int) -> bool:
    """Whether something already listens on HOST:port (or holds it) before we start.

    Checked before starting because Label Studio itself, finding its port taken, silently
    moves to the next free one, while a health check of the requested port would reach the
    other program.
    """
    with socket.socket() as s:
        # SO_REUSEADDR: a socket of a server that just stopped (TIME_WAIT) is no owner.
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind((HOST, port))
        except OSError:
            return True
    with socket.socket() as s:
        s.settimeout(1.0)
        return s.connect_ex((HOST, port)) == 0


def _listening_inodes(port: int) -> set[str] | None:
    """Socket inodes listening on HOST:port (or 0.0.0.0:port); None without /proc."""
    table = Path("/proc/net/tcp")
    if not table.exists():
        return None
    inodes = set()
    for line in table.read_text().splitlines()[1:]:
        fields = line.split()
        addr, hex_port = fields[1].split(":")
        # 0A = LISTEN; 0100007F = 127.0.0.1, 00000000 = 0.0.0.0 (little-endian hex)
        if fields[3] == "0A" and int(hex_port, 16) == port and addr in ("0100007F", "00000000"):
            inodes.add(fields[9])
    return inodes


def owns_port(process: subprocess.Popen[bytes], port: int) -> bool | None:
    """Whether a process of ``process``'s group holds the socket listening on ``port``.

    ``label-studio start`` runs in its own session (start_new_session), so its process group
    id is its pid; the kernel's socket table and each group member's open files say who
    listens. None when /proc cannot tell (not Linux).
    """
    inodes = _listening_inodes(port)
    if inodes is None:
        return None
    targets = {f"socket:[{i}]" for i in inodes}
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit():
            continue
        try:
            # Field 5 of stat is the process group; the command name (field 2) may hold spaces.
            pgrp = int((proc / "stat").read_text().rsplit(")", 1)[1].split()[2])
            if pgrp != process.pid:
                continue
            for fd in (proc / "fd").iterdir():
                with contextlib.suppress(OSError):
                    if os.readlink(fd) in targets:
                        return True
        except (OSError, ValueError, IndexError):
            continue
    return False


def _answers_as_admin(url: str, creds: Credentials) -> bool:
    """Whether the server at ``url`` knows our admin token (it serves our database)."""
    request = urllib.request.Request(
        f"{url}/api/current-user/whoami", headers={"Authorization": f"Token {creds.api_key}"}
    )
    try:
        with urllib.request.urlopen(request, timeout=10) as r:
            return bool(json.loads(r.read()).get("email") == creds.email)
    except (urllib.error.URLError, OSError, TimeoutError, ValueError):
        return False


def served_url_file(paths: ProjectPaths) -> Path:
    return home(paths) / "served.json"


def record_served_url(paths: ProjectPaths, url: str) -> None:
    """Remember where ``serve`` runs, so push/pull/invite find it without LABEL_STUDIO_URL."""
    write_private_json(served_url_file(paths), {"url": url})


def served_url(paths: ProjectPaths) -> str | None:
    path = served_url_file(paths)
    if not path.exists():
        return None
    try:
        url = json.loads(path.read_text(encoding="utf-8")).get("url")
    except (ValueError, OSError):
        return None
    return str(url) if isinstance(url, str) and url.startswith("http") else None


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # someone else's process: alive
        return True
    return True


def serve_lock_file(data_dir: Path) -> Path:
    return data_dir / "serve.lock"


@dataclass
class DataDirLock:
    """The exclusive hold of one data dir by one server (and the serve that started it).

    An OS lock (fcntl.flock), not a pid file: the kernel releases it when its holders die,
    even by SIGKILL, so it never goes stale. The server process inherits the descriptor, so
    the lock lasts while the serve *or* its server runs: a serve killed by SIGKILL leaves its
    server running on the database, and that server still keeps a second one out.
    """

    fd: int | None

    def record(self, **holder: object) -> None:
        """Who holds it (url, pid, server_pid), for the message of the serve refused next."""
        if self.fd is not None:
            write_holder(self.fd, json.dumps(holder))

    def release(self) -> None:
        if self.fd is not None:
            os.close(self.fd)
            self.fd = None


def lock_data_dir(data_dir: Path, url: str, *, create: bool = True) -> DataDirLock | None:
    """Hold ``data_dir`` for one server at ``url``, or raise ServerRunning naming the holder.

    Per data dir, so servers on other data dirs (each test worker's) are unaffected. With
    ``create=False`` nothing is made: None when no server ever ran on ``data_dir``.
    """
    path = serve_lock_file(data_dir)
    if create:
        _private_dir(data_dir)
    try:
        fd = acquire(path, "Label Studio server", create=create)
    except LockBusy:
        try:
            holder = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            holder = {}
        raise ServerRunning(data_dir, holder if isinstance(holder, dict) else {}) from None
    if fd is None:
        return None
    lock = DataDirLock(fd)
    try:
        lock.record(url=url, pid=os.getpid())
    except BaseException:
        lock.release()
        raise
    return lock


def server_tmp_dir(data_dir: Path) -> Path:
    """The server's temporary folder: its own, inside the data dir."""
    return data_dir / "tmp"


def _fresh_tmp_dir(data_dir: Path) -> None:
    """An empty, private temporary folder: whatever is there is a previous server's (one
    server per data dir, under its lock)."""
    folder = server_tmp_dir(data_dir)
    if folder.is_symlink() or (folder.exists() and not folder.is_dir()):
        folder.unlink()
    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir(mode=0o700)


def server_env(data_dir: Path, creds: Credentials) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("LABEL_STUDIO_")}
    env.update(
        LABEL_STUDIO_BASE_DATA_DIR=str(data_dir),
        LABEL_STUDIO_USERNAME=creds.email,
        LABEL_STUDIO_PASSWORD=creds.password,
        LABEL_STUDIO_USER_TOKEN=creds.api_key,
        # Only people with an invite link may sign up (annotators get one from the admin).
        LABEL_STUDIO_DISABLE_SIGNUP_WITHOUT_LINK="true",
        # Since 1.17 new organizations refuse legacy tokens; the local admin token is one.
        LABEL_STUDIO_ENABLE_LEGACY_API_TOKEN="true",
        # The article texts are inline in task data; no local-file serving needed.
        LOCAL_FILES_SERVING_ENABLED="false",
        # Label Studio writes each export it serves to a temporary file and leaves some
        # behind (a killed server, a dropped download): annotation data that piled up in
        # /tmp, 63 files after a day of test runs. Kept with the data dir instead, and
        # emptied at each start (_start).
        TMPDIR=str(server_tmp_dir(data_dir)),
        PYTHONUNBUFFERED="1",
    )
    return env


def admin_command_env(data_dir: Path) -> dict[str, str]:
    """The environment for a ``label-studio`` management command on the managed data dir."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("LABEL_STUDIO_")}
    env["LABEL_STUDIO_BASE_DATA_DIR"] = str(data_dir)
    return env


def health(url: str, timeout: float = 2.0) -> bool:
    try:
        with urllib.request.urlopen(f"{url}/health", timeout=timeout) as r:
            return bool(r.status == 200)
    except (urllib.error.URLError, OSError, TimeoutError):
        return False


@dataclass
class RunningServer:
    url: str
    process: subprocess.Popen[bytes]
    credentials: Credentials
    log_file: Path
    lock: DataDirLock | None = None

    def stop(self) -> None:
        try:
            self._stop()
        finally:
            # After the process is gone: the data dir is free only once nothing serves it.
            if self.lock is not None:
                self.lock.release()

    def _stop(self) -> None:
        if self.process.poll() is None:
            # label-studio start runs Django's server in the same process group.
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait(timeout=20)


def start(
    paths: ProjectPaths,
    *,
    data_dir: Path,
    port: int,
    creds: Credentials,
    wait: float = 180.0,
    lock: DataDirLock | None = None,
) -> RunningServer:
    """Start the server bound to 127.0.0.1 and wait for /health (first start migrates: ~30 s).

    Refuses a port already in use and a data dir another server holds (ServerRunning), and
    after /health answers checks that the answer comes from the process started here (its
    process group holds the listening socket; where /proc cannot tell, the server must know
    this data dir's admin token). ``lock``: the data dir's lock, already taken by the caller
    (``serve`` takes it before installing); start owns it from here (the returned server
    releases it in stop(), a failed start at once).
    """
    try:
        exe = install(paths)
        url = f"http://{HOST}:{port}"
        if port_in_use(port):
            other = " (a Label Studio answers /health there)" if health(url) else ""
            raise PortInUse(
                f"port {port} on {HOST} is already in use{other}; stop that program or choose "
                "another port (sahelwire labelstudio serve --port P)"
            )
        _private_dir(data_dir)
        lock = lock or lock_data_dir(data_dir, url)
        assert lock is not None  # created when missing
    except BaseException:
        if lock is not None:
            lock.release()
        raise
    try:
        return _start(exe, url, data_dir, port, creds, wait, lock)
    except BaseException:
        lock.release()
        raise


def _start(
    exe: Path,
    url: str,
    data_dir: Path,
    port: int,
    creds: Credentials,
    wait: float,
    lock: DataDirLock,
) -> RunningServer:
    log_file = data_dir / "server.log"
    _fresh_tmp_dir(data_dir)
    log = open(log_file, "ab")  # noqa: SIM115 - owned by the child process for its lifetime
    process = subprocess.Popen(
        # --host only sets the URL Label Studio advertises; the socket binds to --internal-host,
        # which defaults to 0.0.0.0 (found by tests/labelstudio/test_pull_faults.py).
        [
            *(str(exe), "start", "--no-browser", "--host", HOST),
            *("--internal-host", HOST, "--port", str(port)),
        ],
        env=server_env(data_dir, creds),
        stdout=log,
        stderr=subprocess.STDOUT,
        stdin=subprocess.DEVNULL,
        start_new_session=True,
        # The server inherits the data dir's lock (see DataDirLock): if this process dies by
        # SIGKILL, its server runs on and must still keep a second server off the database.
        pass_fds=() if lock.fd is None else (lock.fd,),
    )
    log.close()
    lock.record(url=url, pid=os.getpid(), server_pid=process.pid)
    server = RunningServer(url, process, creds, log_file, lock)
    try:
        deadline = time.monotonic() + wait
        while time.monotonic() < deadline:
            if process.poll() is not None:
                raise ServerError(
                    f"Label Studio exited with code {process.returncode}; see {log_file}"
                )
            if health(url):
                owner = owns_port(process, port)
                ours = owner if owner is not None else _answers_as_admin(url, creds)
                if not ours:
                    raise ServerError(
                        f"{url}/health answers, but not from the Label Studio started here "
                        f"(pid {process.pid}): another program took port {port}; see {log_file}"
                    )
                return server
            time.sleep(1.0)
        raise ServerError(
            f"Label Studio did not answer {url}/health within {wait:.0f} s; see {log_file}"
        )
    except BaseException:
        # Also on Ctrl-C while waiting: a server left running would hold the data dir's lock
        # (it inherited it) with nobody to stop it.
        server.stop()
        raise


@contextlib.contextmanager
def running(
    paths: ProjectPaths, data_dir: Path, creds: Credentials, port: int
) -> Iterator[RunningServer]:
    server = start(paths, data_dir=data_dir, port=port, creds=creds)
    try:
        yield server
    finally:
        server.stop()
