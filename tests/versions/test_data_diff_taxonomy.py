"""A MAJOR taxonomy version step is breaking even when no column or label list shows it
(taxonomy 3.0.0 narrowed what ``approximate`` means): the diff requires a major release."""

from __future__ import annotations

import copy
import json

import pytest

from helpers import ROOT
from sahelwire.versions.data_diff import diff_indexes, render_diff

V010 = json.loads((ROOT / "releases" / "v0.1.0.json").read_text(encoding="utf-8"))


def _with_taxonomy(version: str) -> dict[str, object]:
    new = copy.deepcopy(V010)
    new["version"] = "0.1.0+test"
    new["taxonomy_version"] = version
    return new


@pytest.mark.parametrize(
    ("old", "new", "level"),
    [("2.0.0", "3.0.0", "major"), ("2.0.0", "2.1.0", "patch"), ("2.0.0", "2.0.0", "patch")],
)
def test_only_a_major_taxonomy_step_is_breaking(old: str, new: str, level: str) -> None:
    diff = diff_indexes({**V010, "taxonomy_version": old}, _with_taxonomy(new))
    required, why = diff.required_level()
    assert required == level
    assert diff.taxonomy_breaking == (level == "major")
    if level == "major":
        assert why[0] == f"taxonomy: version {old} -> {new} (a MAJOR taxonomy change)"
        assert f"**BREAKING** taxonomy version: {old} → {new}" in render_diff(diff)


def test_the_first_release_has_no_taxonomy_to_break() -> None:
    diff = diff_indexes(None, _with_taxonomy("3.0.0"))
    assert not diff.taxonomy_breaking
    assert diff.required_level()[0] == "minor"
