"""Finding the SahelWire project on a server (by its configured title)."""

from __future__ import annotations

from typing import Any

from sahelwire.io.config import Settings
from sahelwire.io.paths import ProjectPaths
from sahelwire.labelstudio.client import Connection, ConnectionProblem, call


def find_project(conn: Connection, paths: ProjectPaths) -> Any | None:
    title = Settings.load(paths).label_studio_project_title
    found = [p for p in call(conn, lambda: list(conn.client.projects.list())) if p.title == title]
    if len(found) > 1:
        ids = ", ".join(str(p.id) for p in found)
        raise ConnectionProblem(
            f"{len(found)} projects titled {title!r} on {conn.url} (ids {ids}); "
            "rename or delete all but one"
        )
    return found[0] if found else None


def require_project(conn: Connection, paths: ProjectPaths) -> Any:
    project = find_project(conn, paths)
    if project is None:
        title = Settings.load(paths).label_studio_project_title
        raise ConnectionProblem(
            f"no project titled {title!r} on {conn.url}; run `sahelwire labelstudio push` first"
        )
    return project


def task_rows(conn: Connection, project_id: int) -> list[dict[str, Any]]:
    """Every task of the project as plain dicts (id, data, annotation counts)."""
    tasks = call(conn, lambda: list(conn.client.tasks.list(project=project_id, fields="all")))
    rows = []
    for t in tasks:
        rows.append(
            {
                "id": t.id,
                "data": dict(t.data or {}),
                "annotations": (t.total_annotations or 0) + (t.cancelled_annotations or 0),
                "total_annotations": t.total_annotations or 0,  # submitted, not cancelled
                # the queue's state: how many annotators it hands the task to, and whether
                # it counts as done
                "overlap": t.overlap,
                "is_labeled": bool(t.is_labeled),
                "model_versions": {
                    getattr(p, "model_version", None) for p in (t.predictions or [])
                },
                # model version -> result (the last of a version, if several share one)
                "predictions": {
                    str(getattr(p, "model_version", None)): getattr(p, "result", None)
                    for p in (t.predictions or [])
                },
            }
        )
    return rows


def queue_note(conn: Connection, paths: ProjectPaths) -> str:
    """What a new annotator's queue ("Label All Tasks") holds, for the maintainer who invites
    them: on a fresh clone every committed task already has its annotators, and the queue
    then shows a new account nothing (found by a walkthrough: nothing said why)."""
    project = find_project(conn, paths)
    if project is None:
        return "no project on this server yet: run `sahelwire labelstudio push` (or `restore`)"
    tasks = task_rows(conn, int(project.id))
    n = Settings.load(paths).annotators_per_task
    open_ = sum(1 for t in tasks if not t["is_labeled"])
    if open_:
        return f"the queue has {open_} of {len(tasks)} task(s) open to a new annotator"
    served = getattr(project, "maximum_annotations", None)
    if served != n:
        # annotators_per_task changed since the last push: the server still counts the old
        # number (a walkthrough was told "already has its 3" of tasks holding 2)
        return (
            f"every one of the {len(tasks)} task(s) is closed to a new annotator: the "
            f"server's project hands each task to {served} annotator(s), but "
            f"annotators_per_task in pyproject.toml is {n}; run `sahelwire labelstudio push` "
            "to apply it"
        )
    return (
        f"every one of the {len(tasks)} task(s) already has its {n} annotator(s) "
        "(annotators_per_task): a new annotator's queue is empty until you push new "
        "articles, or raise annotators_per_task in pyproject.toml and push "
        "(docs/annotation_workflow.md)"
    )
