"""docs/annotation_workflow.md names exactly the project settings push keeps, and is linked."""

from __future__ import annotations

import re

from helpers import ROOT
from sahelwire.io.config import Settings
from sahelwire.labelstudio.push import project_settings

DOC = ROOT / "docs/annotation_workflow.md"


def test_the_settings_table_lists_every_field_push_sets_and_no_other() -> None:
    settings = Settings.from_pyproject(ROOT / "pyproject.toml")
    documented = re.findall(r"^\| `(\w+)` \|", DOC.read_text(encoding="utf-8"), flags=re.M)
    assert sorted(documented) == sorted(project_settings(settings))


def test_overlap_follows_the_setting() -> None:
    settings = Settings.from_pyproject(ROOT / "pyproject.toml")
    wanted = project_settings(settings)
    assert wanted["maximum_annotations"] == settings.annotators_per_task
    assert wanted["overlap_cohort_percentage"] == 100


def test_readme_and_the_label_studio_doc_link_it() -> None:
    assert "docs/annotation_workflow.md" in (ROOT / "README.md").read_text(encoding="utf-8")
    assert "annotation_workflow.md" in (ROOT / "docs/label_studio.md").read_text(encoding="utf-8")
