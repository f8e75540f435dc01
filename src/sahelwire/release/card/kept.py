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
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Generic, TypeVar

import pyarrow as pa

from sahelwire.annotations.memo_keys import memo_fingerprint
from sahelwire.io.article_packs import ArticlePacks, LoadedPack
from sahelwire.io.paths import ProjectPaths

T = TypeVar("T")

# What the card keeps, each in its own folder (``card_folder``): ``release.memos`` lists them.
LEAKAGE = "leakage"  # the section on registry ids shared across splits and folds
LENGTHS = "lengths"  # every article's two lengths (the plot and the plots section)
LABEL_COUNTS = "label_counts"  # gold spans per layer, split and label (plot and statistics)
ORGANISATIONS = "organisations"  # ORG mentions outside the body (outlets section, Croissant)
KEPT = (LEAKAGE, LENGTHS, LABEL_COUNTS, ORGANISATIONS)


def card_folder(paths: ProjectPaths, name: str) -> Path:
    return paths.state_dir / "cache" / "card" / name


@dataclass(frozen=True)
class Form(Generic[T]):
    """How a kept value is stored in its pack: with ``schema`` None, as the JSON value
    ``encode`` gives, in the entry; else as the one table of ``schema`` it gives (large
    values: 1M articles' lengths). ``decode`` turns what was stored back into the value, or
    None when it is not one (then it is computed again)."""

    encode: Callable[[T], Any]
    decode: Callable[[Any], T | None]
    schema: pa.Schema | None = None


TEXT: Form[str] = Form(lambda text: text, lambda value: value if isinstance(value, str) else None)


def kept(
    paths: ProjectPaths,
    name: str,
    module: str,
    parts: Sequence[str],
    compute: Callable[[], T],
    form: Form[T],
) -> T:
    """``compute()``, kept in ``card_folder(paths, name)`` under ``parts`` (the files' names
    and sha256, and every other argument of the computation) and the fingerprint of
    ``module`` (the code computing it)."""
    # This module's (it imports memo_keys, which a fingerprint must cover) with ``module``'s.
    fingerprint = memo_fingerprint(paths, __name__, also=(module,))
    if fingerprint is None:
        return compute()
    schemas = {name: form.schema} if form.schema is not None else {}
    packs = ArticlePacks(card_folder(paths, name), fingerprint, schemas)
    key = packs.key(*parts)
    pack = packs.load()
    if pack is not None:
        try:
            found = _stored(pack, name, key, form)
        finally:
            pack.close()
        if found is not None:
            packs.stats.hits += 1
            return found
    value = compute()
    packs.stats.misses += 1
    stored = form.encode(value)
    if form.schema is None:
        packs.write({}, {name: {"key": key, "rows": {}, "value": stored}})
    else:
        packs.write({name: [stored]}, {name: {"key": key, "rows": {name: [0, stored.num_rows]}}})
    return value


def _stored(pack: LoadedPack, name: str, key: str, form: Form[T]) -> T | None:
    """The value ``pack`` keeps under ``key``, decoded (before the pack is closed), or None."""
    entry = pack.entries.get(name)
    if not isinstance(entry, dict) or entry.get("key") != key:
        return None
    if form.schema is None:
        return form.decode(entry.get("value"))
    rows = entry.get("rows", {}).get(name)
    if rows is None:
        return None
    first, n = rows
    return form.decode(pack.tables[name].slice(first, n) if n else form.schema.empty_table())
