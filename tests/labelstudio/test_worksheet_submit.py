"""Worksheets submitted as their annotator, through Label Studio's queue, on a real server.

Guidelines v2 §7-8: each annotator's worksheets live in their own folder; `submit-worksheets
--queue` takes the tasks in the order the queue hands them to that account (its overlap as
for a person pressing *Label All Tasks*); `--new-version` keeps the earlier annotation.
"""

from __future__ import annotations

import secrets
import shutil

import pytest
import yaml

from helpers import ls_tasks, run_cli
from sahelwire.io.paths import ProjectPaths
from sahelwire.labelstudio.client import Connection
from sahelwire.labelstudio.project import require_project

pytestmark = pytest.mark.labelstudio


def _sheets(root: ProjectPaths, email: str, skip: str | None = None) -> None:
    src = root.annotations_dir / "worksheets" / "ai-annotator-1"
    dest = root.annotations_dir / "worksheets" / email.split("@")[0]
    dest.mkdir(parents=True, exist_ok=True)
    for sheet in src.glob("*.yaml"):
        if sheet.stem != skip:
            shutil.copy2(sheet, dest / sheet.name)


def test_queue_overlap_new_version_and_a_task_without_worksheet(
    ls_project: ProjectPaths, ls_conn: Connection
) -> None:
    root = ls_project.root
    pushed = run_cli(root, "labelstudio", "push", "--quiet")
    assert pushed.returncode == 0, pushed.stdout + pushed.stderr
    tag = secrets.token_hex(3)
    a, b, c, d = (f"ai-annotator-{tag}-{x}@sahelwire.test" for x in "abcd")
    articles = sorted(p.stem for p in (root / "annotations/worksheets/ai-annotator-1").iterdir())

    # d lacks one worksheet: the queue may hand out any task (and locks what it hands), so
    # the run is refused before asking it, naming the article, with nothing submitted.
    _sheets(ls_project, d, skip=articles[2])
    refused = run_cli(root, "labelstudio", "submit-worksheets", "--annotator", d, "--queue")
    assert refused.returncode == 1
    assert articles[2] in refused.stderr and "nothing submitted" in refused.stderr
    assert "Traceback" not in refused.stderr

    _sheets(ls_project, a)
    first = run_cli(root, "labelstudio", "submit-worksheets", "--annotator", a, "--queue")
    assert first.returncode == 0, first.stderr
    assert "5 annotation(s) created (5 handed out by the queue), 0 updated" in first.stdout
    again = run_cli(root, "labelstudio", "submit-worksheets", "--annotator", a, "--queue")
    assert "0 annotation(s) created, 0 updated, 5 unchanged" in again.stdout, again.stdout

    # Overlap 2 (pyproject): b gets every task from the queue too; then c finds them full.
    _sheets(ls_project, b)
    got_b = run_cli(root, "labelstudio", "submit-worksheets", "--annotator", b, "--queue")
    _sheets(ls_project, c)
    got_c = run_cli(root, "labelstudio", "submit-worksheets", "--annotator", c, "--queue")
    project = require_project(ls_conn, ls_project)
    per_task = [
        len([x for x in ls_conn.client.annotations.list(id=t.id) if not x.was_cancelled])
        for t in ls_tasks(ls_conn.client, project=project.id)
    ]
    assert got_b.returncode == 0 and "(5 handed out by the queue)" in got_b.stdout
    assert per_task == [2] * 5, (per_task, got_b.stdout, got_c.stdout)
    assert got_c.returncode == 1 and "never handed" in got_c.stderr, got_c.stdout + got_c.stderr

    # A changed worksheet with --new-version: a second annotation of a, the first kept.
    sheet = root / "annotations/worksheets" / a.split("@")[0] / f"{articles[0]}.yaml"
    data = yaml.safe_load(sheet.read_text(encoding="utf-8"))
    data["document"]["notes"] = str(data["document"].get("notes") or "") + " Revised."
    sheet.write_text(yaml.safe_dump(data, allow_unicode=True), encoding="utf-8")
    revised = run_cli(root, "labelstudio", "submit-worksheets", "--annotator", a, "--new-version")
    assert revised.returncode == 0, revised.stderr
    assert "1 annotation(s) created, 0 updated, 4 unchanged" in revised.stdout, revised.stdout
    task = next(
        t for t in ls_tasks(ls_conn.client, project=project.id)
        if t.data.get("article_id") == articles[0]
    )  # fmt: skip
    anns = list(ls_conn.client.annotations.list(id=task.id))
    by_user: dict[int, int] = {}
    for x in anns:
        by_user[x.completed_by] = by_user.get(x.completed_by, 0) + 1
    assert sorted(by_user.values())[-1] == 2, by_user
    # The queue counts annotators, not versions: a's second version adds an annotation
    # object, so the task's overlap is 3 (2 + 1), still done (two annotators); else Label
    # Studio's lock would count it as full while is_labeled said otherwise.
    synced = ls_conn.client.tasks.get(id=task.id)  # the admin's view (the SDK's union type)
    state = (getattr(synced, "overlap", None), getattr(synced, "is_labeled", None))
    assert state == (3, True), state
