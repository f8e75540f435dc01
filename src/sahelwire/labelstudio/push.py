"""``sahelwire labelstudio push``: create or update the project and its tasks, idempotently.

Label Studio does not deduplicate imports, so every task carries ``article_id`` and
``text_sha256`` in its data and push reconciles against what the server already has:
new articles are imported, unchanged ones are left alone, and a changed text replaces the
task's data only while nobody has annotated it (annotations on the old text would no longer
line up, so push refuses and names them instead).

Every push also re-applies the project settings of :func:`project_settings` (overlap from
``[tool.sahelwire] annotators_per_task``; each annotator's queue annotation starting from
the prediction; as little of other annotators' work on screen as Community allows:
docs/annotation_workflow.md), since any Label Studio Community account may change them.
Predictions are checked against the span rules before any is sent
(``sahelwire.labelstudio.prelabel``): regions the rules drop are reported, anything else
that breaks a rule refuses the push.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from typing import Any

from rich.progress import Progress

from sahelwire.io.config import Settings
from sahelwire.io.locks import exclusive_lock
from sahelwire.io.paths import ProjectPaths
from sahelwire.labelstudio.client import Connection, ConnectionProblem, call
from sahelwire.labelstudio.identity import IdentityError, load_repository
from sahelwire.labelstudio.instance import load_record, never_here
from sahelwire.labelstudio.instructions import load_instructions
from sahelwire.labelstudio.label_config import LabelConfig
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
    instructions_updated: bool = False
    created: int = 0
    updated: int = 0
    unchanged: int = 0
    predictions: int = 0
    model_version: str | None = None
    refused: list[str] = field(default_factory=list)
    # "name old -> new" for each project setting this push changed.
    settings_changed: list[str] = field(default_factory=list)
    # "article <id>: <region> ..." for each predicted region the span rules dropped.
    dropped: list[str] = field(default_factory=list)
    annotators_per_task: int = 0
    # What the project shows annotators when push left another model version selected
    # (a release re-opened with push --from-release), else None.
    shown_instead: str | None = None
    # Tasks whose overlap sync_overlaps set (earlier versions of an annotator's annotation
    # on them, or Label Studio had reset it).
    overlaps_set: int = 0

    def line(self) -> str:
        pred = (
            f"; {self.predictions} prediction set(s) added (model {self.model_version}"
            f"{', not shown: the project shows ' + self.shown_instead if self.shown_instead else ''})"
            if self.model_version
            else "; no pre-annotation model available"
        )
        if self.model_version and self.predictions:
            pred += (
                f", {len(self.dropped)} predicted region(s) dropped by the span rules"
                if self.dropped
                else ", all passing the span rules"
            )
        # A new project gets every setting; listing them would say nothing new.
        if self.project_created:
            settings = f", {self.annotators_per_task} annotator(s) per task"
        elif self.settings_changed:
            settings = f", settings updated ({'; '.join(self.settings_changed)})"
        else:
            settings = ""
        overlaps = (
            f"; {self.overlaps_set} task(s)' overlap set to count annotators, not versions"
            if self.overlaps_set
            else ""
        )
        return (
            f"project {self.project_id}{' (created)' if self.project_created else ''}"
            f"{', label config updated' if self.config_updated else ''}"
            f"{', instructions updated' if self.instructions_updated else ''}{settings}: tasks "
            f"{self.created} created, {self.updated} updated, {self.unchanged} unchanged, "
            f"{len(self.refused)} refused{pred}{overlaps}"
        )


class PredictionsInvalid(ConnectionProblem):
    """Predictions that break a span rule after the rules' own selection: nothing pushed.

    A ConnectionProblem so that every command that pushes tasks (push, restore, push
    --from-release) stops with its message and exit 1; push also lists every problem."""

    def __init__(self, message: str, problems: list[str]) -> None:
        super().__init__(message)
        self.problems = problems


def task_data(article: Article) -> dict[str, str]:
    return {"text": article.text, "article_id": article.id, "text_sha256": article.sha256}


@dataclass(frozen=True)
class Predictor:
    """The offline pre-annotation baseline bound to this project's registry and taxonomy."""

    version: str
    # text -> sahelwire.labelstudio.prelabel.Prediction: regions passing the span rules,
    # the dropped ones, Label Studio result items (already in Label Studio offsets: push
    # must not convert again) and the score.
    predict: Callable[[str], Any]
    # ({article_id: text}, {article_id: regions}) -> Problems of the span rules.
    check: Callable[[Mapping[str, str], Mapping[str, Any]], list[Any]]


def _predictor(paths: ProjectPaths) -> Predictor | None:
    """The offline pre-annotation baseline, when sahelwire.labelstudio.prelabel is available."""
    try:
        prelabel = importlib.import_module("sahelwire.labelstudio.prelabel")
    except ImportError:
        return None
    from sahelwire.schema.registries import load_registries

    taxonomy = load_taxonomy(paths.taxonomy_file)
    registries = load_registries(paths)
    # The baseline writes registry ids in the typed form; the editor shows them in the
    # registry lists of the config, so they are moved there (label_config: one place).
    config = LabelConfig.of(taxonomy, registries)

    def predict(text: str) -> Any:
        found = prelabel.predict(text, registries, taxonomy)
        return replace(found, results=config.in_config_form(found.results))

    return Predictor(
        str(prelabel.model_version(registries, taxonomy)),
        predict,
        lambda texts, regions: prelabel.check_predictions(texts, regions, taxonomy, registries),
    )


def baseline_version(paths: ProjectPaths) -> str | None:
    """The model version of today's pre-annotation baseline (None without one)."""
    predictor = _predictor(paths)
    return None if predictor is None else predictor.version


# Label Studio's model_version prefix of this baseline (prelabel.model_version).
BASELINE_VERSION_PREFIX = "sahelwire-gazetteer-"


def project_settings(settings: Settings) -> dict[str, Any]:
    """The Label Studio project settings push keeps, from ``[tool.sahelwire]``.

    Field names and meanings are Label Studio 1.23's (projects/models.py,
    projects/functions/next_task.py, and the editor's lsf-sdk.js for how the labeling
    queue starts an annotation); docs/annotation_workflow.md explains them for people.
    """
    n = settings.annotators_per_task
    return {
        # The queue (/api/projects/<id>/next) hands a task to annotators until n of them
        # have a submitted annotation (is_labeled); the cohort is every task, and tasks
        # someone already started come first so pairs complete before new tasks open.
        "maximum_annotations": n,
        "overlap_cohort_percentage": 100,
        "show_overlap_first": n > 1,
        "sampling": "Sequential sampling",
        # A skipped task goes back to the queue for the other annotators; a skip does not
        # count towards the n.
        "skip_queue": "REQUEUE_FOR_OTHERS",
        # In the queue every annotator's new annotation is a copy of the task's prediction
        # of the project's model version, so all n start from the same regions (the
        # editor's setAnnotation in lsf-sdk.js; with show_collab_predictions off the queue
        # serves no prediction and the annotation starts empty: tests/labelstudio/
        # test_queue.py). An interactive reveal would start it empty too; 1.23's app does
        # not pass that setting to the editor, but it stays off for versions that do.
        "show_collab_predictions": True,
        "reveal_preannotations_interactively": False,
        # Static predictions only: no ML backend is asked when a task opens.
        "evaluate_predictions_automatically": False,
        # Nothing extra of other annotators' work on screen (Community cannot hide the rest).
        "show_annotation_history": False,
        "annotator_evaluation_enabled": False,
        "show_ground_truth_first": False,
    }


def sync_settings(conn: Connection, project: Any, settings: Settings) -> list[str]:
    """Make the project's settings :func:`project_settings`; "name old -> new" per change."""
    wanted = project_settings(settings)
    changed = {k: v for k, v in wanted.items() if getattr(project, k, None) != v}
    if changed:
        call(conn, lambda: conn.client.projects.update(id=project.id, **changed))
    return [f"{k} {getattr(project, k, None)!r} -> {v!r}" for k, v in changed.items()]


def _user_id(completed_by: Any) -> Any:
    # A snapshot export writes completed_by as the user's id (an object in some versions).
    return completed_by.get("id") if isinstance(completed_by, dict) else completed_by


def wanted_overlaps(tasks: list[dict[str, Any]], n: int) -> dict[int, tuple[int, bool]]:
    """Per task of a snapshot export (``snapshot.export_tasks``) that holds annotations:
    the ``overlap`` and ``is_labeled`` that make Label Studio's queue hand it out until
    ``n`` distinct annotators have a submitted, not cancelled annotation on it.

    Label Studio 1.23 is of two minds here: ``is_labeled`` counts distinct annotators
    against the overlap (tasks/mixins.py), but the queue's lock (``Task.has_lock``) counts
    annotation objects. An annotator with two annotations on a task (a kept earlier version:
    ``submit-worksheets --new-version``, or ``restore`` putting back every committed one)
    fills two of its places, so the task was closed to a new annotator one annotator early
    (found on a fresh clone: with 3 per task, the queue handed out nothing). Each such
    annotation object that adds no annotator raises the task's overlap by one; its
    ``is_labeled`` is set by the distinct count, which the lock's raise would otherwise hide.
    Others' skipped (cancelled) annotations the lock does not count (``REQUEUE_FOR_OTHERS``).
    """
    wanted: dict[int, tuple[int, bool]] = {}
    for task in tasks:
        annotations = [a for a in task.get("annotations") or [] if not a.get("was_cancelled")]
        if not annotations:
            continue
        annotators = {_user_id(a.get("completed_by")) for a in annotations}
        finished = {
            _user_id(a.get("completed_by")) for a in annotations if a.get("result") is not None
        }
        extra = len(annotations) - len(annotators)
        wanted[int(task["id"])] = (n + extra, len(finished) >= n)
    return wanted


def sync_overlaps(conn: Connection, paths: ProjectPaths, project_id: int, n: int) -> int:
    """Give every task of the project the overlap of :func:`wanted_overlaps` (``n`` where
    no annotator has two annotations on it); the number of tasks changed. Run after
    anything that adds tasks or annotations: an import or a change of
    ``maximum_annotations`` makes Label Studio set every task's overlap to ``n`` again."""
    rows = task_rows(conn, project_id)
    wanted: dict[int, tuple[int, bool]] = {}
    # Two annotation objects on one task are needed for a raise: only then is the export
    # (one request for the whole project) worth asking for.
    if any(t["total_annotations"] >= 2 for t in rows):
        wanted = wanted_overlaps(export_tasks(conn, paths, project_id), n)
    changed = 0
    for t in rows:
        overlap, labeled = wanted.get(int(t["id"]), (n, None))
        update: dict[str, Any] = {}
        if t["overlap"] != overlap:
            update["overlap"] = overlap
        if labeled is not None and overlap != n and t["is_labeled"] != labeled:
            update["is_labeled"] = labeled
        if update:
            call(conn, lambda t=t, u=update: conn.client.tasks.update(id=str(t["id"]), **u))
            changed += 1
    return changed


def select_model_version(conn: Connection, project_id: int, version: str) -> str | None:
    """Make the baseline's ``version`` the one the project shows, unless the project shows
    a release's gold (push --from-release chose it); returns that other version, or None.

    Label Studio shows annotators the predictions of the project's one model version; the
    import selects the first version it sees and keeps it, so after the rules changed the
    queue would still start annotators from the old prediction.
    """
    shown = call(conn, lambda: conn.client.projects.get(id=project_id)).model_version or ""
    if shown == version:
        return None
    if shown and not shown.startswith(BASELINE_VERSION_PREFIX):
        return shown
    call(conn, lambda: conn.client.projects.update(id=project_id, model_version=version))
    return None


def ensure_project(conn: Connection, paths: ProjectPaths, summary: PushSummary) -> int:
    xml = LabelConfig.load(paths).xml()
    # The guidelines, shown before labelling starts and behind the Instructions button
    # (sahelwire.labelstudio.instructions: rendered with no HTML from the file).
    instructions = load_instructions(paths)
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
                expert_instruction=instructions,
                show_instruction=True,
            ),
        )
        summary.project_created = True
    else:
        if (project.label_config or "").strip() != xml.strip():
            call(conn, lambda: conn.client.projects.update(id=project.id, label_config=xml))
            summary.config_updated = True
        if project.expert_instruction != instructions or not project.show_instruction:
            call(
                conn,
                lambda: conn.client.projects.update(
                    id=project.id, expert_instruction=instructions, show_instruction=True
                ),
            )
            summary.instructions_updated = True
    settings = Settings.load(paths)
    summary.settings_changed = sync_settings(conn, project, settings)
    summary.annotators_per_task = settings.annotators_per_task
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
    predictor = _predictor(paths)
    version = None if predictor is None else predictor.version
    summary.model_version = version
    new_articles: list[Article] = []
    # Existing tasks that lack the current model version's prediction: (task id, article).
    to_predict: list[tuple[int, Article]] = []
    articles = load_articles(paths)
    with Progress(disable=not show_progress, transient=True) as progress:
        bar = progress.add_task("push", total=len(articles))
        for article in articles:
            found = existing.get(article.id)
            if found is None:
                new_articles.append(article)
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
                if predictor is not None and version not in row["model_versions"]:
                    to_predict.append((int(row["id"]), article))
            progress.advance(bar)
    fresh = [a for a in new_articles if a.id not in keep_committed_predictions]
    predictions: dict[str, Any] = {}
    if predictor is not None:
        predictions = _checked_predictions(
            predictor, [*fresh, *(a for _, a in to_predict)], summary
        )
    for tid, article in to_predict:
        p = predictions[article.id]
        call(
            conn,
            lambda tid=tid, p=p: conn.client.predictions.create(
                task=tid, result=p.results, score=p.score, model_version=version
            ),
        )
        summary.predictions += 1
    new_payload: list[dict[str, Any]] = []
    for article in new_articles:
        item: dict[str, Any] = {"data": task_data(article)}
        if predictor is not None and article.id in predictions:
            p = predictions[article.id]
            item["predictions"] = [
                {"model_version": version, "score": p.score, "result": p.results}
            ]
            summary.predictions += 1
        new_payload.append(item)
    summary.created += import_tasks(conn, project_id, new_payload)
    if version is not None and (
        summary.predictions or any(version in row["model_versions"] for row in existing.values())
    ):
        summary.shown_instead = select_model_version(conn, project_id, version)
    summary.overlaps_set = sync_overlaps(conn, paths, project_id, summary.annotators_per_task)
    return summary


def _checked_predictions(
    predictor: Predictor, articles: list[Article], summary: PushSummary
) -> dict[str, Any]:
    """Each article's prediction, every one checked against the span rules before any is
    sent; the regions the rules dropped go into ``summary.dropped``."""
    predictions = {a.id: predictor.predict(a.text) for a in articles}
    for aid in sorted(predictions):
        summary.dropped += [f"article {aid}: {d.describe()}" for d in predictions[aid].dropped]
    problems = predictor.check(
        {a.id: a.text for a in articles}, {aid: p.regions for aid, p in predictions.items()}
    )
    if problems:
        raise PredictionsInvalid(
            f"push refused: {len(problems)} predicted region(s) of model {predictor.version} "
            "break the span rules; nothing pushed (a defect of sahelwire.labelstudio.prelabel "
            f"or a registry it no longer matches). First: {problems[0]}",
            [str(p) for p in problems],
        )
    return predictions


def import_tasks(conn: Connection, project_id: int, payload: list[dict[str, Any]]) -> int:
    """Create ``payload``'s tasks in batches of IMPORT_BATCH; how many were created."""
    for start in range(0, len(payload), IMPORT_BATCH):
        batch = payload[start : start + IMPORT_BATCH]
        call(conn, lambda b=batch: conn.client.projects.import_tasks(id=project_id, request=b))
    return len(payload)
