"""The review loop: unsettled conflicts -> a Label Studio review project -> decisions files.

Label Studio Community has no reviewer workflow, so the project builds one from what it has:

* ``sahelwire labelstudio review`` (:func:`push_reviews`) puts every article with an
  unsettled conflict into a separate project, titled after the main one with
  :data:`REVIEW_SUFFIX`. Its labeling config is the main one plus the reviewer's fields
  (:func:`review_label_config`): the list of conflicts, a required reason for the whole
  review and an optional reason per region. Each task carries one prediction per annotator
  whose ``model_version`` is a letter and that annotator's e-mail, ``A: <e-mail>``
  (:func:`version_name`; the repository names annotators by e-mail already, the reviewer
  must know whose version is whose, and the letter tells tabs apart) and whose result is the
  annotator's committed annotation, unchanged; one more, :data:`START_VERSION`, selected as
  the project's model version, is where the reviewer's annotation starts: the gold as it
  stands with every unsettled item in (:func:`review_start`). The reviewer submits the gold
  as the task's annotation. Tasks are matched by ``data.article_id``: a second run creates nothing,
  updates a task only while nobody has reviewed it, and leaves articles without unsettled
  conflicts out (it says how many).
* ``sahelwire labelstudio review --pull`` (:func:`pull_reviews`) turns each submitted review
  into entries of ``annotations/decisions/<article>.yaml`` (the format of
  :mod:`sahelwire.annotations.adjudication`): for every conflict, ``accept`` when the review
  has the item, ``reject`` when it does not, ``set`` the reviewer's value of a tied
  attribute; ``decided_by`` is the reviewer's e-mail, ``why`` the reason the reviewer gave:
  the item's own line ``[<item>] <why>`` in the review reason (:data:`ITEM_REASON`), else
  the region's own reason, else the review reason. Conflicts that only appear once earlier
  decisions are taken (a relation whose end a decision accepts) are decided in the same
  pass, so ``adjudicate`` then reports none for the article.

What a review can say is what decisions can say: keep or drop an item some annotator made,
pick a tied attribute's value. A review that adds an item nobody made, drops or changes an
item the majority agreed on, is refused for its article (but for a single-choice field: its
one value may be a minority's, which rejects the majority's, :func:`_overruled`), naming each difference (the gold
would otherwise differ from what the reviewer submitted). So is a review made on versions
that have changed since it was pushed (each task records which annotation versions it
shows), a review without a reason, and a decision that would replace a different one
already in the file (unless ``--overwrite``). Each article's file is written atomically;
refused articles are left as they were.

A review can also be submitted from a YAML sheet instead of the editor (an AI or scripted
reviewer): :mod:`sahelwire.annotations.review_sheet`.
"""

from __future__ import annotations

import hashlib
import json
import re
import uuid
from collections import Counter, defaultdict
from collections.abc import Callable, Collection, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import polars as pl
import yaml

from sahelwire.annotations.adjudication import (
    ATTRS,
    UNSETTLED_RULE,
    Adjudication,
    _latest,
    adjudicate,
    against_majority,
    decided_conflicts,
    decision_entries,
    is_placeholder,
    read_decisions,
)
from sahelwire.annotations.gold_layer import GoldLayer, region_key
from sahelwire.annotations.gold_rules import gold_rule_problems
from sahelwire.annotations.layers import AnnotationLayers
from sahelwire.annotations.tables import TableCollector, load_source_shapes
from sahelwire.io.atomic import write_text_atomic
from sahelwire.io.config import Settings
from sahelwire.io.locks import exclusive_lock
from sahelwire.io.paths import ProjectPaths
from sahelwire.labelstudio.client import Connection, call
from sahelwire.labelstudio.controls import controls
from sahelwire.labelstudio.identity import IdentityError, load_repository, repository_annotation
from sahelwire.labelstudio.label_config import render_label_config
from sahelwire.labelstudio.project import task_rows
from sahelwire.labelstudio.pull import annotator_directory
from sahelwire.labelstudio.push import import_tasks
from sahelwire.labelstudio.snapshot import export_tasks
from sahelwire.raw.manifest import load_articles
from sahelwire.schema.problems import Problem
from sahelwire.schema.registries import load_registries
from sahelwire.schema.span_rules import overlap_rule
from sahelwire.schema.taxonomy import Taxonomy

REVIEW_SUFFIX = " (review)"
# The reviewer's own controls, added to the main config; never part of the dataset.
REASON = "review_reason"
REGION_REASON = "review_region_reason"
REVIEW_CONTROLS = frozenset({REASON, REGION_REASON})
REVIEW_LOCK = "labelstudio-review.lock"
# The prediction a review starts from: Label Studio copies the prediction of the project's
# model version into the reviewer's new annotation (the editor's setAnnotation), and the
# import selects the last prediction imported, one annotator's version. With three
# annotators that version lacked what the other two agreed on, and `review --pull` refused
# the review that kept it out (a walkthrough). This one is the gold as it stands plus every
# unsettled item: the reviewer removes what they reject. Not an e-mail, so never an
# annotator's name.
START_VERSION = "agreed + every conflict"
# A line of the review reason that gives one conflict item its own why, e.g.
# ``[relation:events:MEETING:0:4->entities:GPE:9:15:PLACE] GUIDELINES §3.5 ...``: the only
# place a relation, an article-level value or a rejected region (none has a region in the
# review to carry a region reason) can get a reason of its own. Items never hold blanks or
# brackets, so the line is unambiguous.
ITEM_REASON = re.compile(
    r"^\[(?P<item>(?:region|attr|relation|choice):[^\]\s]+)\]\s+(?P<why>\S.*)$"
)
# An article-level field every annotator's value of which is gold (adjudication rule):
# never a conflict, so not compared between the review and the gold either.
UNCONTESTED_FIELDS = frozenset({"notes"})


class ReviewRefused(RuntimeError):
    """The review project cannot be used as asked (no project, two projects, ...)."""


def review_title(main_title: str) -> str:
    return f"{main_title}{REVIEW_SUFFIX}"


def review_label_config(main_xml: str) -> str:
    """The main labeling config with the reviewer's fields at the top of its root View.

    At the top, whatever layout the main config has: the conflicts and the reason are the
    first thing the reviewer reads and the last thing they fill in before Submit.
    """
    root = re.search(r"<View\b[^>]*>", main_xml)
    if root is None:
        raise ValueError("the labeling config has no root <View>")
    block = "\n".join(
        [
            '  <View style="border: 2px solid #d62728; padding: 8px; margin-bottom: 12px">',
            '    <Header value="$review_summary" size="5"/>',
            '    <Text name="review_conflicts" value="$review_conflicts"/>',
            '    <Header value="review_reason: why this is the gold (required; it becomes the '
            'why of every decision)" size="6"/>',
            f'    <TextArea name="{REASON}" toName="text" maxSubmissions="1" editable="true" '
            'required="true" rows="2"/>',
            '    <View visibleWhen="region-selected">',
            '      <Header value="review_region_reason: why, for the selected region (optional; '
            'replaces the reason above for this region)" size="6"/>',
            f'      <TextArea name="{REGION_REASON}" toName="text" perRegion="true" '
            'maxSubmissions="1" editable="true" rows="1"/>',
            "    </View>",
            "  </View>",
        ]
    )
    return main_xml[: root.end()] + "\n" + block + main_xml[root.end() :]


# -- what to review --------------------------------------------------------------------


@dataclass(frozen=True)
class Version:
    """One annotator's counted annotation of an article, as the review shows it."""

    annotator: str
    annotation_id: int  # the repository id (stable on every server)
    updated_at: str

    def record(self) -> dict[str, Any]:
        return {
            "annotator": self.annotator,
            "annotation_id": self.annotation_id,
            "updated_at": self.updated_at,
        }


@dataclass
class Case:
    """An article with unsettled conflicts and the versions that make them."""

    article_id: str
    versions: list[Version]
    conflicts: list[dict[str, Any]]  # the article's unsettled conflicts (adjudication dicts)
    # its conflicts a decision settles (they stand; the reviewer sees them, with who made
    # what now: a later annotator may have made the decided item a majority's)
    decided: list[dict[str, Any]] = field(default_factory=list)


def version_tag(index: int) -> str:
    """The letter of the ``index``-th version (A, B, ...): Label Studio shortens a tab's
    name to its first 8 and last 6 characters, so ``ai-annotator-1@sahelwire.local`` and
    ``-2@`` both showed as ``ai-annot....local`` (a walkthrough)."""
    return chr(ord("A") + index) if index < 26 else str(index + 1)


def version_name(index: int, annotator: str) -> str:
    """The model version of an annotator's prediction in a review task: ``A: <e-mail>``."""
    return f"{version_tag(index)}: {annotator}"


def version_annotator(model_version: str) -> str:
    """The e-mail of a review task's version (:func:`version_name`)."""
    return model_version.partition(": ")[2] or model_version


def counted_versions(layers: AnnotationLayers) -> dict[str, list[Version]]:
    """Article -> the annotations adjudication counts (one per annotator), by annotator."""
    counted, _ = _latest(layers.annotations)
    meta = {
        r["annotation_id"]: r
        for r in layers.annotations.select("annotation_id", "annotator", "updated_at").iter_rows(
            named=True
        )
    }
    return {
        article: sorted(
            (Version(meta[i]["annotator"], i, str(meta[i]["updated_at"])) for i in ids),
            key=lambda v: v.annotator,
        )
        for article, ids in counted.items()
    }


def unsettled_cases(layers: AnnotationLayers) -> tuple[list[Case], int]:
    """Articles with unsettled conflicts, and how many annotated articles have none."""
    unsettled = {(p.record, p.field) for p in layers.problems if p.rule == UNSETTLED_RULE}
    by_article: dict[str, list[dict[str, Any]]] = {}
    decided: dict[str, list[dict[str, Any]]] = {}
    for c in layers.conflicts:
        if c["kind"] != "conflict":
            continue
        if (c["article_id"], c["item"]) in unsettled:
            by_article.setdefault(c["article_id"], []).append(c)
        elif c.get("decision") is not None:
            decided.setdefault(c["article_id"], []).append(c)
    versions = counted_versions(layers)
    cases = [Case(a, versions[a], cs, decided.get(a, [])) for a, cs in sorted(by_article.items())]
    return cases, len(set(versions) - set(by_article))


def describe_item(item: str) -> str:
    """A conflict's item in words: 'entities ORG [0, 13)' for ``region:entities:ORG:0:13``."""
    kind, _, rest = item.partition(":")
    if kind in ("region", "attr"):
        parts = rest.split(":")
        where = f"{parts[0]} {parts[1]} [{parts[2]}, {parts[3]})"
        return where if kind == "region" else f"{parts[4]} of {where}"
    if kind == "relation":
        src, _, rest2 = rest.partition("->")
        dst, _, role = rest2.rpartition(":")
        return (
            f"relation {role}: {describe_item('region:' + src)} -> {describe_item('region:' + dst)}"
        )
    if kind == "choice":
        fname, _, value = rest.partition(":")
        return f"{fname} = {value}"
    return item


def _lettered(versions: Sequence[Version]) -> Callable[[str], str]:
    """A conflict's words with each annotator's e-mail as the letter of their tab, as the
    box's legend gives them: the tabs show letters, and three e-mails to a line did not fit
    the box (a walkthrough)."""
    letters = {v.annotator: version_tag(i) for i, v in enumerate(versions)}
    if not letters:
        return lambda detail: detail
    # Longest first: an e-mail that ends another one is not cut out of it.
    pattern = re.compile("|".join(re.escape(e) for e in sorted(letters, key=len, reverse=True)))
    return lambda detail: pattern.sub(lambda m: letters[m.group(0)], detail)


def overlap_notes(
    layers: AnnotationLayers, taxonomy: Taxonomy, case: Case, *, letters: bool = True
) -> dict[str, str]:
    """Unsettled region -> what it may not overlap: the article's gold regions and other
    unsettled regions of its layer that a span rule keeps apart from it, with who marked
    them. Keeping one rejects the other; a reviewer told only "'four months' marked by C,
    not by A, B" kept it, unaware that A and B marked 'four months later' (a walkthrough)."""
    ids = [v.annotation_id for v in case.versions]
    rows = layers.regions.filter(
        (pl.col("article_id") == case.article_id) & pl.col("annotation_id").is_in(ids)
    )
    makers: dict[str, list[str]] = defaultdict(list)
    texts: dict[str, str] = {}
    for r in rows.iter_rows(named=True):
        key = region_key(r["layer"], r["label"], r["start"], r["end"])
        makers[key].append(r["annotator"])
        texts[key] = r["text"]
    gold = set(layers.gold.regions.filter(pl.col("article_id") == case.article_id)["region_key"])
    unsettled = [str(c["item"]).partition(":")[2] for c in case.conflicts]
    unsettled = [k for k in unsettled if str(k).count(":") == 3 and k in makers]
    # The box names annotators by their tabs' letters; a sheet by e-mail.
    lettered = _lettered(case.versions) if letters else (lambda who: who)
    relations = layers.gold.relations.filter(pl.col("article_id") == case.article_id)
    out = {}
    for key in unsettled:
        others = [k for k in sorted(gold | set(unsettled)) if overlap_of(taxonomy, key, k)]
        if others:
            out[f"region:{key}"] = (
                "; ".join(
                    f"overlaps {describe_item('region:' + k).split(' ', 1)[1]} {texts.get(k)!r} "
                    f"marked by {lettered(', '.join(sorted(set(makers[k]))))} "
                    f"({'gold now' if k in gold else 'in conflict'})"
                    for k in others
                )
                + ": keeping one rejects the other"
                + "".join(
                    _drops(k, relations, texts, sheet=not letters) for k in others if k in gold
                )
            )
    return out


# Up to this many earlier decisions are listed one a line under the conflicts; more are
# counted, and only those against the majority now listed: they are applied to the start
# already and stand, and a box of ~20 of them hid the conflict (a team walkthrough).
DECIDED_LISTED = 5


def _decided_lines(
    case: Case, decisions: Mapping[str, Mapping[str, Any]], lettered: Callable[[str], str]
) -> list[str]:
    """The box's lines on the article's earlier decisions, after its conflicts."""
    if not case.decided:
        return []
    where = f"annotations/decisions/{case.article_id}.yaml"
    described = []  # (line, against the majority now)
    actions: Counter[str] = Counter()
    for c in case.decided:
        entry = decisions.get(c["item"], {})
        action = str(c["decision"])
        actions[action] += 1
        against = against_majority(c, {**entry, "action": action})
        if action == "set":
            action += f" {entry.get('value')!r}"
        described.append(
            (
                f"{describe_item(c['item'])}: {lettered(c['detail'])}: {action}"
                + (f" by {entry['decided_by']}" if entry.get("decided_by") else "")
                + (" (against the majority now)" if against else ""),
                against,
            )
        )
    if len(described) <= DECIDED_LISTED:
        return [f"Decided earlier (they stand; {where}):", *(line for line, _ in described)]
    against_now = [line for line, against in described if against]
    counts = ", ".join(f"{n} {a}" for a, n in sorted(actions.items()))
    return [
        f"Decided earlier: {len(described)} decisions stand ({counts}; {where}), already "
        "applied to your start; "
        + (
            f"{len(against_now)} against the majority now:"
            if against_now
            else "none against the majority now."
        ),
        *(f"- {line}" for line in against_now),
    ]


def _drops(key: str, relations: pl.DataFrame, texts: Mapping[str, str], *, sheet: bool) -> str:
    """What rejecting the gold region ``key`` takes with it: the agreed relations it is an
    end of, each with how to reject it explicitly (``review --pull`` refuses the review
    otherwise). A reviewer who deleted the majority's TIME_OFFSET lost its TIME argument of
    'deposed' without being told (a walkthrough)."""
    mine = relations.filter((pl.col("from_key") == key) | (pl.col("to_key") == key))
    out = []
    for r in mine.iter_rows(named=True):
        item = f"relation:{r['from_key']}->{r['to_key']}:{r['label']}"
        how = (
            f"an entry {{item: {item}, action: reject, why: ...}}"
            if sheet
            else f"the line [{item}] <why> in {REASON}"
        )
        out.append(
            f"; rejecting {describe_item('region:' + key).split(' ', 1)[1]} also drops relation "
            f"{r['label']} {texts.get(r['from_key'])!r} -> {texts.get(r['to_key'])!r}, which "
            f"the annotators agreed on: to reject it, give {how}"
        )
    return "".join(out)


def task_data(
    case: Case,
    text: str,
    sha256: str,
    decisions: Mapping[str, Mapping[str, Any]] | None = None,
    overlaps: Mapping[str, str] | None = None,
) -> dict[str, Any]:
    """A review task's data; ``decisions`` (item -> entry) names who made each earlier one,
    ``overlaps`` (item -> note, :func:`overlap_notes`) what a conflict's region may not
    overlap."""
    decisions = decisions or {}
    overlaps = overlaps or {}
    legend = "; ".join(f"{version_tag(i)} = {v.annotator}" for i, v in enumerate(case.versions))
    lettered = _lettered(case.versions)
    # What to settle first, numbered under a heading of its own: below ~20 earlier decisions
    # the one unsettled conflict was a line at the top of a box taller than the screen, and
    # easy to miss (a team walkthrough).
    lines = [f"TO SETTLE ({len(case.conflicts)}):"] + [
        f"{n}. {describe_item(c['item'])}: {lettered(c['detail'])}"
        + (f"; {overlaps[c['item']]}" if c["item"] in overlaps else "")
        for n, c in enumerate(case.conflicts, 1)
    ]
    lines += _decided_lines(case, decisions, lettered)
    return {
        "text": text,
        "article_id": case.article_id,
        "text_sha256": sha256,
        "review_of": [v.record() for v in case.versions],
        "review_summary": (
            f"Review of article {case.article_id}: {len(case.conflicts)} unsettled conflict(s) "
            f"between {len(case.versions)} annotators ({legend}; each version is the tab of "
            f"its letter, Compare All shows them side by side). Yours starts as the "
            f"prediction '{START_VERSION}': what the annotators agreed on and every item in "
            "conflict (a tied attribute with one of its values; a single-choice field with "
            "the majority's value, none when no value has a majority). Submit the gold: "
            "remove what you reject, set tied attributes and single choices, and say why."
        ),
        "review_conflicts": "\n".join(lines),
    }


# -- the gold as a Label Studio result -------------------------------------------------


STAMP = "2000-01-01T00:00:00.000000Z"  # the versions' own stamps do not matter here


def _new_id(key: str) -> str:
    # Stable per region: a second submission of the same gold gives the same result.
    return "rv" + hashlib.sha1(key.encode()).hexdigest()[:8]


def gold_result(
    gold: GoldLayer,
    aid: str,
    versions: list[tuple[str, list[dict[str, Any]]]],
    article: Any,
    taxonomy: Taxonomy,
    paths: ProjectPaths,
    region_reasons: Mapping[str, str] | None = None,
) -> tuple[list[dict[str, Any]], list[str]]:
    """Article ``aid``'s ``gold`` as one Label Studio result, made of the annotators' own
    items (``versions``: each annotator's e-mail and result, as a review task's predictions
    carry them), with each region's reason of ``region_reasons`` (region key -> why)."""
    region_reasons = region_reasons or {}
    emails = [e for e, _ in versions]
    collector = TableCollector(
        {aid: (article.text, article.sha256)}, taxonomy, set(emails), load_source_shapes(paths)
    )
    anns = [
        {
            "id": i + 1,
            "unique_id": str(uuid.UUID(int=i + 1)),
            "completed_by": {"email": email},
            "result": result,
            "was_cancelled": False,
            "ground_truth": False,
            "lead_time": 0.0,
            "created_at": STAMP,
            "updated_at": STAMP,
            "prediction": {},
        }
        for i, (email, result) in enumerate(versions)
    ]
    data = {"text": article.text, "article_id": aid, "text_sha256": article.sha256}
    collector.add_task({"id": 1, "data": data, "annotations": anns}, f"review task of {aid}")
    tables = collector.tables()
    if tables.problems:
        return [], [f"article {aid}: the review task's versions: {p}" for p in tables.problems]
    raw = {i + 1: result for i, (_, result) in enumerate(versions)}
    ctl = controls(taxonomy)
    attrs = [a for a in ATTRS if a in tables.regions.columns]
    cands: dict[str, list[dict[str, Any]]] = defaultdict(list)
    key_of: dict[tuple[int, str], str] = {}
    for r in tables.regions.iter_rows(named=True):
        key = region_key(r["layer"], r["label"], r["start"], r["end"])
        cands[key].append(r)
        key_of[(r["annotation_id"], r["region_id"])] = key

    def items_of(r: Mapping[str, Any]) -> list[dict[str, Any]]:
        """The raw items of one annotator's region: its span and its attributes."""
        return [
            it
            for it in raw[r["annotation_id"]]
            if it.get("id") == r["region_id"] and it.get("type") != "relation"
        ]

    out: list[dict[str, Any]] = []
    problems: list[str] = []
    for g in gold.regions.filter(pl.col("article_id") == aid).iter_rows(named=True):
        key = g["region_key"]
        if not cands[key]:
            problems.append(f"article {aid}: region {key} is in no version the task carries")
            continue
        rid = _new_id(key)
        whole = next((r for r in cands[key] if all(r[a] == g[a] for a in attrs)), None)
        base = whole or cands[key][0]
        chosen = [
            it
            for it in items_of(base)
            if whole is not None
            or ctl.get(str(it.get("from_name")), None) is None
            or ctl[str(it["from_name"])].kind != "attribute"
        ]
        if whole is None:
            # Tied attributes decided differently: each value from an annotator who gave it.
            for a in attrs:
                if g[a] is None:
                    continue
                donor = next(r for r in cands[key] if r[a] == g[a])
                chosen += [
                    it
                    for it in items_of(donor)
                    if (c := ctl.get(str(it.get("from_name")))) is not None
                    and c.kind == "attribute"
                    and c.target == a
                ]
        out += [{**json.loads(json.dumps(it)), "id": rid} for it in chosen]
        why = region_reasons.get(key)
        if why:
            span = next(it for it in chosen if it.get("type") == "labels")["value"]
            out.append(
                {
                    "id": rid,
                    "from_name": REGION_REASON,
                    "to_name": "text",
                    "type": "textarea",
                    "value": {"start": span["start"], "end": span["end"], "text": [why]},
                }
            )
    for g in gold.relations.filter(pl.col("article_id") == aid).iter_rows(named=True):
        want = (g["from_key"], g["to_key"], g["label"])
        found = None
        for r in tables.relations.iter_rows(named=True):
            ends = (
                key_of.get((r["annotation_id"], r["from_region_id"])),
                key_of.get((r["annotation_id"], r["to_region_id"])),
                r["label"],
            )
            if ends == want:
                found = next(
                    it
                    for it in raw[r["annotation_id"]]
                    if it.get("type") == "relation"
                    and it.get("from_id") == r["from_region_id"]
                    and it.get("to_id") == r["to_region_id"]
                    and (it.get("labels") or [None])[0] == r["label"]
                )
                break
        if found is None:
            problems.append(f"article {aid}: relation {want} is in no version the task carries")
            continue
        out.append({**found, "from_id": _new_id(want[0]), "to_id": _new_id(want[1])})
    values: dict[str, list[str]] = defaultdict(list)
    for g in gold.choices.filter(pl.col("article_id") == aid).iter_rows(named=True):
        if g["field"] not in UNCONTESTED_FIELDS:
            values[g["field"]].append(g["value"])
    for fname, vs in sorted(values.items()):
        template = next(
            (it for _, res in versions for it in res if it.get("from_name") == fname), None
        )
        if template is None:
            problems.append(f"article {aid}: {fname} is in no version the task carries")
            continue
        key = "choices" if ctl[fname].result_type == "choices" else "text"
        # In the annotators' own order, so that the same gold gives the same result.
        order = [v for _, res in versions for it in res if it.get("from_name") == fname
                 for v in (it.get("value") or {}).get(key) or []]  # fmt: skip
        ordered = sorted(set(vs), key=lambda v: (order.index(v) if v in order else len(order), v))
        out.append(
            {
                **{k: v for k, v in template.items() if k != "value"},
                "id": f"rv_{fname}",
                "value": {**template["value"], key: ordered},
            }
        )
    return out, problems


def _assumed(conflict: Mapping[str, Any], singles: set[str]) -> dict[str, Any]:
    """What a review's start assumes for one unsettled conflict (decided by nobody)."""
    item = str(conflict["item"])
    if item.startswith("attr:"):
        # A tie: one of the values it is between, for the reviewer to keep or change.
        return {"item": item, "action": "set", "value": conflict["values"][0]["value"]}
    if item.startswith("choice:") and item.split(":")[1] in singles:
        # Both of two values cannot be selected in a single-choice field: none is, and the
        # reviewer picks one.
        return {"item": item, "action": "reject"}
    return {"item": item, "action": "accept"}


def settle_all(
    layers: AnnotationLayers,
    taxonomy: Taxonomy,
    paths: ProjectPaths,
    article_id: str,
    decided: Mapping[str, dict[str, Any]],
    assume: Callable[[Mapping[str, Any]], dict[str, Any]],
) -> tuple[Adjudication, dict[str, dict[str, Any]]]:
    """The article adjudicated under ``decided`` with every unsettled conflict given the
    decision ``assume`` makes of it: (the result, the conflicts assumed, by item).

    Taking a region in can reveal conflicts behind it (a relation to a region only one
    annotator made, a tie among a region's makers): assumed until none is new.
    """
    tables = _article_layers(layers, article_id)
    assumed: dict[str, dict[str, Any]] = {}
    seen: dict[str, dict[str, Any]] = {}
    for _ in range(10):
        result = adjudicate(
            *tables, paths.decisions_dir, taxonomy, decided={article_id: {**assumed, **decided}}
        )
        unsettled = {p.field for p in result.problems if p.rule == UNSETTLED_RULE}
        new = [
            c
            for c in result.conflicts
            if c["kind"] == "conflict" and c["item"] in unsettled and c["item"] not in seen
        ]
        if not new:
            break
        for c in new:
            seen[str(c["item"])] = c
            assumed[str(c["item"])] = assume(c)
    return result, seen


def review_start(
    layers: AnnotationLayers,
    taxonomy: Taxonomy,
    paths: ProjectPaths,
    article_id: str,
    decided: dict[str, dict[str, Any]],
) -> GoldLayer:
    """The gold a review of ``article_id`` starts from: what the annotators agreed on and
    what ``decided`` (the article's decisions, as :func:`read_decisions` gave them)
    settled, with every unsettled item in (:func:`_assumed`)."""
    singles = {f.name for f in taxonomy.document_fields if f.kind == "single"}
    result, _ = settle_all(
        layers, taxonomy, paths, article_id, decided, lambda c: _assumed(c, singles)
    )
    return result.gold


# -- review (push) ---------------------------------------------------------------------


@dataclass
class ReviewPushSummary:
    project_id: int = 0
    project_created: bool = False
    config_updated: bool = False
    created: list[str] = field(default_factory=list)
    updated: list[str] = field(default_factory=list)
    unchanged: list[str] = field(default_factory=list)
    refused: list[str] = field(default_factory=list)
    without_conflicts: int = 0
    settled: int = 0  # review tasks of articles with no unsettled conflict now: left alone

    def line(self) -> str:
        if not self.project_id:
            return (
                "nothing to review: no article has unsettled conflicts "
                f"({self.without_conflicts} annotated article(s)); no review project created"
            )
        return (
            f"review project {self.project_id}{' (created)' if self.project_created else ''}"
            f"{', label config updated' if self.config_updated else ''}: review tasks "
            f"{len(self.created)} created, {len(self.updated)} updated, "
            f"{len(self.unchanged)} unchanged, {len(self.refused)} refused; "
            f"{self.without_conflicts} annotated article(s) without unsettled conflicts not pushed"
            + (
                f" ({self.settled} of them with a review task from before, left as it is)"
                if self.settled
                else ""
            )
        )


def find_review_project(conn: Connection, title: str) -> Any | None:
    found = [p for p in call(conn, lambda: list(conn.client.projects.list())) if p.title == title]
    if len(found) > 1:
        ids = ", ".join(str(p.id) for p in found)
        raise ReviewRefused(
            f"{len(found)} projects titled {title!r} on {conn.url} (ids {ids}); "
            "rename or delete all but one"
        )
    return found[0] if found else None


def require_review_project(conn: Connection, title: str) -> Any:
    """The review project, or ReviewRefused naming the command that creates it."""
    project = find_review_project(conn, title)
    if project is None:
        raise ReviewRefused(
            f"no review project titled {title!r} on {conn.url}: run `sahelwire "
            "labelstudio review` first"
        )
    return project


def _ensure_review_project(
    conn: Connection, title: str, xml: str, summary: ReviewPushSummary
) -> int:
    project = find_review_project(conn, title)
    if project is None:
        project = call(
            conn,
            lambda: conn.client.projects.create(
                title=title,
                label_config=xml,
                description="SahelWire review: each task is an article with unsettled "
                "conflicts; the predictions are the annotators' versions, named 'A: <e-mail>', "
                f"and '{START_VERSION}', where your annotation starts. Remove what you "
                "reject, submit the gold with a reason. docs/review.md in the repository.",
                # The versions are predictions: the review needs them shown (Label
                # Studio's default today, set so that it stays so for this project).
                show_collab_predictions=True,
            ),
        )
        summary.project_created = True
    elif (project.label_config or "").strip() != xml.strip():
        call(conn, lambda: conn.client.projects.update(id=project.id, label_config=xml))
        summary.config_updated = True
    summary.project_id = int(project.id)
    return int(project.id)


def _predictions(
    case: Case, results: Mapping[int, Any], start: list[dict[str, Any]]
) -> list[dict[str, Any]]:
    versions = [
        {"model_version": version_name(i, v.annotator), "result": results[v.annotation_id]}
        for i, v in enumerate(case.versions)
    ]
    # Label Studio shows a task's predictions newest first: imported C, B, A after the start,
    # the tabs read A, B, C, then the start.
    return [{"model_version": START_VERSION, "result": start}, *reversed(versions)]


def push_reviews(
    conn: Connection, paths: ProjectPaths, layers: AnnotationLayers, taxonomy: Taxonomy
) -> ReviewPushSummary:
    """Create or update the review project and one task per article with unsettled conflicts."""
    summary = ReviewPushSummary()
    with exclusive_lock(paths.state_dir / "locks" / REVIEW_LOCK, "labelstudio review"):
        cases, summary.without_conflicts = unsettled_cases(layers)
        try:
            repo = load_repository(paths)
        except IdentityError as exc:
            raise ReviewRefused(str(exc)) from None
        results = {int(a["id"]): a["result"] for t in repo.tasks.values() for a in t["annotations"]}
        articles = {a.id: a for a in load_articles(paths)}
        title = review_title(Settings.load(paths).label_studio_project_title)
        if not cases and find_review_project(conn, title) is None:
            return summary  # nothing to review: no empty project is created
        # the main project's config (registry lists included), with the reviewer's fields
        xml = review_label_config(render_label_config(taxonomy, load_registries(paths)))
        project_id = _ensure_review_project(conn, title, xml, summary)
        existing: dict[str, dict[str, Any]] = {}
        for row in task_rows(conn, project_id):
            aid = row["data"].get("article_id")
            if aid in existing:
                raise ReviewRefused(
                    f"review project {project_id} has two tasks for article {aid!r} (tasks "
                    f"{existing[aid]['id']} and {row['id']}); delete one in Label Studio"
                )
            if aid is not None:
                existing[aid] = row
        summary.settled = len(set(existing) - {c.article_id for c in cases})
        payload: list[dict[str, Any]] = []
        for case in cases:
            article = articles[case.article_id]
            try:
                decided = read_decisions(paths.decisions_dir, case.article_id)
            except ValueError as exc:
                raise ReviewRefused(str(exc)) from None
            data = task_data(
                case, article.text, article.sha256, decided, overlap_notes(layers, taxonomy, case)
            )
            versions = [(v.annotator, results[v.annotation_id]) for v in case.versions]
            start, problems = gold_result(
                review_start(layers, taxonomy, paths, case.article_id, decided),
                case.article_id,
                versions,
                article,
                taxonomy,
                paths,
            )
            if problems:
                summary.refused += problems
                continue
            predictions = _predictions(case, results, start)
            found = existing.get(case.article_id)
            if found is None:
                payload.append({"data": data, "predictions": predictions})
                summary.created.append(case.article_id)
                continue
            row = found
            shown = {str(p["model_version"]): p["result"] for p in predictions}
            if row["data"] == data and row["predictions"] == shown:
                summary.unchanged.append(case.article_id)
            elif row["annotations"]:
                if row["data"].get("review_of") == data["review_of"]:
                    # Reviewed on these very versions; only the wording changed.
                    summary.unchanged.append(case.article_id)
                else:
                    summary.refused.append(
                        f"review task {row['id']} (article {case.article_id}) was reviewed on "
                        "annotation versions that have changed since; its review cannot be "
                        "pulled: delete that review (or the task) in Label Studio, then run "
                        "`sahelwire labelstudio review` again"
                    )
            else:
                _replace_task(conn, int(row["id"]), data, predictions)
                summary.updated.append(case.article_id)
        import_tasks(conn, project_id, payload)
        started = summary.created or summary.updated
        if started or any(START_VERSION in r["predictions"] for r in existing.values()):
            _select_start(conn, project_id)
    return summary


def _select_start(conn: Connection, project_id: int) -> None:
    """Make :data:`START_VERSION` the project's model version. After the import: Label Studio
    refuses a version no prediction has, and the import selects the last version it imported
    (an annotator's) when the project has none."""
    shown = call(conn, lambda: conn.client.projects.get(id=project_id)).model_version or ""
    if shown != START_VERSION:
        call(conn, lambda: conn.client.projects.update(id=project_id, model_version=START_VERSION))


def _replace_task(
    conn: Connection, task_id: int, data: dict[str, Any], predictions: list[dict[str, Any]]
) -> None:
    """New versions for an unreviewed task: its data, and its predictions replaced."""
    call(conn, lambda: conn.client.tasks.update(id=str(task_id), data=data))
    for old in call(conn, lambda: list(conn.client.predictions.list(task=task_id))):
        call(conn, lambda pid=old.id: conn.client.predictions.delete(id=pid))
    for p in predictions:
        call(
            conn,
            lambda p=p: conn.client.predictions.create(
                task=task_id, result=p["result"], model_version=p["model_version"]
            ),
        )


# -- review --pull -----------------------------------------------------------------------


@dataclass
class ArticleDecisions:
    article_id: str
    reviewer: str
    entries: list[dict[str, Any]]  # the whole decisions file after this review
    written: int  # decisions added or replaced
    unchanged: int  # decisions already in the file as the review implies
    notes: int = 0  # `conflict:` notes of other entries brought up to date (stale_note)
    # relations the annotators agreed on that the decisions drop (each rejected explicitly)
    dropped: list[str] = field(default_factory=list)


@dataclass
class ReviewPullSummary:
    decided: list[ArticleDecisions] = field(default_factory=list)
    unchanged: list[str] = field(default_factory=list)
    refused: list[str] = field(default_factory=list)  # every reason, "<task>: <why>"
    refused_tasks: set[str] = field(default_factory=set)  # the review tasks refused
    not_reviewed: list[str] = field(default_factory=list)
    not_needed: list[str] = field(default_factory=list)
    changed_files: list[str] = field(default_factory=list)

    def refuse(self, where: str, reasons: list[str]) -> None:
        self.refused += [f"{where}: {r}" for r in reasons]
        self.refused_tasks.add(where)

    def line(self) -> str:
        written = sum(d.written for d in self.decided)
        notes = sum(d.notes for d in self.decided)
        # Review tasks, not reasons: one review may break several rules (a walkthrough's
        # two refused reviews were reported as "21 refused").
        return (
            f"review --pull: {len(self.decided)} article(s) decided ({written} decision(s) "
            "written"
            + (f", {notes} stale `conflict:` note(s) brought up to date" if notes else "")
            + f"), {len(self.unchanged)} unchanged, {len(self.refused_tasks)} review(s) "
            "refused; "
            f"{len(self.not_reviewed)} review task(s) not reviewed yet"
            + (
                f"; {len(self.not_needed)} review(s) of articles without conflicts now, ignored"
                if self.not_needed
                else ""
            )
        )


@dataclass(frozen=True)
class _Review:
    """One submitted review, parsed like any annotation (sahelwire.annotations.tables)."""

    reviewer: str
    gold: GoldLayer  # the review taken as one annotator's gold
    region_reasons: dict[str, str]  # region key -> the reviewer's reason for it
    reason: str  # the review reason without its item lines
    item_reasons: dict[str, str] = field(default_factory=dict)  # conflict item -> its why


def split_reason(texts: list[str]) -> tuple[str, dict[str, str], list[str]]:
    """A review reason's entries -> (the overall reason, item -> why, problems).

    Lines of the form ``[<item>] <why>`` (:data:`ITEM_REASON`) are the items' own reasons;
    everything else is the overall reason, read as before: entries joined by a blank.
    """
    overall: list[str] = []
    items: dict[str, str] = {}
    problems: list[str] = []
    for text in texts:
        rest = []
        for line in text.split("\n"):
            m = ITEM_REASON.match(line.strip())
            if m is None:
                rest.append(line)
                continue
            item, why = m["item"], m["why"].strip()
            if item in items and items[item] != why:
                problems.append(f"{REASON} gives {item} two reasons ({items[item]!r}, {why!r})")
            items[item] = why
        overall.append("\n".join(rest))
    return " ".join(overall).strip(), items, problems


def _texts(item: Mapping[str, Any]) -> list[str]:
    value = item.get("value") or {}
    texts = value.get("text") if isinstance(value, dict) else None
    if isinstance(texts, list):
        return [str(t) for t in texts]
    return [str(texts or "")]


def _text_value(item: Mapping[str, Any]) -> str:
    return " ".join(_texts(item)).strip()


def _parse_review(
    ann: dict[str, Any],
    email: str,
    article: Any,
    taxonomy: Taxonomy,
    paths: ProjectPaths,
) -> tuple[_Review | None, list[str]]:
    """The review as tables (the export parser's rules), or why it cannot be read."""
    result = ann.get("result") or []
    own = [r for r in result if isinstance(r, dict) and r.get("from_name") in REVIEW_CONTROLS]
    rest = [
        r for r in result if not (isinstance(r, dict) and r.get("from_name") in REVIEW_CONTROLS)
    ]
    reason, item_reasons, problems = split_reason(
        next((_texts(r) for r in own if r.get("from_name") == REASON), [])
    )
    if problems:
        return None, problems
    by_region = {
        str(r.get("id")): _text_value(r) for r in own if r.get("from_name") == REGION_REASON
    }
    record = repository_annotation(
        {**ann, "result": rest}, repo_id=1, email=email, model_version=None
    )
    collector = TableCollector(
        {article.id: (article.text, article.sha256)}, taxonomy, {email}, load_source_shapes(paths)
    )
    task = {
        "id": 1,
        "data": {"text": article.text, "article_id": article.id, "text_sha256": article.sha256},
        "annotations": [record],
    }
    collector.add_task(task, f"review of {article.id}")
    tables = collector.tables()
    if tables.problems:
        return None, [str(p) for p in tables.problems]
    gold = adjudicate(
        tables.annotations,
        tables.regions,
        tables.relations,
        tables.choices,
        paths.decisions_dir,
        taxonomy,
        decided={article.id: {}},
    ).gold
    reasons = {}
    for r in tables.regions.iter_rows(named=True):
        why = by_region.get(str(r["region_id"]), "")
        if why:
            reasons[region_key(r["layer"], r["label"], r["start"], r["end"])] = why
    return _Review(email, gold, reasons, reason, item_reasons), []


def _items(gold: GoldLayer, article_id: str) -> dict[str, set[Any]]:
    """The gold of one article as comparable sets (regions with their attributes)."""
    regions = gold.regions.filter(pl.col("article_id") == article_id)
    relations = gold.relations.filter(pl.col("article_id") == article_id)
    choices = gold.choices.filter(
        (pl.col("article_id") == article_id) & ~pl.col("field").is_in(list(UNCONTESTED_FIELDS))
    )
    attrs = [c for c in ATTRS if c in regions.columns]
    return {
        "regions": set(regions["region_key"].to_list()),
        "attributes": {
            (r["region_key"], a, r[a]) for r in regions.iter_rows(named=True) for a in attrs
        },
        "relations": {
            f"{r['from_key']}->{r['to_key']}:{r['label']}" for r in relations.iter_rows(named=True)
        },
        "choices": {f"{r['field']}:{r['value']}" for r in choices.iter_rows(named=True)},
    }


def _decide(item: str, review: _Review, mine: dict[str, set[Any]]) -> dict[str, Any] | None:
    """The decision the review implies for one conflict item (None: it cannot say)."""
    kind, _, rest = item.partition(":")
    if kind == "region":
        action: dict[str, Any] = {"action": "accept" if rest in mine["regions"] else "reject"}
        key = rest
    elif kind == "attr":
        key, _, attr = rest.rpartition(":")
        if key not in mine["regions"]:
            return None
        value = next(v for k, a, v in mine["attributes"] if k == key and a == attr)
        action = {"action": "set", "value": value}
    elif kind == "relation":
        action = {"action": "accept" if rest in mine["relations"] else "reject"}
        key = rest.partition("->")[0]
    else:  # choice
        action = {"action": "accept" if rest in mine["choices"] else "reject"}
        key = ""
    why = review.item_reasons.get(item) or review.region_reasons.get(key) or review.reason
    return {"item": item, **action, "decided_by": review.reviewer, "why": why}


def _article_layers(
    layers: AnnotationLayers, article_id: str
) -> tuple[pl.DataFrame, pl.DataFrame, pl.DataFrame, pl.DataFrame]:
    only = pl.col("article_id") == article_id
    return (
        layers.annotations.filter(only),
        layers.regions.filter(only),
        layers.relations.filter(only),
        layers.choices.filter(only),
    )


OVERRULED = "the majority's value"


def _overruled(
    gold: dict[str, set[Any]],
    mine: dict[str, set[Any]],
    singles: set[str],
    proposed: Mapping[str, Any],
) -> dict[str, str]:
    """Gold values of single-choice fields the review replaces by another value: item ->
    the value the review selects."""
    out = {}
    for value in sorted(gold["choices"] - mine["choices"]):
        name = value.partition(":")[0]
        chosen = sorted(v for v in mine["choices"] if v.partition(":")[0] == name)
        if name in singles and chosen and f"choice:{value}" not in proposed:
            out[f"choice:{value}"] = chosen[0].partition(":")[2]
    return out


def overruled_choices(
    gold: GoldLayer,
    article_id: str,
    chosen: set[str],
    singles: set[str],
    decided: Mapping[str, Any],
) -> dict[str, str]:
    """:func:`_overruled` for a review that names only the values it selects (``chosen``,
    as ``field:value``): a review sheet, whose entries are the conflicts alone."""
    return _overruled(_items(gold, article_id), {"choices": chosen}, singles, decided)


def _span_of(key: str) -> dict[str, Any]:
    """A region key (``layer:label:start:end``) as the row overlap_rule reads."""
    layer, label, start, end = key.rsplit(":", 3)
    return {"layer": layer, "label": label, "start": int(start), "end": int(end)}


def overlap_of(taxonomy: Taxonomy, key: str, other: str) -> str | None:
    """The span rule two regions (keys) of one article break by both being gold, or None."""
    a, b = sorted((_span_of(key), _span_of(other)), key=lambda r: (r["start"], -r["end"]))
    if a["layer"] != b["layer"] or key == other:
        return None
    return overlap_rule(taxonomy.layer(a["layer"]), a, b)


def displaced_regions(
    gold: Collection[str], kept: Collection[str], taxonomy: Taxonomy, decided: Mapping[str, Any]
) -> dict[str, str]:
    """Gold regions (keys) a review leaves out because it keeps a region that may not overlap
    them: ``region:<key>`` -> the key of the kept region. Both cannot be gold (a quantity
    'four months later' and another 'four months' inside it), so keeping the one rejects the
    other, as selecting a single-choice value does (:func:`_overruled`)."""
    out = {}
    for key in sorted(set(gold) - set(kept)):
        if f"region:{key}" in decided:
            continue
        hit = next((k for k in sorted(kept) if overlap_of(taxonomy, key, k)), None)
        if hit is not None:
            out[f"region:{key}"] = hit
    return out


DISPLACED = "the majority's region"


def rule_refusals(
    gold: GoldLayer,
    article_id: str,
    text: str,
    taxonomy: Taxonomy,
    paths: ProjectPaths,
    decided: Mapping[str, Mapping[str, Any]],
    how_to_reject: Callable[[str, bool], str],
) -> list[str]:
    """What in the gold ``decided`` gives the article breaks a rule ``validate`` applies to
    the gold, each with what the reviewer can do; [] when nothing does.

    Checked before a decision is written: a review that accepted a quantity overlapping the
    majority's was written, then validate, adjudicate and build refused every input, and so
    did the documented way out (``review --pull --overwrite`` reads the inputs first).
    ``how_to_reject(item, majority)`` says how this kind of review rejects an item.
    """

    mine = GoldLayer(
        gold.regions.filter(pl.col("article_id") == article_id),
        gold.relations.filter(pl.col("article_id") == article_id),
        gold.choices.filter(pl.col("article_id") == article_id),
        gold.status.filter(pl.col("article_id") == article_id),
    )
    found = gold_rule_problems(mine, {article_id: text}, taxonomy, load_registries(paths))
    texts = dict(zip(mine.regions["region_key"], mine.regions["text"], strict=True))

    def named(key: str) -> tuple[str, bool]:
        item = f"region:{key}"
        d = decided.get(item)
        if d is None:
            how, majority = "the majority's", True
        elif d.get("action") == "accept":
            how, majority = f"accepted by {d.get('decided_by') or 'a decision'}", False
        else:
            how, majority = "a decision", False
        return f"{item} ({texts.get(key)!r}, {how})", majority

    out = []
    for problem in found:
        found_other = _OVERLAPPED.search(problem.message or "")
        # Records read <article>/<article>/<region key>: the key is the last part.
        key = str(problem.record).rpartition("/")[2]
        other = found_other.group(1).rpartition("/")[2] if found_other else ""
        if key not in texts or other not in texts:
            out.append(f"the gold would break a rule `sahelwire validate` applies: {problem}")
            continue
        (b, b_majority), (a, a_majority) = named(key), named(other)
        options = [
            how_to_reject(f"region:{k}", majority)
            for k, majority in ((key, b_majority), (other, a_majority))
        ]
        out.append(
            f"{b} and {a} would both be gold, and they overlap: rule {problem.rule!r} "
            "(`sahelwire validate`, `adjudicate` and `build` would refuse every input); keep "
            f"one of the two: {'; or '.join(options)}"
        )
    return out


# The other region of an overlap Problem of check_regions on the gold: "... (<region key>)".
_OVERLAPPED = re.compile(r"\(([^()\s]+)\)$")


def decisions_from_review(
    layers: AnnotationLayers,
    taxonomy: Taxonomy,
    paths: ProjectPaths,
    article_id: str,
    review: _Review,
    *,
    overwrite: bool,
    text: str,
) -> tuple[ArticleDecisions | None, list[str]]:
    """The article's decisions file after ``review`` (None and the reasons when refused)."""
    path = paths.decisions_dir / f"{article_id}.yaml"
    try:
        entries = decision_entries(path)
        existing = read_decisions(paths.decisions_dir, article_id)
    except ValueError as exc:
        return None, [str(exc)]
    tables = _article_layers(layers, article_id)
    mine = _items(review.gold, article_id)
    proposed: dict[str, dict[str, Any]] = {}
    problems: list[str] = []
    result = None
    singles = {f.name for f in taxonomy.document_fields if f.kind == "single"}
    # Deciding a region can reveal conflicts behind it (a relation to a region only one
    # annotator made is a conflict once that region is gold): decide until none is new.
    for _ in range(10):
        merged = {**existing, **proposed} if overwrite else {**proposed, **existing}
        result = adjudicate(*tables, paths.decisions_dir, taxonomy, decided={article_id: merged})
        new = [
            c["item"]
            for c in result.conflicts
            if c["kind"] == "conflict" and c["item"] not in proposed
        ]
        now = _items(result.gold, article_id)
        overruled = _overruled(now, mine, singles, proposed)
        displaced = displaced_regions(now["regions"], mine["regions"], taxonomy, proposed)
        if not new and not overruled and not displaced:
            break
        # Two regions that may not overlap cannot both be gold: a review that keeps a
        # minority's region and drops the majority's overlapping one rejects the majority's
        # (a decision adjudication honours on a majority item). A single-choice field holds
        # one value: selecting a minority's value drops the majority's, a decision like any
        # other (in the editor, selecting one value unselects the other, so a review could
        # not side with the minority before).
        rejected = {
            **{
                i: f"{DISPLACED}; the review keeps region:{k}, which it overlaps"
                for i, k in displaced.items()
            },
            **{i: f"{OVERRULED}; the review selects {c}" for i, c in overruled.items()},
        }
        for item, conflict in rejected.items():
            proposed[item] = {
                "item": item,
                "action": "reject",
                "decided_by": review.reviewer,
                "why": review.item_reasons.get(item) or review.reason,
                "conflict": conflict,
            }
        details = {c["item"]: c["detail"] for c in result.conflicts if c["kind"] == "conflict"}
        for item in new:
            decision = _decide(item, review, mine)
            if decision is not None:
                # Who made what, for whoever reads the file (adjudication ignores the key).
                decision["conflict"] = details[item]
            if decision is None:
                problems.append(
                    f"{item}: the annotators tie on this attribute of a region they agree on, "
                    "but the review leaves the region out; decisions cannot drop it"
                )
                decision = {"item": item, "action": None}
            proposed[item] = decision
    problems += [
        f"{REASON} gives a reason to {item}, which is not a conflict of the article "
        "(a mistyped item?)"
        for item in sorted(set(review.item_reasons) - set(proposed))
    ]
    if problems:
        return None, problems
    assert result is not None
    # A conflict the review's own later decisions made moot (a relation to the region it
    # rejects once its `--overwrite` replaced an accept) takes no decision: it would be stale.
    final = {c["item"] for c in result.conflicts if c["kind"] == "conflict"}
    proposed = {item: d for item, d in proposed.items() if item in final}
    if not proposed:
        return None, []
    details = {c["item"]: c["detail"] for c in result.conflicts if c["kind"] == "conflict"}
    for item, d in proposed.items():
        if item in details and str(d.get("conflict", "")).startswith((OVERRULED, DISPLACED)):
            d["conflict"] = f"{details[item]}; {d['conflict']}"
    dropped = dropped_relations(result.conflicts, proposed, review.item_reasons, existing)
    if dropped:
        return None, dropped
    if not review.reason and any(not d["why"] for d in proposed.values()):
        return None, [
            f"no reason given: fill in {REASON} in the review (it becomes each decision's why)"
        ]
    clashes = [
        f"{item}: the file says {existing[item]['action']} "
        f"(by {existing[item].get('decided_by')}), the review says {d['action']}"
        for item, d in sorted(proposed.items())
        if item in existing and not _same_action(existing[item], d)
    ]
    if clashes and not overwrite:
        return None, [
            *clashes,
            "an existing decision is never replaced without `--overwrite`",
        ]
    gold = _items(result.gold, article_id)
    differences = _differences(mine, gold)
    if differences:
        return None, [
            *differences,
            "decisions only accept or reject what an annotator made (and pick a tied "
            "attribute's value): change the review to choose among the annotators' versions "
            f"(to start over: delete your review in Label Studio, then open the task again; it "
            f"starts from '{START_VERSION}'), or have an annotator change their annotation "
            "and run `sahelwire labelstudio review` again",
        ]
    merged = {**existing, **proposed} if overwrite else {**proposed, **existing}
    broken = rule_refusals(
        result.gold, article_id, text, taxonomy, paths, merged, _how_to_reject_in_editor
    )
    if broken:
        return None, broken
    out = _merged_file(article_id, review.reviewer, entries, proposed, details)
    out.dropped = sorted(
        str(c["item"]) for c in result.conflicts if c.get("ends_rejected") and c["item"] in proposed
    )
    return out, []


def dropped_relations(
    conflicts: list[dict[str, Any]],
    decided: Collection[str],
    explicit: Collection[str],
    existing: Mapping[str, Mapping[str, Any]],
    how: Callable[[str], str] | None = None,
) -> list[str]:
    """A refusal for each relation the annotators agreed on that ``decided`` drops (a
    decision rejects its end: adjudication lists it with ``ends_rejected``) without an
    explicit reject: one of ``explicit`` (the items the reviewer named), or a reject already
    in the file (``existing``). ``how(item)``: how this kind of review names it (default: a
    line of review_reason). The words are those of the refusal of a review that lacks an agreed
    item (:func:`_differences`): the relation was lost without a word (a walkthrough),
    while a review deleting both of two overlapping regions was refused naming it."""
    out = []
    for c in conflicts:
        item = str(c["item"])
        if not c.get("ends_rejected") or item not in decided or item in explicit:
            continue
        if (existing.get(item) or {}).get("action") == "reject":
            continue
        ends = " and ".join(c["ends_rejected"])
        out.append(
            f"{_lacks_agreed('relation', item.partition(':')[2])}: rejecting {ends} drops it "
            "(a relation needs both its ends in the gold); to drop it, say so: "
            + (
                how(item)
                if how
                else f"add the line `[{item}] <why>` to {REASON} (then Add, Update)"
            )
            + f"; otherwise keep {ends}"
        )
    return out


def _lacks_agreed(what: str, item: str) -> str:
    return f"the review lacks {what} {item}, which the annotators agreed on"


def _how_to_reject_in_editor(item: str, majority: bool) -> str:
    if majority:
        return (
            f"reject {item} (delete it from your review: keeping a region it overlaps "
            "rejects the majority's)"
        )
    return f"reject {item} (delete it from your review)"


def review_decisions(
    layers: AnnotationLayers,
    taxonomy: Taxonomy,
    paths: ProjectPaths,
    article: Any,
    annotation: dict[str, Any],
    reviewer: str,
    *,
    overwrite: bool = False,
) -> tuple[ArticleDecisions | None, list[str]]:
    """One submitted review (a Label Studio annotation, as exported) -> the article's
    decisions file; (None, why) when it is refused, (None, []) when nothing is in conflict."""
    review, problems = _parse_review(annotation, reviewer, article, taxonomy, paths)
    if review is None:
        return None, problems
    return decisions_from_review(
        layers, taxonomy, paths, article.id, review, overwrite=overwrite, text=article.text
    )


def _same_action(a: Mapping[str, Any], b: Mapping[str, Any]) -> bool:
    """The same decision (who and why aside): an earlier pull of this very review."""
    return a.get("action") == b.get("action") and a.get("value") == b.get("value")


def _differences(review: dict[str, set[Any]], gold: dict[str, set[Any]]) -> list[str]:
    out = []
    for what in ("regions", "relations", "choices"):
        for item in sorted(review[what] - gold[what], key=str):
            out.append(f"the review has {what[:-1]} {item}, which the gold cannot get")
        for item in sorted(gold[what] - review[what], key=str):
            out.append(_lacks_agreed(what[:-1], item))
    common = review["regions"] & gold["regions"]
    mine = {(k, a): v for k, a, v in review["attributes"] if k in common}
    theirs = {(k, a): v for k, a, v in gold["attributes"] if k in common}
    for (k, a), v in sorted(mine.items(), key=str):
        if theirs.get((k, a)) != v:
            out.append(
                f"the review gives {a} {v!r} to region {k}, the annotators agreed on "
                f"{theirs.get((k, a))!r}"
            )
    return out


def stale_note(note: object, detail: str) -> bool:
    """Whether a decision's ``conflict:`` note no longer says who made what, as the
    conflict's ``detail`` says it now: written before a later annotator joined, it still
    read "marked by A, not by B" (a walkthrough). A note that says only why a majority's
    item was rejected (:data:`OVERRULED`, :data:`DISPLACED`) names no annotator."""
    if not isinstance(note, str) or note.startswith((OVERRULED, DISPLACED)):
        return False
    return note != detail and not note.startswith(f"{detail}; ")


def refreshed_note(note: str, detail: str) -> str:
    """``note`` with who made what as ``detail`` says it now; the review's own addition
    (why a majority's item was rejected) kept."""
    for why in (OVERRULED, DISPLACED):
        at = note.find(f"; {why}")
        if at >= 0:
            return detail + note[at:]
    return detail


def stale_notes(conflicts: list[dict[str, Any]], decisions_dir: Path) -> list[dict[str, Any]]:
    """The decisions whose ``conflict:`` note is stale (:func:`stale_note`), each with the
    note and what the conflict is now. Adjudication ignores the notes: only the reader is
    misled, so this is reported, never an error."""
    out = []
    for c, entry in decided_conflicts(conflicts, decisions_dir):
        note = (entry or {}).get("conflict")
        if stale_note(note, str(c["detail"])):
            out.append(
                {"article_id": c["article_id"], "item": c["item"], "note": note, "now": c["detail"]}
            )
    return out


def _merged_file(
    article_id: str,
    reviewer: str,
    entries: list[dict[str, Any]],
    proposed: dict[str, dict[str, Any]],
    details: Mapping[str, str],
) -> ArticleDecisions:
    """The file's entries with the review's: placeholders filled, others kept in place.

    ``details`` (item -> who made what now): a kept entry's stale ``conflict:`` note is
    brought up to date, as the file is written anyway; its action, value, decider and
    reason are never touched."""
    written = unchanged = notes = 0
    out: list[dict[str, Any]] = []
    done: set[str] = set()

    def kept(entry: dict[str, Any]) -> dict[str, Any]:
        nonlocal notes
        item = str(entry["item"])
        note = entry.get("conflict")
        if item in details and isinstance(note, str) and stale_note(note, details[item]):
            notes += 1
            return {**entry, "conflict": refreshed_note(note, details[item])}
        return entry

    for entry in entries:
        item = str(entry["item"])
        new = proposed.get(item)
        if new is None or item in done:
            out.append(kept(entry))
            continue
        done.add(item)
        if is_placeholder(entry):
            out.append(new)
            written += 1
        elif _same_action(entry, new):
            # an earlier pull of this review, or a hand decision agreeing
            out.append(kept(entry))
            unchanged += 1
        else:  # a different decision: decisions_from_review refused unless overwrite
            out.append(new)
            written += 1
    for item in sorted(set(proposed) - done):
        out.append(proposed[item])
        written += 1
    return ArticleDecisions(article_id, reviewer, out, written, unchanged, notes)


def render_decisions(article_id: str, entries: list[dict[str, Any]]) -> str:
    header = (
        f"# Adjudication decisions for article {article_id} (rules: "
        "src/sahelwire/annotations/adjudication.py).\n"
        "# Entries by `sahelwire labelstudio review --pull` come from a review submitted in\n"
        "# Label Studio (docs/review.md); decided_by is the reviewer's e-mail.\n"
    )
    body = yaml.safe_dump({"decisions": entries}, sort_keys=False, allow_unicode=True, width=100)
    return header + body


def _reviewer(ann: Mapping[str, Any], users: Mapping[int, str]) -> str | None:
    """The e-mail of the account that submitted a review (export: user id or object)."""
    who = ann.get("completed_by")
    if isinstance(who, dict):
        return str(who["email"]) if who.get("email") else None
    if isinstance(who, int) and not isinstance(who, bool):
        return users.get(who)
    return None


def _latest_review(
    task: Mapping[str, Any], users: Mapping[int, str]
) -> tuple[dict[str, Any] | None, str | None, str | None]:
    """(the review to use, its reviewer's e-mail, why none can be used); all None: unreviewed."""
    submitted = [a for a in task.get("annotations") or [] if not a.get("was_cancelled")]
    if not submitted:
        return None, None, None
    emails = {id(a): _reviewer(a, users) for a in submitted}
    unknown = [a.get("id") for a in submitted if emails[id(a)] is None]
    if unknown:
        return None, None, f"review annotation(s) {unknown}: the account is not on this server"
    people = sorted({str(e) for e in emails.values()})
    if len(people) > 1:
        return (
            None,
            None,
            (
                f"reviewed by {len(people)} people ({', '.join(people)}): which review is the gold "
                "is unknown; delete all but one in Label Studio"
            ),
        )
    # One reviewer who submitted twice (a second review after a change): the latest counts.
    latest = max(submitted, key=lambda a: (str(a.get("updated_at")), a.get("id") or 0))
    return latest, people[0], None


def repairable_articles(
    inputs: Any, problems: list[Problem], paths: ProjectPaths
) -> tuple[dict[str, list[str]], list[Problem]]:
    """Of the inputs' ``problems``, those ``review --pull --overwrite`` may set aside: the
    gold's, of articles with a decisions file, as checked article by article (the decisions
    cause them: two regions that may not overlap are never both a majority's). Returns
    (article -> its problems, every other problem). A decision written by an older
    `review --pull` made the gold invalid, and `--overwrite`, the documented way to replace
    it, was refused because it read the inputs first (a walkthrough)."""

    gold = inputs.layers.gold
    texts = inputs.raw.valid
    repairable: dict[str, list[str]] = {}
    covered: Counter[str] = Counter()
    if any(p.file == "gold" for p in problems):
        decided = sorted(f.stem for f in paths.decisions_dir.glob("*.yaml"))
        for aid in decided:
            if aid not in texts:
                continue
            only = pl.col("article_id") == aid
            mine = GoldLayer(*(t.filter(only) for t in (gold.regions, gold.relations,
                                                        gold.choices, gold.status)))  # fmt: skip
            found = gold_rule_problems(mine, {aid: texts[aid]}, inputs.taxonomy, inputs.registries)
            if found:
                repairable[aid] = [str(p) for p in found]
                covered.update(str(p) for p in found)
    rest = []
    for p in problems:
        if p.file == "gold" and covered[str(p)] > 0:
            covered[str(p)] -= 1
        else:
            rest.append(p)
    return repairable, rest


def overwrite_hint(
    problems: Sequence[Problem], paths: ProjectPaths, inputs: Any = None
) -> str | None:
    """The next step when ``review --pull --overwrite`` can repair the inputs (every problem
    but unsettled conflicts is one it sets aside, :func:`repairable_articles`), else None.
    ``inputs`` (validate's, when the caller has them) makes it exact; without them, a
    problem of the gold of an article with a decisions file counts. The first refusal a
    maintainer met (validate, adjudicate, build, review --pull) named no way out; only
    docs/review.md did (a walkthrough)."""
    rest = [p for p in problems if p.rule != UNSETTLED_RULE]
    if inputs is not None:
        found, other = repairable_articles(inputs, rest, paths)
        articles = sorted(found)
    else:
        decided = {p.stem for p in paths.decisions_dir.glob("*.yaml")}
        of = {id(p): str(p.record).partition("/")[0] for p in rest if p.file == "gold"}
        articles = sorted({a for a in of.values() if a in decided})
        other = [p for p in rest if of.get(id(p)) not in decided]
    if not articles or other:
        return None
    files = ", ".join(f"annotations/decisions/{a}.yaml" for a in articles)
    return (
        f"{files}: decisions written before `review --pull` checked the gold make it break "
        "a rule; fix the article's review in Label Studio (keep one of the two regions), then "
        "`sahelwire labelstudio review --pull --overwrite` replaces those decisions from it "
        "(docs/review.md, 5.); or correct the file by hand"
    )


def refuse_unrepaired(
    summary: ReviewPullSummary,
    repairing: Mapping[str, list[str]],
    replaced: Collection[str],
    where_of: Mapping[str, str],
) -> None:
    """Refuse each article of ``repairing`` whose decisions no review of this pull replaces,
    under its review task's name when it has one: one review refused for its own reasons
    and for the file's was counted twice ('2 review(s) refused' for one task, a
    walkthrough)."""
    for aid, broken in sorted(repairing.items()):
        if aid not in replaced:
            summary.refuse(
                where_of.get(aid, f"article {aid}"),
                [
                    *broken,
                    f"annotations/decisions/{aid}.yaml makes the inputs invalid and no "
                    "review replaces those decisions: update the review of the article in "
                    "Label Studio (keep one of the two regions) and run `review --pull "
                    "--overwrite` again, or correct the file by hand",
                ],
            )


def pull_reviews(
    conn: Connection,
    paths: ProjectPaths,
    layers: AnnotationLayers,
    taxonomy: Taxonomy,
    *,
    overwrite: bool = False,
    repairing: Mapping[str, list[str]] | None = None,
) -> ReviewPullSummary:
    """Every submitted review -> annotations/decisions/<article>.yaml (see the module doc).

    ``repairing`` (with ``overwrite``; :func:`repairable_articles`): articles whose decisions
    make the gold invalid now, with those problems; each must be replaced by a review whose
    gold is valid, else it is refused, problems named."""
    summary = ReviewPullSummary()
    with exclusive_lock(paths.state_dir / "locks" / REVIEW_LOCK, "labelstudio review"):
        title = review_title(Settings.load(paths).label_studio_project_title)
        project = require_review_project(conn, title)
        tasks = export_tasks(conn, paths, int(project.id))
        users = annotator_directory(conn)
        articles = {a.id: a for a in load_articles(paths)}
        versions = counted_versions(layers)
        writes: list[ArticleDecisions] = []
        where_of: dict[str, str] = {}  # article -> its review task, as refusals name it
        for task in sorted(tasks, key=lambda t: str((t.get("data") or {}).get("article_id"))):
            data = task.get("data") or {}
            aid = data.get("article_id")
            where = f"review task {task.get('id')} (article {aid})"
            where_of[str(aid)] = where
            if aid not in articles:
                summary.refuse(where, ["not an article of dataset/raw/manifest.jsonl"])
                continue
            ann, reviewer, why_not = _latest_review(task, users)
            if why_not is not None:
                summary.refuse(where, [why_not])
                continue
            if ann is None or reviewer is None:
                summary.not_reviewed.append(str(aid))
                continue
            now = [v.record() for v in versions.get(aid, [])]
            if data.get("review_of") != now:
                summary.refuse(
                    where,
                    [
                        "reviewed on annotation versions that are not the repository's "
                        "now (an annotator changed their annotation, or `sahelwire labelstudio "
                        "pull` has not run since); pull, run `sahelwire labelstudio review`, "
                        "and have the task reviewed again"
                    ],
                )
                continue
            decided, problems = review_decisions(
                layers, taxonomy, paths, articles[aid], ann, reviewer, overwrite=overwrite
            )
            if problems:
                summary.refuse(where, problems)
            elif decided is None:
                summary.not_needed.append(str(aid))
            elif decided.written == 0:
                summary.unchanged.append(str(aid))
            else:
                writes.append(decided)
        refuse_unrepaired(summary, repairing or {}, {d.article_id for d in writes}, where_of)
        # Every review is checked before the first write; each file is replaced atomically.
        for decided in writes:
            path = paths.decisions_dir / f"{decided.article_id}.yaml"
            write_text_atomic(path, render_decisions(decided.article_id, decided.entries))
            summary.decided.append(decided)
            summary.changed_files.append(str(path.relative_to(paths.root)))
    return summary
