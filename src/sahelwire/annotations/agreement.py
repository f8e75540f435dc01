"""Inter-annotator agreement, computed wherever two or more annotators labeled an article.

- Article-level labels: Krippendorff's alpha (nominal) per single-choice field, and per
  quality flag as a present/absent variable, over articles with >= 2 annotators.
- Span layers: pairwise F1 between annotators on the same article, exact (same label,
  start and end) and overlap (same label, overlapping offsets; each span matched at
  most once), micro-averaged over all annotator pairs.
Cancelled annotations are excluded; each annotator's latest annotation counts (as in
adjudication). Nothing is reported where fewer than two annotators overlap, and below
``min_articles`` doubly annotated articles (``agreement_min_articles``, default
:data:`sahelwire.io.config.AGREEMENT_MIN_ARTICLES`, which says why) the report carries a
caution: the figures then describe those few articles, not how reliably the scheme is
applied.
"""

from __future__ import annotations

from collections import defaultdict
from itertools import combinations
from typing import Any

import krippendorff
import numpy as np
import polars as pl

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
    counted, _ = _latest(annotations)
    multi = {a: ids for a, ids in counted.items() if len(ids) >= 2}
    out: dict[str, Any] = {}
    for layer in taxonomy.layer_names:
        sums = {"exact": [0, 0], "overlap": [0, 0]}
        pairs = 0
        for ids in multi.values():
            spans = {
                i: [
                    (r["label"], r["start"], r["end"])
                    for r in regions.filter(
                        (pl.col("annotation_id") == i) & (pl.col("layer") == layer)
                    ).iter_rows(named=True)
                ]
                for i in ids
            }
            for x, y in combinations(ids, 2):
                pairs += 1
                for mode in sums:
                    m, t = _pair_f1(spans[x], spans[y], overlap=mode == "overlap")
                    sums[mode][0] += m
                    sums[mode][1] += t
        if pairs:
            out[layer] = {
                "pairs": pairs,
                **{f"f1_{m}": (v[0] / v[1] if v[1] else None) for m, v in sums.items()},
            }
    return out


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
    min_articles: int = AGREEMENT_MIN_ARTICLES,
) -> dict[str, Any]:
    counted, _ = _latest(annotations)
    multi = sum(1 for ids in counted.values() if len(ids) >= 2)
    return {
        "articles_with_2plus_annotators": multi,
        "min_articles": min_articles,
        "caution": caution(multi, min_articles) if multi else None,
        "spans": span_agreement(annotations, regions, taxonomy) if regions.height else {},
        "article_labels": label_alpha(annotations, choices, taxonomy) if choices.height else {},
    }
