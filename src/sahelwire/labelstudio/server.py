"""The managed Label Studio server: its own venv, a loopback-only process, local credentials.

Label Studio pins older versions of libraries SahelWire uses (pip downgrades pyarrow when
both share a venv), so it lives in ``.sahelwire/labelstudio/venv``. Its data dir holds the
SQLite database and a SECRET_KEY, hence mode 0700; the admin's password and API token are
created on first start and kept in ``credentials.json`` (mode 0600), never printed or put
on a command line (they reach the server through its environment only).
"""

from __future__ import annotations

import contextlib
import json
import os
import secrets
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

from sahelwire.io.locks import exclusive_lock
from sahelwire.io.paths import ProjectPaths

# >=1.23.2: fixes a world-readable SECRET_KEY in the data dir; <=1.22.0 has CVE-2026-22033.
LABEL_STUDIO_VERSION = "1.23.2"
HOST = "127.0.0.1"
ADMIN_EMAIL = "admin@sahelwire.local"


class ServerError(RuntimeError):
    """The server could not be installed or started (message says what to do)."""


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


def is_installed(paths: ProjectPaths) -> bool:
    stamp = venv_dir(paths) / ".sahelwire-version"
    return (
        executable(paths).exists() and stamp.exists() and stamp.read_text() == LABEL_STUDIO_VERSION
    )


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
        cmd += [f"label-studio=={LABEL_STUDIO_VERSION}"]
        result = subprocess.run(cmd)
        if result.returncode != 0:
            raise ServerError(
                f"pip could not install label-studio=={LABEL_STUDIO_VERSION} into {venv}"
            )
        (venv / ".sahelwire-version").write_text(LABEL_STUDIO_VERSION)
    return executable(paths)


def load_or_create_credentials(paths: ProjectPaths, url: str) -> Credentials:
    path = credentials_file(paths)
    if path.exists():
        mode = path.stat().st_mode & 0o777
        if mode & 0o077:
            raise ServerError(
                f"{path} is readable by others (mode {mode:o}); run: chmod 600 {path}"
            )
        data = json.loads(path.read_text())
        return Credentials(
            url=url, email=data["email"], password=data["password"], api_key=data["api_key"]
        )
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
        PYTHONUNBUFFERED="1",
    )
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

    def stop(self) -> None:
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
) -> RunningServer:
    """Start the server bound to 127.0.0.1 and wait for /health (first start migrates: ~30 s)."""
    exe = install(paths)
    _private_dir(data_dir)
    url = f"http://{HOST}:{port}"
    log_file = data_dir / "server.log"
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
    )
    log.close()
    server = RunningServer(url, process, creds, log_file)
    deadline = time.monotonic() + wait
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise ServerError(f"Label Studio exited with code {process.returncode}; see {log_file}")
        if health(url):
            return server
        time.sleep(1.0)
    server.stop()
    raise ServerError(
        f"Label Studio did not answer {url}/health within {wait:.0f} s; see {log_file}"
    )


@contextlib.contextmanager
def running(
    paths: ProjectPaths, data_dir: Path, creds: Credentials, port: int
) -> Iterator[RunningServer]:
    server = start(paths, data_dir=data_dir, port=port, creds=creds)
    try:
        yield server
    finally:
        server.stop()
