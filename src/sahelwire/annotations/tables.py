"""Label Studio exports -> the per-annotator source tables (schemas/tables.yaml shapes).

Reads ``annotations/exports/*.json`` (one task per file, as ``sahelwire labelstudio pull``
writes them; docs/label_studio_format.md) and, for corpora too big for per-task files, a
single Label Studio export list streamed task by task (:func:`iter_export_tasks`), so a
1 GB export is never held in memory at once. Both paths share :class:`TableCollector`.

Nothing is shifted or guessed. A record that breaks a rule is left out of the tables and
reported as a :class:`~sahelwire.schema.problems.Problem` naming file, task/annotation/region,
field and rule; ``sahelwire validate`` prints them and exits 1, ``build`` refuses.

Where rejected records go: nowhere new. The parser never edits, moves or deletes an export,
so the rejected record stays byte for byte in ``annotations/exports/<article_id>.json``
(under git), at the place the Problem names; fixing it there (or in Label Studio and
pulling again) is how it comes back. ``AnnotationTables.rejected`` holds each left-out
record exactly as exported next to its Problem, for tools and tests that want the JSON
itself (e.g. ``[r.to_json() for r in tables.rejected]``). A separate quarantine copy was
not made on purpose: it would be a second, drifting copy of annotations that git already
keeps, and build refuses while any Problem exists, so nothing rejected is ever published
silently.
Drafts are counted, never published. Cancelled (skipped) annotations are kept with
``cancelled=True`` and excluded from gold by the adjudication rules.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Collection, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import polars as pl

from sahelwire.annotations.predictions import parse_predictions
from sahelwire.io.bulk import paused_gc
from sahelwire.io.paths import ProjectPaths
from sahelwire.labelstudio.export_list import ExportListError, iter_export_list
from sahelwire.labelstudio.identity import (
    annotator_email,
    canonical_uuid,
    describe_completed_by,
    read_known_annotators,
)
from sahelwire.labelstudio.offsets import OffsetError, from_label_studio
from sahelwire.raw.manifest_texts import ManifestTexts
from sahelwire.schema.problems import Problem
from sahelwire.schema.table_specs import TableSpecs, load_table_specs, polars_schema
from sahelwire.schema.taxonomy import Taxonomy, load_taxonomy

# Each frame of AnnotationTables is one source table of schemas/tables.yaml, whose column
# specs are the only statement of its shape (see source_shapes).
SOURCE_TABLES = {
    "annotations": "annotations",
    "regions": "annotation_regions",
    "relations": "annotation_relations",
    "choices": "annotation_choices",
    "predictions": "predictions",
    "prediction_results": "prediction_results",
}
ATTRIBUTE_COLUMNS = ("entity_id", "event_id", "realis", "value", "unit", "approximate")


@dataclass(frozen=True)
class AnnotationTables:
    annotations: pl.DataFrame
    regions: pl.DataFrame
    relations: pl.DataFrame
    choices: pl.DataFrame
    problems: list[Problem] = field(default_factory=list)
    drafts: int = 0
    tasks: int = 0
    # Every record left out of the tables, as it was in the export, next to its Problem.
    rejected: list[RejectedRecord] = field(default_factory=list)
    # Predictions stored on the tasks (annotations.predictions): provenance, never gold.
    predictions: pl.DataFrame | None = None
    prediction_results: pl.DataFrame | None = None


@dataclass(frozen=True)
class RejectedRecord:
    """A task, annotation, result item or attribute left out of the tables, unchanged."""

    problem: Problem
    record: Any  # the JSON object as exported (task, annotation or result item)

    def to_json(self) -> dict[str, Any]:
        return {"problem": self.problem.to_json(), "record": self.record}


def _hint_matches(hint: Any, actual: str) -> bool:
    """``value.text`` is a hint: newlines may come back as a literal backslash-n."""
    if not isinstance(hint, str):
        return False
    return (
        hint == actual
        or hint.replace("\\n", "\n") == actual.replace("\r\n", "\n")
        or (hint.replace("\\n", "\n") == actual)
    )


def _as_int(value: Any) -> int | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return None


def _coerce(attr: str, v: Any) -> Any:
    """The column type of a per-region attribute, or None when ``v`` cannot be it."""
    if attr == "value":
        return float(v) if isinstance(v, (int, float)) and not isinstance(v, bool) else None
    if attr == "approximate":
        return {"true": True, "false": False}.get(v) if isinstance(v, str) else None
    return v if isinstance(v, str) else None


Shapes = Mapping[str, Mapping[str, Any]]


def source_shapes(specs: TableSpecs) -> dict[str, dict[str, Any]]:
    """Frame name -> polars schema, derived from the source table specs."""
    return {frame: polars_schema(specs.source[table]) for frame, table in SOURCE_TABLES.items()}


def load_source_shapes(paths: ProjectPaths) -> dict[str, dict[str, Any]]:
    return source_shapes(load_table_specs(paths.tables_file))


FLUSH_TASKS = 1000


class TableCollector:
    """Turns task objects into table rows, rejecting bad records with Problems."""

    def __init__(
        self,
        texts: Mapping[str, tuple[str, str]],
        taxonomy: Taxonomy,
        annotators: Collection[str],
        shapes: Shapes,
    ) -> None:
        self.texts = texts  # article id -> (text, sha256)
        self.shapes = shapes  # frame name -> polars schema (source_shapes)
        self.layers = set(taxonomy.layer_names)
        self.attributes = {a.name for la in taxonomy.span_layers for a in la.attributes}
        self.document_fields = {f.name for f in taxonomy.document_fields}
        self.annotators = frozenset(annotators)  # known annotator e-mails
        self.annotations: list[dict[str, Any]] = []
        self.regions: list[dict[str, Any]] = []
        self.relations: list[dict[str, Any]] = []
        self.choices: list[dict[str, Any]] = []
        self.predictions: list[dict[str, Any]] = []
        self.prediction_results: list[dict[str, Any]] = []
        self.problems: list[Problem] = []
        self.rejected: list[RejectedRecord] = []
        self._current: Any = None  # the JSON record being parsed, kept when rejected
        self.drafts = 0
        self.tasks = 0
        self._seen_articles: dict[str, str] = {}
        self._seen_annotations: dict[int, str] = {}
        self._seen_unique_ids: dict[str, str] = {}
        self._seen_predictions: dict[int, str] = {}
        # Rows move from the Python lists above into polars frames every FLUSH_TASKS tasks,
        # so a corpus of any size holds at most that many tasks' rows as Python objects.
        self._frames: dict[str, list[pl.DataFrame]] = {name: [] for name in shapes}

    # -- helpers -----------------------------------------------------------------
    def _problem(
        self, file: str, record: str, fld: str | None, rule: str, value: Any, msg: str
    ) -> None:
        problem = Problem(file, record, fld, rule, value, msg)
        self.problems.append(problem)
        if self._current is not None:
            self.rejected.append(RejectedRecord(problem, self._current))

    # -- identity (sahelwire.labelstudio.identity: e-mails and UUIDs, never server ids) --
    def _identify(self, ann: dict[str, Any], rec: str, source: str) -> str | None:
        """The annotation's annotator e-mail, or None after reporting why it has none.

        ``completed_by`` must be ``{"email": …}`` naming an e-mail of annotators.json (a
        server's user id means another person on another server), and ``unique_id`` a
        UUID no other annotation has (pull and restore match servers by it).
        """
        completed_by = ann.get("completed_by")
        email = annotator_email(completed_by)
        if email is None:
            self._problem(
                source,
                rec,
                "completed_by",
                "annotator is a known user",
                completed_by,
                describe_completed_by(completed_by),
            )
            return None
        if email not in self.annotators:
            self._problem(
                source,
                rec,
                "completed_by",
                "annotator is a known user",
                email,
                "e-mail not in annotations/annotators.json",
            )
            return None
        uid = canonical_uuid(ann.get("unique_id"))
        if uid is None or uid in self._seen_unique_ids:
            self._problem(
                source,
                rec,
                "unique_id",
                "unique_id is a UUID no other annotation has",
                ann.get("unique_id"),
                f"also in {self._seen_unique_ids[uid]}" if uid else "",
            )
            return None
        self._seen_unique_ids[uid] = source
        return email

    def _flush(self) -> None:
        for name, schema in self.shapes.items():
            rows: list[dict[str, Any]] = getattr(self, name)
            if rows:
                self._frames[name].append(pl.DataFrame(rows, schema=schema))
                rows.clear()

    # -- one task ------------------------------------------------------------------
    def add_task(self, task: Any, source: str) -> None:
        if self.tasks and self.tasks % FLUSH_TASKS == 0:
            self._flush()
        self._current = task
        if not isinstance(task, dict) or not isinstance(task.get("data"), dict):
            self._problem(
                source,
                "task",
                "data",
                "a task object with a data dict",
                None,
                "not a Label Studio task",
            )
            return
        self.tasks += 1
        tid = task.get("id")
        data = task["data"]
        aid = data.get("article_id")
        rec = f"task {tid}"
        if not isinstance(aid, str) or aid not in self.texts:
            self._problem(
                source,
                rec,
                "data.article_id",
                "article exists in the manifest",
                aid,
                "task is not a SahelWire article (another project's export?)",
            )
            return
        rec = f"task {tid} (article {aid})"
        if aid in self._seen_articles:
            self._problem(
                source,
                rec,
                "data.article_id",
                "one task per article",
                aid,
                f"article already read from {self._seen_articles[aid]}; task ignored",
            )
            return
        self._seen_articles[aid] = source
        text, sha = self.texts[aid]
        task_text = data.get("text")
        task_sha = (
            hashlib.sha256(task_text.encode("utf-8")).hexdigest()
            if isinstance(task_text, str)
            else None
        )
        if data.get("text_sha256") != sha or task_sha != sha:
            self._problem(
                source,
                rec,
                "data.text_sha256",
                "task text hash equals the raw article's",
                data.get("text_sha256"),
                f"the annotated text differs from dataset/raw (article sha256 {sha[:12]}…); "
                "every annotation of this task is rejected, not re-aligned",
            )
            return
        self.drafts += len(task.get("drafts") or [])
        predictions = {
            p.get("id"): p.get("model_version")
            for p in task.get("predictions") or []
            if isinstance(p, dict)
        }
        for ann in task.get("annotations") or []:
            self._current = ann
            self._add_annotation(ann, tid, aid, sha, text, predictions, source)
        self._current = None
        self._add_predictions(task, aid, text, source)

    def _add_predictions(self, task: dict[str, Any], aid: str, text: str, source: str) -> None:
        """The task's predictions (annotations.predictions): provenance rows, never gold."""
        parsed = parse_predictions(
            task,
            aid,
            text,
            source,
            layers=self.layers,
            attributes=self.attributes,
            document_fields=self.document_fields,
        )
        for problem, record in parsed.problems:
            self.problems.append(problem)
            self.rejected.append(RejectedRecord(problem, record))
        # Prediction ids are unique on a Label Studio server, like annotation ids: a repeat
        # (exports of two servers mixed) is refused rather than joined to the wrong task.
        repeated = set()
        for row in parsed.predictions:
            pid = row["prediction_id"]
            if pid in self._seen_predictions:
                repeated.add(pid)
                problem = Problem(
                    source,
                    f"{aid}/prediction {pid}",
                    "id",
                    "prediction ids are unique",
                    pid,
                    f"already read from {self._seen_predictions[pid]}",
                )
                self.problems.append(problem)
                self.rejected.append(RejectedRecord(problem, row))
            else:
                self._seen_predictions[pid] = source
        self.predictions += [r for r in parsed.predictions if r["prediction_id"] not in repeated]
        self.prediction_results += [r for r in parsed.results if r["prediction_id"] not in repeated]

    def _add_annotation(
        self,
        ann: Any,
        tid: Any,
        aid: str,
        sha: str,
        text: str,
        predictions: dict[Any, Any],
        source: str,
    ) -> None:
        if not isinstance(ann, dict) or _as_int(ann.get("id")) is None:
            self._problem(
                source, f"task {tid}", "annotations", "annotation object with an id", None, ""
            )
            return
        ann_id = int(ann["id"])
        rec = f"{aid}/annotation {ann_id}"
        if ann_id in self._seen_annotations:
            self._problem(
                source,
                rec,
                "id",
                "annotation ids are unique",
                ann_id,
                f"already read from {self._seen_annotations[ann_id]}",
            )
            return
        self._seen_annotations[ann_id] = source
        annotator = self._identify(ann, rec, source)
        if annotator is None:
            return
        result = ann.get("result") or []
        if not isinstance(result, list):
            self._problem(source, rec, "result", "result is a list", type(result).__name__, "")
            return
        pred = ann.get("prediction") or {}
        model = pred.get("model_version") if isinstance(pred, dict) else None
        if model is None and ann.get("parent_prediction") is not None:
            model = predictions.get(ann.get("parent_prediction"))
        lead = ann.get("lead_time")
        self.annotations.append(
            {
                "annotation_id": ann_id,
                "task_id": _as_int(tid),
                "article_id": aid,
                "text_sha256": sha,
                "annotator": annotator,
                "cancelled": bool(ann.get("was_cancelled", False)),
                "ground_truth": bool(ann.get("ground_truth", False)),
                "created_at": str(ann.get("created_at") or ""),
                "updated_at": str(ann.get("updated_at") or ann.get("created_at") or ""),
                "lead_time": float(lead)
                if isinstance(lead, (int, float)) and not isinstance(lead, bool)
                else None,
                "parent_prediction": _as_int(ann.get("parent_prediction")),
                "prediction_model_version": None if model is None else str(model),
                "source_file": source,
            }
        )
        base = {
            "annotation_id": ann_id,
            "article_id": aid,
            "annotator": annotator,
            "source_file": source,
        }
        regions: dict[str, dict[str, Any]] = {}
        attrs: dict[str, list[tuple[str, Any]]] = {}
        for i, item in enumerate(result):
            self._current = item
            if not isinstance(item, dict):
                self._problem(
                    source, f"{rec}/result[{i}]", None, "result item is an object", None, ""
                )
                continue
            kind = item.get("type")
            name = item.get("from_name")
            if kind != "relation" and not isinstance(name, str):
                self._problem(
                    source,
                    f"{rec}/result[{i}]",
                    "from_name",
                    "from_name is a control name",
                    name,
                    "",
                )
                continue
            raw_value = item.get("value")
            value: dict[str, Any] = raw_value if isinstance(raw_value, dict) else {}
            rid = str(item.get("id")) if item.get("id") is not None else f"#{i}"
            where = f"{rec}/region {rid}"
            if kind == "relation":
                labels = item.get("labels")
                labels = (
                    [x for x in labels if isinstance(x, str)] if isinstance(labels, list) else []
                )
                if not labels:
                    self._problem(
                        source,
                        f"{rec}/relation {item.get('from_id')}->{item.get('to_id')}",
                        "labels",
                        "a relation has an argument role",
                        None,
                        "",
                    )
                for label in labels:
                    self.relations.append(
                        {
                            **base,
                            "from_region_id": str(item.get("from_id")),
                            "to_region_id": str(item.get("to_id")),
                            "label": str(label),
                        }
                    )
            elif kind == "labels" and name in self.layers:
                labels = value.get("labels")
                if (
                    not isinstance(labels, list)
                    or len(labels) != 1
                    or not isinstance(labels[0], str)
                ):
                    self._problem(
                        source, where, "value.labels", "exactly one label per region", labels, ""
                    )
                    continue
                s, e = _as_int(value.get("start")), _as_int(value.get("end"))
                if s is None or e is None:
                    self._problem(
                        source,
                        where,
                        "value.start/end",
                        "integer offsets",
                        [value.get("start"), value.get("end")],
                        "",
                    )
                    continue
                try:
                    start, end = from_label_studio(text, s, e)
                except OffsetError as exc:
                    self._problem(
                        source,
                        where,
                        "value.start/end",
                        "0 <= start < end <= len(text)",
                        [s, e],
                        str(exc),
                    )
                    continue
                if start >= end:
                    self._problem(
                        source,
                        where,
                        "value.start/end",
                        "0 <= start < end <= len(text)",
                        [s, e],
                        "zero-length or reversed span",
                    )
                    continue
                hint = value.get("text")
                if hint is not None and not _hint_matches(hint, text[start:end]):
                    self._problem(
                        source,
                        where,
                        "value.text",
                        "text[start:end] == value.text",
                        hint,
                        f"the article has {text[start:end]!r} there; region rejected, not shifted",
                    )
                    continue
                if rid in regions:
                    self._problem(
                        source, where, "id", "region ids are unique within an annotation", rid, ""
                    )
                    continue
                regions[rid] = {
                    **base,
                    "region_id": rid,
                    "layer": name,
                    "label": str(labels[0]),
                    "start": start,
                    "end": end,
                    "text": text[start:end],
                    **dict.fromkeys(ATTRIBUTE_COLUMNS),
                }
            elif name in self.attributes and "start" in value:
                attrs.setdefault(rid, []).append((str(name), self._attribute_value(kind, value)))
            elif name in self.document_fields:
                values = value.get("choices") if kind == "choices" else value.get("text")
                if not isinstance(values, list):
                    self._problem(
                        source, where, "value", "article-level values are a list", values, ""
                    )
                    continue
                for v in values:
                    self.choices.append({**base, "field": name, "value": str(v)})
            else:
                self._problem(
                    source,
                    where,
                    "from_name",
                    "control exists in the labeling config",
                    name,
                    "export from another label config version?",
                )
        for rid, pairs in attrs.items():
            self._current = {"region_id": rid, "attributes": dict(pairs)}
            region = regions.get(rid)
            if region is None:
                self._problem(
                    source,
                    f"{rec}/region {rid}",
                    "id",
                    "attribute belongs to a region",
                    rid,
                    "per-region attribute without its span (region rejected or missing)",
                )
                continue
            for attr, v in pairs:
                coerced = _coerce(attr, v)
                if v is not None and coerced is None:
                    self._problem(
                        source,
                        f"{rec}/region {rid}",
                        attr,
                        f"{attr} has the taxonomy's type",
                        v,
                        "",
                    )
                region[attr] = coerced
        self.regions.extend(regions.values())

    @staticmethod
    def _attribute_value(kind: Any, value: dict[str, Any]) -> Any:
        if kind == "number":
            n = value.get("number")
            return float(n) if isinstance(n, (int, float)) and not isinstance(n, bool) else None
        if kind == "choices":
            c = value.get("choices")
            return str(c[0]) if isinstance(c, list) and c else None
        t = value.get("text")
        return str(t[0]).strip() if isinstance(t, list) and t else (str(t).strip() if t else None)

    def tables(self) -> AnnotationTables:
        self._flush()
        frames = {
            name: pl.concat(self._frames[name], rechunk=True)
            if self._frames[name]
            else pl.DataFrame(schema=schema)
            for name, schema in self.shapes.items()
        }
        return self._with_frames(frames)

    def _with_frames(self, frames: dict[str, pl.DataFrame]) -> AnnotationTables:
        """The four tables in ``frames`` plus what this collector counted and rejected."""
        return AnnotationTables(
            annotations=frames["annotations"],
            regions=frames["regions"],
            relations=frames["relations"],
            choices=frames["choices"],
            problems=self.problems,
            drafts=self.drafts,
            tasks=self.tasks,
            rejected=self.rejected,
            predictions=frames["predictions"],
            prediction_results=frames["prediction_results"],
        )


def read_annotators(paths: ProjectPaths) -> frozenset[str]:
    """The known annotator e-mails (annotations/annotators.json)."""
    return read_known_annotators(paths)


def iter_export_tasks(path: Path) -> Iterator[Any]:
    """Stream the tasks of one Label Studio JSON export list (constant memory per task)."""
    yield from iter_export_list(path)


def collector_for(
    paths: ProjectPaths,
    taxonomy: Taxonomy | None = None,
    texts: Mapping[str, tuple[str, str]] | None = None,
) -> TableCollector:
    """A collector for the project's articles (``texts``: already read, else read now)."""
    taxonomy = taxonomy or load_taxonomy(paths.taxonomy_file)
    # Texts not handed over are read one task at a time, never the whole corpus at once.
    return TableCollector(
        ManifestTexts(paths) if texts is None else texts,
        taxonomy,
        read_annotators(paths),
        load_source_shapes(paths),
    )


def read_annotation_tables(
    paths: ProjectPaths,
    taxonomy: Taxonomy | None = None,
    *,
    texts: Mapping[str, tuple[str, str]] | None = None,
) -> AnnotationTables:
    collector = collector_for(paths, taxonomy, texts)
    with paused_gc():
        for path in sorted(paths.exports_dir.glob("*.json")):
            source = str(path.relative_to(paths.root))
            try:
                task = json.loads(path.read_bytes().decode("utf-8"))
            except (UnicodeDecodeError, json.JSONDecodeError) as exc:
                collector.problems.append(
                    Problem(
                        source,
                        None,
                        None,
                        "file is one complete JSON task",
                        None,
                        f"{type(exc).__name__}: {exc} (truncated or corrupted; re-run pull)",
                    )
                )
                continue
            collector.add_task(task, source)
    return collector.tables()


def tables_from_tasks(
    tasks: Iterable[Any], collector: TableCollector, source: str
) -> AnnotationTables:
    """Parse a stream of tasks (e.g. :func:`iter_export_tasks`) into tables."""
    try:
        with paused_gc():
            for task in tasks:
                collector.add_task(task, source)
    except (ExportListError, UnicodeDecodeError) as exc:
        collector.problems.append(
            Problem(source, None, None, "export is complete JSON", None, str(exc))
        )
    return collector.tables()
