"""Annotation worksheets: reviewable YAML an annotator writes, turned into Label Studio results.

A worksheet (``annotations/worksheets/<annotator>/<article_id>.yaml``, one folder per
annotator account, named by :func:`annotator_handle`) names every span by its exact
surface text instead of raw offsets, so a reviewer can read it and a changed article text
cannot silently shift it (rules for annotators: annotations/GUIDELINES.md):

* ``text`` alone: the surface occurs exactly once in the article (otherwise the worksheet is
  rejected as ambiguous); ``text`` + ``n``: its n-th occurrence; ``text`` + ``after``: its
  first occurrence at or after the start of the unique context string ``after``;
* ``from`` + ``to``: a long zone from the start of ``from`` to the end of the first ``to``
  after it;
* ``all: true``: every whole-word occurrence of ``text`` (optionally ``within: [from, to]``),
  for frequent mentions such as "Niger". An occurrence is skipped where an explicit region
  of the same layer already covers it with the same label ("Miller" inside "Matthew
  Miller") or where nesting inside an explicit region is not allowed by the taxonomy
  ("Africa" inside the PERSON "the top State Department official for Africa").

Resolution is strict: a surface string that is not found or is ambiguous, an unknown key,
layer, label, attribute value, registry id or relation end is a ``WorksheetError`` naming
worksheet, region and rule. The results go to Label Studio as the named annotator's
annotation (``sahelwire labelstudio submit-worksheets``) and come back through ``pull`` like
any other annotation; the published data never reads worksheets directly.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import polars as pl

from sahelwire.io.paths import ProjectPaths
from sahelwire.io.text_files import read_yaml
from sahelwire.labelstudio.controls import attribute_result_type
from sahelwire.labelstudio.label_config import LabelConfig
from sahelwire.labelstudio.offsets import to_label_studio
from sahelwire.raw.manifest import load_articles
from sahelwire.schema.problems import Problem
from sahelwire.schema.registries import Registries, load_registries
from sahelwire.schema.span_rules import check_regions, check_relations, region_schema
from sahelwire.schema.taxonomy import Taxonomy, load_taxonomy

LOCATOR_KEYS = {"id", "layer", "label", "text", "n", "after", "from", "to", "all", "within"}


class WorksheetError(ValueError):
    """A worksheet cannot be resolved against its article or breaks a taxonomy rule."""


def attribute_kinds(taxonomy: Taxonomy) -> dict[str, str]:
    """Worksheet attribute key -> the result type it is written as (the taxonomy's per-region
    attributes, each in its typed control's form; registry ids as typed text)."""
    return {
        attr.name: attribute_result_type(attr)
        for layer in taxonomy.span_layers
        for attr in layer.attributes
    }


def layer_attributes(taxonomy: Taxonomy) -> dict[str, set[str]]:
    """Span layer -> the attribute keys a worksheet region of that layer may carry."""
    return {layer.name: {a.name for a in layer.attributes} for layer in taxonomy.span_layers}


@dataclass(frozen=True)
class ResolvedRegion:
    id: str
    layer: str
    label: str
    start: int
    end: int
    attributes: dict[str, Any]


def annotator_handle(email: str) -> str:
    """The worksheet folder of an annotator: the e-mail's part before ``@``.

    Folders per annotator keep each one's work apart: a second annotator working blind
    never has to open a folder that holds another annotator's worksheets.
    """
    handle = email.split("@", 1)[0]
    if not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9._+-]*", handle):
        raise WorksheetError(f"annotator {email!r}: not an e-mail with a plain local part")
    return handle


def worksheet_root(paths: ProjectPaths) -> Path:
    return paths.annotations_dir / "worksheets"


def worksheet_dir(paths: ProjectPaths, annotator: str) -> Path:
    return worksheet_root(paths) / annotator_handle(annotator)


def worksheet_path(paths: ProjectPaths, article_id: str, annotator: str) -> Path:
    return worksheet_dir(paths, annotator) / f"{article_id}.yaml"


def worksheet_annotators(paths: ProjectPaths) -> list[str]:
    """Known annotators (annotations/annotators.json) that have a worksheet folder."""
    from sahelwire.labelstudio.identity import IdentityError, read_known_annotators

    try:
        known = read_known_annotators(paths)
    except IdentityError as exc:
        raise WorksheetError(str(exc)) from None
    return [email for email in sorted(known) if worksheet_dir(paths, email).is_dir()]


def unclaimed_worksheet_folders(paths: ProjectPaths, annotators: Iterable[str]) -> list[str]:
    """A message for each folder of annotations/worksheets/ that is no annotator's of
    ``annotators``: its worksheets would go unchecked without a word."""
    handles = {annotator_handle(a) for a in annotators}
    root = worksheet_root(paths)
    folders = sorted(p for p in root.iterdir() if p.is_dir()) if root.is_dir() else []
    return [
        f"{folder.relative_to(paths.root)}/: no annotator in annotations/annotators.json has "
        "this handle (rule: one worksheet folder per known annotator); not checked"
        for folder in folders
        if folder.name not in handles
    ]


def _where(paths: ProjectPaths, article_id: str, annotator: str) -> str:
    path = worksheet_path(paths, article_id, annotator)
    try:
        return str(path.relative_to(paths.root))
    except ValueError:
        return str(path)


def load_worksheet(paths: ProjectPaths, article_id: str, annotator: str) -> dict[str, Any]:
    path = worksheet_path(paths, article_id, annotator)
    try:
        data = read_yaml(path)
    except ValueError as exc:  # unreadable, not UTF-8 or not YAML: read_yaml names the file
        raise WorksheetError(str(exc)) from None
    if not isinstance(data, dict) or data.get("article_id") != article_id:
        raise WorksheetError(f"{path}: article_id must be {article_id!r} (rule: one article)")
    return data


def _find(text: str, needle: str, start: int, where: str) -> int:
    i = text.find(needle, start)
    if i < 0:
        raise WorksheetError(
            f"{where}: {needle!r} not found in the article (rule: span text exists)"
        )
    return i


def _unique(text: str, needle: str, where: str, what: str) -> int:
    i = _find(text, needle, 0, where)
    if text.find(needle, i + 1) >= 0:
        count = text.count(needle)
        raise WorksheetError(
            f"{where}: {what} {needle!r} occurs {count} times (rule: a span is unambiguous; "
            "give n or after)"
        )
    return i


def _word_spans(text: str, needle: str, lo: int, hi: int) -> list[tuple[int, int]]:
    pattern = re.compile(r"(?<!\w)" + re.escape(needle) + r"(?!\w)")
    return [(m.start(), m.end()) for m in pattern.finditer(text, lo, hi)]


def _check_spec(spec: Mapping[str, Any], taxonomy: Taxonomy, where: str) -> None:
    kinds, allowed_on = attribute_kinds(taxonomy), layer_attributes(taxonomy)
    unknown = set(spec) - LOCATOR_KEYS - set(kinds)
    if unknown:
        raise WorksheetError(f"{where}: unknown key(s) {sorted(unknown)} (rule: known keys)")
    layer = spec.get("layer")
    if layer not in allowed_on:
        raise WorksheetError(f"{where}: layer {layer!r} (rule: one of {sorted(allowed_on)})")
    wrong = {a for a in kinds if a in spec} - allowed_on[layer]
    if wrong:
        raise WorksheetError(f"{where}: {sorted(wrong)} not allowed on {layer} (rule: attributes)")
    if spec.get("label") not in taxonomy.layer(layer).label_names:
        raise WorksheetError(f"{where}: label {spec.get('label')!r} not in taxonomy layer {layer}")
    for attr in taxonomy.layer(layer).attributes:
        # A closed value set (realis, bound): a given value is one of it. realis is also
        # required; bound is not, because worksheets written before taxonomy 3.0.0 lack it
        # (validate lists such quantities as completeness warnings).
        if attr.values is None or (attr.name not in spec and attr.name != "realis"):
            continue
        if spec.get(attr.name) not in attr.values:
            raise WorksheetError(
                f"{where}: {attr.name} {spec.get(attr.name)!r} not in {list(attr.values)}"
            )
    if layer == "quantities":
        value, approx = spec.get("value"), spec.get("approximate")
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise WorksheetError(f"{where}: value {value!r} (rule: quantities have a number)")
        if not isinstance(approx, bool):
            raise WorksheetError(f"{where}: approximate {approx!r} (rule: true or false)")


def resolve(
    text: str, sheet: Mapping[str, Any], where: str, taxonomy: Taxonomy
) -> list[ResolvedRegion]:
    """Every region of the worksheet with code-point offsets, sorted by position."""
    kinds = attribute_kinds(taxonomy)
    explicit: list[ResolvedRegion] = []
    bulk: list[dict[str, Any]] = []
    for k, spec in enumerate(sheet.get("regions") or []):
        rwhere = (
            f"{where} region #{k + 1} ({spec.get('id') or spec.get('text') or spec.get('from')!r})"
        )
        _check_spec(spec, taxonomy, rwhere)
        if spec.get("all"):
            bulk.append({**spec, "_where": rwhere})
            continue
        if "from" in spec:
            start = _unique(text, spec["from"], rwhere, "zone start")
            end = _find(text, spec["to"], start, rwhere) + len(spec["to"])
        else:
            surface = spec["text"]
            if "after" in spec:
                anchor = _unique(text, spec["after"], rwhere, "context")
                start = _find(text, surface, anchor, rwhere)
            elif "n" in spec:
                start = -1
                for _ in range(int(spec["n"])):
                    start = _find(text, surface, start + 1, rwhere)
            else:
                start = _unique(text, surface, rwhere, "surface")
            end = start + len(surface)
        if text[start:end] != text[start:end].strip():
            raise WorksheetError(f"{rwhere}: span starts or ends with whitespace (rule: trim)")
        if (start > 0 and text[start - 1].isalnum() and text[start].isalnum()) or (
            end < len(text) and text[end - 1].isalnum() and text[end].isalnum()
        ):
            raise WorksheetError(
                f"{rwhere}: {text[start:end]!r} at {start}:{end} cuts a word (rule: whole words)"
            )
        rid = str(spec.get("id") or f"{spec['layer'][:2]}{k + 1}")
        attributes = {a: spec[a] for a in kinds if a in spec}
        explicit.append(ResolvedRegion(rid, spec["layer"], spec["label"], start, end, attributes))
    nesting = set(taxonomy.layer("entities").nesting_allowed)
    regions = list(explicit)
    taken = [(r.layer, r.label, r.start, r.end) for r in explicit]
    for spec in bulk:
        lo, hi = 0, len(text)
        if "within" in spec:
            lo = _unique(text, spec["within"][0], spec["_where"], "within start")
            hi = _find(text, spec["within"][1], lo, spec["_where"]) + len(spec["within"][1])
        spans = _word_spans(text, spec["text"], lo, hi)
        if not spans:
            raise WorksheetError(
                f"{spec['_where']}: no whole-word {spec['text']!r} (rule: span text exists)"
            )
        attributes = {a: spec[a] for a in kinds if a in spec}
        for s, e in spans:
            if _covered(taken, explicit, nesting, spec["layer"], spec["label"], s, e):
                continue
            taken.append((spec["layer"], spec["label"], s, e))
            rid = f"{spec['layer'][:2]}_{spec['label'].lower()}_{s}"
            regions.append(ResolvedRegion(rid, spec["layer"], spec["label"], s, e, attributes))
    ids = [r.id for r in regions]
    dupes = sorted({i for i in ids if ids.count(i) > 1})
    if dupes:
        raise WorksheetError(f"{where}: region ids used twice: {dupes} (rule: unique ids)")
    return sorted(regions, key=lambda r: (r.start, r.end, r.layer, r.id))


def _covered(
    taken: list[tuple[str, str, int, int]],
    explicit: list[ResolvedRegion],
    nesting: set[tuple[str, str]],
    layer: str,
    label: str,
    s: int,
    e: int,
) -> bool:
    """Whether an ``all`` occurrence is already covered or may not nest where it is."""
    if any(t[0] == layer and t[1] == label and t[2] < e and s < t[3] for t in taken):
        return True
    if layer != "entities" or not nesting:
        return False
    return any(
        r.layer == layer and r.start <= s and e <= r.end and (r.label, label) not in nesting
        for r in explicit
        if (r.start, r.end) != (s, e)
    )


def _relations(
    sheet: Mapping[str, Any], regions: Iterable[ResolvedRegion], where: str, taxonomy: Taxonomy
) -> list[dict[str, Any]]:
    by_id = {r.id: r for r in regions}
    events = taxonomy.layer("events")
    out = []
    for k, rel in enumerate(sheet.get("relations") or []):
        rwhere = f"{where} relation #{k + 1} ({rel.get('from')} -> {rel.get('to')})"
        for end in ("from", "to"):
            if rel.get(end) not in by_id:
                raise WorksheetError(
                    f"{rwhere}: no region {rel.get(end)!r} (rule: relation ends exist)"
                )
        src, dst = by_id[rel["from"]], by_id[rel["to"]]
        if src.layer != "events" or dst.layer not in ("entities", "quantities"):
            raise WorksheetError(
                f"{rwhere}: {src.layer} -> {dst.layer} (rule: event -> entity/quantity)"
            )
        # The role's targets in the taxonomy: TIME joins an event to a DURATION or
        # TIME_OFFSET quantity only, and no other role points at those.
        role = str(rel.get("label"))
        if not events.role_allows(role, dst.layer, dst.label):
            targets = next((r.targets for r in events.relation_labels if r.name == role), None)
            rule = (
                f"{role} points to {', '.join(targets) or 'any argument layer'}"
                if targets is not None
                else f"a role of {[r.name for r in events.relation_labels]}"
            )
            raise WorksheetError(f"{rwhere}: {role} -> {dst.layer}.{dst.label} (rule: {rule})")
        out.append(dict(rel))
    return out


def label_studio_results(
    text: str,
    sheet: Mapping[str, Any],
    where: str,
    taxonomy: Taxonomy,
    config: LabelConfig | None = None,
) -> list[dict[str, Any]]:
    """The worksheet as one Label Studio annotation result (docs/label_studio_format.md).

    With ``config``, attributes are written as that labeling config has them (registry ids
    into its lists); without, in the typed form every config also reads.
    """
    regions = resolve(text, sheet, where, taxonomy)
    kinds = attribute_kinds(taxonomy)
    results: list[dict[str, Any]] = []
    for r in regions:
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
            if config is not None:
                results.append(config.attribute_item(r.id, r.layer, r.label, name, v, pos))
                continue
            kind = kinds[name]
            if kind == "number":
                value: dict[str, Any] = {**pos, "number": v}
            elif kind == "choices":
                value = {**pos, "choices": [str(v).lower() if isinstance(v, bool) else str(v)]}
            else:
                value = {**pos, "text": [str(v)]}
            results.append(
                {"id": r.id, "from_name": name, "to_name": "text", "type": kind, "value": value}
            )
    for rel in _relations(sheet, regions, where, taxonomy):
        results.append(
            {
                "type": "relation",
                "from_id": rel["from"],
                "to_id": rel["to"],
                "direction": "right",
                "labels": [rel["label"]],
            }
        )
    document = sheet.get("document") or {}
    for k, (name, v) in enumerate(sorted(document.items())):
        if name == "notes":
            value = {"text": [str(v).strip()]}
            kind = "textarea"
        else:
            choices = [str(x) for x in (v if isinstance(v, list) else [v])]
            field = taxonomy.document_field(name)
            bad = [c for c in choices if c not in field.value_names]
            if bad or (field.kind == "single" and len(choices) != 1):
                raise WorksheetError(
                    f"{where} document {name}: {choices} (rule: {field.kind} choice of "
                    f"{list(field.value_names)})"
                )
            value = {"choices": choices}
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


def _article_text(paths: ProjectPaths, article_id: str, annotator: str) -> str:
    for article in load_articles(paths):
        if article.id == article_id:
            return article.text
    where = _where(paths, article_id, annotator)
    raise WorksheetError(f"{where}: no article {article_id!r} in the manifest")


def worksheet_results(
    paths: ProjectPaths, article_id: str, annotator: str, text: str | None = None
) -> list[dict[str, Any]]:
    """Label Studio results for one article's worksheet by ``annotator``, checked against the
    taxonomy. One call per task when posting to a real server.
    """
    if text is None:
        text = _article_text(paths, article_id, annotator)
    config = LabelConfig.load(paths)
    sheet = load_worksheet(paths, article_id, annotator)
    where = _where(paths, article_id, annotator)
    return label_studio_results(text, sheet, where, config.taxonomy, config)


def worksheet_tables(
    paths: ProjectPaths, annotator: str, article_ids: Iterable[str] | None = None
) -> tuple[pl.DataFrame, pl.DataFrame]:
    """Resolved worksheets as flat region and relation tables (span_rules' column names).

    ``annotation_id`` is the article id: one worksheet is one annotation.
    """
    texts = {a.id: a.text for a in load_articles(paths)}
    taxonomy = load_taxonomy(paths.taxonomy_file)
    ids = (
        list(article_ids)
        if article_ids is not None
        else sorted(p.stem for p in worksheet_dir(paths, annotator).glob("*.yaml"))
    )
    regions: list[dict[str, Any]] = []
    relations: list[dict[str, Any]] = []
    for aid in ids:
        if aid not in texts:
            where = _where(paths, aid, annotator)
            raise WorksheetError(f"{where}: no article {aid!r} in the manifest")
        text, sheet = texts[aid], load_worksheet(paths, aid, annotator)
        where = _where(paths, aid, annotator)
        resolved = resolve(text, sheet, where, taxonomy)
        for r in resolved:
            a = r.attributes
            regions.append(
                {
                    "annotation_id": aid,
                    "article_id": aid,
                    "region_id": r.id,
                    "layer": r.layer,
                    "label": r.label,
                    "start": r.start,
                    "end": r.end,
                    "text": text[r.start : r.end],
                    "entity_id": a.get("entity_id"),
                    "event_id": a.get("event_id"),
                    "realis": a.get("realis"),
                    "value": None if a.get("value") is None else float(a["value"]),
                    "unit": a.get("unit"),
                    "approximate": a.get("approximate"),
                    "bound": a.get("bound"),
                }
            )
        for rel in _relations(sheet, resolved, where, taxonomy):
            relations.append(
                {
                    "annotation_id": aid,
                    "article_id": aid,
                    "from_region_id": rel["from"],
                    "to_region_id": rel["to"],
                    "label": rel["label"],
                }
            )
    schema = region_schema("annotation_id", "article_id", "region_id")
    rel_schema = {
        "annotation_id": pl.Utf8, "article_id": pl.Utf8, "from_region_id": pl.Utf8,
        "to_region_id": pl.Utf8, "label": pl.Utf8,
    }  # fmt: skip
    return pl.DataFrame(regions, schema=schema), pl.DataFrame(relations, schema=rel_schema)


def check_worksheets(
    paths: ProjectPaths,
    annotator: str,
    article_ids: Iterable[str] | None = None,
    registries: Registries | None = None,
) -> list[Problem]:
    """span_rules over the resolved worksheets: slices, overlaps, nesting, registry ids."""
    regions, relations = worksheet_tables(paths, annotator, article_ids)
    texts = {a.id: a.text for a in load_articles(paths)}
    taxonomy = load_taxonomy(paths.taxonomy_file)
    regs = registries if registries is not None else load_registries(paths)
    file = str(worksheet_dir(paths, annotator).relative_to(paths.root))
    return check_regions(regions, texts, taxonomy, regs, file=file) + check_relations(
        relations, regions, taxonomy, file=file
    )
