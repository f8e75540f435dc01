"""Review sheets: a reviewer's decisions written in YAML, submitted through the review loop.

The programmatic equivalent of the reviewer's work in the Label Studio editor (docs/review.md,
"An AI or scripted reviewer"), for reviews too long to click through:

* :func:`sheet_skeleton` writes, for every article with unsettled conflicts, each conflict as
  ``sahelwire adjudicate --json`` lists it (item, who made it and who did not, the tied
  values) with the item's text and an empty ``action`` and ``why``, plus the conflicts that
  only arise once a region is accepted (``depends_on``), so that one sheet decides them all.
* :func:`submit_sheets` checks a filled-in sheet against the committed annotations, builds
  the review a reviewer would have submitted in the editor and submits it to the article's
  task in the review project as the reviewer's own annotation (an invite sign-up and the
  reviewer's own token, as :mod:`sahelwire.labelstudio.worksheet_submit` does for
  annotators). ``sahelwire labelstudio review --pull`` then turns it into decisions like any
  other review: nothing downstream knows or trusts the sheet.

The review is the gold the sheet's decisions give (the items the majority agreed on and the
conflict items accepted, with the ``set`` attribute values), made of the annotators' own
result items as the task's predictions carry them. Each decision's ``why`` reaches
``review --pull`` exactly: an accepted region (or a region whose tied attribute is decided)
carries it as its ``review_region_reason``, as in the editor; every other item whose why
differs from what the pull would read there (a rejected region, a relation, an article-level
value, a second item on the same region) gets a line ``[<item>] <why>`` in the
``review_reason``, after the sheet's overall reason (:data:`review.ITEM_REASON`).

A sheet that cannot be submitted as written is refused for its article, naming the file,
the article, the item and the rule; nothing is submitted for that article.
"""

from __future__ import annotations

import json
from collections import defaultdict
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import polars as pl
import yaml
from label_studio_sdk import LabelStudio

from sahelwire.annotations.adjudication import (
    ATTR_ACTIONS,
    ITEM_ACTIONS,
    UNSETTLED_RULE,
    adjudicate,
    read_decisions,
)
from sahelwire.annotations.gold_layer import GoldLayer
from sahelwire.annotations.layers import AnnotationLayers
from sahelwire.annotations.review import (
    ITEM_REASON,
    REASON,
    REVIEW_LOCK,
    START_VERSION,
    _article_layers,
    counted_versions,
    describe_item,
    displaced_regions,
    dropped_relations,
    gold_result,
    overlap_notes,
    overruled_choices,
    require_review_project,
    review_title,
    rule_refusals,
    settle_all,
    unsettled_cases,
    version_annotator,
)
from sahelwire.io.atomic import write_text_atomic
from sahelwire.io.config import Settings
from sahelwire.io.locks import exclusive_lock
from sahelwire.io.paths import ProjectPaths
from sahelwire.io.text_files import read_yaml
from sahelwire.labelstudio.client import Connection, call
from sahelwire.labelstudio.invite import sign_up
from sahelwire.labelstudio.project import task_rows
from sahelwire.labelstudio.worksheet_submit import annotator_password
from sahelwire.raw.manifest import load_articles
from sahelwire.schema.taxonomy import Taxonomy

# The stale-decision rule of adjudication: a sheet's answer on an item that is no conflict
# under the decisions (a relation whose end the sheet or the file rejects) is refused, named;
# a decision of the file made moot by the sheet's is left to review --pull.
STALE_RULE = "a decision settles an existing conflict"
CONTEXT = 80  # characters of the article shown either side of an item in the skeleton

SHEET_HEADER = """\
# Review sheet (`sahelwire labelstudio review --sheet-skeleton`; docs/review.md, "An AI or
# scripted reviewer"). For each article: `reason`, why this review is right overall. For each
# conflict: `action` accept or reject (an attr: item takes set, with `value` one of `values`)
# and `why`, one line (e.g. "GUIDELINES §3.5 nearest mention in the same sentence").
# An entry with `depends_on` is a conflict only if those regions are accepted; otherwise leave
# it empty. Submit with `sahelwire labelstudio review --submit FILE --reviewer EMAIL`, then
# `sahelwire labelstudio review --pull`.
"""


class SheetError(ValueError):
    """A sheet that cannot be read at all (not YAML, not the sheet's shape)."""


# -- the conflicts a sheet decides ----------------------------------------------------------


def potential_conflicts(
    layers: AnnotationLayers, taxonomy: Taxonomy, paths: ProjectPaths, article_id: str
) -> dict[str, dict[str, Any]]:
    """Every conflict any set of decisions can give the article, by item.

    Accepting every conflict makes the most regions gold, so it reveals every conflict that
    needs a gold region (a relation to a region only one annotator made, a tie among a
    region's makers). Decisions in the file are ignored: a sheet may decide an item
    differently (``review --pull`` then says so).
    """

    def accept(c: Mapping[str, Any]) -> dict[str, Any]:
        if str(c["item"]).startswith("attr:"):
            return {"action": "set", "value": c["values"][0]["value"]}
        return {"action": "accept"}

    _, seen = settle_all(layers, taxonomy, paths, article_id, {}, accept)
    return seen


def _region_of(item: str) -> list[str]:
    """The regions an item is about (their keys): a relation has two."""
    kind, _, rest = item.partition(":")
    if kind == "region":
        return [rest]
    if kind == "attr":
        return [rest.rpartition(":")[0]]
    if kind == "relation":
        src, _, rest2 = rest.partition("->")
        return [src, rest2.rpartition(":")[0]]
    return []


def _span(key: str) -> tuple[int, int]:
    parts = key.split(":")
    return int(parts[2]), int(parts[3])


def item_text(item: str, text: str) -> str:
    """What the item marks, as the article says it."""
    kind, _, rest = item.partition(":")
    if kind == "choice":
        return rest.partition(":")[2]
    spans = [text[slice(*_span(k))] for k in _region_of(item)]
    return " -> ".join(spans)


def _context(item: str, text: str) -> str | None:
    keys = _region_of(item)
    if not keys:
        return None
    start = min(_span(k)[0] for k in keys)
    end = max(_span(k)[1] for k in keys)
    lo = max(text.rfind("\n", 0, start) + 1, start - CONTEXT)
    hi = text.find("\n", end)
    hi = min(len(text) if hi < 0 else hi, end + CONTEXT)
    return text[lo:hi]


def _entry(
    c: Mapping[str, Any], text: str, depends_on: list[str], overlaps: str | None = None
) -> dict[str, Any]:
    item = str(c["item"])
    entry: dict[str, Any] = {
        "item": item,
        "what": describe_item(item),
        "text": item_text(item, text),
    }
    context = _context(item, text)
    if context is not None:
        entry["context"] = context
    entry["conflict"] = c["detail"]
    if overlaps:
        entry["overlaps"] = overlaps
    if item.startswith("attr:"):
        entry["values"] = [{"value": v["value"], "by": v["by"]} for v in c["values"]]
    else:
        entry["by"], entry["not_by"] = c["by"], c["not_by"]
    if depends_on:
        entry["depends_on"] = depends_on
    entry["action"] = None
    if item.startswith("attr:"):
        entry["value"] = None
    entry["why"] = None
    return entry


def sheet_skeleton(
    layers: AnnotationLayers,
    taxonomy: Taxonomy,
    paths: ProjectPaths,
    texts: Mapping[str, str],
    only: set[str] | None = None,
) -> tuple[str, int]:
    """The sheet to fill in for every article with unsettled conflicts (or those of
    ``only``), and how many articles it holds (``texts``: article -> its text)."""
    cases, _ = unsettled_cases(layers)
    articles = []
    for case in cases:
        if only is not None and case.article_id not in only:
            continue
        text = texts[case.article_id]
        listed = {c["item"] for c in layers.conflicts if c["article_id"] == case.article_id}
        open_items = {c["item"] for c in case.conflicts}
        gold = layers.gold.regions.filter(pl.col("article_id") == case.article_id)
        # A region neither gold nor open is one an earlier decision rejects: what needs it
        # (a relation of an event rejected) is settled already, and no entry of the sheet
        # could make it a conflict (six such relations were listed as if open, a walkthrough).
        possible = {f"region:{k}" for k in gold["region_key"]} | open_items
        notes = overlap_notes(layers, taxonomy, case, letters=False)
        entries = [_entry(c, text, [], notes.get(str(c["item"]))) for c in case.conflicts]
        for item, c in sorted(
            potential_conflicts(layers, taxonomy, paths, case.article_id).items()
        ):
            ends = [f"region:{k}" for k in _region_of(item)]
            if item in listed or not set(ends) <= possible:
                continue
            entries.append(_entry(c, text, [e for e in ends if e in open_items]))
        articles.append({"article_id": case.article_id, "reason": None, "conflicts": entries})
    body = yaml.safe_dump({"articles": articles}, sort_keys=False, allow_unicode=True, width=100)
    return SHEET_HEADER + body, len(articles)


def write_sheet_skeleton(path: Path, text: str) -> None:
    """Write a skeleton; an existing file is never replaced (it may be a filled-in sheet)."""
    if path.exists():
        raise SheetError(f"{path}: exists; a sheet skeleton never replaces a file")
    write_text_atomic(path, text)


# -- reading and checking a sheet -----------------------------------------------------------


@dataclass
class SheetArticle:
    """One article of a sheet, as written."""

    source: str  # the sheet's path, for messages
    article_id: str
    reason: Any
    conflicts: list[Any]


def read_sheet(path: Path) -> list[SheetArticle]:
    """The articles of a sheet; SheetError when the file is not a sheet at all."""
    try:
        data = read_yaml(path)
    except ValueError as exc:  # unreadable, not UTF-8 or not YAML: read_yaml names the file
        raise SheetError(str(exc)) from None
    articles = data.get("articles") if isinstance(data, dict) else None
    if not isinstance(articles, list) or not all(isinstance(a, dict) for a in articles):
        raise SheetError(f"{path}: a review sheet is a mapping with a list `articles:`")
    out = []
    seen: set[str] = set()
    for i, a in enumerate(articles):
        aid = a.get("article_id")
        if not isinstance(aid, str) or not aid:
            raise SheetError(f"{path}: articles[{i}] has no article_id")
        if aid in seen:
            raise SheetError(f"{path}: article {aid} is listed twice; keep one")
        seen.add(aid)
        conflicts = a.get("conflicts")
        if not isinstance(conflicts, list):
            raise SheetError(f"{path}: article {aid}: `conflicts:` must be a list")
        out.append(SheetArticle(str(path), aid, a.get("reason"), conflicts))
    return out


@dataclass
class CheckedArticle:
    """A sheet's article that can be submitted: its gold, reasons and decisions."""

    article_id: str
    gold: GoldLayer
    reason: str  # the review_reason as submitted: the overall reason, then the item lines
    region_reasons: dict[str, str]  # region key -> its review_region_reason
    decisions: dict[str, dict[str, Any]]  # item -> the sheet's decision (conflicts only)
    differs_from_file: list[str] = field(default_factory=list)
    # the majority's value of a single-choice field -> the value the sheet accepts instead
    overruled: dict[str, str] = field(default_factory=dict)


def _one_line(value: Any) -> str | None:
    if not isinstance(value, str) or not value.strip() or "\n" in value.strip():
        return None
    return value.strip()


def _check_entries(
    sheet: SheetArticle, potential: Mapping[str, Mapping[str, Any]]
) -> tuple[dict[str, dict[str, Any]], set[str], list[str]]:
    """The sheet's entries, each checked alone: (decisions, items left empty, problems)."""
    where = f"{sheet.source}: article {sheet.article_id}"
    decisions: dict[str, dict[str, Any]] = {}
    empty: set[str] = set()
    problems: list[str] = []
    for i, e in enumerate(sheet.conflicts):
        item = e.get("item") if isinstance(e, dict) else None
        if not isinstance(item, str) or not item:
            problems.append(f"{where}: conflicts[{i}]: an entry names its item")
            continue
        at = f"{where}: item {item}"
        assert isinstance(e, dict)
        if item not in potential:
            problems.append(
                f"{at}: not a conflict of the article (an item as `sahelwire adjudicate` "
                "lists it, from a skeleton of the current annotations)"
            )
            continue
        if item in decisions or item in empty:
            problems.append(f"{at}: listed twice; keep one entry")
            continue
        action = e.get("action")
        why = e.get("why")
        if action in (None, ""):
            if why not in (None, ""):
                problems.append(f"{at}: a why ({why!r}) without an action")
            empty.add(item)
            continue
        allowed = ATTR_ACTIONS if item.startswith("attr:") else ITEM_ACTIONS
        if action not in allowed:
            problems.append(
                f"{at}: action {action!r} is not one of {', '.join(allowed)} for this item"
            )
            continue
        line = _one_line(why)
        if line is None:
            problems.append(f"{at}: every decision has a why, one non-empty line (got {why!r})")
            continue
        decision: dict[str, Any] = {"action": action, "why": line}
        if action == "set":
            given = [v["value"] for v in potential[item]["values"]]
            if "value" not in e:
                problems.append(f"{at}: set needs a value (one of {given!r})")
                continue
            if e["value"] not in given:
                problems.append(
                    f"{at}: set value {e['value']!r} is not one an annotator gave "
                    f"({', '.join(repr(v) for v in given)})"
                )
                continue
            decision["value"] = e["value"]
        elif e.get("value") is not None:
            problems.append(f"{at}: a value ({e['value']!r}) goes only with set, on an attr: item")
            continue
        decisions[item] = decision
    return decisions, empty, problems


def check_article(
    sheet: SheetArticle,
    layers: AnnotationLayers,
    taxonomy: Taxonomy,
    paths: ProjectPaths,
    reviewer: str,
    text: str,
) -> tuple[CheckedArticle | None, list[str]]:
    """The article's review as the sheet decides it, or every reason it cannot be."""
    aid = sheet.article_id
    where = f"{sheet.source}: article {aid}"
    if aid not in counted_versions(layers):
        return None, [f"{where}: not an annotated article of the repository"]
    reason = sheet.reason.strip() if isinstance(sheet.reason, str) else ""
    problems = []
    if not reason:
        problems.append(f"{where}: `reason` (why this review is right overall) is empty")
    elif any(ITEM_REASON.match(line.strip()) for line in reason.split("\n")):
        problems.append(
            f"{where}: `reason` has a line of the form [<item>] <why>, which review --pull "
            "reads as an item's own reason; give it as that item's why instead"
        )
    potential = potential_conflicts(layers, taxonomy, paths, aid)
    # A majority's region that a conflict region may not overlap: the sheet may reject it to
    # accept the other (both cannot be gold), as deleting it does in the editor.
    gold_keys = layers.gold.regions.filter(pl.col("article_id") == aid)["region_key"].to_list()
    conflict_keys = [i.partition(":")[2] for i in potential if i.startswith("region:")]
    majority = {
        item: {"item": item, "majority": True}
        for key in conflict_keys
        for item in displaced_regions(gold_keys, [key], taxonomy, potential)
    }
    # And the relations the annotators agreed on that such a reject drops: a sheet rejects
    # each explicitly (`review --pull` refuses a review that drops one without a word).
    displaceable = {i.partition(":")[2] for i in majority}
    relations = layers.gold.relations.filter(pl.col("article_id") == aid)
    majority |= {
        item: {"item": item, "majority": True}
        for r in relations.iter_rows(named=True)
        if {r["from_key"], r["to_key"]} & displaceable
        for item in [f"relation:{r['from_key']}->{r['to_key']}:{r['label']}"]
    }
    majority |= {
        str(c["item"]): {"item": c["item"], "majority": True}
        for c in layers.conflicts
        if c["article_id"] == aid and c.get("ends_rejected")
    }
    decisions, empty, entry_problems = _check_entries(sheet, {**majority, **potential})
    problems += [
        f"{where}: item {item}: the majority's {item.partition(':')[0]} can only be rejected "
        "(it is gold unless rejected)"
        for item, d in decisions.items()
        if item in majority and d["action"] != "reject"
    ]
    problems += entry_problems
    try:
        existing = read_decisions(paths.decisions_dir, aid)
    except ValueError as exc:
        return None, [*problems, str(exc)]
    tables = _article_layers(layers, aid)

    def settled() -> Any:
        merged = {**existing, **{i: {**d, "decided_by": reviewer} for i, d in decisions.items()}}
        return adjudicate(*tables, paths.decisions_dir, taxonomy, decided={aid: merged})

    result = settled()
    # A single-choice field holds one value: accepting a minority's value rejects the
    # majority's, which is no conflict and so has no entry (as selecting a value does in the
    # editor; before, the gold held both and the sheet was refused).
    singles = {f.name for f in taxonomy.document_fields if f.kind == "single"}
    accepted = {
        item.partition(":")[2]: d
        for item, d in decisions.items()
        if item.startswith("choice:") and d["action"] == "accept"
    }
    overruled = overruled_choices(result.gold, aid, set(accepted), singles, decisions)
    for item, value in overruled.items():
        field_name = item.split(":")[1]
        decisions[item] = {"action": "reject", "why": accepted[f"{field_name}:{value}"]["why"]}
    if overruled:
        result = settled()
    dropped = {str(c["item"]) for c in result.conflicts if c.get("ends_rejected")}
    problems += [
        f"{where}: {m}"
        for m in dropped_relations(
            result.conflicts, dropped, decisions, existing,
            how=lambda item: f"add an entry {{item: {item}, action: reject, why: ...}}",
        )
    ]  # fmt: skip
    for p in result.problems:
        if p.rule == STALE_RULE and p.field in decisions:
            # An answer on an item that is no conflict under the decisions (a relation of an
            # event an earlier decision rejects) was dropped without a word (a walkthrough).
            problems.append(
                f"{where}: item {p.field}: {_not_open(str(p.field), existing, decisions, aid)}"
            )
            continue
        if p.rule == STALE_RULE:
            continue  # a decision of the file the sheet's own decisions make moot
        if p.rule == UNSETTLED_RULE and p.field in dropped:
            continue  # named above, with how to reject it
        if p.rule == UNSETTLED_RULE:
            if p.field in empty:
                problems.append(
                    f"{where}: item {p.field}: no action; it is a conflict under the sheet's "
                    "decisions, so decide it (accept or reject; set for an attr: item)"
                )
            else:
                problems.append(
                    f"{where}: item {p.field}: a conflict of the article the sheet does not "
                    "decide (every unsettled conflict needs an entry)"
                )
        else:
            problems.append(f"{where}: {p}")
    if problems:
        return None, problems
    merged = {**existing, **{i: {**d, "decided_by": reviewer} for i, d in decisions.items()}}
    broken = rule_refusals(
        result.gold, aid, text, taxonomy, paths,
        merged, _how_to_reject_in_sheet,
    )  # fmt: skip
    if broken:
        return None, [f"{where}: {b}" for b in broken]
    final = {c["item"] for c in result.conflicts if c["kind"] == "conflict"}
    mine = {i: d for i, d in decisions.items() if i in final}
    differs = [
        i
        for i in sorted(mine)
        if i in existing
        and (existing[i].get("action"), existing[i].get("value"))
        != (mine[i]["action"], mine[i].get("value"))
    ]
    region_reasons, item_lines = _reasons(result.gold, aid, mine, reason)
    # review --pull takes only a line of its own as the explicit reject of a dropped relation.
    item_lines |= {i: str(mine[i]["why"]) for i in dropped if i in mine}
    full = "\n".join([reason, *(f"[{i}] {w}" for i, w in sorted(item_lines.items()))])
    checked = CheckedArticle(aid, result.gold, full, region_reasons, mine, differs, overruled)
    return checked, []


def _not_open(
    item: str,
    existing: Mapping[str, Mapping[str, Any]],
    sheet: Mapping[str, Mapping[str, Any]],
    aid: str,
) -> str:
    """Why a sheet's answer on ``item`` settles nothing, and what to do."""
    why = []
    for key in _region_of(item):
        region = f"region:{key}"
        if (sheet.get(region) or {}).get("action") == "reject":
            why.append(f"the sheet rejects {region}")
        elif (existing.get(region) or {}).get("action") == "reject":
            by = existing[region].get("decided_by")
            why.append(f"annotations/decisions/{aid}.yaml rejects {region} (by {by})")
    because = f"{' and '.join(why)}, so " if why else ""
    return (
        f"not a conflict under the decisions: {because}it cannot be gold and takes no "
        "decision; leave its action empty (remove the entry)"
    )


def _how_to_reject_in_sheet(item: str, majority: bool) -> str:
    if majority:
        return f"add an entry {{item: {item}, action: reject, why: ...}} to reject the majority's"
    return f"set item {item} to action: reject"


def _pull_key(item: str) -> str:
    """The region whose reason ``review --pull`` reads for an item ('' for none)."""
    kind, _, rest = item.partition(":")
    if kind == "region":
        return rest
    if kind == "attr":
        return rest.rpartition(":")[0]
    if kind == "relation":
        return rest.partition("->")[0]
    return ""


def _reasons(
    gold: GoldLayer, article_id: str, decisions: Mapping[str, Mapping[str, Any]], reason: str
) -> tuple[dict[str, str], dict[str, str]]:
    """(region key -> its region reason, item -> its reason line) so that review --pull
    reads every decision's why as the sheet gives it."""
    in_review = set(gold.regions.filter(pl.col("article_id") == article_id)["region_key"])
    by_region: dict[str, list[str]] = defaultdict(list)
    # Only what is about the region itself, as a reviewer would write it in the editor:
    # the region's own conflict first, then its attributes'. A relation's why is not the
    # reason for its event region (review --pull would read it there): it gets a line.
    rank = {"region": 0, "attr": 1}
    for item in sorted(decisions, key=lambda i: (rank.get(i.partition(":")[0], 2), i)):
        key = _pull_key(item)
        if key in in_review and item.partition(":")[0] in rank:
            by_region[key].append(str(decisions[item]["why"]))
    region_reasons = {k: whys[0] for k, whys in by_region.items() if whys[0] != reason}
    lines = {
        item: str(d["why"])
        for item, d in decisions.items()
        if (region_reasons.get(_pull_key(item)) or reason) != d["why"]
    }
    return region_reasons, lines


# -- the review, as Label Studio results ------------------------------------------------------


def review_result(
    checked: CheckedArticle,
    versions: list[tuple[str, list[dict[str, Any]]]],
    article: Any,
    taxonomy: Taxonomy,
    paths: ProjectPaths,
) -> tuple[list[dict[str, Any]], list[str]]:
    """The review's Label Studio result: the gold, made of the annotators' own items
    (``versions``: each annotator's e-mail and result, as the task's predictions carry
    them), with the reasons."""
    out, problems = gold_result(
        checked.gold,
        checked.article_id,
        versions,
        article,
        taxonomy,
        paths,
        checked.region_reasons,
    )
    out.append(
        {
            "id": "rv_reason",
            "from_name": REASON,
            "to_name": "text",
            "type": "textarea",
            "value": {"text": [checked.reason]},
        }
    )
    return out, problems


# -- submitting -------------------------------------------------------------------------------


@dataclass
class SheetSubmitSummary:
    created: list[str] = field(default_factory=list)
    updated: list[str] = field(default_factory=list)
    unchanged: list[str] = field(default_factory=list)
    refused: list[str] = field(default_factory=list)  # every reason, one per line
    refused_articles: set[str] = field(default_factory=set)
    notes: list[str] = field(default_factory=list)

    def refuse(self, article_id: str, reasons: list[str]) -> None:
        self.refused += reasons
        self.refused_articles.add(article_id)

    def line(self) -> str:
        return (
            f"review sheet: {len(self.created)} review(s) created, {len(self.updated)} updated, "
            f"{len(self.unchanged)} unchanged; {len(self.refused_articles)} article(s) refused"
        )


def _comparable(result: list[Any]) -> str:
    keep = [{k: v for k, v in dict(r).items() if k != "origin"} for r in result]
    return json.dumps(sorted(keep, key=lambda r: json.dumps(r, sort_keys=True)), sort_keys=True)


def submit_sheets(
    conn: Connection,
    paths: ProjectPaths,
    layers: AnnotationLayers,
    taxonomy: Taxonomy,
    sheets: list[Path],
    reviewer: str,
) -> SheetSubmitSummary:
    """Check every sheet, then submit each article's review as ``reviewer`` (module doc)."""
    summary = SheetSubmitSummary()
    articles: list[SheetArticle] = []
    for path in sheets:
        articles += read_sheet(path)
    with exclusive_lock(paths.state_dir / "locks" / REVIEW_LOCK, "labelstudio review"):
        title = review_title(Settings.load(paths).label_studio_project_title)
        project = require_review_project(conn, title)
        tasks = {row["data"].get("article_id"): row for row in task_rows(conn, int(project.id))}
        texts = {a.id: a for a in load_articles(paths)}
        versions = counted_versions(layers)
        ready: list[tuple[CheckedArticle, int, list[dict[str, Any]]]] = []
        for sheet in articles:
            aid = sheet.article_id
            where = f"{sheet.source}: article {aid}"
            text = texts[aid].text if aid in texts else ""
            checked, problems = check_article(sheet, layers, taxonomy, paths, reviewer, text)
            if checked is None:
                summary.refuse(aid, problems)
                continue
            row = tasks.get(aid)
            if row is None:
                summary.refuse(
                    aid,
                    [
                        f"{where}: no review task in project {project.id}; run `sahelwire "
                        "labelstudio review` first"
                    ],
                )
                continue
            if row["data"].get("review_of") != [v.record() for v in versions[aid]]:
                summary.refuse(
                    aid,
                    [
                        f"{where}: review task {row['id']} shows annotation versions that are "
                        "not the repository's now; run `sahelwire labelstudio review` (it "
                        "updates an unreviewed task), then submit again"
                    ],
                )
                continue
            preds = call(conn, lambda t=row["id"]: list(conn.client.predictions.list(task=t)))
            # The annotators' versions: not the prediction the review starts from.
            carried = sorted(
                (
                    (version_annotator(str(p.model_version)), list(p.result or []))
                    for p in preds
                    if p.model_version != START_VERSION
                ),
                key=lambda v: v[0],
            )
            result, problems = review_result(checked, carried, texts[aid], taxonomy, paths)
            if problems:
                summary.refuse(aid, [f"{sheet.source}: {p}" for p in problems])
                continue
            for item, value in sorted(checked.overruled.items()):
                summary.notes.append(
                    f"{where}: item {item}, the majority's value, is rejected: the sheet "
                    f"accepts {value} and the field holds one value"
                )
            for item in checked.differs_from_file:
                summary.notes.append(
                    f"{where}: item {item}: annotations/decisions/{aid}.yaml decides it "
                    "differently; `review --pull` refuses that unless --overwrite"
                )
            ready.append((checked, int(row["id"]), result))
        if not ready:
            return summary
        token = sign_up(conn, reviewer, annotator_password(paths, reviewer))
        me_client = LabelStudio(base_url=conn.url, api_key=token, timeout=60)
        me = call(conn, lambda: me_client.users.whoami())
        for checked, task_id, result in ready:
            mine: list[Any] = []
            others: set[Any] = set()
            for a in call(conn, lambda t=task_id: list(conn.client.annotations.list(id=t))):
                if a.was_cancelled:
                    continue
                if a.completed_by == me.id:
                    mine.append(a)
                else:
                    others.add(a.completed_by)
            if others:
                summary.refuse(
                    checked.article_id,
                    [
                        f"article {checked.article_id}: review task {task_id} is reviewed by "
                        f"another account already (user id(s) {sorted(others)}); `review "
                        "--pull` refuses two reviewers: delete that review in Label Studio first"
                    ],
                )
                continue
            if not mine:
                call(conn, lambda t=task_id, r=result: me_client.annotations.create(id=t, result=r))
                summary.created.append(checked.article_id)
                continue
            latest = max(mine, key=lambda a: (str(a.updated_at), a.id))
            if _comparable(list(latest.result or [])) == _comparable(result):
                summary.unchanged.append(checked.article_id)
            else:
                call(
                    conn, lambda i=latest.id, r=result: me_client.annotations.update(id=i, result=r)
                )
                summary.updated.append(checked.article_id)
    return summary
