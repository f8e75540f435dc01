"""``sahelwire labelstudio pull``: every annotation back into annotations/exports/, safely.

One file per task, ``annotations/exports/<article_id>.json``, in the repository form of
:mod:`sahelwire.labelstudio.identity` (docs/label_studio_format.md). Guarantees:

* identities survive a new server: each server annotation is matched to the repository by its
  UUID (``unique_id``), never by its server id; a new one gets the next repository id; its
  annotator is its e-mail. A UUID committed under another article (a collision) or credited
  to another person (a re-mapped user) refuses the whole pull, naming file, annotation and
  both identities;
* incremental, idempotent and deterministic: a file is rewritten only when its bytes change,
  atomically; nothing request-time (``created_ago``) or server-local is written, so a pull a
  minute later rewrites nothing;
* nothing is deleted without ``--prune``, and ``--prune`` deletes only what this server
  instance had and no longer has (:mod:`sahelwire.labelstudio.instance`): a committed
  annotation the server never had (a fresh server) is kept and reported, with or without it;
* every annotator's annotation is kept; cancelled ones are kept (``was_cancelled``); drafts
  stay on the server and are counted;
* all checks run before the first write: a task whose text hash no longer matches its raw
  article, a task without ``article_id``, two tasks for one article or an identity conflict
  refuse the whole pull;
* a lock stops two pulls at once; a server failure mid-pull leaves the previous files intact.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from rich.progress import Progress

from sahelwire.io.atomic import write_bytes_atomic
from sahelwire.io.locks import exclusive_lock
from sahelwire.io.paths import ProjectPaths
from sahelwire.io.scratch import scratch_dir
from sahelwire.labelstudio.client import Connection, call
from sahelwire.labelstudio.identity import (
    IdentityError,
    Repository,
    annotators_bytes,
    annotators_file,
    canonical_uuid,
    load_repository,
    match_predictions,
    repository_annotation,
    repository_prediction,
    serialize,
    started_from,
    updated_annotation,
)
from sahelwire.labelstudio.instance import InstanceRecord, load_record
from sahelwire.labelstudio.project import require_project
from sahelwire.labelstudio.snapshot import export_tasks
from sahelwire.raw.manifest import load_articles


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
    predictions_new: int = 0
    skipped: int = 0
    drafts: int = 0
    kept_tasks: list[str] = field(default_factory=list)
    kept_annotations: int = 0
    # "<file> annotation <id> (unique_id …)" for each annotation kept that --prune would drop
    kept_annotation_refs: list[str] = field(default_factory=list)
    # committed, but never on this server instance: kept, and never pruned
    absent_tasks: list[str] = field(default_factory=list)
    absent_annotation_refs: list[str] = field(default_factory=list)
    pruned_tasks: list[str] = field(default_factory=list)
    pruned_annotations: int = 0
    changed_files: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    def line(self) -> str:
        kept = ""
        if self.kept_tasks or self.kept_annotations:
            kept = (
                f"; kept locally (deleted on this server, use --prune): {len(self.kept_tasks)} "
                f"task file(s), {self.kept_annotations} annotation(s)"
            )
        absent = ""
        if self.absent_tasks or self.absent_annotation_refs:
            absent = (
                f"; kept, never on this server (restore puts them there; --prune keeps them): "
                f"{len(self.absent_tasks)} task file(s), "
                f"{len(self.absent_annotation_refs)} annotation(s)"
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
            f"{self.annotations_updated} updated, {self.annotations_unchanged} unchanged "
            # a total over every annotation pulled, not news of this pull (a walkthrough read
            # "1 skipped" on a pull that changed nothing as a skip it had just made)
            f"(of all these, {self.skipped} cancelled by Skip); "
            f"{self.predictions_new} new prediction(s); "
            f"{self.drafts} draft(s) not published"
            f"{kept}{absent}{pruned}"
        )


def annotator_directory(conn: Connection) -> dict[int, str]:
    """Server user id -> e-mail, for this server only (the ids mean nothing elsewhere)."""
    users = call(conn, lambda: list(conn.client.users.list()))
    return {int(u.id): str(u.email) for u in users if u.email}


def check_tasks(tasks: list[dict[str, Any]], paths: ProjectPaths) -> dict[str, dict[str, Any]]:
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


def _server_email(ann: dict[str, Any], users: dict[int, str]) -> str | None:
    """The e-mail of the account that made a server annotation (export: id or object)."""
    who = ann.get("completed_by")
    if isinstance(who, dict):
        email = who.get("email")
        return str(email) if email else None
    if isinstance(who, int) and not isinstance(who, bool):
        return users.get(who)
    return None


@dataclass
class _Identified:
    """One server annotation with its identities: the repository's and the server's."""

    article_id: str
    server: dict[str, Any]
    unique_id: str
    email: str
    repo_id: int | None  # None until a new annotation gets its repository id


def identify(
    by_article: dict[str, dict[str, Any]], repo: Repository, users: dict[int, str]
) -> list[_Identified]:
    """Map every server annotation to the repository by UUID; refuse any contradiction.

    Refused (nothing written), each naming file, annotation and both identities: a server
    annotation without a UUID or without a known account; a UUID the repository has under
    another article (a collision); a UUID the repository credits to another e-mail (a
    re-mapped user: the server's account for that annotation is someone else); an annotation
    whose content the repository lacks and whose last save was by another account.
    """
    found: list[_Identified] = []
    errors: list[str] = []
    for aid, task in sorted(by_article.items()):
        for ann in task.get("annotations") or []:
            where = f"server annotation {ann.get('id')} (task {task.get('id')}, article {aid})"
            uid = canonical_uuid(ann.get("unique_id"))
            if uid is None:
                errors.append(f"{where}: no usable unique_id ({ann.get('unique_id')!r})")
                continue
            email = _server_email(ann, users)
            if email is None:
                errors.append(
                    f"{where}: completed_by {ann.get('completed_by')!r} is no account on this "
                    "server (a deleted user?); its annotator cannot be named"
                )
                continue
            committed = repo.by_uuid.get(uid)
            if committed is not None and committed.article_id != aid:
                errors.append(
                    f"collision: {where} has unique_id {uid}, which the repository holds as "
                    f"{committed.ref()} of article {committed.article_id}"
                )
                continue
            if committed is not None and committed.email != email:
                errors.append(
                    f"re-mapped user: {committed.ref()} is by {committed.email} in the repository, "
                    f"but {where} is by {email} (user {ann.get('completed_by')}) on this server"
                )
                continue
            changer = _server_email({"completed_by": ann.get("updated_by")}, users)
            if (
                changer is not None
                and changer != email
                and (
                    committed is None
                    or updated_annotation(committed.record, ann) != committed.record
                )
            ):
                # Community has no roles: any account may change anyone's annotation (the
                # Data Manager opens it with an Update button). Pulled, the change would be
                # credited to the annotator. The server's updated_by names who saved it last;
                # restore's annotations are saved by the admin but match the repository.
                errors.append(
                    f"changed by another account: {where} is by {email}, but its last change "
                    f"was saved by {changer} (user {ann.get('updated_by')}); pulled, it would "
                    f"credit {changer}'s work to {email}. Ask {email} to check it in Label "
                    "Studio and press Update (their own update makes it theirs again; the "
                    "editor enables Update after a change: to keep it as it is, make one and "
                    "undo it)"
                )
                continue
            repo_id = None if committed is None else int(committed.record["id"])
            found.append(_Identified(aid, ann, uid, email, repo_id))
    if errors:
        raise PullRefused("; ".join(errors))
    # New annotations get repository ids after every committed one, in a fixed order.
    next_id = repo.next_annotation_id
    new = [f for f in found if f.repo_id is None]
    for f in sorted(
        new, key=lambda f: (f.article_id, str(f.server.get("created_at")), f.unique_id)
    ):
        f.repo_id = next_id
        next_id += 1
    return found


def _merge_predictions(
    article_id: str,
    server_task: dict[str, Any],
    repo: Repository,
    next_id: list[int],
    summary: PullSummary,
) -> tuple[list[dict[str, Any]], dict[int, int]]:
    """The task's predictions in repository form, and server id -> repository id.

    Committed predictions are provenance of the committed annotations: they are kept whether
    or not this server has them (even with ``--prune``). A server prediction whose content a
    committed one has is that one; any other gets the next repository id (``next_id``, shared
    by the whole pull, in article order and then server creation order).
    """
    server = [
        p
        for p in server_task.get("predictions") or []
        if isinstance(p, dict) and isinstance(p.get("id"), int)
    ]
    committed = repo.predictions_of(article_id)
    matched = match_predictions(server, committed)
    out = list(committed)
    for p in sorted(server, key=lambda p: (str(p.get("created_at")), int(p["id"]))):
        if p["id"] in matched:
            continue
        matched[int(p["id"])] = next_id[0]
        out.append(repository_prediction(p, repo_id=next_id[0]))
        next_id[0] += 1
        summary.predictions_new += 1
    return sorted(out, key=lambda p: int(p["id"])), matched


def _merge_task(
    article_id: str,
    server_task: dict[str, Any],
    identified: list[_Identified],
    repo: Repository,
    task_id: int,
    record: InstanceRecord,
    prune: bool,
    summary: PullSummary,
    next_prediction: list[int],
) -> dict[str, Any]:
    """The task's file content: the server's annotations in repository form, plus the
    committed ones the server does not have (unless pruned: only if this instance had them)."""
    predictions, prediction_ids = _merge_predictions(
        article_id, server_task, repo, next_prediction, summary
    )
    annotations = []
    on_server = set()
    for f in identified:
        on_server.add(f.unique_id)
        if f.server.get("was_cancelled"):
            summary.skipped += 1
        committed = repo.by_uuid.get(f.unique_id)
        if committed is None:
            assert f.repo_id is not None
            model = started_from(f.server, server_task)
            parent = f.server.get("parent_prediction")
            annotations.append(
                repository_annotation(
                    f.server,
                    repo_id=f.repo_id,
                    email=f.email,
                    model_version=model,
                    parent_prediction=prediction_ids.get(parent)
                    if isinstance(parent, int)
                    else None,
                )
            )
            summary.annotations_new += 1
            continue
        merged = updated_annotation(committed.record, f.server)
        if merged == committed.record:
            summary.annotations_unchanged += 1
        else:
            summary.annotations_updated += 1
        annotations.append(merged)
    for ann in repo.annotations_of(article_id):
        if ann["unique_id"] in on_server:
            continue
        ref = repo.by_uuid[ann["unique_id"]].ref()
        if not record.had_annotation(ann["unique_id"]):
            summary.absent_annotation_refs.append(ref)
            annotations.append(ann)
        elif prune:
            summary.pruned_annotations += 1
        else:
            summary.kept_annotations += 1
            summary.kept_annotation_refs.append(ref)
            annotations.append(ann)
    summary.drafts += len(server_task.get("drafts") or [])
    task = {
        "id": task_id,
        "data": server_task.get("data"),
        "annotations": sorted(annotations, key=lambda a: a["id"]),
    }
    if predictions:
        task["predictions"] = predictions
    return task


def pull(
    conn: Connection, paths: ProjectPaths, *, prune: bool = False, show_progress: bool = True
) -> PullSummary:
    summary = PullSummary()
    lock = paths.state_dir / "locks" / "labelstudio-pull.lock"
    with exclusive_lock(lock, "labelstudio pull"):
        project = require_project(conn, paths)
        tasks = export_tasks(conn, paths, int(project.id))
        users = annotator_directory(conn)
        by_article = check_tasks(tasks, paths)
        try:
            repo = load_repository(paths)
        except IdentityError as exc:
            raise PullRefused(str(exc)) from None
        record = load_record(paths, project)
        identified = identify(by_article, repo, users)
        per_article: dict[str, list[_Identified]] = {}
        for f in identified:
            per_article.setdefault(f.article_id, []).append(f)

        out_dir = paths.exports_dir
        next_task = repo.next_task_id
        next_prediction = [repo.next_prediction_id]
        writes: list[tuple[Path, bytes]] = []
        for aid, server_task in sorted(by_article.items()):
            committed = repo.tasks.get(aid)
            if committed is None:
                task_id, next_task = next_task, next_task + 1
            else:
                task_id = int(committed["id"])
            merged = _merge_task(
                aid,
                server_task,
                per_article.get(aid, []),
                repo,
                task_id,
                record,
                prune,
                summary,
                next_prediction,
            )
            data = serialize(merged)
            path = out_dir / f"{aid}.json"
            if committed is None:
                summary.tasks_new += 1
            elif path.read_bytes() == data:
                summary.tasks_unchanged += 1
                continue
            else:
                summary.tasks_updated += 1
            writes.append((path, data))
        for aid in sorted(set(repo.tasks) - set(by_article)):
            # A task file goes only if this instance had the task and every annotation in it.
            uids = [a["unique_id"] for a in repo.annotations_of(aid)]
            if not record.had_article(aid) or not all(map(record.had_annotation, uids)):
                summary.absent_tasks.append(aid)
            elif prune:
                summary.pruned_tasks.append(aid)
            else:
                summary.kept_tasks.append(aid)
        emails = set(repo.known_annotators) | {f.email for f in identified}
        directory = annotators_file(paths)
        directory_bytes = annotators_bytes(emails)
        if not directory.exists() or directory.read_bytes() != directory_bytes:
            writes.insert(0, (directory, directory_bytes))
        # Every check passed and every byte is ready: now write, each file atomically. The
        # temporary files are written in a scratch folder, not beside the exports: a pull
        # killed mid-write leaves no stray file in annotations/ (the next run removes it).
        with (
            scratch_dir(paths.tmp_dir, "pull-write-") as staging,
            Progress(disable=not show_progress, transient=True) as progress,
        ):
            bar = progress.add_task("pull", total=len(writes))
            for path, data in writes:
                write_bytes_atomic(path, data, staging=staging)
                summary.changed_files.append(str(path.relative_to(paths.root)))
                progress.advance(bar)
        for stem in summary.pruned_tasks:
            (out_dir / f"{stem}.json").unlink()
            summary.changed_files.append(str((out_dir / f"{stem}.json").relative_to(paths.root)))
        # What this instance has had, for the next --prune (local state, not the repository).
        record.annotations |= {f.unique_id for f in identified}
        record.articles |= set(by_article)
        try:
            record.save()
        except OSError as exc:  # the files are written; only a later --prune keeps more
            summary.notes.append(f"could not save {record.path} ({exc}); the next pull will")
    return summary
