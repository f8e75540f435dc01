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
   A decision stands while any annotator still disagrees on its item, even when an
   annotator who came later made a majority: the reviewer is not overturned silently. A
   decision on an item nobody disputes any more (or that is gone) is stale: a problem.

The decisions file::

    decisions:
    - item: region:entities:ORG:0:13        # the conflict's item, as `adjudicate` lists it
      action: accept                        # accept | reject; set (attr: items only)
      decided_by: lead@example.org          # who decided: the reviewer's e-mail address
      why: the junta is an ORG mention      # the reason (not blank)
      conflict: "'Niger's junta' marked by a@x, not by b@y"   # optional, for the reader
    - item: attr:entities:ORG:0:13:entity_id
      action: set
      value: ent_niger_junta                # with set only: the attribute's gold value
      decided_by: lead@example.org
      why: the registry's junta

An entry whose ``action`` is empty is a placeholder (``sahelwire adjudicate --skeleton``
writes them): it settles nothing until filled in. Every conflict names who made what
(``by`` / ``not_by``: annotator e-mails), so a reviewer sees whose version is whose.
"""

from __future__ import annotations

import difflib
import os
import stat
from collections import Counter, defaultdict
from collections.abc import Callable, Collection, Iterator, Mapping
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
from sahelwire.io.atomic import write_text_atomic
from sahelwire.io.bulk import paused_gc
from sahelwire.io.paths import ProjectPaths
from sahelwire.io.text_files import loads_yaml, read_yaml, yaml_line
from sahelwire.labelstudio.identity import is_email
from sahelwire.raw.manifest import closest_id
from sahelwire.schema.problems import Problem
from sahelwire.schema.taxonomy import Taxonomy

# bound as realis: by majority, a tie is a conflict (null, i.e. made before taxonomy 3.0.0,
# is a value like any other).
ATTRS = ("entity_id", "event_id", "realis", "value", "unit", "approximate", "bound")
# The rule of a conflict no decision settles yet: `sahelwire adjudicate` lists these as its
# output; every other problem is invalid input.
UNSETTLED_RULE = "every conflict is settled by a decision"
DECISIONS_FILE_RULE = "a decisions file is readable YAML of complete, distinct decisions"
# What a decision can do: keep or drop an item; give a tied attribute its gold value.
ITEM_ACTIONS = ("accept", "reject")
# The keys of a decision entry (``conflict`` is for the reader: adjudication ignores it).
DECISION_KEYS = ("item", "action", "value", "decided_by", "why", "conflict")
ATTR_ACTIONS = ("set",)
# A relation the majority made whose end a decision rejects cannot be gold: only a reject of
# the relation itself settles it (adjudication's _Settler.drop).
DROPPED_RELATION_RULE = "a relation whose end is rejected is rejected explicitly"
# The article-by-article path (_adjudicate_articles) is the reference the bulk path for several
# annotators (_majority_gold) must equal row for row; a test sets this False to run the
# reference on every article and compare the two on the same input, without a second copy of
# the rules to drift.
BULK_MAJORITY = True


@dataclass
class Adjudication:
    gold: GoldLayer
    problems: list[Problem] = field(default_factory=list)
    conflicts: list[dict[str, Any]] = field(default_factory=list)


class NotAFile(ValueError):
    """A decisions file's path holds a symlink or a FIFO: never opened (a link may
    point anywhere, a FIFO would block); :func:`decision_file_problems` names it."""


def decision_entries(path: Path) -> list[dict[str, Any]]:
    """Every entry of a decisions file as written (placeholders too); [] when it is absent."""
    try:
        mode = path.lstat().st_mode
    except OSError:
        return []  # absent (or its folder is): no decisions
    if not stat.S_ISREG(mode) and not stat.S_ISDIR(mode):
        # A folder is read and named by read_yaml ("cannot be read"), as it always was.
        what = "a symlink" if stat.S_ISLNK(mode) else "not a regular file"
        raise NotAFile(f"{path}: {what}; a decisions file is a regular file")
    data = read_yaml(path) or {}  # a folder in its place: read_yaml's ValueError names it
    entries = data.get("decisions") if isinstance(data, dict) else None
    if not isinstance(entries, list) or not all(isinstance(d, dict) for d in entries):
        raise ValueError(f"{path}: must be a mapping with a list `decisions:` of entries")
    for n, d in enumerate(entries):
        if not isinstance(d.get("item"), str) or not d["item"]:
            raise ValueError(f"{path}: {_at(path, n)}an entry has no item ({d!r})")
        unknown = sorted(str(k) for k in d if k not in DECISION_KEYS)
        if unknown:
            # A misspelt key (`whyy:`) is not a reason: said, never dropped silently.
            near = difflib.get_close_matches(unknown[0], DECISION_KEYS, n=1)
            hint = f" (did you mean {near[0]}?)" if near else ""
            raise ValueError(
                f"{path}: {_at(path, n, unknown[0])}decision on {d['item']!r}: unknown key "
                f"{unknown[0]!r}{hint}; an entry has only {', '.join(DECISION_KEYS)}"
            )
        if d.get("action") in ITEM_ACTIONS and "value" in d:
            # `value` is what a `set` gives a tied attribute; on an accept or reject it says
            # nothing adjudication reads, so a reader would take a value for decided that
            # was not (it was accepted without a word).
            raise ValueError(
                f"{path}: {_at(path, n, 'value')}decision on {d['item']!r}: key 'value' on "
                f"action {d['action']!r}; only a set decision (of an attr: item) has a value: "
                "remove it, or decide the attribute with action: set"
            )
    return entries


def _at(path: Path, index: int, key: str | None = None) -> str:
    """Where entry ``index`` (its ``key``) of a decisions file is: 'line N (entry M): '."""
    line = yaml_line(path, "decisions", index, *([key] if key else []))
    return f"line {line} (entry {index + 1}): " if line else f"entry {index + 1}: "


def is_placeholder(entry: dict[str, Any]) -> bool:
    """A skeleton entry nobody filled in yet: it settles nothing."""
    return entry.get("action") in (None, "")


def read_decisions(folder: Path, article_id: str) -> dict[str, dict[str, Any]]:
    """Decisions for one article, keyed by item (e.g. ``region:entities:ORG:10:20``).

    Placeholders are skipped; a filled-in entry must name a known action, who decided and
    why, and an item may be decided once (which of two would count is unknown).
    """
    path = folder / f"{article_id}.yaml"
    out: dict[str, dict[str, Any]] = {}
    for n, d in enumerate(decision_entries(path)):
        item = str(d["item"])
        if is_placeholder(d):
            continue
        allowed = ATTR_ACTIONS if item.startswith("attr:") else ITEM_ACTIONS
        if d["action"] not in allowed:
            raise ValueError(
                f"{path}: {_at(path, n, 'action')}decision on {item!r}: action "
                f"{d['action']!r} is not one of {', '.join(allowed)}"
            )
        if not d.get("decided_by") or not d.get("why"):
            raise ValueError(
                f"{path}: {_at(path, n)}decision on {item!r} must say decided_by and why"
            )
        if not is_email(d["decided_by"]):
            # Reviewers are named as annotators are (labelstudio.identity): by e-mail, which
            # is what `review --pull` writes and the card counts as one reviewer.
            raise ValueError(
                f"{path}: {_at(path, n, 'decided_by')}decision on {item!r}: decided_by "
                f"{d['decided_by']!r} is not an e-mail; decided_by is the reviewer's e-mail "
                "address"
            )
        if not isinstance(d["why"], str) or not d["why"].strip():
            raise ValueError(
                f"{path}: {_at(path, n, 'why')}decision on {item!r}: why {d['why']!r} is not "
                "a reason; why is the reviewer's reason, in words"
            )
        if item in out:
            raise ValueError(f"{path}: {_at(path, n)}two decisions on {item!r}; keep one")
        out[item] = d
    return out


DECISIONS_NO_EXPORT_RULE = "a decisions file's article has an export"
DECISIONS_UNKNOWN_RULE = "decisions files are named <article_id>.yaml of a manifest article"


def decision_file_problems(paths: ProjectPaths, manifest_ids: Collection[str]) -> list[Problem]:
    """Every entry of annotations/decisions/ that adjudication would never read: not a
    regular file named ``<article_id>.yaml`` (``X.yml``, ``X copy.yaml``, a symlink, a
    folder: the rules and words of annotations/exports/, :func:`tables.named_files`), an id
    no manifest row has, or an article with no export (its export deleted or never
    pulled). Each was skipped without a word: its decisions silently lost, or its article's
    conflicts reported unsettled with no word of the file meant to settle them."""
    from sahelwire.annotations.tables import DECISIONS, named_files

    files, problems = named_files(paths, paths.decisions_dir, DECISIONS)
    exports = paths.exports_dir
    try:
        exported = set(os.listdir(exports)) if exports.is_dir() else set()
    except OSError:
        exported = set()  # the export listing's own Problem names it
    rel = str(paths.decisions_dir.relative_to(paths.root))
    for path in files:
        article = path.name.removesuffix(".yaml")
        source = f"{rel}/{path.name}"
        if article not in manifest_ids:
            # The story clusters' "did you mean" (one helper): a mistyped file name was
            # refused with no word of the article meant.
            near = closest_id(article, manifest_ids)
            hint = f"; did you mean {near}.yaml?" if near is not None else ""
            problems.append(
                Problem(
                    source,
                    article,
                    None,
                    DECISIONS_UNKNOWN_RULE,
                    article,
                    f"no row of dataset/raw/manifest.jsonl has the id {article}: a copied or "
                    "misnamed file? (adjudication reads annotations/decisions/<article_id>.yaml "
                    f"of the manifest's articles only){hint}",
                )
            )
        elif f"{article}.json" not in exported:
            problems.append(
                Problem(
                    source,
                    article,
                    None,
                    DECISIONS_NO_EXPORT_RULE,
                    f"annotations/exports/{article}.json",
                    f"article {article} has no export, so these decisions settle nothing and "
                    f"would be silently ignored: was annotations/exports/{article}.json "
                    "deleted? Restore it (`git checkout -- annotations/exports/"
                    f"{article}.json`), or delete the decisions file",
                )
            )
    return problems


SKELETON_HEADER = """\
# Decisions to settle the conflicts of article {article} (from `sahelwire adjudicate --skeleton`;
# rules: src/sahelwire/annotations/adjudication.py, loop: docs/review.md).
# Fill in each entry: action accept or reject (an attr: item takes set, with value), decided_by
# (your e-mail) and why. An entry without an action is a placeholder: it settles nothing.
"""


def _placeholders(conflicts: list[dict[str, Any]]) -> list[dict[str, Any]]:
    entries = []
    for c in conflicts:
        entry: dict[str, Any] = {"item": c["item"], "conflict": c["detail"], "action": None}
        if c["item"].startswith("attr:"):
            entry["value"] = None
        entries.append({**entry, "decided_by": None, "why": None})
    return entries


def skeleton_text(article_id: str, conflicts: list[dict[str, Any]]) -> str:
    """A decisions file with one placeholder per conflict, each saying who made what."""
    body = yaml.safe_dump(
        {"decisions": _placeholders(conflicts)}, sort_keys=False, allow_unicode=True, width=100
    )
    return SKELETON_HEADER.format(article=article_id) + body


APPENDED_NOTE = (
    "# Placeholders added by `sahelwire adjudicate --skeleton` for conflicts this file did not\n"
    "# list yet (e.g. with a new annotator); the entries above are as they were.\n"
)


def _with_placeholders(path: Path, conflicts: list[dict[str, Any]]) -> str | None:
    """``path``'s text with a placeholder appended for each of ``conflicts`` it does not
    list, its own bytes first and unchanged; None when it lists them all or when appending
    would not give exactly its entries plus the placeholders (a layout of someone's own)."""
    try:
        old = decision_entries(path)
        text = path.read_text(encoding="utf-8")
    except (OSError, ValueError):
        return None  # validate and adjudicate name what is wrong with it
    listed = {str(e["item"]) for e in old}
    added = _placeholders([c for c in conflicts if c["item"] not in listed])
    if not added:
        return None
    block = yaml.safe_dump(added, sort_keys=False, allow_unicode=True, width=100)
    combined = text + ("" if text.endswith("\n") else "\n") + APPENDED_NOTE + block
    try:
        entries = (loads_yaml(combined) or {}).get("decisions")
    except (yaml.YAMLError, AttributeError):
        return None
    return combined if entries == [*old, *added] else None


def write_skeletons(
    decisions_dir: Path, unsettled: list[dict[str, Any]]
) -> tuple[list[Path], list[Path], list[Path]]:
    """Skeleton files for the articles of ``unsettled`` conflicts: (written, extended, left
    alone).

    A file that exists keeps every byte it has: placeholders for the conflicts it does not
    list are appended after them (a third annotator's conflicts came with no skeleton, and
    their items had to be typed by hand: a walkthrough), unless appending would not read
    back as its entries plus the placeholders; then it is left alone.
    """
    by_article: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for c in unsettled:
        by_article[c["article_id"]].append(c)
    written, extended, kept = [], [], []
    for article, conflicts in sorted(by_article.items()):
        path = decisions_dir / f"{article}.yaml"
        if path.exists():
            text = _with_placeholders(path, conflicts)
            if text is None:
                kept.append(path)
            else:
                write_text_atomic(path, text)
                extended.append(path)
            continue
        write_text_atomic(path, skeleton_text(article, conflicts))
        written.append(path)
    return written, extended, kept


def who(by: list[str], everyone: list[str]) -> str:
    """'marked by a@x, not by b@y': the annotators who made an item and those who did not."""
    missing = [a for a in everyone if a not in by]
    text = f"by {', '.join(by) if by else 'nobody'}"
    return text + (f", not by {', '.join(missing)}" if missing else "")


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
    annotators: list[str]  # of the counted annotations, in a fixed order
    decisions: dict[str, dict[str, Any]]
    used: set[str]
    result: Adjudication

    @property
    def n(self) -> int:
        return len(self.annotators)

    def settle(self, item: str, by: list[str], default: bool, what: str) -> bool:
        """Whether ``item``, made by the annotators ``by``, is gold (``what`` describes it)."""
        votes = len(by)
        d = self.decisions.get(item)
        if self.n == 1 or (2 * votes > self.n and (d is None or votes == self.n)):
            return default
        # A strict majority with a decision: the decision was made while the item was
        # disputed, and an annotator who came later tipped the vote. It stands while anyone
        # still disagrees, so a later annotator never overturns a reviewer silently (an
        # unused decision was an error that blocked adjudicate, review and build).
        self.used.add(item)
        detail = f"{what}marked {who(by, self.annotators)}"
        self._conflict(item, detail, by, d)
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

    def _conflict(
        self, item: str, detail: str, by: list[str], d: Mapping[str, Any] | None, **extra: Any
    ) -> None:
        self.result.conflicts.append(
            {
                "article_id": self.article,
                "kind": "conflict",
                "item": item,
                "detail": detail,
                "by": sorted(by),
                "not_by": [a for a in self.annotators if a not in by],
                "decision": None if d is None else d["action"],
                **extra,
            }
        )

    def drop(self, item: str, by: list[str], ends: list[str]) -> None:
        """A relation a strict majority made whose end ``ends`` a decision rejects: it cannot
        be gold, and it leaves the gold only by a decision that rejects it too. Before, it
        went without a word: a reviewer who kept another annotator's overlapping DURATION
        and so rejected the majority's TIME_OFFSET also dropped the majority's TIME argument
        of 'deposed', and nothing (review, decisions file, adjudicate) said so (a
        walkthrough). Such a relation is listed as a conflict (``ends_rejected``) whose one
        allowed action is reject."""
        d = self.decisions.get(item)
        self.used.add(item)
        detail = (
            f"marked {who(by, self.annotators)}; a decision rejects its end "
            f"{' and '.join(ends)}, so it leaves the gold: reject it explicitly"
        )
        self._conflict(item, detail, by, d, ends_rejected=ends)
        where = f"annotations/decisions/{self.article}.yaml"
        votes = f"{len(by)}/{self.n} annotators"
        if d is None:
            self.result.problems.append(
                Problem(where, self.article, item, UNSETTLED_RULE, votes, detail)
            )
        elif d["action"] != "reject":
            self.result.problems.append(
                Problem(where, self.article, item, DROPPED_RELATION_RULE, str(d["action"]),
                        f"{detail}; it cannot be accepted while its end is rejected")
            )  # fmt: skip


def adjudicate(
    annotations: pl.DataFrame,
    regions: pl.DataFrame,
    relations: pl.DataFrame,
    choices: pl.DataFrame,
    decisions_dir: Path,
    taxonomy: Taxonomy,
    *,
    decided: Mapping[str, dict[str, dict[str, Any]]] | None = None,
) -> Adjudication:
    """Apply the module's rules; see its docstring.

    ``decided`` (article -> item -> decision) stands in for the decisions files of those
    articles: the review loop tries the decisions a review implies before writing them.
    """
    counted, superseded = _latest(annotations)
    result = Adjudication(GoldLayer.empty(), conflicts=list(superseded))
    region_rows: list[dict[str, Any]] = []
    relation_rows: list[dict[str, Any]] = []
    choice_rows: list[dict[str, Any]] = []
    status_rows: list[dict[str, Any]] = []
    decided = decided or {}

    def decisions_of(article: str) -> dict[str, dict[str, Any]]:
        if article in decided:
            return dict(decided[article])
        try:
            return read_decisions(decisions_dir, article)
        except NotAFile:
            # Named once, by decision_file_problems (validate_inputs runs it beside this),
            # and never opened: the article is adjudicated as if it had no decisions.
            return {}
        except ValueError as exc:
            # A Problem, not an exception: validate and build both report it (exit 1, no
            # traceback) beside the rest; the article is adjudicated as if it had none.
            path = decisions_dir / f"{article}.yaml"
            result.problems.append(
                Problem(
                    f"annotations/decisions/{path.name}",
                    article,
                    None,
                    DECISIONS_FILE_RULE,
                    None,
                    str(exc).removeprefix(f"{path}: "),
                )
            )
            return {}

    annotator_of: dict[int, str] = (
        dict(annotations.select("annotation_id", "annotator").iter_rows())
        if annotations.height
        else {}
    )
    with_decisions = _with_decisions(decisions_dir, decided)
    single = _single_annotations(counted, regions, with_decisions)
    fast = [_single_gold(single, regions, relations, choices)]
    bulk: set[str] = set(single)
    if BULK_MAJORITY:
        clean, gold = _majority_gold(counted, bulk | with_decisions, regions, relations, choices)
        fast.append(gold)
        bulk |= clean
    slow_ids = [i for article, ids in counted.items() if article not in bulk for i in ids]

    def by_ann(df: pl.DataFrame) -> dict[int, pl.DataFrame]:
        if not df.height:
            return {}
        mine = df.filter(pl.col("annotation_id").is_in(slow_ids))
        return {k[0]: g for k, g in mine.group_by("annotation_id")}

    reg_by, rel_by, cho_by = by_ann(regions), by_ann(relations), by_ann(choices)
    # A decision may set a tied attribute to any value: one with a closed value set (realis,
    # bound) must get one of its values, or the published ClassLabel would have none.
    closed = {
        a.name: a.values
        for layer in taxonomy.span_layers
        for a in layer.attributes
        if a.values is not None
    }
    with paused_gc():
        _adjudicate_articles(
            counted, bulk, reg_by, rel_by, cho_by, decisions_of, annotator_of, result,
            (region_rows, relation_rows, choice_rows, status_rows), closed,
        )  # fmt: skip
    # Every path gives rows sorted by article and, within it, by item (unique within an
    # article, and the paths share no article); merging them back in that order gives exactly
    # the rows of adjudicating every article one by one.
    result.gold = GoldLayer(
        regions=_merge(
            [f.regions for f in fast], region_rows, REGION_SCHEMA, GOLD_ORDER["regions"]
        ),
        relations=_merge(
            [f.relations for f in fast], relation_rows, RELATION_SCHEMA, GOLD_ORDER["relations"]
        ),
        choices=_merge(
            [f.choices for f in fast], choice_rows, CHOICE_SCHEMA, GOLD_ORDER["choices"]
        ),
        status=_merge([f.status for f in fast], status_rows, STATUS_SCHEMA, GOLD_ORDER["status"]),
    )
    _check_single_choices(result, taxonomy)
    return result


def _adjudicate_articles(
    counted: dict[str, list[int]],
    bulk: Collection[str],
    reg_by: dict[int, pl.DataFrame],
    rel_by: dict[int, pl.DataFrame],
    cho_by: dict[int, pl.DataFrame],
    decisions_of: Callable[[str], dict[str, dict[str, Any]]],
    annotator_of: Mapping[int, str],
    result: Adjudication,
    out: tuple[list[dict[str, Any]], ...],
    closed: Mapping[str, tuple[str, ...]],
) -> None:
    """Rules 1-4 article by article, for articles the bulk path does not cover."""
    region_rows, relation_rows, choice_rows, status_rows = out
    for article in sorted(counted):
        if article in bulk:
            continue
        ids = counted[article]
        n = len(ids)
        decisions = decisions_of(article)
        used: set[str] = set()
        status_rows.append({"article_id": article, "n_annotators": n})
        everyone = sorted(annotator_of.get(i, f"annotation {i}") for i in ids)

        settler = _Settler(article, everyone, decisions, used, result)
        settle = settler.settle

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
                f"region:{key}", [r["annotator"] for r in rows], True, f"{rows[0]['text']!r} "
            ):
                continue
            gold_keys.add(key)
            row = {k: rows[0][k] for k in ("layer", "label", "start", "end", "text")}
            for attr in ATTRS:
                values = Counter(r.get(attr) for r in rows).most_common()
                row[attr] = values[0][0]
                tied = len(values) > 1 and values[0][1] == values[1][1]
                # A decision on a disputed value stands when a later annotator made a
                # majority (see _Settler.settle).
                if tied or (len(values) > 1 and f"attr:{key}:{attr}" in decisions):
                    d = decisions.get(f"attr:{key}:{attr}")
                    used.add(f"attr:{key}:{attr}")
                    by_value = {
                        v: sorted(r["annotator"] for r in rows if r.get(attr) == v)
                        for v, _ in values
                    }
                    result.conflicts.append(
                        {
                            "article_id": article,
                            "kind": "conflict",
                            "item": f"attr:{key}:{attr}",
                            "detail": f"{rows[0]['text']!r} {attr} {'tied' if tied else 'disputed'}: "
                            + "; ".join(f"{v!r} by {', '.join(b)}" for v, b in by_value.items()),
                            "values": [{"value": v, "by": b} for v, b in by_value.items()],
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
                    elif attr in closed and d.get("value") not in closed[attr]:
                        result.problems.append(
                            Problem(
                                f"annotations/decisions/{article}.yaml",
                                article,
                                f"attr:{key}:{attr}",
                                f"a decision sets {attr} to one of the taxonomy's values",
                                str(d.get("value")),
                                f"one of {', '.join(closed[attr])}",
                            )
                        )
                    else:
                        row[attr] = d.get("value")
            region_rows.append({"article_id": article, "region_key": key, **row})
        rel_votes: dict[tuple[str, str, str], list[str]] = defaultdict(list)
        for aid in ids:
            for r in rel_by[aid].iter_rows(named=True) if aid in rel_by else []:
                src, dst = (
                    keys_of.get((aid, r["from_region_id"])),
                    keys_of.get((aid, r["to_region_id"])),
                )
                if src and dst:
                    rel_votes[(src, dst, r["label"])].append(annotator_of.get(aid, str(aid)))
        for (src, dst, label), makers in sorted(rel_votes.items()):
            item = f"relation:{src}->{dst}:{label}"
            if src in gold_keys and dst in gold_keys:
                if settle(item, makers, True, ""):
                    relation_rows.append(
                        {"article_id": article, "from_key": src, "to_key": dst, "label": label}
                    )
            elif n > 1 and 2 * len(makers) > n:
                # Whoever made a relation made both its ends, so the ends of a majority's
                # relation are majority regions: one is missing only because a decision
                # rejected it (_Settler.drop).
                ends = [f"region:{k}" for k in (src, dst) if k not in gold_keys]
                settler.drop(item, makers, ends)
        choice_votes: dict[tuple[str, str], list[str]] = defaultdict(list)
        for aid in ids:
            for r in cho_by[aid].iter_rows(named=True) if aid in cho_by else []:
                choice_votes[(r["field"], r["value"])].append(annotator_of.get(aid, str(aid)))
        for (fname, value), makers in sorted(choice_votes.items()):
            if fname == "notes" or settle(f"choice:{fname}:{value}", makers, True, ""):
                choice_rows.append({"article_id": article, "field": fname, "value": value})
        for item in sorted(set(decisions) - used):
            result.problems.append(
                Problem(
                    f"annotations/decisions/{article}.yaml",
                    article,
                    item,
                    "a decision settles an existing conflict",
                    message="no such conflict any more (a stale decision: the item is gone, or every "
                    "annotator now agrees on it): remove this entry from the file",
                )
            )


def against_majority(conflict: Mapping[str, Any], decision: Mapping[str, Any]) -> bool:
    """Whether a decision goes against a strict majority of the article's annotators now
    (later annotators can make it so; it stands, rule 4, but a reader should see it).

    An item: rejected while most made it, or accepted while most did not. A tied or
    disputed attribute: ``set`` to another value than one most annotators gave (a unit set
    to 'people' while 2 of 3 gave 'soldiers' was not flagged before, a walkthrough)."""
    action = decision.get("action")
    if "values" in conflict:
        values = conflict["values"]
        voters = sum(len(v["by"]) for v in values)
        top = [v["value"] for v in values if 2 * len(v["by"]) > voters]
        return action == "set" and bool(top) and decision.get("value") != top[0]
    by = len(conflict.get("by", []))
    voters = by + len(conflict.get("not_by", []))
    return bool(voters) and (
        (action == "reject" and 2 * by > voters) or (action == "accept" and 2 * by < voters)
    )


def decided_conflicts(
    conflicts: list[dict[str, Any]], decisions_dir: Path
) -> Iterator[tuple[dict[str, Any], dict[str, Any] | None]]:
    """Each decided conflict with its decision's entry as the file holds it (None when the
    file has none: a decision passed in, not read), each decisions file read once."""
    read: dict[str, dict[str, dict[str, Any]]] = {}
    for c in conflicts:
        if c.get("kind") != "conflict" or c.get("decision") is None:
            continue
        article = str(c["article_id"])
        if article not in read:
            read[article] = read_decisions(decisions_dir, article)
        yield c, read[article].get(str(c["item"]))


def decisions_against_majority(
    conflicts: list[dict[str, Any]], decisions_dir: Path
) -> list[dict[str, Any]]:
    """The decided conflicts whose decision goes against the majority now
    (:func:`against_majority`), each with the decision's action and value."""
    out = []
    for c, entry in decided_conflicts(conflicts, decisions_dir):
        article = str(c["article_id"])
        d = entry or {"action": c["decision"]}
        if against_majority(c, d):
            out.append(
                {
                    "article_id": article,
                    "item": c["item"],
                    "detail": c["detail"],
                    "decision": d.get("action"),
                    **({"value": d.get("value")} if d.get("action") == "set" else {}),
                    "decided_by": d.get("decided_by"),
                }
            )
    return out


def merged_gold(parts: list[GoldLayer]) -> GoldLayer:
    """The gold of several adjudications of disjoint articles (chunks of the inputs), in the
    order one adjudication of all of them gives: each part is sorted by article and item,
    so merging by those keys is exact."""
    if len(parts) == 1:
        return parts[0]
    return GoldLayer(
        regions=_merge([g.regions for g in parts], [], REGION_SCHEMA, GOLD_ORDER["regions"]),
        relations=_merge(
            [g.relations for g in parts], [], RELATION_SCHEMA, GOLD_ORDER["relations"]
        ),
        choices=_merge([g.choices for g in parts], [], CHOICE_SCHEMA, GOLD_ORDER["choices"]),
        status=_merge([g.status for g in parts], [], STATUS_SCHEMA, GOLD_ORDER["status"]),
    )


# Each gold table's order: by article, then by its item (unique within an article).
GOLD_ORDER = {
    "regions": ["article_id", "region_key"],
    "relations": ["article_id", "from_key", "to_key", "label"],
    "choices": ["article_id", "field", "value"],
    "status": ["article_id"],
}


def _merge(
    fast: list[pl.DataFrame], rows: list[dict[str, Any]], schema: dict[str, Any], order: list[str]
) -> pl.DataFrame:
    slow = pl.DataFrame(rows, schema=schema)
    typed = [
        f.select([pl.col(name).cast(dtype) for name, dtype in schema.items()])
        for f in fast
        if f.height
    ]
    if not typed:
        return slow
    return pl.concat([*typed, slow]).sort(order, maintain_order=True)


def _with_decisions(decisions_dir: Path, decided: Collection[str]) -> set[str]:
    """Articles with decisions (a file, or ``decided``): neither bulk path takes them, since
    stale decisions must be reported and only the article-by-article path reads them."""
    files = {p.stem for p in decisions_dir.glob("*.yaml")} if decisions_dir.is_dir() else set()
    return set(decided) | files


def _single_annotations(
    counted: dict[str, list[int]], regions: pl.DataFrame, with_decisions: Collection[str]
) -> dict[str, int]:
    """Articles whose gold is one annotation taken as is (rule 2), for the bulk path.

    Left to the article-by-article path: articles with decisions (stale decisions must be
    reported) and annotations holding two regions with one key or one id (their attribute
    votes or relation ends need the per-item rules).
    """
    single = {a: ids[0] for a, ids in counted.items() if len(ids) == 1 and a not in with_decisions}
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


SPAN_KEY = ("layer", "label", "start", "end")


def _python_key() -> pl.Expr:
    """region_key as the f-string of ``gold_layer.region_key`` writes it (a null is 'None')."""
    return pl.concat_str(
        [pl.col(c).cast(pl.Utf8).fill_null("None") for c in SPAN_KEY], separator=":"
    )


def _majority_gold(
    counted: dict[str, list[int]],
    skip: Collection[str],
    regions: pl.DataFrame,
    relations: pl.DataFrame,
    choices: pl.DataFrame,
) -> tuple[set[str], GoldLayer]:
    """Gold in bulk of the articles rule 3 settles alone: (those articles, their gold).

    ``skip``: articles taken elsewhere or with decisions. An article is taken here only when
    the article-by-article path would find no conflict and no problem in it: no annotation with two regions of
    one key or one id, every region, relation between regions and value (but ``notes``) made
    by a strict majority, and no attribute tied among the rows of a region. Its gold is then
    what that path gives: each region's span and text from its first row (annotations in
    counted order, rows in table order), each attribute the one value most rows give (null a
    value like any other), each relation and value once. Votes are rows, as there. Anything
    whose Python comparison polars would not reproduce (NaN, -0.0, nulls in keys) is left to
    that path too.
    """
    articles = [a for a in counted if a not in skip]
    if not articles:
        return set(), GoldLayer.empty()
    # One row per counted annotation of each article, repeated as `counted` repeats it: the
    # rows of a table belong to an article through the annotation, as in _adjudicate_articles.
    votes_of = pl.DataFrame(
        {
            "article_id": [a for a in articles for _ in counted[a]],
            "annotation_id": [i for a in articles for i in counted[a]],
            "_pos": [p for a in articles for p in range(len(counted[a]))],
            "_n": [len(counted[a]) for a in articles for _ in counted[a]],
        },
        schema={"article_id": pl.Utf8, "annotation_id": pl.Int64, "_pos": pl.Int64, "_n": pl.Int64},
    )
    art = ["article_id"]
    dirty: list[pl.Series] = []

    def mine(df: pl.DataFrame, columns: list[str]) -> pl.DataFrame:
        if not df.height:
            # _adjudicate_articles reads no column of an empty table: it may have none.
            want = {"annotation_id": pl.Int64, "article_id": pl.Utf8} | dict.fromkeys(
                columns, pl.Utf8
            )
            df = pl.DataFrame(schema={c: df.schema.get(c, t) for c, t in want.items()})
        return (
            df.with_row_index("_row")
            .drop("article_id")
            .with_columns(pl.col("annotation_id").cast(pl.Int64))
            .join(votes_of, on="annotation_id", how="inner")
            .sort(["article_id", "_pos", "_row"])
        )

    def minority(votes: pl.DataFrame) -> pl.Series:
        return votes.filter(2 * pl.col("_votes") <= pl.col("_n"))["article_id"]

    # Regions: the rows of each article, in the order _adjudicate_articles reads them.
    regs = mine(regions, ["region_id", *SPAN_KEY, "text"])
    regs = regs.with_columns(
        _python_key().alias("region_key"),
        # r.get(attr) there: an attribute the table lacks is None on every row.
        *(pl.lit(None, dtype=REGION_SCHEMA[a]).alias(a) for a in ATTRS if a not in regs.columns),
    )
    dirty.append(regs.filter(pl.col("region_id").is_null())["article_id"])
    for by in ("region_key", "region_id"):
        dirty.append(
            regs.filter(pl.struct("article_id", "annotation_id", by).is_duplicated())["article_id"]
        )
    for attr in ATTRS:
        if regs.schema[attr].is_float():
            # NaN never equals itself in Python (each row its own Counter key), polars groups
            # NaNs, and -0.0 with 0.0 under one representative: 1 / -0.0 is the negative one.
            odd = pl.col(attr).is_nan() | ((pl.col(attr) == 0) & (1 / pl.col(attr) < 0))
            dirty.append(regs.filter(odd)["article_id"])
    # One row per region key, from its first row: span, text, votes and, where every row
    # agrees, each attribute's gold value.
    keyed = regs.group_by([*art, "region_key"], maintain_order=True).agg(
        pl.len().alias("_votes"),
        pl.col("_n").first(),
        *(pl.col(c).first() for c in (*SPAN_KEY, "text", *ATTRS)),
        *(pl.col(a).n_unique().alias(f"_values_{a}") for a in ATTRS),  # null is a value
    )
    dirty.append(minority(keyed))
    # Where rows disagree, the value most rows give, unless two values tie for most.
    top: dict[str, pl.DataFrame] = {}
    for attr in ATTRS:
        mixed = keyed.filter(pl.col(f"_values_{attr}") > 1).select(*art, "region_key")
        counts = (
            regs.join(mixed, on=[*art, "region_key"], how="semi")
            .group_by([*art, "region_key", attr])
            .agg(pl.len().alias("_c"))
        )
        best = counts.filter(pl.col("_c") == pl.col("_c").max().over([*art, "region_key"]))
        dirty.append(best.filter(pl.len().over([*art, "region_key"]) > 1)["article_id"])
        top[attr] = best.select(*art, "region_key", pl.col(attr).alias(f"_top_{attr}"))

    # Relations: both ends looked up among the regions of the relation's own annotation.
    ends = regs.select(*art, "annotation_id", "region_id", "region_key")
    rels = mine(relations, ["from_region_id", "to_region_id", "label"])
    dirty.append(rels.filter(pl.col("label").is_null())["article_id"])
    for end in ("from", "to"):
        rels = rels.join(
            ends.rename({"region_id": f"{end}_region_id", "region_key": f"{end}_key"}),
            on=[*art, "annotation_id", f"{end}_region_id"],
            how="inner",
        )
    rel_votes = rels.group_by([*art, "from_key", "to_key", "label"]).agg(
        pl.len().alias("_votes"), pl.col("_n").first()
    )
    dirty.append(minority(rel_votes))

    # Values: notes are kept whoever wrote them; any other value needs a majority.
    chos = mine(choices, ["field", "value"])
    dirty.append(chos.filter(pl.col("field").is_null() | pl.col("value").is_null())["article_id"])
    cho_votes = chos.group_by([*art, "field", "value"]).agg(
        pl.len().alias("_votes"), pl.col("_n").first()
    )
    dirty.append(minority(cho_votes.filter(pl.col("field") != "notes")))

    unclean = set(pl.concat(dirty).to_list()) if dirty else set()
    clean = {a for a in articles if a not in unclean}
    keep = pl.col("article_id").is_in(list(clean))
    gold_regions = keyed.filter(keep)
    for attr in ATTRS:
        gold_regions = gold_regions.join(
            top[attr], on=[*art, "region_key"], how="left", maintain_order="left"
        ).with_columns(
            pl.when(pl.col(f"_values_{attr}") > 1)
            .then(pl.col(f"_top_{attr}"))
            .otherwise(pl.col(attr))
            .alias(attr)
        )
    status = pl.DataFrame(
        {"article_id": sorted(clean), "n_annotators": [len(counted[a]) for a in sorted(clean)]},
        schema=STATUS_SCHEMA,
    )
    gold = GoldLayer(
        regions=gold_regions.select(list(REGION_SCHEMA)),
        relations=rel_votes.filter(keep).select(list(RELATION_SCHEMA)),
        choices=cho_votes.filter(keep).select(list(CHOICE_SCHEMA)),
        status=status,
    )
    return clean, gold


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
