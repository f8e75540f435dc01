"""``sahelwire labelstudio migrate``: exports pulled before repository identities, converted once.

Before issue 12 a pulled file was the server's export verbatim: ``completed_by`` a server user
id resolved through ``annotations/annotators.json`` (``{"<user id>": {"email": …}}``), plus the
server's ids, predictions, drafts and request-time fields. The migration rewrites every such
file into the repository form of :mod:`sahelwire.labelstudio.identity` and keeps, per
annotation, everything the export parser reads: the id (so the published ``annotation_id`` is
unchanged), its UUID, the annotator (now the e-mail itself), result, cancelled and
ground-truth flags, lead time, both timestamps, and the model version it started from
(resolved from ``prediction`` or ``parent_prediction``) with ``parent_prediction`` itself.
The task's predictions are kept in repository form (model version, score, result, times),
their server ids becoming their repository ids (one legacy folder is one server's export,
where they are unique, and ``parent_prediction`` keeps pointing at the same one). Drafts are
dropped: they are never published, and they stay on the server they were made on.

All-or-nothing: every file is converted in memory and checked first; any annotation whose
annotator or UUID cannot be established refuses the whole migration, naming file and
annotation. Files already in repository form are left byte for byte; running it twice
changes nothing the second time.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sahelwire.io.atomic import write_bytes_atomic
from sahelwire.io.paths import ProjectPaths
from sahelwire.labelstudio.identity import (
    ANNOTATION_KEYS,
    IdentityError,
    annotators_bytes,
    annotators_file,
    canonical_uuid,
    form_problem,
    index_tasks,
    is_email,
    repository_prediction,
    serialize,
    started_from,
)

# Kept from a legacy annotation as they are (when present); the rest is rebuilt or dropped.
_KEPT = ("id", "result", "was_cancelled", "ground_truth", "lead_time", "created_at", "updated_at")


@dataclass
class Migration:
    writes: list[tuple[Path, bytes]] = field(default_factory=list)
    converted: list[str] = field(default_factory=list)
    already: list[str] = field(default_factory=list)


def _legacy_directory(paths: ProjectPaths) -> dict[str, str]:
    """Server user id (as text) -> e-mail, from an annotators.json in the old shape."""
    path = annotators_file(paths)
    if not path.exists():
        return {}
    data = json.loads(path.read_text(encoding="utf-8"))
    return {
        str(k): str(v["email"])
        for k, v in (data.items() if isinstance(data, dict) else [])
        if isinstance(v, dict) and is_email(v.get("email"))
    }


def _email(completed_by: Any, directory: dict[str, str]) -> str | None:
    if isinstance(completed_by, dict):
        email = completed_by.get("email")
        return str(email) if is_email(email) else None
    if isinstance(completed_by, int) and not isinstance(completed_by, bool):
        return directory.get(str(completed_by))
    return None


def convert_task(task: dict[str, Any], directory: dict[str, str], rel: str) -> dict[str, Any]:
    """One legacy task in repository form; IdentityError names what cannot be established."""
    annotations = []
    for ann in task.get("annotations") or []:
        where = f"{rel} annotation {ann.get('id')!r}"
        email = _email(ann.get("completed_by"), directory)
        if email is None:
            raise IdentityError(
                f"{where}: completed_by {ann.get('completed_by')!r} names no e-mail in "
                "annotations/annotators.json; the annotator cannot be established"
            )
        uid = canonical_uuid(ann.get("unique_id"))
        if uid is None:
            raise IdentityError(f"{where}: unique_id {ann.get('unique_id')!r} is not a UUID")
        model = started_from(ann, task)
        new = {k: ann[k] for k in _KEPT if k in ann}
        if ann.get("parent_prediction") is not None:
            new["parent_prediction"] = ann["parent_prediction"]
        new.update(
            unique_id=uid,
            completed_by={"email": email},
            prediction={} if model is None else {"model_version": model},
        )
        assert set(new) <= ANNOTATION_KEYS
        annotations.append(new)
    out = {
        "id": task.get("id"),
        "data": task.get("data"),
        "annotations": sorted(annotations, key=lambda a: a.get("id") or 0),
    }
    predictions = [
        repository_prediction(p, repo_id=p["id"])
        for p in task.get("predictions") or []
        if isinstance(p, dict) and isinstance(p.get("id"), int)
    ]
    if predictions:
        out["predictions"] = sorted(predictions, key=lambda p: int(p["id"]))
    return out


def plan(paths: ProjectPaths) -> Migration:
    """Everything the migration would write, checked; nothing is written here."""
    directory = _legacy_directory(paths)
    result = Migration()
    emails: set[str] = set()
    migrated: list[tuple[str, str, Any]] = []
    exports = paths.exports_dir
    for path in sorted(exports.glob("*.json")) if exports.is_dir() else []:
        rel = str(path.relative_to(paths.root))
        task = json.loads(path.read_text(encoding="utf-8"))
        if form_problem(task) is None:
            result.already.append(rel)
            new = task
        else:
            if not isinstance(task, dict):
                raise IdentityError(f"{rel}: not a Label Studio task")
            new = convert_task(task, directory, rel)
            result.writes.append((path, serialize(new)))
            result.converted.append(rel)
        migrated.append((rel, path.stem, new))
        emails |= {a["completed_by"]["email"] for a in new["annotations"]}
    # The migrated files must index cleanly (repository form, unique ids and UUIDs).
    index_tasks(migrated, frozenset(emails))
    # Keep every annotator the old directory named, used or not (nobody is dropped).
    emails |= set(directory.values()) | _current(paths)
    target = annotators_file(paths)
    if not target.exists() or target.read_bytes() != annotators_bytes(emails):
        result.writes.append((target, annotators_bytes(emails)))
    return result


def _current(paths: ProjectPaths) -> set[str]:
    """E-mails already keyed in an annotators.json in the new shape."""
    path = annotators_file(paths)
    if not path.exists():
        return set()
    data = json.loads(path.read_text(encoding="utf-8"))
    return {k for k in data if is_email(k)} if isinstance(data, dict) else set()


def migrate(paths: ProjectPaths) -> Migration:
    """Convert every legacy export: all checked before the first write, each write atomic."""
    result = plan(paths)
    for path, data in result.writes:
        write_bytes_atomic(path, data)
    return result
