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
from itertools import combinations
from typing import Any, ClassVar, Protocol

import krippendorff
import numpy as np
import polars as pl
from nervaluate import Evaluator
from nervaluate.entities import EvaluationResult

from sahelwire.annotations.adjudication import _latest
from sahelwire.io.config import AGREEMENT_MIN_ARTICLES
from sahelwire.schema.taxonomy import Taxonomy

# Doubly annotated articles whose rows are Python objects at a time. Every measure but
# alpha is an integer sum over annotator pairs (F1 and rates are taken of the sums at the
# end), and all of an article's annotations fall in one chunk, so the chunks' sums are the
# corpus's exactly. At 100k (20,000 such articles, ≈3.4M region rows) the rows all at once
# were ≈3.5 GB of dicts (docs/benchmarks.md).
AGREEMENT_CHUNK_ARTICLES = 500

# The columns the measures read, per table; the others are not turned into Python, and the
# build keeps only these of the rows it holds for the card (release.validation.for_agreement).
REGION_COLUMNS = (
    "annotation_id",
    "region_id",
    "layer",
    "label",
    "start",
    "end",
    "entity_id",
    "event_id",
    "realis",
)
RELATION_COLUMNS = ("annotation_id", "from_region_id", "to_region_id", "label")
CHOICE_COLUMNS = ("annotation_id", "field", "value")
# Of the annotations, what says which of them count (adjudication's ``_latest``) and whose
# they are; not lead times or other timing, which a rebuild often changes and no measure reads.
ANNOTATION_COLUMNS = ("article_id", "annotation_id", "annotator", "cancelled", "updated_at")


def agreement_inputs(
    annotations: pl.DataFrame,
    regions: pl.DataFrame,
    choices: pl.DataFrame,
    relations: pl.DataFrame | None,
) -> tuple[pl.DataFrame, pl.DataFrame, pl.DataFrame, pl.DataFrame | None]:
    """Each table cut to the columns above that it has: what :func:`agreement_report` reads.

    The report starts from these frames and sees nothing else (a column left out here fails
    where it is read, on every corpus), so it is a function of them alone: the agreement
    memo (``annotations.agreement_cache``) keys a whole report by a digest of exactly these.
    """

    def cut(frame: pl.DataFrame, columns: tuple[str, ...]) -> pl.DataFrame:
        return frame.select([c for c in columns if c in frame.columns])

    return (
        cut(annotations, ANNOTATION_COLUMNS),
        cut(regions, REGION_COLUMNS),
        cut(choices, CHOICE_COLUMNS),
        None if relations is None else cut(relations, RELATION_COLUMNS),
    )


Pair = tuple[str, int, int]  # (article, annotation x, annotation y)
Spans = dict[tuple[int, str], list[dict[str, Any]]]  # (annotation, layer) -> its regions


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


ERROR_CLASSES = ("correct", "incorrect", "partial", "missed", "spurious")


def _counted_pairs(counted: dict[str, list[int]]) -> list[Pair]:
    return [
        (article, x, y)
        for article, ids in sorted(counted.items())
        if len(ids) >= 2
        for x, y in combinations(ids, 2)
    ]


def _pairs(annotations: pl.DataFrame) -> list[Pair]:
    """(article, annotation x, annotation y) for every annotator pair on every article."""
    counted, _ = _latest(annotations)
    return _counted_pairs(counted)


def _spans_of(regions: pl.DataFrame) -> Spans:
    out: Spans = defaultdict(list)
    read = regions.select([c for c in REGION_COLUMNS if c in regions.columns])
    for r in read.iter_rows(named=True):
        out[(r["annotation_id"], r["layer"])].append(r)
    return out


class _SpanF1:
    """Exact and overlap F1 per layer: (matches, spans) summed over pairs."""

    def __init__(self, taxonomy: Taxonomy) -> None:
        self.sums = {layer: {"exact": [0, 0], "overlap": [0, 0]} for layer in taxonomy.layer_names}

    def add(self, pairs: list[Pair], spans: Spans) -> None:
        for layer, sums in self.sums.items():
            for _article, x, y in pairs:
                sx = [(r["label"], r["start"], r["end"]) for r in spans.get((x, layer), [])]
                sy = [(r["label"], r["start"], r["end"]) for r in spans.get((y, layer), [])]
                for mode in sums:
                    m, t = _pair_f1(sx, sy, overlap=mode == "overlap")
                    sums[mode][0] += m
                    sums[mode][1] += t

    def result(self, pairs: int) -> dict[str, Any]:
        if not pairs:
            return {}
        return {
            layer: {
                "pairs": pairs,
                **{f"f1_{m}": (v[0] / v[1] if v[1] else None) for m, v in sums.items()},
            }
            for layer, sums in self.sums.items()
        }


def span_agreement(
    annotations: pl.DataFrame, regions: pl.DataFrame, taxonomy: Taxonomy
) -> dict[str, Any]:
    pairs = _pairs(annotations)
    f1 = _SpanF1(taxonomy)
    f1.add(pairs, _spans_of(regions))
    return f1.result(len(pairs))


# What the report reads of nervaluate's results (strategy -> computed with the partial formula).
OVERALL = {"strict": False, "partial": True, "ent_type": True}
PER_LABEL = {"strict": False}
_COUNTS = ("correct", "incorrect", "partial", "missed", "spurious")

Docs = dict[str, tuple[list[Any], list[Any]]]  # layer -> (x's spans, y's spans) per pair


def _counts(result: EvaluationResult) -> list[int]:
    return [int(getattr(result, c)) for c in _COUNTS]


def _result(counts: list[int], partial_formula: bool) -> EvaluationResult:
    result = EvaluationResult(**dict(zip(_COUNTS, counts, strict=True)))
    result.compute_metrics(partial_or_type=partial_formula)
    return result


def _docs(pairs: list[Pair], spans: Spans, taxonomy: Taxonomy) -> Docs:
    """What nervaluate is given for ``pairs``: one document per pair and layer, the first
    annotation of the pair as truth; nervaluate's ``end`` is inclusive."""
    return {
        layer: tuple(  # type: ignore[misc]
            [
                [
                    {"label": r["label"], "start": r["start"], "end": r["end"] - 1}
                    for r in spans.get((side, layer), [])
                ]
                for side in sides
            ]
            for sides in ([x for _a, x, _y in pairs], [y for _a, _x, y in pairs])
        )
        for layer in taxonomy.layer_names
    }


def article_contribution(docs: Docs, taxonomy: Taxonomy) -> dict[str, Any]:
    """Per layer with any span: nervaluate's counts for these pairs.

    nervaluate evaluates each document on its own and *sums* the integer counts (correct,
    incorrect, partial, missed, spurious) per strategy, overall and per label, then computes
    precision, recall and F1 from the sums (``EvaluationResult.compute_metrics``). So any
    set of pairs contributes its counts alone, and the report is the sums of the
    contributions put through the same ``compute_metrics``: the same numbers, exactly."""
    out: dict[str, Any] = {}
    for layer in taxonomy.span_layers:
        true_docs, pred_docs = docs[layer.name]
        if not any(true_docs) and not any(pred_docs):
            continue
        result = Evaluator(
            true_docs, pred_docs, tags=list(layer.label_names), loader="dict"
        ).evaluate()
        out[layer.name] = {
            "overall": {s: _counts(result["overall"][s]) for s in OVERALL},
            "labels": {
                tag: {s: _counts(res[s]) for s in PER_LABEL}
                for tag, res in result["entities"].items()
            },
        }
    return out


class ErrorClassMemo(Protocol):
    """Contributions memoised per article (:mod:`sahelwire.annotations.agreement_cache`)."""

    def start(self) -> None: ...

    def contribution(self, article: str, docs: Docs, taxonomy: Taxonomy) -> dict[str, Any]: ...

    def finish(self) -> None: ...


class _ErrorClasses:
    """nervaluate's counts summed over pairs, per layer, overall and per label."""

    def __init__(self, taxonomy: Taxonomy, memo: ErrorClassMemo | None) -> None:
        self.taxonomy, self.memo = taxonomy, memo
        self.overall: dict[str, dict[str, list[int]]] = {}
        self.labels: dict[str, dict[str, list[int]]] = {}
        if memo is not None:
            memo.start()

    def add(self, pairs: list[Pair], spans: Spans) -> None:
        if self.memo is None:
            self._sum(article_contribution(_docs(pairs, spans, self.taxonomy), self.taxonomy))
            return
        by_article: dict[str, list[Pair]] = defaultdict(list)
        for pair in pairs:
            by_article[pair[0]].append(pair)
        for article, article_pairs in by_article.items():
            docs = _docs(article_pairs, spans, self.taxonomy)
            self._sum(self.memo.contribution(article, docs, self.taxonomy))

    def _sum(self, contribution: dict[str, Any]) -> None:
        for layer, c in contribution.items():
            overall = self.overall.setdefault(layer, {s: [0] * len(_COUNTS) for s in OVERALL})
            for s in OVERALL:
                overall[s] = [a + b for a, b in zip(overall[s], c["overall"][s], strict=True)]
            labels = self.labels.setdefault(layer, {})
            for tag, res in c["labels"].items():
                labels[tag] = [
                    a + b
                    for a, b in zip(labels.get(tag, [0] * len(_COUNTS)), res["strict"], strict=True)
                ]

    def result(self, pairs: int) -> dict[str, Any]:
        if self.memo is not None:
            self.memo.finish()
        out: dict[str, Any] = {}
        for layer in self.taxonomy.span_layers:
            if layer.name not in self.overall:
                continue
            results = {
                s: _result(self.overall[layer.name][s], partial) for s, partial in OVERALL.items()
            }
            per_label = {}
            for tag, counts in sorted(self.labels[layer.name].items()):
                strict = _result(counts, PER_LABEL["strict"])
                per_label[tag] = {c: getattr(strict, c) for c in ERROR_CLASSES} | {
                    "f1_strict": strict.f1
                }
            out[layer.name] = {
                "pairs": pairs,
                **{c: getattr(results["ent_type"], c) for c in ERROR_CLASSES},
                "f1_strict": results["strict"].f1,
                "f1_partial": results["partial"].f1,
                "labels": per_label,
            }
        return out


def span_error_classes(
    annotations: pl.DataFrame,
    regions: pl.DataFrame,
    taxonomy: Taxonomy,
    memo: ErrorClassMemo | None = None,
) -> dict[str, Any]:
    """Per layer: nervaluate's error classes and F1, one annotator of each pair against the
    other (summed over pairs; strict F1 is symmetric, the class counts swap missed and
    spurious when the pair is read the other way)."""
    pairs = _pairs(annotations)
    errors = _ErrorClasses(taxonomy, memo)
    errors.add(pairs, _spans_of(regions))
    return errors.result(len(pairs))


def _f1(a: set[Any], b: set[Any]) -> float | None:
    return 2 * len(a & b) / (len(a) + len(b)) if (a or b) else None


class _ArgumentF1:
    """(event span, argument span, role) triples: matches and totals summed over pairs."""

    def __init__(self) -> None:
        self.matched = self.total = 0
        self.per_role: dict[str, list[int]] = defaultdict(lambda: [0, 0])

    def add(self, pairs: list[Pair], spans: Spans, relations: pl.DataFrame) -> None:
        where = {
            (r["annotation_id"], r["region_id"]): (r["label"], r["start"], r["end"])
            for rows in spans.values()
            for r in rows
        }
        triples: dict[int, set[tuple[Any, ...]]] = defaultdict(set)
        read = relations.select(RELATION_COLUMNS)
        for a, from_id, to_id, label in read.iter_rows():
            source, target = where.get((a, from_id)), where.get((a, to_id))
            if source is not None and target is not None:
                triples[a].add((source, target[1:], label))
        for _article, x, y in pairs:
            a, b = triples.get(x, set()), triples.get(y, set())
            self.matched += 2 * len(a & b)
            self.total += len(a) + len(b)
            for t in a | b:
                self.per_role[t[2]][0] += 2 * (t in a and t in b)
                self.per_role[t[2]][1] += (t in a) + (t in b)

    def result(self, pairs: int) -> dict[str, Any]:
        return {
            "pairs": pairs,
            "f1": self.matched / self.total if self.total else None,
            "roles": {role: m / n for role, (m, n) in sorted(self.per_role.items()) if n},
        }


def argument_agreement(
    annotations: pl.DataFrame, regions: pl.DataFrame, relations: pl.DataFrame
) -> dict[str, Any]:
    """Pairwise F1 of (event span, argument span, role), micro-averaged over pairs."""
    pairs = _pairs(annotations)
    if not pairs or not relations.height:
        return {}
    f1 = _ArgumentF1()
    f1.add(pairs, _spans_of(regions), relations)
    return f1.result(len(pairs))


class _Links:
    """Over mentions both annotators of a pair marked identically: (same, mentions) per
    link field (null equals null)."""

    FIELDS: ClassVar[dict[str, tuple[str, ...]]] = {
        "entities": ("entity_id",),
        "events": ("event_id", "realis"),
    }

    def __init__(self) -> None:
        self.counts: dict[str, list[int]] = defaultdict(lambda: [0, 0])

    def add(self, pairs: list[Pair], spans: Spans) -> None:
        # region rows by annotation; a later row of the same mention replaces an earlier one
        mentions: dict[int, dict[tuple[Any, ...], dict[str, Any]]] = defaultdict(dict)
        for (annotation, _layer), rows in spans.items():
            for r in rows:
                mentions[annotation][(r["layer"], r["label"], r["start"], r["end"])] = r
        for _article, x, y in pairs:
            for key, rx in mentions.get(x, {}).items():
                ry = mentions.get(y, {}).get(key)
                if ry is None:
                    continue
                for name in self.FIELDS.get(key[0], ()):
                    self.counts[name][0] += rx.get(name) == ry.get(name)
                    self.counts[name][1] += 1

    def result(self) -> dict[str, Any]:
        return {
            name: {"same": same, "mentions": n, "agreement": same / n}
            for name, (same, n) in sorted(self.counts.items())
            if n
        }


def link_agreement(annotations: pl.DataFrame, regions: pl.DataFrame) -> dict[str, Any]:
    """Over mentions both annotators of a pair marked identically: how often their
    ``entity_id``, ``event_id`` and ``realis`` agree (null equals null)."""
    pairs = _pairs(annotations)
    if not pairs:
        return {}
    links = _Links()
    links.add(pairs, _spans_of(regions))
    return links.result()


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
    for annotation, field, value in choices.select(CHOICE_COLUMNS).iter_rows():
        chosen[(annotation, field)].add(value)
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
    error_classes: ErrorClassMemo | None = None,
    chunk_articles: int = AGREEMENT_CHUNK_ARTICLES,
) -> dict[str, Any]:
    """``error_classes``: nervaluate's contributions memoised per article (the same result,
    :mod:`sahelwire.annotations.agreement_cache`). The rows are read ``chunk_articles``
    doubly annotated articles at a time (see :data:`AGREEMENT_CHUNK_ARTICLES`)."""
    annotations, regions, choices, relations = agreement_inputs(
        annotations, regions, choices, relations
    )
    counted, _ = _latest(annotations)
    multi = sorted(a for a, ids in counted.items() if len(ids) >= 2)
    # Only annotations of doubly annotated articles are compared: read those rows alone
    # (most of a large corpus is single-annotated).
    paired = sorted(i for a in multi for i in counted[a])
    regions = regions.filter(pl.col("annotation_id").is_in(paired))
    any_choices = choices.height > 0  # alpha reports "no pairable data" where pairs chose none
    choices = choices.filter(pl.col("annotation_id").is_in(paired))
    if relations is not None:
        relations = relations.filter(pl.col("annotation_id").is_in(paired))
    pairs = _counted_pairs(counted)
    span_f1 = _SpanF1(taxonomy)
    errors = _ErrorClasses(taxonomy, error_classes) if regions.height else None
    arguments = _ArgumentF1() if relations is not None and relations.height else None
    links = _Links()
    for first in range(0, len(multi), max(chunk_articles, 1)):
        chunk = {a: counted[a] for a in multi[first : first + max(chunk_articles, 1)]}
        ids = [i for chunk_ids in chunk.values() for i in chunk_ids]
        chunk_pairs = _counted_pairs(chunk)
        spans = _spans_of(regions.filter(pl.col("annotation_id").is_in(ids)))
        span_f1.add(chunk_pairs, spans)
        if errors is not None:
            errors.add(chunk_pairs, spans)
        if arguments is not None and relations is not None:
            arguments.add(chunk_pairs, spans, relations.filter(pl.col("annotation_id").is_in(ids)))
        links.add(chunk_pairs, spans)
        del spans
    return {
        "articles_with_2plus_annotators": len(multi),
        "min_articles": min_articles,
        "caution": caution(len(multi), min_articles) if multi else None,
        "spans": span_f1.result(len(pairs)) if regions.height else {},
        "article_labels": label_alpha(annotations, choices, taxonomy) if any_choices else {},
        "span_errors": errors.result(len(pairs)) if errors is not None else {},
        "arguments": arguments.result(len(pairs)) if arguments is not None and multi else {},
        "links": links.result() if multi else {},
    }
