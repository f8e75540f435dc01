"""What one server instance has had: the only ground on which ``pull --prune`` may delete.

An annotation (or a task) that is committed but absent from the server is either deleted on
that server (``--prune`` may drop it) or was never there (a fresh server, a server that was not
restored): those must never be pruned. A server's export cannot tell the two apart, so every
pull and restore records, per server instance, the annotation UUIDs and article ids the
instance had; ``--prune`` drops only what the current instance had and no longer has.

An instance is the SahelWire project on one server, identified by the project's id and
creation time (microseconds): a fresh server, or the project deleted and created again, is a
new instance with an empty record. The record lives in the git-ignored local state,
``.sahelwire/labelstudio/instances/<key hash>.json``; another clone (or a lost
``.sahelwire/``) starts with none, which can only make ``--prune`` keep more, never delete
more.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sahelwire.io.paths import ProjectPaths
from sahelwire.labelstudio import server
from sahelwire.labelstudio.identity import Committed, Repository


def instance_key(project: Any) -> str:
    created: Any = getattr(project, "created_at", None)
    stamp = created.isoformat() if hasattr(created, "isoformat") else str(created)
    return f"project {project.id} created {stamp}"


@dataclass
class InstanceRecord:
    key: str
    path: Path
    annotations: set[str] = field(default_factory=set)  # unique_ids the instance had
    articles: set[str] = field(default_factory=set)  # article ids it had a task for

    def had_annotation(self, unique_id: str) -> bool:
        return unique_id in self.annotations

    def had_article(self, article_id: str) -> bool:
        return article_id in self.articles

    def save(self) -> None:
        data = {
            "instance": self.key,
            "annotations": sorted(self.annotations),
            "articles": sorted(self.articles),
        }
        server.write_private_json(self.path, data)


def load_record(paths: ProjectPaths, project: Any) -> InstanceRecord:
    key = instance_key(project)
    name = hashlib.sha256(key.encode()).hexdigest()[:16]
    path = server.home(paths) / "instances" / f"{name}.json"
    record = InstanceRecord(key, path)
    if path.exists():
        data = json.loads(path.read_text(encoding="utf-8"))
        if data.get("instance") == key:
            record.annotations = {str(u) for u in data.get("annotations", [])}
            record.articles = {str(a) for a in data.get("articles", [])}
    return record


def never_here(
    repo: Repository, on_server: set[str] | dict[str, Any], record: InstanceRecord
) -> list[Committed]:
    """Committed annotations this instance neither has nor ever had (restore's work list)."""
    return sorted(
        (
            c
            for uid, c in repo.by_uuid.items()
            if uid not in on_server and not record.had_annotation(uid)
        ),
        key=lambda c: int(c.record["id"]),
    )
