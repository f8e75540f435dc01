"""The checked-in labeling config is derived from the taxonomy (drift test) and shows text as text."""

from __future__ import annotations

import xml.etree.ElementTree as ET

from helpers import ROOT, run_cli
from sahelwire.io.paths import ProjectPaths
from sahelwire.labelstudio.label_config import render_label_config
from sahelwire.schema.taxonomy import load_taxonomy


def test_checked_in_label_config_matches_taxonomy() -> None:
    paths = ProjectPaths(ROOT)
    expected = render_label_config(load_taxonomy(paths.taxonomy_file))
    assert paths.label_config_file.read_text(encoding="utf-8") == expected
    check = run_cli(ROOT, "labelstudio", "config", "--check")
    assert check.returncode == 0, check.stderr


def test_every_taxonomy_name_is_a_control_and_text_is_never_html() -> None:
    paths = ProjectPaths(ROOT)
    taxonomy = load_taxonomy(paths.taxonomy_file)
    root = ET.fromstring(paths.label_config_file.read_text(encoding="utf-8"))
    assert not root.findall(".//HyperText")
    assert [t.get("name") for t in root.findall(".//Text")] == ["text"]
    names = {e.get("name") for e in root.iter() if e.get("name")}
    for layer in taxonomy.span_layers:
        labels = root.find(f".//Labels[@name='{layer.name}']")
        assert labels is not None
        assert [lab.get("value") for lab in labels.findall("Label")] == list(layer.label_names)
        assert all(a.name in names for a in layer.attributes)
    assert all(f.name in names for f in taxonomy.document_fields)
    relations = {r.get("value") for r in root.findall(".//Relation")}
    assert relations == {"AGENT", "PATIENT", "PLACE", "TIME"}
