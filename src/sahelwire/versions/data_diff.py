"""What changed between two releases: articles, gold annotations per layer and label, schema.

Both sides are *content indexes* (see :func:`content_index`) stored in the release
manifests, so any two releases can be diffed from committed JSON alone, without checking
out and rebuilding an old tag (whose code might not run any more, or whose build would
depend on the current code's interpretation of old inputs). The index is compact: one
short digest per article and per gold annotation, keyed by a stable identity
(article, layer, start, end), so an edit shows up as "changed" rather than as a removal
plus an addition.

The index is computed from the published Parquet bytes (the ``documents`` config carries
every gold layer and the article-level labels; the Hugging Face features in each file's
schema metadata turn class ids back into label names), so it describes exactly what was
released.
"""

from __future__ import annotations

import hashlib
import io
import json
import re
from collections import Counter, defaultdict
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import pyarrow.parquet as pq

from sahelwire.io.config import SPLITS
from sahelwire.io.markdown import markdown_table

LEVELS = ("patch", "minor", "major")
KINDS = ("added", "removed", "changed")
# Keys shown per layer, label and kind in the text diff (and the CHANGELOG); --json has all.
SHOWN_IDS = 5


def _digest(value: Any) -> str:
    data = json.dumps(value, sort_keys=True, ensure_ascii=False, default=str).encode()
    return hashlib.sha256(data).hexdigest()[:16]


def _features(data: bytes) -> dict[str, Any]:
    meta = pq.read_schema(io.BytesIO(data)).metadata or {}
    return dict(json.loads(meta[b"huggingface"])["info"]["features"])


def _names(feature: dict[str, Any]) -> list[str] | None:
    """ClassLabel names of a feature, looking through one list level."""
    if feature.get("_type") == "ClassLabel":
        return list(feature["names"])
    inner = feature.get("feature")
    if isinstance(inner, dict) and inner.get("_type") == "ClassLabel":
        return list(inner["names"])
    return None


def _decode(value: Any, names: list[str] | None) -> Any:
    if names is None or value is None:
        return value
    if isinstance(value, list):
        return [_decode(v, names) for v in value]
    return names[value] if 0 <= value < len(names) else None


def _field_digests(decoded: Mapping[str, Any]) -> str:
    """8 hex digits per field of a span, in sorted field order (the order of the span's
    struct fields in the index's ``features``, sorted): what lets a diff compare two
    releases on the columns they share when a later one adds a column to the layer."""
    return "".join(_digest(decoded[name])[:8] for name in sorted(decoded))


def content_index(files: Mapping[str, bytes], article_fields: tuple[str, ...]) -> dict[str, Any]:
    """Features per config, and digests of every article and gold annotation.

    ``article_fields``: the article-level label fields (the taxonomy's document fields).
    A span annotation is ``[label, digest of all its fields, one short digest per field]``;
    manifests before 0.3.0 lack the third item.
    """
    features: dict[str, dict[str, Any]] = {}
    articles: dict[str, dict[str, str]] = {}
    annotations: dict[str, dict[str, list[str]]] = defaultdict(dict)
    raw_rows: Counter[str] = Counter()
    for name in sorted(files):
        if not (name.startswith("data/") and name.endswith(".parquet")):
            continue
        _, config, file_name = name.split("/")
        split = file_name.split("-", 1)[0]
        data = files[name]
        features.setdefault(config, _features(data))
        table = pq.read_table(io.BytesIO(data))
        if config == "annotations_raw":
            raw_rows.update(str(layer) for layer in table.column("layer").to_pylist())
        if config != "documents":
            continue
        feats = features[config]
        for row in table.to_pylist():
            # The article id column was `id` up to v0.1.0 and `article_id` since.
            aid = row["article_id"] if "article_id" in row else row["id"]
            articles[aid] = {"sha256": row["sha256"], "split": split}
            for layer, feature in feats.items():
                sub = feature.get("feature") if feature.get("_type") == "List" else None
                if not (isinstance(sub, dict) and "label" in sub and "start" in sub):
                    continue  # not a span layer
                label_names = _names(sub["label"]) or []
                seen: Counter[str] = Counter()
                for span in row[layer]:
                    decoded = {k: _decode(v, _names(sub[k])) for k, v in span.items()}
                    base = f"{aid}:{span['start']}:{span['end']}"
                    key = f"{base}#{seen[base]}" if seen[base] else base
                    seen[base] += 1
                    label = _decode(span["label"], label_names)
                    annotations[layer][key] = [
                        str(label),
                        _digest(decoded),
                        _field_digests(decoded),
                    ]
            for name_ in article_fields:
                if name_ not in row or row[name_] in (None, -1, []):
                    continue
                value = _decode(row[name_], _names(feats[name_]))
                labels = annotations["article_labels"]
                if name_ == "notes":
                    labels[f"{aid}:notes"] = ["notes", _digest(value)]
                elif isinstance(value, list):  # multi-valued: one annotation per value
                    for v in value:
                        labels[f"{aid}:{name_}={v}"] = [f"{name_}={v}", _digest(v)]
                else:
                    labels[f"{aid}:{name_}"] = [f"{name_}={value}", _digest(value)]
    return {
        "features": features,
        "articles": articles,
        "annotations": {k: dict(sorted(v.items())) for k, v in sorted(annotations.items())},
        "annotations_raw_rows": dict(sorted(raw_rows.items())),
    }


def _flatten(feature: Any, path: str, out: dict[str, str], labels: dict[str, list[str]]) -> None:
    if isinstance(feature, dict) and "_type" not in feature:
        for key, sub in feature.items():
            _flatten(sub, f"{path}.{key}" if path else key, out, labels)
        return
    kind = feature.get("_type")
    if kind == "ClassLabel":
        out[path] = "ClassLabel"
        labels[path] = list(feature["names"])
    elif kind in ("List", "Sequence", "LargeList"):
        out[path] = "List"
        _flatten(feature["feature"], f"{path}[]", out, labels)
    else:
        out[path] = f"{kind}:{feature.get('dtype')}"


@dataclass
class SchemaChange:
    where: str
    what: str
    breaking: bool


@dataclass
class DataDiff:
    old_version: str | None
    new_version: str
    articles_added: list[str] = field(default_factory=list)
    articles_removed: list[str] = field(default_factory=list)
    articles_text_changed: list[str] = field(default_factory=list)
    articles_split_changed: list[str] = field(default_factory=list)
    articles_newly_annotated: list[str] = field(default_factory=list)
    # layer -> label -> {"added": n, "removed": n, "changed": n}
    annotations: dict[str, dict[str, Counter[str]]] = field(default_factory=dict)
    # layer -> label -> kind -> the annotations' keys, sorted: ``article:start:end`` for a
    # span (``#n`` for the n-th other span at the same place), ``article:field`` or
    # ``article:field=value`` for an article-level label
    annotation_ids: dict[str, dict[str, dict[str, list[str]]]] = field(default_factory=dict)
    # layer -> (annotations that kept their key but could not be compared, the columns the
    # layer gained or lost): both manifests predate per-field digests and the layer's
    # columns differ, so one digest over all columns says nothing about the shared ones
    not_compared: dict[str, tuple[int, list[str]]] = field(default_factory=dict)
    relabelled: Counter[tuple[str, str, str]] = field(default_factory=Counter)
    schema: list[SchemaChange] = field(default_factory=list)
    taxonomy: tuple[str | None, str] = (None, "")
    # The splits of the rows table: io.config's, then any other a release has (`full`, the
    # one split of the registries and folds), so that no config's rows are left out.
    splits: tuple[str, ...] = SPLITS
    # config -> split -> (rows before, after), for the splits the config has in either release
    rows: dict[str, dict[str, tuple[int, int]]] = field(default_factory=dict)
    raw_rows: dict[str, tuple[int, int]] = field(default_factory=dict)

    @property
    def annotation_totals(self) -> Counter[str]:
        total: Counter[str] = Counter()
        for by_label in self.annotations.values():
            for counts in by_label.values():
                total.update(counts)
        return total

    @property
    def is_empty(self) -> bool:
        return not (
            self.articles_added
            or self.articles_removed
            or self.articles_text_changed
            or self.articles_split_changed
            or sum(self.annotation_totals.values())
            or self.schema
            or self.taxonomy[0] != self.taxonomy[1]
        )

    @property
    def taxonomy_breaking(self) -> bool:
        """A MAJOR taxonomy version step: a label or attribute changed what it means
        (schemas/taxonomy.yaml's header), which no column type or label list shows; e.g.
        3.0.0 narrowed ``approximate`` to estimates when ``bound`` took over "over"."""
        old, new = self.taxonomy
        return old is not None and _major(new) > _major(old)

    def required_level(self) -> tuple[str, list[str]]:
        """The smallest semver level this diff allows, and why."""
        breaking = [f"{c.where}: {c.what}" for c in self.schema if c.breaking]
        if self.taxonomy_breaking:
            old, new = self.taxonomy
            breaking.insert(0, f"taxonomy: version {old} -> {new} (a MAJOR taxonomy change)")
        if breaking:
            return "major", breaking
        reasons = []
        if self.articles_added:
            reasons.append(f"{len(self.articles_added)} article(s) added")
        if self.articles_removed:
            reasons.append(f"{len(self.articles_removed)} article(s) removed")
        if self.articles_text_changed:
            reasons.append(f"{len(self.articles_text_changed)} article text(s) changed")
        if self.articles_newly_annotated:
            reasons.append(f"{len(self.articles_newly_annotated)} article(s) newly annotated")
        reasons += [f"{c.where}: {c.what}" for c in self.schema]
        if reasons:
            return "minor", reasons
        return "patch", ["corrections only (or no data change)"]


def _major(version: str | None) -> int:
    """The MAJOR part of a semantic version ("3.0.0" -> 3); -1 when it has none."""
    head = (version or "").split(".", 1)[0]
    return int(head) if head.isdigit() else -1


def _schema_changes(old: dict[str, Any], new: dict[str, Any]) -> list[SchemaChange]:
    changes = []
    for config in sorted(set(old) | set(new)):
        if config not in new:
            changes.append(SchemaChange(config, "config removed", True))
            continue
        if config not in old:
            changes.append(SchemaChange(config, "config added", False))
            continue
        o_cols: dict[str, str] = {}
        n_cols: dict[str, str] = {}
        o_lab: dict[str, list[str]] = {}
        n_lab: dict[str, list[str]] = {}
        _flatten(old[config], "", o_cols, o_lab)
        _flatten(new[config], "", n_cols, n_lab)
        for col in sorted(set(o_cols) | set(n_cols)):
            where = f"{config}.{col}"
            if col not in n_cols:
                changes.append(SchemaChange(where, "column removed", True))
            elif col not in o_cols:
                changes.append(SchemaChange(where, "column added", False))
            elif o_cols[col] != n_cols[col]:
                changes.append(SchemaChange(where, f"type {o_cols[col]} -> {n_cols[col]}", True))
            elif col in o_lab and o_lab[col] != n_lab[col]:
                o_names, n_names = o_lab[col], n_lab[col]
                removed = [n for n in o_names if n not in n_names]
                added = [n for n in n_names if n not in o_names]
                if n_names[: len(o_names)] == o_names:
                    changes.append(
                        SchemaChange(where, f"labels appended: {', '.join(added)}", False)
                    )
                else:
                    why = []
                    if removed:
                        why.append(f"removed {', '.join(removed)}")
                    if added:
                        why.append(f"added {', '.join(added)}")
                    if not removed and not added:
                        why.append("reordered")
                    changes.append(
                        SchemaChange(
                            where,
                            f"labels {'; '.join(why)} — existing class ids change meaning",
                            True,
                        )
                    )
    return changes


def diff_indexes(old: dict[str, Any] | None, new: dict[str, Any]) -> DataDiff:
    """Diff two release manifests (``old`` None: the first release, diffed against nothing)."""
    old = old or {
        "version": None,
        "taxonomy_version": None,
        "rows": {},
        "content": {"features": {}, "articles": {}, "annotations": {}, "annotations_raw_rows": {}},
    }
    oc, nc = old["content"], new["content"]
    diff = DataDiff(old["version"], new["version"])
    diff.taxonomy = (old["taxonomy_version"], new["taxonomy_version"])
    oa, na = oc["articles"], nc["articles"]
    diff.articles_added = sorted(set(na) - set(oa))
    diff.articles_removed = sorted(set(oa) - set(na))
    both = sorted(set(oa) & set(na))
    diff.articles_text_changed = [a for a in both if oa[a]["sha256"] != na[a]["sha256"]]
    diff.articles_split_changed = [a for a in both if oa[a]["split"] != na[a]["split"]]

    def annotated(content: dict[str, Any]) -> set[str]:
        return {key.split(":", 1)[0] for layer in content["annotations"].values() for key in layer}

    diff.articles_newly_annotated = sorted((annotated(nc) - annotated(oc)) & set(both))
    layers = sorted(set(oc["annotations"]) | set(nc["annotations"]))
    for layer in layers:
        o, n = oc["annotations"].get(layer, {}), nc["annotations"].get(layer, {})
        o_fields, n_fields = _span_fields(oc, layer), _span_fields(nc, layer)
        by_label: dict[str, Counter[str]] = defaultdict(Counter)
        ids: dict[str, dict[str, list[str]]] = defaultdict(lambda: defaultdict(list))
        uncompared = 0
        for key in sorted(set(n) - set(o), key=_key_order):
            by_label[n[key][0]]["added"] += 1
            ids[n[key][0]]["added"].append(key)
        for key in sorted(set(o) - set(n), key=_key_order):
            by_label[o[key][0]]["removed"] += 1
            ids[o[key][0]]["removed"].append(key)
        for key in sorted(set(o) & set(n), key=_key_order):
            if o[key][1] == n[key][1]:
                continue
            relabelled = o[key][0] != n[key][0]
            same = _same_on_shared_columns(o[key], n[key], o_fields, n_fields)
            if same is None and not relabelled:
                uncompared += 1  # its label is the same; its other columns are unknown
                continue
            if same:
                continue  # equal on every column both have: a schema change, not an edit
            by_label[n[key][0]]["changed"] += 1
            ids[n[key][0]]["changed"].append(key)
            if relabelled:
                diff.relabelled[(layer, o[key][0], n[key][0])] += 1
        if by_label:
            diff.annotations[layer] = dict(sorted(by_label.items()))
            diff.annotation_ids[layer] = {
                label: {kind: ids[label][kind] for kind in KINDS if ids[label][kind]}
                for label in sorted(ids)
            }
        if uncompared:
            gained = [f"+{c}" for c in sorted(set(n_fields or []) - set(o_fields or []))]
            lost = [f"-{c}" for c in sorted(set(o_fields or []) - set(n_fields or []))]
            diff.not_compared[layer] = (uncompared, gained + lost)
    diff.schema = _schema_changes(oc["features"], nc["features"])
    # Every split either release has: with io.config's three alone, the registries' and
    # folds' one split (`full`) was read as three splits of 0 rows and its changes went unsaid.
    named = {
        s for manifest in (old, new) for by_split in manifest["rows"].values() for s in by_split
    }
    diff.splits = (*SPLITS, *sorted(named - set(SPLITS)))
    for config in sorted(set(old["rows"]) | set(new["rows"])):
        o_rows, n_rows = old["rows"].get(config, {}), new["rows"].get(config, {})
        diff.rows[config] = {
            s: (o_rows.get(s, 0), n_rows.get(s, 0))
            for s in diff.splits
            if s in o_rows or s in n_rows
        }
    o_raw, n_raw = oc["annotations_raw_rows"], nc["annotations_raw_rows"]
    diff.raw_rows = {k: (o_raw.get(k, 0), n_raw.get(k, 0)) for k in sorted(set(o_raw) | set(n_raw))}
    return diff


def _span_fields(content: Mapping[str, Any], layer: str) -> list[str] | None:
    """The sorted struct fields of a span layer of ``documents`` (None: not a span layer)."""
    feature = content["features"].get("documents", {}).get(layer, {})
    sub = feature.get("feature") if isinstance(feature, dict) else None
    return sorted(sub) if isinstance(sub, dict) and "start" in sub else None


def _same_on_shared_columns(
    old: list[Any], new: list[Any], o_fields: list[str] | None, n_fields: list[str] | None
) -> bool | None:
    """Whether two entries whose whole-row digests differ are equal on the columns both
    releases have: False when the layer's columns are the same (the digests say it), the
    per-field digests' answer when both entries have them, None when that is unknown (a
    manifest before per-field digests, on a layer whose columns changed)."""
    if o_fields == n_fields or o_fields is None or n_fields is None:
        return False
    o_parts, n_parts = _per_field(old, o_fields), _per_field(new, n_fields)
    if o_parts is None or n_parts is None:
        return None
    return all(o_parts[c] == n_parts[c] for c in set(o_parts) & set(n_parts))


def _per_field(entry: list[Any], fields: list[str]) -> dict[str, str] | None:
    """An entry's per-field digests by field name; None when it has none (or not one per
    field of its layer, which a manifest ``sahelwire release`` wrote always has)."""
    if len(entry) < 3 or not isinstance(entry[2], str) or len(entry[2]) != 8 * len(fields):
        return None
    return {name: entry[2][8 * i : 8 * i + 8] for i, name in enumerate(fields)}


def _key_order(key: str) -> list[tuple[int, int | str]]:
    """Article, then offsets as numbers (``a:22:29`` before ``a:213:220``)."""
    return [(0, int(p)) if p.isdigit() else (1, p) for p in re.split(r"[:#]", key)]


def _capped(diff: DataDiff) -> bool:
    return any(
        len(keys) > SHOWN_IDS
        for by_label in diff.annotation_ids.values()
        for by_kind in by_label.values()
        for keys in by_kind.values()
    )


def _shown(keys: list[str]) -> str:
    shown = ", ".join(f"`{k}`" for k in keys[:SHOWN_IDS])
    more = len(keys) - SHOWN_IDS
    return shown + (f" and {more} more" if more > 0 else "")


def _ids(ids: list[str]) -> str:
    return f"{len(ids)}" + (f" ({', '.join(ids)})" if ids else "")


def render_diff(diff: DataDiff) -> str:
    """Markdown body shared by the CHANGELOG entry and ``sahelwire diff``."""
    old = diff.old_version or "nothing (first release)"
    level, reasons = diff.required_level()
    # `release` takes minor for a breaking change before 1.0.0: said here, or `diff`
    # called a major bump the smallest one that v0.2.0, a minor, was allowed to be.
    zero = level == "major" and (diff.old_version or "0").split(".")[0] == "0"
    before_one = " (before 1.0.0: **minor**, the breaking position)" if zero else ""
    parts = [
        f"Compared with {old if diff.old_version is None else 'v' + old}. "
        f"Smallest allowed version bump: **{level}**{before_one} — {'; '.join(reasons)}.\n",
        "\n### Articles\n\n",
        f"- added: {_ids(diff.articles_added)}\n",
        f"- removed: {_ids(diff.articles_removed)}\n",
        f"- text changed: {_ids(diff.articles_text_changed)}\n",
    ]
    if diff.articles_split_changed:
        parts.append(f"- moved to another split: {_ids(diff.articles_split_changed)}\n")
    if diff.articles_newly_annotated:
        parts.append(f"- newly annotated: {_ids(diff.articles_newly_annotated)}\n")
    parts.append("\n### Gold annotations per layer and label\n\n")
    rows = [
        [layer, f"`{label}`", c["added"], c["removed"], c["changed"]]
        for layer, by_label in diff.annotations.items()
        for label, c in by_label.items()
    ]
    if rows:
        total = diff.annotation_totals
        rows.append(["**all**", "", total["added"], total["removed"], total["changed"]])
        parts.append(markdown_table(["layer", "label", "added", "removed", "changed"], rows))
    else:
        parts.append("No gold annotation changed.\n")
    # The first release adds everything: its keys would be a list of the whole gold.
    if rows and diff.old_version is not None:
        parts.append(
            "\nWhich (`article:start:end` per span, `article:field` per article label"
            f"{'; the first ' + str(SHOWN_IDS) + ', all in `diff --json`' if _capped(diff) else ''}):\n\n"
        )
        for layer, by_label in diff.annotation_ids.items():
            for label, by_kind in by_label.items():
                for kind, keys in by_kind.items():
                    parts.append(f"- {layer} `{label}` {kind}: {_shown(keys)}\n")
    if diff.not_compared:
        parts.append(
            "\nNot compared (kept their place and label; the layer's columns changed, see "
            "Schema, and the older manifest holds one digest over all of an annotation's "
            "columns, so whether the shared ones changed is unknown): "
            + "; ".join(
                f"{layer} {n} ({', '.join(cols)})" for layer, (n, cols) in diff.not_compared.items()
            )
            + "\n"
        )
    if diff.relabelled:
        parts.append(
            "\nRelabelled (counted as changed under the new label): "
            + "; ".join(
                f"{layer} {a} → {b} ×{n}" for (layer, a, b), n in sorted(diff.relabelled.items())
            )
            + "\n"
        )
    raw_changed = {k: v for k, v in diff.raw_rows.items() if v[0] != v[1]}
    if raw_changed:
        parts.append(
            "\nPer-annotator rows (`annotations_raw`) by layer: "
            + ", ".join(f"{k} {a} → {b}" for k, (a, b) in raw_changed.items())
            + "\n"
        )
    parts.append("\n### Schema and taxonomy\n\n")
    o_tax, n_tax = diff.taxonomy
    flag = "**BREAKING** " if diff.taxonomy_breaking else ""
    parts.append(
        f"- taxonomy version: {n_tax} (unchanged)\n"
        if o_tax == n_tax
        else f"- {flag}taxonomy version: {o_tax or 'none'} → {n_tax}\n"
    )
    for change in diff.schema:
        flag = "**BREAKING** " if change.breaking else ""
        parts.append(f"- {flag}`{change.where}`: {change.what}\n")
    if not diff.schema:
        parts.append("- no config, column, type or label-set change\n")
    parts.append("\n### Rows per config and split (before → after)\n\n")
    # The card's Statistics table's convention: '—' where a config has no such split.
    legend = [
        f"`{s}`: the one split of a config that is not split by article"
        for s in diff.splits
        if s not in SPLITS
    ]
    if any(s not in r for r in diff.rows.values() for s in diff.splits):
        legend.append("'—': the config has no such split in either version")
    if legend:
        parts.append("; ".join(legend) + ".\n\n")
    parts.append(
        markdown_table(
            ["config", *diff.splits],
            [
                [f"`{c}`", *(_rows_cell(r.get(s)) for s in diff.splits)]
                for c, r in diff.rows.items()
            ],
        )
    )
    return "".join(parts)


def _rows_cell(rows: tuple[int, int] | None) -> str:
    if rows is None:
        return "—"
    before, after = rows
    return f"{before} → {after}" if before != after else str(after)


def diff_json(diff: DataDiff) -> dict[str, Any]:
    level, reasons = diff.required_level()
    return {
        "old_version": diff.old_version,
        "new_version": diff.new_version,
        "required_level": level,
        "reasons": reasons,
        "articles": {
            "added": diff.articles_added,
            "removed": diff.articles_removed,
            "text_changed": diff.articles_text_changed,
            "split_changed": diff.articles_split_changed,
            "newly_annotated": diff.articles_newly_annotated,
        },
        "annotations": {
            layer: {label: dict(c) for label, c in by_label.items()}
            for layer, by_label in diff.annotations.items()
        },
        "annotation_ids": diff.annotation_ids,
        "not_compared": {
            layer: {"count": n, "columns": cols} for layer, (n, cols) in diff.not_compared.items()
        },
        "relabelled": [
            {"layer": layer, "from": a, "to": b, "count": n}
            for (layer, a, b), n in sorted(diff.relabelled.items())
        ],
        "schema": [c.__dict__ for c in diff.schema],
        "taxonomy": {"old": diff.taxonomy[0], "new": diff.taxonomy[1]},
        "rows": {c: {s: list(v) for s, v in r.items()} for c, r in diff.rows.items()},
    }
