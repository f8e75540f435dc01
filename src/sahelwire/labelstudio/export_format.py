"""Every key a Label Studio JSON export writes, with the JSON types it allows.

Read from the pinned server's own code (label_studio 1.23): the export serializers
(``data_export/serializers.py``: ``BaseExportDataSerializer`` is the task, ``Meta.exclude`` =
``overlap``, ``is_labeled``, ``precomputed_agreement``; ``AnnotationSerializer`` has
``fields = '__all__'`` of ``tasks.models.Annotation``; ``CompletedBySerializer`` when
``completed_by`` is expanded), ``tasks/serializers.py`` (``PredictionSerializer`` and
``AnnotationDraftSerializer``, expanded by ``labelstudio pull``) and the model fields behind
them (``tasks/models.py``: nullability decides whether ``null`` is allowed). The result items
are the labeling frontend's for a ``<Text>`` object (docs/label_studio_format.md).

The export parser (:mod:`sahelwire.annotations.tables`) refuses a key that is not listed
here and a value whose JSON type is not listed for its key: whatever the reader does not
fully understand is refused, never ignored or guessed. ``bool`` is never an ``int`` (JSON
``true`` is not ``1``), an ``int`` must fit in a signed 64-bit integer (the table columns'
type), and a ``number`` is finite (an integer counts only while a float64 holds it exactly).

Adding a key (a new Label Studio version, or a key ``labelstudio pull`` records itself) means
adding it here, with where it comes from.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from datetime import datetime
from typing import Any

INT64_MIN, INT64_MAX = -(2**63), 2**63 - 1
FLOAT_EXACT_INT = 2**53  # larger integers change when stored as float64

INT, BOOL, STR, NULL, NUMBER, OBJECT, LIST = (
    "int",
    "bool",
    "string",
    "null",
    "number",
    "object",
    "list",
)
Kinds = tuple[str, ...]

# The task (BaseExportDataSerializer over tasks.models.Task). `state` is the FSM state, only
# written when its feature flags are on.
TASK_FIELDS: Mapping[str, Kinds] = {
    "id": (INT,),
    "data": (OBJECT,),
    "meta": (OBJECT, NULL),
    "annotations": (LIST,),
    "drafts": (LIST,),
    "predictions": (LIST,),
    "project": (INT, NULL),
    "created_at": (STR,),
    "updated_at": (STR,),
    "updated_by": (INT, NULL),
    "allow_skip": (BOOL, NULL),
    "file_upload": (STR, NULL),
    "inner_id": (INT, NULL),
    "total_annotations": (INT,),
    "cancelled_annotations": (INT,),
    "total_predictions": (INT,),
    "comment_count": (INT,),
    "unresolved_comment_count": (INT,),
    "comment_authors": (LIST,),
    "last_comment_updated_at": (STR, NULL),
    "state": (STR, NULL),
}
TASK_REQUIRED = ("id", "data", "annotations")

# task.data: exactly what `labelstudio push` sends (docs/label_studio_format.md, Tasks).
DATA_FIELDS: Mapping[str, Kinds] = {
    "article_id": (STR,),
    "text": (STR,),
    "text_sha256": (STR,),
}
DATA_REQUIRED = tuple(DATA_FIELDS)

# One annotation (AnnotationSerializer, fields='__all__' of tasks.models.Annotation).
# `completed_by` is a user id in a server's export; in the repository form that pull writes
# (sahelwire.labelstudio.identity) it is {"email": ...}, and identity decides who it names.
ANNOTATION_FIELDS: Mapping[str, Kinds] = {
    "id": (INT,),
    "completed_by": (INT, OBJECT),
    "result": (LIST,),
    "was_cancelled": (BOOL,),
    "ground_truth": (BOOL,),
    "created_at": (STR,),
    "updated_at": (STR,),
    "draft_created_at": (STR, NULL),
    "lead_time": (NUMBER, NULL),
    "prediction": (OBJECT, NULL),
    "result_count": (INT,),
    "parent_prediction": (INT, NULL),
    "parent_annotation": (INT, NULL),
    "unique_id": (STR, NULL),
    "import_id": (INT, NULL),
    "last_action": (STR, NULL),
    "last_created_by": (INT, NULL),
    "bulk_created": (BOOL, NULL),
    "project": (INT, NULL),
    "task": (INT, NULL),
    "updated_by": (INT, NULL),
    "state": (STR, NULL),
}
# What the tables are made of: without any of these an annotation cannot be read as meant
# (a missing `was_cancelled` would publish a skipped annotation as gold).
ANNOTATION_REQUIRED = (
    "id",
    "completed_by",
    "result",
    "was_cancelled",
    "ground_truth",
    "created_at",
    "updated_at",
)

# PredictionSerializer (fields='__all__' of tasks.models.Prediction, plus created_ago).
PREDICTION_FIELDS: Mapping[str, Kinds] = {
    "id": (INT,),
    "result": (LIST,),
    "score": (NUMBER, NULL),
    "model_version": (STR, NULL),
    "model": (INT, NULL),
    "model_run": (INT, NULL),
    "cluster": (INT, NULL),
    "neighbors": (OBJECT, LIST, NULL),
    "mislabeling": (NUMBER,),
    "task": (INT,),
    "project": (INT, NULL),
    "created_at": (STR,),
    "updated_at": (STR,),
    "created_ago": (STR,),
}
# `push --from-release` marks each result item of its predictions with where the item comes
# from ({"release": tag, "items": [...]}: who made it). Label Studio keeps the key on a
# prediction (never on an annotation: the editor copies only result fields), pull keeps it in
# the repository, and the parser reads a prediction's items without it.
PROVENANCE_KEY = "sahelwire"
# Published in annotations_raw (provenance): what a row needs is required.
PREDICTION_REQUIRED = ("id", "result", "created_at", "updated_at")

# AnnotationDraftSerializer (fields='__all__' of tasks.models.AnnotationDraft, plus
# created_username, created_ago; `user` is rendered as a string).
DRAFT_FIELDS: Mapping[str, Kinds] = {
    "id": (INT,),
    "result": (LIST,),
    "lead_time": (NUMBER, NULL),
    "task": (INT, NULL),
    "annotation": (INT, NULL),
    "user": (STR, INT, NULL),
    "was_postponed": (BOOL,),
    "import_id": (INT, NULL),
    "created_at": (STR,),
    "updated_at": (STR,),
    "created_username": (STR,),
    "created_ago": (STR,),
    "state": (STR, NULL),
}
DRAFT_REQUIRED = ("id",)

# A result item of a region (span, per-region attribute or article-level control) as the
# frontend writes it for a <Text> object; `score` and `readonly` come with imported
# predictions.
REGION_ITEM_FIELDS: Mapping[str, Kinds] = {
    "id": (STR,),
    "from_name": (STR,),
    "to_name": (STR,),
    "type": (STR,),
    "value": (OBJECT,),
    "origin": (STR,),
    "score": (NUMBER, NULL),
    "readonly": (BOOL,),
}
REGION_ITEM_REQUIRED = ("id", "from_name", "to_name", "type", "value")
ORIGINS = frozenset({"manual", "prediction", "prediction-changed"})

# A relation result item (<Relations>): from_id -> to_id, "right" being the only direction
# whose meaning (event -> argument) the tables record.
RELATION_FIELDS: Mapping[str, Kinds] = {
    "type": (STR,),
    "from_id": (STR,),
    "to_id": (STR,),
    "direction": (STR,),
    "labels": (LIST,),
}
RELATION_REQUIRED = ("type", "from_id", "to_id", "direction", "labels")
RELATION_DIRECTIONS = frozenset({"right"})

# `value` of each kind of result item, by the control's result type. Offsets are integers
# (code units of the frontend, docs/offsets.md); `text` of a span is the frontend's copy of
# the selected text (a hint, checked against the article).
SPAN_VALUE_FIELDS: Mapping[str, Kinds] = {
    "start": (INT,),
    "end": (INT,),
    "text": (STR,),
    "labels": (LIST,),
}
SPAN_VALUE_REQUIRED = ("start", "end", "labels")
# The labeling editor also copies the region's selected text into a per-region choices or
# number value when an annotator submits (seen in a real browser: tests/versions/
# test_reopen.py's editor test); like a span's `text` it is the frontend's copy, unused.
REGION_ATTRIBUTE_VALUE_FIELDS: Mapping[str, Mapping[str, Kinds]] = {
    "choices": {"start": (INT,), "end": (INT,), "text": (STR,), "choices": (LIST,)},
    "textarea": {"start": (INT,), "end": (INT,), "text": (LIST,)},
    "number": {"start": (INT,), "end": (INT,), "text": (STR,), "number": (NUMBER,)},
}
DOCUMENT_VALUE_FIELDS: Mapping[str, Mapping[str, Kinds]] = {
    "choices": {"choices": (LIST,)},
    "textarea": {"text": (LIST,)},
}
# The one value key of each result type (what the annotator chose, typed or entered).
VALUE_KEY = {"choices": "choices", "textarea": "text", "number": "number", "labels": "labels"}

# Label Studio's timestamps as exported (Django's DateTimeField in UTC, ISO 8601 with "Z").
# Adjudication orders an annotator's annotations by `updated_at` as text, which is the time
# order only in this one format.
TIMESTAMP = re.compile(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(?:\.\d{1,6})?Z")


def timestamp_ok(value: str) -> bool:
    if not TIMESTAMP.fullmatch(value):
        return False
    try:
        datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:  # e.g. month 13
        return False
    return True


def kind_of(value: Any) -> str:
    """The JSON type name of a decoded value (``int`` and ``bool`` kept apart)."""
    if value is None:
        return NULL
    t = type(value)
    if t is bool:
        return BOOL
    if t is int:
        return INT
    if t is float:
        return NUMBER
    if t is str:
        return STR
    if t is dict:
        return OBJECT
    if t is list:
        return LIST
    return t.__name__


def fits(value: Any, kinds: Kinds) -> bool:
    """``value`` is one of ``kinds`` (ints within int64; numbers finite and exact)."""
    t = type(value)
    if t is int:
        if INT in kinds and INT64_MIN <= value <= INT64_MAX:
            return True
        return NUMBER in kinds and -FLOAT_EXACT_INT <= value <= FLOAT_EXACT_INT
    if t is float:
        return NUMBER in kinds and math.isfinite(value)
    return kind_of(value) in kinds


def describe(kinds: Kinds) -> str:
    names = {
        INT: "an integer (64-bit)",
        BOOL: "true/false",
        STR: "a string",
        NULL: "null",
        NUMBER: "a finite number",
        OBJECT: "an object",
        LIST: "a list",
    }
    return " or ".join(names[k] for k in kinds)


def field_problems(
    obj: Mapping[str, Any],
    fields: Mapping[str, Kinds],
    required: tuple[str, ...],
    what: str,
    prefix: str = "",
) -> list[tuple[str, str, Any, str]]:
    """(field, rule, value, message) for every unknown, missing or mistyped key of ``obj``.

    ``prefix`` is put before each field name (``value.`` for the keys of a result's value).
    """
    out: list[tuple[str, str, Any, str]] = []
    for key in obj.keys() - fields.keys():
        out.append(
            (
                prefix + key,
                f"every key is a Label Studio {what} field",
                key,
                f"Label Studio writes no {key!r} in a {what}; refused rather than ignored",
            )
        )
    for key in required:
        if key not in obj:
            article = "an" if what[0] in "aeiou" else "a"
            out.append((prefix + key, f"{article} {what} has {key}", None, "missing"))
    for key, kinds in fields.items():
        if key in obj and not fits(obj[key], kinds):
            value = obj[key]
            found = kind_of(value)
            if found == INT and len(str(value)) > 20:
                value = f"{str(value)[:20]}… ({len(str(value))} digits)"
            note = (
                " (beyond a signed 64-bit integer)"
                if found == INT and INT in kinds
                else " (too large for a float64 to hold exactly)"
                if found == INT and NUMBER in kinds
                else ""
            )
            out.append(
                (
                    prefix + key,
                    f"{prefix}{key} is {describe(kinds)}",
                    value if found in (INT, NUMBER, BOOL, NULL) else _short(value),
                    f"found {found}{note}",
                )
            )
    out.sort(key=lambda p: p[0])
    return out


_PYTHON_TYPES: Mapping[str, tuple[type, ...]] = {
    INT: (int,),
    BOOL: (bool,),
    STR: (str,),
    NULL: (type(None),),
    NUMBER: (int, float),
    OBJECT: (dict,),
    LIST: (list,),
}


class Spec:
    """One kind of exported object: its keys, their JSON types and the required keys.

    :meth:`conforms` is the fast check run on every object (one pass over its items, no
    function call per value); :meth:`problems` explains a failure and runs only then.
    """

    def __init__(
        self, what: str, fields: Mapping[str, Kinds], required: tuple[str, ...] | None = None
    ) -> None:
        self.what = what
        self.fields = fields
        self.required = tuple(fields) if required is None else required
        self._required = frozenset(self.required)
        self._types = {
            key: frozenset(t for kind in kinds for t in _PYTHON_TYPES[kind])
            for key, kinds in fields.items()
        }
        self._int_range = {
            key: (INT64_MIN, INT64_MAX) if INT in kinds else (-FLOAT_EXACT_INT, FLOAT_EXACT_INT)
            for key, kinds in fields.items()
        }

    def conforms(self, obj: Mapping[str, Any]) -> bool:
        types, ranges = self._types, self._int_range
        for key, value in obj.items():
            allowed = types.get(key)
            if allowed is None:
                return False
            t = type(value)
            if t not in allowed:
                return False
            if t is int:
                low, high = ranges[key]
                if value < low or value > high:
                    return False
            elif t is float and not -math.inf < value < math.inf:  # NaN fails too
                return False
        return obj.keys() >= self._required

    def problems(
        self, obj: Mapping[str, Any], prefix: str = "", what: str | None = None
    ) -> list[tuple[str, str, Any, str]]:
        return field_problems(obj, self.fields, self.required, what or self.what, prefix)


def _short(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 80 else text[:80] + "…"


TASK = Spec("task", TASK_FIELDS, TASK_REQUIRED)
DATA = Spec("task data", DATA_FIELDS, DATA_REQUIRED)
ANNOTATION = Spec("annotation", ANNOTATION_FIELDS, ANNOTATION_REQUIRED)
PREDICTION = Spec("prediction", PREDICTION_FIELDS, PREDICTION_REQUIRED)
DRAFT = Spec("draft", DRAFT_FIELDS, DRAFT_REQUIRED)
REGION_ITEM = Spec("result item", REGION_ITEM_FIELDS, REGION_ITEM_REQUIRED)
RELATION = Spec("relation", RELATION_FIELDS, RELATION_REQUIRED)
SPAN_VALUE = Spec("span value", SPAN_VALUE_FIELDS, SPAN_VALUE_REQUIRED)
REGION_ATTRIBUTE_VALUE = {
    kind: Spec(
        f"{kind} value",
        fields,
        # the editor's copy of the selected text may be absent (API-made annotations)
        tuple(k for k in fields if not (k == "text" and kind != "textarea")),
    )
    for kind, fields in REGION_ATTRIBUTE_VALUE_FIELDS.items()
}
DOCUMENT_VALUE = {
    kind: Spec(f"{kind} value", fields) for kind, fields in DOCUMENT_VALUE_FIELDS.items()
}
