"""``sahelwire labelstudio pull``: every annotation back into annotations/exports/, safely.

One file per task, ``annotations/exports/<article_id>.json``, holding the task exactly as the
snapshot export returned it (docs/label_studio_format.md). Guarantees:

* incremental and idempotent: a file is rewritten only when its bytes change, atomically;
* nothing is deleted without ``--prune``: a task or an annotation that disappeared from the
  server keeps its local copy (the annotation stays in the task file's ``annotations`` list)
  and the summary says so;
* every annotator's annotation is kept; cancelled ones are kept (``was_cancelled``); drafts
  are counted and reported, and the export parser never publishes them;
* all checks run before the first write: a task whose text hash no longer matches its raw
  article, a task without ``article_id`` or two tasks for one article refuse the whole pull;
* a lock stops two pulls at once; a server failure mid-pull leaves the previous files intact.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from label_studio_sdk.types import (
    LseAnnotationFilterOptionsRequest,
    SerializationOptionRequest,
    SerializationOptionsRequest,
)
from rich.progress import Progress

from sahelwire.io.atomic import write_bytes_atomic
from sahelwire.io.locks import exclusive_lock
from sahelwire.io.paths import ProjectPaths
from sahelwire.labelstudio.client import Connection, ConnectionProblem, call
from sahelwire.labelstudio.export_list import ExportListError, iter_export_list
from sahelwire.labelstudio.project import require_project
from sahelwire.raw.manifest import load_articles

EXPORT_TIMEOUT_S = 300.0


class PullRefused(RuntimeError):
    """The export contradicts the repository; nothing was written."""


@dataclass
class PullSummary:
    tasks_new: int = 0
    tasks_updated: int = 0
    tasks_unchanged: int = 0
    annotations_new: int = 0
    annotations_updated: int = 0
    annotations_unchanged: int = 0
    skipped: int = 0
    drafts: int = 0
    kept_tasks: list[str] = field(default_factory=list)
    kept_annotations: int = 0
    # "<article id> annotation <id>" for each annotation kept locally that --prune would drop
    kept_annotation_refs: list[str] = field(default_factory=list)
    pruned_tasks: list[str] = field(default_factory=list)
    pruned_annotations: int = 0
    changed_files: list[str] = field(default_factory=list)

    def line(self) -> str:
        kept = ""
        if self.kept_tasks or self.kept_annotations:
            kept = (
                f"; kept locally (deleted on the server, use --prune): {len(self.kept_tasks)} "
                f"task file(s), {self.kept_annotations} annotation(s)"
            )
        pruned = ""
        if self.pruned_tasks or self.pruned_annotations:
            pruned = (
                f"; pruned {len(self.pruned_tasks)} task file(s), "
                f"{self.pruned_annotations} annotation(s)"
            )
        return (
            f"tasks {self.tasks_new} new, {self.tasks_updated} updated, "
            f"{self.tasks_unchanged} unchanged; annotations {self.annotations_new} new, "
            f"{self.annotations_updated} updated, {self.annotations_unchanged} unchanged, "
            f"{self.skipped} skipped (cancelled); {self.drafts} draft(s) not published"
            f"{kept}{pruned}"
        )


def serialize(task: dict[str, Any]) -> bytes:
    return (json.dumps(task, ensure_ascii=False, indent=2, sort_keys=True) + "\n").encode()


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


def _annotator_directory(conn: Connection) -> dict[str, dict[str, str]]:
    users = call(conn, lambda: list(conn.client.users.list()))
    return {str(u.id): {"email": str(u.email or u.username or u.id)} for u in users}


def _read_tasks(export: Path) -> list[dict[str, Any]]:
    try:
        return [dict(t) for t in iter_export_list(export)]
    except (ExportListError, UnicodeDecodeError) as exc:
        raise ConnectionProblem(f"the server's export is not valid JSON ({exc})") from None


def _check(tasks: list[dict[str, Any]], paths: ProjectPaths) -> dict[str, dict[str, Any]]:
    articles = {a.id: a for a in load_articles(paths)}
    by_article: dict[str, dict[str, Any]] = {}
    errors = []
    for task in tasks:
        data = task.get("data") or {}
        aid = data.get("article_id")
        tid = task.get("id")
        if not isinstance(aid, str) or aid not in articles:
            errors.append(
                f"task {tid}: data.article_id {aid!r} is not an article of dataset/raw/manifest.jsonl"
            )
            continue
        article = articles[aid]
        text = data.get("text")
        actual = hashlib.sha256(text.encode("utf-8")).hexdigest() if isinstance(text, str) else None
        if data.get("text_sha256") != article.sha256 or actual != article.sha256:
            errors.append(
                f"task {tid} (article {aid}): the task's text hash {str(actual)[:12]}… does not match "
                f"the raw article's {article.sha256[:12]}…; its annotations would not line up "
                "(re-push the article or restore its text)"
            )
            continue
        if aid in by_article:
            errors.append(
                f"article {aid}: two tasks ({by_article[aid]['id']} and {tid}); delete one"
            )
            continue
        by_article[aid] = task
    if errors:
        raise PullRefused("; ".join(errors))
    return by_article


def _merge(
    article_id: str,
    task: dict[str, Any],
    old: dict[str, Any] | None,
    prune: bool,
    summary: PullSummary,
) -> dict[str, Any]:
    """The server's task, plus (without --prune) local annotations the server no longer has."""
    old_anns = {a["id"]: a for a in (old or {}).get("annotations", [])}
    new_anns = {a["id"]: a for a in task.get("annotations", [])}
    for aid, ann in new_anns.items():
        if ann.get("was_cancelled"):
            summary.skipped += 1
        if aid not in old_anns:
            summary.annotations_new += 1
        elif old_anns[aid] != ann:
            summary.annotations_updated += 1
        else:
            summary.annotations_unchanged += 1
    gone = [a for aid, a in old_anns.items() if aid not in new_anns]
    summary.drafts += len(task.get("drafts") or [])
    if gone and not prune:
        summary.kept_annotations += len(gone)
        summary.kept_annotation_refs += [f"{article_id} annotation {a['id']}" for a in gone]
        task = {**task, "annotations": sorted([*new_anns.values(), *gone], key=lambda a: a["id"])}
    elif gone:
        summary.pruned_annotations += len(gone)
    return task


def pull(
    conn: Connection, paths: ProjectPaths, *, prune: bool = False, show_progress: bool = True
) -> PullSummary:
    summary = PullSummary()
    lock = paths.state_dir / "locks" / "labelstudio-pull.lock"
    with exclusive_lock(lock, "labelstudio pull"):
        project = require_project(conn, paths)
        work = paths.state_dir / "tmp"
        work.mkdir(parents=True, exist_ok=True)
        with _downloaded_export(conn, int(project.id), work) as export:
            tasks = _read_tasks(export)
        users = _annotator_directory(conn)
        by_article = _check(tasks, paths)
        out_dir = paths.exports_dir
        out_dir.mkdir(parents=True, exist_ok=True)
        writes: list[tuple[Path, bytes]] = []
        for aid, task in sorted(by_article.items()):
            path = out_dir / f"{aid}.json"
            old = json.loads(path.read_text(encoding="utf-8")) if path.exists() else None
            merged = _merge(aid, task, old, prune, summary)
            data = serialize(merged)
            if old is None:
                summary.tasks_new += 1
            elif path.read_bytes() == data:
                summary.tasks_unchanged += 1
                continue
            else:
                summary.tasks_updated += 1
            writes.append((path, data))
        for path in sorted(out_dir.glob("*.json")):
            if path.stem not in by_article:
                if prune:
                    summary.pruned_tasks.append(path.stem)
                else:
                    summary.kept_tasks.append(path.stem)
        used = {
            str(a.get("completed_by"))
            for t in by_article.values()
            for a in t.get("annotations", [])
            if a.get("completed_by") is not None
        }
        directory_file = paths.annotations_dir / "annotators.json"
        known = json.loads(directory_file.read_text()) if directory_file.exists() else {}
        directory = {**known, **{k: v for k, v in users.items() if k in used}}
        directory_bytes = (json.dumps(directory, indent=2, sort_keys=True) + "\n").encode()
        if not directory_file.exists() or directory_file.read_bytes() != directory_bytes:
            writes.insert(0, (directory_file, directory_bytes))
        # Every check passed and every byte is ready: now write, each file atomically.
        with Progress(disable=not show_progress, transient=True) as progress:
            bar = progress.add_task("pull", total=len(writes))
            for path, data in writes:
                write_bytes_atomic(path, data)
                summary.changed_files.append(str(path.relative_to(paths.root)))
                progress.advance(bar)
        for stem in summary.pruned_tasks:
            (out_dir / f"{stem}.json").unlink()
            summary.changed_files.append(str((out_dir / f"{stem}.json").relative_to(paths.root)))
    return summary
