"""One snapshot export of the whole project: every task with every annotation, as the server has it.

Used by ``pull`` (what to write), ``restore`` (what the server lacks) and ``push`` (whether the
server is a fresh one). Cancelled annotations are included (``annotation_filter_options``
usual + skipped + ground truth), drafts and predictions in full. The snapshot is streamed to a
temporary file, read task by task, and deleted on the server afterwards.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from label_studio_sdk.types import (
    LseAnnotationFilterOptionsRequest,
    SerializationOptionRequest,
    SerializationOptionsRequest,
)

from sahelwire.io.paths import ProjectPaths
from sahelwire.io.scratch import scratch_dir
from sahelwire.labelstudio.client import Connection, ConnectionProblem, call
from sahelwire.labelstudio.export_list import ExportListError, iter_export_list
from sahelwire.labelstudio.identity import canonical_uuid

EXPORT_TIMEOUT_S = 300.0


@contextlib.contextmanager
def _downloaded_export(conn: Connection, project_id: int, work: Path) -> Iterator[Path]:
    """Create a snapshot export with every annotation (cancelled too) and drafts; download it."""
    snap = call(
        conn,
        lambda: conn.client.projects.exports.create(
            id=project_id,
            title="sahelwire pull",
            annotation_filter_options=LseAnnotationFilterOptionsRequest(
                usual=True, skipped=True, ground_truth=True
            ),
            serialization_options=SerializationOptionsRequest(
                drafts=SerializationOptionRequest(only_id=False),
                predictions=SerializationOptionRequest(only_id=False),
            ),
        ),
    )
    deadline = time.monotonic() + EXPORT_TIMEOUT_S
    status = snap.status
    while status != "completed":
        if status == "failed":
            raise ConnectionProblem(f"snapshot export {snap.id} failed on the server")
        if time.monotonic() > deadline:
            raise ConnectionProblem(
                f"snapshot export {snap.id} not ready after {EXPORT_TIMEOUT_S:.0f} s"
            )
        time.sleep(0.5)
        status = call(
            conn, lambda: conn.client.projects.exports.get(id=project_id, export_pk=snap.id)
        ).status
    fd, name = tempfile.mkstemp(prefix="export-", suffix=".json", dir=work)
    path = Path(name)
    try:
        with os.fdopen(fd, "wb") as out:
            for chunk in call(
                conn,
                lambda: list(
                    conn.client.projects.exports.download(
                        id=project_id, export_pk=snap.id, export_type="JSON"
                    )
                ),
            ):
                out.write(chunk)
        yield path
    finally:
        path.unlink(missing_ok=True)
        with contextlib.suppress(ConnectionProblem):
            call(
                conn, lambda: conn.client.projects.exports.delete(id=project_id, export_pk=snap.id)
            )


def export_tasks(conn: Connection, paths: ProjectPaths, project_id: int) -> list[dict[str, Any]]:
    """Every task of the project from one snapshot export, as plain dicts."""
    with (
        scratch_dir(paths.tmp_dir, "pull-") as work,
        _downloaded_export(conn, project_id, work) as export,
    ):
        try:
            return [dict(t) for t in iter_export_list(export)]
        except (ExportListError, UnicodeDecodeError) as exc:
            raise ConnectionProblem(f"the server's export is not valid JSON ({exc})") from None


@dataclass(frozen=True)
class ServerAnnotation:
    """Where one annotation is on the server, by its UUID."""

    unique_id: str
    server_id: Any
    task_id: Any
    article_id: Any


def server_annotations(tasks: list[dict[str, Any]]) -> dict[str, ServerAnnotation]:
    """UUID -> the annotation's server id, task and article; refuses one without a UUID."""
    found: dict[str, ServerAnnotation] = {}
    for task in tasks:
        aid = (task.get("data") or {}).get("article_id")
        for ann in task.get("annotations") or []:
            uid = canonical_uuid(ann.get("unique_id"))
            if uid is None:
                raise ConnectionProblem(
                    f"annotation {ann.get('id')} of task {task.get('id')} (article {aid}) has no "
                    f"usable unique_id ({ann.get('unique_id')!r}): it cannot be matched to the "
                    "repository"
                )
            found[uid] = ServerAnnotation(uid, ann.get("id"), task.get("id"), aid)
    return found
