"""Predictions (pre-annotations) stored on Label Studio tasks -> provenance tables.

Label Studio exports a task's predictions next to its annotations: each has an id, a
``model_version``, a ``score`` (null when the model gave none), timestamps and a result
list in the annotation result format. They are never gold; they are published in
``annotations_raw`` (``source = prediction``) so a researcher can compare the
pre-annotation an annotator saw with what the annotator submitted. An annotation says
which prediction it started from in its own ``parent_prediction`` (the annotations table).

Two source tables (schemas/tables.yaml): ``predictions`` (one row per prediction) and
``prediction_results`` (one row per region, relation or article-level value, in the
``annotations_raw`` row shape). Offsets are converted exactly as annotation offsets are;
a result item that cannot be read is reported as a Problem naming file, task, prediction
and item, and left out, never shifted.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from sahelwire.labelstudio.offsets import OffsetError, from_label_studio
from sahelwire.schema.problems import Problem

# Per-region attribute columns of a prediction result row (as in annotation regions).
ATTRIBUTES = ("entity_id", "event_id", "realis", "value", "unit", "approximate")


@dataclass
class ParsedPredictions:
    predictions: list[dict[str, Any]] = field(default_factory=list)
    results: list[dict[str, Any]] = field(default_factory=list)
    problems: list[tuple[Problem, Any]] = field(default_factory=list)  # (problem, record)


def _int(value: Any) -> int | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return None


def _number(value: Any) -> float | None:
    return float(value) if isinstance(value, (int, float)) and not isinstance(value, bool) else None


def _attribute(name: str, kind: Any, value: dict[str, Any]) -> Any:
    """The typed value of a per-region attribute item (as the annotation parser reads it)."""
    if kind == "number":
        return _number(value.get("number"))
    if kind == "choices":
        chosen = value.get("choices")
        first = str(chosen[0]) if isinstance(chosen, list) and chosen else None
        if name == "approximate":
            return {"true": True, "false": False}.get(first or "")
        return first
    text = value.get("text")
    if isinstance(text, list):
        return str(text[0]).strip() if text else None
    return str(text).strip() if text else None


def parse_predictions(
    task: dict[str, Any],
    article_id: str,
    text: str,
    source: str,
    *,
    layers: set[str],
    attributes: set[str],
    document_fields: set[str],
) -> ParsedPredictions:
    """Every prediction of one task (already matched to ``article_id`` and its ``text``)."""
    out = ParsedPredictions()
    task_id = _int(task.get("id"))
    for p in task.get("predictions") or []:
        if not isinstance(p, dict) or _int(p.get("id")) is None:
            out.problems.append(
                (
                    Problem(source, f"task {task_id}", "predictions", "prediction with an id"),
                    p,
                )
            )
            continue
        pid = int(p["id"])
        out.predictions.append(
            {
                "prediction_id": pid,
                "task_id": task_id,
                "article_id": article_id,
                "model_version": None
                if p.get("model_version") is None
                else str(p["model_version"]),
                "score": _number(p.get("score")),
                "created_at": str(p.get("created_at") or ""),
                "updated_at": str(p.get("updated_at") or p.get("created_at") or ""),
                "source_file": source,
            }
        )
        base = {"prediction_id": pid, "article_id": article_id, "source_file": source}
        rec = f"task {task_id} (article {article_id})/prediction {pid}"

        def problem(
            where: str, fld: str | None, rule: str, value: Any, item: Any, rec: str = rec
        ) -> None:
            out.problems.append((Problem(source, f"{rec}/{where}", fld, rule, value), item))

        _results(p.get("result"), text, base, problem, out, layers, attributes, document_fields)
    return out


def _results(
    result: Any,
    text: str,
    base: dict[str, Any],
    problem: Callable[..., None],
    out: ParsedPredictions,
    layers: set[str],
    attributes: set[str],
    document_fields: set[str],
) -> None:
    if not isinstance(result, list):
        problem("result", "result", "result is a list", type(result).__name__, result)
        return
    empty = dict.fromkeys(("region_id", "to_region_id", "start", "end", "text", *ATTRIBUTES))

    def row(kind: str, layer: str, label: str, **fields: Any) -> dict[str, Any]:
        return {**base, **empty, "kind": kind, "layer": layer, "label": label, **fields}

    regions: dict[str, dict[str, Any]] = {}
    attrs: list[tuple[str, str, Any, Any]] = []
    for i, item in enumerate(result):
        if not isinstance(item, dict):
            problem(f"result[{i}]", None, "result item is an object", None, item)
            continue
        kind, name = item.get("type"), item.get("from_name")
        raw_value = item.get("value")
        value: dict[str, Any] = raw_value if isinstance(raw_value, dict) else {}
        rid = str(item["id"]) if item.get("id") is not None else f"#{i}"
        if kind == "relation":
            roles = [x for x in item.get("labels") or [] if isinstance(x, str)]
            where = f"relation {item.get('from_id')}->{item.get('to_id')}"
            if not roles:
                problem(where, "labels", "a relation has an argument role", None, item)
            ends = {"region_id": str(item.get("from_id")), "to_region_id": str(item.get("to_id"))}
            out.results += [row("relation", "relations", role, **ends) for role in roles]
        elif kind == "labels" and name in layers:
            region = _region(value, text)
            if isinstance(region, str):
                problem(f"region {rid}", *_REGION_RULES[region], value.get(region), item)
                continue
            label, start, end = region
            regions[rid] = row(
                "region",
                str(name),
                label,
                region_id=rid,
                start=start,
                end=end,
                text=text[start:end],
            )
        elif name in attributes and "start" in value:
            attrs.append((rid, str(name), _attribute(str(name), kind, value), item))
        elif name in document_fields:
            values = value.get("choices") if kind == "choices" else value.get("text")
            if not isinstance(values, list):
                problem(f"region {rid}", "value", "article-level values are a list", values, item)
                continue
            out.results += [row("choice", str(name), str(v)) for v in values]
        else:
            problem(
                f"region {rid}", "from_name", "control exists in the labeling config", name, item
            )
    for rid, name, typed, item in attrs:
        if rid not in regions:
            problem(f"region {rid}", "id", "attribute belongs to a region", rid, item)
            continue
        regions[rid][name] = typed
    out.results += regions.values()


# Why a region item was refused: the value key at fault -> (field, rule) of its Problem.
_REGION_RULES = {
    "labels": ("value.labels", "exactly one label per region"),
    "start": ("value.start/end", "0 <= start < end <= len(text)"),
    "text": ("value.text", "text[start:end] == value.text"),
}


def _region(value: dict[str, Any], text: str) -> tuple[str, int, int] | str:
    """(label, start, end) in code points, or the value key that makes the region unreadable."""
    labels = value.get("labels")
    if not (isinstance(labels, list) and len(labels) == 1 and isinstance(labels[0], str)):
        return "labels"
    s, e = _int(value.get("start")), _int(value.get("end"))
    if s is None or e is None:
        return "start"
    try:
        start, end = from_label_studio(text, s, e)
    except OffsetError:
        return "start"
    if start >= end:
        return "start"
    hint = value.get("text")
    # As for annotations: the hint may carry newlines as a literal backslash-n.
    if isinstance(hint, str) and hint.replace("\\n", "\n") != text[start:end]:
        return "text"
    return labels[0], start, end
