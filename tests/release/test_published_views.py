"""The derived configs carry exactly the gold they claim: checked row by row on a real build.

Gold comes from the committed exports through the same reader ``validate`` uses; the
published side is read back from the built Parquet files with pyarrow (the independent
``load_dataset`` read is tests/release/test_load_dataset.py).
"""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path
from typing import Any

import polars as pl
import pyarrow.parquet as pq
import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st

from helpers import ROOT, built_dist, copy_project, parquet_rows, run_cli
from sahelwire.annotations.layers import load_annotation_layers
from sahelwire.io.paths import ProjectPaths
from sahelwire.release.ner_bio import bio_rows, bio_spans, nesting_depths, tokenize
from sahelwire.release.tables import mention_id
from sahelwire.schema.table_specs import ARTICLE_ID, load_table_specs
from sahelwire.schema.taxonomy import BODY_ZONE, load_taxonomy

TAX = load_taxonomy(ROOT / "schemas/taxonomy.yaml")
SPECS = load_table_specs(ROOT / "schemas/tables.yaml")


@pytest.fixture(scope="module")
def dist(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return built_dist(tmp_path_factory.mktemp("views"))


@pytest.fixture(scope="module")
def gold() -> pl.DataFrame:
    return load_annotation_layers(ProjectPaths(ROOT), TAX).gold.regions


def names(path: str) -> tuple[str, ...]:
    return TAX.class_names(path)


def test_every_gold_entity_is_exactly_one_bio_span_with_identical_text(
    dist: Path, gold: pl.DataFrame
) -> None:
    texts = {r[ARTICLE_ID]: r["text"] for r in parquet_rows(dist, "documents")}
    bio = names("bio:span_layers.entities")
    spans: Counter[tuple[str, str, int, int]] = Counter()
    for row in parquet_rows(dist, "ner_bio"):
        assert row["text"] == texts[row[ARTICLE_ID]][row["start"] : row["end"]]
        for token, start in zip(row["tokens"], row["token_starts"], strict=True):
            assert texts[row[ARTICLE_ID]][start : start + len(token)] == token
        for column in ("ner_tags", "nested_ner_tags"):
            tags = [bio[t] for t in row[column]]
            for label, s, e in bio_spans(row["tokens"], row["token_starts"], tags):
                spans[(row[ARTICLE_ID], label, s, e)] += 1
    entities = gold.filter(pl.col("layer") == "entities")
    body = [z for z in names("zone:span_layers.zones") if z in (BODY_ZONE, "HEADLINE")]
    assert entities.height > 200 and body  # the committed corpus, every zone included
    expected = Counter(
        (r["article_id"], r["label"], r["start"], r["end"]) for r in entities.iter_rows(named=True)
    )
    assert spans == expected  # each gold mention once, nothing else tagged
    for article, _, s, e in spans:
        match = entities.filter(
            (pl.col("article_id") == article) & (pl.col("start") == s) & (pl.col("end") == e)
        )
        assert match["text"][0] == texts[article][s:e]


def test_ner_bio_rows_are_sentences_that_never_cross_a_zone(dist: Path) -> None:
    documents = {r[ARTICLE_ID]: r for r in parquet_rows(dist, "documents")}
    zone_names = names("zone:span_layers.zones")
    sentences = parquet_rows(dist, "ner_bio")
    assert len(sentences) > 5 * len(documents)
    for article, doc in documents.items():
        mine = sorted((r for r in sentences if r[ARTICLE_ID] == article), key=lambda r: r["start"])
        assert [r["sentence_index"] for r in mine] == list(range(len(mine)))
        for row in mine:
            inside = [z["label"] for z in doc["zones"] if z["start"] <= row["start"] < z["end"]]
            zone = names("span_layers.zones")[inside[0]] if inside else BODY_ZONE
            assert zone_names[row["zone"]] == zone
            assert all(
                not (row["start"] < z[k] < row["end"])
                for z in doc["zones"]
                for k in ("start", "end")
            )
        # every token of the text outside the rows is whitespace: nothing is dropped
        covered = "".join(doc["text"][r["start"] : r["end"]] for r in mine)
        assert "".join(covered.split()) == "".join(doc["text"].split())


def test_arguments_are_exactly_the_gold_relations(dist: Path) -> None:
    relations = load_annotation_layers(ProjectPaths(ROOT), TAX).gold.relations
    roles = names("span_layers.events.relations")
    published = sorted(
        (e["mention_id"], a["target_mention_id"], roles[a["role"]])
        for e in parquet_rows(dist, "events")
        for a in e["arguments"]
    )
    expected = sorted(
        (
            mention_id(r["article_id"], r["from_key"]),
            mention_id(r["article_id"], r["to_key"]),
            r["label"],
        )
        for r in relations.iter_rows(named=True)
    )
    assert published == expected and len(expected) > 50


def test_mentions_nested_too_deep_are_counted_not_tagged() -> None:
    text = "the State Department of the United States office"
    spans = [("PERSON", 0, len(text)), ("ORG", 4, 44), ("GPE", 28, 41)]  # three levels
    entities = [{"label": lab, "start": s, "end": e} for lab, s, e in spans]
    out, stats = bio_rows("a", text, [], entities, [])
    assert (stats.mentions_outer, stats.mentions_nested, stats.mentions_too_deep) == (1, 1, 1)
    tagged = {
        span
        for row in out
        for column in ("ner_tags", "nested_ner_tags")
        for span in bio_spans(row["tokens"], row["token_starts"], row[column])
    }
    assert tagged == {("PERSON", 0, len(text)), ("ORG", 4, 44)}


def test_every_argument_resolves_to_one_mention(dist: Path) -> None:
    by_id: dict[str, list[dict[str, Any]]] = {}
    for config in ("mentions", "quantities"):
        for row in parquet_rows(dist, config):
            by_id.setdefault(row["mention_id"], []).append({**row, "_config": config})
    layers = names("span_layers.events.relations.to_layers")
    arguments = [a for e in parquet_rows(dist, "events") for a in e["arguments"]]
    assert arguments and {layers[a["target_layer"]] for a in arguments} == {
        "entities",
        "quantities",
    }
    for arg in arguments:
        (target,) = by_id[arg["target_mention_id"]]  # exactly one
        assert (
            target["_config"]
            == {"entities": "mentions", "quantities": "quantities"}[layers[arg["target_layer"]]]
        )
        assert (target["start"], target["end"], target["text"]) == (
            arg["start"],
            arg["end"],
            arg["text"],
        )
        assert arg["target_entity_id"] == target.get("entity_id")


def test_span_rows_carry_stable_ids_and_their_zone(dist: Path, gold: pl.DataFrame) -> None:
    documents = {r[ARTICLE_ID]: r for r in parquet_rows(dist, "documents")}
    zone_names = names("zone:span_layers.zones")
    for config, layer in (
        ("mentions", "entities"),
        ("events", "events"),
        ("quantities", "quantities"),
    ):
        published = parquet_rows(dist, config)
        ids = [r["mention_id"] for r in published]
        assert len(ids) == len(set(ids)) == gold.filter(pl.col("layer") == layer).height
        keys = {
            mention_id(r["article_id"], r["region_key"])
            for r in gold.filter(pl.col("layer") == layer).iter_rows(named=True)
        }
        assert set(ids) == keys
        nested = {s["mention_id"]: s for d in documents.values() for s in d[layer]}
        for row in published:
            assert nested[row["mention_id"]]["zone"] == row["zone"]
            zones = documents[row[ARTICLE_ID]]["zones"]
            inside = [z for z in zones if z["start"] <= row["start"] < z["end"]]
            want = names("span_layers.zones")[inside[0]["label"]] if inside else BODY_ZONE
            assert zone_names[row["zone"]] == want
    # The 2016 Barkhane caption figure is marked as a caption, not a story claim.
    caption = [q for q in parquet_rows(dist, "quantities") if zone_names[q["zone"]] == "CAPTION"]
    assert any("3,500" in q["text"] for q in caption)


def test_one_article_id_name_in_every_config() -> None:
    for name, spec in SPECS.configs.items():
        assert "id" not in spec.column_names, name
        if spec.split_by == "article":
            assert ARTICLE_ID in spec.column_names, name
    for name, spec in SPECS.configs.items():
        for column, target in spec.references.items():
            config, field = target.split(".")
            assert field in SPECS.configs[config].column_names, (name, column, target)


def test_registries_are_configs_with_class_label_types(dist: Path) -> None:
    entities = yaml.safe_load((ROOT / "schemas/entities.yaml").read_text())["entities"]
    events = yaml.safe_load((ROOT / "schemas/events.yaml").read_text())["events"]
    entity_rows = {r["entity_id"]: r for r in parquet_rows(dist, "entity_registry")}
    event_rows = {r["event_id"]: r for r in parquet_rows(dist, "event_registry")}
    assert set(entity_rows) == {e["id"] for e in entities}
    assert set(event_rows) == {e["id"] for e in events}
    for e in entities:
        row = entity_rows[e["id"]]
        assert names("span_layers.entities")[row["type"]] == e["type"]
        assert (row["name"], row["aliases"], row["wikidata"]) == (
            e["name"],
            e["aliases"],
            e["wikidata"],
        )
    for e in events:
        row = event_rows[e["id"]]
        assert names("span_layers.events")[row["type"]] == e["type"]
        assert (row["name"], row["date_start"], row["description"]) == (
            e["name"],
            e["date_start"],
            e["description"],
        )
    linked = Counter(m["entity_id"] for m in parquet_rows(dist, "mentions") if m["entity_id"])
    assert set(linked) <= set(entity_rows)
    assert all(entity_rows[k]["n_mentions"] == n for k, n in linked.items())
    events_linked = Counter(e["event_id"] for e in parquet_rows(dist, "events") if e["event_id"])
    assert set(events_linked) <= set(event_rows)
    assert all(event_rows[k]["n_mentions"] == n for k, n in events_linked.items())


def test_quantity_units_come_from_the_controlled_list(dist: Path) -> None:
    unit = TAX.layer("quantities").attribute("unit")
    assert unit is not None and unit.units
    units = names("span_layers.quantities.attributes.unit")
    published = parquet_rows(dist, "quantities")
    assert published
    for q in published:
        assert units[q["unit"]] == unit.unit_of(q["unit_annotated"])
    aliased = {units[q["unit"]] for q in published if q["unit_annotated"] in ("troops", "soldiers")}
    assert aliased <= {"people"} and unit.unit_of("soldiers") == unit.unit_of("troops") == "people"


def test_bound_is_published_as_a_class_label_and_minus_one_before_taxonomy_3(
    dist: Path, tmp_path: Path
) -> None:
    bounds = names("span_layers.quantities.attributes.bound")
    assert bounds == ("POINT", "MORE_THAN", "AT_LEAST", "LESS_THAN", "AT_MOST")
    feature = pq.read_schema(next((dist / "data" / "quantities").glob("*.parquet")))
    assert str(feature.field("bound").type) == "int64"
    # the gold of v0.2.0 was annotated under taxonomy 3.0.0: every quantity has a bound
    published = parquet_rows(dist, "quantities")
    assert published and -1 not in {q["bound"] for q in published}
    nested = [q for d in parquet_rows(dist, "documents") for q in d["quantities"]]
    assert sorted(q["bound"] for q in nested) == sorted(q["bound"] for q in published)
    # annotations_raw keeps the first annotator's superseded v1 annotations, made before
    # bound existed: null there, a bound name on every later quantity
    raw = [r for r in parquet_rows(dist, "annotations_raw") if r["layer"] == "quantities"]
    assert None in {r["bound"] for r in raw} and {r["bound"] for r in raw} - {None} <= set(bounds)

    # a quantity nobody gave a bound (annotated before taxonomy 3.0.0) is published as -1
    root = copy_project(tmp_path / "p")
    export = root / "annotations" / "exports" / "000_68e681b97d6ec23c.json"
    task = json.loads(export.read_text(encoding="utf-8"))
    for ann in task["annotations"]:
        ann["result"] = [r for r in ann["result"] if r.get("from_name") != "bound"]
    export.write_text(json.dumps(task, ensure_ascii=False), encoding="utf-8")
    built = run_cli(root, "build")
    assert built.returncode == 0, built.stderr
    after = {
        (q["article_id"], q["text"]): q["bound"] for q in parquet_rows(root / "dist", "quantities")
    }
    assert after.pop(("000_68e681b97d6ec23c", "over 70 soldiers")) == -1
    before = {(q["article_id"], q["text"]): q["bound"] for q in published}
    before.pop(("000_68e681b97d6ec23c", "over 70 soldiers"))
    assert after == before


def test_tokenizer_splits_possessives_and_keeps_initialisms() -> None:
    def words(text: str) -> list[str]:
        return [text[s:e] for s, e in tokenize(text)]

    assert words("Niger’s junta") == ["Niger", "’s", "junta"]
    assert words("Africa's") == ["Africa", "'s"]
    assert words("U.S. military's") == ["U.S.", "military", "'s"]
    assert words("the U.S.'s role") == ["the", "U.S.", "'s", "role"]
    assert words("Gen. Michael Langley") == ["Gen.", "Michael", "Langley"]
    assert words("US-led, 1,000 troops; $8.33.") == [
        "US", "-", "led", ",", "1,000", "troops", ";", "$", "8.33", ".",
    ]  # fmt: skip
    assert words("O'Brien 👍🏽") == ["O'Brien", "👍🏽"]


_WORDS = st.sampled_from(["Niger", "U.S.", "junta’s", "al-Qaida", "1,000", "😀", "Mr.", "ok"])


@settings(max_examples=60, deadline=None)
@given(
    st.lists(st.tuples(_WORDS, st.sampled_from([" ", ". ", "\n", ", "])), min_size=1, max_size=40),
    st.data(),
)
def test_any_non_crossing_mentions_round_trip(
    pieces: list[tuple[str, str]], data: st.DataObject
) -> None:
    """Random text, random zones and nested mentions on word boundaries: all carried."""
    text, word_spans = "", []
    for word, sep in pieces:
        word_spans.append((len(text), len(text) + len(word)))
        text += word + sep
    n = len(word_spans)
    entities: list[dict[str, Any]] = []
    taken: list[tuple[int, int]] = []
    for _ in range(data.draw(st.integers(0, 6))):
        a = data.draw(st.integers(0, n - 1))
        b = data.draw(st.integers(a, min(n - 1, a + 3)))
        s, e = word_spans[a][0], word_spans[b][1]
        crossing = any(ts < s < te < e or s < ts < e < te for ts, te in taken)
        if "\n" in text[s:e] or crossing or (s, e) in taken:
            continue  # crossing spans are invalid annotations; one span once
        spans = [{"start": a, "end": b} for a, b in [*taken, (s, e)]]
        if max(nesting_depths(spans)) > 1:
            continue  # deeper nesting is counted, not carried (tested on its own)
        taken.append((s, e))
        entities.append({"start": s, "end": e, "label": "ORG", "text": text[s:e]})
    zones = []
    if data.draw(st.booleans()) and n > 2:
        cut = word_spans[data.draw(st.integers(1, n - 1))][0]
        if all(not (s < cut < e) for s, e in taken):
            zones = [{"start": cut, "end": len(text), "label": "NAVIGATION"}]
    out, stats = bio_rows("a", text, zones, entities, taken)
    got: Counter[tuple[str, int, int]] = Counter()
    for row in out:
        for column in ("ner_tags", "nested_ner_tags"):
            for label, s, e in bio_spans(row["tokens"], row["token_starts"], row[column]):
                got[(label, s, e)] += 1
    assert got == Counter(("ORG", m["start"], m["end"]) for m in entities)
    assert stats.forced_cuts == 0
