"""What the card computes from published files, kept under the sha256 of those files.

A rebuild that places a data file unchanged (``release.parquet_reuse``) need not read it
again for the card: a section or fact computed from such files is kept in
``.sahelwire/cache/card/<name>/`` (:mod:`sahelwire.io.article_packs`, one entry) under a key
of the files' names and sha256 (as written or placed), whatever else the computation takes,
and the fingerprint of the module that computes it. Never a source of truth;
``SAHELWIRE_ARTICLE_CACHE=off`` turns it off (computed each time).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path

from sahelwire.annotations.memo_keys import memo_fingerprint
from sahelwire.io.article_packs import ArticlePacks
from sahelwire.io.paths import ProjectPaths

LEAKAGE = "leakage"  # the card's section on registry ids shared across splits and folds


def card_folder(paths: ProjectPaths, name: str) -> Path:
    return paths.state_dir / "cache" / "card" / name


def kept_text(
    paths: ProjectPaths,
    name: str,
    module: str,
    parts: Sequence[str],
    compute: Callable[[], str],
) -> str:
    """``compute()``, kept under ``parts`` (the files' names and sha256, and every other
    argument of the computation) and the fingerprint of ``module`` (the code computing it)."""
    # This module's (it imports memo_keys, which a fingerprint must cover) with ``module``'s.
    fingerprint = memo_fingerprint(paths, __name__, also=(module,))
    if fingerprint is None:
        return compute()
    packs = ArticlePacks(card_folder(paths, name), fingerprint, {})
    key = packs.key(*parts)
    pack = packs.load()
    if pack is not None:
        entry = pack.entries.get(name)
        pack.close()  # one entry and no tables
        if isinstance(entry, dict) and entry.get("key") == key:
            value = entry.get("value")
            if isinstance(value, str):
                packs.stats.hits += 1
                return value
    text = compute()
    packs.stats.misses += 1
    packs.write({}, {name: {"key": key, "rows": {}, "value": text}})
    return text
