"""Annotation worksheets: reviewable YAML an annotator writes, turned into Label Studio results.

A worksheet (``annotations/worksheets/<article_id>.yaml``) names every span by its exact
surface text instead of raw offsets, so a reviewer can read it and a changed article text
cannot silently shift it:

* ``text`` + ``n`` (n-th occurrence, default 1) or ``text`` + ``after`` (first occurrence at
  or after the start of the context string ``after``);
* ``from`` + ``to``: a long zone from the start of ``from`` to the end of the first ``to``
  after it;
* ``all: true``: every whole-word occurrence of ``text`` (skipping occurrences already
  covered by an explicit region with the same layer and label), for frequent mentions such
  as "Niger"; optional ``within: [from, to]`` restricts it to a stretch of the article.

Resolution is strict: a surface string that is not found is an error naming worksheet,
region and rule. The results go to Label Studio as the named annotator's annotation
(``sahelwire labelstudio submit-worksheets``) and come back through ``pull`` like any other
annotation; the published data never reads worksheets directly.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from sahelwire.offsets import to_label_studio
from sahelwire.paths import ProjectPaths

ATTRIBUTE_KINDS = {
    "entity_id": "textarea",
    "event_id": "textarea",
    "realis": "choices",
    "value": "number",
    "unit": "textarea",
    "approximate": "choices",
}


class WorksheetError(ValueError):
    """A worksheet span cannot be resolved against its article."""


@dataclass(frozen=True)
class ResolvedRegion:
    id: str
    layer: str
    label: str
    start: int
    end: int
    attributes: dict[str, Any]


def worksheet_dir(paths: ProjectPaths) -> Path:
    return paths.annotations_dir / "worksheets"


def load_worksheet(paths: ProjectPaths, article_id: str) -> dict[str, Any]:
    path = worksheet_dir(paths) / f"{article_id}.yaml"
    data = yaml.safe_load(path.read_text(encoding="utf-8"))
    if not isinstance(data, dict) or data.get("article_id") != article_id:
        raise WorksheetError(f"{path}: article_id must be {article_id!r}")
    return data


def _find(text: str, needle: str, start: int, where: str) -> int:
    i = text.find(needle, start)
    if i < 0:
        raise WorksheetError(
            f"{where}: {needle!r} not found in the article (rule: span text exists)"
        )
    return i


def _word_spans(text: str, needle: str, lo: int, hi: int) -> list[tuple[int, int]]:
    pattern = re.compile(r"(?<!\w)" + re.escape(needle) + r"(?!\w)")
    return [(m.start(), m.end()) for m in pattern.finditer(text, lo, hi)]


def resolve(text: str, sheet: dict[str, Any], where: str) -> list[ResolvedRegion]:
    explicit: list[ResolvedRegion] = []
    bulk: list[dict[str, Any]] = []
    attrs_keys = set(ATTRIBUTE_KINDS)
    for k, spec in enumerate(sheet.get("regions") or []):
        rwhere = (
            f"{where} region #{k + 1} ({spec.get('id') or spec.get('text') or spec.get('from')!r})"
        )
        if spec.get("all"):
            bulk.append({**spec, "_where": rwhere})
            continue
        if "from" in spec:
            start = _find(text, spec["from"], 0, rwhere)
            end = _find(text, spec["to"], start, rwhere) + len(spec["to"])
        else:
            surface = spec["text"]
            if "after" in spec:
                start = _find(text, surface, _find(text, spec["after"], 0, rwhere), rwhere)
            else:
                start = -1
                for _ in range(int(spec.get("n", 1))):
                    start = _find(text, surface, start + 1, rwhere)
            end = start + len(surface)
        rid = str(spec.get("id") or f"{spec['layer'][:2]}{k + 1}")
        attributes = {a: spec[a] for a in attrs_keys if a in spec}
        explicit.append(ResolvedRegion(rid, spec["layer"], spec["label"], start, end, attributes))
    taken = {(r.layer, r.label, r.start, r.end) for r in explicit}
    regions = list(explicit)
    for spec in bulk:
        lo, hi = 0, len(text)
        if "within" in spec:
            lo = _find(text, spec["within"][0], 0, spec["_where"])
            hi = _find(text, spec["within"][1], lo, spec["_where"]) + len(spec["within"][1])
        spans = _word_spans(text, spec["text"], lo, hi)
        if not spans:
            raise WorksheetError(
                f"{spec['_where']}: no whole-word {spec['text']!r} (rule: span text exists)"
            )
        attributes = {a: spec[a] for a in attrs_keys if a in spec}
        for s, e in spans:
            key = (spec["layer"], spec["label"], s, e)
            # Skip what an explicit or earlier region of the same layer and label already
            # covers ("Miller" inside "Matthew Miller"); other labels may nest.
            if any(t[0] == key[0] and t[1] == key[1] and t[2] < e and s < t[3] for t in taken):
                continue
            taken.add(key)
            rid = f"{spec['layer'][:2]}_{spec['label'].lower()}_{s}"
            regions.append(ResolvedRegion(rid, spec["layer"], spec["label"], s, e, attributes))
    ids = [r.id for r in regions]
    dupes = sorted({i for i in ids if ids.count(i) > 1})
    if dupes:
        raise WorksheetError(f"{where}: region ids used twice: {dupes}")
    return sorted(regions, key=lambda r: (r.start, r.end, r.layer, r.id))


def label_studio_results(text: str, sheet: dict[str, Any], where: str) -> list[dict[str, Any]]:
    """The worksheet as one Label Studio annotation result (docs/label_studio_format.md)."""
    results: list[dict[str, Any]] = []
    for r in resolve(text, sheet, where):
        s, e = to_label_studio(text, r.start, r.end)
        pos = {"start": s, "end": e}
        results.append(
            {
                "id": r.id,
                "from_name": r.layer,
                "to_name": "text",
                "type": "labels",
                "origin": "manual",
                "value": {**pos, "text": text[r.start : r.end], "labels": [r.label]},
            }
        )
        for name, v in sorted(r.attributes.items()):
            kind = ATTRIBUTE_KINDS[name]
            if kind == "number":
                value: dict[str, Any] = {**pos, "number": v}
            elif kind == "choices":
                value = {**pos, "choices": [str(v).lower() if isinstance(v, bool) else str(v)]}
            else:
                value = {**pos, "text": [str(v)]}
            results.append(
                {"id": r.id, "from_name": name, "to_name": "text", "type": kind, "value": value}
            )
    known = {r.id for r in resolve(text, sheet, where)}
    for k, rel in enumerate(sheet.get("relations") or []):
        for end in ("from", "to"):
            if rel[end] not in known:
                raise WorksheetError(f"{where} relation #{k + 1}: no region {rel[end]!r}")
        results.append(
            {
                "type": "relation",
                "from_id": rel["from"],
                "to_id": rel["to"],
                "direction": "right",
                "labels": [rel["label"]],
            }
        )
    for k, (name, v) in enumerate(sorted((sheet.get("document") or {}).items())):
        if name == "notes":
            value = {"text": [str(v).strip()]}
            kind = "textarea"
        else:
            value = {"choices": [str(x) for x in (v if isinstance(v, list) else [v])]}
            kind = "choices"
        results.append(
            {
                "id": f"doc{k + 1}",
                "from_name": name,
                "to_name": "text",
                "type": kind,
                "value": value,
            }
        )
    return results


def worksheet_results(paths: ProjectPaths, article_id: str, text: str) -> list[dict[str, Any]]:
    where = str((worksheet_dir(paths) / f"{article_id}.yaml").relative_to(paths.root))
    return label_studio_results(text, load_worksheet(paths, article_id), where)
