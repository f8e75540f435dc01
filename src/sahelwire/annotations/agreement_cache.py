"""Memoised span error classes per article: nervaluate runs only for articles that changed.

:func:`sahelwire.annotations.agreement.span_error_classes` hands nervaluate one document per
annotator pair, and sums nervaluate's integer counts over any split of the pairs
(:func:`~sahelwire.annotations.agreement.article_contribution` says why that is exact). So an
article's contribution is the counts of its pairs alone; this module keeps it.

Contributions are kept in ``.sahelwire/cache/agreement/`` (:mod:`sahelwire.io.article_packs`)
under a key per article: the fingerprint of this code (with agreement and nervaluate's
version), the taxonomy and schemas, and exactly what nervaluate is given for the article (its
pairs' spans, per layer, in order). Never a source of truth: a missing or damaged pack is
computed again; ``SAHELWIRE_ARTICLE_CACHE=off`` turns it off.

The whole report is kept too (:class:`AgreementReportCache`, in ``report/`` there), under a
digest of exactly the frames it reads (``agreement.agreement_inputs``): a rebuild whose
changes no measure reads (lead times; single-annotated articles) does not compute it again.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from importlib.metadata import version
from pathlib import Path
from typing import Any

import polars as pl

from sahelwire.annotations.agreement import (
    AGREEMENT_CHUNK_ARTICLES,
    Docs,
    agreement_inputs,
    agreement_report,
    article_contribution,
    span_error_classes,
)
from sahelwire.annotations.memo_keys import frame_digest, memo_fingerprint
from sahelwire.io.article_packs import ArticlePacks
from sahelwire.io.paths import ProjectPaths
from sahelwire.schema.taxonomy import Taxonomy

# The one entry of the report's pack.
REPORT = "report"


def cache_folder(paths: ProjectPaths) -> Path:
    return paths.state_dir / "cache" / "agreement"


def report_folder(paths: ProjectPaths) -> Path:
    return cache_folder(paths) / REPORT


class ErrorClassCache:
    """The per-article nervaluate counts of one project."""

    def __init__(self, folder: Path, fingerprint: str) -> None:
        self.packs = ArticlePacks(folder, fingerprint, {})

    @classmethod
    def for_project(cls, paths: ProjectPaths, taxonomy: Taxonomy) -> ErrorClassCache | None:
        fingerprint = memo_fingerprint(
            paths, __name__, taxonomy, f"nervaluate {version('nervaluate')}"
        )
        return None if fingerprint is None else cls(cache_folder(paths), fingerprint)

    @property
    def stats(self) -> Any:
        return self.packs.stats

    def span_error_classes(
        self, annotations: pl.DataFrame, regions: pl.DataFrame, taxonomy: Taxonomy
    ) -> dict[str, Any]:
        """What :func:`~sahelwire.annotations.agreement.span_error_classes` returns."""
        return span_error_classes(annotations, regions, taxonomy, memo=self)

    # ErrorClassMemo: the report asks for each doubly annotated article's contribution
    # between start() and finish(); the pack is read once and written once.
    def start(self) -> None:
        pack = self.packs.load()
        self._had_pack = pack is not None
        self._entries: Mapping[str, Any] = pack.entries if pack is not None else {}
        if pack is not None:
            pack.close()  # its entries are all it holds: no tables to read from the file
        self._new: dict[str, dict[str, Any]] = {}

    def contribution(self, article: str, docs: Docs, taxonomy: Taxonomy) -> dict[str, Any]:
        key = self.packs.key(article, json.dumps(docs, sort_keys=True))
        entry = self._entries.get(article)
        if entry is not None and entry.get("key") == key and "value" in entry:
            value: dict[str, Any] = entry["value"]
            self.packs.stats.hits += 1
        else:
            value = article_contribution(docs, taxonomy)
            self.packs.stats.misses += 1
        self._new[article] = {"key": key, "rows": {}, "value": value}
        return value

    def finish(self) -> None:
        if self.packs.stats.misses or (not self._had_pack and self._new):
            self.packs.write({}, self._new)
        self._entries, self._new = {}, {}


class AgreementReportCache:
    """The agreement report of one project's last build, kept under a key of what it read."""

    def __init__(
        self, folder: Path, fingerprint: str, error_classes: ErrorClassCache | None
    ) -> None:
        self.packs = ArticlePacks(folder, fingerprint, {})
        self.error_classes = error_classes

    @classmethod
    def for_project(cls, paths: ProjectPaths, taxonomy: Taxonomy) -> AgreementReportCache | None:
        """None when the memos are off or the code cannot be fingerprinted."""
        fingerprint = memo_fingerprint(
            paths, __name__, taxonomy, f"nervaluate {version('nervaluate')}", REPORT
        )
        if fingerprint is None:
            return None
        return cls(report_folder(paths), fingerprint, ErrorClassCache.for_project(paths, taxonomy))

    @property
    def stats(self) -> Any:
        return self.packs.stats

    def report(
        self,
        annotations: pl.DataFrame,
        regions: pl.DataFrame,
        choices: pl.DataFrame,
        taxonomy: Taxonomy,
        *,
        relations: pl.DataFrame | None,
        min_articles: int,
    ) -> dict[str, Any]:
        """What :func:`~sahelwire.annotations.agreement.agreement_report` returns for these
        arguments (and the per-article error classes memoised)."""
        frames = agreement_inputs(annotations, regions, choices, relations)
        key = self.packs.key(
            f"{min_articles}\0{AGREEMENT_CHUNK_ARTICLES}",
            *(b"none" if frame is None else frame_digest(frame) for frame in frames),
        )
        pack = self.packs.load()
        entry = None
        if pack is not None:
            entry = pack.entries.get(REPORT)
            pack.close()  # one entry and no tables: nothing more is read from the file
        if (
            isinstance(entry, dict)
            and entry.get("key") == key
            and isinstance(entry.get("value"), dict)
        ):
            self.packs.stats.hits += 1
            kept: dict[str, Any] = entry["value"]
            return kept
        self.packs.stats.misses += 1
        report = agreement_report(
            *frames[:3],
            taxonomy,
            relations=frames[3],
            min_articles=min_articles,
            error_classes=self.error_classes,
        )
        # Kept only when the pack gives it back as it is (JSON: no tuples, no keys that are
        # not strings, no NaN): a report that would come back otherwise is computed each time.
        if json.loads(json.dumps(report)) == report:
            self.packs.write({}, {REPORT: {"key": key, "rows": {}, "value": report}})
        return report
