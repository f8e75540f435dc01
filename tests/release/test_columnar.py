"""build_engine = "duckdb": annotations_raw from one SQL text, the same rows and bytes as polars."""

from __future__ import annotations

import dataclasses
import random
import re
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import duckdb
import polars as pl
import pyarrow as pa
import pytest

from helpers import ROOT, SOURCE_SHAPES, copy_project, run_cli, snapshot
from sahelwire.annotations.gold_layer import GoldLayer
from sahelwire.annotations.layers import AnnotationLayers, raw_frame
from sahelwire.io.config import SPLITS, ConfigError, Settings
from sahelwire.io.paths import ProjectPaths
from sahelwire.raw.manifest import Article
from sahelwire.release import columnar, columnar_spans
from sahelwire.release.build import build, plan_release
from sahelwire.release.columnar import (
    EngineOutOfMemory,
    duckdb_raw_batches,
    duckdb_raw_tables,
    raw_sql,
    write_raw_sources,
)
from sahelwire.release.columnar_spans import (
    SPAN_CONFIGS,
    duckdb_span_pieces,
    span_sources,
    span_sql,
    sql_span_tables,
    whole_span_tables,
)
from sahelwire.release.gold_files import GoldFiles, gold_of
from sahelwire.release.parquet_files import parquet_bytes
from sahelwire.release.tables import ReleaseInputs, ReleaseTableBuilder, _ZoneOf, mention_id
from sahelwire.schema.span_rules import REGION_ATTRIBUTE_COLUMNS
from sahelwire.schema.table_specs import ShapeBuilder, TableSpecs, load_table_specs
from sahelwire.schema.taxonomy import BODY_ZONE, load_taxonomy

sys.path.insert(0, str(ROOT / "scripts"))
import bench

PATHS = ProjectPaths(ROOT)
SPECS = load_table_specs(PATHS.tables_file)
SHAPES = ShapeBuilder(SPECS, load_taxonomy(PATHS.taxonomy_file))
RAW_SCHEMA = SHAPES.arrow_schema(SPECS.configs["annotations_raw"], published=True)
SPAN_SCHEMAS = {c: SHAPES.arrow_schema(SPECS.configs[c], published=True) for c in SPAN_CONFIGS}


def _layers_and_splits(paths: ProjectPaths) -> tuple[AnnotationLayers, dict[str, str]]:
    """The parsed layers and the article -> split map, exactly as the build gets them."""
    plan = plan_release(paths, Settings.load(paths))
    return plan.validated.layers, plan.splits


def assert_same_raw_tables(
    layers: AnnotationLayers, splits: dict[str, str], specs: TableSpecs = SPECS
) -> dict[str, pa.Table]:
    """DuckDB's tables equal the polars path's for every split, rows and Parquet bytes."""
    want = ReleaseTableBuilder.raw_tables(raw_frame(layers), splits, RAW_SCHEMA)
    got = duckdb_raw_tables(layers, splits, specs, RAW_SCHEMA)
    assert list(got) == list(SPLITS)
    for split in SPLITS:
        assert got[split].schema == want[split].schema, split
        assert got[split].to_pylist() == want[split].to_pylist(), split
        assert parquet_bytes(got[split]) == parquet_bytes(want[split]), split
    return got


def span_inputs(paths: ProjectPaths) -> ReleaseInputs:
    """The inputs of the per-article configs, exactly as the build gets them."""
    plan = plan_release(paths, Settings.load(paths))
    validated = plan.validated
    return ReleaseInputs(
        plan.articles,
        plan.splits,
        plan.clusters,
        validated.layers.gold,
        pl.DataFrame(),
        validated.registries,
    )


def span_tables(
    gold: Any, articles: list[Article], splits: dict[str, str], **options: Any
) -> dict[str, dict[str, pa.Table]]:
    """The span configs whole, as DuckDB's pieces (``options``: duckdb_span_pieces's)
    concatenated."""
    pieces = duckdb_span_pieces(gold, articles, splits, SHAPES.taxonomy, SPAN_SCHEMAS, **options)
    return whole_span_tables(pieces, SPAN_SCHEMAS)


def assert_same_tables(
    got: dict[str, dict[str, pa.Table]], want: dict[str, dict[str, pa.Table]]
) -> None:
    """Every span config and split: the same rows and the same Parquet bytes."""
    for config in SPAN_CONFIGS:
        for split in SPLITS:
            g, w = got[config][split], want[config][split]
            assert g.to_pylist() == w.to_pylist(), (config, split)
            assert parquet_bytes(g) == parquet_bytes(w), (config, split)


def random_slices(table: pa.Table, rng: random.Random) -> list[pa.Table]:
    """``table`` cut into slices of 1 to 40 rows, in order."""
    pieces, at = [], 0
    while at < table.num_rows:
        pieces.append(table.slice(at, rng.randint(1, 40)))
        at += pieces[-1].num_rows
    return pieces


def assert_same_span_tables(inputs: ReleaseInputs) -> dict[str, dict[str, pa.Table]]:
    """mentions, events and quantities from SQL equal the Python rows', every split, rows
    and bytes."""
    want = ReleaseTableBuilder(SHAPES).tables(inputs, raw_tables={})
    got = span_tables(inputs.gold, inputs.articles, inputs.splits)
    assert list(got) == list(SPAN_CONFIGS)
    for config in SPAN_CONFIGS:
        for split in SPLITS:
            assert got[config][split].schema == want[config][split].schema, (config, split)
    assert_same_tables(got, want)
    return got


def argument_counts(events: dict[str, pa.Table]) -> list[int]:
    """The number of arguments of every event row, every split."""
    return [len(r["arguments"]) for t in events.values() for r in t.to_pylist()]


def test_same_span_configs_for_every_split_of_the_committed_corpus() -> None:
    got = assert_same_span_tables(span_inputs(PATHS))
    for config in SPAN_CONFIGS:
        assert all(got[config][s].num_rows for s in SPLITS), config
    quantities = pa.concat_tables(got["quantities"].values())
    # Several units and bounds: the class tables' joins are exercised (-1: synthetic test).
    assert len(set(quantities["unit"].to_pylist())) > 1
    assert len(set(quantities["bound"].to_pylist())) > 1
    zones = set(pa.concat_tables(got["mentions"].values())["zone"].to_pylist())
    assert len(zones) > 1  # BODY and at least one zone
    # Events with no argument and with several: the offsets are exercised.
    counts = argument_counts(got["events"])
    assert 0 in counts and max(counts) > 1


@pytest.mark.slow
def test_same_span_configs_for_every_split_of_a_synthetic_corpus(tmp_path: Path) -> None:
    root = bench.make_project(tmp_path, 40, seed=12, stages=("build",))
    assert run_cli(root, "ingest", str(tmp_path / "corpus" / "articles.jsonl")).returncode == 0
    got = assert_same_span_tables(span_inputs(ProjectPaths(root)))
    assert sum(t.num_rows for t in got["mentions"].values()) > 100
    assert sum(t.num_rows for t in got["quantities"].values()) > 10
    assert sum(argument_counts(got["events"])) > 10


def test_the_sql_zone_unit_and_bound_follow_the_python_rules_at_their_edges() -> None:
    """The zone a span starts in, as _ZoneOf finds it, for zones that overlap, nest, touch,
    share a start, are empty, reach the text's end or not (texts of 0 to 30 characters,
    spans everywhere, also at the end); and the unit (unit_of: aliases, case, blanks,
    unknown, none) and bound (none) of quantities."""
    rng = random.Random(3)
    tx = SHAPES.taxonomy
    zone_names = tx.class_names("zone:span_layers.zones")[1:]
    zone_index = {name: i for i, name in enumerate(tx.class_names("zone:span_layers.zones"))}
    unit_attr = tx.layer("quantities").attribute("unit")
    assert unit_attr is not None
    unit_index = {
        n: i for i, n in enumerate(tx.class_names("span_layers.quantities.attributes.unit"))
    }
    bounds = tx.class_names("span_layers.quantities.attributes.bound")
    typed_units = [None, "dollars", " DOLLARS ", "$", "furlongs", "people", "Year", ""]
    articles, regions = [], []
    want_zone: dict[str, int] = {}
    want_unit_bound: dict[str, tuple[int, int]] = {}
    stale = 0  # spans that start after their (inner) zone's end and still get its label
    for a in range(300):
        art = f"a{a:03d}"
        length = rng.choice([0, 1, 5, 30])
        articles.append(Article(id=art, text="x" * length, sha256="", meta={}))
        zones = set()
        for _ in range(rng.choice([0, 1, 2, 3, 5])):
            start = rng.randint(0, length)
            zones.add((start, rng.randint(start, length), rng.choice(zone_names)))
        starts = {rng.randint(0, length) for _ in range(rng.randint(1, 6))}
        spans = [
            (rng.choice(["entities", "quantities"]), s, rng.randint(s, length)) for s in starts
        ]
        # _ZoneOf reads the zones in the gold sort order: (start, end, label).
        zone_of = _ZoneOf(
            "x" * length, [{"start": s, "end": e, "label": lb} for s, e, lb in sorted(zones)]
        )
        for s, e, label in zones:
            regions.append(
                {
                    "article_id": art,
                    "region_key": f"zones:{label}:{s}:{e}",
                    "layer": "zones",
                    "label": label,
                    "start": s,
                    "end": e,
                }
            )
        for layer, s, e in spans:
            label = "GPE" if layer == "entities" else "FATALITIES"
            key = f"{layer}:{label}:{s}:{e}"
            typed, bound = rng.choice(typed_units), rng.choice([None, *bounds])
            regions.append(
                {
                    "article_id": art,
                    "region_key": key,
                    "layer": layer,
                    "label": label,
                    "start": s,
                    "end": e,
                    "unit": typed,
                    "bound": bound,
                }
            )
            zone = zone_of(s)
            want_zone[mention_id(art, key)] = zone_index[zone]
            stale += zone != BODY_ZONE and not any(
                zs <= s < ze and lb == zone for zs, ze, lb in zones
            )
            if layer == "quantities":
                unit = unit_attr.unit_of(typed)
                want_unit_bound[mention_id(art, key)] = (
                    -1 if unit is None else unit_index[unit],
                    -1 if bound is None else bounds.index(bound),
                )
    empty = GoldLayer.empty().regions
    frame = pl.DataFrame(
        [
            {
                **{c: None for c in empty.columns},
                "text": "",
                "value": 1.0,
                "approximate": False,
                **r,
            }
            for r in regions
        ],
        schema=empty.schema,
    )
    splits = {a.id: SPLITS[i % 3] for i, a in enumerate(articles)}
    gold = dataclasses.replace(GoldLayer.empty(), regions=frame)
    got = span_tables(gold, articles, splits)
    rows = [r for c in SPAN_CONFIGS for s in SPLITS for r in got[c][s].to_pylist()]
    assert {r["mention_id"]: r["zone"] for r in rows} == want_zone
    quantities = [r for s in SPLITS for r in got["quantities"][s].to_pylist()]
    assert {r["mention_id"]: (r["unit"], r["bound"]) for r in quantities} == want_unit_bound
    # The edges did occur: the inner-zone rule, BODY, no unit and no bound.
    assert stale > 0 and zone_index[BODY_ZONE] in want_zone.values()
    assert {-1} < {u for u, _ in want_unit_bound.values()}
    assert {-1} < {b for _, b in want_unit_bound.values()}


def _gold_regions(rows: list[dict[str, Any]]) -> pl.DataFrame:
    """Gold regions from partial rows: every other column null, as an empty gold layer's."""
    empty = GoldLayer.empty().regions
    return pl.DataFrame([{**dict.fromkeys(empty.columns), **r} for r in rows], schema=empty.schema)


def test_the_sql_event_arguments_follow_the_python_rows_at_their_edges() -> None:
    """events' nested arguments, as rows() makes them: events with none, one or many; one
    target under several roles; targets of both layers, linked or not; keys whose text
    order is not their offsets' (10 < 9); relations from a region that is not an event
    (ignored); and articles in gold that are not published, between published ones."""
    rng = random.Random(17)
    tx = SHAPES.taxonomy
    event_types = tx.class_names("span_layers.events")
    realis = tx.class_names("span_layers.events.attributes.realis")
    roles = tx.class_names("span_layers.events.relations")
    articles: list[Article] = []
    regions: list[dict[str, Any]] = []
    relations: list[dict[str, Any]] = []
    for a in range(120):
        art, length = f"e{a:03d}", rng.choice([3, 20, 150])
        if a % 7 != 3:  # the others are in gold only
            articles.append(Article(id=art, text="x" * length, meta={"source_file": "f.txt"}))
        targets, events = [], []
        for _ in range(rng.randint(0, 8)):
            start = rng.randint(0, length - 1)
            end = rng.randint(start + 1, length)
            layer = rng.choice(["entities", "quantities", "events"])
            label = {
                "entities": rng.choice(["GPE", "ORG"]),
                "quantities": "FATALITIES",
                "events": rng.choice(event_types),
            }[layer]
            key = f"{layer}:{label}:{start}:{end}"
            row = {
                "article_id": art,
                "region_key": key,
                "layer": layer,
                "label": label,
                "start": start,
                "end": end,
                "text": "x" * (end - start),
            }
            if layer == "events":
                row.update(realis=rng.choice(realis), event_id=rng.choice([None, "EV-1"]))
                events.append(key)
            elif layer == "entities":
                row["entity_id"] = rng.choice([None, "ENT-1"])
                targets.append(key)
            else:
                row.update(value=2.0, approximate=False)
                targets.append(key)
            if any(r["article_id"] == art and r["region_key"] == key for r in regions):
                continue
            regions.append(row)
        links = {
            (rng.choice(events), rng.choice(targets), rng.choice(roles))
            for _ in range(rng.randint(0, 12))
            if events and targets
        }
        if len(targets) > 1:  # a relation from a region that is not an event
            links.add((targets[0], targets[1], roles[0]))
        relations += [
            {"article_id": art, "from_key": f, "to_key": t, "label": r} for f, t, r in links
        ]
    gold = GoldLayer(
        _gold_regions(regions),
        pl.DataFrame(relations, schema=GoldLayer.empty().relations.schema),
        GoldLayer.empty().choices,
        GoldLayer.empty().status,
    )
    splits = {art.id: SPLITS[i % 3] for i, art in enumerate(articles)}
    inputs = ReleaseInputs(
        articles, splits, {a.id: a.id for a in articles}, gold, pl.DataFrame(), None
    )
    got = assert_same_span_tables(inputs)
    # The edges did occur.
    counts = argument_counts(got["events"])
    assert 0 in counts and max(counts) > 2
    rows = [r for t in got["events"].values() for r in t.to_pylist()]
    args = [g for r in rows for g in r["arguments"]]
    assert {g["target_layer"] for g in args} == {0, 1}
    assert {g["target_entity_id"] for g in args} == {None, "ENT-1"}
    assert any(
        len({g["role"] for g in r["arguments"] if g["target_mention_id"] == t}) > 1
        for r in rows
        for t in {g["target_mention_id"] for g in r["arguments"]}
    )
    assert any(
        int(x["start"]) > int(y["start"])
        for r in rows
        for x, y in zip(r["arguments"], r["arguments"][1:], strict=False)
    )
    published = {a.id for a in articles}
    assert {r["article_id"] for r in relations} - published  # unpublished ones were there


def test_the_span_tables_do_not_depend_on_the_engines_arrow_chunking() -> None:
    """An engine returns its result in batches of its own sizes (DuckDB: 100,000 rows):
    nesting the arguments and slicing the splits give the same rows and Parquet bytes from
    results cut into chunks of 1 to 40 rows."""
    inputs = span_inputs(PATHS)
    whole = span_tables(inputs.gold, inputs.articles, inputs.splits)
    rng = random.Random(11)
    cut: list[int] = []

    def run(sql: str) -> pa.Table:
        table = con.sql(sql).to_arrow_table()
        pieces = random_slices(table, rng)
        cut.append(len(pieces))
        return pa.concat_tables(pieces) if pieces else table

    con = duckdb.connect()
    try:
        sources = span_sources(inputs.gold, inputs.articles, inputs.splits, SHAPES.taxonomy)
        for name, table in sources.items():
            con.register(name, table)
        got = sql_span_tables(run, SPAN_SCHEMAS)
    finally:
        con.close()
    assert len(cut) == 4 and min(cut) > 1  # mentions, events + arguments, quantities
    assert_same_tables(got, whole)


@pytest.mark.parametrize("seed", [3, 5])
def test_article_pieces_hold_whole_articles_and_every_row_once(seed: int) -> None:
    """Regrouped from batches of any size: every row once, in order; no article in two
    pieces; each piece but the last at least ``min_rows`` (an article longer than that is
    one piece)."""
    rng = random.Random(seed)
    ids = [f"a{i:03d}" for i in range(60) for _ in range(rng.choice([1, 1, 2, 5, 30]))]
    table = pa.table({"article_id": ids, "row": list(range(len(ids)))})
    for min_rows in (1, 4, 25, 10_000):
        batches, at = [], 0
        while at < table.num_rows:
            batches.append(table.slice(at, rng.randint(1, 9)).to_batches()[0])
            at += batches[-1].num_rows
        batches.insert(3, pa.RecordBatch.from_pylist([], schema=table.schema))  # skipped
        pieces = list(columnar.article_pieces(batches, min_rows))
        assert pa.concat_tables(pieces).equals(table), min_rows
        seen: set[str] = set()
        for piece in pieces:
            mine = set(piece["article_id"].to_pylist())
            assert not mine & seen, min_rows
            seen |= mine
        assert all(piece.num_rows >= min_rows for piece in pieces[:-1]), min_rows
        if min_rows == 1:
            assert len(pieces) > 20  # cut at the batches' article boundaries
        if min_rows == 10_000:
            assert len(pieces) == 1


def test_span_pieces_hold_whole_articles_and_make_the_whole_tables() -> None:
    """Written piece by piece (the build), with pieces of a few rows cut from batches of 1 to
    40: concatenated, the pieces of each config and split are the whole tables, rows and
    bytes; events keep their arguments across the cuts; no article is in two pieces."""
    inputs = span_inputs(PATHS)
    whole = span_tables(inputs.gold, inputs.articles, inputs.splits)
    rng = random.Random(13)
    con = duckdb.connect()
    sources = span_sources(inputs.gold, inputs.articles, inputs.splits, SHAPES.taxonomy)
    for name, table in sources.items():
        con.register(name, table)

    def run(sql: str) -> pa.RecordBatchReader:
        # Whole results, so the events' two can be read side by side on one connection.
        table = con.sql(sql).to_arrow_table()
        return pa.RecordBatchReader.from_batches(
            table.schema, [b for t in random_slices(table, rng) for b in t.to_batches()]
        )

    try:
        pieces = list(columnar_spans.sql_span_pieces(run, SPAN_SCHEMAS, min_rows=2))
    finally:
        con.close()
    got = columnar_spans.whole_span_tables(pieces, SPAN_SCHEMAS, SPAN_CONFIGS)
    # More pieces than (config, split)s: splits are written in several.
    assert len(pieces) > len(SPAN_CONFIGS) * len(SPLITS)
    for config in SPAN_CONFIGS:
        mine = [t for c, _, t in pieces if c == config]
        assert len(mine) >= len(SPLITS), config
        seen: set[str] = set()
        for piece in mine:
            ids = set(piece["article_id"].to_pylist())
            assert not ids & seen, config
            seen |= ids
    assert_same_tables(got, whole)


@pytest.mark.parametrize("range_articles", [1, 2])
def test_span_sql_a_range_of_articles_at_a_time_gives_the_whole_tables(
    range_articles: int,
) -> None:
    """DuckDB runs the span SQL on ``range_articles`` articles at a time (its memory grows
    with them): concatenated, the same rows and bytes as one range; every range's pieces
    come in article order within each split."""
    inputs = span_inputs(PATHS)
    whole = span_tables(inputs.gold, inputs.articles, inputs.splits)
    pieces = list(
        duckdb_span_pieces(
            inputs.gold,
            inputs.articles,
            inputs.splits,
            SHAPES.taxonomy,
            SPAN_SCHEMAS,
            range_articles=range_articles,
        )
    )
    assert len(pieces) > len(SPAN_CONFIGS) * len(SPLITS)  # ranges, not one query
    assert_same_tables(whole_span_tables(pieces, SPAN_SCHEMAS), whole)


@pytest.mark.parametrize("on_disk", [False, True])
def test_span_sql_ranges_only_the_annotated_articles(
    on_disk: bool, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Ranges are of the published articles that have gold (at 1M, 10% annotated, ranges of
    every article ran ten times the queries): with gold for every other article and one
    article per range, one query per article with gold, and the same tables as one range."""
    inputs = span_inputs(PATHS)
    ids = sorted(a.id for a in inputs.articles)
    gold: Any = gold_of(inputs.gold, ids[::2])
    with_gold = sorted(set(gold.regions["article_id"].to_list()))
    assert 0 < len(with_gold) < len(ids)
    if on_disk:  # as the build's gold: files DuckDB reads itself
        files = GoldFiles(tmp_path)
        files.add(gold)
        files.finish()
        gold = files
    whole = span_tables(gold, inputs.articles, inputs.splits)
    queries: list[str] = []
    pieces = columnar_spans.sql_span_pieces

    def counted(run: Any, *args: Any, **kwargs: Any) -> Any:
        queries.append(kwargs["source"]["gold_regions"])
        return pieces(run, *args, **kwargs)

    monkeypatch.setattr(columnar_spans, "sql_span_pieces", counted)
    got = span_tables(gold, inputs.articles, inputs.splits, range_articles=1)
    assert len(queries) == len(with_gold)
    assert_same_tables(got, whole)


def test_span_sql_out_of_memory_says_what_and_how_to_raise_it(tmp_path: Path) -> None:
    """DuckDB out of memory in the span SQL is EngineOutOfMemory (the build's exit 2),
    naming the span configs and the setting; its spill folder is removed."""
    inputs = span_inputs(PATHS)
    with pytest.raises(EngineOutOfMemory, match=r"for the span configs.*SAHELWIRE_DUCKDB_MEMORY"):
        span_tables(
            inputs.gold, inputs.articles, inputs.splits, spill_dir=tmp_path, memory_limit="1MB"
        )
    assert list(tmp_path.iterdir()) == []


def test_event_pieces_refuse_arguments_the_events_did_not_count() -> None:
    events = pa.table({"article_id": ["a", "b"], "n_arguments": [1, 0]})
    arguments = pa.table({"role": ["r1", "r2"]})
    schema = pa.schema(
        [("article_id", pa.string()), ("arguments", pa.list_(pa.struct([("role", pa.string())])))]
    )

    def reader(table: pa.Table) -> pa.RecordBatchReader:
        return pa.RecordBatchReader.from_batches(table.schema, table.to_batches())

    with pytest.raises(ValueError, match="counted 1 arguments fewer than were given"):
        list(columnar_spans._event_pieces(reader(events), reader(arguments), schema, 1))


def test_the_span_sql_names_only_known_configs() -> None:
    assert "s.layer = 'entities'" in span_sql("mentions")
    with pytest.raises(ValueError, match="unknown span config"):
        span_sql("events")
    with pytest.raises(ValueError, match="unknown span config"):
        span_sql("mentions' OR 1=1 --")


@pytest.mark.parametrize("slice_rows", [7, columnar.SOURCE_SLICE_ROWS])
def test_same_rows_for_every_split_of_the_committed_corpus(
    slice_rows: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Also with the sources written in many small slices, as a large corpus writes them."""
    monkeypatch.setattr(columnar, "SOURCE_SLICE_ROWS", slice_rows)
    layers, splits = _layers_and_splits(PATHS)
    got = assert_same_raw_tables(layers, splits)
    # Every kind of row and both sources are in the corpus, so all of the SQL is exercised.
    whole = pa.concat_tables(got.values())
    assert set(whole["kind"].to_pylist()) == {"region", "relation", "choice"}
    assert set(whole["source"].to_pylist()) == {"annotation", "prediction"}
    assert all(got[s].num_rows for s in SPLITS)


@pytest.mark.parametrize("range_rows", [1, 1200])
def test_same_rows_when_each_split_is_sorted_in_ranges_of_articles(
    range_rows: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The committed ids have 12 characters or more, so each split is sorted a range of
    articles at a time (columnar.article_ranges): the same rows, in the same order."""
    monkeypatch.setattr(columnar, "RAW_RANGE_ROWS", range_rows)
    asked: list[tuple[str, str] | None] = []
    real = columnar.raw_sql

    def recording(split: str, *args: Any, **kwargs: Any) -> str:
        asked.append(kwargs.get("articles"))
        return real(split, *args, **kwargs)

    monkeypatch.setattr(columnar, "raw_sql", recording)
    layers, splits = _layers_and_splits(PATHS)
    assert_same_raw_tables(layers, splits)
    assert None not in asked
    # One article per range when a range may hold one row; fewer, larger ranges otherwise.
    annotated = set(layers.annotations["article_id"].to_list())
    assert len(asked) == len(annotated) if range_rows == 1 else 3 <= len(asked) < len(annotated)


def test_raw_pieces_hold_whole_articles_whatever_duckdb_s_batches(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """DuckDB's batches of 3 rows cut articles; the pieces handed to the writer (validated
    one at a time) do not: no article of a split is in two of them, and none is lost."""
    monkeypatch.setattr(columnar, "ARROW_BATCH_ROWS", 3)
    layers, splits = _layers_and_splits(PATHS)
    sources = write_raw_sources(layers, splits, SPECS, tmp_path)
    seen: dict[str, set[str]] = {split: set() for split in SPLITS}
    rows = 0
    for split, table in duckdb_raw_batches(sources, RAW_SCHEMA):
        ids = set(table["article_id"].to_pylist())
        assert not ids & seen[split], split
        seen[split] |= ids
        rows += table.num_rows
    assert rows == raw_frame(layers).height
    assert sum(len(ids) for ids in seen.values()) > 3


def test_cutting_the_sources_to_a_few_articles_first_gives_those_articles_rows(
    tmp_path: Path,
) -> None:
    """``few_articles`` (the raw memo's rebuild: DuckDB sorts the changed articles only) cuts
    each source to the articles of ``splits`` before the query: the same rows as the query
    over every source's rows, of those articles only."""
    layers, splits = _layers_and_splits(PATHS)
    (tmp_path / "all").mkdir()
    (tmp_path / "few").mkdir()
    everything = write_raw_sources(layers, splits, SPECS, tmp_path / "all")
    few = dict(list(sorted(splits.items()))[::2])  # every other article, all three splits
    assert set(few.values()) == set(SPLITS)
    cut = write_raw_sources(layers, few, SPECS, tmp_path / "few")

    def rows(sources: dict[str, Path], **kwargs: Any) -> dict[str, list[dict[str, Any]]]:
        out: dict[str, list[dict[str, Any]]] = {split: [] for split in SPLITS}
        for split, table in duckdb_raw_batches(sources, RAW_SCHEMA, **kwargs):
            out[split] += table.to_pylist()
        return out

    whole = rows(everything)
    expected = {s: [r for r in whole[s] if r["article_id"] in few] for s in SPLITS}
    assert all(expected.values())
    assert rows(cut, few_articles=True) == expected == rows(cut)


@pytest.mark.slow
def test_same_rows_for_every_split_of_a_synthetic_corpus(tmp_path: Path) -> None:
    root = bench.make_project(tmp_path, 40, seed=11, stages=("build",))
    assert run_cli(root, "ingest", str(tmp_path / "corpus" / "articles.jsonl")).returncode == 0
    layers, splits = _layers_and_splits(ProjectPaths(root))
    assert layers.annotations["annotation_id"].n_unique() > 40  # second annotators too
    got = assert_same_raw_tables(layers, splits)
    assert sum(t.num_rows for t in got.values()) > 1000


def test_same_order_for_short_ids_signs_accents_and_huge_numbers(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The zfill(12) key at its edges: lengths around 12, signs, accents, emoji, missing.
    Ids shorter than 12 characters sort as zfill pads them: each split is then sorted at
    once, however small the ranges of articles would be."""
    monkeypatch.setattr(columnar, "RAW_RANGE_ROWS", 1)
    rng = random.Random(5)
    n = 400
    ann_ids = [rng.choice([0, 10**12, 10**13]) + i for i in range(n)]
    article = ["a", "0a", "b", "-1", "+x", "é", "🙂", "abcdefghijklm"]
    annotations = pl.DataFrame(
        {
            "annotation_id": ann_ids,
            "task_id": [rng.choice([1, 2, 10**12]) for _ in range(n)],
            "article_id": [rng.choice(article) for _ in range(n)],
            "annotator": ["x@y"] * n,
            "cancelled": [rng.random() < 0.1 for _ in range(n)],
            "created_at": [""] * n,
            "updated_at": [""] * n,
            "lead_time": [None] * n,
            "parent_prediction": [rng.choice([None, 7]) for _ in range(n)],
            "prediction_model_version": [None] * n,
            "source_file": ["f"] * n,
        },
        schema_overrides={"lead_time": pl.Float64, "prediction_model_version": pl.Utf8},
    )
    regions = pl.DataFrame(
        {
            "annotation_id": [rng.choice(ann_ids) for _ in range(n)],
            "article_id": ["a"] * n,
            "annotator": ["x@y"] * n,
            "region_id": [
                rng.choice(["r1", "r10", "-r", "+9", "é", "", "r" * 13]) for _ in range(n)
            ],
            "layer": [rng.choice(["entities", "zones"]) for _ in range(n)],
            "label": [rng.choice(["GPE", "ORG", "🙂", "é"]) for _ in range(n)],
            "start": [rng.choice([0, 5, 10**12, 3 * 10**12]) for _ in range(n)],
            "end": [rng.randrange(10**13) for _ in range(n)],
            "text": ["t"] * n,
        }
    ).with_columns(
        pl.lit(None, dtype=SOURCE_SHAPES["regions"][name]).alias(name)
        for name in REGION_ATTRIBUTE_COLUMNS
    )
    choices = pl.DataFrame(
        {
            "annotation_id": [rng.choice(ann_ids) for _ in range(n)],
            "article_id": ["a"] * n,
            "annotator": ["x@y"] * n,
            "field": [rng.choice(["notes", "primary_frame"]) for _ in range(n)],
            "value": [rng.choice(["", "é", "-2", "a" * 12, "a" * 11, "😀x"]) for _ in range(n)],
        }
    )
    layers = AnnotationLayers(
        annotations,
        regions.select(c for c in SOURCE_SHAPES["regions"] if c != "source_file"),
        pl.DataFrame(schema=SOURCE_SHAPES["relations"]),
        choices,
        GoldLayer.empty(),
    )
    splits = {a: SPLITS[i % 3] for i, a in enumerate(article)}
    got = assert_same_raw_tables(layers, splits)
    assert sum(t.num_rows for t in got.values()) == 2 * n


def set_engine(pyproject: Path, engine: str) -> None:
    """Set ``[tool.sahelwire] build_engine`` in a copied project's pyproject.toml."""
    text = pyproject.read_text(encoding="utf-8")
    line = re.compile(r'^build_engine = "[a-z]+"$', re.MULTILINE)
    assert line.search(text), "the project's pyproject.toml sets build_engine"
    pyproject.write_text(line.sub(f'build_engine = "{engine}"', text), encoding="utf-8")


def test_the_duckdb_engine_builds_the_same_bytes(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    polars_root = copy_project(tmp_path / "polars")
    duckdb_root = copy_project(tmp_path / "duckdb")
    set_engine(polars_root / "pyproject.toml", "polars")
    set_engine(duckdb_root / "pyproject.toml", "duckdb")
    settings = Settings.load(ProjectPaths(duckdb_root))
    assert settings.build_engine == "duckdb"
    calls: list[int] = []

    def counted(*args: Any, **kwargs: Any) -> Iterator[tuple[str, pa.Table]]:
        calls.append(1)
        return duckdb_raw_batches(*args, **kwargs)

    def counted_spans(*args: Any, **kwargs: Any) -> Iterator[tuple[str, str, pa.Table]]:
        calls.append(2)
        return duckdb_span_pieces(*args, **kwargs)

    monkeypatch.setattr(columnar, "duckdb_raw_batches", counted)
    monkeypatch.setattr(columnar_spans, "duckdb_span_pieces", counted_spans)
    build(ProjectPaths(polars_root), Settings.load(ProjectPaths(polars_root)))
    assert calls == []
    build(ProjectPaths(duckdb_root), settings)
    assert calls == [1, 2]  # the setting took the DuckDB path, for the span configs too
    polars_files, duckdb_files = snapshot(polars_root / "dist"), snapshot(duckdb_root / "dist")
    for config in ("annotations_raw", *SPAN_CONFIGS):
        assert any(name.startswith(f"data/{config}/") for name in duckdb_files), config
    assert duckdb_files == polars_files


def test_an_unknown_build_engine_is_a_config_error(tmp_path: Path) -> None:
    pyproject = tmp_path / "pyproject.toml"
    pyproject.write_text((ROOT / "pyproject.toml").read_text(encoding="utf-8"), encoding="utf-8")
    set_engine(pyproject, "spark")
    with pytest.raises(
        ConfigError, match="build_engine must be one of 'polars', 'duckdb', got 'spark'"
    ):
        Settings.from_pyproject(pyproject)


def test_the_sql_names_only_known_splits() -> None:
    assert "WHERE sp.split = 'train'" in raw_sql("train")
    with pytest.raises(ValueError, match="unknown split"):
        raw_sql("train' OR 1=1 --")


def test_parquet_bytes_do_not_depend_on_the_arrow_chunking() -> None:
    """DuckDB returns a split in batches of its own sizes; the build writes them as they are.

    Row groups of 50 rows over chunks of 1 to 120 rows: each row group spans chunks.
    """
    layers, splits = _layers_and_splits(PATHS)
    table = ReleaseTableBuilder.raw_tables(raw_frame(layers), splits, RAW_SCHEMA)["train"]
    assert table.num_rows > 500 and table.column(0).num_chunks == 1
    rng = random.Random(7)
    cuts, at = [], 0
    while at < table.num_rows:
        size = rng.randint(1, 120)
        cuts.append(table.slice(at, size))
        at += size
    chunked = pa.concat_tables(cuts)
    assert chunked.column(0).num_chunks == len(cuts) > 10
    for rows in (50, 10_000):
        assert parquet_bytes(chunked, row_group_size=rows) == parquet_bytes(
            table, row_group_size=rows
        )


def test_build_with_an_unknown_engine_exits_2_and_keeps_dist(tmp_path: Path) -> None:
    root = copy_project(tmp_path / "p")
    assert run_cli(root, "build").returncode == 0
    before = snapshot(root / "dist")
    set_engine(root / "pyproject.toml", "spark")
    result = run_cli(root, "build")
    assert result.returncode == 2, result.stdout + result.stderr
    assert "[tool.sahelwire] build_engine must be one of 'polars', 'duckdb', got 'spark'" in (
        result.stderr
    )
    assert result.stderr.count("[tool.sahelwire]") == 1  # said once, not wrapped twice
    assert "Traceback" not in result.stderr
    assert snapshot(root / "dist") == before
