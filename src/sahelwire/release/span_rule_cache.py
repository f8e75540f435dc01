"""Span rules memoised per article: a rebuild checks only the regions of articles that changed.

:func:`sahelwire.schema.span_rules.check_regions` applies rules that each look at one row,
or at the rows of one group (an annotation, or a gold article) of one layer, with the
article's text and the registries. So the Problems of a set of rows are those of each
article's rows, in row order, and an article that gave no Problem gives none again while its
rows and its text are the same. Those *clean* verdicts are kept in
``.sahelwire/cache/span_rules/<kind>/`` (:mod:`sahelwire.io.article_packs`, metadata only)
under a key per article: the fingerprint of this code (with the rules' module), the taxonomy
and every file of ``schemas/`` (the registries are there), what is checked (``kind`` and the
call's options), a digest of the article's rows (every column, in order) and the sha256 of
its text. The rules then run on the rows of the other articles only, which gives the same
Problems in the same order (those of clean articles being none). Only a run with no Problem
records new verdicts. Never a source of truth; ``SAHELWIRE_ARTICLE_CACHE=off`` turns it off.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import polars as pl

from sahelwire.annotations.memo_keys import frame_digests, memo_fingerprint
from sahelwire.io.article_packs import ArticlePacks
from sahelwire.io.paths import ProjectPaths
from sahelwire.schema.problems import Problem
from sahelwire.schema.registries import Registries
from sahelwire.schema.span_rules import check_regions
from sahelwire.schema.taxonomy import Taxonomy


def cache_folder(paths: ProjectPaths) -> Path:
    return paths.state_dir / "cache" / "span_rules"


class SpanRuleMemo:
    """Clean verdicts of :func:`check_regions` per article, for one project."""

    def __init__(self, folder: Path, fingerprint: str) -> None:
        self.folder = folder
        self.fingerprint = fingerprint
        self.stats: dict[str, Any] = {}  # kind -> MemoStats of its last check
        # Deferred (a read in chunks): kind -> (its packs, the entries loaded once, the clean
        # keys of every chunk so far or None once a chunk had a Problem, whether to write).
        self.deferred = False
        self._session: dict[
            str, tuple[ArticlePacks, Mapping[str, Any], dict[str, Any] | None, bool]
        ] = {}

    def flush(self) -> None:
        """Deferred: write each kind's verdicts of every chunk as one pack (as one call would)."""
        for packs, _, clean, dirty in self._session.values():
            if clean is not None and dirty:
                packs.write({}, clean)
        self._session.clear()

    @classmethod
    def for_project(cls, paths: ProjectPaths, taxonomy: Taxonomy) -> SpanRuleMemo | None:
        fingerprint = memo_fingerprint(paths, __name__, taxonomy)
        return None if fingerprint is None else cls(cache_folder(paths), fingerprint)

    def check_regions(
        self,
        kind: str,
        regions: pl.DataFrame,
        texts: Mapping[str, str],
        taxonomy: Taxonomy,
        registries: Registries,
        **options: Any,
    ) -> list[Problem]:
        """What ``check_regions(regions, texts, taxonomy, registries, **options)`` returns."""
        before = (0, 0)
        entries: Mapping[str, Any] | None = None
        if kind in self._session:
            packs, entries, _, _ = self._session[kind]
            before = (packs.stats.hits, packs.stats.misses)
        else:
            packs = ArticlePacks(self.folder / kind, self.fingerprint, {})
        self.stats[kind] = packs.stats
        if not regions.height:
            return check_regions(regions, texts, taxonomy, registries, **options)
        call = json.dumps([kind, sorted(options.items())])
        digests = frame_digests(regions, "article_id")
        keys = {}
        for article, rows in digests.items():
            if article not in texts:
                continue  # rows without a text are never clean: always checked
            sha = _text_digest(texts, article)
            keys[article] = packs.key(call, article, rows, sha)
        missing_pack = False
        if entries is None:
            pack = packs.load()
            entries = pack.entries if pack is not None else {}
            missing_pack = pack is None
        clean = {a for a, k in keys.items() if entries.get(a, {}).get("key") == k}
        # Deferred: counted over every chunk so far.
        hits, misses = len(clean) + before[0], len(digests) - len(clean) + before[1]
        packs.stats.hits, packs.stats.misses = hits, misses
        rest = regions.filter(~pl.col("article_id").is_in(list(clean))) if clean else regions
        problems = check_regions(rest, texts, taxonomy, registries, **options)
        verdicts = {a: {"key": k, "rows": {}} for a, k in keys.items()}
        if self.deferred:
            old = self._session.get(kind)
            so_far = old[2] if old is not None else {}
            dirty = (old[3] if old is not None else missing_pack) or bool(misses)
            kept = None if problems or so_far is None else {**so_far, **verdicts}
            self._session[kind] = (packs, entries, kept, dirty)
        elif not problems and (misses or missing_pack):
            # Every article with a text is clean now (none gave a Problem).
            packs.write({}, verdicts)
        return problems


def _text_digest(texts: Mapping[str, str], article: str) -> bytes:
    """sha256 of the article's text; unread when ``texts`` knows it (validation's texts are
    read from disk on use and checked against exactly that hash)."""
    known = getattr(texts, "text_sha256", None)
    hexdigest = known(article) if known is not None else None
    if hexdigest is not None:
        return bytes.fromhex(hexdigest)
    return hashlib.sha256(texts[article].encode("utf-8", "surrogatepass")).digest()
