"""Memoised published rows per article: a rebuild recomputes only the articles that changed.

:meth:`ReleaseTableBuilder.rows <sahelwire.release.tables.ReleaseTableBuilder.rows>` turns
each article (text, manifest metadata, story cluster, gold rows) into its rows of every
per-article config (documents, mentions, events, quantities, ner_bio) and its ``ner_bio``
statistics. Nothing else goes in, so those results are kept in ``.sahelwire/cache/articles/``
(:mod:`sahelwire.io.article_packs`; git-ignored, never a source of truth) under a key per
article: the sha256 of

* a fingerprint of the code (:mod:`sahelwire.release.tables` and every sahelwire module it
  imports, this module, the pack format), the taxonomy, the published schemas, every file
  of ``schemas/`` and the Python/polars/pyarrow versions, and
* the article's id, manifest sha256, text, manifest row, story cluster and its rows of each
  gold frame (regions, relations, choices, status) in their order, each row hashed with two
  128-bit polars row hashes (the polars version is in the fingerprint; floats are hashed by
  their bits, nulls by a mask, so ``-0.0``/``0.0`` and ``null``/``0`` differ).

The split is not in the key: rows are cached per article and split when assembled. A hit's
rows are zero-copy slices of the pack's tables; the published tables are the same values in
the same order as without the cache, so their Parquet bytes are identical (tested: cold,
warm, after a change, with a tampered pack). ``SAHELWIRE_ARTICLE_CACHE=off`` turns it off.

**Validated once.** The build validates every published row with pandera
(:mod:`sahelwire.schema.table_validation`, in this module's fingerprint with the pandera
version), a batch of whole articles at a time: an article's rows are valid or not by
themselves. Once a build has validated every batch without a problem it calls
:meth:`ArticleRowCache.validated`, which marks the pack it stored (or the one it read, when
it used all of it and stored none) as checked; rows taken from a checked pack are then not
validated again (:attr:`Piece.unchecked`). A refused build leaves its pack unmarked, so its rows
are validated again by the next run.

**Keyed first.** :meth:`ArticleRowCache.plan` keys every article before any row is read or
made: which hit, whether this run must store a pack (a miss, or a pack holding other
articles; a run that misses nothing keeps the pack it read), and per (config, split) a
*source digest* of its articles' keys in order. The build places a file whose digest is
the one the last build's file was made from (:mod:`sahelwire.release.parquet_reuse`), and
:meth:`chunk` then reads none of its rows unless a new pack needs them.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
from collections import Counter
from collections.abc import Collection, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, NamedTuple

import pandera
import pyarrow as pa
import pyarrow.compute as pc

from sahelwire.annotations.memo_keys import VALIDATION_MODULE, frame_digests, memo_fingerprint
from sahelwire.io.article_packs import (
    EXTRA_JSON,
    ArticlePacks,
    LoadedPack,
    PackWriter,
    clear_folder,
)
from sahelwire.io.bulk import paused_gc
from sahelwire.io.config import SPLITS
from sahelwire.io.paths import ProjectPaths
from sahelwire.raw.manifest import Article
from sahelwire.release.gold_files import GoldFiles, gold_between, gold_of
from sahelwire.release.ner_bio import BioStats
from sahelwire.release.tables import Piece
from sahelwire.schema.table_specs import ARTICLE_ID

if TYPE_CHECKING:
    from sahelwire.release.tables import ReleaseInputs, ReleaseTableBuilder

GOLD_FRAMES = ("regions", "relations", "choices", "status")
# In every source digest (RowPlan.sources): a change to what it covers makes it another.
SOURCE_FORMAT = "sahelwire article rows 1"
# Decoded ner_bio statistics kept by their stored JSON, up to this many: the raw-only
# articles (90% of the 1M standard corpus) all store the same empty statistics.
DECODED_BIO = 1024


def cache_folder(paths: ProjectPaths) -> Path:
    return paths.state_dir / "cache" / "articles"


def clear(paths: ProjectPaths) -> tuple[int, int]:
    """Remove the article cache: (files, bytes) removed. The next build makes it again."""
    return clear_folder(cache_folder(paths))


def encode_bio(stats: BioStats) -> list[Any]:
    out: list[Any] = []
    for f in dataclasses.fields(stats):
        value = getattr(stats, f.name)
        out.append(list(value.items()) if isinstance(value, Counter) else value)
    return out


def decode_bio(data: list[Any]) -> BioStats:
    stats = BioStats()
    for f, value in zip(dataclasses.fields(stats), data, strict=True):
        if isinstance(getattr(stats, f.name), Counter):
            value = Counter(dict((str(k), int(v)) for k, v in value))
        setattr(stats, f.name, value)
    return stats


class _Hit(NamedTuple):
    """A usable pack entry."""

    rows: dict[str, list[int]]  # config -> [first row, rows] in the pack's table
    extra: str  # the rest of the entry as the pack stored it (JSON)
    stats: BioStats  # its ner_bio statistics, decoded


def _row_counts(table: pa.Table) -> dict[str, int]:
    """Article id -> its rows in ``table``."""
    counts = pc.value_counts(table.column(ARTICLE_ID)).to_pylist()
    return {item["values"]: item["counts"] for item in counts}


@dataclass
class RowPlan:
    """What :meth:`ArticleRowCache.plan` found before any row is read or made."""

    # (config, split) -> sha256 of the memo's fingerprint and the keys of the split's
    # articles in order: the rows of that file are a function of exactly this (each key
    # holds everything an article's rows depend on), so two builds with the same digest
    # publish the same file, whichever of their rows came from the pack.
    sources: dict[tuple[str, str], str]
    hits: int
    misses: int
    writes: bool  # this run stores a new pack (anything missed, or the pack holds others)
    # Every article's ner_bio statistics summed in article order, when every article hit
    # (what the chunks would add up to; None otherwise: the chunks add them).
    bio: BioStats | None


class ArticleRowCache:
    """The per-article rows of one build, from the pack where the key matches, else made.

    Used by :meth:`ReleaseTableBuilder.tables`: :meth:`begin` once, :meth:`chunk` per chunk
    of articles (its pieces per config and split, in article order), :meth:`finish` once.
    """

    def __init__(self, folder: Path, fingerprint: str) -> None:
        self.folder = folder
        self.fingerprint = fingerprint
        self.packs: ArticlePacks | None = None
        self.pack: LoadedPack | None = None
        self.keys: dict[str, str] = {}
        # Every article's key, by id, from plan() until chunk() takes it: plan keys the whole
        # corpus first, and keying again (the gold's digests) was ≈30 s of a 1M rebuild.
        self.planned: dict[str, str] = {}
        self.names: list[str] = []  # the configs whose rows are memoised
        self.writes = False  # plan(): this run stores a new pack
        self.gave_rows = False  # chunk() read rows of the pack this run
        self.withheld = False  # ... and left some out of what it gave (``wanted``)
        self.writer: PackWriter | None = None
        self.new_rows: dict[str, int] = {}
        # The entries of the pack this run writes, until they are handed to its writer (at
        # the end of each chunk once there is one): at 1M articles, all of them held as dicts
        # to the end were ≈0.9 GB.
        self.new_entries: dict[str, dict[str, Any]] = {}
        # Statistics decoded from a stored extra, by that JSON (at most DECODED_BIO).
        self._decoded: dict[str, BioStats] = {}
        # The pack to mark as checked once the build has validated every row (finish()).
        self.to_mark: Path | None = None

    @classmethod
    def for_project(cls, paths: ProjectPaths, taxonomy: Any, shapes: Any) -> ArticleRowCache | None:
        """The cache of ``paths``, or None when it is off or the code cannot be fingerprinted."""
        # The published rows' validation is in it too: a checked pack's rows are not
        # validated again, so a change to the rules must make every entry a miss.
        fingerprint = memo_fingerprint(
            paths,
            __name__,
            taxonomy,
            shapes,
            f"pandera {pandera.__version__}",
            also=(VALIDATION_MODULE,),
        )
        return None if fingerprint is None else cls(cache_folder(paths), fingerprint)

    @property
    def stats(self) -> Any:
        return self.packs.stats if self.packs else None

    def begin(self, inputs: ReleaseInputs, schemas: Mapping[str, pa.Schema]) -> None:
        self.packs = ArticlePacks(self.folder, self.fingerprint, schemas)
        self.pack = self.packs.load()
        self.names = list(schemas)
        self.planned = {}
        self.writes = False
        self.gave_rows = self.withheld = False
        self.writer = None
        self.new_rows = dict.fromkeys(schemas, 0)
        self.new_entries = {}
        self.keys = {}
        self._decoded = {}
        self.to_mark = None

    def _key_chunk(self, inputs: ReleaseInputs, digests: Mapping[str, Mapping[str, bytes]]) -> None:
        """The keys of ``inputs.articles`` (a chunk); ``digests``: per gold frame (of
        :data:`GOLD_FRAMES`), article -> :func:`frame_digests` of its rows, for at least
        these articles (none: the article has no rows there)."""
        assert self.packs is not None
        none = b""
        # Each chunk's own (a million keys of one build held to its end were ≈150 MB). The
        # gold's part comes from ``digests``: those GoldFiles took as it wrote the gold (not
        # read back), or, for a gold held in memory, hashed from its frames by the caller.
        self.keys = {}
        for art in inputs.articles:
            self.keys[art.id] = self.packs.key(
                art.id,
                art.sha256 or "",
                art.text_digest(),  # a loaded article's is its manifest sha256: unread
                json.dumps(art.meta, sort_keys=True, default=repr),
                json.dumps(inputs.clusters.get(art.id)),
                *(digests[name].get(art.id, none) for name in GOLD_FRAMES),
            )

    def plan(self, inputs: ReleaseInputs, chunk_articles: int) -> RowPlan:
        """Key every article of ``inputs`` (in id order, ``chunk_articles`` at a time, each
        chunk's gold read as :meth:`chunk` reads it) before any row is read or made: which
        hit, whether this run stores a pack, and each file's source digest, so the build
        can place a file whose sources are the last build's without its rows
        (``release.parquet_reuse``) and a run that misses nothing writes no pack. The keys
        are kept for :meth:`chunk`."""
        assert self.packs is not None
        ordered = sorted(inputs.articles, key=lambda a: a.id)
        by_split = {split: hashlib.sha256() for split in SPLITS}
        hits = misses = 0
        bio: BioStats | None = BioStats()
        # The gold's digests as its files took them (not read back), or of the gold held.
        files = inputs.gold if isinstance(inputs.gold, GoldFiles) else None
        written = {**files.digests, "status": frame_digests(files.status)} if files else None
        for lo in range(0, len(ordered), chunk_articles):
            chunk = ordered[lo : lo + chunk_articles]
            digests = written
            if digests is None:
                gold = gold_between(inputs.gold, chunk[0].id, chunk[-1].id)
                digests = {name: frame_digests(getattr(gold, name)) for name in GOLD_FRAMES}
                del gold
            self._key_chunk(dataclasses.replace(inputs, articles=chunk), digests)
            for art in chunk:
                key = self.keys[art.id]
                by_split[inputs.splits[art.id]].update(f"{art.id}\0{key}\n".encode())
                hit = self._hit(art)
                if hit is None:
                    misses += 1
                    bio = None
                else:
                    hits += 1
                    if bio is not None:
                        bio.add(hit.stats)
            self.planned.update(self.keys)
        self.keys = {}
        self.packs.stats.hits += hits
        self.packs.stats.misses += misses
        # A run that misses nothing keeps the pack it read, unless that pack holds other
        # articles too (then a pack of exactly this run's is written, as after a miss).
        self.writes = self.pack is None or misses > 0 or hits != len(self.pack.entries)
        sources = {}
        for split, digest in by_split.items():
            for name in self.names:
                source = hashlib.sha256(f"{SOURCE_FORMAT}\0{self.fingerprint}\0{name}\0".encode())
                source.update(digest.digest())
                sources[(name, split)] = source.hexdigest()
        return RowPlan(sources, hits, misses, self.writes, bio)

    def _hit(self, art: Article) -> _Hit | None:
        if self.pack is None:
            return None
        found = self.pack.entries.found(art.id)
        if found is None:
            return None
        key, extra, rows = found
        if key != self.keys[art.id] or set(rows) != set(self.names):
            return None
        stats = self._decoded.get(extra)
        if stats is None:
            try:
                parsed = json.loads(extra)
                if not isinstance(parsed, dict) or set(parsed) != {"bio"}:
                    return None
                stats = decode_bio(parsed["bio"])
            except (ValueError, TypeError):  # not statistics of this code: made again
                return None
            if len(self._decoded) >= DECODED_BIO:
                self._decoded.clear()
            self._decoded[extra] = stats
        return _Hit(rows, extra, stats)

    def chunk(
        self,
        builder: ReleaseTableBuilder,
        inputs: ReleaseInputs,
        schemas: Mapping[str, pa.Schema],
        wanted: Collection[tuple[str, str]] | None = None,
    ) -> dict[str, dict[str, list[Piece]]]:
        """config -> split -> the pieces (in article order) of ``inputs.articles``' rows.

        ``wanted``: the (config, split)s the caller takes (default all); the others are
        given as no pieces, and read from the pack only when this run stores a new one.
        Call :meth:`plan` first: its keys are used (the gold is read again only for the
        articles that missed)."""
        assert self.packs is not None
        names = self.names
        self.keys = {art.id: self.planned.pop(art.id) for art in inputs.articles}
        entries = {art.id: self._hit(art) for art in inputs.articles}
        misses = [art for art in inputs.articles if entries[art.id] is None]
        if self.writes and self.writer is None:
            self.writer = self.packs.writer()  # each piece is written to it as it comes
        writing = self.writer is not None
        made: dict[str, dict[str, pa.Table]] = {}
        made_at: dict[str, dict[str, tuple[int, int]]] = {}  # config -> article -> range
        total = builder.bio_stats
        if misses:
            builder.bio_stats = BioStats()  # the run's total is summed below, in order
            gold = gold_between(inputs.gold, inputs.articles[0].id, inputs.articles[-1].id)
            if len(misses) < len(inputs.articles):
                gold = gold_of(gold, [a.id for a in misses])
            with paused_gc():
                rows = builder.rows(
                    dataclasses.replace(inputs, articles=misses, gold=gold),
                    skip=frozenset(builder.per_article_configs()) - set(names),
                )
            builder.bio_stats = total
            for name in names:
                made[name] = builder.split_tables(rows.pop(name, []), schemas[name], inputs.splits)
                made_at[name] = {}
                for split in SPLITS:
                    counts = _row_counts(made[name][split])
                    offset = 0
                    for art in misses:
                        if inputs.splits[art.id] == split:
                            made_at[name][art.id] = (offset, counts.get(art.id, 0))
                            offset += counts.get(art.id, 0)
            del rows
        out: dict[str, dict[str, list[Piece]]] = {}
        checked = self.pack is not None and self.pack.checked
        for name in names:
            out[name] = {}
            for split in SPLITS:
                taken = wanted is None or (name, split) in wanted
                if not (taken or writing):
                    out[name][split] = []  # neither given nor stored: not read
                    continue
                runs: list[tuple[pa.Table, int, int]] = []  # (source, start, length)
                for art in inputs.articles:
                    if inputs.splits[art.id] != split:
                        continue
                    entry = entries[art.id]
                    if entry is None:
                        source = made[name][split]
                        start, n = made_at[name][art.id]
                    else:
                        assert self.pack is not None
                        source = self.pack.tables[name]
                        start, n = entry.rows[name]
                    if runs and runs[-1][0] is source and runs[-1][1] + runs[-1][2] == start:
                        runs[-1] = (source, runs[-1][1], runs[-1][2] + n)
                    else:
                        runs.append((source, start, n))
                pieces = [
                    _piece(
                        source
                        if isinstance(source, pa.Table) and start == 0 and n == source.num_rows
                        else source.slice(start, n),
                        checked and not isinstance(source, pa.Table),  # else a made table
                    )
                    for source, start, n in runs
                    if n
                ]
                if writing:
                    assert self.writer is not None
                    # Where each article's rows will be in the pack this run writes.
                    at = self.new_rows[name]
                    for art in inputs.articles:
                        if inputs.splits[art.id] != split:
                            continue
                        entry = entries[art.id]
                        n = made_at[name][art.id][1] if entry is None else entry.rows[name][1]
                        new = self.new_entries.setdefault(art.id, {"key": self.keys[art.id]})
                        new.setdefault("rows", {})[name] = [at, n]
                        at += n
                    self.new_rows[name] = at
                    for piece in pieces:
                        self.writer.add(name, piece.table)
                out[name][split] = pieces if taken else []
                self.gave_rows = self.gave_rows or bool(pieces)
                self.withheld = self.withheld or not taken
        for art in inputs.articles:
            entry = entries[art.id]
            if entry is None:
                stats = builder.article_bio.pop(art.id)
                if writing:
                    self.new_entries[art.id]["bio"] = encode_bio(stats)
            else:
                stats = entry.stats
                if writing:
                    self.new_entries[art.id][EXTRA_JSON] = entry.extra  # stored again as it was
            total.add(stats)
        if self.writer is not None:
            self.writer.add_entries(self.new_entries)
            self.new_entries = {}
        return out

    def finish(self) -> None:
        """Store this run's rows when anything was made (or the pack was not usable)."""
        assert self.packs is not None
        # A writer exists when plan() found a miss or a pack of other articles too.
        if self.writer is not None:
            self.writer.finish(self.new_entries)
            self.to_mark = self.packs.stats.written
        elif self.pack is not None and not self.writes and self.gave_rows and not self.withheld:
            # Nothing stored: the pack read stays, every row of it given to this build (it
            # holds exactly this run's articles: plan()).
            self.to_mark = None if self.pack.checked else self.pack.path
        self.writer = None
        self.planned = {}
        self.new_entries = {}
        if self.pack is not None:
            self.pack.close()
        self.pack = None

    def validated(self) -> None:
        """The build validated every row :meth:`chunk` gave, without a problem: the pack
        that now holds exactly those rows is marked checked (its rows not validated again)."""
        if self.to_mark is not None and self.packs is not None:
            self.packs.mark_checked(self.to_mark)
        self.to_mark = None


def _piece(table: pa.Table, checked: bool) -> Piece:
    """``table`` as a piece: none of its rows to validate when a build validated them."""
    return Piece(table, table.slice(0, 0) if checked else None)
