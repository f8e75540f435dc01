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

from label_studio_sdk import LabelStudio

from sahelwire.io.paths import ProjectPaths
from sahelwire.labelstudio import server
from sahelwire.labelstudio.client import Connection, ConnectionProblem, call
from sahelwire.labelstudio.invite import sign_up
from sahelwire.labelstudio.label_config import LabelConfig
from sahelwire.labelstudio.project import require_project
from sahelwire.labelstudio.worksheets import worksheet_dir, worksheet_results
from sahelwire.raw.manifest import load_articles


@dataclass
class SubmitSummary:
    created: int = 0
    updated: int = 0
    unchanged: int = 0

    def line(self) -> str:
        return (
            f"worksheets: {self.created} annotation(s) created, {self.updated} updated, "
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


def submit(conn: Connection, paths: ProjectPaths, email: str) -> SubmitSummary:
    summary = SubmitSummary()
    token = sign_up(conn, email, annotator_password(paths, email))
    annotator = LabelStudio(base_url=conn.url, api_key=token, timeout=60)
    me = annotator.users.whoami()
    project = require_project(conn, paths)
    config = LabelConfig.load(paths)
    tasks = {
        t.data.get("article_id"): t.id
        for t in call(conn, lambda: list(conn.client.tasks.list(project=project.id)))
    }
    for article in load_articles(paths):
        if not (worksheet_dir(paths) / f"{article.id}.yaml").exists():
            continue
        task_id = tasks.get(article.id)
        if task_id is None:
            raise ConnectionProblem(f"article {article.id} has no task; run push first")
        result = worksheet_results(paths, article.id, article.text)
        mine = [
            a
            for a in call(conn, lambda tid=task_id: list(conn.client.annotations.list(id=tid)))
            if a.completed_by == me.id and not a.was_cancelled
        ]
        if not mine:
            annotator.annotations.create(id=task_id, result=result)
            summary.created += 1
        elif _comparable(list(mine[0].result or []), config) == _comparable(result, config):
            summary.unchanged += 1
        else:
            annotator.annotations.update(id=mine[0].id, result=result)
            summary.updated += 1
    return summary
