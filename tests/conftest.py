"""A real Label Studio server for the whole test session (no mocks).

Installed into the project's managed venv when missing (``sahelwire labelstudio install``),
started on a free 127.0.0.1 port with a throwaway data dir, stopped at the end.
"""

from __future__ import annotations

import os
import secrets
import shutil
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from helpers import ROOT, copy_project
from sahelwire.io.paths import ProjectPaths
from sahelwire.labelstudio import server
from sahelwire.labelstudio.client import Connection, connect


@dataclass
class LabelStudioServer:
    url: str
    api_key: str
    admin_email: str
    admin_password: str
    running: server.RunningServer
    data_dir: Path

    def restart(self) -> None:
        """Start again on the same port and data (after a test really stopped it)."""
        self.running.stop()
        port = int(self.url.rsplit(":", 1)[1])
        self.running = server.start(
            ProjectPaths(ROOT), data_dir=self.data_dir, port=port, creds=self.running.credentials
        )

    def env(self, root: Path) -> dict[str, str]:
        return {
            **os.environ,
            "SAHELWIRE_ROOT": str(root),
            "LABEL_STUDIO_URL": self.url,
            "LABEL_STUDIO_API_KEY": self.api_key,
        }


@pytest.fixture(scope="session")
def ls_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LabelStudioServer]:
    paths = ProjectPaths(ROOT)
    server.install(paths)
    data_dir = tmp_path_factory.mktemp("labelstudio-data")
    port = server.free_port()
    creds = server.Credentials(
        f"http://{server.HOST}:{port}",
        "admin@sahelwire.test",
        secrets.token_urlsafe(16),
        secrets.token_hex(20),
    )
    running = server.start(paths, data_dir=data_dir, port=port, creds=creds)
    handle = LabelStudioServer(
        running.url, creds.api_key, creds.email, creds.password, running, data_dir
    )
    try:
        yield handle
    finally:
        handle.running.stop()


@pytest.fixture()
def ls_project(
    tmp_path: Path, ls_server: LabelStudioServer, monkeypatch: pytest.MonkeyPatch
) -> ProjectPaths:
    """A project copy pointed at the session server, under a fresh Label Studio project title."""
    root = copy_project(tmp_path / "project")
    for exported in (root / "annotations" / "exports").glob("*.json"):
        exported.unlink()
    (root / "annotations" / "annotators.json").unlink(missing_ok=True)
    shutil.rmtree(
        root / "annotations" / "decisions", ignore_errors=True
    )  # they decide the removed exports
    pyproject = root / "pyproject.toml"
    title = f"SahelWire test {secrets.token_hex(4)}"
    text = pyproject.read_text().replace(
        'label_studio_project_title = "SahelWire US-Niger v1"',
        f'label_studio_project_title = "{title}"',
    )
    pyproject.write_text(text)
    monkeypatch.setenv("SAHELWIRE_ROOT", str(root))
    monkeypatch.setenv("LABEL_STUDIO_URL", ls_server.url)
    monkeypatch.setenv("LABEL_STUDIO_API_KEY", ls_server.api_key)
    return ProjectPaths(root)


@pytest.fixture()
def ls_conn(ls_project: ProjectPaths) -> Connection:
    return connect(ls_project)
