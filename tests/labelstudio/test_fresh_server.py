"""A fresh Label Studio server, as every new clone gets one: nothing misattributed, lost or rewritten.

One extra real server for this module, started by the real `sahelwire labelstudio serve
--port P` in a copy of the project that keeps its committed annotations (``served``). It is
fresh when the first test runs: the first annotator to sign up is user 2 and the first
annotation is 1, the very integers the committed exports were made with on another server.

* the defect as reported (issue 12): a fresh server, push without restore, a new annotator,
  a first pull: the committed annotations keep their annotator and id, the new one is added
  under a new id, and ``--prune`` does not delete what this server never had;
* the bar: serve on a free port, restore, push, a new annotator annotates one task, pull,
  validate; every committed annotation keeps its content and annotator, the new one is
  added, and a pull after the next minute boundary (the export's ``created_ago`` changes)
  rewrites nothing. Push, pull and restore find the server without LABEL_STUDIO_URL.
"""

from __future__ import annotations

import json
import os
import secrets
import select
import signal
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from label_studio_sdk import LabelStudio

from helpers import ROOT, SAHELWIRE, copy_project, ls_tasks, run_cli, snapshot
from sahelwire.io.paths import ProjectPaths
from sahelwire.labelstudio import server
from sahelwire.labelstudio.client import Connection, connect
from sahelwire.labelstudio.invite import sign_up
from sahelwire.labelstudio.offsets import to_label_studio
from sahelwire.labelstudio.project import find_project, require_project
from sahelwire.labelstudio.snapshot import export_tasks

pytestmark = pytest.mark.labelstudio

A004 = "004_d8470e8c95419e20"
NEW = "005_fresh_server_test"  # an article ingested by the tests: nobody annotated it yet
COMMITTED_ANNOTATOR = "ai-annotator-1@sahelwire.local"
# No LABEL_STUDIO_URL / API key: commands find the served server by what serve recorded.
OWN_SERVER = {"LABEL_STUDIO_URL": None, "LABEL_STUDIO_API_KEY": None}


@dataclass
class Served:
    root: Path
    url: str
    port: int
    api_key: str
    process: subprocess.Popen[str]
    output: str


def _wait_for_line(proc: subprocess.Popen[str], needle: str, timeout: float) -> str:
    assert proc.stdout is not None
    seen = ""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            break
        ready, _, _ = select.select([proc.stdout], [], [], 1.0)
        if ready:
            line = proc.stdout.readline()
            seen += line
            if needle in line:
                return seen
    raise AssertionError(
        f"serve did not print {needle!r}: {seen}{proc.stderr and proc.stderr.read()}"
    )


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    root = copy_project(tmp_path_factory.mktemp("fresh") / "project")  # committed data kept
    server.install(ProjectPaths(ROOT))
    venv = server.venv_dir(ProjectPaths(root))
    venv.parent.mkdir(parents=True)
    venv.symlink_to(server.venv_dir(ProjectPaths(ROOT)))  # the installed server, not a new one
    port = server.free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("LABEL_STUDIO_")}
    proc = subprocess.Popen(
        [str(SAHELWIRE), "labelstudio", "serve", "--port", str(port)],
        cwd=root,
        env={**env, "SAHELWIRE_ROOT": str(root)},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        output = _wait_for_line(proc, "Label Studio is up at", timeout=300)
        creds = json.loads(server.credentials_file(ProjectPaths(root)).read_text())
        yield Served(root, f"http://127.0.0.1:{port}", port, creds["api_key"], proc, output)
    finally:
        proc.send_signal(signal.SIGTERM)  # serve stops its server on SIGTERM
        try:
            proc.wait(timeout=60)
        except subprocess.TimeoutExpired:
            proc.kill()


def cli(root: Path, *args: str, env: dict[str, str | None] | None = None) -> Any:
    return run_cli(root, "labelstudio", *args, env=env if env is not None else OWN_SERVER)


def one_span(text: str, surface: str, label: str, layer: str, rid: str) -> list[dict[str, Any]]:
    start = text.index(surface)
    s, e = to_label_studio(text, start, start + len(surface))
    return [
        {
            "id": rid,
            "from_name": layer,
            "to_name": "text",
            "type": "labels",
            "value": {"start": s, "end": e, "text": surface, "labels": [label]},
        }
    ]


def pushed_model_version(root: Path) -> str:
    """The prelabel model version push attaches (computed the way push computes it)."""
    from sahelwire.labelstudio.push import baseline_version

    version = baseline_version(ProjectPaths(root))
    assert version is not None
    return version


def exports_of(root: Path) -> dict[str, dict[str, Any]]:
    folder = root / "annotations" / "exports"
    return {p.stem: json.loads(p.read_text(encoding="utf-8")) for p in folder.glob("*.json")}


def committed() -> dict[str, dict[str, Any]]:
    """Every committed annotation (repository id -> record), as in the repository."""
    return {a["id"]: a for t in exports_of(ROOT).values() for a in t["annotations"]}


def committed_annotators() -> set[str]:
    return {a["completed_by"]["email"] for a in committed().values()}


N_COMMITTED = len(committed())  # annotations in the committed exports (repository ids 1..N)


def add_article(root: Path) -> None:
    """Ingest one more article. A second annotator on an already annotated article would be
    an adjudication conflict that validate rightly reports until a decision settles it."""
    text = root / f"{NEW}.txt"
    text.write_text(
        "Niger and US officials meet in Niamey\n\nOfficials from Niger and the United States "
        "met in Niamey on Tuesday to discuss the withdrawal of troops.\n",
        encoding="utf-8",
    )
    ingested = run_cli(root, "ingest", str(text))
    assert ingested.returncode == 0, ingested.stdout + ingested.stderr


def annotate_as_new_user(conn: Connection, paths: ProjectPaths, email: str) -> tuple[Any, Any]:
    """A new account (invite-link sign-up) annotates the new article via the SDK, as itself."""
    token = sign_up(conn, email, "Newcomer-pw-" + secrets.token_hex(4))
    me = LabelStudio(base_url=conn.url, api_key=token)
    project = require_project(conn, paths)
    task = next(t for t in ls_tasks(conn.client, project=project.id) if t.data["article_id"] == NEW)
    text = task.data["text"]
    ann = me.annotations.create(id=task.id, result=one_span(text, "Niger", "GPE", "entities", "n1"))
    return me.users.whoami(), ann


def test_fresh_server_first_pull_neither_reattributes_nor_duplicates(
    served: Served, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Issue 12 as reported, on a fresh server: push (without restore), user 2 annotates,
    annotation 1 comes back, pull. Nothing committed may change hands or ids."""
    root = copy_project(tmp_path / "clone")  # a second clone using the served server
    pyproject = root / "pyproject.toml"
    title = f"SahelWire fresh {secrets.token_hex(3)}"
    pyproject.write_text(
        pyproject.read_text().replace('"SahelWire US-Niger v1"', json.dumps(title))
    )
    env: dict[str, str | None] = {
        "LABEL_STUDIO_URL": served.url,
        "LABEL_STUDIO_API_KEY": served.api_key,
    }
    monkeypatch.setenv("LABEL_STUDIO_URL", served.url)
    monkeypatch.setenv("LABEL_STUDIO_API_KEY", served.api_key)
    paths = ProjectPaths(root)
    conn = connect(paths)
    refused = cli(root, "push", "--quiet", env=env)
    assert refused.returncode == 2, refused.stdout + refused.stderr
    assert (
        f"{N_COMMITTED} of the {N_COMMITTED} committed annotation(s) were never on this "
        "Label Studio server"
    ) in (refused.stderr)
    assert "sahelwire labelstudio restore" in refused.stderr and "--no-restore" in refused.stderr
    assert find_project(conn, paths) is None  # refused before touching the server

    add_article(root)
    pushed = cli(root, "push", "--quiet", "--no-restore", env=env)
    assert pushed.returncode == 0 and "6 created" in pushed.stdout, pushed.stderr
    me, ann = annotate_as_new_user(conn, paths, "newcomer@sahelwire.test")
    # the integers of the committed data, handed out again by this fresh server
    assert (me.id, ann.id) == (2, 1), "not a fresh server: the collision is not exercised"

    before = snapshot(root / "annotations" / "exports")
    pulled = cli(root, "pull", "--quiet", env=env)
    assert pulled.returncode == 0, pulled.stdout + pulled.stderr
    after = exports_of(root)
    # every committed annotation: same id, same annotator, same content, same bytes
    assert {
        a["id"]: a for t in after.values() for a in t["annotations"] if a["id"] <= N_COMMITTED
    } == (committed())
    # Push --no-restore put today's pre-annotations on the committed tasks: the pull records
    # them as new predictions after the committed ones; nothing committed changes.
    model = pushed_model_version(root)
    for name, data in before.items():
        was, now = json.loads(data), after[name.removesuffix(".json")]
        assert {k: v for k, v in now.items() if k != "predictions"} == {
            k: v for k, v in was.items() if k != "predictions"
        }
        kept = now["predictions"][: len(was["predictions"])]
        assert kept == was["predictions"], f"{name}: a committed prediction changed"
        added = now["predictions"][len(was["predictions"]) :]
        assert [p["model_version"] for p in added] == [model]
        assert all(p["id"] > 10 for p in added)  # after every committed prediction id
    assert after[NEW]["id"] == 6  # the repository's next task id
    new = after[NEW]["annotations"]
    # a new repository id, not the server's 1
    assert len(new) == 1 and new[0]["id"] == N_COMMITTED + 1
    assert new[0]["completed_by"] == {"email": "newcomer@sahelwire.test"}
    annotators = json.loads((root / "annotations" / "annotators.json").read_text())
    assert set(annotators) == committed_annotators() | {"newcomer@sahelwire.test"}
    never = "kept (never on this server; restore puts it there)"
    assert pulled.stdout.count(never) == N_COMMITTED
    assert "deleted on this server" not in pulled.stdout
    validated = run_cli(root, "validate", env=env)
    assert validated.returncode == 0, validated.stdout + validated.stderr

    # --prune never deletes what this server never had: not the committed annotations,
    # not the file of a task deleted here that holds one of them.
    project = require_project(conn, paths)
    task4 = next(
        t for t in ls_tasks(conn.client, project=project.id) if t.data["article_id"] == A004
    )
    conn.client.tasks.delete(id=str(task4.id))
    kept = snapshot(root / "annotations")
    pruned = cli(root, "pull", "--quiet", "--prune", env=env)
    assert pruned.returncode == 0, pruned.stdout + pruned.stderr
    assert snapshot(root / "annotations") == kept
    assert "pruned" not in pruned.stdout
    assert f"kept (never on this server; restore puts it there): task file {A004}.json" in (
        pruned.stdout
    )


def _created_ago_boundary(tasks: list[dict[str, Any]]) -> float:
    """Seconds until the next whole minute of a prediction's age: its created_ago then changes."""
    now = datetime.now(UTC)
    waits = []
    for t in tasks:
        for p in t.get("predictions") or []:
            age = now - datetime.fromisoformat(p["created_at"].replace("Z", "+00:00"))
            waits.append(60.0 - age.total_seconds() % 60.0)
    assert waits, "no predictions: nothing volatile to prove determinism against"
    return min(waits) + 1.5  # the first boundary already changes the export


def test_fresh_server_restore_push_annotate_pull_keeps_every_annotation(served: Served) -> None:
    """The bar of issue 12, on the server `serve --port P` started, with no LABEL_STUDIO_URL."""
    root = served.root
    paths = ProjectPaths(root)
    assert server.served_url(paths) == served.url  # recorded by serve: push and pull use it
    assert str(served.port) not in (root / "pyproject.toml").read_text()
    committed_before = snapshot(root / "annotations")

    restored = cli(root, "restore", "--quiet")
    out = restored.stdout + restored.stderr
    assert restored.returncode == 0, out
    assert f"accounts {len(committed_annotators())} created" in out
    assert f"  annotations: {N_COMMITTED} restored, 0 already" in out
    assert "  predictions: 10 restored" in out  # the committed pre-annotations, put back
    assert f"created account {COMMITTED_ANNOTATOR}" in out
    password = json.loads((server.home(paths) / "annotators.json").read_text())[COMMITTED_ANNOTATOR]
    assert password not in out  # set by the annotator, never printed
    # The committed gold keeps annotators' earlier versions; each counts as no annotator in
    # the queue: a task's overlap is 2 (annotators_per_task) plus its versions beyond one.
    submitted = {
        aid: [a["completed_by"]["email"] for a in t["annotations"] if not a.get("was_cancelled")]
        for aid, t in exports_of(root).items()
    }
    versions = {aid: len(who) - len(set(who)) for aid, who in submitted.items()}
    assert any(versions.values()) and f"{sum(map(bool, versions.values()))} task(s)' overlap" in out
    own = connect_own(paths)
    tasks: list[Any] = list(
        own.client.tasks.list(project=require_project(own, paths).id, fields="all")
    )
    assert {t.data["article_id"]: t.overlap for t in tasks} == {
        aid: 2 + extra for aid, extra in versions.items()
    }
    # The project shows the committed predictions' version: only an import selects one, and
    # without it the queue starts a new annotator's annotation empty.
    # (Each committed task holds the same two baseline versions: the newest is shown.)
    newest = max(
        (p for t in exports_of(root).values() for p in t["predictions"]), key=lambda p: p["id"]
    )
    shown = newest["model_version"]
    assert own.client.projects.get(id=require_project(own, paths).id).model_version == shown
    assert f"  predictions: 10 restored; the queue shows {shown}\n" in out
    # The committed baseline is an older one than today's: restore says what shows today's.
    today = pushed_model_version(root)
    assert shown != today
    assert (
        f"\n  today's baseline is {today}: `sahelwire labelstudio push` adds it and makes the "
        "queue show it\n" in out
    ), out
    # The committed tasks are done: the maintainer inviting someone is told why their queue
    # will be empty, and what gives them work.
    invited = cli(root, "invite")
    assert invited.returncode == 0, invited.stdout + invited.stderr
    assert (
        "every one of the 5 task(s) already has its 2 annotator(s) (annotators_per_task): a "
        "new annotator's queue is empty until you push new articles" in invited.stderr
    ), invited.stderr
    # Raised in pyproject.toml but not pushed yet: the server still hands each task to 2.
    pyproject = root / "pyproject.toml"
    committed_settings = pyproject.read_text(encoding="utf-8")
    assert "annotators_per_task = 2" in committed_settings
    pyproject.write_text(
        committed_settings.replace("annotators_per_task = 2", "annotators_per_task = 3")
    )
    raised = cli(root, "invite")
    pyproject.write_text(committed_settings)
    assert raised.returncode == 0, raised.stdout + raised.stderr
    assert (
        "the server's project hands each task to 2 annotator(s), but annotators_per_task in "
        "pyproject.toml is 3; run `sahelwire labelstudio push` to apply it" in raised.stderr
    ), raised.stderr

    # A pull right after restore rewrites nothing: same ids, annotators, times, bytes.
    first = cli(root, "pull", "--quiet")
    assert first.returncode == 0, first.stdout + first.stderr
    assert f"annotations 0 new, 0 updated, {N_COMMITTED} unchanged" in first.stdout
    assert "never on this server" not in first.stdout
    assert snapshot(root / "annotations") == committed_before

    again = cli(root, "restore", "--quiet")  # idempotent
    assert again.returncode == 0
    assert f"0 restored, {N_COMMITTED} already on the server" in again.stdout

    add_article(root)
    pushed = cli(root, "push", "--quiet")  # not refused now; restore already made the others
    assert pushed.returncode == 0 and "1 created, 0 updated, 5 unchanged" in pushed.stdout, (
        pushed.stdout + pushed.stderr
    )
    invited = cli(root, "invite")  # now the new article is open to a new annotator
    assert invited.returncode == 0, invited.stdout + invited.stderr
    assert "the queue has 1 of 6 task(s) open to a new annotator" in invited.stderr

    conn = connect_own(paths)
    me, _ann = annotate_as_new_user(conn, paths, "new-annotator@sahelwire.test")
    pulled = cli(root, "pull", "--quiet")
    assert pulled.returncode == 0
    assert f"annotations 1 new, 0 updated, {N_COMMITTED} unchanged" in pulled.stdout
    validated = run_cli(root, "validate", env=OWN_SERVER)
    assert validated.returncode == 0, validated.stdout + validated.stderr
    after = {a["id"]: a for t in exports_of(root).values() for a in t["annotations"]}
    assert {i: a for i, a in after.items() if i in committed()} == committed()
    new_id = N_COMMITTED + 1
    assert set(after) == {*committed(), new_id}
    assert after[new_id]["completed_by"] == {"email": me.email}
    assert after[new_id]["result"][0]["value"]["text"] == "Niger"
    # push added today's pre-annotation to every task (the restored ones held only the
    # committed model versions); the pull records each once, after the committed ids
    model = pushed_model_version(root)
    added = sorted(
        (p["id"], aid)
        for aid, t in exports_of(root).items()
        for p in t["predictions"]
        if p["model_version"] == model
    )
    assert [i for i, _ in added] == list(range(11, 17))
    assert sorted(aid for _, aid in added) == sorted(exports_of(root))
    annotators = json.loads((root / "annotations" / "annotators.json").read_text())
    assert set(annotators) == committed_annotators() | {"new-annotator@sahelwire.test"}

    # Deterministic: past the next minute boundary the export's created_ago differs, the
    # pulled files do not. (Meanwhile: the restored annotator sets their own password.)
    project = require_project(conn, paths)
    raw_before = export_tasks(conn, paths, int(project.id))
    deadline = time.monotonic() + _created_ago_boundary(raw_before)
    pw = "Own-pw-" + secrets.token_hex(6)
    set_pw = subprocess.run(
        [str(SAHELWIRE), "labelstudio", "set-password", COMMITTED_ANNOTATOR],
        input=pw + "\n",
        capture_output=True,
        text=True,
        env={
            k: v
            for k, v in {**os.environ, "SAHELWIRE_ROOT": str(root)}.items()
            if k not in ("LABEL_STUDIO_URL", "LABEL_STUDIO_API_KEY")
        },
        timeout=120,
        start_new_session=True,  # no controlling terminal: getpass reads stdin
    )
    assert set_pw.returncode == 0, set_pw.stdout + set_pw.stderr
    assert pw not in set_pw.stdout
    assert (
        LabelStudio(base_url=conn.url, api_key=sign_up(conn, COMMITTED_ANNOTATOR, pw))
        .users.whoami()
        .email
        == COMMITTED_ANNOTATOR
    )

    settled = snapshot(root / "annotations")
    time.sleep(max(0.0, deadline - time.monotonic()))
    raw_after = export_tasks(conn, paths, int(project.id))
    ago = lambda tasks: [p["created_ago"] for t in tasks for p in t["predictions"]]  # noqa: E731
    assert ago(raw_after) != ago(raw_before)  # the server's export did change
    last = cli(root, "pull", "--quiet")
    assert last.returncode == 0 and "0 new, 0 updated, 6 unchanged" in last.stdout
    assert "wrote" not in last.stdout
    assert snapshot(root / "annotations") == settled


def connect_own(paths: ProjectPaths) -> Connection:
    """Connect as the CLI does without LABEL_STUDIO_URL (recorded URL + credentials file)."""
    saved = {
        k: os.environ.pop(k)
        for k in ("LABEL_STUDIO_URL", "LABEL_STUDIO_API_KEY")
        if k in os.environ
    }
    try:
        return connect(paths)
    finally:
        os.environ.update(saved)
