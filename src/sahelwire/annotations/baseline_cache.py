"""Memoised baseline predictions per article: the prelabel rules run only on changed texts.

The card scores the pre-annotation baseline on a fixed sample of the articles with gold
(:func:`sahelwire.annotations.baseline.baseline_report_for`); predicting is milliseconds of
Python per article (≈3 s of a 10k rebuild for the 250 sampled), and its result depends only
on the article's text, the registries and taxonomy, and the rules' code.

Predictions are kept in ``.sahelwire/cache/baseline/`` (:mod:`sahelwire.io.article_packs`)
under a key per article: the fingerprint of this code (and the prelabel rules it imports),
the taxonomy and schemas, the baseline's model version (which hashes the gazetteer made of
the registries and the rules), the article's id and its text's sha256. Never a source of truth: a
missing or damaged pack is computed again; ``SAHELWIRE_ARTICLE_CACHE=off`` turns it off.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from sahelwire.annotations.baseline import PredictedRows
from sahelwire.annotations.memo_keys import memo_fingerprint
from sahelwire.io.article_packs import ArticlePacks
from sahelwire.io.paths import ProjectPaths
from sahelwire.labelstudio.prelabel import model_version
from sahelwire.raw.manifest import Article
from sahelwire.schema.registries import Registries
from sahelwire.schema.taxonomy import Taxonomy


def cache_folder(paths: ProjectPaths) -> Path:
    return paths.state_dir / "cache" / "baseline"


class PredictionCache:
    """The per-article predictions of one project (a :class:`~sahelwire.annotations.
    baseline.PredictionMemo`)."""

    def __init__(self, folder: Path, fingerprint: str) -> None:
        self.packs = ArticlePacks(folder, fingerprint, {})

    @classmethod
    def for_project(
        cls, paths: ProjectPaths, registries: Registries, taxonomy: Taxonomy
    ) -> PredictionCache | None:
        fingerprint = memo_fingerprint(
            paths, __name__, taxonomy, model_version(registries, taxonomy)
        )
        return None if fingerprint is None else cls(cache_folder(paths), fingerprint)

    @property
    def stats(self) -> Any:
        return self.packs.stats

    def predicted(
        self, articles: list[Article], predict: Callable[[Article], PredictedRows]
    ) -> list[PredictedRows]:
        pack = self.packs.load()
        try:
            entries = pack.entries if pack is not None else {}
            new: dict[str, dict[str, Any]] = {}
            out: list[PredictedRows] = []
            for article in articles:
                # The text's digest (a loaded text is not read for it: a hit reads nothing).
                key = self.packs.key(article.id, article.text_digest())
                entry = entries.get(article.id)
                if entry is not None and entry.get("key") == key and "value" in entry:
                    rows: PredictedRows = entry["value"]
                    self.packs.stats.hits += 1
                else:
                    rows = predict(article)
                    self.packs.stats.misses += 1
                new[article.id] = {"key": key, "rows": {}, "value": rows}
                out.append(rows)
        finally:
            if pack is not None:
                pack.close()
        if self.packs.stats.misses or (pack is None and new) or len(new) != len(entries):
            self.packs.write({}, new)
        return out
