"""Columns added to a layer are a schema change, not an edit of every annotation in it.

Walkthrough D13: `diff v0.1.0 v0.2.0` (and the 0.2.0 CHANGELOG entry) said all 161 GPE
mentions -- 416 gold annotations in all -- "changed", because v0.2.0 added `mention_id`
and `zone` to every span and the index held one digest over all of a span's columns.
Now each span also has a short digest per column, and a diff compares two releases on
the columns both have; the added columns are listed once, under Schema.
"""

from __future__ import annotations

import copy
import json
from typing import Any

from helpers import ROOT
from sahelwire.versions.data_diff import (
    _digest,
    _field_digests,
    diff_indexes,
    diff_json,
    render_diff,
)

V010 = json.loads((ROOT / "releases" / "v0.1.0.json").read_text(encoding="utf-8"))
V020 = json.loads((ROOT / "releases" / "v0.2.0.json").read_text(encoding="utf-8"))


def test_the_released_v0_2_0_diff_no_longer_calls_untouched_mentions_changed() -> None:
    diff = diff_indexes(V010, V020)
    changed = {
        (layer, label): c["changed"]
        for layer, by_label in diff.annotations.items()
        for label, c in by_label.items()
        if c["changed"]
    }
    # before: GPE 161, PERSON 27, LOC 12, HEADLINE 4 ... 416 in all
    assert ("entities", "GPE") not in changed and ("zones", "HEADLINE") not in changed
    # what is left changed is what the digests prove: article labels, relabelled frames
    assert set(layer for layer, _ in changed) == {"article_labels"}
    assert diff.annotation_totals["added"] == 44 and diff.annotation_totals["removed"] == 11
    # the manifests of v0.1.0 and v0.2.0 hold one digest per span: the spans whose layer
    # gained columns cannot be compared on the old ones, and the diff says so, once
    assert diff.not_compared["entities"] == (279, ["+mention_id", "+zone"])
    text = render_diff(diff)
    assert "Not compared (kept their place and label; the layer's columns changed" in text
    assert "entities 279 (+mention_id, +zone)" in text
    assert "`documents.entities[].mention_id`: column added" in text  # under Schema
    assert diff_json(diff)["not_compared"]["zones"] == {"count": 14, "columns": ["+mention_id"]}


def _index(fields: list[str], spans: dict[str, dict[str, Any]]) -> dict[str, Any]:
    """A manifest whose `documents.entities` spans have ``fields`` (as content_index writes)."""
    manifest = copy.deepcopy(V010)
    struct = {name: {"_type": "Value", "dtype": "string"} for name in fields}
    manifest["content"]["features"] = {
        "documents": {"entities": {"_type": "List", "feature": struct}}
    }
    manifest["content"]["annotations"] = {
        "entities": {
            key: [span["label"], _digest(span), _field_digests(span)] for key, span in spans.items()
        }
    }
    return manifest


def test_with_per_column_digests_only_a_shared_column_that_differs_is_a_change() -> None:
    old_fields = ["end", "label", "start", "text"]
    new_fields = [*old_fields, "mention_id", "zone"]
    same = {"start": 0, "end": 5, "label": "GPE", "text": "Niger"}
    edited = {"start": 9, "end": 14, "label": "GPE", "text": "Niamey"}
    old = _index(old_fields, {"a:0:5": same, "a:9:14": edited})
    new = _index(
        new_fields,
        {
            "a:0:5": {**same, "mention_id": "m1", "zone": "BODY"},
            "a:9:14": {**edited, "text": "Niamey.", "mention_id": "m2", "zone": "BODY"},
        },
    )
    diff = diff_indexes(old, new)
    assert diff.annotations == {"entities": {"GPE": {"changed": 1}}}
    assert diff.not_compared == {}
    text = render_diff(diff)
    assert "| entities | `GPE` | 0 | 0 | 1 |" in text and "Not compared" not in text
    assert "- entities `GPE` changed: `a:9:14`\n" in text  # which one (walkthrough D7)
    assert "`documents.entities[].mention_id`: column added" in text
