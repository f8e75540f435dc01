"""What a machine can see missing from the gold, listed for the reviewer (never an error).

``sahelwire validate`` prints these as warnings after the problems; they never fail it or the
build, because each may be right (an entity in the sentence of an event is not always one of
its arguments). Three rules (issue 16, "completeness checks"):

* **event without arguments**: an event mention with no argument relation at all, while the
  same sentence holds a mention a role may point at (an entity mention, or for TIME a
  DURATION or TIME_OFFSET quantity, as the TIME role's targets in the taxonomy say). The
  audit of v0.1.0 found about a third of such arguments missing.
* **mixed polarity**: a registry event (``event_id``) referenced both by NEGATED mentions and
  by mentions asserted otherwise (ACTUAL, PLANNED, HYPOTHETICAL): "troops remain" (NEGATED
  withdrawal) and "troops withdraw" linked to one event read as a negated withdrawal.
* **quantity without a bound**: a gold quantity (of an annotation that counts) with no
  ``bound``: annotated before taxonomy 3.0.0 added it, so "over 70" may still read as
  ``approximate`` 70; published with bound -1 until someone sets it.

"Same sentence" is the ``ner_bio`` row split (:func:`sahelwire.release.ner_bio.sentence_spans`).
"""

from __future__ import annotations

from bisect import bisect_right
from collections.abc import Mapping
from dataclasses import dataclass

import polars as pl

from sahelwire.release.ner_bio import sentence_spans
from sahelwire.schema.taxonomy import Taxonomy

NEGATED = "NEGATED"
# The role whose quantity targets are times (a DURATION or TIME_OFFSET): only those
# quantities make an event without arguments suspicious; a head count near an event often
# is no argument of it.
TIME_ROLE = "TIME"


@dataclass(frozen=True)
class Finding:
    """One warning: which article and record, which rule, and what was seen."""

    article_id: str
    record: str
    rule: str
    detail: str

    def __str__(self) -> str:
        return f"gold {self.article_id} {self.record}: {self.rule}: {self.detail}"


def _targets(taxonomy: Taxonomy) -> tuple[str | None, tuple[str, ...]]:
    """The layer relations start from and the layers they may point at."""
    for layer in taxonomy.span_layers:
        if layer.relation_labels:
            return layer.name, layer.relation_to_layers
    return None, ()


def _time_targets(taxonomy: Taxonomy, source: str) -> set[tuple[str, str]]:
    """(layer, label) of each labelled target of the TIME role (DURATION, TIME_OFFSET)."""
    role = next((r for r in taxonomy.layer(source).relation_labels if r.name == TIME_ROLE), None)
    out = set()
    for target in role.targets if role is not None else ():
        layer, _, label = target.partition(".")
        if label:
            out.add((layer, label))
    return out


def events_without_arguments(
    regions: pl.DataFrame, relations: pl.DataFrame, texts: Mapping[str, str], taxonomy: Taxonomy
) -> list[Finding]:
    source, targets = _targets(taxonomy)
    if source is None or not regions.height:
        return []
    times = _time_targets(taxonomy, source)
    with_args = set(relations["from_key"].to_list()) if relations.height else set()
    found: list[Finding] = []
    for (article,), part in regions.sort("start").group_by("article_id", maintain_order=True):
        text = texts.get(str(article))
        if text is None:
            continue
        spans = list(part.select("start", "end").iter_rows())
        sentences = sentence_spans(text, spans)
        starts = [s for s, _ in sentences]

        def sentence_of(pos: int, starts: list[int] = starts) -> int:
            return bisect_right(starts, pos) - 1

        candidates: dict[int, list[str]] = {}
        for r in part.iter_rows(named=True):
            if r["layer"] in targets and (
                r["layer"] == "entities" or (r["layer"], r["label"]) in times
            ):
                candidates.setdefault(sentence_of(r["start"]), []).append(
                    f"{r['label']} {r['text']!r}"
                )
        for r in part.filter(pl.col("layer") == source).iter_rows(named=True):
            if r["region_key"] in with_args:
                continue
            near = candidates.get(sentence_of(r["start"]))
            if near:
                found.append(
                    Finding(
                        str(article),
                        f"event {r['region_key']} {r['text']!r}",
                        "an event mention with a same-sentence mention a role may point at "
                        "has at least one argument",
                        "no argument; same sentence: " + ", ".join(sorted(set(near))),
                    )
                )
    return found


def mixed_polarity(regions: pl.DataFrame) -> list[Finding]:
    if not regions.height:
        return []
    linked = regions.filter(pl.col("event_id").is_not_null() & pl.col("realis").is_not_null())
    found: list[Finding] = []
    for (event_id,), part in linked.sort("article_id", "start").group_by(
        "event_id", maintain_order=True
    ):
        realis = part["realis"].to_list()
        if NEGATED in realis and any(v != NEGATED for v in realis):
            mentions = [
                f"{r['article_id']} {r['text']!r} {r['realis']}" for r in part.iter_rows(named=True)
            ]
            found.append(
                Finding(
                    "(corpus)",
                    f"event_id {event_id}",
                    "mentions of one registry event share its polarity",
                    f"{realis.count(NEGATED)} NEGATED and {len(realis) - realis.count(NEGATED)} "
                    "asserted otherwise: " + "; ".join(mentions),
                )
            )
    return found


def quantities_without_bound(regions: pl.DataFrame, taxonomy: Taxonomy) -> list[Finding]:
    attr = taxonomy.layer("quantities").attribute("bound")
    if attr is None or not regions.height or "bound" not in regions.columns:
        return []
    missing = regions.filter((pl.col("layer") == "quantities") & pl.col("bound").is_null())
    return [
        Finding(
            r["article_id"],
            f"quantity {r['region_key']} {r['text']!r}",
            "a quantity has a bound (taxonomy 3.0.0)",
            f"no bound (annotated before taxonomy 3.0.0?); one of {', '.join(attr.values or ())}",
        )
        for r in missing.sort("article_id", "start", "end").iter_rows(named=True)
    ]


def completeness_findings(
    regions: pl.DataFrame, relations: pl.DataFrame, texts: Mapping[str, str], taxonomy: Taxonomy
) -> list[Finding]:
    """Every warning of the three rules, in a fixed order."""
    return [
        *events_without_arguments(regions, relations, texts, taxonomy),
        *mixed_polarity(regions),
        *quantities_without_bound(regions, taxonomy),
    ]
