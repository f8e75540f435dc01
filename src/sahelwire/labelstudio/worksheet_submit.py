"""Submit annotation worksheets to Label Studio as a named annotator (idempotent).

The annotator signs up through an invite link and annotates with their own API token, so
Label Studio records them, not the admin, as ``completed_by``. A worksheet whose result
equals the annotator's existing annotation is left alone; a changed one updates it.
"""

from __future__ import annotations

import json
import secrets
from dataclasses import dataclass
from typing import Any

import httpx
from label_studio_sdk import LabelStudio

from sahelwire.io.config import Settings
from sahelwire.io.paths import ProjectPaths
from sahelwire.labelstudio import server
from sahelwire.labelstudio.client import Connection, ConnectionProblem, call
from sahelwire.labelstudio.invite import sign_up
from sahelwire.labelstudio.label_config import LabelConfig
from sahelwire.labelstudio.project import require_project
from sahelwire.labelstudio.push import sync_overlaps
from sahelwire.labelstudio.worksheets import worksheet_dir, worksheet_results
from sahelwire.raw.manifest import load_articles


@dataclass
class SubmitSummary:
    created: int = 0
    updated: int = 0
    unchanged: int = 0
    from_queue: int = 0

    def line(self) -> str:
        queue = f" ({self.from_queue} handed out by the queue)" if self.from_queue else ""
        return (
            f"worksheets: {self.created} annotation(s) created{queue}, {self.updated} updated, "
            f"{self.unchanged} unchanged"
        )


def annotator_password(paths: ProjectPaths, email: str) -> str:
    """A per-annotator password kept in the git-ignored 0600 state file (never printed)."""
    path = server.home(paths) / "annotators.json"
    data = json.loads(path.read_text()) if path.exists() else {}
    if email not in data:
        data[email] = secrets.token_urlsafe(18)
        server.write_private_json(path, data)
    return str(data[email])


def _comparable(result: list[dict[str, Any]], config: LabelConfig) -> str:
    # Registry ids compare in one form: an annotation submitted with typed ids before the
    # lists existed says the same as the worksheet does now, and is left as it is.
    keep = [{k: v for k, v in r.items() if k != "origin"} for r in config.comparable(result)]
    return json.dumps(sorted(keep, key=lambda r: json.dumps(r, sort_keys=True)), sort_keys=True)


def _queue_next(conn: Connection, token: str, project_id: int) -> dict[str, Any] | None:
    """The task Label Studio's queue hands this annotator next (what "Label All Tasks" asks
    for; label-studio-sdk 2.x has no method for it), or None when it has none left."""
    url = f"{conn.url}/api/projects/{project_id}/next"
    try:
        r = httpx.get(url, headers={"Authorization": f"Token {token}"}, timeout=60)
    except httpx.HTTPError as exc:
        raise ConnectionProblem(f"the queue {url} did not answer: {type(exc).__name__}") from None
    if r.status_code == 404:
        return None
    if r.status_code != 200:
        raise ConnectionProblem(f"the queue {url} answered HTTP {r.status_code}")
    return dict(r.json())


def submit(
    conn: Connection,
    paths: ProjectPaths,
    email: str,
    *,
    queue: bool = False,
    new_version: bool = False,
) -> SubmitSummary:
    """Submit ``email``'s worksheets (annotations/worksheets/<handle>/) as their annotations.

    ``queue``: take the tasks in the order Label Studio's queue hands them to this annotator
    (its overlap and pre-annotations, as for a person pressing *Label All Tasks*), and refuse
    a task the queue hands out that has no worksheet, or a worksheet the queue never hands
    out while the annotator has no annotation of it. ``new_version``: a changed worksheet
    becomes a new annotation of the annotator, so the earlier one stays on the server and in
    the pulled exports (adjudication counts the latest and lists the earlier as superseded);
    without it the annotator's annotation is updated in place.
    """
    summary = SubmitSummary()
    token = sign_up(conn, email, annotator_password(paths, email))
    annotator = LabelStudio(base_url=conn.url, api_key=token, timeout=60)
    me = annotator.users.whoami()
    project = require_project(conn, paths)
    config = LabelConfig.load(paths)
    articles = {a.id: a for a in load_articles(paths)}
    folder = worksheet_dir(paths, email)
    sheets = sorted(p.stem for p in folder.glob("*.yaml")) if folder.is_dir() else []
    for aid in sheets:
        if aid not in articles:
            raise ConnectionProblem(
                f"{folder / (aid + '.yaml')}: no article {aid!r} in the manifest"
            )
    # Resolve every worksheet before the first post: a bad one stops the run with nothing sent.
    results = {aid: worksheet_results(paths, aid, email, articles[aid].text) for aid in sheets}
    tasks = {
        t.data.get("article_id"): t.id
        for t in call(conn, lambda: list(conn.client.tasks.list(project=project.id)))
    }
    for aid in sheets:
        if tasks.get(aid) is None:
            raise ConnectionProblem(f"article {aid} has no task; run push first")
    if queue and (lacking := sorted(str(t) for t in tasks if t not in results)):
        # Checked before asking: the queue may hand out any task, and one it hands out stays
        # locked to this account for a while, so refusing it later would hold it from others.
        raise ConnectionProblem(
            f"--queue needs a worksheet for every task the queue may hand {email}; "
            f"{folder.relative_to(paths.root)}/ has none for: {', '.join(lacking)}; "
            "nothing submitted"
        )

    def mine(task_id: int) -> list[Any]:
        anns = call(conn, lambda: list(conn.client.annotations.list(id=task_id)))
        own = [a for a in anns if a.completed_by == me.id and not a.was_cancelled]
        return sorted(own, key=lambda a: (str(a.updated_at or ""), a.id))

    per_task = Settings.load(paths).annotators_per_task
    handed: set[str] = set()
    if queue:
        # The queue's lock counts annotation objects: overlaps that count annotators first
        # (push.wanted_overlaps), or a task with an earlier version on it is held back.
        sync_overlaps(conn, paths, int(project.id), per_task)
        while (task := _queue_next(conn, token, project.id)) is not None:
            got = str((task.get("data") or {}).get("article_id"))
            if got not in results:
                raise ConnectionProblem(
                    f"the queue handed {email} article {got} (task {task.get('id')}), which has "
                    f"no worksheet in {folder.relative_to(paths.root)}/; nothing submitted for it"
                )
            annotator.annotations.create(id=int(task["id"]), result=results[got])
            handed.add(got)
            summary.created += 1
            summary.from_queue += 1
    for aid in sheets:
        if aid in handed:
            continue
        task_id = tasks[aid]
        own = mine(task_id)
        if not own:
            if queue:
                raise ConnectionProblem(
                    f"the queue never handed {email} article {aid} (its overlap may be full: "
                    "`annotators_per_task`); nothing submitted for it"
                )
            annotator.annotations.create(id=task_id, result=results[aid])
            summary.created += 1
        elif _comparable(list(own[-1].result or []), config) == _comparable(results[aid], config):
            summary.unchanged += 1
        elif new_version:
            annotator.annotations.create(id=task_id, result=results[aid])
            summary.created += 1
        else:
            annotator.annotations.update(id=own[-1].id, result=results[aid])
            summary.updated += 1
    if summary.created:
        # A new version adds an annotation object but no annotator.
        sync_overlaps(conn, paths, int(project.id), per_task)
    return summary
