"""The span rules of ANNOTATION.md, checked on flat region/relation tables.

Offsets are code points (Python str indices). Every rule violation is a Problem naming
the record; nothing is shifted or repaired here.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping
from typing import Any

import polars as pl

from sahelwire.problems import Problem
from sahelwire.registries import Registries
from sahelwire.taxonomy import Taxonomy


def _rid(row: Mapping[str, Any], id_col: str) -> str:
    group = row.get("annotation_id", row["article_id"])
    return f"{row['article_id']}/{group}/{row[id_col]}"


def check_regions(
    regions: pl.DataFrame,
    texts: Mapping[str, str],
    taxonomy: Taxonomy,
    registries: Registries,
    *,
    file: str,
    id_col: str = "region_id",
    group_col: str = "annotation_id",
) -> list[Problem]:
    """Bounds, text slice, overlap, attribute and registry rules for every region."""
    problems: list[Problem] = []
    groups: dict[tuple[Any, str], list[dict[str, Any]]] = defaultdict(list)
    for row in regions.iter_rows(named=True):
        rid = _rid(row, id_col)
        text = texts.get(row["article_id"])
        if text is None:
            problems.append(
                Problem(
                    file,
                    rid,
                    "article_id",
                    "article_exists",
                    row["article_id"],
                    "no such article in the manifest",
                )
            )
            continue
        start, end = row["start"], row["end"]
        if not (0 <= start < end <= len(text)):
            problems.append(
                Problem(
                    file,
                    rid,
                    "start/end",
                    "0 <= start < end <= len(text)",
                    f"{start}:{end}",
                    f"article has {len(text)} code points",
                )
            )
            continue
        if text[start:end] != row["text"]:
            problems.append(
                Problem(
                    file,
                    rid,
                    "text",
                    "text[start:end] == span text",
                    row["text"],
                    f"the article has {text[start:end]!r} at {start}:{end}",
                )
            )
        problems += _attribute_problems(row, rid, taxonomy, registries, file)
        groups[(row.get(group_col, row["article_id"]), row["layer"])].append(row)
    for (_, layer_name), rows in groups.items():
        if layer_name not in taxonomy.layer_names:
            continue
        layer = taxonomy.layer(layer_name)
        if layer.overlap == "allowed":
            continue
        rows.sort(key=lambda r: (r["start"], -r["end"]))
        for i, a in enumerate(rows):
            for b in rows[i + 1 :]:
                if b["start"] >= a["end"]:
                    break
                # Strictly inside: the same characters under two labels is a conflict,
                # not nesting ("Vedant Patel" cannot be both ORG and PERSON).
                same = a["start"] == b["start"] and a["end"] == b["end"]
                nested = a["start"] <= b["start"] and b["end"] <= a["end"] and not same
                if (
                    layer.overlap == "nested"
                    and nested
                    and (a["label"], b["label"]) in layer.nesting_allowed
                ):
                    continue
                rule = (
                    "zones do not overlap"
                    if layer.overlap == "none"
                    else "mentions nest only as the taxonomy allows"
                )
                problems.append(
                    Problem(
                        file,
                        _rid(b, id_col),
                        "start/end",
                        rule,
                        f"{b['start']}:{b['end']}",
                        f"{b['label']} overlaps {a['label']} {a['start']}:{a['end']} ({_rid(a, id_col)})",
                    )
                )
    return problems


def _attribute_problems(
    row: Mapping[str, Any], rid: str, taxonomy: Taxonomy, registries: Registries, file: str
) -> list[Problem]:
    out: list[Problem] = []
    layer = row["layer"]
    if layer == "events":
        if row.get("realis") is None:
            out.append(Problem(file, rid, "realis", "events have a realis", None))
        if row.get("event_id") is not None:
            want = registries.event_types.get(row["event_id"])
            if want is None:
                out.append(
                    Problem(
                        file, rid, "event_id", "event_id in schemas/events.yaml", row["event_id"]
                    )
                )
            elif want != row["label"]:
                out.append(
                    Problem(
                        file,
                        rid,
                        "event_id",
                        "registry type agrees with label",
                        row["event_id"],
                        f"registry says {want}, mention is {row['label']}",
                    )
                )
    elif row.get("event_id") is not None or row.get("realis") is not None:
        out.append(
            Problem(
                file,
                rid,
                "event_id/realis",
                "event attributes only on events",
                row.get("event_id") or row.get("realis"),
            )
        )
    if layer == "entities" and row.get("entity_id") is not None:
        want = registries.entity_types.get(row["entity_id"])
        if want is None:
            out.append(
                Problem(
                    file, rid, "entity_id", "entity_id in schemas/entities.yaml", row["entity_id"]
                )
            )
        elif want != row["label"]:
            out.append(
                Problem(
                    file,
                    rid,
                    "entity_id",
                    "registry type agrees with label",
                    row["entity_id"],
                    f"registry says {want}, mention is {row['label']}",
                )
            )
    elif layer != "entities" and row.get("entity_id") is not None:
        out.append(Problem(file, rid, "entity_id", "entity_id only on entities", row["entity_id"]))
    if layer == "quantities":
        for name in ("value", "approximate"):
            if row.get(name) is None:
                out.append(Problem(file, rid, name, f"quantities have a {name}", None))
    return out


def check_relations(
    relations: pl.DataFrame,
    regions: pl.DataFrame,
    taxonomy: Taxonomy,
    *,
    file: str,
    from_col: str = "from_region_id",
    to_col: str = "to_region_id",
    id_col: str = "region_id",
    group_col: str = "annotation_id",
) -> list[Problem]:
    """Every relation joins two existing regions of the same annotation, event -> argument."""
    layer_of = {(r[group_col], r[id_col]): r["layer"] for r in regions.iter_rows(named=True)}
    events = taxonomy.layer("events")
    problems = []
    for rel in relations.iter_rows(named=True):
        rid = f"{rel['article_id']}/{rel[group_col]}/{rel[from_col]}->{rel[to_col]}"
        src = layer_of.get((rel[group_col], rel[from_col]))
        dst = layer_of.get((rel[group_col], rel[to_col]))
        if src is None or dst is None:
            missing = rel[from_col] if src is None else rel[to_col]
            problems.append(
                Problem(
                    file,
                    rid,
                    "from/to",
                    "relation joins regions of the same annotation",
                    missing,
                    "no such region in this annotation",
                )
            )
            continue
        if src != "events" or dst not in events.relation_to_layers:
            problems.append(
                Problem(
                    file,
                    rid,
                    "from/to",
                    "relations go from an event to an entity or quantity",
                    f"{src}->{dst}",
                )
            )
    return problems
