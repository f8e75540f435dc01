"""Entity and event registries (schemas/entities.yaml, schemas/events.yaml)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import polars as pl

from sahelwire.io.paths import ProjectPaths
from sahelwire.io.text_files import read_yaml_mapping


def _rows(path: Path, key: str) -> list[dict[str, Any]]:
    if not path.exists():
        return []
    rows = read_yaml_mapping(path).get(key) or []
    if not isinstance(rows, list) or not all(isinstance(r, dict) for r in rows):
        raise ValueError(f"{path}: `{key}:` must be a list of mappings")
    return rows


@dataclass(frozen=True)
class Registries:
    entities: pl.DataFrame
    events: pl.DataFrame

    @property
    def entity_types(self) -> dict[str, str]:
        return dict(
            zip(self.entities["id"].to_list(), self.entities["type"].to_list(), strict=True)
        )

    @property
    def event_types(self) -> dict[str, str]:
        return dict(zip(self.events["id"].to_list(), self.events["type"].to_list(), strict=True))


def load_registries(paths: ProjectPaths) -> Registries:
    """Both registries as frames in their schemas/tables.yaml shapes (empty when absent)."""
    entity_schema: dict[str, Any] = {
        "id": pl.Utf8,
        "name": pl.Utf8,
        "type": pl.Utf8,
        "aliases": pl.List(pl.Utf8),
        "wikidata": pl.Utf8,
        "description": pl.Utf8,
    }
    event_schema: dict[str, Any] = {
        "id": pl.Utf8,
        "name": pl.Utf8,
        "type": pl.Utf8,
        "date_start": pl.Utf8,
        "date_end": pl.Utf8,
        "description": pl.Utf8,
    }
    entities = [
        {k: r.get(k, [] if k == "aliases" else None) for k in entity_schema}
        for r in _rows(paths.entities_registry, "entities")
    ]
    events = [
        {k: None if r.get(k) is None else str(r.get(k)) for k in event_schema}
        for r in _rows(paths.events_registry, "events")
    ]
    return Registries(
        pl.DataFrame(entities, schema=entity_schema), pl.DataFrame(events, schema=event_schema)
    )
