"""``sahelwire labelstudio push``: create or update the project and its tasks, idempotently.

Label Studio does not deduplicate imports, so every task carries ``article_id`` and
``text_sha256`` in its data and push reconciles against what the server already has:
new articles are imported, unchanged ones are left alone, and a changed text replaces the
task's data only while nobody has annotated it (annotations on the old text would no longer
line up, so push refuses and names them instead).
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass, field
from typing import Any

from rich.progress import Progress

from sahelwire.io.config import Settings
from sahelwire.io.locks import exclusive_lock
from sahelwire.io.paths import ProjectPaths
from sahelwire.labelstudio.client import Connection, ConnectionProblem, call
from sahelwire.labelstudio.identity import IdentityError, load_repository
from sahelwire.labelstudio.instance import load_record, never_here
from sahelwire.labelstudio.label_config import render_label_config
from sahelwire.labelstudio.project import find_project, task_rows
from sahelwire.labelstudio.snapshot import export_tasks, server_annotations
from sahelwire.raw.manifest import Article, load_articles
from sahelwire.schema.taxonomy import load_taxonomy

IMPORT_BATCH = 500


@dataclass
class PushSummary:
    project_id: int = 0
    project_created: bool = False
    config_updated: bool = False
    created: int = 0
    updated: int = 0
    unchanged: int = 0
    predictions: int = 0
    model_version: str | None = None
    refused: list[str] = field(default_factory=list)

    def line(self) -> str:
        pred = (
            f"; {self.predictions} prediction set(s) added (model {self.model_version})"
            if self.model_version
            else "; no pre-annotation model available"
        )
        return (
            f"project {self.project_id}{' (created)' if self.project_created else ''}"
            f"{', label config updated' if self.config_updated else ''}: tasks "
            f"{self.created} created, {self.updated} updated, {self.unchanged} unchanged, "
            f"{len(self.refused)} refused{pred}"
        )


def task_data(article: Article) -> dict[str, str]:
    return {"text": article.text, "article_id": article.id, "text_sha256": article.sha256}


def _predictor(paths: ProjectPaths) -> tuple[str | None, Any]:
    """The offline pre-annotation baseline, when sahelwire.labelstudio.prelabel is available."""
    try:
        prelabel = importlib.import_module("sahelwire.labelstudio.prelabel")
    except ImportError:
        return None, None
    from sahelwire.schema.registries import load_registries

    taxonomy = load_taxonomy(paths.taxonomy_file)
    registries = load_registries(paths)
    # The seam sahelwire.labelstudio.prelabel provides: predict_results(text, registries, taxonomy) ->
    # Label Studio result dicts, already in Label Studio offsets (it converts through
    # sahelwire.labelstudio.offsets, so push must not convert again), and a version string, computed
    # for this project's registry and taxonomy when the module offers model_version().
    if hasattr(prelabel, "model_version"):
        version = str(prelabel.model_version(registries, taxonomy))
    else:
        version = str(prelabel.MODEL_VERSION)
    return version, lambda text: prelabel.predict_results(text, registries, taxonomy)


def ensure_project(conn: Connection, paths: ProjectPaths, summary: PushSummary) -> int:
    xml = render_label_config(load_taxonomy(paths.taxonomy_file))
    project = find_project(conn, paths)
    if project is None:
        title = Settings.load(paths).label_studio_project_title
        project = call(
            conn,
            lambda: conn.client.projects.create(
                title=title,
                label_config=xml,
                description="SahelWire: news on US-Niger security relations. "
                "Guidelines: annotations/GUIDELINES.md in the repository.",
            ),
        )
        summary.project_created = True
    elif (project.label_config or "").strip() != xml.strip():
        call(conn, lambda: conn.client.projects.update(id=project.id, label_config=xml))
        summary.config_updated = True
    summary.project_id = int(project.id)
    return int(project.id)


class RestoreFirst(RuntimeError):
    """The server lacks committed annotations it never had: restore must run before push."""


PUSH_LOCK = "labelstudio-push.lock"


def push(
    conn: Connection,
    paths: ProjectPaths,
    *,
    show_progress: bool = True,
    require_restored: bool = True,
) -> PushSummary:
    # Two pushes at once would both see an article as missing and import it twice.
    with exclusive_lock(paths.state_dir / "locks" / PUSH_LOCK, "labelstudio push"):
        if require_restored:
            check_restored(conn, paths)
        return push_tasks(conn, paths, show_progress=show_progress)


def check_restored(conn: Connection, paths: ProjectPaths) -> None:
    """Refuse a server that lacks committed annotations it never had (a fresh server).

    Pushing tasks there first would let annotators start over the committed work, and the
    committed annotators would have no accounts; ``restore`` puts both back first.
    """
    try:
        repo = load_repository(paths)
    except IdentityError as exc:
        raise ConnectionProblem(str(exc)) from None
    if not repo.by_uuid:
        return
    project = find_project(conn, paths)
    if project is None:
        missing = len(repo.by_uuid)
    else:
        record = load_record(paths, project)
        if all(record.had_annotation(u) for u in repo.by_uuid):
            return  # this instance has had every committed annotation: no export needed
        on_server = server_annotations(export_tasks(conn, paths, int(project.id)))
        missing = len(never_here(repo, on_server, record))
    if missing:
        title = Settings.load(paths).label_studio_project_title
        raise RestoreFirst(
            f"push refused: {missing} of the {len(repo.by_uuid)} committed annotation(s) were "
            f"never on this Label Studio server ({conn.url}, project {title!r}): a fresh "
            "server, or annotations pulled from another one. Run `sahelwire labelstudio "
            "restore` first (it creates the annotators' accounts and puts their annotations "
            "back as theirs, so the next pull changes nothing), or `sahelwire labelstudio push "
            "--no-restore` to push the tasks without them"
        )


def push_tasks(
    conn: Connection,
    paths: ProjectPaths,
    *,
    show_progress: bool,
    keep_committed_predictions: frozenset[str] = frozenset(),
) -> PushSummary:
    """Create or update the project and its tasks.

    ``keep_committed_predictions``: articles whose new task gets no fresh prediction, because
    ``restore`` puts the committed ones back (so the pull after restore changes nothing).
    """
    summary = PushSummary()
    project_id = ensure_project(conn, paths, summary)
    existing: dict[str, dict[str, Any]] = {}
    for row in task_rows(conn, project_id):
        aid = row["data"].get("article_id")
        if aid in existing:
            raise ConnectionProblem(
                f"project {project_id} has two tasks for article {aid!r} (tasks "
                f"{existing[aid]['id']} and {row['id']}); delete the duplicate in Label Studio"
            )
        if aid is not None:
            existing[aid] = row
    version, predict = _predictor(paths)
    summary.model_version = version
    new_payload: list[dict[str, Any]] = []
    articles = load_articles(paths)
    with Progress(disable=not show_progress, transient=True) as progress:
        bar = progress.add_task("push", total=len(articles))
        for article in articles:
            found = existing.get(article.id)
            if found is None:
                item: dict[str, Any] = {"data": task_data(article)}
                if predict is not None and article.id not in keep_committed_predictions:
                    item["predictions"] = [
                        {"model_version": version, "result": predict(article.text)}
                    ]
                    summary.predictions += 1
                new_payload.append(item)
                progress.advance(bar)
                continue
            row = found
            if (
                row["data"].get("text_sha256") != article.sha256
                or row["data"].get("text") != article.text
            ):
                if row["annotations"]:
                    summary.refused.append(
                        f"task {row['id']} (article {article.id}): the raw text changed but the "
                        f"task has {row['annotations']} annotation(s) on the old text; export "
                        "them, then delete the task or restore the text"
                    )
                else:
                    tid = row["id"]
                    call(
                        conn,
                        lambda tid=tid, a=article: conn.client.tasks.update(
                            id=tid, data=task_data(a)
                        ),
                    )
                    summary.updated += 1
            else:
                summary.unchanged += 1
                if predict is not None and version not in row["model_versions"]:
                    result = predict(article.text)
                    call(
                        conn,
                        lambda tid=row["id"], r=result: conn.client.predictions.create(
                            task=tid, result=r, model_version=version
                        ),
                    )
                    summary.predictions += 1
            progress.advance(bar)
    summary.created += import_tasks(conn, project_id, new_payload)
    return summary


def import_tasks(conn: Connection, project_id: int, payload: list[dict[str, Any]]) -> int:
    """Create ``payload``'s tasks in batches of IMPORT_BATCH; how many were created."""
    for start in range(0, len(payload), IMPORT_BATCH):
        batch = payload[start : start + IMPORT_BATCH]
        call(conn, lambda b=batch: conn.client.projects.import_tasks(id=project_id, request=b))
    return len(payload)
