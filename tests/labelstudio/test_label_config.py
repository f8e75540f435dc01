"""The checked-in labeling config is derived from schemas/ (drift test), shows text as text,
offers registry ids as per-label lists, has only the taxonomy's keys, and one role per
relation; the guidelines list exactly those keys."""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest
import yaml

from helpers import ROOT, copy_project, run_cli
from sahelwire.io.paths import ProjectPaths
from sahelwire.labelstudio.guidelines import GuidelinesError, with_generated_sections
from sahelwire.labelstudio.hotkeys import AUTO_HOTKEY_POOL, reserved_keys
from sahelwire.labelstudio.label_config import LabelConfig, controls, picker_name
from sahelwire.schema.registries import load_registries
from sahelwire.schema.taxonomy import (
    TaxonomyError,
    load_taxonomy,
    parse_taxonomy,
    taxonomy_hotkeys,
)

PATHS = ProjectPaths(ROOT)
TAX = load_taxonomy(PATHS.taxonomy_file)
CONFIG = LabelConfig.load(PATHS)


def xml_root() -> ET.Element:
    return ET.fromstring(PATHS.label_config_file.read_text(encoding="utf-8"))


def test_checked_in_label_config_and_guidelines_match_schemas() -> None:
    assert PATHS.label_config_file.read_text(encoding="utf-8") == CONFIG.xml()
    guide = (PATHS.annotations_dir / "GUIDELINES.md").read_text(encoding="utf-8")
    assert with_generated_sections(guide, TAX) == guide
    check = run_cli(ROOT, "labelstudio", "config", "--check")
    assert check.returncode == 0, check.stderr


def test_config_check_names_the_drifted_file_and_config_rewrites_it(tmp_path: Path) -> None:
    root = copy_project(tmp_path / "p")
    registry = root / "schemas" / "entities.yaml"
    data = yaml.safe_load(registry.read_text(encoding="utf-8"))
    data["entities"].append(
        {"id": "ent_agadez", "name": "Agadez", "type": "GPE", "aliases": ["Agadez"],
         "wikidata": None, "description": "A city in Niger."}
    )  # fmt: skip
    registry.write_text(yaml.safe_dump(data, allow_unicode=True), encoding="utf-8")
    check = run_cli(root, "labelstudio", "config", "--check")
    assert check.returncode == 1
    assert "label_config.xml is out of date" in check.stdout + check.stderr
    assert run_cli(root, "labelstudio", "config").returncode == 0
    gpe = ET.fromstring((root / "annotations/label_config.xml").read_text(encoding="utf-8"))
    picker = gpe.find(".//Choices[@name='entity_id_GPE']")
    assert picker is not None
    assert "ent_agadez" in [c.get("value") for c in picker.findall("Choice")]
    assert run_cli(root, "labelstudio", "config", "--check").returncode == 0


def test_config_files_that_are_not_utf8_are_named_not_a_traceback(tmp_path: Path) -> None:
    # Both were read as text: a decoder's error was a traceback.
    root = copy_project(tmp_path / "p")
    config = root / "annotations/label_config.xml"
    config.write_bytes(b"\xff" + config.read_bytes())
    check = run_cli(root, "labelstudio", "config", "--check")
    out = check.stdout + check.stderr
    assert check.returncode == 1 and "Traceback" not in out, out
    assert "label_config.xml is out of date" in out
    assert run_cli(root, "labelstudio", "config").returncode == 0  # rewritten from schemas/
    assert run_cli(root, "labelstudio", "config", "--check").returncode == 0
    guide = root / "annotations/GUIDELINES.md"
    guide.write_bytes(b"# Guide\n\xff")
    done = run_cli(root, "labelstudio", "config")
    out = done.stdout + done.stderr
    assert done.returncode == 1 and "Traceback" not in out, out
    assert "GUIDELINES.md: not UTF-8 (byte 8)" in out
    assert guide.read_bytes() == b"# Guide\n\xff"  # left as it was


@pytest.mark.parametrize("name", ["label_config.xml", "GUIDELINES.md"])
def test_a_folder_in_place_of_a_config_file_is_named_not_a_traceback(
    tmp_path: Path, name: str
) -> None:
    root = copy_project(tmp_path / "p")
    target = root / "annotations" / name
    target.unlink()
    target.mkdir()
    for args in (["--check"], []):
        done = run_cli(root, "labelstudio", "config", *args)
        out = done.stdout + done.stderr
        assert done.returncode == 1 and "Traceback" not in out, out
        assert f"annotations/{name}" in out and "Is a directory" in out, out
        assert target.is_dir()  # neither replaced nor removed


def test_every_taxonomy_name_is_a_control_and_text_is_never_html() -> None:
    root = xml_root()
    assert not root.findall(".//HyperText")
    assert [t.get("name") for t in root.findall(".//Text")] == ["text"]
    names = {e.get("name") for e in root.iter() if e.get("name")}
    for layer in TAX.span_layers:
        labels = root.find(f".//Labels[@name='{layer.name}']")
        assert labels is not None
        assert [lab.get("value") for lab in labels.findall("Label")] == list(layer.label_names)
    assert all(f.name in names for f in TAX.document_fields)
    # every control of the config is one the export parser knows (and maps to the taxonomy)
    known = controls(TAX)
    tags = {"Labels", "Choices", "TextArea", "Number"}
    config_controls = {e.get("name") for e in root.iter() if e.tag in tags}
    assert config_controls <= set(known)
    for layer in TAX.span_layers:
        for attr in layer.attributes:
            assert attr.name in config_controls  # typed form or the control itself


def test_one_role_per_relation_with_the_taxonomy_roles() -> None:
    relations = xml_root().findall(".//Relations")
    assert [r.get("choice") for r in relations] == ["single"]
    roles = [r.get("value") for r in relations[0].findall("Relation")]
    assert roles == [r.name for r in TAX.layer("events").relation_labels]


def test_registry_ids_are_lists_per_label_shown_only_for_that_label() -> None:
    root = xml_root()
    registries = load_registries(PATHS)
    expected = {
        ("entities", "entity_id", r["type"], r["id"])
        for r in registries.entities.iter_rows(named=True)
    } | {
        ("events", "event_id", r["type"], r["id"]) for r in registries.events.iter_rows(named=True)
    }
    found = set()
    for choices in root.iter("Choices"):
        control = controls(TAX).get(choices.get("name") or "")
        if control is None or control.label is None:
            continue
        assert choices.get("layout") == "select" and choices.get("choice") == "single"
        assert choices.get("perRegion") == "true"
        assert choices.get("whenTagName") == control.layer
        assert choices.get("whenLabelValue") == control.label
        assert choices.get("visibleWhen") == "region-selected"
        for choice in choices.findall("Choice"):
            assert choice.get("hint"), "hover shows the registry name and description"
            found.add((control.layer, control.target, control.label, choice.get("value")))
    assert found == expected
    # the new-entity route and the typed form (older annotations) next to the lists
    for name in ("entity_proposal", "event_proposal", "entity_id", "event_id"):
        area = root.find(f".//TextArea[@name='{name}']")
        assert area is not None and area.get("perRegion") == "true"


def test_every_key_is_the_taxonomys_and_label_studio_has_none_left_to_assign() -> None:
    root = xml_root()
    label_keys = [
        (lab.get("hotkey"), f"{labels.get('name')}.{lab.get('value')}")
        for labels in root.iter("Labels")
        for lab in labels.findall("Label")
        if lab.get("hotkey")
    ]
    assert label_keys == taxonomy_hotkeys(TAX)
    # no Choice, Number or other control has a key of its own
    keyed = [e for e in root.iter() if e.get("hotkey") and e.tag not in ("Label", "Filter")]
    assert keyed == []
    reserved = [f.get("hotkey") for f in root.iter("Filter")]
    assert reserved == list(reserved_keys(TAX))
    assert all(f.get("name") == f"reserved_key_{f.get('hotkey')}" for f in root.iter("Filter"))
    bound = [k for k, _ in label_keys] + reserved
    assert len(bound) == len(set(bound)), "no key bound twice"
    # Label Studio hands out keys only from its pool, and only while one is free
    assert set(AUTO_HOTKEY_POOL) <= set(bound)


def test_guidelines_list_every_key_as_the_config_binds_it() -> None:
    guide = (PATHS.annotations_dir / "GUIDELINES.md").read_text(encoding="utf-8")
    listed = dict(re.findall(r"\| `(\w)` (\w+)", guide))
    assert listed == {key: what.split(".")[1] for key, what in taxonomy_hotkeys(TAX)}
    reserved = re.search(r"\*\*Reserved keys\*\*: (.*?) do nothing", guide)
    assert reserved is not None
    assert re.findall(r"`(\w)`", reserved.group(1)) == list(reserved_keys(TAX))
    # the hand-written label tables give each label's key too: they must agree
    keys = {what.split(".")[1]: key for key, what in taxonomy_hotkeys(TAX)}
    inline = re.findall(r"\| `([A-Z_]+)` \((\w)\) \|", guide)
    assert inline and {label: key for label, key in inline} == {lab: keys[lab] for lab, _ in inline}


def test_guidelines_without_markers_are_refused_by_name() -> None:
    with pytest.raises(GuidelinesError, match="no generated keys section"):
        with_generated_sections("# Guidelines\n", TAX)


def test_registry_ids_go_into_the_list_of_the_regions_label_else_the_typed_field() -> None:
    span = {"start": 3, "end": 8}
    picked = CONFIG.attribute_item("r1", "entities", "GPE", "entity_id", "ent_niger", span)
    assert picked == {
        "id": "r1",
        "from_name": picker_name(TAX.layer("entities").attribute("entity_id"), "GPE"),  # type: ignore[arg-type]
        "to_name": "text",
        "type": "choices",
        "value": {"start": 3, "end": 8, "choices": ["ent_niger"]},
    }
    # not in that list (another label's id, or one the registry lacks): the typed form
    for label, value in (("ORG", "ent_niger"), ("GPE", "ent_atlantis")):
        typed = CONFIG.attribute_item("r1", "entities", label, "entity_id", value, span)
        assert (typed["from_name"], typed["type"], typed["value"]["text"]) == (
            "entity_id",
            "textarea",
            [value],
        )
    flag = CONFIG.attribute_item("q", "quantities", "TROOPS", "approximate", True, span)
    assert flag["value"]["choices"] == ["true"]
    bound = CONFIG.attribute_item("q", "quantities", "TROOPS", "bound", "MORE_THAN", span)
    assert (bound["from_name"], bound["type"], bound["value"]["choices"]) == (
        "bound",
        "choices",
        ["MORE_THAN"],
    )
    number = CONFIG.attribute_item("q", "quantities", "TROOPS", "value", 650.0, span)
    assert number["value"]["number"] == 650 and isinstance(number["value"]["number"], int)


def test_typed_and_picked_forms_convert_both_ways() -> None:
    span = {"start": 0, "end": 5}
    results = [
        {"id": "r1", "from_name": "entities", "to_name": "text", "type": "labels",
         "value": {**span, "text": "Niger", "labels": ["GPE"]}},
        {"id": "r1", "from_name": "entity_id", "to_name": "text", "type": "textarea",
         "value": {**span, "text": ["ent_niger"]}},
        {"id": "r2", "from_name": "events", "to_name": "text", "type": "labels",
         "value": {**span, "text": "coup!", "labels": ["COUP"]}},
        {"id": "r2", "from_name": "event_id", "to_name": "text", "type": "textarea",
         "value": {**span, "text": ["evt_not_in_registry"]}},
    ]  # fmt: skip
    converted = CONFIG.in_config_form(results)
    assert [(r["from_name"], r["type"]) for r in converted] == [
        ("entities", "labels"),
        ("entity_id_GPE", "choices"),
        ("events", "labels"),
        ("event_id", "textarea"),  # no list offers it: left typed, nothing lost
    ]
    assert CONFIG.comparable(converted) == results


@pytest.mark.parametrize(
    ("edit", "message"),
    [
        (lambda t: t["span_layers"]["events"]["labels"][0].update(hotkey="q"), "used by"),
        (lambda t: t["span_layers"]["zones"]["labels"][0].update(hotkey="u"), "editor"),
        (
            lambda t: t["span_layers"]["events"]["relations"]["labels"][0].update(
                targets=["zones"]
            ),
            "not in to_layers",
        ),
        (
            lambda t: t["span_layers"]["events"]["relations"]["labels"][0].update(
                targets=["entities.CITY"]
            ),
            "no label 'CITY'",
        ),
    ],
)
def test_taxonomy_refuses_clashing_keys_and_unknown_targets(edit: object, message: str) -> None:
    data = yaml.safe_load(PATHS.taxonomy_file.read_text(encoding="utf-8"))
    edit(data)  # type: ignore[operator]
    with pytest.raises(TaxonomyError, match=message):
        parse_taxonomy(data)


def test_bound_is_a_required_single_choice_of_quantities_and_time_offset_has_a_key() -> None:
    # taxonomy 3.0.0: new quantities must say their bound; TIME_OFFSET took a reserved key
    root = xml_root()
    bound = root.find(".//Choices[@name='bound']")
    assert bound is not None
    assert (bound.get("whenTagName"), bound.get("perRegion"), bound.get("choice")) == (
        "quantities",
        "true",
        "single",
    )
    assert bound.get("required") == "true"
    values = TAX.layer("quantities").attribute("bound").values  # type: ignore[union-attr]
    assert [c.get("value") for c in bound.findall("Choice")] == list(values or ())
    assert values == ("POINT", "MORE_THAN", "AT_LEAST", "LESS_THAN", "AT_MOST")
    offset = root.find(".//Labels[@name='quantities']/Label[@value='TIME_OFFSET']")
    assert offset is not None and offset.get("hotkey") == "n"
    assert "n" not in reserved_keys(TAX) and "n" in AUTO_HOTKEY_POOL
