"""Memoised span error classes per article: nervaluate runs only for articles that changed.

:func:`sahelwire.annotations.agreement.span_error_classes` hands nervaluate one document per
annotator pair. nervaluate evaluates each document on its own and *sums* the integer counts
(correct, incorrect, partial, missed, spurious) per strategy, overall and per label, then
computes precision, recall and F1 from the sums (``EvaluationResult.compute_metrics``). So an
article's contribution is the counts of its pairs alone, and the report is the sums of the
articles' contributions put through the same ``compute_metrics``: the same numbers, exactly.

Contributions are kept in ``.sahelwire/cache/agreement/`` (:mod:`sahelwire.io.article_packs`)
under a key per article: the fingerprint of this code (with agreement and nervaluate's
version), the taxonomy and schemas, and exactly what nervaluate is given for the article (its
pairs' spans, per layer, in order). Never a source of truth: a missing or damaged pack is
computed again; ``SAHELWIRE_ARTICLE_CACHE=off`` turns it off.
"""

from __future__ import annotations

import json
from collections import defaultdict
from importlib.metadata import version
from pathlib import Path
from typing import Any

import polars as pl
from nervaluate import Evaluator
from nervaluate.entities import EvaluationResult

from sahelwire.annotations.agreement import ERROR_CLASSES, _pairs, _spans_of
from sahelwire.annotations.export_cache import Uncacheable
from sahelwire.annotations.memo_keys import code_fingerprint
from sahelwire.io.article_packs import ArticlePacks, memo_enabled
from sahelwire.io.paths import ProjectPaths
from sahelwire.schema.taxonomy import Taxonomy

# What the report reads of nervaluate's results (strategy -> computed with the partial formula).
OVERALL = {"strict": False, "partial": True, "ent_type": True}
PER_LABEL = {"strict": False}
_COUNTS = ("correct", "incorrect", "partial", "missed", "spurious")


def cache_folder(paths: ProjectPaths) -> Path:
    return paths.state_dir / "cache" / "agreement"


def _counts(result: EvaluationResult) -> list[int]:
    return [int(getattr(result, c)) for c in _COUNTS]


def _result(counts: list[int], partial_formula: bool) -> EvaluationResult:
    result = EvaluationResult(**dict(zip(_COUNTS, counts, strict=True)))
    result.compute_metrics(partial_or_type=partial_formula)
    return result


def article_contribution(
    docs: dict[str, tuple[list[Any], list[Any]]], taxonomy: Taxonomy
) -> dict[str, Any]:
    """Per layer with any span: nervaluate's counts for this article's pairs."""
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


class ErrorClassCache:
    """The per-article nervaluate counts of one project."""

    def __init__(self, folder: Path, fingerprint: str) -> None:
        self.packs = ArticlePacks(folder, fingerprint, {})

    @classmethod
    def for_project(cls, paths: ProjectPaths, taxonomy: Taxonomy) -> ErrorClassCache | None:
        if not memo_enabled():
            return None
        try:
            fingerprint = code_fingerprint(
                paths, __name__, taxonomy, f"nervaluate {version('nervaluate')}"
            )
        except (Uncacheable, OSError, ValueError):
            return None
        return cls(cache_folder(paths), fingerprint)

    @property
    def stats(self) -> Any:
        return self.packs.stats

    def span_error_classes(
        self, annotations: pl.DataFrame, regions: pl.DataFrame, taxonomy: Taxonomy
    ) -> dict[str, Any]:
        """What :func:`~sahelwire.annotations.agreement.span_error_classes` returns."""
        pairs = _pairs(annotations)
        spans = _spans_of(regions)
        by_article: dict[str, list[tuple[int, int]]] = defaultdict(list)
        for article, x, y in pairs:
            by_article[article].append((x, y))
        pack = self.packs.load()
        entries = pack.entries if pack is not None else {}
        new: dict[str, dict[str, Any]] = {}
        contributions = []
        for article, article_pairs in by_article.items():
            docs = {
                layer: tuple(
                    [
                        [
                            {"label": r["label"], "start": r["start"], "end": r["end"] - 1}
                            for r in spans.get((side, layer), [])
                        ]
                        for side in sides
                    ]
                    for sides in zip(*article_pairs, strict=True)
                )
                for layer in taxonomy.layer_names
            }
            key = self.packs.key(article, json.dumps(docs, sort_keys=True))
            entry = entries.get(article)
            if entry is not None and entry.get("key") == key and "value" in entry:
                value = entry["value"]
                self.packs.stats.hits += 1
            else:
                value = article_contribution(docs, taxonomy)  # type: ignore[arg-type]
                self.packs.stats.misses += 1
            new[article] = {"key": key, "rows": {}, "value": value}
            contributions.append(value)
        if self.packs.stats.misses or (pack is None and new):
            self.packs.write({}, new)
        return _report(contributions, len(pairs), taxonomy)


def _report(contributions: list[dict[str, Any]], pairs: int, taxonomy: Taxonomy) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for layer in taxonomy.span_layers:
        mine = [c[layer.name] for c in contributions if layer.name in c]
        if not mine:
            continue
        overall = {s: [0] * len(_COUNTS) for s in OVERALL}
        labels: dict[str, list[int]] = {}
        for c in mine:
            for s in OVERALL:
                overall[s] = [a + b for a, b in zip(overall[s], c["overall"][s], strict=True)]
            for tag, res in c["labels"].items():
                labels[tag] = [
                    a + b
                    for a, b in zip(labels.get(tag, [0] * len(_COUNTS)), res["strict"], strict=True)
                ]
        results = {s: _result(overall[s], partial) for s, partial in OVERALL.items()}
        per_label = {}
        for tag, counts in sorted(labels.items()):
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
