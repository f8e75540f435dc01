"""schemas/ is the single source of truth: derived artifacts must match it."""

from __future__ import annotations

import math
import shutil
from pathlib import Path

import datasets
import polars as pl
import pytest
import yaml

from helpers import ROOT, copy_project, run_cli
from sahelwire.schema.pandera_schemas import dataframe_schema
from sahelwire.schema.table_specs import ShapeBuilder, load_table_specs
from sahelwire.schema.taxonomy import (
    COLOUR_MIN_DELTA_E,
    TaxonomyError,
    drawn_lab,
    load_taxonomy,
    parse_taxonomy,
)

TAX = load_taxonomy(ROOT / "schemas/taxonomy.yaml")
SPECS = load_table_specs(ROOT / "schemas/tables.yaml")


def test_checked_in_card_matches_its_sources(tmp_path: Path) -> None:
    # DATASET_CARD.md's YAML (configs, dataset_info) and label tables are generated;
    # a hand edit or a schema change without `sahelwire card` fails here.
    root = copy_project(tmp_path)
    # The Splits section names the release whose articles keep their split (releases/).
    shutil.copytree(ROOT / "releases", root / "releases")
    result = run_cli(root, "card", "--check")
    assert result.returncode == 0, result.stderr


def test_card_label_tables_list_every_label() -> None:
    card = (ROOT / "DATASET_CARD.md").read_text(encoding="utf-8")
    for layer in TAX.span_layers:
        for label in layer.label_names:
            assert f"`{label}`" in card


def test_features_and_arrow_schemas_agree_for_every_config() -> None:
    shapes = ShapeBuilder(SPECS, TAX)
    for name, spec in SPECS.configs.items():
        features = shapes.features(spec)
        arrow = shapes.arrow_schema(spec, published=True)
        assert features.arrow_schema.types == arrow.types, name


def test_classlabel_names_come_from_the_taxonomy() -> None:
    features = ShapeBuilder(SPECS, TAX).features(SPECS.configs["documents"])
    zone = features["zones"].feature["label"]
    assert isinstance(zone, datasets.ClassLabel)
    assert tuple(zone.names) == TAX.layer("zones").label_names


def test_every_source_table_has_a_pandera_schema() -> None:
    for name, spec in SPECS.source.items():
        schema = dataframe_schema(spec, TAX, published=False)
        assert list(schema.columns) == list(spec.column_names), name


def test_hotkey_clash_is_refused() -> None:
    data = yaml.safe_load((ROOT / "schemas/taxonomy.yaml").read_text())
    data["span_layers"]["entities"]["labels"][0]["hotkey"] = "1"  # HEADLINE's hotkey
    with pytest.raises(TaxonomyError, match="hotkey"):
        parse_taxonomy(data)


@pytest.mark.parametrize(
    ("colour", "delta"),
    [
        ("GPE", "0.0"),  # the same colour (upper case): ten were shared across layers
        ("nudged", None),  # a code four steps of green from GPE's: the same as drawn
    ],
)
def test_a_colour_like_another_labels_as_drawn_is_refused(colour: str, delta: str | None) -> None:
    """All layers show on one text, each span at 30% opacity: two labels whose colours look
    alike so drawn cannot be told apart (distinct codes #1f77b4 and #3182bd were ΔE 1.5)."""
    data = yaml.safe_load((ROOT / "schemas/taxonomy.yaml").read_text())
    gpe = next(la for la in data["span_layers"]["entities"]["labels"] if la["name"] == "GPE")
    code = gpe["color"]
    nudged = f"{code[:3]}{int(code[3:5], 16) - 4:02x}{code[5:]}"
    given = {"GPE": code.upper(), "nudged": nudged}[colour]
    data["span_layers"]["events"]["labels"][0]["color"] = given
    with pytest.raises(TaxonomyError, match=r"looks like entities\.GPE's as the editor draws") as e:
        parse_taxonomy(data)
    assert "at 30% opacity on white; at least 10" in str(e.value)
    if delta is not None:
        assert f"ΔE {delta} " in str(e.value)


@pytest.mark.parametrize("colour", ["red", "#0af", "#00ccfg"])
def test_a_colour_that_is_not_rrggbb_is_refused(colour: str) -> None:
    """The distance rule needs the code's channels: a CSS name or a short code is named."""
    data = yaml.safe_load((ROOT / "schemas/taxonomy.yaml").read_text())
    data["span_layers"]["events"]["labels"][0]["color"] = colour
    with pytest.raises(TaxonomyError, match=rf"colour '{colour}' of events\.\w+ is not #rrggbb"):
        parse_taxonomy(data)


def test_the_committed_colours_are_apart_as_drawn() -> None:
    labs = [
        (f"{layer.name}.{label.name}", drawn_lab(str(label.color)))
        for layer in TAX.span_layers
        for label in layer.labels
    ]
    closest = min(math.dist(a, b) for i, (_, a) in enumerate(labs) for _, b in labs[i + 1 :])
    assert closest >= COLOUR_MIN_DELTA_E and len(labs) == 28
    assert drawn_lab("#ffffff") == pytest.approx((100.0, 0.0, 0.0), abs=0.05)  # white is white


def test_annotation_layers_of_design_are_present() -> None:
    assert TAX.layer_names == ("zones", "entities", "events", "quantities")
    realis = TAX.layer("events").attribute("realis")
    assert realis is not None
    assert set(realis.values or ()) == {
        "ACTUAL",
        "PLANNED",
        "HYPOTHETICAL",
        "NEGATED",
    }
    assert {f.name for f in TAX.document_fields} == {
        "stance_us_presence",
        "primary_frame",
        "quality_flags",
        "notes",
    }


def test_source_table_shapes_are_derived_from_the_table_specs() -> None:
    """The parser's frames have exactly the columns and types schemas/tables.yaml states."""
    from sahelwire.annotations.tables import SOURCE_TABLES, load_source_shapes
    from sahelwire.io.paths import ProjectPaths
    from sahelwire.schema.table_specs import load_table_specs

    paths = ProjectPaths(ROOT)
    specs = load_table_specs(paths.tables_file)
    shapes = load_source_shapes(paths)
    for frame, table in SOURCE_TABLES.items():
        assert tuple(shapes[frame]) == specs.source[table].column_names
    assert shapes["regions"]["realis"] == pl.Utf8  # labels stay strings in source tables
    assert shapes["annotations"]["annotation_id"] == pl.Int64


def test_published_shapes_name_the_article_once_and_reference_real_columns() -> None:
    """One name for the article id; every reference and key points at a declared column."""
    from sahelwire.schema.table_specs import ARTICLE_ID

    for name, spec in SPECS.configs.items():
        assert "id" not in spec.column_names, name
        assert spec.split_by in ("article", "none"), name
        if spec.split_by == "article":
            assert ARTICLE_ID in spec.column_names, name
        assert set(spec.key) <= set(spec.column_names), name
        for column, target in spec.references.items():
            config, field = target.split(".")
            assert field in SPECS.configs[config].column_names, (name, column, target)
            assert field in SPECS.configs[config].key or SPECS.configs[config].column(
                field
            ).checks.get("unique"), target
    assert SPECS.unsplit not in ("train", "validation", "test", "all")


def test_zone_and_unit_class_labels_come_from_the_taxonomy() -> None:
    from sahelwire.schema.taxonomy import BODY_ZONE

    features = ShapeBuilder(SPECS, TAX).features(SPECS.configs["quantities"])
    assert tuple(features["zone"].names) == (BODY_ZONE, *TAX.layer("zones").label_names)
    unit = TAX.layer("quantities").attribute("unit")
    assert unit is not None and unit.units
    assert tuple(features["unit"].names) == tuple(u.name for u in unit.units)
    assert unit.unit_of("Troops") == unit.unit_of("soldiers") == "people"
    assert unit.unit_of("tanks") is None


def test_a_unit_alias_naming_two_units_is_refused() -> None:
    data = yaml.safe_load((ROOT / "schemas/taxonomy.yaml").read_text())
    units = data["span_layers"]["quantities"]["attributes"]["unit"]["units"]
    units[1]["aliases"].append("troops")  # already an alias of people
    with pytest.raises(TaxonomyError, match="troops"):
        parse_taxonomy(data)
