"""A real Hugging Face mirror (olah) for the session, and the write stand-in in front of it.

olah 0.5.4 runs offline (``[accessibility] offline = true``): it never contacts the Hub and
serves the bare git repositories under its ``mirrors-path`` to the real ``datasets`` and
``huggingface_hub`` clients (refs, trees, repo info, file downloads, tags). It is started
on a free 127.0.0.1 port for the session and stopped at the end. Uploads go through
``hub_write_api`` (the one stand-in, see its docstring), which writes the git commits and
tags olah then serves.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from versions.hub_write_api import HubWriteAPI

OLAH = Path(sys.executable).parent / "olah-cli"
TOKEN = "hf_test_" + "y" * 30  # fake; the stand-in accepts only this one


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class Mirror:
    url: str  # olah: what HF_ENDPOINT points at for loading
    write_url: str  # the write stand-in: what publish's HF_ENDPOINT points at
    mirrors: Path
    token: str
    writer: HubWriteAPI
    tmp: Path

    def load_env(self, hf_home: Path, *, offline: bool = False) -> dict[str, str | None]:
        """A user's environment: olah as the Hub, a cache of its own, nothing else reached."""
        return {
            "HF_ENDPOINT": self.url,
            "HF_HOME": str(hf_home),
            "HF_HUB_DISABLE_TELEMETRY": "1",
            "HF_HUB_OFFLINE": "1" if offline else None,
            "HF_DATASETS_OFFLINE": None,
            "HF_TOKEN": None,
        }

    def publish_env(self, hf_home: Path) -> dict[str, str | None]:
        return {**self.load_env(hf_home), "HF_ENDPOINT": self.write_url, "HF_TOKEN": self.token}


def _wait_for(url: str, proc: subprocess.Popen[bytes], log: Path, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"olah exited with {proc.returncode}:\n{log.read_text()[-3000:]}")
        try:
            urllib.request.urlopen(url, timeout=2).close()
            return
        except urllib.error.HTTPError:
            return  # it answers (404 for an unknown repo is an answer)
        except OSError:
            time.sleep(0.2)
    raise RuntimeError(
        f"olah did not answer {url} within {timeout:.0f} s:\n{log.read_text()[-3000:]}"
    )


@pytest.fixture(scope="session")
def mirror(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Mirror]:
    if not OLAH.exists():
        pytest.fail(f"{OLAH} missing: install the dev extra (`pip install -e '.[dev]'`)")
    tmp = tmp_path_factory.mktemp("olah")
    mirrors, port = tmp / "mirrors", free_port()
    (mirrors / "datasets").mkdir(parents=True)
    config = tmp / "olah.toml"
    config.write_text(
        "[basic]\n"
        'host = "127.0.0.1"\n'
        f"port = {port}\n"
        f'repos-path = "{tmp / "cache"}"\n'
        f'mirrors-path = ["{mirrors}"]\n'
        # main moves between publishes: never reuse a resolved revision
        "metadata-cache-ttl = 0\n"
        "[accessibility]\n"
        "offline = true\n",
        encoding="utf-8",
    )
    log = tmp / "olah.out"
    env = {k: v for k, v in os.environ.items() if not k.startswith("HF_")}
    with log.open("wb") as out:
        proc = subprocess.Popen(
            [str(OLAH), "--config", str(config), "--log-path", str(tmp / "logs")],
            cwd=tmp,
            stdout=out,
            stderr=subprocess.STDOUT,
            env=env,
        )
    url = f"http://127.0.0.1:{port}"
    writer = HubWriteAPI(mirrors, url, TOKEN)
    server = None
    try:
        _wait_for(f"{url}/api/datasets/none/none/refs", proc, log)
        server, _ = writer.serve()
        yield Mirror(url, writer.public_url, mirrors, TOKEN, writer, tmp)
    finally:
        if server is not None:
            server.shutdown()
            server.server_close()
        proc.terminate()
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=15)
