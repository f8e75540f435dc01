"""``sahelwire validate``: every committed table (and dist/ when present) against schemas/.

Checks, in order: the raw manifest and texts, story clusters, registries, the
per-annotator annotation tables from annotations/exports/, the gold layer, and the
published Parquet files with their checksums. Lazy: all problems are collected.
"""

from __future__ import annotations

import contextlib
import dataclasses
import errno
import hashlib
import os
import stat
from collections import OrderedDict
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import polars as pl
import pyarrow.parquet as pq

from sahelwire.annotations.adjudication import decision_file_problems
from sahelwire.annotations.blind_manifest import BLIND_DIR, blind_manifest_paths
from sahelwire.annotations.export_cache import cache_enabled
from sahelwire.annotations.gold_layer import GoldLayer
from sahelwire.annotations.gold_rules import gold_published_problems, gold_span_problems
from sahelwire.annotations.layers import AnnotationLayers, iter_annotation_layers
from sahelwire.annotations.tables import without_unlisted_follow_ons
from sahelwire.io.bulk import rare_collections
from sahelwire.io.config import Settings
from sahelwire.io.file_hashes import FileHashes, StatKey, now_ns, stat_key
from sahelwire.io.paths import CHECKSUMS, ProjectPaths
from sahelwire.io.release_manifests import RULE as MANIFEST_RULE
from sahelwire.io.release_manifests import (
    ManifestDamaged,
    current_release_manifest,
    pinning_release,
    released_splits,
)
from sahelwire.raw.manifest import ManifestError, read_manifest
from sahelwire.release.card.template import CardTemplateError, read_card_template, template_errors
from sahelwire.release.completeness import Finding, completeness_findings
from sahelwire.release.file_rule_cache import FileRuleMemo, source_frames
from sahelwire.release.span_rule_cache import SpanRuleMemo
from sahelwire.release.splits import ClusterFileError, read_story_clusters
from sahelwire.schema.problems import Problem
from sahelwire.schema.publish_rules import check_units
from sahelwire.schema.registries import Registries, load_registries
from sahelwire.schema.span_rules import REALIS_REQUIRED, check_regions, check_relations
from sahelwire.schema.table_specs import TableSpecs, load_table_specs
from sahelwire.schema.table_validation import validate_frame, validate_published
from sahelwire.schema.taxonomy import Taxonomy, load_taxonomy


@dataclass
class ValidationReport:
    problems: list[Problem] = field(default_factory=list)
    checked: dict[str, int] = field(default_factory=dict)  # what -> rows checked
    # Registry proposals annotators typed next to the pickers: for the maintainers to add
    # to schemas/ (or turn down), not errors (annotations.tables).
    proposals: list[dict[str, Any]] = field(default_factory=list)
    # What may be missing from the gold, for the reviewer: listed, never an error.
    warnings: list[Finding] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems


# Texts kept after a read: the span checks and the build ask for one article's text a few
# times in a row (its spans, then its rows of every config), never for many at once.
RECENT_TEXTS = 8


class TextChanged(Exception):
    """A raw text on disk is no longer the one validation read: nothing may publish it."""

    def __init__(self, problem: Problem) -> None:
        super().__init__(f"{problem.file}: {problem.message}")
        self.problem = problem


class _StoredTexts:
    """Reads dataset/raw/texts/<id>.txt again when a text is used, and refuses it unless its
    bytes hash to what validation read (an edit, a removal or a half-written file after
    validation must not reach a release: the texts are not held, issue 17 item 3)."""

    def __init__(self, paths: ProjectPaths) -> None:
        self.paths = paths
        # (id, sha256) -> text: keyed by the hash too, so a duplicated manifest id (reported
        # by validation) never gets the text of its other row unchecked.
        self.recent: OrderedDict[tuple[str, str], str] = OrderedDict()

    def read(self, article_id: str, expected: str) -> str:
        key = (article_id, expected)
        text = self.recent.get(key)
        if text is not None:
            self.recent.move_to_end(key)
            return text
        path = self.paths.raw_text_path(article_id)
        try:
            data: bytes | None = path.read_bytes()
        except OSError:
            data = None
        actual = "missing" if data is None else hashlib.sha256(data).hexdigest()
        if data is None or actual != expected:
            raise TextChanged(
                Problem(
                    _rel(self.paths, path),
                    article_id,
                    "sha256",
                    "stored text matches manifest sha256",
                    actual,
                    message=f"the text changed on disk after it was validated (it had sha256 "
                    f"{expected}); nothing was published: re-run once dataset/raw is settled",
                )
            )
        text = data.decode("utf-8")  # the same bytes decoded when validated
        self.recent[key] = text
        if len(self.recent) > RECENT_TEXTS:
            self.recent.popitem(last=False)
        return text


class ValidTexts(Mapping[str, str]):
    """id -> text of every article whose stored text matched its manifest row, read on use."""

    def __init__(self, stored: _StoredTexts) -> None:
        self.stored = stored
        self.sha: dict[str, str] = {}  # id -> manifest sha256 (the row's own string)

    def __getitem__(self, article_id: str) -> str:
        return self.stored.read(article_id, self.sha[article_id])

    def __contains__(self, article_id: object) -> bool:
        return article_id in self.sha

    def __iter__(self) -> Iterator[str]:
        return iter(self.sha)

    def __len__(self) -> int:
        return len(self.sha)

    def text_sha256(self, article_id: str) -> str | None:
        """sha256 of the text's bytes, unread (it is checked at each read)."""
        return self.sha.get(article_id)


class ReadableTexts(Mapping[str, tuple[str, str]]):
    """id -> (text, manifest sha256) of every decodable text, read on use: the valid ones and
    those whose bytes differ from their row (the export parser says why tasks differ)."""

    def __init__(self, valid: ValidTexts) -> None:
        self.valid = valid
        self.differing: dict[str, tuple[str, str]] = {}  # id -> (manifest, own sha256)

    def __getitem__(self, article_id: str) -> tuple[str, str]:
        other = self.differing.get(article_id)
        if other is not None:
            return self.valid.stored.read(article_id, other[1]), other[0]
        return self.valid[article_id], self.valid.sha[article_id]

    def __contains__(self, article_id: object) -> bool:
        return article_id in self.valid.sha or article_id in self.differing

    def __iter__(self) -> Iterator[str]:
        yield from self.valid.sha
        yield from (aid for aid in self.differing if aid not in self.valid.sha)

    def __len__(self) -> int:
        return sum(1 for _ in self)

    def hashes(self, article_id: str) -> tuple[str, str] | None:
        """(manifest sha256, sha256 of the text's own bytes), unread (None: no such text);
        what annotations.export_cache.text_dependency would hash the text for."""
        other = self.differing.get(article_id)
        if other is not None:
            return other
        sha = self.valid.sha.get(article_id)
        return None if sha is None else (sha, sha)


@dataclass
class RawTexts:
    """What validation read from dataset/raw: the manifest rows and which texts passed.

    ``valid``: id -> text for articles whose stored text matches its manifest row;
    ``readable``: id -> (text, manifest sha256) for every text that could be decoded,
    which is what the export parser checks tasks against (it reports its own problems).
    Both read a text from disk when it is used and check it is the one validated
    (:class:`TextChanged` otherwise): a million texts are ~14 GB as Python strings.
    """

    paths: ProjectPaths
    rows: list[dict[str, Any]] = field(default_factory=list)
    valid: ValidTexts = field(init=False)
    readable: ReadableTexts = field(init=False)

    def __post_init__(self) -> None:
        self.valid = ValidTexts(_StoredTexts(self.paths))
        self.readable = ReadableTexts(self.valid)


@dataclass
class ValidatedInputs:
    """Everything ``validate_project`` parsed, for the build to reuse (parse exports once)."""

    taxonomy: Taxonomy
    specs: TableSpecs
    raw: RawTexts
    clusters: dict[str, str]
    registries: Registries
    layers: AnnotationLayers


# The errors Path.exists() takes for "no such file" (pathlib's _IGNORED_ERRNOS).
_MISSING = frozenset({errno.ENOENT, errno.ENOTDIR, errno.EBADF, errno.ELOOP})


def _rel(paths: ProjectPaths, path: Path) -> str:
    return str(path.relative_to(paths.root)) if path.is_relative_to(paths.root) else str(path)


def validate_raw(
    paths: ProjectPaths, taxonomy: Taxonomy, specs: TableSpecs, report: ValidationReport
) -> Mapping[str, str]:
    """Manifest rows against the schema, and each stored text against its row; returns texts."""
    return read_raw(paths, taxonomy, specs, report).valid


def raw_hashes_folder(paths: ProjectPaths) -> Path:
    """Where the raw texts' hashes are remembered (:mod:`sahelwire.io.file_hashes`)."""
    return paths.state_dir / "cache" / "raw_texts"


def read_raw(
    paths: ProjectPaths, taxonomy: Taxonomy, specs: TableSpecs, report: ValidationReport
) -> RawTexts:
    """:func:`validate_raw`, keeping which texts passed (each is read again when used).

    A text whose stat is the one remembered with its hash (:mod:`sahelwire.io.file_hashes`;
    not with ``SAHELWIRE_EXPORT_CACHE=off``) is not read: its sha256, byte length and length
    in code points are those remembered (a warm build of 1M articles read every raw text,
    ≈5 GB, to find them unchanged). Any other text is read and checked as ever."""
    hashes = FileHashes.load(raw_hashes_folder(paths)) if cache_enabled() else None
    file = _rel(paths, paths.manifest_file)
    raw = RawTexts(paths)
    try:
        rows = read_manifest(paths.manifest_file)
    except ManifestError as exc:
        report.problems.append(Problem(file, None, None, "jsonl", message=str(exc)))
        return raw
    raw.rows = rows
    spec = specs.source["raw_manifest"]
    frame = (
        pl.DataFrame(rows, schema={c.name: _polars(c.type) for c in spec.columns}, strict=False)
        if rows
        else None
    )
    if frame is not None:
        report.problems += validate_frame(frame, spec, taxonomy, file=file)
    sources: list[str] = []  # the texts' paths as remembered (made once: 1M of them)
    # The paths as strings, one stat per text: Path objects, relative_to and a stat for
    # exists() then another for the remembered hash cost ≈145 µs per article, most of a
    # 1M rebuild's input phase. The strings are those of paths.raw_text_path and _rel, cut
    # around an id no article has (a NUL) and joined again around each id.
    full_at = str(paths.raw_text_path("\0")).split("\0")
    source_at = _rel(paths, paths.raw_text_path("\0")).split("\0")
    for row in rows:
        article = str(row.get("id"))
        if ".." in article or "/" in article:
            continue  # already reported by the id pattern; never touch such a path
        source = article.join(source_at)
        full = article.join(full_at)
        try:
            # lstat: ingest stores each text as a regular file; a symlink (which may point out
            # of the repository: git would commit the link, not the text) or a FIFO (a read
            # would block) is refused below, never followed or opened.
            st = os.lstat(full)
            found: StatKey | None = (st.st_size, st.st_ino, st.st_mtime_ns, st.st_ctime_ns)
        except OSError as exc:
            if exc.errno not in _MISSING:
                raise  # as Path.exists() does: only "no such file" means missing
            found = None
        except ValueError:
            found = None  # as Path.exists(): a path the OS cannot take (a NUL) is missing
        if found is None:
            report.problems.append(Problem(file, row.get("id"), "id", "text file exists", source))
            continue
        if not stat.S_ISREG(st.st_mode):
            link = stat.S_ISLNK(st.st_mode)
            report.problems.append(
                Problem(
                    source,
                    row.get("id"),
                    None,
                    "a raw text is a regular file" + (", not a symlink" if link else ""),
                    os.readlink(full) if link else None,
                    "ingest stores each text as a file of its own bytes; a link may point "
                    "anywhere (out of the repository), so it is not followed"
                    if link
                    else "not a regular file in dataset/raw/texts/",
                )
            )
            continue
        sources.append(source)
        known = hashes.known(source, full, found) if hashes is not None else None
        if known is not None and known[0] == row.get("sha256") and known[3] is not None:
            # Unchanged since hashed: the bytes (so their length) and the decoded length
            # are those of then.
            n_chars, n_bytes = known[3], known[1][0]
        else:
            path = Path(full)
            taken = now_ns()
            try:
                before: StatKey | None = stat_key(path)
            except OSError:
                before = None
            data = path.read_bytes()
            own = hashlib.sha256(data).hexdigest()
            if own != row.get("sha256"):
                # The export parser still compares tasks with it (and says why they differ).
                with contextlib.suppress(UnicodeDecodeError, KeyError):
                    data.decode("utf-8")
                    raw.readable.differing[row["id"]] = (row["sha256"], own)
                report.problems.append(
                    Problem(
                        source,
                        row.get("id"),
                        "sha256",
                        "stored text matches manifest sha256",
                        own,
                    )
                )
                continue
            n_chars, n_bytes = len(data.decode("utf-8")), len(data)  # then the text is let go
            del data
            if hashes is not None and before is not None:
                hashes.note(source, own, before, taken, n_chars)
        raw.valid.sha[row["id"]] = row["sha256"]
        if n_chars != row.get("n_chars") or n_bytes != row.get("n_bytes"):
            report.problems.append(
                Problem(file, row.get("id"), "n_chars", "length matches text", row.get("n_chars"))
            )
    if paths.raw_texts_dir.exists():
        # Names, not Path objects: made for every text, they were ≈2 s of a 1M rebuild.
        listed = {f"{r.get('id')}.txt" for r in rows}
        names = os.listdir(paths.raw_texts_dir)
        for name in sorted(n for n in names if n not in listed and not n.startswith(".")):
            orphan = paths.raw_texts_dir / name
            report.problems.append(
                Problem(
                    _rel(paths, orphan),
                    orphan.stem,
                    None,
                    "text listed in manifest",
                    message="re-run `sahelwire ingest` on its source to complete it",
                )
            )
    report.checked["raw_manifest"] = len(rows)
    if hashes is not None:
        hashes.save(sources)
    return raw


def _polars(type_: object) -> Any:
    return {
        "string": pl.Utf8,
        "int64": pl.Int64,
        "int32": pl.Int32,
        "bool": pl.Boolean,
        "float64": pl.Float64,
    }.get(type_ if isinstance(type_, str) else "string", pl.Utf8)


def validate_registries(
    paths: ProjectPaths, taxonomy: Taxonomy, specs: TableSpecs, report: ValidationReport
) -> Registries:
    registries = load_registries(paths)
    for name, frame, path in (
        ("entity_registry", registries.entities, paths.entities_registry),
        ("event_registry", registries.events, paths.events_registry),
    ):
        if frame.height:
            report.problems += validate_frame(
                frame, specs.source[name], taxonomy, file=_rel(paths, path)
            )
        report.checked[name] = frame.height
    return registries


def validate_annotations(
    paths: ProjectPaths,
    layers: AnnotationLayers,
    texts: Mapping[str, str],
    taxonomy: Taxonomy,
    specs: TableSpecs,
    registries: Registries,
    report: ValidationReport,
    *,
    memo: SpanRuleMemo | None = None,
    files: FileRuleMemo | None = None,
) -> None:
    """Add the Problems of ``layers`` (all of the annotations, or one chunk of their export
    files: every rule here is per row or per article) to ``report``; ``report.checked`` adds
    up over chunks. ``memo``: the span rules' memo (default: the project's, written now);
    ``files``: the rules' clean verdicts per export file (release.file_rule_cache): the
    rules then check the rows of the other files only, with the same Problems."""
    report.problems += without_unlisted_follow_ons(paths, layers.problems, report.problems)
    report.proposals += layers.proposals
    for name, frame in source_frames(layers):
        report.checked[name] = report.checked.get(name, 0) + frame.height
    report.checked["gold_regions"] = report.checked.get("gold_regions", 0) + (
        layers.gold.regions.height
    )
    # The span rules skip articles whose rows and text passed them before (same Problems).
    if memo is None:
        memo = SpanRuleMemo.for_project(paths, taxonomy)
    part = files.unchecked(layers, specs) if files is not None else None
    found: list[Problem] = []
    if part is None or _has_rows(part):
        found = _rule_problems(paths, part or layers, texts, taxonomy, specs, registries, memo)
    if found and part is not None:
        # Checked whole: Problems name rows by their place in the chunk, as without the memo.
        found = _rule_problems(paths, layers, texts, taxonomy, specs, registries, memo)
    if files is not None:
        files.checked(not found)
    report.problems += found


def _has_rows(layers: AnnotationLayers) -> bool:
    gold = layers.gold
    return any(frame.height for _, frame in source_frames(layers)) or any(
        frame.height for frame in (gold.regions, gold.relations, gold.choices, gold.status)
    )


def _rule_problems(
    paths: ProjectPaths,
    layers: AnnotationLayers,
    texts: Mapping[str, str],
    taxonomy: Taxonomy,
    specs: TableSpecs,
    registries: Registries,
    memo: SpanRuleMemo | None,
) -> list[Problem]:
    """The Problems every input rule finds in ``layers`` (not the parse's own)."""
    exports = _rel(paths, paths.exports_dir)
    problems: list[Problem] = []
    for name, frame in source_frames(layers):
        if frame.height:
            found = validate_frame(frame, specs.source[name], taxonomy, file=exports)
            if found and "source_file" in frame.columns:
                # Name the export file each bad row came from, not just the folder (only
                # re-run per file on failure: the valid case stays one pass). source_file
                # is already the path from the project root.
                named: list[Problem] = []
                for (source,), part in frame.group_by("source_file", maintain_order=True):
                    named += validate_frame(part, specs.source[name], taxonomy, file=str(source))
                # A rule over the whole table (a repeated id in two files) fails in no file
                # alone: such a failure keeps the folder's name rather than being lost.
                seen = {(p.field, p.rule, repr(p.value)) for p in named}
                found = named + [p for p in found if (p.field, p.rule, repr(p.value)) not in seen]
            problems += found

    def spans(kind: str, regions: pl.DataFrame, **options: Any) -> list[Problem]:
        if memo is None:
            return check_regions(regions, texts, taxonomy, registries, **options)
        return memo.check_regions(kind, regions, texts, taxonomy, registries, **options)

    regions = layers.regions
    skipped = layers.annotations.filter(pl.col("cancelled"))["annotation_id"]
    if skipped.len():
        # A skip holds what the editor showed when the annotator pressed Skip, often the
        # prediction the task started from, whose events have no realis yet (a prediction
        # is checked without that rule too): kept, flagged, in annotations_raw, never gold.
        # Every other rule holds for it (a browser walkthrough: one Skip refused validate,
        # adjudicate and build with 19 missing realis).
        cancelled = pl.col("annotation_id").is_in(skipped.implode())
        problems += [
            p
            for p in spans(
                "cancelled", regions.filter(cancelled), file=exports, file_col="source_file"
            )
            if p.rule != REALIS_REQUIRED
        ]
        regions = regions.filter(~cancelled)
    problems += spans("annotations", regions, file=exports, file_col="source_file")
    problems += check_relations(
        layers.relations, layers.regions, taxonomy, file=exports, file_col="source_file"
    )
    problems += gold_span_problems(
        layers.gold, taxonomy, lambda regions, **options: spans("gold", regions, **options)
    )
    problems += published_view_problems(layers, taxonomy, file=exports)
    return problems


def published_view_problems(
    layers: AnnotationLayers, taxonomy: Taxonomy, *, file: str
) -> list[Problem]:
    """What the published views need (schema.publish_rules): controlled units, one zone per span."""
    return [
        *check_units(layers.regions, taxonomy, file=file),
        *gold_published_problems(layers.gold, taxonomy),
    ]


def validate_dist(
    paths: ProjectPaths, taxonomy: Taxonomy, specs: TableSpecs, report: ValidationReport
) -> None:
    """Checksums, then every Parquet file against its config's published schema."""
    dist = paths.dist_dir
    sums = dist / CHECKSUMS
    if not dist.is_dir():  # a file in its place: said so, not "no checksums file"
        report.problems.append(
            Problem(_rel(paths, dist), None, None, "the build folder is a folder")
        )
        return
    if not sums.exists():
        report.problems.append(Problem(_rel(paths, sums), None, None, "checksums file exists"))
        return
    for line in sums.read_text(encoding="utf-8").splitlines():
        digest, name = line.split(maxsplit=1)
        target = dist / name.lstrip("*")
        actual = hashlib.sha256(target.read_bytes()).hexdigest() if target.exists() else "missing"
        if actual != digest:
            report.problems.append(
                Problem(_rel(paths, target), None, None, "sha256 matches checksums.sha256", actual)
            )
    for name, spec in specs.configs.items():
        # A config or split with no rows has no file (datasets cannot load empty splits).
        for path in sorted((dist / "data" / name).glob("*.parquet")):
            try:
                frame = pl.from_arrow(pq.read_table(path, page_checksum_verification=True))
            except (OSError, ValueError) as exc:  # corrupt file: a finding, not a crash
                report.problems.append(
                    Problem(_rel(paths, path), None, None, "readable parquet", message=str(exc))
                )
                continue
            assert isinstance(frame, pl.DataFrame)
            report.problems += validate_published(
                frame, spec, specs, taxonomy, file=_rel(paths, path)
            )
            report.checked[f"dist:{name}"] = report.checked.get(f"dist:{name}", 0) + frame.height


def validate_project(paths: ProjectPaths, *, include_dist: bool = True) -> ValidationReport:
    """Validate everything committed, and dist/ when it exists; list completeness warnings.

    The warnings are ``validate``'s alone (the build, which runs the same checks, does not
    need them): they are for the reviewer and never change the verdict.
    """
    try:
        with rare_collections():
            report, inputs = validate_inputs(paths, include_dist=include_dist)
        gold = inputs.layers.gold
        report.warnings += completeness_findings(
            gold.regions, gold.relations, inputs.raw.valid, inputs.taxonomy
        )
    except TextChanged as exc:
        # dataset/raw changed while it was being validated: the verdict is that one problem.
        return ValidationReport(problems=[exc.problem])
    return report


BLIND_RULE = "a blind workspace's manifest lists `<sha256>  <path>` lines"


def _check_blind_manifests(paths: ProjectPaths, report: ValidationReport) -> None:
    """The card reads annotations/blind/*.txt (how independence was kept): one it could not
    read is a Problem here, so ``build`` refuses it as ``validate`` does."""
    for path in sorted((paths.annotations_dir / BLIND_DIR).glob("*.txt")):
        if not path.is_file():
            continue
        rel = _rel(paths, path)
        try:
            blind_manifest_paths(path)
        except (OSError, ValueError) as exc:
            report.problems.append(
                Problem(rel, None, None, BLIND_RULE, message=str(exc).replace(str(path), rel))
            )


CARD_RULE = "DATASET_CARD.md is UTF-8 with the marker of every generated part"


def _check_card_template(paths: ProjectPaths, report: ValidationReport) -> None:
    """The build fills DATASET_CARD.md's generated parts last: a card it could not fill is
    a Problem here, so ``validate`` says so and ``build`` refuses before any build work."""
    path = paths.card_template
    rel = _rel(paths, path)
    try:
        errors = template_errors(read_card_template(path))
    except CardTemplateError as exc:
        errors = [str(exc).replace(f"{path}: ", "")]
    report.problems += [Problem(rel, None, None, CARD_RULE, message=e) for e in errors]


def _check_release_manifest(paths: ProjectPaths, report: ValidationReport) -> None:
    """The card compares the build with the release of its data_version (its version line):
    a damaged manifest of that release, or a missing one of a version released, is a
    Problem here, so ``build`` refuses it as ``validate`` does, instead of a card calling
    the build that release without comparing it."""
    version = Settings.load(paths).data_version
    path = paths.release_manifest(version)
    try:
        current_release_manifest(paths.root, path, version)
        # The releases whose articles keep their split (release.splits): the build reads them.
        for before in (False, True):
            path = pinning_release(paths.releases_dir, version, before=before) or path
            released_splits(paths.releases_dir, version, before=before)
    except ManifestDamaged as exc:
        rel = _rel(paths, path)
        message = str(exc).replace(f"{path}: {MANIFEST_RULE}: ", "")
        report.problems.append(Problem(rel, None, None, MANIFEST_RULE, message=message))


def validate_inputs(
    paths: ProjectPaths,
    *,
    include_dist: bool = False,
    raw_sink: Callable[[AnnotationLayers], None] | None = None,
) -> tuple[ValidationReport, ValidatedInputs]:
    """:func:`validate_project`, also returning what it parsed (for ``build`` to reuse).

    ``raw_sink``: handed each chunk's layers (the build writes the per-annotator and
    prediction rows to disk for ``annotations_raw``, and the gold for the published
    configs); the layers returned then keep, of the region, relation and choice rows, only
    those of articles with two or more annotations (what the card's agreement reads), no
    prediction results, and of the gold only its status (:func:`for_agreement`).
    """
    report = ValidationReport()
    taxonomy = load_taxonomy(paths.taxonomy_file)
    specs = load_table_specs(paths.tables_file)
    raw = read_raw(paths, taxonomy, specs, report)
    texts = raw.valid
    clusters: dict[str, str] = {}
    manifest_ids = {str(r.get("id")) for r in raw.rows}
    try:
        # Every id a cluster lists is checked against the manifest's rows (not only the
        # texts that passed: a text that failed is its own Problem, not an unknown id).
        clusters = read_story_clusters(paths.story_clusters_file, texts, known=manifest_ids)
        frame = pl.DataFrame(
            {"article_id": list(clusters), "story_cluster": list(clusters.values())}
        )
        report.problems += validate_frame(
            frame,
            specs.source["story_clusters"],
            taxonomy,
            file=_rel(paths, paths.story_clusters_file),
        )
    except ClusterFileError as exc:
        rel = _rel(paths, paths.story_clusters_file)
        report.problems += [dataclasses.replace(p, file=rel) for p in exc.problems] or [
            Problem(rel, None, None, "one cluster per article", message=str(exc))
        ]
    report.problems += decision_file_problems(paths, manifest_ids)
    registries = validate_registries(paths, taxonomy, specs, report)
    _check_blind_manifests(paths, report)
    _check_card_template(paths, report)
    _check_release_manifest(paths, report)
    # Read, adjudicated and validated a chunk of export files at a time (every rule is per
    # row or per article, and an article is in one file): the per-annotator rows of the whole
    # corpus are never held at once when ``raw_sink`` takes them (issue 17 item 3).
    memo = SpanRuleMemo.for_project(paths, taxonomy)
    if memo is not None:
        memo.deferred = True  # one memo pack for all chunks, as one call writes
    files = FileRuleMemo.for_project(paths, taxonomy)
    parts = []
    for chunk in iter_annotation_layers(paths, taxonomy, texts=raw.readable):
        validate_annotations(
            paths, chunk, texts, taxonomy, specs, registries, report, memo=memo, files=files
        )
        if raw_sink is not None:
            raw_sink(chunk)
            chunk = for_agreement(chunk)
        parts.append(chunk)
        del chunk
    if memo is not None:
        memo.flush()
    if files is not None:
        files.flush()
    layers = combined_layers(parts)
    del parts
    if include_dist and paths.dist_dir.exists():
        validate_dist(paths, taxonomy, specs, report)
    return report, ValidatedInputs(taxonomy, specs, raw, clusters, registries, layers)


def for_agreement(layers: AnnotationLayers) -> AnnotationLayers:
    """``layers`` with only the region, relation and choice rows of articles that two or more
    annotations count for, and of those only the columns ``annotations.agreement`` reads (at
    100k articles, 3.4M region rows whose text, annotator, article and source file strings
    the card never reads); no prediction results, and of the gold only its status (the sink
    took the rest); the annotations and predictions are kept whole.

    Each frame kept is one chunk: the build keeps one such part per chunk of export files
    and joins them at the end (``combined_layers``), without a copy while the columns have
    at most ``annotations.tables.JOIN_MAX_CHUNKS`` chunks. Parts of several chunks each went
    over it at 1M (62 parts), and the copy beside the parts was the inputs phase's peak
    (+457 MiB; one chunk each, the parts also took 227 MiB less: docs/benchmarks.md,
    seventeenth session)."""
    from sahelwire.annotations.adjudication import _latest
    from sahelwire.annotations.agreement import CHOICE_COLUMNS, REGION_COLUMNS, RELATION_COLUMNS

    counted, _ = _latest(layers.annotations) if layers.annotations.height else ({}, [])
    paired = sorted({i for ids in counted.values() if len(ids) >= 2 for i in ids})

    def keep(frame: pl.DataFrame, columns: tuple[str, ...]) -> pl.DataFrame:
        # Every chunk keeps the same columns, so that the chunks' frames join as one.
        frame = frame.select(columns)
        return (
            frame.filter(pl.col("annotation_id").is_in(paired)).rechunk() if frame.height else frame
        )

    results = layers.prediction_results
    gold = GoldLayer.empty()
    return dataclasses.replace(
        layers,
        annotations=layers.annotations.rechunk(),
        predictions=layers.predictions.rechunk() if layers.predictions is not None else None,
        regions=keep(layers.regions, REGION_COLUMNS),
        relations=keep(layers.relations, RELATION_COLUMNS),
        choices=keep(layers.choices, CHOICE_COLUMNS),
        prediction_results=results.clear() if results is not None else None,
        gold=GoldLayer(gold.regions, gold.relations, gold.choices, layers.gold.status),
        files={},
    )


def combined_layers(parts: list[AnnotationLayers]) -> AnnotationLayers:
    """The chunks' layers as one (as :func:`load_annotation_layers` reads them whole): tables
    one after the other without a copy, the gold merged in its order, lists joined."""
    from sahelwire.annotations.adjudication import merged_gold
    from sahelwire.annotations.tables import joined

    if len(parts) == 1:
        return parts[0]

    def whole(name: str) -> pl.DataFrame:
        frames = [getattr(p, name) for p in parts]
        return joined(frames, frames[0].schema)

    def maybe(name: str) -> pl.DataFrame | None:
        frames = [getattr(p, name) for p in parts]
        if any(f is None for f in frames):
            return None
        return joined(frames, frames[0].schema)

    return AnnotationLayers(
        whole("annotations"),
        whole("regions"),
        whole("relations"),
        whole("choices"),
        merged_gold([p.gold for p in parts]),
        problems=[x for p in parts for x in p.problems],
        conflicts=[x for p in parts for x in p.conflicts],
        predictions=maybe("predictions"),
        prediction_results=maybe("prediction_results"),
        proposals=[x for p in parts for x in p.proposals],
    )
