"""``sahelwire build``: raw articles + gold annotations -> the release folder dist/.

dist/README.md (the card), dist/data/<config>/<split>-00000-of-00001.parquet and
dist/checksums.sha256. Inputs are validated first, then each published table piece by
piece as its rows are produced and streamed to its Parquet file in a staging directory
(bounded memory: no config is held whole; issue 17 item 3); the folder is swapped in with
one rename, so an interrupted or refused build leaves the previous dist/ intact.
"""

from __future__ import annotations

import dataclasses
import hashlib
import os
import re
import shutil
import tempfile
import time
import weakref
from collections import deque
from collections.abc import Callable, Iterable, Iterator, Mapping
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, cast

import datasets
import pandera
import polars as pl
import pyarrow as pa
import pyarrow.parquet as pq

from sahelwire.annotations.agreement import agreement_report
from sahelwire.annotations.agreement_cache import AgreementReportCache
from sahelwire.annotations.baseline import baseline_report_for, render_markdown, sample_ids
from sahelwire.annotations.baseline_cache import PredictionCache
from sahelwire.annotations.gold_layer import GoldLayer
from sahelwire.annotations.layers import AnnotationLayers, raw_frame
from sahelwire.annotations.memo_keys import VALIDATION_MODULE, memo_fingerprint
from sahelwire.io.atomic import (
    clean_stale_staging,
    staged_directory,
    write_bytes_atomic,
    write_text_atomic,
)
from sahelwire.io.bulk import rare_collections
from sahelwire.io.config import SPLITS, Settings, exact_pins
from sahelwire.io.memory import peak_rss_mb, return_freed_memory
from sahelwire.io.paths import CHECKSUMS, ProjectPaths
from sahelwire.io.release_manifests import released_splits
from sahelwire.io.scratch import scratch_dir
from sahelwire.io.write_thread import OrderedWrites
from sahelwire.raw.manifest import Article
from sahelwire.release.article_cache import ArticleRowCache
from sahelwire.release.card.data_sections import (
    TokenCounts,
    examples_section,
    figures_section,
    leakage_section,
    license_file,
    licensing_text,
    ner_bio_section,
    outlets_section,
    provenance_section,
)
from sahelwire.release.card.facts import (
    AnnotationFacts,
    data_date,
    disagreeing_figures,
    kept_organisations,
    value_counts,
)
from sahelwire.release.card.kept import LEAKAGE, TEXT, kept
from sahelwire.release.card.metadata import (
    RESEARCHER_PACKAGES,
    citation_section,
    croissant_section,
    how_to_load_section,
    released_files,
    version_section,
)
from sahelwire.release.card.plot_drawing import render_plots
from sahelwire.release.card.plot_worker import MIN_ARTICLES as PLOT_WORKER_ARTICLES
from sahelwire.release.card.plot_worker import PlotWorker
from sahelwire.release.card.plots import (
    kept_article_lengths,
    kept_label_counts,
    plot_inputs,
    plots_section,
)
from sahelwire.release.card.sections import (
    annotation_section,
    fields_section,
    splits_section,
    statistics_section,
    taxonomy_section,
)
from sahelwire.release.card.template import (
    LICENSE_FILE,
    LICENSE_SUMMARY,
    DatasetInfoText,
    annotations_creators,
    front_matter,
    read_card_template,
    render_card,
)
from sahelwire.release.croissant import (
    CROISSANT_FILE,
    DatasetFacts,
    citation,
    class_label_names,
    croissant_bytes,
    summary,
)
from sahelwire.release.gold_files import GoldFiles, GoldSource, gold_of
from sahelwire.release.ner_bio import BioStats
from sahelwire.release.parquet_files import StreamedParquet, WrittenFile, with_hf_features
from sahelwire.release.parquet_reuse import ParquetStore
from sahelwire.release.raw_cache import RawRowCache
from sahelwire.release.splits import assign_splits, read_story_clusters
from sahelwire.release.tables import Piece, ReleaseInputs, ReleaseTableBuilder
from sahelwire.release.validation import RawTexts, TextChanged, ValidatedInputs, validate_inputs
from sahelwire.schema.problems import Problem
from sahelwire.schema.table_specs import ShapeBuilder, TableSpecs, load_table_specs
from sahelwire.schema.table_validation import validate_published
from sahelwire.schema.taxonomy import Taxonomy

if TYPE_CHECKING:
    from sahelwire.release.columnar import RawSourceSink

# The card scores the pre-annotation baseline on at most this many articles with gold (a
# fixed sample, stated in the card): predicting costs milliseconds per article, which
# would otherwise dominate large builds. `sahelwire baseline` scores every article.
CARD_BASELINE_ARTICLES = 250


class BuildRefused(Exception):
    """Inputs or outputs failed validation; dist/ was left as it was."""

    def __init__(self, problems: list[Problem]) -> None:
        super().__init__(f"{len(problems)} validation problem(s)")
        self.problems = problems


class ReleaseFiles(Mapping[str, bytes]):
    """Every release file by name -> bytes: the small ones held, the data files read from disk
    when asked for (they were streamed there and are not held; issue 17 item 3)."""

    def __init__(self, release: BuiltRelease) -> None:
        self._release = release

    def __getitem__(self, name: str) -> bytes:
        if name in self._release.small:
            return self._release.small[name]
        if name in self._release.data:
            return (self._release.root / name).read_bytes()
        raise KeyError(name)

    def __iter__(self) -> Iterator[str]:
        return iter(sorted({*self._release.small, *self._release.data}))

    def __len__(self) -> int:
        return len(self._release.small) + len(self._release.data)


@dataclass
class BuiltRelease:
    """What a build produces: the data files written under ``root`` (name -> rows, size,
    sha256), the small files (card, Croissant, plots, checksums) in memory, row counts."""

    root: Path
    small: dict[str, bytes] = field(default_factory=dict)
    data: dict[str, WrittenFile] = field(default_factory=dict)
    # The card's version line says when the build is not its version's release (render_release)
    release_note: bool = True
    rows: dict[str, dict[str, int]] = field(default_factory=dict)
    # Wall-clock seconds per phase, for scripts/bench.py: the targets are stated per
    # phase (validation, writing splits and metadata), not for the build as a whole.
    seconds: dict[str, float] = field(default_factory=dict)
    # Peak resident MB per phase (io.memory; Linux): which phase sets the build's peak.
    peak_rss_mb: dict[str, float] = field(default_factory=dict)
    # Seconds of work done beside the phases, in the build's writer thread: the Parquet
    # writes overlap the making of the next rows, so ``seconds["write_parquet"]`` is only
    # the time the build waited for them (scripts/bench.py reports both).
    overlapped_seconds: dict[str, float] = field(default_factory=dict)
    # Data files placed from the last build's (their rows unchanged: release.parquet_reuse).
    reused_files: list[str] = field(default_factory=list)
    # What the user must know though the build succeeded (a previous folder that could not
    # be removed); the CLI prints each as `warning: ...`.
    warnings: list[str] = field(default_factory=list)

    def digests(self) -> dict[str, tuple[int, str]]:
        """Every file's (size in bytes, sha256), without reading the data files again."""
        out = {name: (f.size, f.sha256) for name, f in self.data.items()}
        out.update(
            {name: (len(b), hashlib.sha256(b).hexdigest()) for name, b in self.small.items()}
        )
        return out

    @property
    def files(self) -> ReleaseFiles:
        """Every file's bytes by name (data files read from ``root`` on access)."""
        return ReleaseFiles(self)

    def phase_done(self, name: str, since: float) -> float:
        """Record the seconds since ``since`` under ``name``; returns now for the next phase."""
        now = time.perf_counter()
        self.seconds[name] = self.seconds.get(name, 0.0) + now - since
        peak = peak_rss_mb()
        if peak is not None:
            self.peak_rss_mb[name] = max(self.peak_rss_mb.get(name, 0.0), peak)
        return now


def data_file(config: str, split: str) -> str:
    return f"data/{config}/{split}-00000-of-00001.parquet"


def articles_from(raw: RawTexts) -> list[Article]:
    """The validated manifest articles, sorted by id (as load_articles), each text read from
    disk when it is used and checked against its manifest sha256 (never held: issue 17 item 3;
    a text changed since validation raises :class:`TextChanged`)."""
    load = raw.valid.__getitem__
    return [
        Article(id=row["id"], sha256=row["sha256"], meta=row, load=load)
        for row in sorted(raw.rows, key=lambda r: r["id"])
    ]


@dataclass(frozen=True)
class PlannedRelease:
    """What every build starts from: validated inputs, their articles, clusters and splits."""

    validated: ValidatedInputs
    articles: list[Article]
    clusters: dict[str, str]
    splits: dict[str, str]
    # The release before this version ("v0.1.0": what the card names as kept), and its
    # articles' splits there.
    pinned_from: str | None = None
    pinned: dict[str, str] = field(default_factory=dict)


def plan_release(
    paths: ProjectPaths,
    settings: Settings,
    *,
    raw_sink: Callable[[AnnotationLayers], None] | None = None,
) -> PlannedRelease:
    """Validate the inputs and assign every article its story cluster and split.

    The one place that sequence is written (the build, the Spark and SQL tests and the span
    bench all start here), so they cannot drift apart. Raises :class:`BuildRefused` when
    validation finds problems. ``raw_sink``: see :func:`validate_inputs`.
    """
    report, validated = validate_inputs(paths, include_dist=False, raw_sink=raw_sink)
    if not report.ok:
        raise BuildRefused(report.problems)
    articles = articles_from(validated.raw)
    clusters = read_story_clusters(paths.story_clusters_file, [a.id for a in articles])
    # Validation has read these manifests already (a damaged one is its Problem).
    _, released = released_splits(paths.releases_dir, settings.data_version)
    splits = assign_splits(clusters, settings.split_ratios, settings.split_seed, released)
    source, earlier = released_splits(paths.releases_dir, settings.data_version, before=True)
    pinned = {a: s for a, s in earlier.items() if a in clusters}
    pinned_from = source.stem if source is not None else None
    return PlannedRelease(validated, articles, clusters, splits, pinned_from, pinned)


class ParquetTable:
    """A written data file, read back column by column for the card and Croissant.

    Offers the part of ``pa.Table`` that the card sections use (``num_rows``, ``schema``,
    ``slice``, ``to_batches``), each reading only what it needs from the file, so the card
    never holds a whole config in memory (issue 17 item 3). No ``column``: a whole column of
    a 1M-article config is gigabytes (``card.columns.column_batches`` reads one row group at a
    time); a section that asks for it fails on any corpus, not only on a large one.
    """

    def __init__(self, path: Path) -> None:
        self.path = path
        self._file = pq.ParquetFile(path)
        self.num_rows = self._file.metadata.num_rows
        self.schema = self._file.schema_arrow

    def slice(self, offset: int = 0, length: int | None = None) -> pa.Table:
        # Only ever asked for the first rows (examples): read row groups until they are in.
        wanted = self.num_rows - offset if length is None else offset + length
        groups, rows = [], 0
        for i in range(self._file.num_row_groups):
            if rows >= wanted + offset:
                break
            groups.append(self._file.read_row_group(i))
            rows += groups[-1].num_rows
        return pa.concat_tables(groups).slice(offset, length)

    def to_batches(self, columns: list[str] | None = None) -> Iterator[pa.RecordBatch]:
        """Row group by row group (``pa.Table.to_batches``' role, without the whole table);
        ``columns``: only these (``card.columns.column_batches``)."""
        for i in range(self._file.num_row_groups):
            yield from self._file.read_row_group(i, columns=columns).to_batches()


# Pieces of one (config, split) are validated together up to about this many rows or bytes:
# pandera's cost is mostly per call (one polars query per check: ≈10 ms a call, ≈50 ms for
# documents' nested columns), and a 10k build gives ≈170 pieces, many of a few hundred rows.
VALIDATE_ROWS = 10_000
VALIDATE_BYTES = 16 << 20
# ... and all of them together at most this many bytes held (the largest is flushed first),
# so the batches add a bounded amount to the build's memory whatever the corpus. (With 48 and
# 96 MB the 1M build's peak, in the published phase, was 3.85 GB against 3.50 GB before the
# batches: a batch is held, copied into polars and checked, several times its bytes.)
VALIDATE_HELD_BYTES = 32 << 20
# Validated pieces handed to the writer thread and not yet written, at most this many bytes:
# past it the build waits for the oldest write (what the thread overlaps stays bounded).
WRITE_AHEAD_BYTES = 32 << 20


def _write_pieces(writer: StreamedParquet, batch: list[pa.Table]) -> float:
    """Write ``batch`` to ``writer`` in order (in the writer thread); its seconds."""
    clock = time.perf_counter()
    for table in batch:
        writer.write(table)
    return time.perf_counter() - clock


class _Published:
    """The published configs' writers: each (config, split) validated and streamed to its
    Parquet file under ``root`` as its rows are produced, a batch of pieces at a time."""

    def __init__(
        self,
        root: Path,
        release: BuiltRelease,
        shapes: ShapeBuilder,
        specs: TableSpecs,
        store: ParquetStore | None = None,
    ) -> None:
        self.root, self.release, self.specs, self.taxonomy = root, release, specs, shapes.taxonomy
        # The last build's files: one whose rows are the same is placed, not encoded again.
        self.store = store
        self.features = {name: shapes.features(spec) for name, spec in specs.configs.items()}
        self.schemas = {
            name: with_hf_features(
                shapes.arrow_schema(spec, published=True).empty_table(), self.features[name]
            ).schema
            for name, spec in specs.configs.items()
        }
        self.writers: dict[tuple[str, str], StreamedParquet] = {}
        self.problems: list[Problem] = []
        self.empty_seen: set[tuple[str, str]] = set()
        # Pieces given and not yet validated, per (config, split), in order; their bytes.
        self.batches: dict[tuple[str, str], list[Piece]] = {}
        self.held: dict[tuple[str, str], int] = {}
        # One thread writes every file, in the order the batches were validated, so each
        # file gets its row groups in the same order (the same bytes) as written inline.
        # pyarrow's encoder and zstd run without the GIL: the writes overlap the next rows'
        # Python on the second core (at 10k the writes were ≈4.2 s of the build, inline).
        self._writes = ThreadPoolExecutor(max_workers=1, thread_name_prefix="sahelwire-write")
        self._in_flight: deque[tuple[Future[float], int]] = deque()
        self._in_flight_bytes = 0
        # ner_bio's tokens per split, for the card, counted as the rows are written.
        self.token_counts: dict[str, TokenCounts] = {}

    def _writer(
        self, name: str, split: str, source: str | None = None, group_digests: bool = True
    ) -> StreamedParquet:
        key = (name, split)
        if key not in self.writers:
            self.writers[key] = StreamedParquet(
                self.root / data_file(name, split),
                self.schemas[name],
                name=data_file(name, split),
                store=self.store,
                source=source,
                group_digests=group_digests,
            )
        return self.writers[key]

    def place(
        self, sources: Mapping[tuple[str, str], str], *, group_digests: bool = True
    ) -> set[tuple[str, str]]:
        """Each (config, split) whose rows are made from ``sources`` (a producer's digest of
        them: the article memo's, or ``columnar_spans.span_source_digests``): placed from the
        last build's file when that was made from the same ones, and given no rows; the
        others' files keep their source for the next build. The placed ones, which are not
        validated again: their rows are the ones the build that wrote the file validated
        (the same sources make the same rows, and the validation code is in both digests'
        fingerprints). ner_bio's token counts come from beside the kept file.
        ``group_digests``: False when the files not placed are not to be compared with the
        kept ones a row group at a time either (:class:`StreamedParquet`)."""
        placed: set[tuple[str, str]] = set()
        for (name, split), source in sources.items():
            if (name, split) in self.writers:
                continue  # rows given already: not to be placed
            writer = self._writer(name, split, source, group_digests)
            if not writer.place_from_source():
                continue
            if name == "ner_bio":
                counts = TokenCounts(self.taxonomy)
                if not counts.take_json(writer.extra):
                    # Kept without its counts: made again, as if it had not been kept.
                    writer.abort()
                    del self.writers[(name, split)]
                    self._writer(name, split, source)  # kept again with its counts
                    continue
                self.token_counts[split] = counts
            placed.add((name, split))
        return placed

    def add(
        self,
        name: str,
        split: str,
        table: pa.Table,
        *,
        unchecked: pa.Table | None = None,
    ) -> None:
        """Take ``table`` (rows of ``name``/``split``, in order): validated and written with
        the pieces of its batch (:data:`VALIDATE_ROWS`), at the latest by :meth:`complete`.
        ``unchecked``: the only rows of ``table`` to validate (:attr:`Piece.unchecked`; the
        others a build has validated already), None: all of them."""
        key = (name, split)
        self._writer(name, split)
        if table.num_rows == 0:
            # An empty piece adds no row: validated once (its columns), as an empty split was.
            if key not in self.empty_seen:
                self.empty_seen.add(key)
                self._validate_and_write(key, [Piece(table)])
            return
        batch = self.batches.setdefault(key, [])
        batch.append(Piece(table, unchecked))
        self.held[key] = self.held.get(key, 0) + table.nbytes
        if (
            sum(p.table.num_rows for p in batch) >= VALIDATE_ROWS
            or self.held[key] >= VALIDATE_BYTES
        ):
            self._flush(key)
        while sum(self.held.values()) > VALIDATE_HELD_BYTES:
            self._flush(max(self.held, key=self.held.__getitem__))

    def _flush(self, key: tuple[str, str]) -> None:
        self.held.pop(key, None)
        batch = self.batches.pop(key, [])
        if batch:
            self._validate_and_write(key, batch)

    def _validate_and_write(self, key: tuple[str, str], batch: list[Piece]) -> None:
        name, split = key
        clock = time.perf_counter()
        unchecked = [
            p.table if p.unchecked is None else p.unchecked
            for p in batch
            if p.unchecked is None or p.unchecked.num_rows
        ]
        if unchecked:
            frame = pl.from_arrow(
                pa.concat_tables(unchecked) if len(unchecked) > 1 else unchecked[0]
            )
            assert isinstance(frame, pl.DataFrame)
            # Validated a batch of whole pieces at a time: every piece holds whole articles
            # and each config's key (schemas/tables.yaml) includes the article, so uniqueness
            # per batch is uniqueness, and an article's rows are valid or not by themselves
            # (which is why a memo's checked rows can be left out).
            self.problems += validate_published(
                frame,
                self.specs.configs[name],
                self.specs,
                self.taxonomy,
                file=data_file(name, split),
            )
            del frame
        clock = self.release.phase_done("validate_published", clock)
        if not self.problems:  # a refused build writes nothing more
            tables = [p.table for p in batch]
            if name == "ner_bio":
                counts = self.token_counts.setdefault(split, TokenCounts(self.taxonomy))
                for table in tables:
                    counts.add(table)
            nbytes = sum(t.nbytes for t in tables)
            future = self._writes.submit(_write_pieces, self.writers[key], tables)
            self._in_flight.append((future, nbytes))
            self._in_flight_bytes += nbytes
            while self._in_flight_bytes > WRITE_AHEAD_BYTES:
                self._wait_oldest()
        self.release.phase_done("write_parquet", clock)

    def _wait_oldest(self) -> None:
        """Wait for the oldest write handed over; its error (a full disk) is raised here."""
        future, nbytes = self._in_flight.popleft()
        self._in_flight_bytes -= nbytes
        spent = future.result()
        busy = self.release.overlapped_seconds
        busy["write_parquet"] = busy.get("write_parquet", 0.0) + spent

    def _wait_all(self) -> None:
        while self._in_flight:
            self._wait_oldest()

    def add_pieces(self, pieces: Iterable[tuple[str, str, pa.Table]]) -> None:
        """:meth:`add` each (config, split, table) as it comes; none is held after."""
        for name, split, table in pieces:
            self.add(name, split, table)

    def complete(self) -> None:
        """Every split of every config has had its pieces: the batches still held are
        validated and written, and a split that got none (no annotation at all: DuckDB
        yields no batch) is an empty table, validated as every empty split was."""
        for key in list(self.batches):
            self._flush(key)
        for name in self.specs.configs:
            for split in self.specs.splits_of(name, SPLITS):
                if (name, split) not in self.writers:
                    empty = self.schemas[name].empty_table().replace_schema_metadata()
                    self.add(name, split, empty)

    def close(self) -> tuple[dict[str, dict[str, pa.Table]], dict[str, dict[str, tuple[int, int]]]]:
        """Finish every file; (config -> split -> table read back from its file, or the empty
        table when the split has no rows; config -> split -> (rows, bytes) of its file)."""
        clock = time.perf_counter()
        self._wait_all()
        self._writes.shutdown()
        tables: dict[str, dict[str, pa.Table]] = {}
        sizes: dict[str, dict[str, tuple[int, int]]] = {}
        # In schemas/tables.yaml's order of configs and io.config's of splits, as the card,
        # Croissant and the CLI list them (not the order the rows were produced in).
        order = {name: i for i, name in enumerate(self.specs.configs)}
        split_order = {s: i for i, s in enumerate((*SPLITS, self.specs.unsplit))}
        for name, split in sorted(self.writers, key=lambda k: (order[k[0]], split_order[k[1]])):
            writer = self.writers[(name, split)]
            if name == "ner_bio" and split in self.token_counts and not writer.reused:
                writer.extra = self.token_counts[split].to_json()  # for placing it again
            written = writer.close()
            tables.setdefault(name, {})
            sizes.setdefault(name, {})
            self.release.rows.setdefault(name, {})
            if written is None:
                # datasets cannot load a split with no rows ("corresponds to no data"),
                # so an empty split is left out of the files and the card's YAML, and out
                # of the rows a release records: `verify` compares the splits it loads with
                # those (a release with an empty split failed `verify` of its own build).
                tables[name][split] = self.schemas[name].empty_table().replace_schema_metadata()
                continue
            self.release.rows[name][split] = writer.rows
            self.release.data[data_file(name, split)] = written
            sizes[name][split] = (written.rows, written.size)
            # Duck-typed: the card reads columns of it as of a pa.Table (ParquetTable).
            tables[name][split] = cast(pa.Table, ParquetTable(writer.path))
            if writer.reused:
                self.release.reused_files.append(data_file(name, split))
        if self.store is not None:
            self.store.save()  # every file is complete: they are the ones the next build keeps
        self.release.phase_done("write_parquet", clock)
        return tables, sizes

    def abort(self) -> None:
        self.batches.clear()
        self.held.clear()
        # No writer is closed under the thread: the writes not started are dropped, the one
        # running finishes (its error, if any, is moot: the staging folder is discarded).
        for future, _ in self._in_flight:
            future.cancel()
        self._in_flight.clear()
        self._in_flight_bytes = 0
        self._writes.shutdown(wait=True)
        for writer in self.writers.values():
            writer.abort()


def render_release(
    paths: ProjectPaths, settings: Settings, into: Path | None = None, *, release_note: bool = True
) -> BuiltRelease:
    """Validate the inputs, write the data files under ``into`` and render the other files.

    ``release_note``: the card's version line says when this build is not the release its
    version names (:func:`~sahelwire.release.card.metadata.version_section`); off for
    DATASET_CARD.md, whose generated parts must not depend on which releases/ a checkout
    holds (a copy without it rendered another card).

    The Parquet files are streamed to ``into`` (default: a temporary folder removed with the
    returned object) as their rows are produced; the card, Croissant, plots and checksums are
    held in ``BuiltRelease.small``. Nothing else is written. Everything validation parsed
    (exports, gold layer) is reused: each export is parsed exactly once per build. The raw
    texts are not held: each is read again when used and refused (:class:`BuildRefused`)
    unless its bytes are the ones validated (issue 17 item 3).
    """
    own = into is None
    root = Path(tempfile.mkdtemp(prefix="sahelwire-release-")) if into is None else into
    release = BuiltRelease(root=root, release_note=release_note)
    if own:
        weakref.finalize(release, shutil.rmtree, root, True)
    try:
        try:
            with rare_collections():
                _render(paths, settings, release)
        except TextChanged as exc:
            # A text edited under the build: refused like any invalid input, nothing kept.
            raise BuildRefused([exc.problem]) from None
    except BaseException:
        if own:
            shutil.rmtree(root, ignore_errors=True)
        raise
    return release


def _render(paths: ProjectPaths, settings: Settings, release: BuiltRelease) -> None:
    # Read first: a wrong setting is refused before minutes of parsing, not after.
    memory_limit = build_memory_limit(settings)
    # Everything the build spills (inputs, DuckDB's spill, the sorts) is under one folder,
    # which a killed build's successor removes (io.scratch).
    with scratch_dir(paths.tmp_dir, "sahelwire-build-") as scratch:
        if settings.build_engine != "duckdb":
            _render_from(paths, settings, release, memory_limit, None, scratch)
            return
        # annotations_raw's sources and the gold are written as the inputs are read, a chunk
        # of export files at a time, and each chunk's rows let go (issue 17 item 3).
        (scratch / "inputs").mkdir()
        sink = InputSink(
            scratch / "inputs", load_table_specs(paths.tables_file), RawRowCache.for_project(paths)
        )
        try:
            _render_from(paths, settings, release, memory_limit, sink, scratch)
        finally:
            sink.abort()


class InputSink:
    """Each chunk of the inputs, as validation has it, to disk: the per-annotator and
    prediction rows to ``annotations_raw``'s sources, the gold to :class:`GoldFiles`."""

    def __init__(self, folder: Path, specs: TableSpecs, memo: RawRowCache | None = None) -> None:
        from sahelwire.release.columnar import RawSourceSink

        (folder / "raw").mkdir()
        # memo: annotations_raw's rows kept per article; it keys each chunk's rows as they pass.
        self.memo = memo
        # One thread writes both sinks' files while the next chunk is parsed and adjudicated
        # (the writes were ≈10% of a rebuild's inputs phase, inline; py-spy at 100k).
        self.writes = OrderedWrites("sahelwire-input-write")
        self.raw = RawSourceSink(
            folder / "raw", specs, memo.note if memo is not None else None, self.writes
        )
        self.gold = GoldFiles(folder, self.writes)

    def add(self, layers: AnnotationLayers) -> None:
        # The last chunk's rows written first: one chunk's rows at most wait for the thread.
        self.writes.wait()
        self.raw.add(layers)
        self.gold.add(layers.gold)

    def abort(self) -> None:
        self.raw.abort()
        self.gold.abort()
        self.writes.close()


def _render_from(
    paths: ProjectPaths,
    settings: Settings,
    release: BuiltRelease,
    memory_limit: str | None,
    sink: InputSink | None,
    scratch: Path,
) -> None:
    """Render into ``release``; ``scratch``: the build's own folder for what it spills."""
    clock = time.perf_counter()
    peak_rss_mb()  # the first phase's peak starts here, not at the process's
    plan = plan_release(paths, settings, raw_sink=sink.add if sink is not None else None)
    if sink is not None:
        sink.gold.finish()
    clock = release.phase_done("parse_and_validate_inputs", clock)
    validated, articles, clusters, splits = (
        plan.validated,
        plan.articles,
        plan.clusters,
        plan.splits,
    )
    pinned_from, pinned = plan.pinned_from, plan.pinned
    # Only the locals hold the inputs from here, so `del` below frees them.
    del plan
    taxonomy, specs = validated.taxonomy, validated.specs
    # Gold on disk when the sink took it (the layers then hold its status only).
    gold: GoldSource = sink.gold if sink is not None else validated.layers.gold
    shapes = ShapeBuilder(specs, taxonomy)
    # The card sections that read the inputs are rendered now, so that texts, per-annotator
    # tables and gold can be freed as soon as the published tables exist.
    annotation_facts = AnnotationFacts.from_layers(validated.layers, paths.decisions_dir, settings)
    date = data_date(validated.layers)
    early = {
        "annotation": annotation_section(
            validated.layers,
            _agreement(paths, validated.layers, taxonomy, settings.agreement_min_articles),
            annotation_facts.starting_points(validated.layers),
        ),
        "provenance": provenance_section(annotation_facts),
        "baseline": render_markdown(
            baseline_report_for(
                articles,
                _baseline_gold(gold, CARD_BASELINE_ARTICLES),
                validated.registries,
                taxonomy,
                limit=CARD_BASELINE_ARTICLES,
                memo=PredictionCache.for_project(paths, validated.registries, taxonomy),
            )
        ),
    }
    clock = release.phase_done("card_sections_from_inputs", clock)
    # Producing rows, validating and writing them are interleaved now; each is timed apart
    # (published_tables is what remains), the phases listed in pipeline order.
    for phase in ("published_tables", "validate_published", "write_parquet"):
        release.seconds[phase] = 0.0
    published = _Published(release.root, release, shapes, specs, ParquetStore.for_project(paths))
    n_articles = len(articles)
    article_cache = ArticleRowCache.for_project(paths, taxonomy, specs)
    try:
        bio_stats = _publish_tables(
            published,
            shapes,
            validated,
            articles,
            splits,
            clusters,
            engine=settings.build_engine,
            spill_dir=scratch,
            memory_limit=memory_limit,
            article_cache=article_cache,
            gold=gold,
            raw_sink=sink.raw if sink is not None else None,
            raw_memo=sink.memo if sink is not None else None,
            span_fingerprint=_span_fingerprint(paths) if sink is not None else None,
        )
        del articles, validated
        published.complete()
        if published.problems:
            raise BuildRefused(published.problems)
        if article_cache is not None:
            article_cache.validated()  # every row it gave is valid: not validated again
        if sink is not None and sink.memo is not None:
            sink.memo.validated()  # and annotations_raw's
        tables, sizes = published.close()
    except BaseException:
        published.abort()
        raise
    features = published.features
    release.seconds["published_tables"] = (
        time.perf_counter()
        - clock
        - release.seconds.get("validate_published", 0.0)
        - release.seconds.get("write_parquet", 0.0)
    )
    # The three interleave (a chunk is made, validated, written): one peak for them all.
    interleaved = ("published_tables", "validate_published", "write_parquet")
    together = max([release.peak_rss_mb.get(p, 0.0) for p in interleaved] + [peak_rss_mb() or 0.0])
    if together:
        release.peak_rss_mb.update(dict.fromkeys(interleaved, together))
    clock = time.perf_counter()
    # Started here, not before the published tables: at 1M the build's peak is in those,
    # and the worker's interpreter (≈65 MB) would add to it. Its start (≈0.3 s at 10k)
    # overlaps the plots' inputs and the card's facts.
    plotter = PlotWorker() if n_articles >= PLOT_WORKER_ARTICLES else None
    try:
        documents = tables["documents"]
        documents_digests = _file_digests(release, tables, ("documents",))
        lengths = kept_article_lengths(paths, documents, documents_digests)
        counts = kept_label_counts(paths, documents, taxonomy, documents_digests)
        plots = plot_inputs(taxonomy, counts, lengths)
        if plotter is not None:
            plotter.send(plots)  # drawn there while the card's text is rendered here
        registry = tables["entity_registry"].get(specs.unsplit)
        facts = DatasetFacts(
            summary=summary(annotation_facts, sum(t.num_rows for t in documents.values())),
            date=date,
            annotation=annotation_facts,
            disagreements=disagreeing_figures(tables["quantities"], taxonomy, clusters),
            organisations=kept_organisations(
                paths,
                documents,
                registry,
                taxonomy,
                _file_digests(release, tables, ("documents", "entity_registry")),
            ),
            files={name: (f.size, f.sha256) for name, f in release.data.items()},
        )
        release.small[CROISSANT_FILE] = croissant_bytes(
            settings,
            taxonomy,
            specs,
            tables,
            {name: list(by_split) for name, by_split in sizes.items()},
            {name: class_label_names(f) for name, f in features.items()},
            facts,
        )
        release.small[LICENSE_FILE] = license_file(
            documents, settings.hub_repo_id, settings.data_version
        ).encode()
        info = DatasetInfoText(
            version=settings.data_version,
            summary=facts.summary,
            citation=citation(settings, date),
            license=LICENSE_SUMMARY,
            homepage=f"https://huggingface.co/datasets/{settings.hub_repo_id}",
            annotations_creators=annotations_creators(annotation_facts),
        )
        released = (
            released_files(
                paths.root, paths.release_manifest(settings.data_version), settings.data_version
            )
            if release.release_note
            else None
        )
        data_files = {name: (f.size, f.sha256) for name, f in release.data.items()}
        version_line = version_section(settings.data_version, released, data_files)
        release.small["README.md"] = render_card_text(
            paths,
            features,
            specs,
            sizes,
            info,
            sections={
                "provenance": lambda: early["provenance"],
                "figures": lambda: figures_section(facts.disagreements),
                "outlets": lambda: outlets_section(documents, facts.organisations),
                # Read from events, mentions, folds and documents alone: kept while they are
                # placed unchanged (≈15 s of a 1M rebuild's card, py-spy).
                "leakage": lambda: kept(
                    paths,
                    LEAKAGE,
                    "sahelwire.release.card.data_sections",
                    [
                        settings.hub_repo_id,
                        specs.unsplit,
                        *_file_digests(
                            release, tables, ("events", "mentions", "folds", "documents")
                        ),
                    ],
                    lambda: leakage_section(tables, settings.hub_repo_id, specs.unsplit),
                    TEXT,
                ),
                "ner_bio": lambda: ner_bio_section(
                    bio_stats,
                    tables["ner_bio"],
                    published.token_counts,
                    value_counts(documents.values(), "n_annotators").get(0, 0),
                ),
                "examples": lambda: examples_section(tables, features),
                "licensing": lambda: licensing_text(documents, settings.hub_repo_id),
                "taxonomy": lambda: taxonomy_section(taxonomy),
                "fields": lambda: fields_section(specs),
                "splits": lambda: splits_section(settings, clusters, splits, pinned_from, pinned),
                "statistics": lambda: statistics_section(
                    tables, taxonomy, specs.unsplit, plots.counts
                ),
                "version": lambda: version_line,
                "plots": lambda: plots_section(lengths),
                "croissant": lambda: croissant_section(settings),
                "how_to_load": lambda: how_to_load_section(
                    settings,
                    specs.configs,
                    sizes,
                    exact_pins(paths.pyproject, RESEARCHER_PACKAGES),
                ),
                "citation": lambda: citation_section(settings, date),
                "annotation": lambda: early["annotation"],
                "baseline": lambda: early["baseline"],
            },
        ).encode()
        card = release.small["README.md"]
        if released is not None and hashlib.sha256(card).hexdigest() != released.get("README.md"):
            # Not the release's card: its version line says so (only that line changes).
            noted = version_section(settings.data_version, released, data_files, card_differs=True)
            block = "<!-- sahelwire:begin version -->\n"
            card = card.replace(f"{block}{version_line}".encode(), f"{block}{noted}".encode(), 1)
            release.small["README.md"] = card
        release.small.update(plotter.result() if plotter is not None else render_plots(plots))
    finally:
        if plotter is not None:
            plotter.close()
    digests = {name: sha256 for name, (_, sha256) in release.digests().items()}
    release.small[CHECKSUMS] = checksums(digests).encode()
    release.phase_done("metadata_card_plots_croissant", clock)


def _file_digests(
    release: BuiltRelease, tables: Mapping[str, Mapping[str, Any]], configs: tuple[str, ...]
) -> list[str]:
    """The name and sha256 of every data file of ``configs`` (as written or placed): the
    key of what the card keeps from them (``card.kept``)."""
    names = sorted(data_file(config, split) for config in configs for split in tables[config])
    # A split without rows has no file (its table is empty): named as such in the key.
    return [
        f"{name} {release.data[name].sha256}" if name in release.data else f"{name} none"
        for name in names
    ]


def _baseline_gold(gold: GoldSource, limit: int) -> GoldLayer:
    """What ``baseline_report_for`` reads of the gold: every article's status, and the
    regions of the articles it scores (its fixed sample)."""
    with_gold = gold.status.filter(pl.col("n_annotators") >= 1)["article_id"].to_list()
    sample = gold_of(gold, sample_ids(set(with_gold), limit))
    return GoldLayer(sample.regions, sample.relations, sample.choices, gold.status)


def _span_fingerprint(paths: ProjectPaths) -> str | None:
    """The span SQL's code fingerprint (``columnar_spans`` and its imports, the versions with
    DuckDB's, ``schemas/``), or None when the memos are off or the code cannot be read."""
    import duckdb

    # Named through memo_keys (whose own code a fingerprint must cover), the spans' code as
    # ``also``: columnar_spans does not import memo_keys. The published rows' validation is
    # in it too (as in the article memo's): a placed file is not validated again, so a change
    # to the rules must make it again.
    return memo_fingerprint(
        paths,
        "sahelwire.annotations.memo_keys",
        f"duckdb {duckdb.__version__}",
        f"pandera {pandera.__version__}",
        also=("sahelwire.release.columnar_spans", VALIDATION_MODULE),
    )


def _agreement(
    paths: ProjectPaths, layers: AnnotationLayers, taxonomy: Taxonomy, min_articles: int
) -> dict[str, Any]:
    """The card's agreement report: the last build's when it read the same frames
    (``annotations.agreement_cache``), else computed, nervaluate's span error classes
    memoised per article; computed plainly with the memos off."""
    memo = AgreementReportCache.for_project(paths, taxonomy)
    report = agreement_report if memo is None else memo.report
    return report(
        layers.annotations,
        layers.regions,
        layers.choices,
        taxonomy,
        relations=layers.relations,
        min_articles=min_articles,
    )


# DuckDB's memory for the annotations_raw sort, as a share of this machine's memory; past it
# the sort spills to disk (under .sahelwire/tmp). A fixed 2GB (and 4GB) was too little for
# the 100k sort, while the parsed frames are let go before it (docs/benchmarks.md).
DUCKDB_MEMORY_SHARE = 0.5
# Sets that limit for one build: DuckDB refuses a sort that needs more than its limit even
# with the spill folder, so a user must be able to raise it (or lower it).
DUCKDB_MEMORY_ENV = "SAHELWIRE_DUCKDB_MEMORY"
_MEMORY_SIZE = re.compile(r"\d+(\.\d+)?\s*(KB|MB|GB|TB|KiB|MiB|GiB|TiB)")


class BuildEnvironmentError(Exception):
    """The build cannot run as this environment asks (exit 2): nothing was written."""


def build_memory_limit(settings: Settings) -> str | None:
    """DuckDB's memory limit for this build (None with the polars engine), read from the
    environment; `validate` reads it too, so it refuses what the build would
    (BuildEnvironmentError)."""
    return duckdb_memory_limit() if settings.build_engine == "duckdb" else None


def duckdb_memory_limit() -> str:
    """``SAHELWIRE_DUCKDB_MEMORY`` (e.g. ``4GB``), else :data:`DUCKDB_MEMORY_SHARE` of the
    machine's physical memory."""
    raw = os.environ.get(DUCKDB_MEMORY_ENV, "").strip()
    if not raw:
        total = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
        return f"{int(total * DUCKDB_MEMORY_SHARE) // 2**20}MB"
    if not _MEMORY_SIZE.fullmatch(raw):
        raise BuildEnvironmentError(
            f"{DUCKDB_MEMORY_ENV}={raw!r} is not a memory size such as 512MB or 4GB"
        )
    return raw


def _without_per_annotator(layers: AnnotationLayers) -> AnnotationLayers:
    """The layers with the per-annotator and prediction frames dropped.

    They live on in annotations_raw only (the card facts were read from them before), so
    they are let go before the other configs are built: at 10k the predictions' results
    alone are the largest frame (1.3M rows).
    """
    empty = pl.DataFrame()
    return dataclasses.replace(
        layers,
        regions=empty,
        relations=empty,
        choices=empty,
        predictions=None,
        prediction_results=None,
    )


def _publish_tables(
    published: _Published,
    shapes: ShapeBuilder,
    validated: ValidatedInputs,
    articles: list[Article],
    splits: dict[str, str],
    clusters: dict[str, str],
    *,
    engine: str = "polars",
    spill_dir: Path,
    memory_limit: str | None = None,
    article_cache: ArticleRowCache | None = None,
    gold: GoldSource | None = None,
    raw_sink: RawSourceSink | None = None,
    raw_memo: RawRowCache | None = None,
    span_fingerprint: str | None = None,
) -> BioStats:
    """Produce every config's rows and hand them to ``published`` as they come.

    ``raw_sink``: has had every chunk's per-annotator rows (``validate_inputs``), which
    ``validated.layers`` then no longer hold; else they are written from the layers here.
    ``gold``: where the gold is (default the layers'; on disk when the sink took it).
    ``raw_memo``: has keyed the sink's rows per article; DuckDB then sorts the changed
    articles' rows only and the others' are read back from it.
    ``span_fingerprint``: the span SQL's code fingerprint (None: memos off), with which its
    files are placed from their sources (``columnar_spans.span_source_digests``).
    """
    gold = validated.layers.gold if gold is None else gold
    builder = ReleaseTableBuilder(shapes, article_cache)
    layers = validated.layers
    empty = pl.DataFrame()
    made: frozenset[str] = frozenset()  # the configs made by SQL
    if engine == "duckdb":
        from sahelwire.release.columnar import duckdb_raw_batches, write_raw_sources
        from sahelwire.release.columnar_spans import (
            SPAN_CONFIGS,
            duckdb_span_pieces,
            span_source_digests,
        )

        spill_dir.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryDirectory(prefix="sahelwire-raw-", dir=spill_dir) as folder:
            # The per-annotator frames go to disk and are let go before DuckDB sorts them:
            # they, their Arrow copies and the sort were the build's peak (issue 17 item 3).
            raw_schema = builder.raw_schema()
            if raw_sink is not None:
                to_sort = splits if raw_memo is None else raw_memo.plan(splits, raw_schema)
                sources = raw_sink.finish(to_sort)
            else:
                raw_memo = None  # it keys the sink's rows
                sources = write_raw_sources(layers, splits, validated.specs, Path(folder))
            validated.layers = _without_per_annotator(layers)
            del layers
            batches = duckdb_raw_batches(
                sources,
                raw_schema,
                spill_dir=spill_dir,
                memory_limit=memory_limit or duckdb_memory_limit(),
                few_articles=raw_memo is not None and raw_memo.few_to_sort,
            )
            # A split whose articles all have the keys of the last build's file is placed
            # from it (the memo gives the same rows); the others are written without a
            # digest of every row group: with other keys they are other rows (but for a
            # source column annotations_raw leaves out), and the file was placed only when
            # every group matched.
            raw_placed = (
                published.place(raw_memo.source_digests(), group_digests=False)
                if raw_memo is not None
                else set()
            )
            # (split, rows, the rows still to validate: none when a build validated them all)
            pieces = (
                raw_memo.merge(batches)
                if raw_memo is not None
                else ((split, batch, batch) for split, batch in batches)
            )
            for split, batch, to_check in pieces:
                if ("annotations_raw", split) in raw_placed:
                    continue  # still read by the merge (a new memo pack holds them too)
                published.add("annotations_raw", split, batch, unchecked=to_check)
        # mentions, events and quantities from SQL, written piece by piece as DuckDB's
        # batches come (whole, the three were the published phase's peak at 100k);
        # chunk_tables then leaves them out.
        placed: set[tuple[str, str]] = set()
        if span_fingerprint is not None and isinstance(gold, GoldFiles):
            # Files made from the same gold, articles and code as the last build's: placed,
            # and the SQL runs only for the configs still to make (none after a change that
            # leaves the gold as it was).
            placed = published.place(span_source_digests(gold, articles, splits, span_fingerprint))
        to_make = [name for name in SPAN_CONFIGS if any((name, s) not in placed for s in SPLITS)]
        if to_make:
            pieces = duckdb_span_pieces(
                gold,
                articles,
                splits,
                validated.taxonomy,
                {
                    name: shapes.arrow_schema(validated.specs.configs[name], published=True)
                    for name in to_make
                },
                to_make,
                spill_dir=spill_dir,
                memory_limit=memory_limit or duckdb_memory_limit(),
            )
            published.add_pieces(
                (name, split, table) for name, split, table in pieces if (name, split) not in placed
            )
        made = frozenset(SPAN_CONFIGS)
        return_freed_memory()
        raw = empty  # annotations_raw is done: the other configs do not read inputs.raw
    else:
        raw = raw_frame(layers)
        validated.layers = _without_per_annotator(layers)
        del layers
        for split, table in builder.raw_tables(raw, splits, builder.raw_schema()).items():
            published.add("annotations_raw", split, table)
        del table
    inputs = ReleaseInputs(articles, splits, clusters, gold, raw.clear(), validated.registries)
    del raw
    for chunk in builder.chunk_tables(inputs, skip=made, place=published.place):
        for name, by_split in chunk.items():
            for split in SPLITS:
                # A file placed from the last build's (published.place) has no pieces.
                for piece in by_split.pop(split, []):
                    published.add(name, split, piece.table, unchecked=piece.unchecked)
        del chunk
    for name, table in builder.unsplit_tables(inputs, published.schemas).items():
        table = table.replace_schema_metadata()
        # A slice at a time, as the per-article configs come: whole, folds' 2 rows per
        # article were validated as one frame (+0.7 GB at 1M, the rebuild's peak). Its key
        # (scheme, article_id) holds once per article by construction (folds.fold_table).
        # An empty table is still added once (max(..., 1)): an empty split is validated too.
        for start in range(0, max(table.num_rows, 1), VALIDATE_ROWS):
            published.add(name, shapes.specs.unsplit, table.slice(start, VALIDATE_ROWS))
    return builder.bio_stats


def render_card_text(
    paths: ProjectPaths,
    features: dict[str, datasets.Features],
    specs: TableSpecs,
    sizes: dict[str, dict[str, tuple[int, int]]],
    info: DatasetInfoText,
    sections: dict[str, Callable[[], str]],
) -> str:
    template = read_card_template(paths.card_template)
    return render_card(template, front_matter(features, specs, sizes, info), sections)


def checksums(digests: Mapping[str, str]) -> str:
    """sha256sum-compatible lines for every file (name -> hex sha256), sorted by name."""
    return "".join(f"{digest}  {name}\n" for name, digest in sorted(digests.items()))


def build(paths: ProjectPaths, settings: Settings, out_dir: Path | None = None) -> BuiltRelease:
    """Build into ``out_dir`` (default dist/), replacing it atomically.

    The data files are streamed into the staging folder; a refused or failed build removes
    it and leaves the previous ``out_dir`` as it was.
    """
    target = out_dir or paths.dist_dir
    clean_stale_staging(target)
    leftovers: list[str] = []
    with staged_directory(target, index=CHECKSUMS, warnings=leftovers) as stage:
        release = render_release(paths, settings, into=stage)
        for name, data in sorted(release.small.items()):
            write_bytes_atomic(stage / name, data)
    release.root = target
    release.warnings += leftovers
    return release


def update_card(paths: ProjectPaths, settings: Settings, *, check: bool) -> bool:
    """Rewrite DATASET_CARD.md's generated parts (or, with ``check``, report drift). True if current."""
    # data files in a temporary folder, then gone; the version line as for a release
    release = render_release(paths, settings, release_note=False)
    rendered = release.small["README.md"].decode()
    current = read_card_template(paths.card_template)
    if rendered == current:
        return True
    if not check:
        write_text_atomic(paths.card_template, rendered)
    return False
