"""The pre-annotation baseline (sahelwire.labelstudio.prelabel) scored against the gold layer.

Per predicted span layer and per label: precision, recall and F1 for exact matches (same
label, start and end) and for overlap matches (same label, overlapping offsets, each span
matched at most once, as in sahelwire.annotations.agreement), plus how often the predicted entity_id
equals gold's on exactly matched entity mentions. Only articles that have gold are scored;
with no gold there is no score, and the report says so instead of printing zeros.
"""

from __future__ import annotations

import hashlib
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol

import polars as pl

from sahelwire.annotations.gold_layer import GoldLayer
from sahelwire.io.markdown import markdown_table
from sahelwire.io.paths import ProjectPaths
from sahelwire.labelstudio.prelabel import PREDICTED_LAYERS, model_version, predict_regions
from sahelwire.raw.manifest import Article
from sahelwire.schema.registries import Registries
from sahelwire.schema.taxonomy import Taxonomy

NO_GOLD = "no gold annotations yet: the baseline is not scored"
COMMAND = "sahelwire baseline"

# (article_id, label, start, end) plus the entity_id for the identity check.
Span = tuple[str, str, int, int]


@dataclass
class Counts:
    """Match counts for one layer or label; rates derived, None where undefined (0/0)."""

    predicted: int = 0
    gold: int = 0
    exact: int = 0
    overlap: int = 0

    def rates(self) -> dict[str, Any]:
        out: dict[str, Any] = {"predicted": self.predicted, "gold": self.gold}
        for mode, hits in (("exact", self.exact), ("overlap", self.overlap)):
            p = hits / self.predicted if self.predicted else None
            r = hits / self.gold if self.gold else None
            # 2TP / (|pred| + |gold|): equals 2PR/(P+R) and stays defined (0) when one side
            # is empty, e.g. a label the baseline never predicts has F1 0, not "undefined".
            total = self.predicted + self.gold
            f1 = 2 * hits / total if total else None
            out[mode] = {"matches": hits, "precision": p, "recall": r, "f1": f1}
        return out


def _overlap_matches(pred: list[Span], gold: list[Span]) -> int:
    """Greedy one-to-one overlap matching in (article, start, end, label) order.

    Only spans of the same article and label can match, so gold is bucketed by
    (article, label) first: the same matches as scanning every gold span, in linear rather
    than quadratic time over the corpus.
    """
    unused: dict[tuple[str, str], list[Span]] = defaultdict(list)
    for g in sorted(gold, key=lambda x: (x[0], x[2], x[3], x[1])):
        unused[(g[0], g[1])].append(g)
    hits = 0
    for a, label, s, e in sorted(pred, key=lambda x: (x[0], x[2], x[3], x[1])):
        bucket = unused.get((a, label))
        if not bucket:
            continue
        for i, g in enumerate(bucket):
            if g[2] < e and s < g[3]:
                del bucket[i]
                hits += 1
                break
    return hits


# Per-region attributes compared on exact span matches whose gold value is set.
SCORED_ATTRIBUTES: dict[str, tuple[str, ...]] = {
    "entities": ("entity_id",),
    "events": ("realis",),
    "quantities": ("value", "unit", "approximate", "bound"),
}


def _attribute_agreement(
    p_rows: list[dict[str, Any]],
    g_rows: list[dict[str, Any]],
    key: Callable[[dict[str, Any]], Span],
    name: str,
) -> dict[str, Any]:
    gold_values = {key(r): r.get(name) for r in g_rows}
    matched = [
        (r.get(name), gold_values[key(r)])
        for r in p_rows
        if key(r) in gold_values and gold_values[key(r)] is not None
    ]
    # A value the baseline leaves unset (realis without evidence) is the annotator's to
    # choose, neither right nor wrong: counted apart, not compared.
    pairs = [(p, g) for p, g in matched if p is not None]
    same = sum(1 for p, g in pairs if p == g)
    return {
        "compared": len(pairs),
        "same": same,
        "rate": same / len(pairs) if pairs else None,
        "unset": len(matched) - len(pairs),
    }


def score(
    predicted: pl.DataFrame, gold: pl.DataFrame, layers: tuple[str, ...] = PREDICTED_LAYERS
) -> dict[str, Any]:
    """Score prediction rows against gold rows (both: article_id, layer, label, start, end,
    entity_id). Returns ``{layer: {"all": rates, "labels": {label: rates}, ...}}``."""
    out: dict[str, Any] = {}
    for layer in layers:
        p_rows = list(predicted.filter(pl.col("layer") == layer).iter_rows(named=True))
        g_rows = list(gold.filter(pl.col("layer") == layer).iter_rows(named=True))

        def key(r: dict[str, Any]) -> Span:
            return (str(r["article_id"]), str(r["label"]), int(r["start"]), int(r["end"]))

        p_spans, g_spans = [key(r) for r in p_rows], [key(r) for r in g_rows]
        labels = sorted({s[1] for s in p_spans} | {s[1] for s in g_spans})
        per_label: dict[str, Counts] = defaultdict(Counts)
        total = Counts(len(p_spans), len(g_spans))
        g_set = set(g_spans)
        total.exact = len(set(p_spans) & g_set)
        total.overlap = _overlap_matches(p_spans, g_spans)
        p_by: dict[str, list[Span]] = defaultdict(list)
        g_by: dict[str, list[Span]] = defaultdict(list)
        for sp in p_spans:
            p_by[sp[1]].append(sp)
        for sp in g_spans:
            g_by[sp[1]].append(sp)
        for label in labels:
            ps, gs = p_by[label], g_by[label]
            c = per_label[label]
            c.predicted, c.gold = len(ps), len(gs)
            c.exact = len(set(ps) & set(gs))
            c.overlap = _overlap_matches(ps, gs)
        entry: dict[str, Any] = {
            "all": total.rates(),
            "labels": {label: per_label[label].rates() for label in labels},
        }
        attributes = {
            name: _attribute_agreement(p_rows, g_rows, key, name)
            for name in SCORED_ATTRIBUTES.get(layer, ())
            if name in predicted.columns and name in gold.columns
        }
        if attributes:
            entry["attributes"] = attributes
        if "entity_id" in attributes:
            entry["entity_id"] = attributes["entity_id"]
        out[layer] = entry
    return out


ATTRIBUTE_COLUMNS: dict[str, Any] = {
    "entity_id": pl.Utf8,
    "realis": pl.Utf8,
    "value": pl.Float64,
    "unit": pl.Utf8,
    "approximate": pl.Boolean,
    "bound": pl.Utf8,
}


PredictedRows = list[dict[str, Any]]


class PredictionMemo(Protocol):
    """Predicted rows memoised per article (:mod:`sahelwire.annotations.baseline_cache`)."""

    def predicted(
        self, articles: list[Article], predict: Callable[[Article], PredictedRows]
    ) -> list[PredictedRows]:
        """``predict(article)`` for each article, in order (kept ones not recomputed)."""
        ...


def predicted_rows(article: Article, registries: Registries, taxonomy: Taxonomy) -> PredictedRows:
    """The baseline's predicted spans of one article, as rows of :func:`prediction_frame`."""
    return [
        {
            "article_id": article.id,
            "layer": r.layer,
            "label": r.label,
            "start": r.start,
            "end": r.end,
            **{name: r.attributes.get(name) for name in ATTRIBUTE_COLUMNS},
        }
        for r in predict_regions(article.text, registries, taxonomy)
    ]


def prediction_frame(
    articles: list[Article],
    registries: Registries,
    taxonomy: Taxonomy,
    memo: PredictionMemo | None = None,
) -> pl.DataFrame:
    def predict(article: Article) -> PredictedRows:
        return predicted_rows(article, registries, taxonomy)

    per_article = (
        [predict(a) for a in articles] if memo is None else memo.predicted(articles, predict)
    )
    rows = [row for rows in per_article for row in rows]
    schema = {
        "article_id": pl.Utf8,
        "layer": pl.Utf8,
        "label": pl.Utf8,
        "start": pl.Int64,
        "end": pl.Int64,
        **ATTRIBUTE_COLUMNS,
    }
    return pl.DataFrame(rows, schema=schema)


def sample_ids(ids: set[str], limit: int | None) -> set[str]:
    """At most ``limit`` of ``ids``: those whose sha256 sorts first (stable as corpora grow)."""
    if limit is None or len(ids) <= limit:
        return ids
    return set(sorted(ids, key=lambda i: hashlib.sha256(i.encode("utf-8")).hexdigest())[:limit])


def baseline_report_for(
    articles: list[Article],
    gold: GoldLayer,
    registries: Registries,
    taxonomy: Taxonomy,
    *,
    limit: int | None = None,
    memo: PredictionMemo | None = None,
) -> dict[str, Any]:
    """Score the baseline on the articles with gold (at most ``limit`` of them, a fixed
    sample, when given: predicting costs milliseconds per article, so the card of a
    large corpus scores a sample and says so; ``sahelwire baseline`` scores them all).
    ``memo``: the predictions kept per article from the last build."""
    with_gold = set(gold.status.filter(pl.col("n_annotators") >= 1)["article_id"].to_list())
    scored_ids = sample_ids(with_gold, limit)
    report: dict[str, Any] = {
        "model_version": model_version(registries, taxonomy),
        "command": COMMAND,
        "articles_scored": len(scored_ids),
        "layers_not_predicted": [
            name for name in taxonomy.layer_names if name not in PREDICTED_LAYERS
        ],
    }
    if len(scored_ids) < len(with_gold):
        report["articles_with_gold"] = len(with_gold)
    if not scored_ids:
        report["layers"] = None
        report["message"] = NO_GOLD
        return report
    scored = [a for a in articles if a.id in scored_ids]
    predicted = prediction_frame(scored, registries, taxonomy, memo)
    gold_regions = gold.regions.filter(pl.col("article_id").is_in(sorted(scored_ids)))
    report["layers"] = score(predicted, gold_regions)
    return report


def baseline_report(paths: ProjectPaths) -> dict[str, Any]:
    from sahelwire.annotations.layers import load_annotation_layers
    from sahelwire.raw.manifest import load_articles
    from sahelwire.schema.registries import load_registries
    from sahelwire.schema.taxonomy import load_taxonomy

    taxonomy = load_taxonomy(paths.taxonomy_file)
    gold = load_annotation_layers(paths, taxonomy).gold
    return baseline_report_for(load_articles(paths), gold, load_registries(paths), taxonomy)


def _sample_note(report: dict[str, Any]) -> str:
    if "articles_with_gold" not in report:
        return ""
    return (
        f" (a fixed sample of the {report['articles_with_gold']} articles with gold: those "
        "whose sha256(article id) sorts first; the command below scores them all)"
    )


def _fmt(x: float | None) -> str:
    return "—" if x is None else f"{x:.3f}"


def table_rows(report: dict[str, Any]) -> list[list[str]]:
    """One row per layer (micro over its labels) followed by its labels."""
    rows: list[list[str]] = []
    for layer, entry in (report.get("layers") or {}).items():
        for name, rates in [("(all)", entry["all"]), *entry["labels"].items()]:
            ex, ov = rates["exact"], rates["overlap"]
            rows.append(
                [
                    layer,
                    name,
                    str(rates["gold"]),
                    str(rates["predicted"]),
                    _fmt(ex["precision"]),
                    _fmt(ex["recall"]),
                    _fmt(ex["f1"]),
                    _fmt(ov["precision"]),
                    _fmt(ov["recall"]),
                    _fmt(ov["f1"]),
                ]
            )
    return rows


HEADER = [
    "layer",
    "label",
    "gold",
    "predicted",
    "P exact",
    "R exact",
    "F1 exact",
    "P overlap",
    "R overlap",
    "F1 overlap",
]


def attribute_lines(report: dict[str, Any]) -> list[str]:
    """Attribute agreement on exactly matched spans, one line per layer attribute."""
    lines = []
    for layer, entry in (report.get("layers") or {}).items():
        for name, a in (entry.get("attributes") or {}).items():
            unset = a.get("unset", 0)
            lines.append(
                f"{layer} `{name}` equal to gold on exact span matches: "
                f"{_fmt(a['rate'])} ({a['same']}/{a['compared']})"
                + (f"; left unset for the annotator on {unset}" if unset else "")
            )
    return lines


def baseline_markdown(paths: ProjectPaths) -> str:
    """The card's baseline section: the table, what was scored, and how to reproduce it."""
    report = baseline_report(paths)
    return render_markdown(report)


def render_markdown(report: dict[str, Any]) -> str:
    if report.get("layers") is None:
        return f"{NO_GOLD[0].upper()}{NO_GOLD[1:]}.\n"
    parts = [
        f"Pre-annotation baseline `{report['model_version']}` (a gazetteer built from "
        "`schemas/entities.yaml` plus quantity patterns and event trigger cues; "
        "`sahelwire.labelstudio.prelabel`) scored against the gold layer on "
        f"{report['articles_scored']} article(s){_sample_note(report)}. Exact: same label, start and end; overlap: "
        "same label and overlapping offsets, each span matched once. "
        "'—' marks a rate that is undefined (precision with nothing predicted, recall "
        "with nothing in gold). Event realis is predicted only on explicit evidence, a "
        "negation directly before the trigger (NEGATED); otherwise it is left unset for the "
        "annotator. Spans that would break the span rules (e.g. a GPE nested in a PERSON) are "
        "dropped before scoring, as before pushing. Each prediction this version pushes "
        "carries a score: the share of its regions that are verbatim registry matches (a "
        "fixed rule, not a probability). The predictions published in `annotations_raw` are "
        "those the tasks held when they were pulled, from the model versions the Provenance "
        "section names (an earlier version may have set no score).\n\n",
        markdown_table(HEADER, [list(r) for r in table_rows(report)]),
    ]
    lines = attribute_lines(report)
    if lines:
        parts.append("\n" + "".join(f"- {line}\n" for line in lines))
    if report["layers_not_predicted"]:
        not_predicted = ", ".join(f"`{x}`" for x in report["layers_not_predicted"])
        parts.append(f"\nNot predicted by the baseline: {not_predicted}.\n")
    parts.append(
        "\nThe gazetteer is the entity registry, which was compiled from these same articles, "
        "so entity scores overstate what it would reach on unseen text.\n"
        f"\nReproduce: `{report['command']}` (add `--json` for the figures as JSON).\n"
    )
    return "".join(parts)
