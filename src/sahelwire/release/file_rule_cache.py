"""The input rules memoised per export file: a rebuild checks only the rows of files that changed.

The rules :func:`sahelwire.release.validation.validate_annotations` applies to a chunk of
export files (pandera's schemas of the source tables, the span and relation rules, the
published views' rules) each look at one row, or at the rows of one annotation or one
article; every article is in one export file, and its gold is made from that file's rows and
the article's decisions file alone. So the rules find nothing in a chunk when they find
nothing in any of its files, and a file where they found nothing finds nothing again while
what it is made from is the same. The exceptions are the rules over a whole table (a
column's ``unique``, a table's composite key): they are checked here on the whole chunk, and
a chunk with a duplicate is checked whole.

Those *clean* verdicts are kept in ``.sahelwire/cache/input_rules/``
(:mod:`sahelwire.io.article_packs`, metadata only) under a key per file: the fingerprint of
this code with the validation's (``release.validation`` and everything it imports: the rules,
the schemas' code), the taxonomy and every file of ``schemas/`` (the registries are there);
the file's :class:`~sahelwire.annotations.tables.FileRows` key (its sha256 in the export
cache's key, with the parser's code, and what its parse read: the texts' hashes, which
annotators are known); the sha256 of each of its articles' decisions file. The rules then run
on the other files' rows only. When those give a Problem, the chunk is checked whole again:
the Problems are then exactly those of a run without the memo (a Problem may name a row by
its position in the chunk). Only a run with no Problem records verdicts. Never a source of
truth; ``SAHELWIRE_ARTICLE_CACHE=off`` turns it off.
"""

from __future__ import annotations

import dataclasses
import hashlib
import os
import stat
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import polars as pl

from sahelwire.annotations.gold_layer import GoldLayer
from sahelwire.annotations.layers import AnnotationLayers
from sahelwire.annotations.memo_keys import memo_fingerprint
from sahelwire.io.article_packs import ArticlePacks
from sahelwire.io.paths import ProjectPaths
from sahelwire.schema.table_specs import TableSpecs
from sahelwire.schema.taxonomy import Taxonomy

# The code whose rules the verdicts stand for (not imported here: it imports this module).
RULES_MODULE = "sahelwire.release.validation"
DECISION_SUFFIX = ".yaml"  # annotations/decisions/<article_id>.yaml (annotations.adjudication)


def cache_folder(paths: ProjectPaths) -> Path:
    return paths.state_dir / "cache" / "input_rules"


def source_frames(layers: AnnotationLayers) -> list[tuple[str, pl.DataFrame]]:
    """The per-annotator and prediction source tables of ``layers`` (spec name, frame), as
    the rules check them."""
    frames = [
        ("annotations", layers.annotations),
        ("annotation_regions", layers.regions),
        ("annotation_relations", layers.relations),
        ("annotation_choices", layers.choices),
        ("predictions", layers.predictions),
        ("prediction_results", layers.prediction_results),
    ]
    return [(name, frame) for name, frame in frames if frame is not None]


class FileRuleMemo:
    """Clean verdicts of the input rules per export file, for one project: one run reads
    the pack once (:meth:`unchecked` per chunk, :meth:`checked` after its rules ran) and
    writes it once (:meth:`flush`)."""

    def __init__(self, folder: Path, fingerprint: str, decisions_dir: Path) -> None:
        self.packs = ArticlePacks(folder, fingerprint, {})
        self.decisions_dir = decisions_dir
        self._decisions: dict[str, Path] | None = None  # article -> its decisions file
        self._entries: Mapping[str, Any] | None = None
        self._had_pack = False
        # Every chunk's verdicts so far; None once a chunk's rules found a Problem.
        self._verdicts: dict[str, dict[str, Any]] | None = {}
        self._keys: dict[str, str] = {}  # the current chunk's files' keys

    @classmethod
    def for_project(cls, paths: ProjectPaths, taxonomy: Taxonomy) -> FileRuleMemo | None:
        """None when the memos are off or the code cannot be fingerprinted."""
        fingerprint = memo_fingerprint(paths, __name__, taxonomy, also=(RULES_MODULE,))
        if fingerprint is None:
            return None
        return cls(cache_folder(paths), fingerprint, paths.decisions_dir)

    @property
    def stats(self) -> Any:
        return self.packs.stats

    def unchecked(self, layers: AnnotationLayers, specs: TableSpecs) -> AnnotationLayers | None:
        """What of ``layers`` (a chunk) the rules must check: the rows of files without a
        clean verdict under their key now, and their articles' gold; None when that is all
        of it."""
        entries = self._load()
        self._keys = {
            source: self.packs.key(source, rows.key, *map(self._decision, rows.articles))
            for source, rows in layers.files.items()
        }
        clean = {s for s, k in self._keys.items() if entries.get(s, {}).get("key") == k}
        if clean and _duplicates(layers, specs):
            clean = set()  # a whole-table rule could fail between a clean file and another
        self.packs.stats.hits += len(clean)
        self.packs.stats.misses += len(self._keys) - len(clean)
        if not clean:
            return None
        articles = [a for s in clean for a in layers.files[s].articles]
        return _without(layers, list(clean), articles)

    def checked(self, found_nothing: bool) -> None:
        """The rules ran on the chunk :meth:`unchecked` last saw: its files are clean when
        they found nothing (else this run records no verdict)."""
        if self._verdicts is None:
            return
        if not found_nothing:
            self._verdicts = None
            return
        self._verdicts.update({s: {"key": k, "rows": {}} for s, k in self._keys.items()})

    def flush(self) -> None:
        """Write every chunk's verdicts as one pack, when there is something new to keep."""
        verdicts = self._verdicts
        if verdicts and (self.packs.stats.misses or not self._had_pack):
            self.packs.write({}, verdicts)
        self._entries, self._verdicts, self._keys = None, {}, {}

    def _load(self) -> Mapping[str, Any]:
        if self._entries is None:
            pack = self.packs.load()
            self._had_pack = pack is not None
            self._entries = pack.entries if pack is not None else {}
            if pack is not None:
                pack.close()  # its entries are all it holds
        return self._entries

    def _decision(self, article: str) -> bytes:
        """sha256 of the article's decisions file, or b"" when it has none."""
        if self._decisions is None:
            # Listed once: most articles have none, and a stat each was ≈5 µs.
            try:
                with os.scandir(self.decisions_dir) as listing:
                    self._decisions = {
                        e.name[: -len(DECISION_SUFFIX)]: Path(e.path)
                        for e in listing
                        # A symlink or a FIFO is never opened (adjudication does not read
                        # it either; validation names it): keyed as unreadable below.
                        if e.name.endswith(DECISION_SUFFIX)
                    }
            except OSError:
                self._decisions = {}
        path = self._decisions.get(article)
        if path is None:
            return b""
        try:
            mode = path.lstat().st_mode
            if not stat.S_ISREG(mode) and not stat.S_ISDIR(mode):
                return b"not a file"
            return hashlib.sha256(path.read_bytes()).digest()
        except OSError:
            # Adjudication reports it (a Problem) and makes the article's gold without
            # decisions: the same gold each run while it stays unreadable, so a verdict
            # under this key is sound.
            return b"unreadable"


def _duplicates(layers: AnnotationLayers, specs: TableSpecs) -> bool:
    """Whether a ``unique`` column or a composite key repeats anywhere in the chunk (nulls
    counted as repeats: a duplicate is possible, so the chunk is checked whole)."""
    for name, frame in source_frames(layers):
        spec = specs.source[name]
        if not frame.height:
            continue
        groups = [[c.name] for c in spec.columns if c.checks.get("unique")]
        if len(spec.key) > 1:
            groups.append(list(spec.key))
        for columns in groups:
            if not set(columns) <= set(frame.columns):
                return True  # the schema's own check fails alike on the whole chunk
            if frame.select(columns).is_duplicated().any():
                return True
    return False


def _without(layers: AnnotationLayers, sources: list[str], articles: list[str]) -> AnnotationLayers:
    """``layers`` without the rows of ``sources`` and the gold of ``articles``."""

    def rest(frame: pl.DataFrame | None) -> Any:
        if frame is None or "source_file" not in frame.columns:
            return frame  # checked whole: as without the memo
        return frame.filter(~pl.col("source_file").is_in(sources))

    def rest_gold(frame: pl.DataFrame) -> pl.DataFrame:
        return frame.filter(~pl.col("article_id").is_in(articles))

    gold = layers.gold
    return dataclasses.replace(
        layers,
        annotations=rest(layers.annotations),
        regions=rest(layers.regions),
        relations=rest(layers.relations),
        choices=rest(layers.choices),
        predictions=rest(layers.predictions),
        prediction_results=rest(layers.prediction_results),
        gold=GoldLayer(
            rest_gold(gold.regions),
            rest_gold(gold.relations),
            rest_gold(gold.choices),
            rest_gold(gold.status),
        ),
        files={},
    )
