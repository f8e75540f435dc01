"""Every committed annotation worksheet resolves against its raw article and obeys the rules.

The worksheets are the annotator's reviewable source of the Label Studio annotation; these
tests prove the spans land where the surface text says, the regions obey the taxonomy and
registries (via sahelwire.schema.span_rules, the same rules `sahelwire validate` applies to
exports), and the Label Studio results follow docs/label_studio_format.md.
"""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path
from typing import Any

import polars as pl
import pytest
import yaml

from helpers import ROOT, copy_project, run_cli
from sahelwire.io.paths import ProjectPaths
from sahelwire.labelstudio.controls import attribute_result_type
from sahelwire.labelstudio.offsets import from_label_studio
from sahelwire.labelstudio.worksheets import (
    WorksheetError,
    attribute_kinds,
    check_worksheets,
    layer_attributes,
    worksheet_annotators,
    worksheet_dir,
    worksheet_results,
    worksheet_tables,
)
from sahelwire.raw.manifest import load_articles
from sahelwire.schema.taxonomy import load_taxonomy

PATHS = ProjectPaths.discover(ROOT)
ARTICLES = {a.id: a.text for a in load_articles(PATHS)}
FIRST = "ai-annotator-1@sahelwire.local"
ANNOTATORS = worksheet_annotators(PATHS)


def _all_tables() -> tuple[pl.DataFrame, pl.DataFrame]:
    tables = [worksheet_tables(PATHS, a) for a in ANNOTATORS]
    return pl.concat([t[0] for t in tables]), pl.concat([t[1] for t in tables])


def test_worksheets_live_in_one_folder_per_known_annotator() -> None:
    folders = sorted(p.name for p in (PATHS.annotations_dir / "worksheets").iterdir())
    assert folders == sorted(a.split("@")[0] for a in ANNOTATORS)
    assert FIRST in ANNOTATORS


@pytest.mark.parametrize("annotator", ANNOTATORS)
def test_every_article_has_a_worksheet(annotator: str) -> None:
    folder = worksheet_dir(PATHS, annotator)
    assert sorted(p.stem for p in folder.glob("*.yaml")) == sorted(ARTICLES)


@pytest.mark.parametrize("annotator", ANNOTATORS)
def test_worksheets_obey_span_rules_and_registries(annotator: str) -> None:
    # bounds, text slice, zone overlap, entity nesting, registry ids and their types,
    # realis/value/approximate present, relations join existing event -> argument regions
    assert [str(p) for p in check_worksheets(PATHS, annotator)] == []


def test_every_slice_equals_its_text_and_has_no_outer_whitespace() -> None:
    regions, _ = _all_tables()
    assert regions.height > 300
    for row in regions.iter_rows(named=True):
        text = ARTICLES[row["article_id"]]
        assert text[row["start"] : row["end"]] == row["text"]
        assert row["text"] == row["text"].strip(), row


def test_every_layer_and_registry_entry_is_used() -> None:
    regions, relations = _all_tables()
    taxonomy = load_taxonomy(PATHS.taxonomy_file)
    per_article_layers = {(r["article_id"], r["layer"]) for r in regions.iter_rows(named=True)}
    for aid in ARTICLES:
        for layer in ("zones", "entities", "events", "quantities"):
            assert (aid, layer) in per_article_layers
    entity_labels = set(regions.filter(regions["layer"] == "entities")["label"])
    assert entity_labels == set(taxonomy.layer("entities").label_names)
    registry = yaml.safe_load(PATHS.entities_registry.read_text(encoding="utf-8"))["entities"]
    events = yaml.safe_load(PATHS.events_registry.read_text(encoding="utf-8"))["events"]
    assert {e["id"] for e in registry} <= set(regions["entity_id"].drop_nulls())
    # A retired entry (guidelines v2 §3.4) stays only so that v1 annotations remain readable.
    live = {e["id"] for e in events if not e["name"].startswith("Retired:")}
    assert live <= set(regions["event_id"].drop_nulls())
    assert set(relations["label"]) == {"AGENT", "PATIENT", "PLACE", "TIME"}


def test_linked_mentions_are_registry_aliases() -> None:
    # the pre-annotation gazetteer is built from the aliases: every linked surface is one
    registry = yaml.safe_load(PATHS.entities_registry.read_text(encoding="utf-8"))["entities"]
    aliases = {e["id"]: set(e["aliases"]) for e in registry}
    regions, _ = _all_tables()
    missing = {
        (r["entity_id"], r["text"])
        for r in regions.iter_rows(named=True)
        if r["entity_id"] is not None and r["text"] not in aliases[r["entity_id"]]
    }
    assert missing == set()


@pytest.mark.parametrize("annotator", ANNOTATORS)
@pytest.mark.parametrize("article_id", sorted(ARTICLES))
def test_label_studio_results_follow_the_contract(article_id: str, annotator: str) -> None:
    results = worksheet_results(PATHS, article_id, annotator)
    text = ARTICLES[article_id]
    spans = {r["id"]: r for r in results if r["type"] == "labels"}
    assert spans
    for r in results:
        if r["type"] == "relation":
            assert r["from_id"] in spans and r["to_id"] in spans
            assert spans[r["from_id"]]["from_name"] == "events"
            assert r["direction"] == "right" and len(r["labels"]) == 1
        elif r["from_name"] in ("stance_us_presence", "primary_frame", "quality_flags", "notes"):
            assert r["to_name"] == "text" and "start" not in r["value"]
        else:
            assert r["to_name"] == "text"
            v = r["value"]
            # offsets are in Label Studio's unit (sahelwire.labelstudio.offsets, measured in a browser)
            s, e = from_label_studio(text, v["start"], v["end"])
            assert text[s:e] == spans[r["id"]]["value"]["text"]
            if r["type"] == "labels":
                assert len(v["labels"]) == 1
            else:  # per-region attribute shares its span's id and position
                span = spans[r["id"]]["value"]
                assert (v["start"], v["end"]) == (span["start"], span["end"])
    names = Counter(r.get("from_name") for r in results if r["type"] != "labels")
    assert names["stance_us_presence"] == names["primary_frame"] == 1
    events = [r for r in spans.values() if r["from_name"] == "events"]
    realis = {r["id"] for r in results if r.get("from_name") == "realis"}
    assert {e["id"] for e in events} == realis


def _broken(tmp_path: Path, article_id: str, region: dict[str, object]) -> ProjectPaths:
    root = copy_project(tmp_path / "p")
    path = root / "annotations" / "worksheets" / "ai-annotator-1" / f"{article_id}.yaml"
    sheet = yaml.safe_load(path.read_text(encoding="utf-8"))
    sheet["regions"].append(region)
    path.write_text(yaml.safe_dump(sheet, allow_unicode=True), encoding="utf-8")
    return ProjectPaths.discover(root)


@pytest.mark.parametrize(
    ("region", "rule"),
    [
        ({"id": "x", "layer": "entities", "label": "GPE", "text": "Atlantis"}, "span text exists"),
        ({"id": "x", "layer": "entities", "label": "GPE", "text": "Niger"}, "unambiguous"),
        ({"id": "x", "layer": "entities", "label": "GPE", "text": "Nige", "n": 1}, "whole words"),
        ({"id": "x", "layer": "entities", "label": "CITY", "text": "Pentagon"}, "not in taxonomy"),
        (
            {"id": "x", "layer": "events", "label": "COUP", "text": "ousted", "realis": "MAYBE"},
            "realis",
        ),
        (
            {"id": "x", "layer": "zones", "label": "CAPTION", "text": "Pentagon", "unit": "x"},
            "attributes",
        ),
        (
            {
                "id": "x",
                "layer": "quantities",
                "label": "TROOPS",
                "text": "around 650 troops",
                "value": 650,
                "approximate": True,
                "bound": "ABOUT",
            },
            "bound 'ABOUT' not in ['POINT', 'MORE_THAN', 'AT_LEAST', 'LESS_THAN', 'AT_MOST']",
        ),
        (
            {
                "id": "x",
                "layer": "entities",
                "label": "ORG",
                "text": "Pentagon",
                "n": 1,
                "bound": "POINT",
            },
            "['bound'] not allowed on entities",
        ),
    ],
)
def test_bad_region_is_named(tmp_path: Path, region: dict[str, object], rule: str) -> None:
    aid = "001_a9cbf47f8b5096a3"
    paths = _broken(tmp_path, aid, region)
    with pytest.raises(WorksheetError) as err:
        worksheet_results(paths, aid, FIRST)
    message = str(err.value)
    assert f"annotations/worksheets/ai-annotator-1/{aid}.yaml" in message and "region #" in message
    assert rule in message


@pytest.mark.parametrize(
    ("damage", "said"),
    [
        ("not UTF-8", r"not UTF-8 \(byte 0\)"),
        ("not YAML", "not YAML"),
        ("a folder", "cannot be read"),
    ],
)
def test_a_worksheet_that_cannot_be_read_is_named_not_a_traceback(
    tmp_path: Path, damage: str, said: str
) -> None:
    # check-worksheets catches WorksheetError only: a decoder's error was a traceback.
    aid = "001_a9cbf47f8b5096a3"
    paths = ProjectPaths.discover(copy_project(tmp_path / "p"))
    path = worksheet_dir(paths, FIRST) / f"{aid}.yaml"
    if damage == "a folder":
        path.unlink()
        path.mkdir()
    else:
        path.write_bytes(b"\xff\xfe" if damage == "not UTF-8" else b"regions: [\n")
    with pytest.raises(WorksheetError, match=said) as err:
        check_worksheets(paths, FIRST)
    assert f"ai-annotator-1/{aid}.yaml" in str(err.value)


@pytest.mark.parametrize(
    ("damage", "said"),
    [
        ("not JSON", "rule file is one complete JSON object: not JSON"),
        ("a folder", "rule file is readable: Is a directory"),
    ],
)
def test_check_worksheets_names_an_annotator_list_it_cannot_read(
    tmp_path: Path, damage: str, said: str
) -> None:
    root = copy_project(tmp_path / "p")
    known = root / "annotations/annotators.json"
    if damage == "a folder":
        known.unlink()
        known.mkdir()
    else:
        known.write_bytes(b'{"a@b.c": {}')
    done = run_cli(root, "labelstudio", "check-worksheets")
    out = done.stdout + done.stderr
    assert done.returncode == 1 and "Traceback" not in out, out
    assert f"annotations/annotators.json: {said}" in out


def test_check_worksheets_refuses_an_annotator_list_validate_refuses(tmp_path: Path) -> None:
    # One reader of annotators.json: check-worksheets read an entry validate refuses (an
    # e-mail with a non-empty object) as a known annotator and checked their worksheets.
    root = copy_project(tmp_path / "p")
    known = root / "annotations/annotators.json"
    data = json.loads(known.read_text(encoding="utf-8"))
    first = sorted(data)[0]
    data[first] = {"role": "annotator"}
    known.write_text(json.dumps(data), encoding="utf-8")
    done = run_cli(root, "labelstudio", "check-worksheets")
    out = done.stdout + done.stderr
    assert done.returncode == 1 and "Traceback" not in out, out
    assert f"record {first}" in out and 'rule each annotator is "<e-mail>": {}' in out
    valid = run_cli(root, "validate", "--no-dist")
    assert (
        valid.returncode == 1 and 'each annotator is "<e-mail>": {}' in valid.stdout + valid.stderr
    )


def test_check_worksheets_names_a_folder_no_known_annotator_has(tmp_path: Path) -> None:
    # It said "0 annotator folder(s) resolve with 0 problems" and checked nothing.
    root = copy_project(tmp_path / "p")
    (root / "annotations/annotators.json").write_text("{}\n", encoding="utf-8")
    done = run_cli(root, "labelstudio", "check-worksheets")
    out = done.stdout + done.stderr
    assert done.returncode == 1 and "Traceback" not in out, out
    for handle in ("ai-annotator-1", "ai-annotator-2"):
        assert (
            f"annotations/worksheets/{handle}/: no annotator in annotations/annotators.json" in out
        )


def test_registry_type_mismatch_is_reported(tmp_path: Path) -> None:
    aid = "001_a9cbf47f8b5096a3"
    region: dict[str, object] = {"id": "x", "layer": "entities", "label": "ORG", "text": "Vedant Patel",
              "entity_id": "ent_vedant_patel"}  # fmt: skip
    problems = check_worksheets(_broken(tmp_path, aid, region), FIRST)
    found = {(p.field, p.rule, p.value) for p in problems}
    assert ("entity_id", "registry type agrees with label", "ent_vedant_patel") in found
    # The same characters are already a PERSON mention: one span cannot carry two labels.
    assert {p.rule for p in problems} == {
        "registry type agrees with label",
        "mentions nest only as the taxonomy allows",
    }


A002 = "002_4eb8b75709aad65d"


def _edit_002(tmp_path: Path, edit: Any) -> ProjectPaths:
    root = copy_project(tmp_path / "p")
    path = root / "annotations" / "worksheets" / "ai-annotator-1" / f"{A002}.yaml"
    sheet = yaml.safe_load(path.read_text(encoding="utf-8"))
    edit(sheet)
    path.write_text(yaml.safe_dump(sheet, allow_unicode=True), encoding="utf-8")
    return ProjectPaths.discover(root)


def test_worksheet_keys_are_the_taxonomys_attributes() -> None:
    taxonomy = load_taxonomy(PATHS.taxonomy_file)
    assert layer_attributes(taxonomy)["quantities"] == {"value", "unit", "approximate", "bound"}
    assert layer_attributes(taxonomy)["zones"] == set()
    kinds = attribute_kinds(taxonomy)
    for layer in taxonomy.span_layers:
        for attr in layer.attributes:
            assert kinds[attr.name] == attribute_result_type(attr)
    assert (kinds["bound"], kinds["approximate"], kinds["value"]) == (
        "choices",
        "choices",
        "number",
    )


def test_bound_and_time_offset_resolve_into_results_and_tables(tmp_path: Path) -> None:
    # guidelines v2: "a year ago" is a TIME_OFFSET with a TIME relation; "at least" a bound
    def edit(sheet: dict[str, Any]) -> None:
        for r in sheet["regions"]:
            if r.get("id") == "q_troops":
                r["bound"] = "AT_LEAST"

    paths = _edit_002(tmp_path, edit)
    results = worksheet_results(paths, A002, FIRST)
    bounds = {r["id"]: r["value"]["choices"] for r in results if r.get("from_name") == "bound"}
    assert bounds["q_year_ago"] == ["POINT"] and bounds["q_troops"] == ["AT_LEAST"]
    labels = {r["id"]: r["value"]["labels"] for r in results if r["type"] == "labels"}
    assert labels["q_year_ago"] == ["TIME_OFFSET"]
    assert {
        "from_id": "v_blinken_visit",
        "to_id": "q_year_ago",
        "labels": ["TIME"],
    }.items() <= next(
        r for r in results if r["type"] == "relation" and r["to_id"] == "q_year_ago"
    ).items()
    regions, _ = worksheet_tables(paths, FIRST, [A002])
    got = {r["region_id"]: r["bound"] for r in regions.iter_rows(named=True) if r["bound"]}
    assert got["q_year_ago"] == "POINT" and got["q_troops"] == "AT_LEAST"
    assert check_worksheets(paths, FIRST, [A002]) == []


@pytest.mark.parametrize(
    ("edit", "rule"),
    [
        # TIME points at a DURATION or TIME_OFFSET quantity only (the taxonomy's targets)
        (
            lambda s: s["relations"].append(
                {"from": "v_blinken_visit", "to": "q_troops", "label": "TIME"}
            ),
            "TIME -> quantities.TROOPS (rule: TIME points to quantities.DURATION, "
            "quantities.TIME_OFFSET)",
        ),
        # and no other role points at one
        (
            lambda s: s["relations"].append(
                {"from": "v_blinken_visit", "to": "q_decade", "label": "AGENT"}
            ),
            "AGENT -> quantities.DURATION (rule: AGENT points to entities",
        ),
    ],
)
def test_a_relation_to_a_target_its_role_does_not_allow_is_named(
    tmp_path: Path, edit: Any, rule: str
) -> None:
    paths = _edit_002(tmp_path, edit)
    with pytest.raises(WorksheetError) as err:
        worksheet_results(paths, A002, FIRST)
    assert f"annotations/worksheets/ai-annotator-1/{A002}.yaml relation #" in str(err.value)
    assert rule in str(err.value)
