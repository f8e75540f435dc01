"""Per-annotator annotations -> the gold layer, by explicit rules.

Rules (documented in the card and annotations/GUIDELINES.md):

1. Cancelled (skipped) annotations never enter gold. When one annotator has several
   annotations of an article, the most recently updated one counts (the others are
   listed as ``superseded``).
2. An article annotated by one annotator: that annotation is gold as is, and the
   article is marked single-annotated (``n_annotators`` = 1).
3. Several annotators: a region (layer, label, start, end), a relation (from, to, role)
   or an article-level value is gold when a strict majority of the article's annotators
   made it, with its attributes by majority. Everything else is a conflict.
4. A conflict is settled only by a decision in ``annotations/decisions/<article_id>.yaml``
   (``accept`` / ``reject`` an item, ``set`` an attribute or value), each naming who
   decided and why. Unsettled conflicts are left out of gold and reported as problems.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import polars as pl
import yaml

from sahelwire.annotations.gold_layer import (
    CHOICE_SCHEMA,
    REGION_SCHEMA,
    RELATION_SCHEMA,
    STATUS_SCHEMA,
    GoldLayer,
    region_key,
)
from sahelwire.io.bulk import paused_gc
from sahelwire.schema.problems import Problem
from sahelwire.schema.taxonomy import Taxonomy

ATTRS = ("entity_id", "event_id", "realis", "value", "unit", "approximate")
# The rule of a conflict no decision settles yet: `sahelwire adjudicate` lists these as its
# output; every other problem is invalid input.
UNSETTLED_RULE = "every conflict is settled by a decision"


@dataclass
class Adjudication:
    gold: GoldLayer
    problems: list[Problem] = field(default_factory=list)
    conflicts: list[dict[str, Any]] = field(default_factory=list)


def read_decisions(folder: Path, article_id: str) -> dict[str, dict[str, Any]]:
    """Decisions for one article, keyed by item (e.g. ``region:entities:ORG:10:20``)."""
    path = folder / f"{article_id}.yaml"
    if not path.exists():
        return {}
    data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    out = {}
    for d in data.get("decisions", []):
        if not d.get("decided_by") or not d.get("why"):
            raise ValueError(f"{path}: decision on {d.get('item')!r} must say decided_by and why")
        out[str(d["item"])] = d
    return out


def _latest(annotations: pl.DataFrame) -> tuple[dict[str, list[int]], list[dict[str, Any]]]:
    """Article -> counted annotation ids (one per annotator); and the superseded ones."""
    counted: dict[str, list[int]] = defaultdict(list)
    superseded = []
    usable = annotations.filter(~pl.col("cancelled")).sort(
        ["article_id", "annotator", "updated_at", "annotation_id"]
    )
    grouped = usable.group_by(["article_id", "annotator"], maintain_order=True).agg(
        pl.col("annotation_id")
    )
    for article, annotator, ids in grouped.iter_rows():
        counted[str(article)].append(ids[-1])
        superseded += [
            {
                "article_id": article,
                "kind": "superseded",
                "item": f"annotation:{i}",
                "annotator": annotator,
                "detail": f"replaced by the annotator's later annotation {ids[-1]}",
            }
            for i in ids[:-1]
        ]
    return counted, superseded


@dataclass
class _Settler:
    """Applies rule 3/4 for one article: majority wins, otherwise a decision must settle it."""

    article: str
    n: int
    decisions: dict[str, dict[str, Any]]
    used: set[str]
    result: Adjudication

    def settle(self, item: str, votes: int, default: bool, detail: str) -> bool:
        if self.n == 1 or 2 * votes > self.n:
            return default
        self.used.add(item)
        d = self.decisions.get(item)
        self.result.conflicts.append(
            {
                "article_id": self.article,
                "kind": "conflict",
                "item": item,
                "detail": detail,
                "decision": None if d is None else d["action"],
            }
        )
        if d is None:
            self.result.problems.append(
                Problem(
                    f"annotations/decisions/{self.article}.yaml",
                    self.article,
                    item,
                    UNSETTLED_RULE,
                    f"{votes}/{self.n} annotators",
                    detail,
                )
            )
            return False
        return str(d["action"]) == "accept"


def adjudicate(
    annotations: pl.DataFrame,
    regions: pl.DataFrame,
    relations: pl.DataFrame,
    choices: pl.DataFrame,
    decisions_dir: Path,
    taxonomy: Taxonomy,
) -> Adjudication:
    """Apply the module's rules; see its docstring."""
    counted, superseded = _latest(annotations)
    result = Adjudication(GoldLayer.empty(), conflicts=list(superseded))
    region_rows: list[dict[str, Any]] = []
    relation_rows: list[dict[str, Any]] = []
    choice_rows: list[dict[str, Any]] = []
    status_rows: list[dict[str, Any]] = []
    single = _single_annotations(counted, regions, decisions_dir)
    fast = _single_gold(single, regions, relations, choices)
    slow_ids = [i for article, ids in counted.items() if article not in single for i in ids]

    def by_ann(df: pl.DataFrame) -> dict[int, pl.DataFrame]:
        if not df.height:
            return {}
        mine = df.filter(pl.col("annotation_id").is_in(slow_ids))
        return {k[0]: g for k, g in mine.group_by("annotation_id")}

    reg_by, rel_by, cho_by = by_ann(regions), by_ann(relations), by_ann(choices)
    with paused_gc():
        _adjudicate_articles(
            counted, single, reg_by, rel_by, cho_by, decisions_dir, result,
            (region_rows, relation_rows, choice_rows, status_rows),
        )  # fmt: skip
    # Both paths give rows sorted by article and, within it, by item; merging them back in
    # that order gives exactly the rows of adjudicating every article one by one.
    result.gold = GoldLayer(
        regions=_merge(fast.regions, region_rows, REGION_SCHEMA, ["article_id", "region_key"]),
        relations=_merge(
            fast.relations,
            relation_rows,
            RELATION_SCHEMA,
            ["article_id", "from_key", "to_key", "label"],
        ),
        choices=_merge(fast.choices, choice_rows, CHOICE_SCHEMA, ["article_id", "field", "value"]),
        status=_merge(fast.status, status_rows, STATUS_SCHEMA, ["article_id"]),
    )
    _check_single_choices(result, taxonomy)
    return result


def _adjudicate_articles(
    counted: dict[str, list[int]],
    single: dict[str, int],
    reg_by: dict[int, pl.DataFrame],
    rel_by: dict[int, pl.DataFrame],
    cho_by: dict[int, pl.DataFrame],
    decisions_dir: Path,
    result: Adjudication,
    out: tuple[list[dict[str, Any]], ...],
) -> None:
    """Rules 1-4 article by article, for articles the bulk path does not cover."""
    region_rows, relation_rows, choice_rows, status_rows = out
    for article in sorted(counted):
        if article in single:
            continue
        ids = counted[article]
        n = len(ids)
        decisions = read_decisions(decisions_dir, article)
        used: set[str] = set()
        status_rows.append({"article_id": article, "n_annotators": n})

        settle = _Settler(article, n, decisions, used, result).settle

        keys_of: dict[tuple[int, str], str] = {}
        region_votes: dict[str, list[dict[str, Any]]] = defaultdict(list)
        for aid in ids:
            for r in reg_by[aid].iter_rows(named=True) if aid in reg_by else []:
                key = region_key(r["layer"], r["label"], r["start"], r["end"])
                keys_of[(aid, r["region_id"])] = key
                region_votes[key].append(r)
        gold_keys = set()
        for key, rows in sorted(region_votes.items()):
            if not settle(
                f"region:{key}",
                len(rows),
                True,
                f"{rows[0]['text']!r} marked by {len(rows)} of {n}",
            ):
                continue
            gold_keys.add(key)
            row = {k: rows[0][k] for k in ("layer", "label", "start", "end", "text")}
            for attr in ATTRS:
                values = Counter(r.get(attr) for r in rows).most_common()
                row[attr] = values[0][0]
                if len(values) > 1 and values[0][1] == values[1][1]:
                    d = decisions.get(f"attr:{key}:{attr}")
                    used.add(f"attr:{key}:{attr}")
                    result.conflicts.append(
                        {
                            "article_id": article,
                            "kind": "conflict",
                            "item": f"attr:{key}:{attr}",
                            "detail": f"tied values {[v for v, _ in values]}",
                            "decision": d and d["action"],
                        }
                    )
                    if d is None:
                        result.problems.append(
                            Problem(
                                f"annotations/decisions/{article}.yaml",
                                article,
                                f"attr:{key}:{attr}",
                                "every conflict is settled by a decision",
                                str([v for v, _ in values]),
                            )
                        )
                    else:
                        row[attr] = d.get("value")
            region_rows.append({"article_id": article, "region_key": key, **row})
        rel_votes: Counter[tuple[str, str, str]] = Counter()
        for aid in ids:
            for r in rel_by[aid].iter_rows(named=True) if aid in rel_by else []:
                src, dst = (
                    keys_of.get((aid, r["from_region_id"])),
                    keys_of.get((aid, r["to_region_id"])),
                )
                if src and dst:
                    rel_votes[(src, dst, r["label"])] += 1
        for (src, dst, label), votes in sorted(rel_votes.items()):
            if (
                src in gold_keys
                and dst in gold_keys
                and settle(f"relation:{src}->{dst}:{label}", votes, True, f"{votes} of {n}")
            ):
                relation_rows.append(
                    {"article_id": article, "from_key": src, "to_key": dst, "label": label}
                )
        choice_votes: Counter[tuple[str, str]] = Counter()
        for aid in ids:
            for r in cho_by[aid].iter_rows(named=True) if aid in cho_by else []:
                choice_votes[(r["field"], r["value"])] += 1
        for (fname, value), votes in sorted(choice_votes.items()):
            if fname == "notes" or settle(
                f"choice:{fname}:{value}", votes, True, f"{votes} of {n}"
            ):
                choice_rows.append({"article_id": article, "field": fname, "value": value})
        for item in sorted(set(decisions) - used):
            result.problems.append(
                Problem(
                    f"annotations/decisions/{article}.yaml",
                    article,
                    item,
                    "a decision settles an existing conflict",
                    message="no such conflict (stale decision?)",
                )
            )


def _merge(
    fast: pl.DataFrame, rows: list[dict[str, Any]], schema: dict[str, Any], order: list[str]
) -> pl.DataFrame:
    slow = pl.DataFrame(rows, schema=schema)
    if not fast.height:
        return slow
    typed = fast.select([pl.col(name).cast(dtype) for name, dtype in schema.items()])
    return pl.concat([typed, slow]).sort(order, maintain_order=True)


def _single_annotations(
    counted: dict[str, list[int]], regions: pl.DataFrame, decisions_dir: Path
) -> dict[str, int]:
    """Articles whose gold is one annotation taken as is (rule 2), for the bulk path.

    Left to the article-by-article path: articles with a decisions file (stale decisions
    must be reported) and annotations holding two regions with one key or one id (their
    attribute votes or relation ends need the per-item rules).
    """
    decided = {p.stem for p in decisions_dir.glob("*.yaml")} if decisions_dir.is_dir() else set()
    single = {a: ids[0] for a, ids in counted.items() if len(ids) == 1 and a not in decided}
    if single and regions.height:
        mine = regions.filter(pl.col("annotation_id").is_in(list(single.values())))
        key = pl.concat_str(
            [pl.col("layer"), pl.col("label"), pl.col("start"), pl.col("end")], separator=":"
        )
        doubled = mine.filter(
            pl.struct("annotation_id", key.alias("k")).is_duplicated()
            | pl.struct("annotation_id", "region_id").is_duplicated()
        )
        twice = set(doubled["article_id"].to_list())
        single = {a: i for a, i in single.items() if a not in twice}
    return single


def _single_gold(
    single: dict[str, int], regions: pl.DataFrame, relations: pl.DataFrame, choices: pl.DataFrame
) -> GoldLayer:
    """Gold of single-annotated articles in bulk: every region, relation and value as is."""
    if not single:
        return GoldLayer.empty()
    ids = list(single.values())
    key = pl.concat_str(
        [pl.col("layer"), pl.col("label"), pl.col("start"), pl.col("end")], separator=":"
    )
    gold_regions = pl.DataFrame(schema=REGION_SCHEMA)
    gold_relations = pl.DataFrame(schema=RELATION_SCHEMA)
    gold_choices = pl.DataFrame(schema=CHOICE_SCHEMA)
    if regions.height:
        mine = regions.filter(pl.col("annotation_id").is_in(ids)).with_columns(
            key.alias("region_key"),
            *(pl.lit(None).alias(a) for a in ATTRS if a not in regions.columns),
        )
        gold_regions = mine.select(list(REGION_SCHEMA)).sort(["article_id", "region_key"])
        if relations.height:
            keys = mine.select("annotation_id", "region_id", "region_key")
            ends = (
                relations.filter(pl.col("annotation_id").is_in(ids))
                .join(
                    keys.rename({"region_id": "from_region_id", "region_key": "from_key"}),
                    on=["annotation_id", "from_region_id"],
                    how="inner",
                )
                .join(
                    keys.rename({"region_id": "to_region_id", "region_key": "to_key"}),
                    on=["annotation_id", "to_region_id"],
                    how="inner",
                )
            )
            gold_relations = (
                ends.select(list(RELATION_SCHEMA))
                .unique()
                .sort(["article_id", "from_key", "to_key", "label"])
            )
    if choices.height:
        gold_choices = (
            choices.filter(pl.col("annotation_id").is_in(ids))
            .select(list(CHOICE_SCHEMA))
            .unique()
            .sort(["article_id", "field", "value"])
        )
    status = pl.DataFrame(
        {"article_id": sorted(single), "n_annotators": [1] * len(single)}, schema=STATUS_SCHEMA
    )
    return GoldLayer(gold_regions, gold_relations, gold_choices, status)


def _check_single_choices(result: Adjudication, taxonomy: Taxonomy) -> None:
    singles = {f.name for f in taxonomy.document_fields if f.kind == "single"}
    counts = (
        result.gold.choices.filter(pl.col("field").is_in(list(singles)))
        .group_by(["article_id", "field"])
        .len()
    )
    for row in counts.filter(pl.col("len") > 1).iter_rows(named=True):
        result.problems.append(
            Problem(
                "gold",
                row["article_id"],
                row["field"],
                "a single-choice field has one gold value",
                row["len"],
                "settle with a decision rejecting all but one value",
            )
        )
