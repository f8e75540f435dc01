"""``sahelwire labelstudio restore``: bring a server (a fresh one) to the repository's state.

Every clone starts its own empty server. Restore, before anyone annotates there:

1. creates the account of every committed annotator that the server lacks, by e-mail, through
   the same invite-link sign-up annotators use. Its password is random, kept in the
   git-ignored 0600 file ``.sahelwire/labelstudio/annotators.json`` and never printed; the
   annotator sets their own with ``sahelwire labelstudio set-password EMAIL`` (Label Studio's
   sign-up refuses an e-mail that already has an account, and the open-source server has no
   password-reset mail);
2. creates the project and every task, exactly as ``push`` does;
3. creates every committed prediction (pre-annotation) the task on the server lacks, with its
   model version, score and result (a task whose file holds predictions gets no fresh
   prediction from push here, so the pull after restore changes nothing);
4. creates every committed annotation the server never had, as its original annotator
   (``completed_by`` set by the admin), with its original ``unique_id`` and its content
   (result, cancelled and ground-truth flags, lead time). The server stamps new times;
   the repository keeps the original ones, so a pull right after restore rewrites nothing.

Annotations this server instance had and that were deleted on it are not put back (they are
what ``pull --prune`` is for). Idempotent: a second restore creates nothing. All checks
(repository form, collisions, re-mapped users, task texts) run before the first annotation
is created; every created UUID is recorded for this instance.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from rich.progress import Progress

from sahelwire.io.config import Settings
from sahelwire.io.locks import exclusive_lock
from sahelwire.io.paths import ProjectPaths
from sahelwire.labelstudio.client import Connection, ConnectionProblem, call
from sahelwire.labelstudio.identity import (
    Committed,
    IdentityError,
    Repository,
    load_repository,
    match_predictions,
)
from sahelwire.labelstudio.instance import load_record, never_here
from sahelwire.labelstudio.invite import sign_up
from sahelwire.labelstudio.project import require_project
from sahelwire.labelstudio.pull import PullRefused, annotator_directory, check_tasks, identify
from sahelwire.labelstudio.push import (
    BASELINE_VERSION_PREFIX,
    PUSH_LOCK,
    PushSummary,
    baseline_version,
    push_tasks,
    sync_overlaps,
)
from sahelwire.labelstudio.snapshot import export_tasks
from sahelwire.labelstudio.worksheet_submit import annotator_password


class RestoreRefused(RuntimeError):
    """The repository and the server contradict each other; no annotation was created."""


@dataclass
class RestoreSummary:
    push: PushSummary = field(default_factory=PushSummary)
    accounts_created: list[str] = field(default_factory=list)
    accounts_present: int = 0
    restored: int = 0
    present: int = 0
    predictions_restored: int = 0
    # committed, deleted on this server instance: not put back (pull --prune drops them)
    deleted_here: list[str] = field(default_factory=list)
    # The committed predictions' model version restore made the project show (the queue's
    # starting annotation), or None when it showed one already.
    shown_version: str | None = None
    # Today's baseline version, when the shown one is another: the next push adds and
    # shows it (until then the queue starts annotators from the committed one).
    current_version: str | None = None

    def line(self) -> str:
        deleted = (
            f", {len(self.deleted_here)} deleted on this server and not put back"
            if self.deleted_here
            else ""
        )
        # One line a kind of thing: on one line the summary ran past 500 characters and the
        # queue's model version was lost in it (a real-UI walkthrough's complaint).
        lines = [
            f"restore: accounts {len(self.accounts_created)} created, {self.accounts_present} "
            "present",
            f"  annotations: {self.restored} restored, {self.present} already on the "
            f"server{deleted}",
            f"  predictions: {self.predictions_restored} restored"
            + (f"; the queue shows {self.shown_version}" if self.shown_version else ""),
        ]
        if self.current_version:
            lines.append(
                f"  today's baseline is {self.current_version}: `sahelwire labelstudio push` "
                "adds it and makes the queue show it"
            )
        lines.append(f"  {self.push.line()}")
        return "\n".join(lines)


def _ensure_accounts(
    conn: Connection, paths: ProjectPaths, emails: set[str], summary: RestoreSummary
) -> dict[str, int]:
    """E-mail -> server user id for every committed annotator, creating missing accounts."""
    users = {v: k for k, v in annotator_directory(conn).items()}
    for email in sorted(emails - set(users)):
        sign_up(conn, email, annotator_password(paths, email))
        summary.accounts_created.append(email)
    summary.accounts_present = len(emails & set(users))
    if summary.accounts_created:
        users = {v: k for k, v in annotator_directory(conn).items()}
    missing = sorted(emails - set(users))
    if missing:
        raise ConnectionProblem(f"accounts not found after sign-up: {', '.join(missing)}")
    return users


def _create(conn: Connection, task_id: int, user_id: int, committed: Committed) -> None:
    rec = committed.record
    fields: dict[str, Any] = {
        "unique_id": rec["unique_id"],
        "completed_by": user_id,
        "result": rec.get("result") or [],
        "was_cancelled": bool(rec.get("was_cancelled")),
        "ground_truth": bool(rec.get("ground_truth")),
    }
    if rec.get("lead_time") is not None:
        fields["lead_time"] = rec["lead_time"]
    call(conn, lambda: conn.client.annotations.create(id=task_id, **fields))


def _restore_predictions(
    conn: Connection, repo: Repository, by_article: dict[str, dict[str, Any]]
) -> int:
    """Create the committed predictions each task on the server lacks; how many."""
    created = 0
    for aid, task in sorted(by_article.items()):
        committed = repo.predictions_of(aid)
        if not committed:
            continue
        server = [p for p in task.get("predictions") or [] if isinstance(p, dict)]
        present = set(match_predictions(server, committed).values())
        for pred in committed:
            if pred["id"] in present:
                continue
            fields: dict[str, Any] = {"result": pred.get("result") or []}
            for key in ("model_version", "score"):
                if pred.get(key) is not None:
                    fields[key] = pred[key]
            call(
                conn,
                lambda tid=int(task["id"]), f=fields: conn.client.predictions.create(task=tid, **f),
            )
            created += 1
    return created


def _show_committed_version(conn: Connection, project_id: int, repo: Repository) -> str | None:
    """Make the project show the baseline version most committed tasks hold a prediction
    of, when it shows none; that version, or None.

    Label Studio's queue starts an annotation from the prediction of the project's model
    version, and only an import selects one: restore creates the committed predictions one
    by one, so the project showed none and a new annotator started from nothing (found on a
    fresh clone with annotators_per_task raised before restore). The version on the most
    committed tasks, the newest of those; the next ``push`` adds and shows the current
    baseline's (push.select_model_version).
    """
    shown = call(conn, lambda: conn.client.projects.get(id=project_id)).model_version or ""
    if shown:
        return None
    tasks_of: Counter[str] = Counter()
    newest: dict[str, int] = {}  # version -> its latest prediction's repository id
    for aid in repo.tasks:
        baseline = [
            p
            for p in repo.predictions_of(aid)
            if str(p.get("model_version") or "").startswith(BASELINE_VERSION_PREFIX)
        ]
        tasks_of.update({str(p["model_version"]) for p in baseline})
        for p in baseline:
            version = str(p["model_version"])
            newest[version] = max(newest.get(version, 0), int(p["id"]))
    if not tasks_of:
        return None
    # On the most tasks; of those, the one predicted last.
    version = max(tasks_of, key=lambda v: (tasks_of[v], newest[v]))
    call(conn, lambda: conn.client.projects.update(id=project_id, model_version=version))
    return version


def restore(conn: Connection, paths: ProjectPaths, *, show_progress: bool = True) -> RestoreSummary:
    summary = RestoreSummary()
    with exclusive_lock(paths.state_dir / "locks" / PUSH_LOCK, "labelstudio push"):
        try:
            repo = load_repository(paths)
        except IdentityError as exc:
            raise RestoreRefused(str(exc)) from None
        emails = {c.email for c in repo.by_uuid.values()}
        unknown = sorted(emails - repo.known_annotators)
        if unknown:
            raise RestoreRefused(
                f"annotators {', '.join(unknown)} are not in annotations/annotators.json"
            )
        accounts = _ensure_accounts(conn, paths, emails, summary)
        with_predictions = frozenset(a for a in repo.tasks if repo.predictions_of(a))
        summary.push = push_tasks(
            conn,
            paths,
            show_progress=show_progress,
            keep_committed_predictions=with_predictions,
        )
        project = require_project(conn, paths)
        tasks = export_tasks(conn, paths, int(project.id))
        try:
            by_article = check_tasks(tasks, paths)
            identify(by_article, repo, annotator_directory(conn))
        except PullRefused as exc:
            raise RestoreRefused(str(exc)) from None
        record = load_record(paths, project)
        on_server = {
            str(a.get("unique_id")) for t in by_article.values() for a in t.get("annotations") or []
        }
        todo = never_here(repo, on_server, record)
        summary.present = sum(1 for u in repo.by_uuid if u in on_server)
        summary.deleted_here = [
            c.ref() for u, c in sorted(repo.by_uuid.items()) if u not in on_server and c not in todo
        ]
        lacking = sorted({c.article_id for c in todo} - set(by_article))
        if lacking:
            raise RestoreRefused(
                f"no task on the server for article(s) {', '.join(lacking)} after push "
                "(see push's refusals above)"
            )
        summary.predictions_restored = _restore_predictions(conn, repo, by_article)
        summary.shown_version = _show_committed_version(conn, int(project.id), repo)
        today = baseline_version(paths)
        if summary.shown_version and today and today != summary.shown_version:
            summary.current_version = today
        record.articles |= set(by_article)
        record.annotations |= on_server
        try:
            with Progress(disable=not show_progress, transient=True) as progress:
                bar = progress.add_task("restore", total=len(todo))
                for committed in todo:
                    task_id = int(by_article[committed.article_id]["id"])
                    _create(conn, task_id, accounts[committed.email], committed)
                    record.annotations.add(str(committed.record["unique_id"]))
                    summary.restored += 1
                    progress.advance(bar)
        finally:
            record.save()
        if summary.restored:
            # The restored annotations include annotators' earlier versions: the queue's
            # lock would count them as annotators (push.wanted_overlaps).
            summary.push.overlaps_set += sync_overlaps(
                conn, paths, int(project.id), Settings.load(paths).annotators_per_task
            )
    return summary
