"""push with the generated config on a real server: the baseline's registry ids arrive in the
per-label lists, and a project still on the config with typed ids (annotations included) is
upgraded without losing them."""

from __future__ import annotations

from typing import Any

import pytest

from helpers import ROOT, ls_tasks, run_cli
from sahelwire.io.paths import ProjectPaths
from sahelwire.labelstudio.client import Connection
from sahelwire.labelstudio.label_config import LabelConfig
from sahelwire.labelstudio.project import require_project

pytestmark = pytest.mark.labelstudio

# annotations/label_config.xml as it was before the registry lists (ids typed by hand)
TYPED_IDS_CONFIG = (ROOT / "tests" / "fixtures" / "label_config_typed_ids.xml").read_text(
    encoding="utf-8"
)


def test_predicted_registry_ids_are_in_the_lists_of_their_label(
    ls_project: ProjectPaths, ls_conn: Connection
) -> None:
    assert run_cli(ls_project.root, "labelstudio", "push", "--quiet").returncode == 0
    project = require_project(ls_conn, ls_project)
    config = LabelConfig.load(ls_project)
    picked = 0
    for task in ls_tasks(ls_conn.client, project=project.id, fields="all"):
        for prediction in task.predictions or []:
            result: list[dict[str, Any]] = getattr(prediction, "result", None) or []
            labels = {r["id"]: r["value"]["labels"][0] for r in result if r["type"] == "labels"}
            for r in result:
                assert r["from_name"] not in ("entity_id", "event_id"), "left in the typed form"
                if r["from_name"].startswith("entity_id_"):
                    assert r["from_name"] == f"entity_id_{labels[r['id']]}"
                    offered = {i for i, _ in config.pickers[r["from_name"]]}
                    assert r["value"]["choices"][0] in offered
                    picked += 1
    assert picked > 0


def test_a_project_on_the_typed_id_config_is_upgraded_with_its_annotations(
    ls_project: ProjectPaths, ls_conn: Connection
) -> None:
    root = ls_project.root
    assert run_cli(root, "labelstudio", "push", "--quiet").returncode == 0
    project = require_project(ls_conn, ls_project)
    assert project.id is not None
    ls_conn.client.projects.update(id=project.id, label_config=TYPED_IDS_CONFIG)
    task = next(iter(ls_tasks(ls_conn.client, project=project.id)))
    text = task.data["text"]
    word = "Niger"
    at = text.index(word)
    span = {"start": at, "end": at + len(word)}
    result = [
        {"id": "r1", "from_name": "entities", "to_name": "text", "type": "labels",
         "value": {**span, "text": word, "labels": ["GPE"]}},
        {"id": "r1", "from_name": "entity_id", "to_name": "text", "type": "textarea",
         "value": {**span, "text": ["ent_niger"]}},
    ]  # fmt: skip
    ls_conn.client.annotations.create(id=task.id, result=result)
    pushed = run_cli(root, "labelstudio", "push", "--quiet")
    assert pushed.returncode == 0, pushed.stdout + pushed.stderr
    assert "label config updated" in pushed.stdout
    upgraded = require_project(ls_conn, ls_project)
    assert upgraded.label_config == LabelConfig.load(ls_project).xml().strip()
    kept = [a.result for a in ls_conn.client.annotations.list(id=task.id)]
    assert kept == [result]  # the typed id is still there, and its control still in the config
    assert '<TextArea name="entity_id"' in upgraded.label_config
