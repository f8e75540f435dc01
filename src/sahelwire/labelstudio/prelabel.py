"""Offline pre-annotations: a registry gazetteer plus quantity and event-cue patterns.

Deterministic, no model and no download, so ``labelstudio push`` can attach predictions
anywhere and ``sahelwire baseline`` can score them against gold reproducibly. Spans are
Unicode code points; ``predict_results`` converts them to Label Studio offsets through
``sahelwire.labelstudio.offsets`` (the one place that knows the frontend's unit).

The rule lists below were written from the taxonomy's label descriptions and ordinary
news vocabulary, not fitted to the gold layer: the baseline is meant to be honest. The
entity gazetteer, however, is the registry, which was itself written from the corpus, so
entity recall on this corpus is optimistic (the card says so).

What annotators start from must be valid and must not decide for them:

- every predicted region passes the span rules of ``sahelwire.schema.span_rules`` (the
  same overlap rule validate applies to annotations): candidates are kept outer span
  first, and a region that would break a rule against one already kept is dropped and
  reported (``Prediction.dropped``; push prints them);
- realis is set only on explicit evidence, a negation directly before the trigger
  (NEGATED); otherwise the event carries no realis and the annotator chooses one;
- every prediction carries a score (:func:`prediction_score`): the share of its regions
  that are verbatim registry matches. It says how much of the prediction is looked up
  rather than guessed by a pattern; it is not a probability.
"""

from __future__ import annotations

import hashlib
import inspect
import re
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import polars as pl

from sahelwire.labelstudio.offsets import to_label_studio
from sahelwire.schema.problems import Problem
from sahelwire.schema.registries import Registries
from sahelwire.schema.span_rules import (
    REALIS_REQUIRED,
    check_regions,
    overlap_rule,
    region_schema,
)
from sahelwire.schema.taxonomy import Taxonomy

# Layers this baseline predicts; zones (page boilerplate) are out of its reach.
PREDICTED_LAYERS: tuple[str, ...] = ("entities", "events", "quantities")


@dataclass(frozen=True)
class Region:
    """One predicted span in code points, with its per-region attributes."""

    layer: str
    label: str
    start: int
    end: int
    text: str
    attributes: dict[str, Any] = field(default_factory=dict)
    # How the region was found: REGISTRY (a registry name or alias exactly as written),
    # REGISTRY_CASE (a common-noun alias in sentence case), or a pattern (quantities,
    # event cues). prediction_score counts the first kind.
    source: str = "pattern"

    @property
    def region_id(self) -> str:
        # Deterministic and annotator-independent, so re-pushing yields identical predictions.
        key = f"{self.layer}:{self.label}:{self.start}:{self.end}"
        return "p" + hashlib.sha1(key.encode("utf-8")).hexdigest()[:9]


REGISTRY = "registry"
REGISTRY_CASE = "registry, case relaxed"

# --- entities: the gazetteer ------------------------------------------------------------

_WORD = r"[^\W_]"  # a letter or digit: what a word boundary must not touch


def _surface_pattern(surface: str) -> str:
    body = re.escape(surface)
    # Common-noun aliases ("junta") also match sentence-initial or headline case ("Junta");
    # proper names stay case-sensitive so "US" never matches "us".
    if surface[:1].islower():
        body = f"[{surface[0]}{surface[0].upper()}]" + re.escape(surface[1:])
    return rf"(?<!{_WORD}){body}(?!{_WORD})"


def gazetteer(registries: Registries) -> dict[str, tuple[str, str]]:
    """Surface form -> (label, entity_id) from names and aliases; first registry row wins."""
    out: dict[str, tuple[str, str]] = {}
    for row in registries.entities.sort("id").iter_rows(named=True):
        for surface in [row["name"], *(row["aliases"] or [])]:
            if surface and surface.strip() and surface not in out:
                out[surface] = (str(row["type"]), str(row["id"]))
    return out


def _select_longest(cands: Iterable[Region]) -> list[Region]:
    """Longest match first, then leftmost; drop anything overlapping a chosen span."""
    chosen: list[Region] = []
    for c in sorted(cands, key=lambda r: (-(r.end - r.start), r.start, r.label)):
        if all(c.end <= k.start or c.start >= k.end for k in chosen):
            chosen.append(c)
    return chosen


def entity_regions(text: str, registries: Registries, taxonomy: Taxonomy) -> list[Region]:
    gaz = gazetteer(registries)
    cands: list[Region] = []
    for surface in sorted(gaz, key=lambda s: (-len(s), s)):
        label, eid = gaz[surface]
        for m in re.finditer(_surface_pattern(surface), text):
            source = REGISTRY if m.group() == surface else REGISTRY_CASE
            cands.append(
                Region("entities", label, m.start(), m.end(), m.group(), {"entity_id": eid}, source)
            )
    chosen = _select_longest(cands)
    # Nested mentions the taxonomy allows under their direct parent, level by level (ORG
    # "US Africa Command" inside PERSON "the commander of US Africa Command", GPE "US" inside
    # that ORG). Only the direct parent is checked here: the span rules hold for every
    # pair, so GPE "US" inside that PERSON is invalid and apply_span_rules drops it.
    allowed = taxonomy.layer("entities").nesting_allowed
    level = chosen
    while level:
        level = _select_longest(
            c
            for c in cands
            if any(
                o.start <= c.start
                and c.end <= o.end
                and (o.end - o.start) > (c.end - c.start)
                and (o.label, c.label) in allowed
                # "military junta" inside "ruling military junta" is the same mention again.
                and o.attributes["entity_id"] != c.attributes["entity_id"]
                for o in level
            )
        )
        chosen += level
    return chosen


# --- quantities --------------------------------------------------------------------------

# Hedge word -> (approximate, bound), as taxonomy 3.0.0 splits them: an estimate hedge makes
# the figure approximate and the claim the figure itself (POINT); a bound word says the
# claim is above or below the figure, which is exact ("over 70 soldiers": 70, MORE_THAN).
_ESTIMATE = (True, "POINT")
_HEDGES: dict[str, tuple[bool, str]] = {
    "about": _ESTIMATE,
    "around": _ESTIMATE,
    "approximately": _ESTIMATE,
    "roughly": _ESTIMATE,
    "nearly": _ESTIMATE,
    "almost": _ESTIMATE,
    "some": _ESTIMATE,
    "an estimated": _ESTIMATE,
    "over": (False, "MORE_THAN"),
    "more than": (False, "MORE_THAN"),
    "above": (False, "MORE_THAN"),
    "at least": (False, "AT_LEAST"),
    "no fewer than": (False, "AT_LEAST"),
    "under": (False, "LESS_THAN"),
    "fewer than": (False, "LESS_THAN"),
    "less than": (False, "LESS_THAN"),
    "up to": (False, "AT_MOST"),
    "at most": (False, "AT_MOST"),
    "no more than": (False, "AT_MOST"),
}


def hedge_attributes(hedge: str | None, vague: bool) -> dict[str, Any]:
    """``approximate`` and ``bound`` of a figure from its hedge word (None: a bare figure)
    and whether the number itself is vague ("thousands of": an estimate)."""
    approximate, bound = _HEDGES[hedge.lower()] if hedge else (False, "POINT")
    return {"approximate": approximate or vague, "bound": bound}


_WORD_NUMBERS = {
    "one": 1, "two": 2, "three": 3, "four": 4, "five": 5, "six": 6, "seven": 7,
    "eight": 8, "nine": 9, "ten": 10, "eleven": 11, "twelve": 12, "fifteen": 15,
    "twenty": 20, "thirty": 30, "forty": 40, "fifty": 50, "hundred": 100,
    "a hundred": 100, "a thousand": 1000, "a dozen": 12,
}  # fmt: skip
# "thousands of people": an order of magnitude, always approximate.
_VAGUE = {"dozens of": 12, "hundreds of": 100, "thousands of": 1000, "millions of": 1_000_000}
_SCALES = {"thousand": 1e3, "million": 1e6, "billion": 1e9, "trillion": 1e12}

# Counted noun -> (label, unit). FATALITIES is decided from context (see _killed).
_NOUNS: dict[str, tuple[str, str]] = {
    "troops": ("TROOPS", "troops"),
    "soldiers": ("TROOPS", "soldiers"),
    "servicemembers": ("TROOPS", "troops"),
    "service members": ("TROOPS", "troops"),
    "marines": ("TROOPS", "troops"),
    "personnel": ("PERSONNEL", "people"),
    "staff": ("PERSONNEL", "people"),
    "contractors": ("PERSONNEL", "people"),
    "people": ("OTHER", "people"),
    "civilians": ("OTHER", "people"),
    "protesters": ("OTHER", "people"),
    "demonstrators": ("OTHER", "people"),
    "militants": ("OTHER", "people"),
    "fighters": ("OTHER", "people"),
    "countries": ("OTHER", "countries"),
    "bases": ("OTHER", "bases"),
    "drones": ("OTHER", "drones"),
    "dollars": ("MONEY", "USD"),
    "years": ("DURATION", "years"),
    "year": ("DURATION", "years"),
    "decades": ("DURATION", "decades"),
    "decade": ("DURATION", "decades"),
    "months": ("DURATION", "months"),
    "month": ("DURATION", "months"),
    "weeks": ("DURATION", "weeks"),
    "days": ("DURATION", "days"),
}
_PEOPLE_UNITS = {"troops", "soldiers", "people"}
_KILLED = re.compile(r"\b(?:killed|killing|kills|dead|death|deaths|died|slain|fatalities)\b", re.I)


def _alt(words: Iterable[str]) -> str:
    return "|".join(re.escape(w) for w in sorted(words, key=lambda w: (-len(w), w)))


_DIGITS = r"\d{1,3}(?:,\d{3})+(?:\.\d+)?|\d+(?:\.\d+)?"
_NUMBER = rf"(?P<num>{_DIGITS}|{_alt(_WORD_NUMBERS)}|{_alt(_VAGUE)})"
_HEDGE = rf"(?:(?P<hedge>{_alt(_HEDGES)})\s+)?"
_SCALE = rf"(?:\s+(?P<scale>{_alt(_SCALES)}))?"
_NOUN = rf"(?P<noun>{_alt(_NOUNS)})"
# Up to two modifiers may stand between number and noun ("1,000 American military
# personnel"); the span then ends at the number, because the modifiers are not the count.
_MODS = r"(?P<mods>(?:[A-Za-z][\w.’'-]*\s+){1,2})"
_B = rf"(?<!{_WORD})"
QUANTITY_PATTERNS: tuple[tuple[str, re.Pattern[str]], ...] = (
    (
        "money",
        re.compile(rf"{_B}{_HEDGE}(?P<cur>US\$|\$)\s?(?P<num>{_DIGITS}){_SCALE}(?!{_WORD})", re.I),
    ),
    # "nearly a decade": the article is the number.
    ("adjacent", re.compile(rf"{_B}{_HEDGE}(?P<num>a)\s+(?P<noun>decade)(?!{_WORD})", re.I)),
    ("adjacent", re.compile(rf"{_B}{_HEDGE}{_NUMBER}{_SCALE}\s+{_NOUN}(?!{_WORD})", re.I)),
    ("modified", re.compile(rf"{_B}{_HEDGE}{_NUMBER}{_SCALE}\s+{_MODS}{_NOUN}(?!{_WORD})", re.I)),
)
_NOT_DURATION_AFTER = re.compile(r"^(?:-old|\s+old)\b", re.I)
# "two years ago", "four months later": a distance from a reference time, not a length.
_OFFSET_AFTER = re.compile(r"^\s+(?:ago|later|earlier)\b", re.I)


def _number_value(num: str, scale: str | None) -> tuple[float, bool]:
    """The normalized number and whether the expression itself is vague."""
    key = num.lower()
    vague = key in _VAGUE
    if key in _VAGUE:
        value = float(_VAGUE[key])
    elif key == "a":
        value = 1.0
    elif key in _WORD_NUMBERS:
        value = float(_WORD_NUMBERS[key])
    else:
        value = float(num.replace(",", ""))
    if scale:
        value *= _SCALES[scale.lower()]
    return value, vague


def _sentence_window(text: str, start: int, end: int, width: int = 60) -> str:
    left = text[max(0, start - width) : start]
    right = text[end : end + width]
    # Stay within the sentence: a death in the previous sentence says nothing about this count.
    left = re.split(r"[.!?\n]\s", left)[-1]
    right = re.split(r"[.!?\n]\s", right)[0]
    return left + " " + right


def quantity_regions(text: str) -> list[Region]:
    cands: list[Region] = []
    for kind, pattern in QUANTITY_PATTERNS:
        for m in pattern.finditer(text):
            groups = m.groupdict()
            hedge = groups.get("hedge")
            if kind == "money":
                value, vague = _number_value(groups["num"], groups.get("scale"))
                label, unit, end = "MONEY", "USD", m.end()
            else:
                noun = groups["noun"].lower()
                if not groups["noun"].islower():
                    continue  # "Five Eyes", "Two Sessions": names, not counts
                label, unit = _NOUNS[noun]
                if label == "MONEY" and not groups.get("scale") and not groups["num"][0].isdigit():
                    continue
                if label == "DURATION" and _NOT_DURATION_AFTER.match(text[m.end() :]):
                    continue  # "70 years old": an age, not a duration
                if label == "DURATION" and _OFFSET_AFTER.match(text[m.end() :]):
                    if kind != "adjacent":
                        continue  # "in 2023 that two years ago": the number is not the offset's
                    label = "TIME_OFFSET"
                value, vague = _number_value(groups["num"], groups.get("scale"))
                if noun.startswith("decade"):
                    value, unit = value * 10, "years"
                if unit in _PEOPLE_UNITS and _KILLED.search(
                    _sentence_window(text, m.start(), m.end())
                ):
                    label = "FATALITIES"
                end = m.end() if kind == "adjacent" else m.start("mods")
                end = len(text[:end].rstrip())
            start = m.start()
            cands.append(
                Region(
                    "quantities",
                    label,
                    start,
                    end,
                    text[start:end],
                    {"value": value, "unit": unit, **hedge_attributes(hedge, vague)},
                )
            )
    return _select_longest(cands)


# --- events: trigger cues ----------------------------------------------------------------

# From the taxonomy's label descriptions.
EVENT_CUES: dict[str, tuple[str, ...]] = {
    "ATTACK": ("attack", "attacks", "attacked", "assault", "assaults", "bombing", "bombings",
               "ambush", "ambushed"),
    "MEETING": ("meeting", "meetings", "met", "talks", "visit", "visits", "visited",
                "delegation", "discussions", "negotiations", "negotiate"),
    "STATEMENT": ("announced", "announcement", "statement", "press conference", "declared",
                  "declaration"),
    "AGREEMENT": ("agreement", "agreed", "accord"),
    "FORCE_POSTURE": ("withdraw", "withdrawal", "withdrawing", "withdrew", "deployed",
                      "deployment", "expulsion", "expelled", "pullout", "pull out"),
    "COUP": ("coup", "ousted", "ousting", "overthrow", "overthrew", "deposed"),
    "PROTEST": ("protest", "protests", "demonstration", "demonstrations", "rally", "rallies"),
    "AID_RESTRICTION": ("suspended", "suspension", "restrictions", "sanctions"),
    "SECURITY_COOPERATION": ("training", "intelligence sharing", "joint operation",
                             "joint operations", "counterterrorism operations",
                             "counterterrorism cooperation", "security cooperation"),
}  # fmt: skip


# The only realis evidence the baseline trusts: a negation directly before the trigger
# ("did not attack", "didn't attack", "no agreement", "never met", "has not yet withdrawn",
# "no longer deployed"). A negation further away often scopes over another verb ("has not
# demanded the withdrawal": the withdrawal is hypothetical, not negated), so it is not
# evidence. Without evidence the event gets no realis: a default (ACTUAL) would be accepted
# unread, and the annotator must choose.
_NEGATION_BEFORE = re.compile(
    rf"(?:(?<!{_WORD})(?:not|never|no)|n[’']t)(?:\s+(?:yet|longer))?\s+$", re.I
)


def event_realis(text: str, start: int) -> str | None:
    """NEGATED on a negation cue directly before the trigger at ``start``, else None."""
    return "NEGATED" if _NEGATION_BEFORE.search(text[max(0, start - 20) : start]) else None


def event_regions(text: str) -> list[Region]:
    out: list[Region] = []
    for label in sorted(EVENT_CUES):
        cues = EVENT_CUES[label]
        pattern = re.compile(rf"(?<!{_WORD})(?:{_alt(cues)})(?!{_WORD})", re.I)
        for m in pattern.finditer(text):
            if m.group()[1:] != m.group()[1:].lower():
                continue  # "COUP" in a headline banner or a name: leave it to the annotator
            realis = event_realis(text, m.start())
            attributes = {} if realis is None else {"realis": realis}
            out.append(Region("events", label, m.start(), m.end(), m.group(), attributes))
    return out


# --- public interface --------------------------------------------------------------------


@dataclass(frozen=True)
class Dropped:
    """A candidate region left out because it breaks a span rule against a kept one."""

    region: Region
    rule: str
    kept: Region

    def describe(self) -> str:
        r, k = self.region, self.kept
        return (
            f"{r.layer} {r.label} {r.text!r} {r.start}:{r.end} overlaps {k.label} {k.text!r} "
            f"{k.start}:{k.end} ({self.rule})"
        )


def _span(r: Region) -> dict[str, Any]:
    return {"start": r.start, "end": r.end, "label": r.label}


def apply_span_rules(
    regions: Iterable[Region], taxonomy: Taxonomy
) -> tuple[list[Region], list[Dropped]]:
    """(regions that pass the span rules, the dropped ones), deterministically.

    Outer and earlier spans first, (start, -end, layer, label): a region is kept when it
    breaks no rule against any region kept before it, so of two that cannot both stand
    the longer (outer) one stays and the nested or later one goes.
    """
    layers = {layer.name: layer for layer in taxonomy.span_layers}
    kept: dict[str, list[Region]] = defaultdict(list)
    dropped: list[Dropped] = []
    for r in sorted(regions, key=lambda r: (r.start, -r.end, r.layer, r.label)):
        layer = layers[r.layer]
        clash = next(
            (
                (k, rule)
                for k in kept[r.layer]
                if (rule := overlap_rule(layer, _span(k), _span(r))) is not None
            ),
            None,
        )
        if clash is None:
            kept[r.layer].append(r)
        else:
            dropped.append(Dropped(r, clash[1], clash[0]))
    out = [r for layer_regions in kept.values() for r in layer_regions]
    return sorted(out, key=lambda r: (r.start, r.end, r.layer, r.label)), dropped


def candidate_regions(text: str, registries: Registries, taxonomy: Taxonomy) -> list[Region]:
    """Every span the rules find, before the span rules are applied."""
    regions = [
        *entity_regions(text, registries, taxonomy),
        *quantity_regions(text),
        *event_regions(text),
    ]
    known = {layer.name: set(layer.label_names) for layer in taxonomy.span_layers}
    regions = [r for r in regions if r.label in known.get(r.layer, ())]
    return sorted(regions, key=lambda r: (r.start, r.end, r.layer, r.label))


def predict_regions(text: str, registries: Registries, taxonomy: Taxonomy) -> list[Region]:
    """Every predicted span in code points that passes the span rules, sorted by position
    (deterministic): what annotators start from and what the baseline scores."""
    return apply_span_rules(candidate_regions(text, registries, taxonomy), taxonomy)[0]


def prediction_score(regions: Sequence[Region]) -> float:
    """The share of ``regions`` that are verbatim registry matches (a registry name or
    alias found exactly as written, case included); 0.0 for no regions.

    The rest are guesses by a pattern (quantities, event cues) or a common-noun alias in
    another case, which the baseline table shows to be less precise. A fixed rule, not a
    probability and not fitted to gold.
    """
    if not regions:
        return 0.0
    return sum(1 for r in regions if r.source == REGISTRY) / len(regions)


@dataclass(frozen=True)
class Prediction:
    """One article's prediction: what push sends, and what it reports."""

    regions: list[Region]
    dropped: list[Dropped]
    results: list[dict[str, Any]]

    @property
    def score(self) -> float:
        return prediction_score(self.regions)


def predict(text: str, registries: Registries, taxonomy: Taxonomy) -> Prediction:
    regions, dropped = apply_span_rules(candidate_regions(text, registries, taxonomy), taxonomy)
    return Prediction(regions, dropped, region_results(text, regions))


def check_predictions(
    texts: Mapping[str, str],
    regions: Mapping[str, Sequence[Region]],
    taxonomy: Taxonomy,
    registries: Registries,
) -> list[Problem]:
    """Every rule of ``check_regions`` that predicted regions break, per article, except
    that events may lack a realis (the annotator chooses it; see event_realis).

    push runs this on every prediction before sending any, so a rule the selection above
    missed (or a registry id that no longer exists) stops the push instead of reaching
    annotators."""
    rows = [
        {
            "article_id": aid,
            "region_id": r.region_id,
            "layer": r.layer,
            "label": r.label,
            "start": r.start,
            "end": r.end,
            "text": r.text,
            **{
                name: r.attributes.get(name)
                for name in ("entity_id", "event_id", "realis", "value", "approximate", "bound")
            },
        }
        for aid in sorted(regions)
        for r in regions[aid]
    ]
    if not rows:
        return []
    frame = pl.DataFrame(
        rows,
        schema=region_schema("article_id", "region_id"),
    )
    problems = check_regions(
        frame, texts, taxonomy, registries, file="predictions", group_col="article_id"
    )
    return [p for p in problems if p.rule != REALIS_REQUIRED]


_ATTRIBUTE_KINDS = {
    "entity_id": "textarea",
    "event_id": "textarea",
    "unit": "textarea",
    "realis": "choices",
    "approximate": "choices",
    "bound": "choices",
    "value": "number",
}


def _attribute_item(rid: str, name: str, value: Any, span: dict[str, Any]) -> dict[str, Any]:
    kind = _ATTRIBUTE_KINDS[name]
    if kind == "textarea":
        payload: dict[str, Any] = {"text": [str(value)]}
    elif kind == "choices":
        payload = {
            "choices": ["true" if value else "false"] if isinstance(value, bool) else [value]
        }
    else:
        payload = {"number": int(value) if float(value).is_integer() else value}
    return {
        "id": rid,
        "from_name": name,
        "to_name": "text",
        "type": kind,
        "value": {**span, **payload},
    }


def predict_results(text: str, registries: Registries, taxonomy: Taxonomy) -> list[dict[str, Any]]:
    """Label Studio prediction ``result`` items (docs/label_studio_format.md)."""
    return region_results(text, predict_regions(text, registries, taxonomy))


def region_results(text: str, regions: Iterable[Region]) -> list[dict[str, Any]]:
    """``regions`` (code points) as Label Studio result items (Label Studio offsets)."""
    results: list[dict[str, Any]] = []
    for r in regions:
        start, end = to_label_studio(text, r.start, r.end)
        span = {"start": start, "end": end}
        rid = r.region_id
        results.append(
            {
                "id": rid,
                "from_name": r.layer,
                "to_name": "text",
                "type": "labels",
                "value": {**span, "text": r.text, "labels": [r.label]},
            }
        )
        for name in sorted(r.attributes):
            results.append(_attribute_item(rid, name, r.attributes[name], span))
    return results


def rules_fingerprint(source: str | None = None) -> str:
    """Hash of this module's rules, so any rule change changes the model version.

    The rules are the module's code without its import statements: moving a module it
    imports (a layout change) must not make the same gazetteer a new model version, while
    any change to a pattern, cue or function still does. Comments and formatting do not
    count either (the hash is over the syntax tree). ``source``: another version of this
    module's text, to compare against.

    The tree is written out without empty and None fields, not with ``ast.dump``: 3.12
    added fields (``type_params=[]``) and 3.13 stopped printing empty ones, so ``ast.dump``
    of the same code differs between Python versions, and so would the model version and
    the card (scripts/cross_python_build.py caught it).
    """
    import ast
    import sys

    def syntax(node: object) -> str:
        if isinstance(node, ast.AST):
            fields = [
                f"{name}={syntax(value)}"
                for name, value in ast.iter_fields(node)
                if value is not None and value != []
            ]
            return f"{type(node).__name__}({', '.join(fields)})"
        if isinstance(node, list):
            return "[" + ", ".join(syntax(item) for item in node) + "]"
        return repr(node)

    tree = ast.parse(inspect.getsource(sys.modules[__name__]) if source is None else source)
    tree.body = [n for n in tree.body if not isinstance(n, (ast.Import, ast.ImportFrom))]
    return hashlib.sha256(syntax(tree).encode("utf-8")).hexdigest()[:8]


def model_version(registries: Registries, taxonomy: Taxonomy) -> str:
    """``sahelwire-gazetteer-<taxonomy version>-<hash of registry + rules>``."""
    digest = hashlib.sha256()
    digest.update(rules_fingerprint().encode())
    for surface, (label, eid) in sorted(gazetteer(registries).items()):
        digest.update(f"{surface}\t{label}\t{eid}\n".encode())
    return f"sahelwire-gazetteer-{taxonomy.version}-{digest.hexdigest()[:10]}"


def __getattr__(name: str) -> str:
    # MODEL_VERSION depends on the project's registry and taxonomy, so it is computed on
    # first access from the discovered project rather than frozen at import.
    if name == "MODEL_VERSION":
        from sahelwire.io.paths import ProjectPaths
        from sahelwire.schema.registries import load_registries
        from sahelwire.schema.taxonomy import load_taxonomy

        paths = ProjectPaths.discover()
        return model_version(load_registries(paths), load_taxonomy(paths.taxonomy_file))
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
