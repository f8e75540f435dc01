"""`sahelwire labelstudio serve`: a busy port, someone else's server, the first-run install line.

No server is started here: the busy port and the foreign listener are the session's real
server (``ls_server``); the install is a real venv + pip run against an index that does not
answer, so it fails fast after printing its progress line.
"""

from __future__ import annotations

import subprocess
from pathlib import Path
from typing import Any

import pytest

from helpers import ROOT, copy_project, run_cli
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
