"""Inter-annotator agreement, computed wherever two or more annotators labeled an article.

- Article-level labels: Krippendorff's alpha (nominal) per single-choice field, and per
  quality flag as a present/absent variable, over articles with >= 2 annotators.
- Span layers: pairwise F1 between annotators on the same article, exact (same label,
  start and end) and overlap (same label, overlapping offsets; each span matched at
  most once), micro-averaged over all annotator pairs.
- Span error classes (MUC / SemEval-2013 task 9.1, computed by ``nervaluate``): per layer
  and per label, the counts of correct, incorrect (same offsets, other label), partial
  (overlapping offsets), missed and spurious spans of one annotator against the other, and
  the strict and partial F1. Chosen over ``pygamma-agreement`` (gamma, a unitizing measure):
  nervaluate is maintained (2026), pure Python and has no dependencies; pygamma-agreement's
  last release is from 2024 and pins cvxopt 1.3.2 and numba (docs/agreement.md).
- Event arguments: pairwise F1 of (event span, argument span, role) triples, exact offsets.
- Links: over the mentions both annotators marked identically (same layer, label and
  offsets), how often they gave the same ``entity_id`` (entities) or ``event_id`` and
  ``realis`` (events).
Cancelled annotations are excluded; each annotator's latest annotation counts (as in
adjudication). Nothing is reported where fewer than two annotators overlap, and below
``min_articles`` doubly annotated articles (``agreement_min_articles``, default
:data:`sahelwire.io.config.AGREEMENT_MIN_ARTICLES`, which says why) the report carries a
caution: the figures then describe those few articles, not how reliably the scheme is
applied.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable
from itertools import combinations
from typing import Any

import krippendorff
import numpy as np
import polars as pl
from nervaluate import Evaluator

from sahelwire.annotations.adjudication import _latest
from sahelwire.io.config import AGREEMENT_MIN_ARTICLES
from sahelwire.schema.taxonomy import Taxonomy


def _pair_f1(
    a: list[tuple[str, int, int]], b: list[tuple[str, int, int]], *, overlap: bool
) -> tuple[int, int]:
    """(matches, |a| + |b|) for one annotator pair; F1 = 2 * matches / total."""
    if not overlap:
        return 2 * len(set(a) & set(b)), len(a) + len(b)
    unused = list(b)
    matches = 0
    for label, s, e in sorted(a, key=lambda x: (x[1], x[2])):
        hit = next((x for x in unused if x[0] == label and x[1] < e and s < x[2]), None)
        if hit is not None:
            unused.remove(hit)
            matches += 1
    return 2 * matches, len(a) + len(b)


def span_agreement(
    annotations: pl.DataFrame, regions: pl.DataFrame, taxonomy: Taxonomy
) -> dict[str, Any]:
    pairs = _pairs(annotations)
    spans = _spans_of(regions)  # grouped once: the corpus may hold many annotations
    out: dict[str, Any] = {}
    for layer in taxonomy.layer_names:
        sums = {"exact": [0, 0], "overlap": [0, 0]}
        for _article, x, y in pairs:
            sx = [(r["label"], r["start"], r["end"]) for r in spans.get((x, layer), [])]
            sy = [(r["label"], r["start"], r["end"]) for r in spans.get((y, layer), [])]
            for mode in sums:
                m, t = _pair_f1(sx, sy, overlap=mode == "overlap")
                sums[mode][0] += m
                sums[mode][1] += t
        if pairs:
            out[layer] = {
                "pairs": len(pairs),
                **{f"f1_{m}": (v[0] / v[1] if v[1] else None) for m, v in sums.items()},
            }
    return out


ERROR_CLASSES = ("correct", "incorrect", "partial", "missed", "spurious")


def _pairs(annotations: pl.DataFrame) -> list[tuple[str, int, int]]:
    """(article, annotation x, annotation y) for every annotator pair on every article."""
    counted, _ = _latest(annotations)
    return [
        (article, x, y)
        for article, ids in sorted(counted.items())
        if len(ids) >= 2
        for x, y in combinations(ids, 2)
    ]


def _spans_of(regions: pl.DataFrame) -> dict[tuple[int, str], list[dict[str, Any]]]:
    out: dict[tuple[int, str], list[dict[str, Any]]] = defaultdict(list)
    for r in regions.iter_rows(named=True):
        out[(r["annotation_id"], r["layer"])].append(r)
    return out


def span_error_classes(
    annotations: pl.DataFrame, regions: pl.DataFrame, taxonomy: Taxonomy
) -> dict[str, Any]:
    """Per layer: nervaluate's error classes and F1, one annotator of each pair against the
    other (summed over pairs; strict F1 is symmetric, the class counts swap missed and
    spurious when the pair is read the other way)."""
    pairs = _pairs(annotations)
    spans = _spans_of(regions)
    out: dict[str, Any] = {}
    for layer in taxonomy.span_layers:
        true_docs, pred_docs = [], []
        for _article, x, y in pairs:
            true_docs.append(
                [
                    {"label": r["label"], "start": r["start"], "end": r["end"] - 1}
                    for r in spans.get((x, layer.name), [])
                ]
            )
            pred_docs.append(
                [
                    {"label": r["label"], "start": r["start"], "end": r["end"] - 1}
                    for r in spans.get((y, layer.name), [])
                ]
            )
        if not any(true_docs) and not any(pred_docs):
            continue
        # nervaluate needs one document per pair; an empty side is an empty list
        result = Evaluator(
            true_docs, pred_docs, tags=list(layer.label_names), loader="dict"
        ).evaluate()
        overall = result["overall"]
        per_label = {
            tag: {c: getattr(res["strict"], c) for c in ERROR_CLASSES}
            | {"f1_strict": res["strict"].f1}
            for tag, res in sorted(result["entities"].items())
        }
        out[layer.name] = {
            "pairs": len(pairs),
            **{c: getattr(overall["ent_type"], c) for c in ERROR_CLASSES},
            "f1_strict": overall["strict"].f1,
            "f1_partial": overall["partial"].f1,
            "labels": per_label,
        }
    return out


def _f1(a: set[Any], b: set[Any]) -> float | None:
    return 2 * len(a & b) / (len(a) + len(b)) if (a or b) else None


def argument_agreement(
    annotations: pl.DataFrame, regions: pl.DataFrame, relations: pl.DataFrame
) -> dict[str, Any]:
    """Pairwise F1 of (event span, argument span, role), micro-averaged over pairs."""
    pairs = _pairs(annotations)
    if not pairs or not relations.height:
        return {}
    where = {
        (r["annotation_id"], r["region_id"]): (r["label"], r["start"], r["end"])
        for r in regions.iter_rows(named=True)
    }
    triples: dict[int, set[tuple[Any, ...]]] = defaultdict(set)
    for r in relations.iter_rows(named=True):
        a = r["annotation_id"]
        source, target = where.get((a, r["from_region_id"])), where.get((a, r["to_region_id"]))
        if source is not None and target is not None:
            triples[a].add((source, target[1:], r["label"]))
    matched = total = 0
    per_role: dict[str, list[int]] = defaultdict(lambda: [0, 0])
    for _article, x, y in pairs:
        a, b = triples.get(x, set()), triples.get(y, set())
        matched += 2 * len(a & b)
        total += len(a) + len(b)
        for t in a | b:
            per_role[t[2]][0] += 2 * (t in a and t in b)
            per_role[t[2]][1] += (t in a) + (t in b)
    return {
        "pairs": len(pairs),
        "f1": matched / total if total else None,
        "roles": {role: m / n for role, (m, n) in sorted(per_role.items()) if n},
    }


def link_agreement(annotations: pl.DataFrame, regions: pl.DataFrame) -> dict[str, Any]:
    """Over mentions both annotators of a pair marked identically: how often their
    ``entity_id``, ``event_id`` and ``realis`` agree (null equals null)."""
    pairs = _pairs(annotations)
    if not pairs:
        return {}
    spans: dict[int, dict[tuple[Any, ...], dict[str, Any]]] = defaultdict(dict)
    for r in regions.iter_rows(named=True):
        spans[r["annotation_id"]][(r["layer"], r["label"], r["start"], r["end"])] = r
    fields = {"entities": ("entity_id",), "events": ("event_id", "realis")}
    counts: dict[str, list[int]] = defaultdict(lambda: [0, 0])
    for _article, x, y in pairs:
        for key, rx in spans.get(x, {}).items():
            ry = spans.get(y, {}).get(key)
            if ry is None:
                continue
            for name in fields.get(key[0], ()):
                counts[name][0] += rx.get(name) == ry.get(name)
                counts[name][1] += 1
    return {
        name: {"same": same, "mentions": n, "agreement": same / n}
        for name, (same, n) in sorted(counts.items())
        if n
    }


def label_alpha(
    annotations: pl.DataFrame, choices: pl.DataFrame, taxonomy: Taxonomy
) -> dict[str, Any]:
    counted, _ = _latest(annotations)
    multi = {a: ids for a, ids in counted.items() if len(ids) >= 2}
    if not multi:
        return {}
    annotator_of = dict(annotations.select("annotation_id", "annotator").iter_rows())
    annotators = sorted({annotator_of[i] for ids in multi.values() for i in ids})
    articles = sorted(multi)
    chosen: dict[tuple[int, str], set[str]] = defaultdict(set)  # (annotation, field) -> values
    for r in choices.iter_rows(named=True):
        chosen[(r["annotation_id"], r["field"])].add(r["value"])
    variables: dict[str, tuple[str, Any]] = {}
    for f in taxonomy.document_fields:
        if f.kind == "single":
            variables[f.name] = (f.name, None)
        elif f.kind == "multi":
            variables.update({f"{f.name}:{v}": (f.name, v) for v in f.value_names})
    out: dict[str, Any] = {}
    for name, (fname, flag) in variables.items():
        data = np.full((len(annotators), len(articles)), np.nan)
        f = taxonomy.document_field(fname)
        for j, article in enumerate(articles):
            for aid in multi[article]:
                values = chosen.get((aid, fname), set())
                i = annotators.index(annotator_of[aid])
                if flag is not None:
                    data[i, j] = 1.0 if flag in values else 0.0
                elif len(values) == 1:
                    data[i, j] = float(f.value_names.index(next(iter(values))))
        pairable = int(np.sum(np.sum(~np.isnan(data), axis=0) >= 2))
        values_seen = np.unique(data[~np.isnan(data)])
        if pairable == 0 or len(values_seen) < 2:
            # alpha is undefined without variation; report agreement rather than invent a number
            out[name] = {
                "alpha": None,
                "articles": pairable,
                "note": "no variation in values" if pairable else "no pairable data",
            }
            continue
        alpha = krippendorff.alpha(reliability_data=data, level_of_measurement="nominal")
        out[name] = {"alpha": float(alpha), "articles": pairable}
    return out


def caution(articles: int, min_articles: int) -> str | None:
    """Why figures over ``articles`` doubly annotated articles are not to be relied on."""
    if articles >= min_articles:
        return None
    return (
        f"only {articles} article(s) annotated by two or more annotators, fewer than the "
        f"{min_articles} (agreement_min_articles in [tool.sahelwire]): one article's "
        f"disagreement moves alpha by {1 / max(articles, 1):.2f} or more, so the figures below "
        "describe these articles, not how reliably the scheme is applied; do not quote them "
        "as the dataset's agreement"
    )


def agreement_report(
    annotations: pl.DataFrame,
    regions: pl.DataFrame,
    choices: pl.DataFrame,
    taxonomy: Taxonomy,
    *,
    relations: pl.DataFrame | None = None,
    min_articles: int = AGREEMENT_MIN_ARTICLES,
    error_classes: Callable[[pl.DataFrame, pl.DataFrame, Taxonomy], dict[str, Any]] | None = None,
) -> dict[str, Any]:
    """``error_classes``: stands in for :func:`span_error_classes` (the same result, e.g.
    memoised per article by :mod:`sahelwire.annotations.agreement_cache`)."""
    counted, _ = _latest(annotations)
    errors = error_classes or span_error_classes
    multi = sum(1 for ids in counted.values() if len(ids) >= 2)
    # Only annotations of doubly annotated articles are compared: read those rows alone
    # (most of a large corpus is single-annotated).
    paired = sorted({i for ids in counted.values() if len(ids) >= 2 for i in ids})
    regions = regions.filter(pl.col("annotation_id").is_in(paired))
    if relations is not None:
        relations = relations.filter(pl.col("annotation_id").is_in(paired))
    return {
        "articles_with_2plus_annotators": multi,
        "min_articles": min_articles,
        "caution": caution(multi, min_articles) if multi else None,
        "spans": span_agreement(annotations, regions, taxonomy) if regions.height else {},
        "article_labels": label_alpha(annotations, choices, taxonomy) if choices.height else {},
        "span_errors": errors(annotations, regions, taxonomy) if regions.height else {},
        "arguments": (
            argument_agreement(annotations, regions, relations)
            if relations is not None and multi
            else {}
        ),
        "links": link_agreement(annotations, regions) if multi else {},
    }
