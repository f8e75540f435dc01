"""Adjudication memoised per article: the per-item rules run only for articles that changed.

:func:`sahelwire.annotations.adjudication.adjudicate` settles articles with two or more
counted annotations (or a decisions file) one by one (``_adjudicate_articles``): what one
article gives (its gold rows, conflicts and Problems) depends only on its counted
annotations' regions, relations and choices, their annotators, its decisions and the
taxonomy. Those results are kept in ``.sahelwire/cache/adjudication/``
(:mod:`sahelwire.io.article_packs`, metadata only) under a key per article: the fingerprint
of this code and the taxonomy and schemas, the counted annotation ids in order with their
annotators, a digest of each one's rows of the three tables (every column, in order) and the
article's decisions. Stored values are exact JSON (``export_cache.encode_value``); an article
whose rows or decisions hold anything else is computed and not stored. Articles are
assembled in the same (sorted) order as without the memo, so the gold layer, conflicts and
Problems are the same. Never a source of truth; ``SAHELWIRE_ARTICLE_CACHE=off`` turns it off.
"""

from __future__ import annotations

import json
from collections import defaultdict
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import polars as pl

from sahelwire.annotations.adjudication import Adjudication, GoldLayer, _adjudicate_articles
from sahelwire.annotations.export_cache import (
    Uncacheable,
    decode_problem,
    decode_value,
    encode_problem,
    encode_value,
)
from sahelwire.annotations.memo_keys import code_fingerprint, frame_digests
from sahelwire.io.article_packs import ArticlePacks, memo_enabled
from sahelwire.io.bulk import paused_gc
from sahelwire.io.paths import ProjectPaths
from sahelwire.schema.taxonomy import Taxonomy

OUTPUTS = ("regions", "relations", "choices", "status")


def cache_folder(paths: ProjectPaths) -> Path:
    return paths.state_dir / "cache" / "adjudication"


class AdjudicationCache:
    """The per-article adjudication results of one project."""

    def __init__(self, folder: Path, fingerprint: str) -> None:
        self.packs = ArticlePacks(folder, fingerprint, {})

    @classmethod
    def for_project(cls, paths: ProjectPaths, taxonomy: Taxonomy) -> AdjudicationCache | None:
        if not memo_enabled():
            return None
        try:
            fingerprint = code_fingerprint(paths, __name__, taxonomy)
        except (Uncacheable, OSError, ValueError):
            return None
        return cls(cache_folder(paths), fingerprint)

    @property
    def stats(self) -> Any:
        return self.packs.stats

    def articles(
        self,
        counted: dict[str, list[int]],
        single: dict[str, int],
        slow_ids: list[int],
        frames: tuple[pl.DataFrame, pl.DataFrame, pl.DataFrame],
        decisions_of: Callable[[str], dict[str, dict[str, Any]]],
        annotator_of: Mapping[int, str],
        result: Adjudication,
        out: tuple[list[dict[str, Any]], ...],
        closed: Mapping[str, tuple[str, ...]],
    ) -> None:
        """What ``_adjudicate_articles`` appends to ``result`` and ``out``, the same."""
        slow = sorted(a for a in counted if a not in single)
        mine = [
            df.filter(pl.col("annotation_id").is_in(slow_ids)) if df.height else df for df in frames
        ]
        digests = [frame_digests(df, "annotation_id") for df in mine]
        pack = self.packs.load()
        entries = pack.entries if pack is not None else {}
        keys: dict[str, str | None] = {}
        decisions: dict[str, dict[str, dict[str, Any]]] = {}
        values: dict[str, Any] = {}
        for article in slow:
            decisions[article] = decisions_of(article)  # raises as the uncached loop would
            ids = counted[article]
            try:
                described = json.dumps(
                    [
                        ids,
                        [annotator_of.get(i) for i in ids],
                        [[d.get(i, b"").hex() for d in digests] for i in ids],
                        encode_value(decisions[article]),
                    ]
                )
            except (Uncacheable, TypeError, ValueError):
                keys[article] = None
                continue
            keys[article] = key = self.packs.key(article, described)
            entry = entries.get(article)
            if entry is not None and entry.get("key") == key and "value" in entry:
                values[article] = entry["value"]
        misses = [a for a in slow if a not in values]
        self.packs.stats.hits += len(values)
        self.packs.stats.misses += len(misses)
        made: dict[str, Any] = {}
        if misses:
            miss_ids = {i for a in misses for i in counted[a]}

            def by_ann(df: pl.DataFrame) -> dict[int, pl.DataFrame]:
                if not df.height:
                    return {}
                part = df.filter(pl.col("annotation_id").is_in(list(miss_ids)))
                return {k[0]: g for k, g in part.group_by("annotation_id")}

            scratch = Adjudication(GoldLayer.empty())
            rows: tuple[list[dict[str, Any]], ...] = ([], [], [], [])
            reg_by, rel_by, cho_by = (by_ann(df) for df in mine)
            with paused_gc():
                _adjudicate_articles(
                    {a: counted[a] for a in misses}, {}, reg_by, rel_by, cho_by,
                    decisions.__getitem__, annotator_of, scratch, rows, closed,
                )  # fmt: skip
            per: dict[str, dict[str, list[Any]]] = defaultdict(
                lambda: {name: [] for name in (*OUTPUTS, "conflicts", "problems")}
            )
            for name, listed in zip(OUTPUTS, rows, strict=True):
                for row in listed:
                    per[row["article_id"]][name].append(row)
            for conflict in scratch.conflicts:
                per[conflict["article_id"]]["conflicts"].append(conflict)
            for problem in scratch.problems:
                per[str(problem.record)]["problems"].append(problem)
            made = {a: per[a] for a in misses}
        new: dict[str, dict[str, Any]] = {}
        for article in slow:
            if article in values:
                value = values[article]
                got = {name: decode_value(value[name]) for name in (*OUTPUTS, "conflicts")}
                got["problems"] = [decode_problem(p) for p in value["problems"]]
            else:
                got = made[article]
                value = None
                if keys[article] is not None:
                    try:
                        value = {name: encode_value(got[name]) for name in (*OUTPUTS, "conflicts")}
                        value["problems"] = [encode_problem(p) for p in got["problems"]]
                    except Uncacheable:
                        value = None
            if value is not None:
                new[article] = {"key": keys[article], "rows": {}, "value": value}
            for name, listed in zip(OUTPUTS, out, strict=True):
                listed += got[name]
            result.conflicts += got["conflicts"]
            result.problems += got["problems"]
        if misses or (pack is None and new):
            self.packs.write({}, new)
