"""Identities the repository owns, so that a new Label Studio server changes nothing.

Label Studio numbers users, tasks and annotations per server: a fresh server (every clone
starts one, ``.sahelwire/`` is git-ignored) hands out user 2 and annotations 1, 2, 3 … again,
the very integers the committed exports already carry. So the repository never identifies
anything by a server's integer alone:

* an **annotator** is an e-mail address: ``completed_by`` is ``{"email": …}`` in every
  committed annotation, and ``annotations/annotators.json`` lists the known e-mails;
* an **annotation** is its ``unique_id``, a UUID. Label Studio stamps it when the annotation
  is first made and keeps it in every export; ``sahelwire labelstudio restore`` gives the
  same UUID to the copy it makes on another server (the API accepts ``unique_id`` on create
  and refuses a duplicate), so the same annotation has the same UUID on every server;
* its **repository id** (``id`` in the file, the published int64 ``annotation_id``) is given
  by the repository when a pull first sees the UUID: one more than the largest id already
  committed. Server ids never enter a committed file;
* a **task** is its article (``data.article_id``); its repository id (``id``, the published
  ``task_id``) is likewise given at first pull.

* a **prediction** (a pre-annotation stored on a task) is its content: model version and
  result. Its repository id (``id`` in the file, the published ``prediction_id``) is given
  at first pull like an annotation's; a server prediction with the same model version and
  result as a committed one of the task is that one. An annotation's ``parent_prediction``
  is the repository id of the prediction it started from.

A pulled file therefore holds only what the repository owns (the *repository form*, below):
no server ids, no user ids, predictions by content only (model version, score, result and
their first times; ``restore`` puts them back on a fresh server), no drafts (unsubmitted
work stays on the server; pull counts it) and nothing that changes with the time of the
request (``created_ago``). Committed annotations keep their original ``created_at`` and
``updated_at``; a server's copy made by restore carries new stamps, which are ignored while
its content is unchanged.
"""

from __future__ import annotations

import json
import re
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sahelwire.io.paths import ProjectPaths
from sahelwire.labelstudio.export_format import kind_of
from sahelwire.labelstudio.export_json import (
    ANNOTATOR_LIST,
    StrictJSONError,
    brief,
    loads_document,
    printable,
)
from sahelwire.schema.problems import Problem

# The keys of a task and of an annotation in repository form, nothing else.
TASK_KEYS = frozenset({"id", "data", "annotations", "predictions"})
PREDICTION_KEYS = frozenset({"id", "model_version", "score", "result", "created_at", "updated_at"})
ANNOTATION_KEYS = frozenset(
    {
        "id",
        "unique_id",
        "completed_by",
        "result",
        "was_cancelled",
        "ground_truth",
        "lead_time",
        "created_at",
        "updated_at",
        "prediction",
        "parent_prediction",
    }
)
# What an annotator (or a manager) can change on a server after the annotation exists.
CONTENT_KEYS = ("result", "was_cancelled", "ground_truth", "lead_time")

MIGRATE_HINT = "run `sahelwire labelstudio migrate` once"
_EMAIL = re.compile(r"[^@\s]+@[^@\s]+")


class IdentityError(RuntimeError):
    """The repository's identities and a server's (or two files') contradict each other."""


def is_email(value: Any) -> bool:
    return isinstance(value, str) and bool(_EMAIL.fullmatch(value))


def canonical_uuid(value: Any) -> str | None:
    """``value`` as a canonical lower-case UUID string, or None when it is not one."""
    if not isinstance(value, str):
        return None
    try:
        parsed = uuid.UUID(value)
    except ValueError:
        return None
    return str(parsed) if str(parsed) == value else None


def annotator_email(completed_by: Any) -> str | None:
    """The e-mail a committed ``completed_by`` names (``{"email": …}``), else None.

    A bare integer is a server-local user id: on another server the same number is another
    person, so it never names an annotator in the repository.
    """
    if isinstance(completed_by, dict) and set(completed_by) == {"email"}:
        email = completed_by["email"]
        return email if is_email(email) else None
    return None


def describe_completed_by(completed_by: Any) -> str:
    """Why ``completed_by`` names nobody, for an error message."""
    if isinstance(completed_by, int) and not isinstance(completed_by, bool):
        return (
            f"completed_by {completed_by} is a Label Studio user id, which means another person "
            f"on another server; the repository names annotators by e-mail ({MIGRATE_HINT})"
        )
    return f'completed_by must be {{"email": "<annotator e-mail>"}}, got {completed_by!r}'


# -- annotators.json -------------------------------------------------------------------


def annotators_file(paths: ProjectPaths) -> Path:
    return paths.annotations_dir / "annotators.json"


def load_annotators(paths: ProjectPaths) -> tuple[frozenset[str], list[Problem]]:
    """The known annotator e-mails of annotations/annotators.json, and its problems.

    The file is ``{"<e-mail>": {}}``; a file still in the shape pulls wrote before
    (``{"<server user id>": {"email": …}}``) yields its e-mails too, so that ``validate``
    reports the exports' server user ids rather than every annotator. Read with the exports'
    strict JSON rules: an annotator list that is not understood would credit annotations to
    the wrong person or to nobody. The one reader of the file (``validate``, ``build``,
    ``pull`` and ``check-worksheets`` agree on it).
    """
    path = annotators_file(paths)
    source = str(path.relative_to(paths.root))
    if not path.exists():
        return frozenset(), []
    try:
        data = loads_document(path.read_bytes(), ANNOTATOR_LIST)
    except StrictJSONError as exc:
        # No record: the list as a whole could not be read (the decoder's record names a
        # task, which this file is not).
        problem = Problem(source, None, exc.field, exc.rule, exc.value, exc.message)
        return frozenset(), [problem]
    except OSError as exc:  # a folder in its place, no permission
        problem = Problem(source, None, None, "file is readable", None, exc.strerror or str(exc))
        return frozenset(), [problem]
    if not isinstance(data, dict):
        rule = "an object of e-mail -> {}"
        return frozenset(), [Problem(source, None, None, rule, kind_of(data), "")]
    emails: set[str] = set()
    problems = []
    for key, entry in data.items():
        if is_email(key) and entry == {}:
            emails.add(key)
        elif (
            key.isdigit()
            and isinstance(entry, dict)
            and set(entry) == {"email"}
            and is_email(entry["email"])
        ):
            emails.add(entry["email"])
        else:
            if is_email(key):
                # Still the annotator the key names: reported, and the build refused, but
                # their annotations are not also each "not in annotators.json" (nor the
                # gold without them a stale decision per conflict they settled).
                emails.add(key)
            problems.append(
                Problem(
                    source,
                    printable(key),
                    None,
                    'each annotator is "<e-mail>": {}',
                    brief(entry),
                    "not an e-mail with an empty object",
                )
            )
    return frozenset(emails), problems


def read_known_annotators(paths: ProjectPaths) -> frozenset[str]:
    """:func:`load_annotators`'s e-mails; IdentityError naming every problem of the file (the
    commands that act on annotators refuse a list ``validate`` would refuse)."""
    emails, problems = load_annotators(paths)
    if problems:
        raise IdentityError(
            "; ".join(str(p) for p in problems) + "; `sahelwire validate` lists every problem"
        )
    return emails


def annotators_bytes(emails: set[str] | frozenset[str]) -> bytes:
    return (json.dumps({e: {} for e in sorted(emails)}, indent=2, sort_keys=True) + "\n").encode()


# -- the repository form ---------------------------------------------------------------


def serialize(task: Mapping[str, Any]) -> bytes:
    """A task file's bytes (the data contract: sorted keys, two-space indent, UTF-8)."""
    return (json.dumps(task, ensure_ascii=False, indent=2, sort_keys=True) + "\n").encode()


def content(annotation: Mapping[str, Any]) -> tuple[Any, ...]:
    """What a server can change of an annotation, comparable between two forms."""
    return tuple(annotation.get(k) for k in CONTENT_KEYS)


def form_problem(task: Any) -> str | None:
    """Why ``task`` is not in repository form (None when it is)."""
    if not isinstance(task, dict):
        return "not a JSON object"
    extra = set(task) - TASK_KEYS
    if extra:
        return f"task keys {sorted(extra)} belong to a server export"
    if not isinstance(task.get("annotations"), list):
        return "annotations is not a list"
    preds = task.get("predictions", [])
    if not isinstance(preds, list):
        return "predictions is not a list"
    for pred in preds:
        if not isinstance(pred, dict):
            return "a prediction is not a JSON object"
        extra = set(pred) - PREDICTION_KEYS
        if extra:
            return f"prediction {pred.get('id')!r} has server keys {sorted(extra)}"
    for ann in task["annotations"]:
        if not isinstance(ann, dict):
            return "an annotation is not a JSON object"
        extra = set(ann) - ANNOTATION_KEYS
        if extra:
            return f"annotation {ann.get('id')!r} has server keys {sorted(extra)}"
        if annotator_email(ann.get("completed_by")) is None:
            return f"annotation {ann.get('id')!r}: {describe_completed_by(ann.get('completed_by'))}"
        if canonical_uuid(ann.get("unique_id")) is None:
            return f"annotation {ann.get('id')!r}: unique_id {ann.get('unique_id')!r} is not a UUID"
    return None


def prediction_key(prediction: Mapping[str, Any]) -> tuple[str, str]:
    """What makes a prediction the same on every server: its model version and result."""
    result = json.dumps(prediction.get("result"), ensure_ascii=False, sort_keys=True)
    return str(prediction.get("model_version")), result


def repository_prediction(server: Mapping[str, Any], *, repo_id: int) -> dict[str, Any]:
    """A server's prediction in repository form (for a prediction the repository lacks)."""
    return {
        "id": repo_id,
        "model_version": server.get("model_version"),
        "score": server.get("score"),
        "result": server.get("result"),
        "created_at": server.get("created_at"),
        "updated_at": server.get("updated_at") or server.get("created_at"),
    }


def match_predictions(
    server: Sequence[Mapping[str, Any]], committed: Sequence[Mapping[str, Any]]
) -> dict[int, int]:
    """Server prediction id -> committed prediction id, for the server's predictions whose
    content (:func:`prediction_key`) a committed one of the same task has; each committed
    prediction is matched at most once, in id order on both sides."""
    free: dict[tuple[str, str], list[int]] = {}
    for pred in sorted(committed, key=lambda p: int(p["id"])):
        free.setdefault(prediction_key(pred), []).append(int(pred["id"]))
    matched: dict[int, int] = {}
    for pred in sorted(server, key=lambda p: int(p["id"])):
        ids = free.get(prediction_key(pred))
        if ids:
            matched[int(pred["id"])] = ids.pop(0)
    return matched


def repository_annotation(
    server: Mapping[str, Any],
    *,
    repo_id: int,
    email: str,
    model_version: str | None,
    parent_prediction: int | None = None,
) -> dict[str, Any]:
    """A server's annotation in repository form (for an annotation the repository lacks)."""
    return {
        "id": repo_id,
        "unique_id": server["unique_id"],
        "completed_by": {"email": email},
        "result": server.get("result"),
        "was_cancelled": server.get("was_cancelled"),
        "ground_truth": server.get("ground_truth"),
        "lead_time": server.get("lead_time"),
        "created_at": server.get("created_at"),
        "updated_at": server.get("updated_at"),
        "prediction": {} if model_version is None else {"model_version": model_version},
        "parent_prediction": parent_prediction,
    }


def started_from(annotation: Mapping[str, Any], task: Mapping[str, Any]) -> str | None:
    """The model version of the prediction an exported annotation started from, if any."""
    pred = annotation.get("prediction")
    if isinstance(pred, dict) and isinstance(pred.get("model_version"), str):
        return str(pred["model_version"])
    parent = annotation.get("parent_prediction")
    if parent is not None:
        for p in task.get("predictions") or []:
            if isinstance(p, dict) and p.get("id") == parent:
                mv = p.get("model_version")
                return None if mv is None else str(mv)
    return None


def updated_annotation(committed: Mapping[str, Any], server: Mapping[str, Any]) -> dict[str, Any]:
    """The committed annotation, with the server's content when the server's differs.

    Identity, author, creation time and starting prediction stay the repository's; the
    server's ``updated_at`` comes along only with a real change of content.
    """
    if content(committed) == content(server):
        return dict(committed)
    changed = {k: server.get(k) for k in CONTENT_KEYS}
    return {**committed, **changed, "updated_at": server.get("updated_at")}


# -- the committed repository, indexed -------------------------------------------------


@dataclass(frozen=True)
class Committed:
    """One committed annotation: where it is and what it says."""

    file: str  # path relative to the project root
    article_id: str
    record: dict[str, Any]

    @property
    def email(self) -> str:
        return str(self.record["completed_by"]["email"])

    def ref(self) -> str:
        return f"{self.file} annotation {self.record['id']} (unique_id {self.record['unique_id']})"


@dataclass
class Repository:
    """Every committed task file in repository form, indexed by the identities above."""

    tasks: dict[str, dict[str, Any]] = field(default_factory=dict)  # article id -> task
    files: dict[str, str] = field(default_factory=dict)  # article id -> relative path
    by_uuid: dict[str, Committed] = field(default_factory=dict)
    known_annotators: frozenset[str] = frozenset()

    @property
    def next_annotation_id(self) -> int:
        return 1 + max((c.record["id"] for c in self.by_uuid.values()), default=0)

    @property
    def next_prediction_id(self) -> int:
        ids = [int(p["id"]) for t in self.tasks.values() for p in t.get("predictions", [])]
        return 1 + max(ids, default=0)

    def predictions_of(self, article_id: str) -> list[dict[str, Any]]:
        return list(self.tasks.get(article_id, {}).get("predictions", []))

    @property
    def next_task_id(self) -> int:
        return 1 + max((int(t["id"]) for t in self.tasks.values()), default=0)

    def annotations_of(self, article_id: str) -> list[dict[str, Any]]:
        return list(self.tasks.get(article_id, {}).get("annotations", []))


def load_repository(paths: ProjectPaths) -> Repository:
    """Read and index ``annotations/exports/*.json``; refuse what a pull could not map."""
    items: list[tuple[str, str, Any]] = []
    errors: list[str] = []
    exports = paths.exports_dir
    for path in sorted(exports.glob("*.json")) if exports.is_dir() else []:
        rel = str(path.relative_to(paths.root))
        try:
            items.append((rel, path.stem, json.loads(path.read_text(encoding="utf-8"))))
        except (UnicodeDecodeError, json.JSONDecodeError) as exc:
            errors.append(f"{rel}: not one complete JSON task ({exc})")
    if errors:
        raise IdentityError("; ".join(errors))
    return index_tasks(items, read_known_annotators(paths))


def index_tasks(items: list[tuple[str, str, Any]], known: frozenset[str]) -> Repository:
    """Index (relative path, file stem, task) triples; every identity must be unique."""
    repo = Repository(known_annotators=known)
    ids: dict[int, str] = {}
    task_ids: dict[int, str] = {}
    pred_ids: dict[int, str] = {}
    errors: list[str] = []
    for rel, stem, task in items:
        problem = form_problem(task)
        if problem is not None:
            errors.append(f"{rel}: not in repository form: {problem}; {MIGRATE_HINT}")
            continue
        data = task.get("data") if isinstance(task.get("data"), dict) else {}
        aid = data.get("article_id")
        if aid != stem:
            errors.append(f"{rel}: data.article_id {aid!r} is not the file's article {stem}")
            continue
        tid = task.get("id")
        if not isinstance(tid, int) or isinstance(tid, bool) or tid in task_ids:
            other = task_ids.get(tid) if isinstance(tid, int) else None
            errors.append(
                f"{rel}: task id {tid!r} is not a unique integer"
                + (f" (also in {other})" if other else "")
            )
            continue
        pred_problem = None
        seen_here: set[int] = set()
        for p in task.get("predictions", []):
            pid = p.get("id")
            if not isinstance(pid, int) or isinstance(pid, bool) or pid in seen_here:
                pred_problem = f"{rel}: prediction id {pid!r} is not a unique integer"
                break
            if pid in pred_ids:
                pred_problem = f"{rel}: prediction id {pid} is also in {pred_ids[pid]}"
                break
            seen_here.add(pid)
        if pred_problem is not None:
            errors.append(pred_problem)
            continue
        pred_ids.update(dict.fromkeys(seen_here, rel))
        task_ids[tid] = rel
        repo.tasks[aid] = task
        repo.files[aid] = rel
        for ann in task["annotations"]:
            aid_int, uid = ann.get("id"), ann["unique_id"]
            if not isinstance(aid_int, int) or isinstance(aid_int, bool):
                errors.append(f"{rel}: annotation id {aid_int!r} is not an integer")
                continue
            if aid_int in ids:
                errors.append(f"{rel}: annotation id {aid_int} is also in {ids[aid_int]}")
                continue
            if uid in repo.by_uuid:
                errors.append(
                    f"{rel}: annotation {aid_int} has the unique_id {uid} of "
                    f"{repo.by_uuid[uid].ref()}"
                )
                continue
            ids[aid_int] = rel
            repo.by_uuid[uid] = Committed(rel, aid, ann)
    if errors:
        raise IdentityError("; ".join(errors))
    return repo
