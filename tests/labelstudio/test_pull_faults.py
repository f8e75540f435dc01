"""Faults around `sahelwire labelstudio pull`, against the session's real server (reliability matrix).

Owned by the reliability work (docs/reliability.md); it lives here to reuse the session
``ls_server`` fixture instead of starting a second server. Faults are real: a fault-injecting
HTTP proxy on 127.0.0.1 in front of the real server answers 500/401 or stalls on the export
download; the pull process is really SIGKILLed; a second pull really contends for the lock.
"""

from __future__ import annotations

import http.client
import os
import random
import re
import signal
import subprocess
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from helpers import SAHELWIRE, ls_tasks, run_cli, snapshot
from sahelwire.io.locks import exclusive_lock
from sahelwire.io.paths import ProjectPaths
from sahelwire.labelstudio.client import Connection, ConnectionProblem, connect
from sahelwire.labelstudio.project import require_project
from sahelwire.labelstudio.pull import pull

pytestmark = pytest.mark.labelstudio

DOWNLOAD = re.compile(r"/api/projects/\d+/exports/\d+/download")
HOP_BY_HOP = {"connection", "transfer-encoding", "keep-alive", "content-length", "content-encoding"}


class FaultProxy:
    """Forwards every request to the real server, except the export download when armed."""

    def __init__(self, upstream: str) -> None:
        host, port = upstream.removeprefix("http://").split(":")
        self.fault: dict[str, Any] = {}
        proxy = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: Any) -> None:  # quiet test output
                pass

            def _any(self) -> None:
                if DOWNLOAD.search(self.path) and proxy.fault:
                    time.sleep(proxy.fault.get("delay", 0))
                    status = proxy.fault.get("status", 500)
                    body = b'{"detail": "injected fault"}'
                    self.send_response(status)
                    self.send_header("Content-Type", "application/json")
                    self.send_header("Content-Length", str(len(body)))
                    self.end_headers()
                    self.wfile.write(body)
                    return
                length = int(self.headers.get("Content-Length") or 0)
                payload = self.rfile.read(length) if length else None
                conn = http.client.HTTPConnection(host, int(port), timeout=120)
                headers = {k: v for k, v in self.headers.items() if k.lower() not in HOP_BY_HOP}
                headers["Accept-Encoding"] = "identity"
                conn.request(self.command, self.path, body=payload, headers=headers)
                resp = conn.getresponse()
                data = resp.read()
                self.send_response(resp.status)
                for k, v in resp.getheaders():
                    if k.lower() not in HOP_BY_HOP:
                        self.send_header(k, v)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)
                conn.close()

            do_GET = do_POST = do_PATCH = do_PUT = do_DELETE = _any

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture()
def proxy(ls_server: Any) -> Iterator[FaultProxy]:
    p = FaultProxy(ls_server.url)
    try:
        yield p
    finally:
        p.close()


def pushed_and_pulled(paths: ProjectPaths) -> dict[str, bytes]:
    assert run_cli(paths.root, "labelstudio", "push", "--quiet").returncode == 0
    first = run_cli(paths.root, "labelstudio", "pull", "--quiet")
    assert first.returncode == 0, first.stderr
    return snapshot(paths.annotations_dir)


@pytest.mark.parametrize(
    ("status", "message"),
    [(500, "answered HTTP 500"), (401, "refused the API key"), (503, "answered HTTP 503")],
)
def test_server_error_mid_pull_writes_nothing_and_next_pull_completes(
    ls_project: ProjectPaths, proxy: FaultProxy, ls_server: Any, status: int, message: str
) -> None:
    before = pushed_and_pulled(ls_project)
    proxy.fault = {"status": status}  # the export is created, then its download fails
    env = {"LABEL_STUDIO_URL": proxy.url}
    result = run_cli(ls_project.root, "labelstudio", "pull", "--quiet", env=env)
    out = result.stdout + result.stderr
    assert result.returncode == 1, out
    assert message in out and "nothing written" in out and "Traceback" not in out
    assert ls_server.api_key not in out
    assert snapshot(ls_project.annotations_dir) == before
    proxy.fault = {}
    again = run_cli(ls_project.root, "labelstudio", "pull", "--quiet", env=env)
    assert again.returncode == 0, again.stderr
    assert snapshot(ls_project.annotations_dir) == before


def test_slow_server_times_out_and_writes_nothing(
    ls_project: ProjectPaths, proxy: FaultProxy, monkeypatch: pytest.MonkeyPatch
) -> None:
    before = pushed_and_pulled(ls_project)
    monkeypatch.setenv("LABEL_STUDIO_URL", proxy.url)
    conn = connect(ls_project, timeout=2.0)  # the CLI uses 60 s; same code path, shorter wait
    proxy.fault = {"delay": 6.0, "status": 200}
    with pytest.raises(ConnectionProblem, match="did not answer in time"):
        pull(conn, ls_project, show_progress=False)
    assert snapshot(ls_project.annotations_dir) == before


def test_two_pulls_at_once_the_second_is_refused(ls_project: ProjectPaths) -> None:
    before = pushed_and_pulled(ls_project)
    with exclusive_lock(ls_project.state_dir / "locks" / "labelstudio-pull.lock", "test holder"):
        second = run_cli(ls_project.root, "labelstudio", "pull", "--quiet")
    assert second.returncode == 1
    assert "another labelstudio pull is running" in second.stderr
    assert "nothing written" in second.stderr
    assert snapshot(ls_project.annotations_dir) == before
    assert run_cli(ls_project.root, "labelstudio", "pull", "--quiet").returncode == 0


def test_kill_9_during_pull_leaves_complete_files_and_next_pull_completes(
    ls_project: ProjectPaths,
) -> None:
    full = pushed_and_pulled(ls_project)  # the complete result of a pull from empty
    exports = ls_project.exports_dir
    rng = random.Random(6)
    for attempt in range(4):
        for f in exports.glob("*.json"):
            f.unlink()
        (ls_project.annotations_dir / "annotators.json").unlink(missing_ok=True)
        empty = snapshot(ls_project.annotations_dir)
        proc = subprocess.Popen(
            [str(SAHELWIRE), "labelstudio", "pull", "--quiet"],
            env={**os.environ},
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        time.sleep(rng.uniform(0.3, 4.0))
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=30)
        state = snapshot(ls_project.annotations_dir)
        # every file present is complete and exact: the old state or the new, never partial
        for name, data in state.items():
            assert data == full.get(name, empty.get(name)), f"attempt {attempt}: {name} partial"
        assert not list(exports.glob(".*.tmp"))
    again = run_cli(ls_project.root, "labelstudio", "pull", "--quiet")
    assert again.returncode == 0, again.stderr
    assert snapshot(ls_project.annotations_dir) == full


def test_duplicated_task_on_the_server_refuses_the_pull(
    ls_project: ProjectPaths, ls_conn: Connection
) -> None:
    before = pushed_and_pulled(ls_project)
    project = require_project(ls_conn, ls_project)
    task: Any = next(iter(ls_conn.client.tasks.list(project=project.id)))
    ls_conn.client.tasks.create(project=project.id, data=dict(task.data))
    result = run_cli(ls_project.root, "labelstudio", "pull", "--quiet")
    assert result.returncode == 1 and "two tasks" in result.stderr, result.stderr
    assert "nothing written" in result.stderr
    assert snapshot(ls_project.annotations_dir) == before


def test_task_text_changed_on_the_server_refuses_the_pull(
    ls_project: ProjectPaths, ls_conn: Connection
) -> None:
    before = pushed_and_pulled(ls_project)
    project = require_project(ls_conn, ls_project)
    task: Any = next(iter(ls_conn.client.tasks.list(project=project.id)))
    data = {**task.data, "text": task.data["text"] + " (edited on the server)"}
    ls_conn.client.tasks.update(id=str(task.id), data=data)
    result = run_cli(ls_project.root, "labelstudio", "pull", "--quiet")
    assert result.returncode == 1 and "text hash" in result.stderr, result.stderr
    assert snapshot(ls_project.annotations_dir) == before


def listening_addresses(port: int) -> set[str]:
    """Local addresses of LISTEN sockets on ``port`` from the kernel's tables."""
    found = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        if not Path(table).exists():
            continue
        for line in Path(table).read_text().splitlines()[1:]:
            fields = line.split()
            addr, hex_port = fields[1].split(":")
            if fields[3] == "0A" and int(hex_port, 16) == port:  # 0A = LISTEN
                found.add(addr)
    return found


def test_server_listens_on_loopback_only_with_open_signup_disabled(ls_server: Any) -> None:
    port = int(ls_server.url.rsplit(":", 1)[1])
    addresses = listening_addresses(port)
    assert addresses == {"0100007F"}, addresses  # 127.0.0.1 only (no 0.0.0.0, no ::)
    pid = ls_server.running.process.pid
    environ = Path(f"/proc/{pid}/environ").read_bytes().split(b"\0")
    assert b"LABEL_STUDIO_DISABLE_SIGNUP_WITHOUT_LINK=true" in environ
    # the token and password reach the server through its environment, never its argv
    for proc_dir in Path("/proc").iterdir():
        if not proc_dir.name.isdigit():
            continue
        try:
            cmdline = (proc_dir / "cmdline").read_bytes()
        except OSError:
            continue
        assert ls_server.api_key.encode() not in cmdline
        assert ls_server.admin_password.encode() not in cmdline


def test_failed_auth_leaves_the_token_nowhere(ls_project: ProjectPaths, ls_server: Any) -> None:
    """After a run refused for a wrong token: not in output, files, state, or the server log."""
    bad = "f0e1d2c3b4a5968778695a4b3c2d1e0f0a1b2c3d"
    result = run_cli(
        ls_project.root, *("labelstudio", "pull"), env={"LABEL_STUDIO_API_KEY": bad}, timeout=120
    )
    assert result.returncode == 1 and "refused the API key" in result.stderr
    assert bad not in result.stdout + result.stderr
    leaked = [
        str(p)
        for folder in (ls_project.root, ls_server.data_dir)
        for p in folder.rglob("*")
        if p.is_file() and p.stat().st_size < 50_000_000 and bad.encode() in p.read_bytes()
    ]
    assert leaked == []


def test_sign_up_without_an_invite_link_is_refused(ls_server: Any, ls_conn: Connection) -> None:
    """The same form post that works with an invite link (sign_up) is refused without one."""
    import httpx

    email = "intruder@sahelwire.test"
    signup = f"{ls_server.url}/user/signup/"
    with httpx.Client(follow_redirects=False, timeout=60) as web:
        web.get(signup)
        csrf = web.cookies.get("csrftoken")
        assert csrf  # the form was served: a refusal below is not a CSRF failure
        form = {"email": email, "password": "Intruder-pw-1", "csrfmiddlewaretoken": csrf}
        r = web.post(signup, data=form, headers={"Referer": signup})
    assert r.status_code == 403, r.status_code
    emails = {u.email for u in ls_conn.client.users.list()}
    assert email not in emails


def test_a_remapped_user_or_a_collision_refuses_the_pull_and_writes_nothing(
    ls_project: ProjectPaths, ls_conn: Connection, ls_server: Any
) -> None:
    """Identity contradictions between the repository and the server (issue 12): each refused
    naming file, annotation and both identities; no file written."""
    import json

    from label_studio_sdk import LabelStudio

    from sahelwire.labelstudio.identity import serialize
    from sahelwire.labelstudio.invite import sign_up

    a000, a001 = "000_68e681b97d6ec23c", "001_a9cbf47f8b5096a3"
    pushed_and_pulled(ls_project)
    project = require_project(ls_conn, ls_project)
    tasks = {t.data["article_id"]: t.id for t in ls_tasks(ls_conn.client, project=project.id)}
    token = sign_up(ls_conn, "remap@sahelwire.test", "Remap-pw-1")
    who = LabelStudio(base_url=ls_server.url, api_key=token)
    made = who.annotations.create(id=tasks[a000], result=[])
    assert run_cli(ls_project.root, "labelstudio", "pull", "--quiet").returncode == 0
    good = snapshot(ls_project.annotations_dir)
    path = ls_project.exports_dir / f"{a000}.json"
    record = json.loads(path.read_text())["annotations"][0]
    ref = f"annotations/exports/{a000}.json annotation {record['id']} (unique_id {record['unique_id']})"

    # 1. The repository credits the annotation to someone else than the server does.
    task = json.loads(path.read_text())
    task["annotations"][0]["completed_by"] = {"email": "other@sahelwire.test"}
    path.write_bytes(serialize(task))
    directory = ls_project.annotations_dir / "annotators.json"
    directory.write_text(json.dumps({"other@sahelwire.test": {}, "remap@sahelwire.test": {}}))
    tampered = snapshot(ls_project.annotations_dir)
    result = run_cli(ls_project.root, "labelstudio", "pull", "--quiet")
    out = result.stdout + result.stderr
    assert result.returncode == 1 and "nothing written" in out and "Traceback" not in out
    assert f"re-mapped user: {ref} is by other@sahelwire.test" in out
    assert f"server annotation {made.id}" in out and "remap@sahelwire.test" in out
    assert snapshot(ls_project.annotations_dir) == tampered
    for name, data in good.items():  # back to the good state
        (ls_project.annotations_dir / name).write_bytes(data)

    # 2. The same UUID on the server, under another article's task.
    me = who.users.whoami()
    ls_conn.client.annotations.delete(id=made.id)
    moved = ls_conn.client.annotations.create(
        id=tasks[a001], unique_id=record["unique_id"], completed_by=me.id, result=[]
    )
    result = run_cli(ls_project.root, "labelstudio", "pull", "--quiet")
    out = result.stdout + result.stderr
    assert result.returncode == 1 and "nothing written" in out and "Traceback" not in out
    assert f"collision: server annotation {moved.id} (task {tasks[a001]}, article {a001})" in out
    assert f"which the repository holds as {ref} of article {a000}" in out
    assert snapshot(ls_project.annotations_dir) == good


def test_an_annotation_changed_by_another_account_refuses_the_pull(
    ls_project: ProjectPaths, ls_conn: Connection, ls_server: Any
) -> None:
    """Community lets any account change anyone's annotation (the Data Manager opens it with
    an Update button; found on a fresh clone in headless Chromium). Pulled, B's change would
    be credited to A: refused naming both, nothing written, until A's own update."""
    from label_studio_sdk import LabelStudio

    from sahelwire.labelstudio.invite import sign_up

    a000 = "000_68e681b97d6ec23c"
    pushed_and_pulled(ls_project)
    project = require_project(ls_conn, ls_project)
    tasks = {t.data["article_id"]: t.id for t in ls_tasks(ls_conn.client, project=project.id)}
    tag = os.urandom(3).hex()
    a_email, b_email = f"owner-{tag}@sahelwire.test", f"editor-{tag}@sahelwire.test"
    as_a = LabelStudio(base_url=ls_server.url, api_key=sign_up(ls_conn, a_email, "Own-pw-1"))
    as_b = LabelStudio(base_url=ls_server.url, api_key=sign_up(ls_conn, b_email, "Edit-pw-1"))
    region = {
        "id": "r1",
        "from_name": "entities",
        "to_name": "text",
        "type": "labels",
        "value": {"start": 35, "end": 40, "text": "Niger", "labels": ["GPE"]},
    }
    made = as_a.annotations.create(id=tasks[a000], result=[region], lead_time=3.0)
    assert made.id is not None

    # B changes A's annotation before it was ever pulled, then after: both refused.
    for pulled_first in (False, True):
        if pulled_first:
            as_a.annotations.update(id=made.id, result=[region])
            assert run_cli(ls_project.root, "labelstudio", "pull", "--quiet").returncode == 0
        as_b.annotations.update(id=made.id, result=[])
        before = snapshot(ls_project.annotations_dir)
        result = run_cli(ls_project.root, "labelstudio", "pull", "--quiet")
        out = result.stdout + result.stderr
        assert result.returncode == 1 and "nothing written" in out and "Traceback" not in out
        assert f"changed by another account: server annotation {made.id}" in out, out
        assert f"is by {a_email}, but its last change was saved by {b_email}" in out
        assert snapshot(ls_project.annotations_dir) == before

    # A's own update (A checked it and keeps B's empty result) makes it A's again.
    as_a.annotations.update(id=made.id, result=[])
    result = run_cli(ls_project.root, "labelstudio", "pull", "--quiet")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "1 updated" in result.stdout
