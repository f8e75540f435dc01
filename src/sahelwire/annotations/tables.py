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

Read strictly (docs/label_studio_format.md, "Read strictly"): the JSON itself by
:mod:`sahelwire.labelstudio.export_json`, every key and JSON type against
:mod:`sahelwire.labelstudio.export_format`, every result against its control in the labeling
config, and every entry of annotations/exports/ (:func:`export_files`). Whatever is not fully
understood is refused with a Problem, never skipped or guessed; docs/reliability.md lists each
class with its test.

Parsed once: :func:`read_annotation_tables` keeps each file's parse in the export cache
(:mod:`sahelwire.annotations.export_cache`) and parses only the files that changed; the rules
that span files are replayed over all of them in order (see "the cached read" below), so the
tables and Problems are those of parsing every file.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import os
import pickle
import re
import stat
import subprocess
import sys
import tempfile
from collections.abc import Collection, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

import polars as pl

from sahelwire.annotations.export_cache import (
    NAMESPACES,
    CacheStats,
    ExportCache,
    FileParse,
    Uncacheable,
    cache_dir,
    cache_enabled,
    fingerprint,
    text_dependency,
)
from sahelwire.io.bulk import paused_gc
from sahelwire.io.config import EnvironmentSettingError
from sahelwire.io.file_hashes import FileHashes, StatKey, now_ns, stat_key
from sahelwire.io.paths import ProjectPaths
from sahelwire.labelstudio.controls import Control, controls
from sahelwire.labelstudio.export_format import (
    ANNOTATION,
    DATA,
    DOCUMENT_VALUE,
    DRAFT,
    ORIGINS,
    PREDICTION,
    PROVENANCE_KEY,
    REGION_ATTRIBUTE_VALUE,
    REGION_ITEM,
    RELATION,
    RELATION_DIRECTIONS,
    SPAN_VALUE,
    TASK,
    VALUE_KEY,
    Spec,
    kind_of,
    timestamp_ok,
)
from sahelwire.labelstudio.export_json import StrictJSONError, brief, loads_document, printable
from sahelwire.labelstudio.export_list import ExportListError, iter_export_list
from sahelwire.labelstudio.identity import (
    annotator_email,
    annotators_file,
    canonical_uuid,
    describe_completed_by,
    load_annotators,
)
from sahelwire.labelstudio.offsets import OffsetError, from_label_studio
from sahelwire.raw.manifest_texts import ManifestTexts
from sahelwire.schema.problems import Problem
from sahelwire.schema.table_specs import TableSpecs, load_table_specs, polars_schema
from sahelwire.schema.taxonomy import Taxonomy, load_taxonomy

log = logging.getLogger(__name__)

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
# bound: taxonomy 3.0.0; annotations made before it have none and read as null.
ATTRIBUTE_COLUMNS = ("entity_id", "event_id", "realis", "value", "unit", "approximate", "bound")
# A prediction result row (schemas/tables.yaml prediction_results), besides its base columns.
PREDICTION_RESULT_COLUMNS = (
    "kind",
    "layer",
    "label",
    "region_id",
    "to_region_id",
    "start",
    "end",
    "text",
    *ATTRIBUTE_COLUMNS,
)


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
    # Predictions stored on the tasks (read like annotations): provenance, never gold.
    predictions: pl.DataFrame | None = None
    prediction_results: pl.DataFrame | None = None
    # Registry proposals typed next to the pickers (label_config): listed, never published.
    proposals: list[dict[str, Any]] = field(default_factory=list)
    # What the export cache did (None when it was off): which files were parsed.
    cache: CacheStats | None = None
    # Per export file whose rows are a function of what it names (:class:`FileRows`): the
    # files read through the export cache and parsed without ids of other files. Others
    # (no cache, cross-file ids, unreadable) are not here.
    files: dict[str, FileRows] = field(default_factory=dict)


@dataclass(frozen=True)
class FileRows:
    """What one export file's rows in the tables are a function of: ``key`` digests the
    export cache's key (the file's sha256, the parser's code, taxonomy, shapes and schemas)
    with what the parse read besides (each article's text hashes, which annotators are
    known): the same key, the same rows. ``articles``: every article the file's tasks name."""

    key: str
    articles: tuple[str, ...]

    @classmethod
    def of(cls, cache_key: str, parse: FileParse) -> FileRows:
        read = json.dumps([parse.texts, parse.annotators], sort_keys=True, default=repr)
        digest = hashlib.sha256(f"{cache_key}\0{read}".encode()).hexdigest()
        return cls(digest, tuple(parse.texts))


@dataclass(frozen=True)
class RejectedRecord:
    """A task, annotation, result item or attribute left out of the tables, unchanged."""

    problem: Problem
    record: Any  # the JSON object as exported (task, annotation or result item)

    def to_json(self) -> dict[str, Any]:
        return {"problem": self.problem.to_json(), "record": self.record}


def _hint_matches(hint: Any, text: str, start: int, end: int) -> bool:
    """``value.text`` is a hint: newlines may come back as a literal backslash-n, and a
    selection made with the mouse from the start (or to the end) of a paragraph carries the
    line break beside it, though its offsets are right (Label Studio 1.23's editor, a
    browser walkthrough: the headline after a blank line came back as ``\\nUS aims ...``
    with ``start`` at the ``U``). The break must really be there, next to the offsets:
    anything else in the hint is a shifted region."""
    if not isinstance(hint, str):
        return False
    actual = text[start:end]
    if hint == actual:
        return True
    unescaped = hint.replace("\\n", "\n")
    if unescaped in (actual, actual.replace("\r\n", "\n")):
        return True
    core = unescaped.lstrip("\n")
    lead = len(unescaped) - len(core)
    trail = len(core) - len(core.rstrip("\n"))
    core = core[: len(core) - trail]
    if not (lead or trail) or core not in (actual, actual.replace("\r\n", "\n")):
        return False
    before = text[max(0, start - 2 * lead) : start].replace("\r\n", "\n")
    after = text[end : end + 2 * trail].replace("\r\n", "\n")
    return before.endswith("\n" * lead) and after.startswith("\n" * trail)


Shapes = Mapping[str, Mapping[str, Any]]


def source_shapes(specs: TableSpecs) -> dict[str, dict[str, Any]]:
    """Frame name -> polars schema, derived from the source table specs."""
    return {frame: polars_schema(specs.source[table]) for frame, table in SOURCE_TABLES.items()}


def load_source_shapes(paths: ProjectPaths) -> dict[str, dict[str, Any]]:
    return source_shapes(load_table_specs(paths.tables_file))


FLUSH_TASKS = 1000
# Parsed tables of at most this many parts are joined without copying them (chunked columns):
# copying into one chunk held every parsed table twice, the inputs phase's peak (issue 17
# item 3). Beyond it the parts are copied into one, since a column of thousands of chunks
# slows every later operation on it.
JOIN_MAX_CHUNKS = 64


@dataclass
class _Attribute:
    """One per-region attribute result, kept until every span of its annotation is read."""

    name: str  # the attribute (column) it sets, or the proposal field
    value: Any
    start: int
    end: int
    where: str
    item: Any
    control: Control


# The rule an annotation's annotator breaks when annotators.json does not list its e-mail.
KNOWN_USER = "annotator is a known user"
NOT_LISTED = "e-mail not in annotations/annotators.json"


def without_unlisted_follow_ons(
    paths: ProjectPaths, problems: list[Problem], seen: Iterable[Problem] = ()
) -> list[Problem]:
    """``problems`` without the annotations' "e-mail not in annotations/annotators.json"
    when that list could not be read at all (a problem of the file, in ``problems`` or
    ``seen``, the problems reported before, with no record: not JSON, unreadable, not an
    object): they would only repeat it, once per annotation (15 times on the committed
    corpus). An entry not understood still names its e-mail (load_annotators)."""
    if not any(p.rule == KNOWN_USER and p.message == NOT_LISTED for p in problems):
        return problems
    listed = str(annotators_file(paths).relative_to(paths.root))
    if not any(p.file == listed and p.record is None for p in (*seen, *problems)):
        return problems
    return [p for p in problems if not (p.rule == KNOWN_USER and p.message == NOT_LISTED)]


class TableCollector:
    """Turns task objects into table rows, rejecting bad records with Problems.

    Every key of every object is checked against :mod:`sahelwire.labelstudio.export_format`
    (the keys Label Studio writes and their JSON types), every result against the control it
    names in the labeling config (:func:`~sahelwire.labelstudio.controls.controls`),
    so nothing the parser does not fully understand reaches a table: it is left out and
    reported (docs/reliability.md lists each class with its test).
    """

    def __init__(
        self,
        texts: Mapping[str, tuple[str, str]],
        taxonomy: Taxonomy,
        annotators: Collection[str],
        shapes: Shapes,
    ) -> None:
        self.texts = texts  # article id -> (text, sha256)
        self.shapes = shapes  # frame name -> polars schema (source_shapes)
        # control name (an exported from_name) -> what it fills in the taxonomy
        self.controls = controls(taxonomy)
        self.document_fields = {f.name: f for f in taxonomy.document_fields}
        self.annotators: Collection[str] = frozenset(annotators)  # known annotator e-mails
        self.annotations: list[dict[str, Any]] = []
        self.regions: list[dict[str, Any]] = []
        self.relations: list[dict[str, Any]] = []
        self.choices: list[dict[str, Any]] = []
        self.predictions: list[dict[str, Any]] = []
        self.prediction_results: list[dict[str, Any]] = []
        self.problems: list[Problem] = []
        self.proposals: list[dict[str, Any]] = []
        self.rejected: list[RejectedRecord] = []
        self._current: Any = None  # the JSON record being parsed, kept when rejected
        self.drafts = 0
        self.tasks = 0
        self._seen_articles: dict[str, str] = {}
        self._seen_tasks: dict[int, str] = {}
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

    def _fields(
        self,
        obj: Mapping[str, Any],
        spec: Spec,
        source: str,
        record: str,
        prefix: str = "",
        what: str | None = None,
    ) -> bool:
        """Report every unknown, missing or mistyped key of ``obj``; True when there is none."""
        if spec.conforms(obj):
            return True
        for fld, rule, value, message in spec.problems(obj, prefix, what):
            self._problem(source, record, fld, rule, value, message)
        return False

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
                KNOWN_USER,
                completed_by,
                describe_completed_by(completed_by),
            )
            return None
        if email not in self.annotators:
            self._problem(
                source,
                rec,
                "completed_by",
                KNOWN_USER,
                email,
                NOT_LISTED,
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
                "not a Label Studio task"
                + (
                    " (a whole export list? pull writes one task per file)"
                    if isinstance(task, list)
                    else ""
                ),
            )
            return
        self.tasks += 1
        tid: Any = task.get("id")
        data = task["data"]
        aid = data.get("article_id")
        # Record names may hold what the export holds (a lone surrogate in a task handed
        # over in memory): Problem.to_json escapes it when the report is written.
        rec = f"task {tid}" + (f" (article {aid})" if isinstance(aid, str) else "")
        ok = self._fields(task, TASK, source, rec)
        ok = self._fields(data, DATA, source, rec, "data.") and ok
        if not ok:
            return
        if aid not in self.texts:
            self._problem(
                source,
                rec,
                "data.article_id",
                "article exists in the manifest",
                aid,
                "task is not a SahelWire article (another project's export?)",
            )
            return
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
        if tid in self._seen_tasks:
            self._problem(
                source,
                rec,
                "id",
                "task ids are unique across exports",
                tid,
                f"task {tid} was already read from {self._seen_tasks[tid]} (exports of two "
                "Label Studio servers mixed?); task ignored",
            )
            return
        self._seen_tasks[tid] = source
        text, sha = self.texts[aid]
        task_text = data["text"]
        # surrogatepass: a task handed over in memory may hold a lone surrogate; it then
        # hashes differently from the raw text (which cannot hold one) instead of crashing.
        task_sha = hashlib.sha256(task_text.encode("utf-8", "surrogatepass")).hexdigest()
        if data["text_sha256"] != sha or task_sha != sha:
            self._problem(
                source,
                rec,
                "data.text_sha256",
                "task text hash equals the raw article's",
                data["text_sha256"],
                f"the annotated text differs from dataset/raw (article sha256 {sha[:12]}…); "
                "every annotation of this task is rejected, not re-aligned",
            )
            return
        for i, draft in enumerate(task.get("drafts") or []):
            self._current = draft
            where = f"{rec}/drafts[{i}]"
            if not isinstance(draft, dict):
                self._problem(source, where, "drafts", "a draft is an object", kind_of(draft), "")
            else:
                self._fields(draft, DRAFT, source, where)
        self.drafts += len(task.get("drafts") or [])
        predictions = self._add_predictions(
            task.get("predictions") or [], rec, tid, aid, text, source
        )
        for i, ann in enumerate(task["annotations"]):
            self._current = ann
            self._add_annotation(ann, i, rec, tid, aid, sha, text, predictions, source)
        self._current = None

    def _add_predictions(
        self, preds: list[Any], rec: str, tid: int, aid: str, text: str, source: str
    ) -> dict[int, str | None]:
        """The task's predictions: provenance rows (never gold), read by the same rules.

        Their results go through the very checks of annotation results (a prediction is
        published in annotations_raw); returns prediction id -> model version of the ones
        read, for the annotations' ``parent_prediction``.
        """
        read: dict[int, str | None] = {}
        for i, pred in enumerate(preds):
            self._current = pred
            where = f"{rec}/predictions[{i}]"
            if not isinstance(pred, dict):
                self._problem(
                    source, where, "predictions", "a prediction is an object", kind_of(pred), ""
                )
                continue
            if not self._fields(pred, PREDICTION, source, where):
                continue
            pid: int = pred["id"]
            prec = f"{aid}/prediction {pid}"
            # Prediction ids are unique on a Label Studio server, like annotation ids: a
            # repeat (exports of two servers mixed) is refused, not joined to the wrong task.
            if pid in self._seen_predictions:
                self._problem(
                    source,
                    prec,
                    "id",
                    "prediction ids are unique",
                    pid,
                    f"already read from {self._seen_predictions[pid]}",
                )
                continue
            self._seen_predictions[pid] = source
            if not all(timestamp_ok(pred[k]) for k in ("created_at", "updated_at")):
                bad = next(k for k in ("created_at", "updated_at") if not timestamp_ok(pred[k]))
                self._problem(
                    source,
                    prec,
                    bad,
                    "a UTC timestamp as Label Studio writes it (YYYY-MM-DDTHH:MM:SS[.ffffff]Z)",
                    pred[bad],
                    "",
                )
                continue
            read[pid] = pred.get("model_version")
            self.predictions.append(
                {
                    "prediction_id": pid,
                    "task_id": tid,
                    "article_id": aid,
                    "model_version": pred.get("model_version"),
                    "score": None if pred.get("score") is None else float(pred["score"]),
                    "created_at": pred["created_at"],
                    "updated_at": pred["updated_at"],
                    "source_file": source,
                }
            )
            base = {"prediction_id": pid, "article_id": aid, "source_file": source}
            self.prediction_results += self._prediction_rows(
                pred["result"], prec, base, text, source
            )
            self._current = None
        return read

    def _prediction_rows(
        self, result: list[Any], rec: str, base: dict[str, Any], text: str, source: str
    ) -> list[dict[str, Any]]:
        """A prediction's results, checked as an annotation's, in the annotations_raw row shape."""
        kept = self.regions, self.relations, self.choices, self.proposals
        self.regions, self.relations, self.choices = [], [], []
        # Provenance of a re-opened release (PROVENANCE_KEY) is not a result field; anything
        # but an object under that key stays and is refused as an unknown key.
        result = [
            {k: v for k, v in item.items() if k != PROVENANCE_KEY}
            if isinstance(item, dict) and isinstance(item.get(PROVENANCE_KEY), dict)
            else item
            for item in result
        ]
        try:
            self._add_results(result, rec, base, text, source)
            regions, relations, choices = self.regions, self.relations, self.choices
        finally:
            # a prediction's proposal (none is made today) is no annotator's request
            self.regions, self.relations, self.choices, self.proposals = kept
        empty = dict.fromkeys(PREDICTION_RESULT_COLUMNS)
        rows = [{**empty, **r, "kind": "region"} for r in regions]
        rows += [
            {
                **empty,
                **base,
                "kind": "relation",
                "layer": "relations",
                "label": r["label"],
                "region_id": r["from_region_id"],
                "to_region_id": r["to_region_id"],
            }
            for r in relations
        ]
        rows += [
            {**empty, **base, "kind": "choice", "layer": c["field"], "label": c["value"]}
            for c in choices
        ]
        return rows

    def _add_annotation(
        self,
        ann: Any,
        index: int,
        task_rec: str,
        tid: Any,
        aid: str,
        sha: str,
        text: str,
        predictions: Mapping[int, str | None],
        source: str,
    ) -> None:
        if not isinstance(ann, dict):
            self._problem(
                source,
                f"{task_rec}/annotations[{index}]",
                "annotations",
                "an annotation is an object",
                kind_of(ann),
                "",
            )
            return
        rec = f"{aid}/annotation {ann.get('id')}"
        if not self._fields(ann, ANNOTATION, source, rec):
            return
        ann_id: int = ann["id"]
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
        for stamp in ("created_at", "updated_at"):
            if not timestamp_ok(ann[stamp]):
                self._problem(
                    source,
                    rec,
                    stamp,
                    "a UTC timestamp as Label Studio writes it (YYYY-MM-DDTHH:MM:SS[.ffffff]Z)",
                    ann[stamp],
                    "adjudication orders an annotator's annotations by this text",
                )
                return
        lead = ann.get("lead_time")
        if lead is not None and lead < 0:
            self._problem(source, rec, "lead_time", "lead_time >= 0", lead, "seconds spent")
            return
        pred = ann.get("prediction") or {}
        model = pred.get("model_version")
        if model is not None and not isinstance(model, str):
            self._problem(
                source,
                rec,
                "prediction.model_version",
                "prediction.model_version is a string",
                kind_of(model),
                "",
            )
            return
        parent = ann.get("parent_prediction")
        if model is None and parent is not None:
            if parent not in predictions:
                self._problem(
                    source,
                    rec,
                    "parent_prediction",
                    "parent_prediction names a prediction of this task",
                    parent,
                    "the model the annotation started from would be lost",
                )
                return
            model = predictions[parent]
        self.annotations.append(
            {
                "annotation_id": ann_id,
                "task_id": tid,
                "article_id": aid,
                "text_sha256": sha,
                "annotator": annotator,
                "cancelled": ann["was_cancelled"],
                "ground_truth": ann["ground_truth"],
                "created_at": ann["created_at"],
                "updated_at": ann["updated_at"],
                "lead_time": None if lead is None else float(lead),
                "parent_prediction": parent,
                "prediction_model_version": model,
                "source_file": source,
            }
        )
        base = {
            "annotation_id": ann_id,
            "article_id": aid,
            "annotator": annotator,
            "source_file": source,
        }
        self._add_results(ann["result"], rec, base, text, source)

    def _add_results(
        self, result: list[Any], rec: str, base: dict[str, Any], text: str, source: str
    ) -> None:
        regions: dict[str, dict[str, Any]] = {}
        offsets: dict[str, tuple[int, int]] = {}  # region id -> Label Studio start, end
        region_ids: set[str] = set()  # every span id seen, accepted or not
        attrs: dict[str, list[_Attribute]] = {}
        documents: set[str] = set()
        relation_keys: set[tuple[str, str, str]] = set()
        for i, item in enumerate(result):
            self._current = item
            if not isinstance(item, dict):
                self._problem(
                    source,
                    f"{rec}/result[{i}]",
                    None,
                    "result item is an object",
                    kind_of(item),
                    "",
                )
                continue
            if item.get("type") == "relation":
                self._add_relation(item, rec, i, base, relation_keys, source)
                continue
            if not REGION_ITEM.conforms(item):
                self._fields(item, REGION_ITEM, source, f"{rec}/result[{i}]")
                continue
            name, kind, value, rid = item["from_name"], item["type"], item["value"], item["id"]
            where = f"{rec}/region {rid}"
            control = self.controls.get(name)
            if control is None:
                self._problem(
                    source,
                    where,
                    "from_name",
                    "control exists in the labeling config",
                    name,
                    "export from another label config version?",
                )
                continue
            if kind != control.result_type:
                self._problem(
                    source,
                    where,
                    "type",
                    "type is the result type of the control in the labeling config",
                    kind,
                    f"{name} results are of type {control.result_type!r}",
                )
                continue
            if item["to_name"] != "text":
                self._problem(
                    source,
                    where,
                    "to_name",
                    "to_name is the labeling config's object (text)",
                    item["to_name"],
                    "",
                )
                continue
            if "origin" in item and item["origin"] not in ORIGINS:
                self._problem(
                    source,
                    where,
                    "origin",
                    f"origin is one of {', '.join(sorted(ORIGINS))}",
                    item["origin"],
                    "",
                )
                continue
            if control.kind == "layer":
                if rid in region_ids:
                    self._problem(
                        source, where, "id", "region ids are unique within an annotation", rid, ""
                    )
                    continue
                region_ids.add(rid)
                row = self._span(value, name, where, base, text, source)
                if row is not None:
                    regions[rid] = {**row, "region_id": rid}
                    offsets[rid] = (value["start"], value["end"])
            elif control.kind in ("attribute", "proposal"):
                attribute = self._attribute(control, kind, value, where, item, source)
                if attribute is not None:
                    attrs.setdefault(rid, []).append(attribute)
            else:
                self._document_value(name, kind, value, where, base, documents, source)
        self._attach_attributes(attrs, regions, offsets, rec, source)
        self.regions.extend(regions.values())

    def _span(
        self,
        value: dict[str, Any],
        layer: str,
        where: str,
        base: dict[str, Any],
        text: str,
        source: str,
    ) -> dict[str, Any] | None:
        if not self._fields(value, SPAN_VALUE, source, where, "value.", f"{layer} value"):
            return None
        labels = value["labels"]
        if len(labels) != 1 or not isinstance(labels[0], str):
            self._problem(
                source, where, "value.labels", "exactly one label per region", brief(labels), ""
            )
            return None
        s, e = value["start"], value["end"]
        try:
            start, end = from_label_studio(text, s, e)
        except OffsetError as exc:
            self._problem(
                source, where, "value.start/end", "0 <= start < end <= len(text)", [s, e], str(exc)
            )
            return None
        if start >= end:
            self._problem(
                source,
                where,
                "value.start/end",
                "0 <= start < end <= len(text)",
                [s, e],
                "zero-length or reversed span",
            )
            return None
        hint = value.get("text")
        if hint is not None and not _hint_matches(hint, text, start, end):
            self._problem(
                source,
                where,
                "value.text",
                "text[start:end] == value.text",
                hint,
                f"the article has {text[start:end]!r} there; region rejected, not shifted",
            )
            return None
        return {
            **base,
            "layer": layer,
            "label": labels[0],
            "start": start,
            "end": end,
            "text": text[start:end],
            **dict.fromkeys(ATTRIBUTE_COLUMNS),
        }

    def _attribute(
        self, control: Control, kind: str, value: dict[str, Any], where: str, item: Any, source: str
    ) -> _Attribute | None:
        # A picker (entity_id_GPE) sets its attribute (entity_id); a proposal is its own field.
        name = control.target if control.kind == "attribute" else control.name
        spec = REGION_ATTRIBUTE_VALUE[kind]
        if not self._fields(value, spec, source, where, "value.", f"{name} value"):
            return None
        key = VALUE_KEY[kind]
        raw = value[key]
        if kind == "number":
            v: Any = float(raw)
        else:
            # One choice (single-choice control) or one text (maxSubmissions=1).
            if len(raw) != 1 or not isinstance(raw[0], str):
                self._problem(
                    source,
                    where,
                    f"value.{key}",
                    f"exactly one {key[:-1] if key == 'choices' else key} string per region",
                    brief(raw),
                    f"{name} takes one value per region",
                )
                return None
            v = raw[0]
            if name == "approximate":
                if v not in ("true", "false"):
                    self._problem(source, where, name, "approximate is true or false", v, "")
                    return None
                v = v == "true"
            elif kind == "textarea":
                v = v.strip()  # a typed id or unit: surrounding blanks are never meant
        return _Attribute(name, v, value["start"], value["end"], where, item, control)

    def _attach_attributes(
        self,
        attrs: dict[str, list[_Attribute]],
        regions: dict[str, dict[str, Any]],
        offsets: dict[str, tuple[int, int]],
        rec: str,
        source: str,
    ) -> None:
        for rid, found in attrs.items():
            region = regions.get(rid)
            where = f"{rec}/region {rid}"
            if region is None:
                self._current = {"region_id": rid, "attributes": {a.name: a.value for a in found}}
                self._problem(
                    source,
                    where,
                    "id",
                    "attribute belongs to a region",
                    rid,
                    "per-region attribute without its span (region rejected or missing)",
                )
                continue
            seen: dict[str, _Attribute] = {}  # attribute -> the result that set it
            for a in found:
                self._current = a.item
                field = a.control.name  # the from_name, as the export file has it
                if a.control.layer != region["layer"]:
                    self._problem(
                        source,
                        where,
                        field,
                        "attribute belongs to its region's layer",
                        a.value,
                        f"{a.name} is an attribute of {a.control.layer}, "
                        f"the region is {region['layer']}",
                    )
                elif a.control.label is not None and a.control.label != region["label"]:
                    self._problem(
                        source,
                        where,
                        field,
                        "an id picked from a label's list belongs to a region of that label",
                        a.value,
                        f"picked from the {a.control.label} list, but the region is "
                        f"{region['label']} (relabelled after picking?): pick it again from "
                        f"the {region['label']} list, or clear it",
                    )
                elif (a.start, a.end) != offsets[rid]:
                    self._problem(
                        source,
                        where,
                        f"{field}: value.start/end",
                        "a per-region attribute has its region's start/end",
                        [a.start, a.end],
                        f"the region is at {list(offsets[rid])}",
                    )
                elif a.control.kind == "proposal":
                    self._propose(a, region, where, source)
                elif a.name in seen and not (
                    # the typed id of an older annotation and the same id picked from the
                    # list: one value, said twice
                    seen[a.name].control.name != field and seen[a.name].value == a.value
                ):
                    first = seen[a.name]
                    self._problem(
                        source,
                        where,
                        field,
                        "one value per attribute and region",
                        a.value,
                        f"{a.name} given again ({first.value!r} first, by {first.control.name}); "
                        "which is meant is unknown",
                    )
                else:
                    seen.setdefault(a.name, a)
                    region[a.name] = a.value

    def _propose(self, a: _Attribute, region: dict[str, Any], where: str, source: str) -> None:
        """A registry proposal: kept for ``validate`` to list, never a table value."""
        if a.name in {p["field"] for p in self.proposals if p["record"] == where}:
            self._problem(source, where, a.name, "one value per attribute and region", a.value, "")
            return
        self.proposals.append(
            {
                "file": source,
                "record": where,
                "field": a.name,
                "annotator": region["annotator"],
                "layer": region["layer"],
                "label": region["label"],
                "text": region["text"],
                "proposal": a.value,
            }
        )

    def _document_value(
        self,
        name: str,
        kind: str,
        value: dict[str, Any],
        where: str,
        base: dict[str, Any],
        documents: set[str],
        source: str,
    ) -> None:
        if not self._fields(value, DOCUMENT_VALUE[kind], source, where, "value.", f"{name} value"):
            return
        key = VALUE_KEY[kind]
        values = value[key]
        field_kind = self.document_fields[name].kind
        if not values or not all(isinstance(v, str) for v in values):
            self._problem(
                source,
                where,
                f"value.{key}",
                "article-level values are a non-empty list of strings",
                brief(values),
                "",
            )
            return
        # A single choice, and a TextArea with maxSubmissions="1" (label_config), hold one.
        if field_kind in ("single", "text") and len(values) != 1:
            self._problem(
                source, where, f"value.{key}", f"{name} takes one value", brief(values), ""
            )
            return
        if len(set(values)) != len(values):
            self._problem(
                source, where, f"value.{key}", "values are not repeated", brief(values), ""
            )
            return
        if name in documents:
            self._problem(
                source,
                where,
                "from_name",
                "one result per article-level control and annotation",
                name,
                "two results for the same control; which is meant is unknown",
            )
            return
        documents.add(name)
        for v in values:
            self.choices.append({**base, "field": name, "value": v})

    def _add_relation(
        self,
        item: dict[str, Any],
        rec: str,
        index: int,
        base: dict[str, Any],
        seen: set[tuple[str, str, str]],
        source: str,
    ) -> None:
        if not self._fields(item, RELATION, source, f"{rec}/result[{index}]"):
            return
        frm, to, labels = item["from_id"], item["to_id"], item["labels"]
        where = f"{rec}/relation {frm}->{to}"
        if item["direction"] not in RELATION_DIRECTIONS:
            self._problem(
                source,
                where,
                "direction",
                "relations point from the event (direction right)",
                item["direction"],
                "another direction would swap or blur event and argument",
            )
            return
        if not labels or not all(isinstance(x, str) for x in labels):
            self._problem(
                source, where, "labels", "a relation has an argument role", brief(labels), ""
            )
            return
        if len(labels) != 1:
            # The config's <Relations choice="single">; before it the editor allowed several.
            self._problem(
                source,
                where,
                "labels",
                "one role per relation",
                brief(labels),
                "an argument with several roles is ambiguous: keep one role, or draw one "
                "relation per role",
            )
            return
        key = (frm, to, labels[0])
        if key in seen:
            self._problem(
                source,
                where,
                "labels",
                "relations are unique within an annotation",
                labels[0],
                "the same relation twice would count twice",
            )
            return
        seen.add(key)
        self.relations.append(
            {**base, "from_region_id": frm, "to_region_id": to, "label": labels[0]}
        )

    def tables(self) -> AnnotationTables:
        self._flush()
        frames = {name: joined(self._frames[name], schema) for name, schema in self.shapes.items()}
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
            proposals=self.proposals,
        )


# What `write_bytes_atomic` leaves next to a file when a pull is killed mid-write
# (``.<name>.<8 random characters>.tmp``): an incomplete copy whose complete original, if
# any, is still in place, so it is skipped rather than refused (sahelwire.io.atomic).
ATOMIC_LEFTOVER = re.compile(r"\..+\.json\.[a-z0-9_]{8}\.tmp")


@dataclass(frozen=True)
class NamedFolder:
    """A folder of one file per article, ``<article_id><suffix>``, and the words its rules
    are said in (:func:`named_files`): annotations/exports/ and annotations/decisions/."""

    suffix: str  # ".json"
    leftover: re.Pattern[str]  # what a killed atomic write leaves: skipped
    a_file: str  # "an export"
    files: str  # "export files"
    one_per: str  # "exports are one file per task"
    name_of: str  # "an export file name"
    no_links: str  # "pull never writes links": what writes the folder
    reads: str  # "pull reads and writes only <article_id>.json"


EXPORTS = NamedFolder(
    ".json",
    ATOMIC_LEFTOVER,
    "an export",
    "export files",
    "exports are one file per task",
    "an export file name",
    "pull never writes links",
    "pull reads and writes only <article_id>.json",
)
DECISIONS = NamedFolder(
    ".yaml",
    re.compile(r"\..+\.yaml\.[a-z0-9_]{8}\.tmp"),
    "a decisions file",
    "decisions files",
    "one decisions file per article",
    "a decisions file name",
    "`labelstudio review --pull` and `adjudicate --skeleton` never write links",
    "adjudication reads only <article_id>.yaml",
)


def named_files(
    paths: ProjectPaths, folder: Path, kind: NamedFolder
) -> tuple[list[Path], list[Problem]]:
    """The files of ``folder`` named ``<article_id><suffix>``, and a Problem for every other
    entry (``X.JSON``, ``X.json.bak``, ``X copy.yaml``, a folder, a symlink, a hidden file):
    skipped without a word, its article would silently lose what it was meant to hold; so it
    is refused, named, and left where it is. Only a killed atomic write's leftover is
    skipped (its complete original, if any, is in place)."""
    rel = str(folder.relative_to(paths.root))
    if not folder.exists() and not folder.is_symlink():
        return [], []
    if folder.is_symlink() or not folder.is_dir():
        return [], [Problem(rel, None, None, f"{rel} is a folder", None, "not a folder")]
    files: list[Path] = []
    problems: list[Problem] = []
    suffix = kind.suffix
    for entry in sorted(folder.iterdir()):
        name = entry.name
        if kind.leftover.fullmatch(name):
            continue
        source = f"{rel}/{name}"
        mode = entry.lstat().st_mode
        if stat.S_ISLNK(mode):
            problems.append(
                Problem(
                    source,
                    None,
                    None,
                    f"{kind.a_file} is a regular file, not a symlink",
                    printable(os.readlink(entry)),
                    f"{kind.no_links}; a link may point anywhere, so it is not followed",
                )
            )
        elif not stat.S_ISREG(mode):
            what = "a folder" if stat.S_ISDIR(mode) else "not a regular file"
            problems.append(
                Problem(
                    source,
                    None,
                    None,
                    f"{kind.a_file} is a regular file",
                    None,
                    f"{what} in {rel}/; {kind.one_per}",
                )
            )
        elif name.startswith(".") or not name.endswith(suffix) or name == suffix:
            ext = name.rpartition(".")[2].lower()
            if name.lower().endswith(suffix):
                hint = f"the extension must be lower-case {suffix}"
            elif suffix == ".yaml" and ext == "yml":
                hint = "the extension must be .yaml (not .yml)"
            else:
                hint = f"not {kind.name_of}; move backups and notes out of this folder"
            problems.append(
                Problem(
                    source,
                    None,
                    None,
                    f"{kind.files} are named <article_id>{suffix}",
                    printable(name),
                    f"{hint} ({kind.reads})",
                )
            )
        else:
            files.append(entry)
    return files, problems


def export_files(paths: ProjectPaths) -> tuple[list[Path], list[Problem]]:
    """The export files in annotations/exports/, and a Problem for every other entry
    (:func:`named_files`): an export is a regular file named ``<article_id>.json``."""
    return named_files(paths, paths.exports_dir, EXPORTS)


def has_exports(paths: ProjectPaths) -> bool:
    """Whether annotations/exports/ holds anything to read (or to refuse)."""
    files, problems = export_files(paths)
    return bool(files or problems)


def iter_export_tasks(path: Path) -> Iterator[Any]:
    """Stream the tasks of one Label Studio JSON export list (constant memory per task)."""
    yield from iter_export_list(path)


def collector_for(
    paths: ProjectPaths,
    taxonomy: Taxonomy | None = None,
    texts: Mapping[str, tuple[str, str]] | None = None,
) -> TableCollector:
    """A collector for the project's articles (``texts``: already read, else read now).

    Problems of annotations/annotators.json are the collector's first problems.
    """
    taxonomy = taxonomy or load_taxonomy(paths.taxonomy_file)
    annotators, problems = load_annotators(paths)
    # Texts not handed over are read one task at a time, never the whole corpus at once.
    collector = TableCollector(
        ManifestTexts(paths) if texts is None else texts,
        taxonomy,
        annotators,
        load_source_shapes(paths),
    )
    collector.problems.extend(problems)
    return collector


def _unreadable(source: str, exc: OSError) -> Problem:
    return Problem(source, None, None, "file is readable", None, str(exc))


def decode_task_file(data: bytes, source: str) -> tuple[Any, Problem | None]:
    """The bytes of one pulled task file, strictly decoded; (None, the Problem) if refused."""
    try:
        return loads_document(data), None
    except StrictJSONError as exc:
        return None, Problem(source, exc.record, exc.field, exc.rule, exc.value, exc.message)


def _add_task_file(collector: TableCollector, path: Path, source: str, data: bytes) -> None:
    """One export file's bytes into ``collector`` (everything it finds goes to its Problems)."""
    task, problem = decode_task_file(data, source)
    if problem is not None:
        collector.problems.append(problem)
        return
    data_obj = task.get("data") if isinstance(task, dict) else None
    article = data_obj.get("article_id") if isinstance(data_obj, dict) else None
    if isinstance(article, str) and path.name != f"{article}.json":
        collector.problems.append(
            Problem(
                source,
                f"task {brief(task.get('id'))}",
                "data.article_id",
                "file name is <data.article_id>.json",
                brief(article),
                "pull writes each task to the file of its article; a renamed or "
                "copied file would credit its annotations to the wrong article",
            )
        )
    collector.add_task(task, source)


def read_annotation_tables(
    paths: ProjectPaths,
    taxonomy: Taxonomy | None = None,
    *,
    texts: Mapping[str, tuple[str, str]] | None = None,
    cache: bool | None = None,
) -> AnnotationTables:
    """The tables of every file of annotations/exports/, in file order.

    ``cache``: use the export cache (sahelwire.annotations.export_cache); None follows
    ``SAHELWIRE_EXPORT_CACHE``. With or without it the tables, Problems and rejected
    records are the same; without it every file is parsed, as here.
    """
    if cache if cache is not None else cache_enabled():
        try:
            return _read_with_cache(paths, taxonomy, texts)
        except Uncacheable:
            pass  # no fingerprint to key the cache by: every file is parsed
    collector = collector_for(paths, taxonomy, texts)
    files, problems = export_files(paths)
    collector.problems.extend(problems)
    with paused_gc():
        for path in files:
            source = str(path.relative_to(paths.root))
            try:
                data = path.read_bytes()
            except OSError as exc:
                collector.problems.append(_unreadable(source, exc))
                continue
            _add_task_file(collector, path, source, data)
    return collector.tables()


# -- the cached read ------------------------------------------------------------------------
# TableCollector parses files in order, and five of its checks span files: a later file
# repeating an article, task, annotation, prediction id or annotation UUID of an earlier one
# is refused, naming the earlier file. A stored parse is a file's parse on its own, so it
# records which ids the file asked about and which it took; RecordingCollector keeps the ids
# of the files read so far (stored ones included) and tells when a file asked about an id
# another file had. Such a file's stored parse is not the sequential one: it is parsed again
# in sequence (and that parse, which depends on other files, is not stored).


class _SeenIds(dict[Any, str]):
    """Ids read so far (id -> the file that had it), noting what the current file asks and takes."""

    def __init__(self) -> None:
        super().__init__()
        self.asked: list[Any] = []
        self.claimed: list[Any] = []

    def __contains__(self, key: object) -> bool:
        self.asked.append(key)
        return dict.__contains__(self, key)

    def __setitem__(self, key: Any, value: str) -> None:
        self.claimed.append(key)
        dict.__setitem__(self, key, value)


class _RecordedTexts(Mapping[str, tuple[str, str]]):
    """The raw texts, noting which the current file looked up (and their hashes)."""

    def __init__(self, texts: Mapping[str, tuple[str, str]]) -> None:
        self.texts = texts
        self.read: dict[str, Any] = {}

    def __contains__(self, article_id: object) -> bool:
        if article_id not in self.read:
            # Non-string ids never reach here (the task's fields are checked first); one
            # would make the file unstorable (FileParse.to_json), not wrong.
            self.read[article_id] = (  # type: ignore[index]
                text_dependency(self.texts, article_id) if isinstance(article_id, str) else None
            )
        return article_id in self.texts

    def __getitem__(self, article_id: str) -> tuple[str, str]:
        return self.texts[article_id]

    def __iter__(self) -> Iterator[str]:
        return iter(self.texts)

    def __len__(self) -> int:
        return len(self.texts)


class _RecordedAnnotators(Collection[str]):
    """The known annotator e-mails, noting which the current file asked about."""

    def __init__(self, known: Collection[str]) -> None:
        self.known = frozenset(known)
        self.asked: dict[str, bool] = {}

    def __contains__(self, email: object) -> bool:
        found = email in self.known
        self.asked[email] = found  # type: ignore[index]
        return found

    def __iter__(self) -> Iterator[str]:
        return iter(self.known)

    def __len__(self) -> int:
        return len(self.known)


class RecordingCollector(TableCollector):
    """A TableCollector that tells, per file, what the file's parse produced and read."""

    def __init__(
        self,
        texts: Mapping[str, tuple[str, str]],
        taxonomy: Taxonomy,
        annotators: Collection[str],
        shapes: Shapes,
    ) -> None:
        self.recorded_texts = _RecordedTexts(texts)
        super().__init__(self.recorded_texts, taxonomy, annotators, shapes)
        self.recorded_annotators = _RecordedAnnotators(annotators)
        self.annotators = self.recorded_annotators
        self.seen = {name: _SeenIds() for name in NAMESPACES}
        self._seen_articles = self.seen["articles"]
        self._seen_tasks = self.seen["tasks"]
        self._seen_annotations = self.seen["annotations"]
        self._seen_unique_ids = self.seen["unique_ids"]
        self._seen_predictions = self.seen["predictions"]
        self._flushed = dict.fromkeys(shapes, 0)
        self._start: tuple[dict[str, int], int, int, int, int, int] | None = None

    def _flush(self) -> None:
        for name in self.shapes:
            self._flushed[name] += len(getattr(self, name))
        super()._flush()

    def _row_counts(self) -> dict[str, int]:
        return {name: self._flushed[name] + len(getattr(self, name)) for name in self.shapes}

    def begin_file(self) -> None:
        self._start = (
            self._row_counts(),
            len(self.problems),
            len(self.rejected),
            len(self.proposals),
            self.tasks,
            self.drafts,
        )
        self.recorded_texts.read = {}
        self.recorded_annotators.asked = {}
        for seen in self.seen.values():
            seen.asked, seen.claimed = [], []

    def end_file(self, source: str, file_sha256: str | None) -> tuple[FileParse, bool]:
        """The file's parse since :meth:`begin_file`, and whether it met another file's id."""
        assert self._start is not None
        rows, problems, rejected, proposals, tasks, drafts = self._start
        self._start = None
        now = self._row_counts()
        mine = self.problems[problems:]
        index = {id(p): i for i, p in enumerate(mine)}
        crossed = any(
            dict.__contains__(seen, key) and dict.__getitem__(seen, key) != source
            for seen in self.seen.values()
            for key in seen.asked
        )
        parse = FileParse(
            source=source,
            file_sha256=file_sha256,
            rows={name: (rows[name], now[name]) for name in self.shapes},
            problems=mine,
            rejected=[(index[id(r.problem)], r.record) for r in self.rejected[rejected:]],
            proposals=self.proposals[proposals:],
            tasks=self.tasks - tasks,
            drafts=self.drafts - drafts,
            texts=self.recorded_texts.read,
            annotators=self.recorded_annotators.asked,
            asked={name: seen.asked for name, seen in self.seen.items()},
            claimed={name: seen.claimed for name, seen in self.seen.items()},
        )
        return parse, crossed

    def fits(self, parse: FileParse) -> bool:
        """Whether a stored parse is what this file's parse would be now, in this order."""
        texts, known = self.recorded_texts.texts, self.recorded_annotators.known
        return (
            all(text_dependency(texts, aid) == dep for aid, dep in parse.texts.items())
            and all((email in known) == was for email, was in parse.annotators.items())
            and not any(
                dict.__contains__(self.seen[name], key)
                for name, keys in parse.asked.items()
                for key in keys
            )
        )

    def take_ids(self, parse: FileParse) -> None:
        """The ids a stored parse took, as if the file had been parsed here."""
        for name, keys in parse.claimed.items():
            for key in keys:
                dict.__setitem__(self.seen[name], key, parse.source)

    def parsed_frames(self) -> dict[str, pl.DataFrame]:
        """The rows parsed since the last :meth:`restart`, by table (the parts are not copied)."""
        self._flush()
        return {
            name: pl.concat(self._frames[name], rechunk=False)
            if self._frames[name]
            else pl.DataFrame(schema=schema)
            for name, schema in self.shapes.items()
        }

    def restart(self) -> None:
        """Let go of the rows parsed so far (stored, or handed out in tables): the next
        file's rows start at 0. The ids seen are kept: the rules that span files span chunks."""
        self._flush()
        self._frames = {name: [] for name in self.shapes}
        self._flushed = dict.fromkeys(self.shapes, 0)

    @staticmethod
    def _frames_of(tables: AnnotationTables) -> dict[str, pl.DataFrame]:
        frames = {
            "annotations": tables.annotations,
            "regions": tables.regions,
            "relations": tables.relations,
            "choices": tables.choices,
        }
        assert tables.predictions is not None and tables.prediction_results is not None
        return {
            **frames,
            "predictions": tables.predictions,
            "prediction_results": tables.prediction_results,
        }


@dataclass
class _FileResult:
    parse: FileParse
    frames: Mapping[str, pl.DataFrame] | None  # None: the rows are the collector's
    key: str | None  # None: not to be stored (cross-file ids, unreadable, not storable)
    stored: dict[str, Any] | None = None  # the entry as stored (or to store)
    placed: dict[str, list[int]] = field(default_factory=dict)  # its rows in the result


def _read_with_cache(
    paths: ProjectPaths,
    taxonomy: Taxonomy | None,
    texts: Mapping[str, tuple[str, str]] | None,
) -> AnnotationTables:
    """:func:`read_annotation_tables` through the export cache (same tables and Problems)."""
    (tables,) = _cached_chunks(paths, taxonomy, texts, chunked=False)
    return tables


def read_annotation_chunks(
    paths: ProjectPaths,
    taxonomy: Taxonomy | None = None,
    *,
    texts: Mapping[str, tuple[str, str]] | None = None,
) -> Iterator[AnnotationTables]:
    """The tables of :func:`read_annotation_tables`, a chunk of export files at a time
    (:func:`input_chunks`, in file order), so the whole corpus's rows are never held at once.

    One parse: the rules that span files (ids seen in an earlier file) span chunks too, and
    the chunks' rows, Problems and rejected records one after the other are exactly those of
    :func:`read_annotation_tables`. Every article is in one file (its name is the article's),
    so a chunk holds every annotation of its articles. Without the export cache (or a
    fingerprint to key it by) the corpus is one chunk.
    """
    # The user's settings of the read are checked before any work (exit 2 if unusable).
    input_chunk_bytes()
    parse_workers()
    if cache_enabled():
        try:
            yield from _cached_chunks(paths, taxonomy, texts, chunked=True)
            return
        except Uncacheable:
            pass  # raised before any chunk: every file is parsed, as one chunk
    yield read_annotation_tables(paths, taxonomy, texts=texts, cache=False)


# The inputs are read, validated and adjudicated per chunk of export files of about this many
# MB of JSON (read_annotation_chunks; a larger file is a chunk alone): ≈1 GB of exports parse
# to ≈0.6 GB of tables, so a chunk holds ≈150 MB of them (issue 17 item 3).
INPUT_CHUNK_MB = 256.0
CHUNK_ENV = "SAHELWIRE_INPUT_CHUNK_MB"  # sets it (0: one file per chunk; tests use that)


def input_chunk_bytes() -> int:
    """``SAHELWIRE_INPUT_CHUNK_MB`` in bytes, else :data:`INPUT_CHUNK_MB`'s."""
    raw = os.environ.get(CHUNK_ENV, "").strip()
    if not raw:
        return int(INPUT_CHUNK_MB * 2**20)
    try:
        mb = float(raw)
    except ValueError:
        mb = -1.0
    if not (0 <= mb < 2**40):  # also NaN and inf
        raise EnvironmentSettingError(CHUNK_ENV, raw, "a number of MB, 0 or more")
    return int(mb * 2**20)


def input_chunks(files: list[Path], limit: int | None = None) -> list[list[Path]]:
    """``files`` as consecutive runs (file order) of at most ``limit`` bytes each (default
    :func:`input_chunk_bytes`); a larger file is a run alone. At least one run."""
    limit = input_chunk_bytes() if limit is None else limit
    chunks: list[list[Path]] = [[]]
    size = 0
    for path in files:
        try:
            n = path.stat().st_size
        except OSError:
            n = 0  # the read reports it
        if chunks[-1] and size + n > limit:
            chunks.append([])
            size = 0
        chunks[-1].append(path)
        size += n
    return chunks


def _cached_chunks(
    paths: ProjectPaths,
    taxonomy: Taxonomy | None,
    texts: Mapping[str, tuple[str, str]] | None,
    *,
    chunked: bool,
    share: list[list[Path]] | None = None,
) -> Iterator[AnnotationTables]:
    """The export files' tables through the cache, one per chunk (one chunk unless
    ``chunked``). Raises :class:`Uncacheable` here, before the first chunk is read.

    ``share``: parse and store only these chunks of files, a pack per chunk, removing none
    (a worker of :func:`_prefill`; what it yields is not used).
    """
    taxonomy = taxonomy or load_taxonomy(paths.taxonomy_file)
    annotators, head = load_annotators(paths)
    shapes = load_source_shapes(paths)
    collector = RecordingCollector(
        ManifestTexts(paths) if texts is None else texts, taxonomy, annotators, shapes
    )
    if share is None:
        files, problems = export_files(paths)
        head += problems
        chunks = input_chunks(files) if chunked else [files]
    else:
        chunks = share
    key = fingerprint(paths, taxonomy, shapes)
    hashed: dict[Path, tuple[str, StatKey]] = {}
    index = None
    store = None
    if share is None:
        index = FileHashes.load(cache_dir(paths))
        # One cache for the prefill's look and the read: each pack's metadata is parsed once
        # (opening the cache twice parsed it twice: ≈3.5 s each at 1M, py-spy); the read then
        # opens only the packs the workers wrote.
        store = ExportCache(cache_dir(paths), key, shapes, CacheStats(enabled=True))
        try:
            hashed = _prefill(paths, taxonomy, store, chunks, index)
            store.refresh()
        except BaseException:
            store.close()
            raise
    return _read_chunks(
        paths,
        collector,
        key,
        shapes,
        chunks,
        head,
        worker=share is not None,
        hashed=hashed,
        index=index,
        store=store,
    )


def _read_chunks(
    paths: ProjectPaths,
    collector: RecordingCollector,
    key: str,
    shapes: Shapes,
    chunks: list[list[Path]],
    head: list[Problem],
    *,
    worker: bool,
    hashed: Mapping[Path, tuple[str, StatKey]] | None = None,
    index: FileHashes | None = None,
    store: ExportCache | None = None,
) -> Iterator[AnnotationTables]:
    """``hashed``: sha256 of files already known (:func:`_prefill`; :func:`_read_one`);
    ``index``: where the hashes taken are remembered for the next read, when given;
    ``store``: the cache opened already (closed here), else one is opened."""
    hashed = hashed or {}
    if store is None:
        # A worker's files are in no pack (the parent looked): it only adds its own.
        store = ExportCache(
            cache_dir(paths), key, shapes, CacheStats(enabled=True), existing=not worker
        )
    stats = store.stats
    wait = PREFILL_LOCK_WAIT if worker else 0.0
    limit = input_chunk_bytes()
    pending: list[_FileResult] = []  # parsed here, in the collector, not yet stored
    try:
        for i, chunk in enumerate(chunks):
            last = i == len(chunks) - 1
            # The per-file entries are ~50 small objects each, and with the collector on,
            # every full collection walks all of them (≈2 s at 10k files).
            with paused_gc():
                results = [
                    _read_one(collector, store, stats, path, paths, hashed.get(path), index)
                    for path in chunk
                ]
                parsed = collector.parsed_frames()
                tables = _assemble(parsed, results, head if i == 0 else [], shapes, stats)
                if len(chunks) == 1 and not worker:
                    # One chunk: its tables are every live entry's, so the cache is compacted
                    # when it should be.
                    store.store(
                        [
                            (r.key, r.stored)
                            for r in results
                            if r.frames is None and r.key and r.stored
                        ],
                        parsed,
                        [
                            (r.key, {**r.stored, "rows": r.placed})
                            for r in results
                            if r.key and r.stored
                        ],
                        _frames_of_tables(tables),
                        compact=True,
                    )
                else:
                    # Chunks: no read holds every live entry's rows, so packs are only added
                    # (one per chunk in a worker; one per ≈chunk of files parsed here).
                    pending += [r for r in results if _storable(r)]
                    held = sum(f.estimated_size() for f in parsed.values())
                    if worker or last or held >= limit // 2:
                        if pending:
                            store.store(
                                [(r.key, r.stored) for r in pending if r.key and r.stored],
                                parsed,
                                [],
                                {},
                                compact=False,
                                wait_seconds=wait,
                            )
                        pending = []
                        collector.restart()
                    store.release_frames()
            del parsed
            yield tables
            del tables
        if index is not None:
            index.save(str(path.relative_to(paths.root)) for chunk in chunks for path in chunk)
    finally:
        store.close()
    log.debug(
        "export cache: %d from the cache, %d parsed (%d not storable), %d stored%s",
        len(stats.hits),
        len(stats.parsed),
        len(stats.unstored),
        stats.stored,
        ", compacted" if stats.compacted else "",
        extra={"cache_stats": stats},  # scripts/bench.py reports it
    )


def _storable(result: _FileResult) -> bool:
    """Parsed in this read (its rows are the collector's) and storable."""
    return result.frames is None and bool(result.key) and bool(result.stored)


# -- a cold read on every core --------------------------------------------------------------
# The parse is Python, one core's worth. When many files are not in the cache, worker
# processes parse shares of them first, each storing its own pack; the read above then finds
# them as hits and replays them in file order, so the tables and Problems are exactly those of
# one sequential parse (a stored parse is a file's parse on its own; a file whose ids meet
# another file's is re-parsed in sequence, as for any hit). Workers are spawned, not forked:
# polars' thread pool does not survive a fork.

# Fewer files than this are parsed in this process: starting a worker costs about a second.
PREFILL_MIN_FILES = 200
PREFILL_LOCK_WAIT = 120.0  # seconds a worker waits for another worker's pack write
PREFILL_MODULE = "sahelwire.annotations.prefill"  # the worker's entry point
WORKERS_ENV = "SAHELWIRE_PARSE_WORKERS"  # how many worker processes; 1 parses here only


def parse_workers() -> int:
    """``SAHELWIRE_PARSE_WORKERS``, else the cores this process may run on."""
    raw = os.environ.get(WORKERS_ENV, "").strip()
    if raw:
        if not (raw.isdigit() and 1 <= int(raw) <= 1024):
            raise EnvironmentSettingError(WORKERS_ENV, raw, "a whole number from 1 to 1024")
        return int(raw)
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1


def _prefill(
    paths: ProjectPaths,
    taxonomy: Taxonomy,
    probe: ExportCache,
    chunks: list[list[Path]],
    index: FileHashes,
) -> dict[Path, tuple[str, StatKey]]:
    """Parse the files ``probe`` has no entry for in worker processes, into the cache.

    Returns the sha256 of each file whose hash ``index`` remembers (its stat unchanged) or
    that it read to probe, with the file's :func:`stat_key` taken before the read, so the
    read after it need not read and hash an unchanged file again. A file is read here only
    when ``index`` does not know it and worker processes may run.

    Each worker gets whole chunks (:func:`input_chunks`) and stores a pack per chunk, so a
    worker holds one chunk's parse, and the chunked read then finds a chunk's rows in one pack.
    Only an optimisation: a worker that fails or whose pack is not written leaves its files
    to the sequential read, which parses what it does not find.

    ``probe`` stays open: the caller reads through it after (:meth:`ExportCache.refresh`
    opens the workers' packs) and closes it.
    """
    hashed: dict[Path, tuple[str, StatKey]] = {}
    for chunk in chunks:
        for path in chunk:
            known = index.known(str(path.relative_to(paths.root)), path)
            if known is not None:
                hashed[path] = known[:2]
    workers = parse_workers()
    if workers < 2 or sum(map(len, chunks)) < PREFILL_MIN_FILES:
        return hashed
    missing: list[list[str]] = []
    for chunk in chunks:
        mine = []
        for path in chunk:
            source = str(path.relative_to(paths.root))
            if path in hashed:
                sha = hashed[path][0]
            else:
                try:
                    taken = now_ns()
                    before = stat_key(path)
                    sha = hashlib.sha256(path.read_bytes()).hexdigest()
                except OSError:
                    continue  # the sequential read reports it
                hashed[path] = (sha, before)
                index.note(source, sha, before, taken)
            if not probe.has(probe.key(source, sha)):
                mine.append(str(path))
        if mine:
            missing.append(mine)
    total = sum(map(len, missing))
    workers = min(workers, total // (PREFILL_MIN_FILES // 2))
    if workers < 2:
        return hashed
    if len(missing) == 1:
        # One chunk (a small corpus, or a read that is not chunked): split it, as the
        # parse of two cores is the point.
        only = missing[0]
        size = -(-len(only) // workers)
        missing = [only[i : i + size] for i in range(0, len(only), size)]
    # Contiguous runs of whole chunks, about as many files each: each worker's packs then
    # hold runs of files in file order.
    shares: list[list[list[str]]] = [[] for _ in range(workers)]
    done = 0
    for run in missing:
        shares[min(workers - 1, done * workers // total)].append(run)
        done += len(run)
    shares = [share for share in shares if share]
    # Plain child interpreters, not multiprocessing: its "spawn" re-runs the caller's main
    # script in every worker, and polars' thread pool does not survive a "fork".
    command = [sys.executable, "-m", PREFILL_MODULE, str(paths.root)]
    children: list[tuple[subprocess.Popen[bytes], IO[bytes]]] = []
    with contextlib.ExitStack() as stack:
        try:
            for share in shares:
                err = stack.enter_context(tempfile.TemporaryFile())
                child = subprocess.Popen(
                    command, stdin=subprocess.PIPE, stdout=subprocess.DEVNULL, stderr=err
                )
                children.append((child, err))
                assert child.stdin is not None
                with child.stdin:
                    child.stdin.write(pickle.dumps((taxonomy, share)))
            for child, log_file in children:
                if child.wait():
                    log_file.seek(0)
                    log.debug(
                        "parallel parse worker failed: %s", log_file.read().decode(errors="replace")
                    )
        except OSError as exc:  # an optimisation only: the sequential read still parses
            log.debug("parallel parse skipped: %s", exc)
        finally:
            for child, _ in children:
                if child.poll() is None:
                    child.kill()
                    child.wait()
    return hashed


def prefill_share(root: Path, taxonomy: Taxonomy, share: list[list[str]]) -> None:
    """One worker's share: parse these chunks of files and store a pack per chunk."""
    chunks = [[Path(f) for f in chunk] for chunk in share]
    paths = ProjectPaths(root)
    # The manifest's hashes read quickly: the parent checks every parse against its own
    # texts (ExportCache.get's fits), so a hash read otherwise costs a miss, never a wrong row.
    texts = ManifestTexts.quick(paths)
    for _ in _cached_chunks(paths, taxonomy, texts, chunked=True, share=chunks):
        pass  # each chunk is stored as it is read


def _read_one(
    collector: RecordingCollector,
    store: ExportCache,
    stats: CacheStats,
    path: Path,
    paths: ProjectPaths,
    hashed: tuple[str, StatKey] | None = None,
    index: FileHashes | None = None,
) -> _FileResult:
    """``hashed``: the file's sha256 already known (the prefill's probe or ``index``), with
    its stat then. Used only to look the cache up, and only while the file's stat is
    unchanged; a miss reads, hashes and parses the file as ever (the read and hash of every
    export was done twice per build: ≈6 s at 10k on this machine, ≈1 min at 1M). A hash
    taken here is noted in ``index``."""
    source = str(path.relative_to(paths.root))
    if hashed is not None:
        try:
            unchanged = stat_key(path) == hashed[1]
        except OSError:
            unchanged = False
        if unchanged:
            known = store.key(source, hashed[0])
            hit = store.get(known, collector.fits)
            if hit is not None:
                return _cache_hit(collector, stats, source, hit, known)
    try:
        taken = now_ns()
        before = stat_key(path)
        data = path.read_bytes()
    except OSError as exc:
        collector.begin_file()
        collector.problems.append(_unreadable(source, exc))
        stats.parsed.append(source)
        stats.unstored.append(source)
        return _FileResult(collector.end_file(source, None)[0], None, None)
    sha = hashlib.sha256(data).hexdigest()
    if index is not None:
        index.note(source, sha, before, taken)
    key = store.key(source, sha)
    hit = store.get(key, collector.fits)
    if hit is not None:
        return _cache_hit(collector, stats, source, hit, key)
    collector.begin_file()
    _add_task_file(collector, path, source, data)
    parse, crossed = collector.end_file(source, sha)
    stats.parsed.append(source)
    stored = None
    if not crossed:
        try:
            stored = parse.to_json()
        except Uncacheable:
            stored = None
    if stored is None:
        stats.unstored.append(source)
    return _FileResult(parse, None, key if stored is not None else None, stored)


def _cache_hit(
    collector: RecordingCollector,
    stats: CacheStats,
    source: str,
    hit: tuple[FileParse, dict[str, pl.DataFrame], dict[str, Any]],
    key: str,
) -> _FileResult:
    parse, frames, entry = hit
    collector.take_ids(parse)
    stats.hits.append(source)
    return _FileResult(parse, frames, key, entry)


def _frames_of_tables(tables: AnnotationTables) -> dict[str, pl.DataFrame]:
    return RecordingCollector._frames_of(tables)


def _assemble(
    parsed: Mapping[str, pl.DataFrame],
    results: list[_FileResult],
    head: list[Problem],
    shapes: Shapes,
    stats: CacheStats,
) -> AnnotationTables:
    """The files' rows, Problems and rejected records in file order, as one parse gives them.

    Consecutive files whose rows follow each other in the same tables become one slice,
    so a warm cache of one pack is one slice per table. Each result's ``placed`` gets its
    rows in the returned tables (what a compacted pack holds).
    """
    runs: dict[str, list[list[Any]]] = {name: [] for name in shapes}
    at = dict.fromkeys(shapes, 0)
    problems = list(head)
    rejected: list[RejectedRecord] = []
    proposals: list[dict[str, Any]] = []
    for result in results:
        source = parsed if result.frames is None else result.frames
        placed: dict[str, list[int]] = {}
        for name in shapes:
            start, stop = result.parse.rows.get(name, (0, 0))
            if stop <= start:
                continue
            last = runs[name][-1] if runs[name] else None
            if last is not None and last[0] is source[name] and last[2] == start:
                last[2] = stop
            else:
                runs[name].append([source[name], start, stop])
            placed[name] = [at[name], at[name] + stop - start]
            at[name] += stop - start
        result.placed = placed
        problems += result.parse.problems
        rejected += [RejectedRecord(result.parse.problems[i], r) for i, r in result.parse.rejected]
        proposals += result.parse.proposals
    frames = {
        name: joined([frame.slice(a, b - a) for frame, a, b in runs[name]], schema)
        for name, schema in shapes.items()
    }
    return AnnotationTables(
        annotations=frames["annotations"],
        regions=frames["regions"],
        relations=frames["relations"],
        choices=frames["choices"],
        problems=problems,
        drafts=sum(r.parse.drafts for r in results),
        tasks=sum(r.parse.tasks for r in results),
        rejected=rejected,
        predictions=frames["predictions"],
        prediction_results=frames["prediction_results"],
        proposals=proposals,
        cache=stats,
        files={r.parse.source: FileRows.of(r.key, r.parse) for r in results if r.key},
    )


def joined(parts: list[pl.DataFrame], schema: Mapping[str, Any]) -> pl.DataFrame:
    """``parts`` one after the other: not copied unless they are many (:data:`JOIN_MAX_CHUNKS`)."""
    if not parts:
        return pl.DataFrame(schema=schema)
    frame = pl.concat(parts, rechunk=False)
    return frame.rechunk() if max(frame.n_chunks("all"), default=0) > JOIN_MAX_CHUNKS else frame


def tables_from_tasks(
    tasks: Iterable[Any], collector: TableCollector, source: str
) -> AnnotationTables:
    """Parse a stream of tasks (e.g. :func:`iter_export_tasks`) into tables."""
    try:
        with paused_gc():
            for task in tasks:
                collector.add_task(task, source)
    except ExportListError as exc:
        collector.problems.append(Problem(source, None, exc.field, exc.rule, exc.value, str(exc)))
    except UnicodeDecodeError as exc:
        collector.problems.append(Problem(source, None, None, "file is UTF-8", None, str(exc)))
    return collector.tables()
