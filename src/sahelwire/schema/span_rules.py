"""The span rules of ANNOTATION.md, checked on flat region/relation tables.

Offsets are code points (Python str indices). Every rule violation is a Problem naming
the record; nothing is shifted or repaired here.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any

import polars as pl

from sahelwire.io.bulk import paused_gc
from sahelwire.schema.problems import Problem
from sahelwire.schema.registries import Registries
from sahelwire.schema.taxonomy import SpanLayer, Taxonomy


def _rid(row: Mapping[str, Any], id_col: str) -> str:
    group = row.get("annotation_id", row["article_id"])
    return f"{row['article_id']}/{group}/{row[id_col]}"


# The columns of a flat region table, as each stage that checks spans builds one (worksheets,
# the pre-annotator's predictions, the gold layer): defined once, so that a new per-region
# attribute (taxonomy 3.0.0's bound) is added in one place; a test compares the attribute
# columns with the taxonomy's attributes.
SPAN_COLUMNS = {"layer": pl.Utf8, "label": pl.Utf8, "start": pl.Int64, "end": pl.Int64,
                "text": pl.Utf8}  # fmt: skip
REGION_ATTRIBUTE_COLUMNS = {"entity_id": pl.Utf8, "event_id": pl.Utf8, "realis": pl.Utf8,
                            "value": pl.Float64, "unit": pl.Utf8, "approximate": pl.Boolean,
                            "bound": pl.Utf8}  # fmt: skip


def region_schema(*keys: str) -> dict[str, Any]:
    """``keys`` (string id columns, in order), then the span and attribute columns."""
    return {k: pl.Utf8 for k in keys} | SPAN_COLUMNS | REGION_ATTRIBUTE_COLUMNS


_ATTRIBUTES = {
    "entity_id": pl.Utf8,
    "event_id": pl.Utf8,
    "realis": pl.Utf8,
    "value": pl.Float64,
    "approximate": pl.Boolean,
}
_NO_ARTICLE = object()  # before the first row: no article id equals it
_SLICE_ROWS = 500_000  # rows screened per batch: bounds the Python strings alive at once


def check_regions(
    regions: pl.DataFrame,
    texts: Mapping[str, str],
    taxonomy: Taxonomy,
    registries: Registries,
    *,
    file: str,
    id_col: str = "region_id",
    group_col: str = "annotation_id",
    file_col: str | None = None,
) -> list[Problem]:
    """Bounds, text slice, overlap, attribute and registry rules for every region.

    ``file`` names where the rows come from; with ``file_col``, each Problem names the
    row's own file from that column instead (e.g. the export file of the annotation).

    Millions of rows at corpus scale, so valid rows are screened in bulk (a column-wise
    text check, polars expressions for attributes and overlaps) and only rows or groups
    that may break a rule go through the row-by-row rules below, which name the problem.
    Same problems, same order as checking every row one by one.
    """
    problems: list[Problem] = []
    if not regions.height:
        return problems
    frame = regions.with_columns(
        pl.lit(None, dtype=dtype).alias(name)
        for name, dtype in _ATTRIBUTES.items()
        if name not in regions.columns
    )
    entity_types, event_types = registries.entity_types, registries.event_types
    with paused_gc():
        placed, suspect = _screen_spans(frame, texts)
    suspect |= _screen_attributes(frame, taxonomy, entity_types, event_types)
    for i in sorted(suspect):
        row = frame.row(i, named=True)
        problems += _row_problems(
            row, id_col, texts, taxonomy, entity_types, event_types, _file(row, file, file_col)
        )
    for rows in _overlapping_groups(frame, placed, taxonomy, group_col, id_col, file_col):
        layer = taxonomy.layer(rows[0]["layer"])
        rows.sort(key=lambda r: (r["start"], -r["end"]))
        for i, a in enumerate(rows):
            for b in rows[i + 1 :]:
                if b["start"] >= a["end"]:
                    break
                rule = overlap_rule(layer, a, b)
                if rule is None:
                    continue
                problems.append(
                    Problem(
                        _file(b, file, file_col),
                        _rid(b, id_col),
                        "start/end",
                        rule,
                        f"{b['start']}:{b['end']}",
                        f"{b['label']} overlaps {a['label']} {a['start']}:{a['end']} ({_rid(a, id_col)})",
                    )
                )
    return problems


REALIS_REQUIRED = "events have a realis"


def overlap_rule(layer: SpanLayer, a: Mapping[str, Any], b: Mapping[str, Any]) -> str | None:
    """The rule ``b`` breaks by overlapping ``a`` (same layer), or None if it breaks none.

    ``a`` comes first in (start, -end) order, so when one contains the other, ``a`` is the
    outer span. The one definition of allowed overlap: :func:`check_regions` uses it on
    annotations, ``sahelwire.labelstudio.prelabel`` on predictions before they are pushed.
    """
    if b["start"] >= a["end"] or a["start"] >= b["end"] or layer.overlap == "allowed":
        return None
    # Strictly inside: the same characters under two labels is a conflict,
    # not nesting ("Vedant Patel" cannot be both ORG and PERSON).
    same = a["start"] == b["start"] and a["end"] == b["end"]
    nested = a["start"] <= b["start"] and b["end"] <= a["end"] and not same
    if layer.overlap == "nested" and nested and (a["label"], b["label"]) in layer.nesting_allowed:
        return None
    # The layer by name: "zones do not overlap" was said of quantities too (a walkthrough).
    return (
        f"{layer.name} do not overlap"
        if layer.overlap == "none"
        else "mentions nest only as the taxonomy allows"
    )


def _file(row: Mapping[str, Any], default: str, file_col: str | None) -> str:
    """The row's own file (``file_col``) when it has one, else ``default``."""
    own = row.get(file_col) if file_col else None
    return str(own) if own else default


def _screen_spans(frame: pl.DataFrame, texts: Mapping[str, str]) -> tuple[list[bool], set[int]]:
    """(row is placed in an existing article within bounds, rows whose span may be wrong)."""
    placed: list[bool] = []
    suspect: set[int] = set()
    offset = 0
    # An article's regions come together: its text is looked up once per run of its rows
    # (``texts`` may read and hash the file on a lookup; 1.9M lookups in a 10k build).
    last: object = _NO_ARTICLE
    text: str | None = None
    for part in frame.select("article_id", "start", "end", "text").iter_slices(_SLICE_ROWS):
        for i, (article, start, end, span) in enumerate(
            zip(*(part[c].to_list() for c in part.columns), strict=True), start=offset
        ):
            if article != last:
                text, last = texts.get(article), article
            ok = text is not None and 0 <= start < end <= len(text)
            placed.append(ok)
            if not ok or text[start:end] != span:  # type: ignore[index]
                suspect.add(i)
        offset += part.height
    return placed, suspect


def _screen_attributes(
    frame: pl.DataFrame,
    taxonomy: Taxonomy,
    entity_types: Mapping[str, str],
    event_types: Mapping[str, str],
) -> set[int]:
    """Rows whose attributes may break a rule of :func:`_attribute_problems`."""
    layer, label = pl.col("layer"), pl.col("label")

    def registry_disagrees(column: str, types: Mapping[str, str]) -> pl.Expr:
        known = pl.col(column).replace_strict(dict(types), default=None, return_dtype=pl.Utf8)
        return (known != label).fill_null(True)  # unknown id, or another type

    has = {name: pl.col(name).is_not_null() for name in _ATTRIBUTES}
    events = pl.when(layer == "events").then(
        ~has["realis"] | (has["event_id"] & registry_disagrees("event_id", event_types))
    )
    bad = (
        events.otherwise(has["event_id"] | has["realis"])
        | pl.when(layer == "entities")
        .then(has["entity_id"] & registry_disagrees("entity_id", entity_types))
        .otherwise(has["entity_id"])
        | ((layer == "quantities") & (~has["value"] | ~has["approximate"]))
    )
    flagged = frame.select(bad.fill_null(True).alias("bad")).with_row_index()
    return set(flagged.filter(pl.col("bad"))["index"].to_list())


def _overlapping_groups(
    frame: pl.DataFrame,
    placed: list[bool],
    taxonomy: Taxonomy,
    group_col: str,
    id_col: str,
    file_col: str | None = None,
) -> Iterator[list[dict[str, Any]]]:
    """Rows (as dicts, in table order) of each (group, layer) whose spans overlap at all,
    in order of first appearance; only layers that restrict overlap are looked at.

    Yielded one group at a time, so only one group's rows are Python objects at once.
    """
    restricted = [layer.name for layer in taxonomy.span_layers if layer.overlap != "allowed"]
    group = pl.col(group_col) if group_col in frame.columns else pl.col("article_id")
    wanted: tuple[str, ...] = ("article_id", "annotation_id", id_col, "layer", "label")
    wanted += ("start", "end", *([file_col] if file_col else []))
    candidates = (
        frame.select([c for c in dict.fromkeys(wanted) if c in frame.columns])
        .with_columns(pl.Series("_placed", placed, dtype=pl.Boolean), group.alias("_group"))
        .with_row_index("_i")
        .filter(pl.col("_placed") & pl.col("layer").is_in(restricted))
        .drop("_placed")
    )
    if not candidates.height:
        return
    ordered = candidates.select("_group", "layer", "start", "end").sort(
        ["_group", "layer", "start", "end"], descending=[False, False, False, True]
    )
    earlier_end = pl.col("end").cum_max().shift(1).over(["_group", "layer"])
    hits = ordered.filter(pl.col("start") < earlier_end).select("_group", "layer").unique()
    del ordered
    if not hits.height:
        return
    rows = (
        candidates.join(hits, on=["_group", "layer"], how="semi")
        .with_columns(pl.col("_i").min().over(["_group", "layer"]).alias("_first"))
        .sort(["_first", "_i"])
        .drop("_i")
    )
    names = rows.columns
    current: Any = None
    bucket: list[dict[str, Any]] = []
    for values in rows.iter_rows():
        row = dict(zip(names, values, strict=True))
        first = row.pop("_first")
        row.pop("_group")
        if first != current and bucket:
            yield bucket
            bucket = []
        current = first
        bucket.append(row)
    if bucket:
        yield bucket


def _row_problems(
    row: Mapping[str, Any],
    id_col: str,
    texts: Mapping[str, str],
    taxonomy: Taxonomy,
    entity_types: Mapping[str, str],
    event_types: Mapping[str, str],
    file: str,
) -> list[Problem]:
    """Every per-row rule (article, bounds, text slice, attributes) for one region."""
    rid = _rid(row, id_col)
    text = texts.get(row["article_id"])
    if text is None:
        return [
            Problem(
                file,
                rid,
                "article_id",
                "article_exists",
                row["article_id"],
                "no such article in the manifest",
            )
        ]
    start, end = row["start"], row["end"]
    if not (0 <= start < end <= len(text)):
        return [
            Problem(
                file,
                rid,
                "start/end",
                "0 <= start < end <= len(text)",
                f"{start}:{end}",
                f"article has {len(text)} code points",
            )
        ]
    out = []
    if text[start:end] != row["text"]:
        out.append(
            Problem(
                file,
                rid,
                "text",
                "text[start:end] == span text",
                row["text"],
                f"the article has {text[start:end]!r} at {start}:{end}",
            )
        )
    return out + _attribute_problems(row, rid, entity_types, event_types, file)


def _attribute_problems(
    row: Mapping[str, Any],
    rid: str,
    entity_types: Mapping[str, str],
    event_types: Mapping[str, str],
    file: str,
) -> list[Problem]:
    out: list[Problem] = []
    layer = row["layer"]
    if layer == "events":
        if row.get("realis") is None:
            out.append(Problem(file, rid, "realis", REALIS_REQUIRED, None))
        if row.get("event_id") is not None:
            want = event_types.get(row["event_id"])
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
        want = entity_types.get(row["entity_id"])
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
    file_col: str | None = None,
) -> list[Problem]:
    """Every relation joins two existing regions of the same annotation, event -> argument,
    with a role of the taxonomy pointing to a target that role allows (``targets`` of the
    relation labels in schemas/taxonomy.yaml: PLACE to GPE/LOC/FAC, TIME to DURATION or TIME_OFFSET only, ...).

    ``file_col``: as for :func:`check_regions`.
    """
    if not relations.height:
        return []
    events = taxonomy.layer("events")
    problems = []
    for rel, src, dst in _screen_relations(
        relations, regions, taxonomy, (group_col, from_col, to_col, id_col)
    ):
        rid = f"{rel['article_id']}/{rel[group_col]}/{rel[from_col]}->{rel[to_col]}"
        if src is None or dst is None:
            missing = rel[from_col] if src is None else rel[to_col]
            problems.append(
                Problem(
                    _file(rel, file, file_col),
                    rid,
                    "from/to",
                    "relation joins regions of the same annotation",
                    missing,
                    "no such region in this annotation",
                )
            )
            continue
        if src[0] != "events" or dst[0] not in events.relation_to_layers:
            problems.append(
                Problem(
                    _file(rel, file, file_col),
                    rid,
                    "from/to",
                    "relations go from an event to an entity or quantity",
                    f"{src[0]}->{dst[0]}",
                )
            )
            continue
        role = rel["label"]
        allowed = events.role_allows(role, *dst)
        if not allowed:
            targets = next((r.targets for r in events.relation_labels if r.name == role), ())
            problems.append(
                Problem(
                    _file(rel, file, file_col),
                    rid,
                    "label",
                    "a role points only to the targets the taxonomy gives it",
                    f"{role} -> {dst[0]}.{dst[1]}",
                    f"{role} may point to {', '.join(targets)}"
                    if allowed is False
                    else f"no role {role!r} in the taxonomy",
                )
            )
    return problems


Kind = tuple[Any, Any]  # (layer, label) of a region


def _screen_relations(
    relations: pl.DataFrame, regions: pl.DataFrame, taxonomy: Taxonomy, cols: tuple[str, ...]
) -> Iterator[tuple[dict[str, Any], Kind | None, Kind | None]]:
    """(relation row, (layer, label) of its source, of its target) for the relations that may
    break a rule of :func:`check_relations`, in row order; the rest pass every rule.

    The regions are found by joins, not a Python dict of every region and a loop over every
    relation (8 of the 47 s of a 10k rebuild's input rules under a profiler). Of regions that
    share a (group, id) pair the last one counts, as in that dict (the region rules refuse
    such duplicates anyway).
    """
    group_col, from_col, to_col, id_col = cols
    keys = (group_col, id_col)
    if any(
        relations.schema[c] != regions.schema[k]
        for c, k in ((group_col, group_col), (from_col, id_col), (to_col, id_col))
    ):
        # Keys of different types never match (a dict lookup of 1 finds no "1"): every relation
        # goes to the rules, which look each region up as the dict did.
        kind_of = dict(
            zip(
                zip(*(regions[c].to_list() for c in keys), strict=True),
                zip(regions["layer"].to_list(), regions["label"].to_list(), strict=True),
                strict=True,
            )
        )
        for rel in relations.iter_rows(named=True):
            yield (
                rel,
                kind_of.get((rel[group_col], rel[from_col])),
                kind_of.get((rel[group_col], rel[to_col])),
            )
        return
    kinds = regions.select(*keys, "layer", "label").unique(keys, keep="last", maintain_order=True)
    events = taxonomy.layer("events")
    joined = relations.with_row_index("_row")
    for end, col in (("src", from_col), ("dst", to_col)):
        named = kinds.rename({id_col: col, "layer": f"_{end}_layer", "label": f"_{end}_label"})
        joined = joined.join(named, on=[group_col, col], how="left", nulls_equal=True)
    combos = joined.select("label", "_dst_layer", "_dst_label").unique().rows()
    refused = [
        (role, layer, label)
        for role, layer, label in combos
        if layer is not None and not events.role_allows(role, layer, label)
    ]
    bad = (
        pl.col("_src_layer").is_null()
        | pl.col("_dst_layer").is_null()
        | (pl.col("_src_layer") != "events")
        | ~pl.col("_dst_layer").is_in(list(events.relation_to_layers))
    )
    if refused:
        refusals = pl.DataFrame(
            refused, schema=["label", "_dst_layer", "_dst_label"], orient="row"
        ).with_columns(pl.lit(True).alias("_refused"))
        joined = joined.join(
            refusals.cast(joined.select(refusals.columns[:3]).schema),
            on=["label", "_dst_layer", "_dst_label"],
            how="left",
            nulls_equal=True,
        )
        bad = bad | pl.col("_refused").fill_null(False)
    flagged = joined.filter(bad).sort("_row")
    for row in flagged.iter_rows(named=True):
        src = None if row["_src_layer"] is None else (row["_src_layer"], row["_src_label"])
        dst = None if row["_dst_layer"] is None else (row["_dst_layer"], row["_dst_label"])
        yield {c: row[c] for c in relations.columns}, src, dst
