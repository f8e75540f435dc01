"""The span rules of ANNOTATION.md, each with a record that breaks it."""

from __future__ import annotations

import random
from collections import Counter

import polars as pl
import pytest

from helpers import ROOT, SOURCE_SHAPES, region, regions_frame
from sahelwire.schema.registries import Registries
from sahelwire.schema.span_rules import check_regions, check_relations
from sahelwire.schema.taxonomy import load_taxonomy

TEXT = "Skip to main content\nNiger's junta met Molly Phee in Niamey 🤔 about 1,000 troops."
TAX = load_taxonomy(ROOT / "schemas/taxonomy.yaml")
REG = Registries(
    pl.DataFrame(
        {
            "id": ["ent_niger", "ent_molly_phee"],
            "name": ["Niger", "Molly Phee"],
            "type": ["GPE", "PERSON"],
            "aliases": [[], []],
            "wikidata": [None, None],
            "description": [None, None],
        }
    ),
    pl.DataFrame(
        {
            "id": ["evt_talks"],
            "type": ["MEETING"],
            "date_start": [None],
            "date_end": [None],
            "description": ["x"],
        }
    ),
)


def rules(rows: list[dict[str, object]]) -> list[str]:
    return [p.rule for p in check_regions(regions_frame(rows), {"a1": TEXT}, TAX, REG, file="t")]


def test_valid_regions_pass_including_after_emoji() -> None:
    rows = [
        region(1, "a1", TEXT, "Skip to main content", "zones", "NAVIGATION", "z1"),
        region(1, "a1", TEXT, "Niger's junta", "entities", "ORG", "m1"),
        region(
            1, "a1", TEXT, "Niger", "entities", "GPE", "m2", entity_id="ent_niger"
        ),  # nested in ORG: allowed
        region(
            1, "a1", TEXT, "met", "events", "MEETING", "e1", realis="ACTUAL", event_id="evt_talks"
        ),
        region(
            1,
            "a1",
            TEXT,
            "about 1,000 troops",
            "quantities",
            "TROOPS",
            "q1",
            value=1000.0,
            approximate=True,
        ),
    ]
    assert rules(rows) == []


@pytest.mark.parametrize(
    ("change", "rule"),
    [
        ({"start": 70, "end": 500}, "0 <= start < end <= len(text)"),
        ({"start": 5, "end": 5}, "0 <= start < end <= len(text)"),
        ({"start": 9, "end": 3}, "0 <= start < end <= len(text)"),
        ({"text": "Molly  Phee"}, "text[start:end] == span text"),
        ({"entity_id": "ent_unknown"}, "entity_id in schemas/entities.yaml"),
        ({"entity_id": "ent_niger"}, "registry type agrees with label"),
        ({"realis": "ACTUAL"}, "event attributes only on events"),
    ],
)
def test_broken_entity_region(change: dict[str, object], rule: str) -> None:
    row = region(1, "a1", TEXT, "Molly Phee", "entities", "PERSON", "m1")
    row.update(change)
    assert rule in rules([row])


def test_span_text_one_code_point_off_after_emoji_is_rejected() -> None:
    # a UTF-16 offset after the emoji is one too far in code points: rejected, never shifted
    row = region(
        1, "a1", TEXT, "about", "quantities", "TROOPS", "q1", value=1000.0, approximate=True
    )
    row.update(start=row["start"] + 1, end=row["end"] + 1)  # type: ignore[operator]
    assert "text[start:end] == span text" in rules([row])


def test_overlapping_zones_and_crossing_mentions_rejected() -> None:
    zones = [
        region(1, "a1", TEXT, "Skip to main", "zones", "NAVIGATION", "z1"),
        region(1, "a1", TEXT, "main content", "zones", "PROMOTION", "z2"),
    ]
    assert "zones do not overlap" in rules(zones)
    # Every layer whose taxonomy says `overlap: none` is named by its own name: the rule read
    # "zones do not overlap" for two quantities (a walkthrough).
    quantities = [
        region(1, "a1", TEXT, "1,000", "quantities", "TROOPS", "q1", value=1e3, approximate=False),
        region(1, "a1", TEXT, "1,000 troops", "quantities", "TROOPS", "q2", value=1e3,
               approximate=False),
    ]  # fmt: skip
    assert rules(quantities) == ["quantities do not overlap"]
    mentions = [
        region(1, "a1", TEXT, "Niger's junta", "entities", "ORG", "m1"),
        region(1, "a1", TEXT, "junta met", "entities", "PERSON", "m2"),
    ]
    assert "mentions nest only as the taxonomy allows" in rules(mentions)
    # mentions of two different annotators may overlap: each annotation is checked alone
    mentions[1]["annotation_id"] = 2
    assert rules(mentions) == []


def test_missing_required_attributes() -> None:
    assert "events have a realis" in rules(
        [region(1, "a1", TEXT, "met", "events", "MEETING", "e1")]
    )
    found = rules([region(1, "a1", TEXT, "1,000", "quantities", "TROOPS", "q1")])
    assert "quantities have a value" in found and "quantities have a approximate" in found


def test_relation_rules() -> None:
    regions = regions_frame(
        [
            region(1, "a1", TEXT, "met", "events", "MEETING", "e1", realis="ACTUAL"),
            region(1, "a1", TEXT, "Molly Phee", "entities", "PERSON", "m1"),
        ]
    )
    rel = pl.DataFrame(
        {
            "annotation_id": [1, 1, 1],
            "article_id": ["a1"] * 3,
            "from_region_id": ["e1", "e1", "m1"],
            "to_region_id": ["m1", "nope", "e1"],
            "label": ["AGENT", "PLACE", "AGENT"],
        }
    )
    found = [p.rule for p in check_relations(rel, regions, TAX, file="t")]
    assert found == [
        "relation joins regions of the same annotation",
        "relations go from an event to an entity or quantity",
    ]


def test_same_characters_under_two_nestable_labels_is_a_conflict() -> None:
    # PERSON may contain ORG, but one span cannot be both.
    same = [
        region(1, "a1", TEXT, "Molly Phee", "entities", "PERSON", "r1"),
        region(1, "a1", TEXT, "Molly Phee", "entities", "ORG", "r2"),
    ]
    assert "mentions nest only as the taxonomy allows" in rules(same)
    nested = [
        region(1, "a1", TEXT, "Niger's junta", "entities", "ORG", "r1"),
        region(1, "a1", TEXT, "Niger", "entities", "GPE", "r2"),
    ]
    assert rules(nested) == []


def test_each_role_points_only_to_the_targets_the_taxonomy_gives_it() -> None:
    regions = regions_frame(
        [
            region(1, "a1", TEXT, "met", "events", "MEETING", "e1", realis="ACTUAL"),
            region(1, "a1", TEXT, "Molly Phee", "entities", "PERSON", "m1"),
            region(1, "a1", TEXT, "Niamey", "entities", "GPE", "g1"),
            region(1, "a1", TEXT, "1,000 troops", "quantities", "TROOPS", "q1"),
        ]
    )
    # (role, target): allowed by schemas/taxonomy.yaml's `targets`, or not
    cases = {
        ("AGENT", "m1"): True,
        ("PLACE", "g1"): True,
        ("PATIENT", "q1"): True,
        ("PLACE", "m1"): False,  # a place is a GPE, LOC or FAC
        ("TIME", "q1"): False,  # TIME points only to a DURATION
        ("WHEN", "g1"): False,  # no such role
    }
    rel = pl.DataFrame(
        {
            "annotation_id": [1] * len(cases),
            "article_id": ["a1"] * len(cases),
            "from_region_id": ["e1"] * len(cases),
            "to_region_id": [to for _, to in cases],
            "label": [role for role, _ in cases],
        }
    )
    found = check_relations(rel, regions, TAX, file="exports/a1.json")
    refused = {p.value: p for p in found}
    assert set(refused) == {
        "PLACE -> entities.PERSON",
        "TIME -> quantities.TROOPS",
        "WHEN -> entities.GPE",
    }
    place = refused["PLACE -> entities.PERSON"]
    assert (place.file, place.record, place.field, place.rule) == (
        "exports/a1.json",
        "a1/1/e1->m1",
        "label",
        "a role points only to the targets the taxonomy gives it",
    )
    assert "entities.GPE, entities.LOC, entities.FAC" in place.message
    assert "no role 'WHEN'" in refused["WHEN -> entities.GPE"].message


def test_committed_gold_relations_obey_the_role_targets() -> None:
    from sahelwire.annotations.layers import load_annotation_layers
    from sahelwire.io.paths import ProjectPaths

    layers = load_annotation_layers(ProjectPaths(ROOT), TAX)
    gold = layers.gold
    assert gold.relations.height > 0
    assert {"AGENT", "PATIENT", "PLACE", "TIME"} <= set(gold.relations["label"])
    assert check_relations(layers.relations, layers.regions, TAX, file="t") == []
    assert (
        check_relations(
            gold.relations,
            gold.regions,
            TAX,
            file="gold",
            from_col="from_key",
            to_col="to_key",
            id_col="region_key",
            group_col="article_id",
        )
        == []
    )


def test_region_tables_have_one_column_per_taxonomy_attribute() -> None:
    # worksheets, predictions and the gold layer build their region tables from this one
    # definition; a new attribute in the taxonomy must reach it (drift test)
    from sahelwire.schema.span_rules import REGION_ATTRIBUTE_COLUMNS, region_schema

    taxonomy = load_taxonomy(ROOT / "schemas" / "taxonomy.yaml")
    names = {a.name for layer in taxonomy.span_layers for a in layer.attributes}
    assert set(REGION_ATTRIBUTE_COLUMNS) == names
    assert list(region_schema("a", "b"))[:2] == ["a", "b"]


def _relation_verdicts_by_dict(relations: pl.DataFrame, regions: pl.DataFrame) -> list[tuple]:
    """The relation rules read plainly: each region looked up in a dict, relation by relation."""
    kind_of = {
        (r["annotation_id"], r["region_id"]): (r["layer"], r["label"])
        for r in regions.iter_rows(named=True)
    }
    events = TAX.layer("events")
    out = []
    for rel in relations.iter_rows(named=True):
        src = kind_of.get((rel["annotation_id"], rel["from_region_id"]))
        dst = kind_of.get((rel["annotation_id"], rel["to_region_id"]))
        rid = f"{rel['article_id']}/{rel['annotation_id']}/{rel['from_region_id']}->{rel['to_region_id']}"
        if src is None or dst is None:
            out.append(
                (rid, "from/to", rel["from_region_id"] if src is None else rel["to_region_id"])
            )
        elif src[0] != "events" or dst[0] not in events.relation_to_layers:
            out.append((rid, "from/to", f"{src[0]}->{dst[0]}"))
        elif not events.role_allows(rel["label"], *dst):
            out.append((rid, "label", f"{rel['label']} -> {dst[0]}.{dst[1]}"))
    return out


def test_relation_rules_by_joins_give_what_a_lookup_per_relation_gives() -> None:
    """check_relations screens relations with joins (fast on a corpus); on random regions and
    relations (missing ids, duplicate ids, wrong layers, unknown and null roles, null groups)
    it reports exactly the relations, in the order, a dict lookup per relation finds."""
    labels = {
        layer: list(TAX.class_names(f"span_layers.{layer}"))
        for layer in ("events", "events", "entities", "quantities", "zones")
    }
    roles = [r.name for r in TAX.layer("events").relation_labels] * 3 + ["WHEN", None]
    ids, groups = ["r0", "r1", "r2"], [1, 1, 1, 2, None]
    seen: Counter[str] = Counter()
    for seed in range(30):
        rng = random.Random(seed)
        regions = pl.DataFrame(
            [
                {
                    "annotation_id": rng.choice(groups),
                    "region_id": rng.choice(ids),  # duplicates too: the last one counts
                    "layer": (layer := rng.choice([*labels, "events"])),
                    "label": rng.choice(labels[layer]),
                }
                for _ in range(rng.choice([0, *range(8, 20)]))
            ],
            schema=SOURCE_SHAPES["regions"],
        )
        relations = pl.DataFrame(
            [
                {
                    "annotation_id": rng.choice(groups),
                    "article_id": "a1",
                    "from_region_id": rng.choice([*ids, *ids, "gone"]),
                    "to_region_id": rng.choice([*ids, *ids, "gone"]),
                    "label": rng.choice(roles),
                }
                for _ in range(30)
            ],
            schema=SOURCE_SHAPES["relations"],
        )
        found = [
            (p.record, p.field, p.value) for p in check_relations(relations, regions, TAX, file="t")
        ]
        expected = _relation_verdicts_by_dict(relations, regions)
        assert found == expected, seed
        seen["relations"] += relations.height
        seen["passed"] += relations.height - len(expected)
        seen.update(f if "->" not in str(v) or f == "label" else "layers" for _, f, v in expected)
        # Group ids of another type: 1 never finds "1" (only a null group finds a null one).
        as_text = relations.with_columns(pl.col("annotation_id").cast(pl.Utf8))
        found = [
            (p.record, p.field, p.value) for p in check_relations(as_text, regions, TAX, file="t")
        ]
        assert found == _relation_verdicts_by_dict(as_text, regions), seed
        # (A relation verdict always names its relation: a None record fails too.)
        assert not any(r is None or (r.startswith("a1/1/") and f != "from/to") for r, f, _ in found)
    # Not vacuous: every verdict occurred, and so did relations that pass.
    assert all(seen[k] > 10 for k in ("passed", "from/to", "layers", "label")), seen
