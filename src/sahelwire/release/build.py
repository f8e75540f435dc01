"""``sahelwire build``: raw articles + gold annotations -> the release folder dist/.

dist/README.md (the card), dist/data/<config>/<split>-00000-of-00001.parquet and
dist/checksums.sha256. Inputs are validated first and the outputs after; the folder is
assembled in a staging directory and swapped in with one rename, so an interrupted or
refused build leaves the previous dist/ intact.
"""

from __future__ import annotations

import dataclasses
import hashlib
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import datasets
import polars as pl
import pyarrow as pa

from sahelwire.annotations.agreement import agreement_report
from sahelwire.annotations.baseline import baseline_report_for, render_markdown
from sahelwire.annotations.layers import raw_frame
from sahelwire.io.atomic import (
    clean_stale_staging,
    staged_directory,
    write_bytes_atomic,
    write_text_atomic,
)
from sahelwire.io.config import Settings
from sahelwire.io.paths import ProjectPaths
from sahelwire.raw.manifest import Article
from sahelwire.release.card.data_sections import (
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
    organisations_outside_the_body,
)
from sahelwire.release.card.metadata import citation_section, croissant_section, how_to_load_section
from sahelwire.release.card.plots import plot_files, plots_section
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
from sahelwire.release.ner_bio import BioStats
from sahelwire.release.parquet_files import parquet_bytes, with_hf_features
from sahelwire.release.splits import assign_splits, read_story_clusters
from sahelwire.release.tables import ReleaseInputs, ReleaseTableBuilder
from sahelwire.release.validation import RawTexts, ValidatedInputs, validate_inputs
from sahelwire.schema.problems import Problem
from sahelwire.schema.table_specs import ShapeBuilder, TableSpecs
from sahelwire.schema.table_validation import validate_published

# The card scores the pre-annotation baseline on at most this many articles with gold (a
# fixed sample, stated in the card): predicting costs milliseconds per article, which
# would otherwise dominate large builds. `sahelwire baseline` scores every article.
CARD_BASELINE_ARTICLES = 250


class BuildRefused(Exception):
    """Inputs or outputs failed validation; dist/ was left as it was."""

    def __init__(self, problems: list[Problem]) -> None:
        super().__init__(f"{len(problems)} validation problem(s)")
        self.problems = problems


@dataclass
class BuiltRelease:
    """Everything a build produces, in memory: file name -> bytes, plus row counts."""

    files: dict[str, bytes] = field(default_factory=dict)
    rows: dict[str, dict[str, int]] = field(default_factory=dict)
    # Wall-clock seconds per phase, for scripts/bench.py: the targets are stated per
    # phase (validation, writing splits and metadata), not for the build as a whole.
    seconds: dict[str, float] = field(default_factory=dict)

    def phase_done(self, name: str, since: float) -> float:
        """Record the seconds since ``since`` under ``name``; returns now for the next phase."""
        now = time.perf_counter()
        self.seconds[name] = self.seconds.get(name, 0.0) + now - since
        return now


def data_file(config: str, split: str) -> str:
    return f"data/{config}/{split}-00000-of-00001.parquet"


def articles_from(raw: RawTexts) -> list[Article]:
    """The validated manifest articles with their texts, sorted by id (as load_articles)."""
    return [
        Article(id=row["id"], text=raw.valid[row["id"]], sha256=row["sha256"], meta=row)
        for row in sorted(raw.rows, key=lambda r: r["id"])
    ]


def render_release(paths: ProjectPaths, settings: Settings) -> BuiltRelease:
    """Validate the inputs and produce every release file in memory (nothing written).

    Everything validation parsed (texts, exports, gold layer) is reused: each input file
    is read and each export parsed exactly once per build.
    """
    release = BuiltRelease()
    clock = time.perf_counter()
    report, validated = validate_inputs(paths, include_dist=False)
    if not report.ok:
        raise BuildRefused(report.problems)
    clock = release.phase_done("parse_and_validate_inputs", clock)
    taxonomy, specs = validated.taxonomy, validated.specs
    shapes = ShapeBuilder(specs, taxonomy)
    articles = articles_from(validated.raw)
    clusters = read_story_clusters(paths.story_clusters_file, [a.id for a in articles])
    splits = assign_splits(clusters, settings.split_ratios, settings.split_seed)
    # The card sections that read the inputs are rendered now, so that texts, per-annotator
    # tables and gold can be freed as soon as the published tables exist.
    annotation_facts = AnnotationFacts.from_layers(validated.layers, paths.decisions_dir)
    date = data_date(validated.layers)
    early = {
        "annotation": annotation_section(
            validated.layers,
            agreement_report(
                validated.layers.annotations,
                validated.layers.regions,
                validated.layers.choices,
                taxonomy,
                relations=validated.layers.relations,
                min_articles=settings.agreement_min_articles,
            ),
        ),
        "provenance": provenance_section(annotation_facts),
        "baseline": render_markdown(
            baseline_report_for(
                articles,
                validated.layers.gold,
                validated.registries,
                taxonomy,
                limit=CARD_BASELINE_ARTICLES,
            )
        ),
    }
    clock = release.phase_done("card_sections_from_inputs", clock)
    tables, bio_stats = _published_tables(
        shapes, validated, articles, splits, clusters, engine=settings.build_engine
    )
    del articles, validated
    clock = release.phase_done("published_tables", clock)

    problems: list[Problem] = []
    sizes: dict[str, dict[str, tuple[int, int]]] = {}
    features = {name: shapes.features(spec) for name, spec in specs.configs.items()}
    for name, by_split in tables.items():
        sizes[name] = {}
        release.rows[name] = {}
        for split, table in by_split.items():
            frame = pl.from_arrow(table)
            assert isinstance(frame, pl.DataFrame)
            problems += validate_published(
                frame, specs.configs[name], specs, taxonomy, file=data_file(name, split)
            )
            clock = release.phase_done("validate_published", clock)
            release.rows[name][split] = table.num_rows
            if table.num_rows == 0:
                # datasets cannot load a split with no rows ("corresponds to no data"),
                # so an empty split is left out of the files and the card's YAML.
                continue
            data = parquet_bytes(with_hf_features(table, features[name]))
            release.files[data_file(name, split)] = data
            sizes[name][split] = (table.num_rows, len(data))
            clock = release.phase_done("write_parquet", clock)
    if problems:
        raise BuildRefused(problems)
    documents = tables["documents"]
    registry = tables["entity_registry"].get(specs.unsplit)
    facts = DatasetFacts(
        summary=summary(annotation_facts, sum(t.num_rows for t in documents.values())),
        date=date,
        annotation=annotation_facts,
        disagreements=disagreeing_figures(tables["quantities"], taxonomy, clusters),
        organisations=organisations_outside_the_body(documents, registry, taxonomy),
        files={k: v for k, v in release.files.items() if k.startswith("data/")},
    )
    release.files.update(plot_files(documents, taxonomy))
    release.files[CROISSANT_FILE] = croissant_bytes(
        settings,
        taxonomy,
        specs,
        tables,
        {name: list(by_split) for name, by_split in sizes.items()},
        {name: class_label_names(f) for name, f in features.items()},
        facts,
    )
    release.files[LICENSE_FILE] = license_file(
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
    release.files["README.md"] = render_card_text(
        paths,
        features,
        specs,
        sizes,
        info,
        sections={
            "provenance": lambda: early["provenance"],
            "figures": lambda: figures_section(facts.disagreements),
            "outlets": lambda: outlets_section(documents, facts.organisations),
            "leakage": lambda: leakage_section(tables, settings.hub_repo_id, specs.unsplit),
            "ner_bio": lambda: ner_bio_section(bio_stats, tables["ner_bio"], taxonomy),
            "examples": lambda: examples_section(tables, features),
            "licensing": lambda: licensing_text(documents, settings.hub_repo_id),
            "taxonomy": lambda: taxonomy_section(taxonomy),
            "fields": lambda: fields_section(specs),
            "splits": lambda: splits_section(settings, clusters, splits),
            "statistics": lambda: statistics_section(tables, taxonomy, specs.unsplit),
            "version": lambda: f"Data version **{settings.data_version}**.\n",
            "plots": lambda: plots_section(tables["documents"]),
            "croissant": lambda: croissant_section(settings),
            "how_to_load": lambda: how_to_load_section(settings, specs.configs, sizes),
            "citation": lambda: citation_section(settings, date),
            "annotation": lambda: early["annotation"],
            "baseline": lambda: early["baseline"],
        },
    ).encode()
    release.files["checksums.sha256"] = checksums(release.files).encode()
    release.phase_done("metadata_card_plots_croissant", clock)
    return release


def _published_tables(
    shapes: ShapeBuilder,
    validated: ValidatedInputs,
    articles: list[Article],
    splits: dict[str, str],
    clusters: dict[str, str],
    *,
    engine: str = "polars",
) -> tuple[dict[str, dict[str, pa.Table]], BioStats]:
    builder = ReleaseTableBuilder(shapes)
    layers = validated.layers
    empty = pl.DataFrame()
    made: dict[str, dict[str, pa.Table]] = {}
    if engine == "duckdb":
        from sahelwire.release.columnar import duckdb_raw_tables
        from sahelwire.release.columnar_spans import SPAN_CONFIGS, duckdb_span_tables

        raw_tables = duckdb_raw_tables(layers, splits, validated.specs, builder.raw_schema())
        schemas = {
            name: shapes.arrow_schema(validated.specs.configs[name], published=True)
            for name in SPAN_CONFIGS
        }
        # mentions and quantities from SQL: tables() then skips their Python rows.
        made = duckdb_span_tables(
            layers.gold.regions, articles, splits, validated.taxonomy, schemas
        )
        raw = empty  # annotations_raw is done: tables() only reads inputs.raw without it
    else:
        raw = raw_frame(layers)
    # The per-annotator tables live on in annotations_raw only: split it into its Arrow
    # tables and drop the frames before the other configs are built (peak memory).
    validated.layers = dataclasses.replace(layers, regions=empty, relations=empty, choices=empty)
    del layers
    if engine != "duckdb":
        raw_tables = builder.raw_tables(raw, splits, builder.raw_schema())
    inputs = ReleaseInputs(
        articles, splits, clusters, validated.layers.gold, raw.clear(), validated.registries
    )
    del raw
    return builder.tables(inputs, raw_tables, made), builder.bio_stats


def render_card_text(
    paths: ProjectPaths,
    features: dict[str, datasets.Features],
    specs: TableSpecs,
    sizes: dict[str, dict[str, tuple[int, int]]],
    info: DatasetInfoText,
    sections: dict[str, Callable[[], str]],
) -> str:
    template = paths.card_template.read_text(encoding="utf-8")
    return render_card(template, front_matter(features, specs, sizes, info), sections)


def checksums(files: dict[str, bytes]) -> str:
    """sha256sum-compatible lines for every file, sorted by name."""
    return "".join(
        f"{hashlib.sha256(data).hexdigest()}  {name}\n" for name, data in sorted(files.items())
    )


def build(paths: ProjectPaths, settings: Settings, out_dir: Path | None = None) -> BuiltRelease:
    """Build into ``out_dir`` (default dist/), replacing it atomically."""
    target = out_dir or paths.dist_dir
    clean_stale_staging(target)
    release = render_release(paths, settings)
    with staged_directory(target) as stage:
        for name, data in sorted(release.files.items()):
            write_bytes_atomic(stage / name, data)
    return release


def update_card(paths: ProjectPaths, settings: Settings, *, check: bool) -> bool:
    """Rewrite DATASET_CARD.md's generated parts (or, with ``check``, report drift). True if current."""
    release = render_release(paths, settings)
    rendered = release.files["README.md"].decode()
    current = paths.card_template.read_text(encoding="utf-8")
    if rendered == current:
        return True
    if not check:
        write_text_atomic(paths.card_template, rendered)
    return False
