"""The full Label Studio round trip against a real server, through the real CLI."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time
from pathlib import Path
from typing import Any

import pytest
from label_studio_sdk import LabelStudio

from helpers import SAHELWIRE, run_cli, snapshot
from sahelwire.labelstudio.client import Connection
from sahelwire.labelstudio.invite import sign_up
from sahelwire.labelstudio.project import require_project
from sahelwire.manifest import load_articles
from sahelwire.offsets import to_label_studio
from sahelwire.paths import ProjectPaths

pytestmark = pytest.mark.labelstudio


def span(
    text: str, surface: str, label: str, layer: str, rid: str, after: str = ""
) -> list[dict[str, Any]]:
    start = text.index(surface, text.index(after) if after else 0)
    s, e = to_label_studio(text, start, start + len(surface))
    value = {"start": s, "end": e, "text": surface}
    return [
        {
            "id": rid,
            "from_name": layer,
            "to_name": "text",
            "type": "labels",
            "value": {**value, "labels": [label]},
        }
    ]


def attr(rid: str, name: str, kind: str, v: Any, base: dict[str, Any]) -> dict[str, Any]:
    key = {"textarea": "text", "choices": "choices", "number": "number"}[kind]
    return {
        "id": rid,
        "from_name": name,
        "to_name": "text",
        "type": kind,
        "value": {"start": base["start"], "end": base["end"], key: v},
    }


def tasks_by_article(conn: Connection, paths: ProjectPaths) -> dict[str, int]:
    project = require_project(conn, paths)
    return {t.data["article_id"]: t.id for t in conn.client.tasks.list(project=project.id)}


def cli(root: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return run_cli(root, "labelstudio", *args)


def test_label_config_is_accepted_and_push_is_idempotent(
    ls_project: ProjectPaths, ls_conn: Connection
) -> None:
    root = ls_project.root
    first = cli(root, "push", "--quiet")
    assert first.returncode == 0, first.stderr
    assert "5 created, 0 updated, 0 unchanged" in first.stdout
    second = cli(root, "push", "--quiet")
    assert second.returncode == 0, second.stderr
    assert "0 created, 0 updated, 5 unchanged" in second.stdout
    ids = tasks_by_article(ls_conn, ls_project)
    assert sorted(ids) == sorted(a.id for a in load_articles(ls_project))
    project = require_project(ls_conn, ls_project)
    assert project.label_config.strip() == ls_project.label_config_file.read_text().strip()
    task = ls_conn.client.tasks.get(id=ids["001_a9cbf47f8b5096a3"])
    article = {a.id: a for a in load_articles(ls_project)}["001_a9cbf47f8b5096a3"]
    assert task.data["text"] == article.text and task.data["text_sha256"] == article.sha256


def test_round_trip_two_annotators_update_delete_prune(
    ls_project: ProjectPaths, ls_conn: Connection, ls_server: Any
) -> None:
    root = ls_project.root
    assert cli(root, "push", "--quiet").returncode == 0
    ids = tasks_by_article(ls_conn, ls_project)
    texts = {a.id: a.text for a in load_articles(ls_project)}
    ann1 = LabelStudio(
        base_url=ls_server.url, api_key=sign_up(ls_conn, "amina@sahelwire.test", "Annotator-pw-1")
    )
    ann2 = LabelStudio(
        base_url=ls_server.url, api_key=sign_up(ls_conn, "blaise@sahelwire.test", "Annotator-pw-2")
    )

    # Annotator 1: entities on article 000, and a cancelled (skipped) annotation on 002.
    t0 = texts["000_68e681b97d6ec23c"]
    r1 = span(t0, "Niger", "GPE", "entities", "a1")
    first = ann1.annotations.create(id=ids["000_68e681b97d6ec23c"], result=r1, lead_time=30.0)
    ann1.annotations.create(id=ids["002_4eb8b75709aad65d"], result=[], was_cancelled=True)

    # Annotator 2: spans after the emoji in 001's reader comments, with attributes and a relation.
    t1 = texts["001_a9cbf47f8b5096a3"]
    emoji_at = t1.index("🤔")
    tail = t1[emoji_at:]
    word = next(w for w in ("Niger", "US", "America", "troops", "Russia") if w in tail)
    ev = span(t1, word, "NORP" if word == "America" else "GPE", "entities", "b1", after="🤔")
    result2 = [
        *ev,
        {
            "id": "d1",
            "from_name": "primary_frame",
            "to_name": "text",
            "type": "choices",
            "value": {"choices": ["SECURITY_DEFENSE"]},
        },
        {
            "id": "d2",
            "from_name": "quality_flags",
            "to_name": "text",
            "type": "choices",
            "value": {"choices": ["CONTAINS_READER_COMMENTS", "CONTAINS_PROMOTION"]},
        },
    ]
    second = ann2.annotations.create(id=ids["001_a9cbf47f8b5096a3"], result=result2, lead_time=42.0)

    pulled = cli(root, "pull", "--quiet")
    assert pulled.returncode == 0, pulled.stderr
    assert "annotations 3 new" in pulled.stdout and "1 skipped" in pulled.stdout
    exports = ls_project.exports_dir
    assert sorted(p.stem for p in exports.glob("*.json")) == sorted(texts)
    directory = json.loads((root / "annotations" / "annotators.json").read_text())
    assert {v["email"] for v in directory.values()} == {
        "amina@sahelwire.test",
        "blaise@sahelwire.test",
    }

    validated = run_cli(root, "validate")
    assert validated.returncode == 0, validated.stdout + validated.stderr

    # The published span after the emoji is the code-point slice.
    from sahelwire.annotation_tables import read_annotation_tables

    tables = read_annotation_tables(ls_project)
    row = tables.regions.filter(tables.regions["region_id"] == "b1").row(0, named=True)
    assert t1[row["start"] : row["end"]] == word and row["start"] > emoji_at
    assert tables.annotations.filter(tables.annotations["cancelled"]).height == 1

    # A second pull with no change rewrites nothing.
    before = snapshot(root / "annotations")
    again = cli(root, "pull", "--quiet")
    assert again.returncode == 0 and "0 new, 0 updated" in again.stdout
    assert snapshot(root / "annotations") == before

    # Updating one annotation changes exactly one file.
    ann1.annotations.update(id=first.id, result=r1 + span(t0, "Sahel", "LOC", "entities", "a2"))
    cli(root, "pull", "--quiet")
    after = snapshot(root / "annotations")
    changed = [k for k in after if after[k] != before.get(k)]
    assert changed == ["exports/000_68e681b97d6ec23c.json"]

    # Deleted on the server: kept locally until --prune.
    ls_conn.client.annotations.delete(id=second.id)
    kept = cli(root, "pull", "--quiet")
    assert kept.returncode == 0 and "1 annotation(s)" in kept.stdout
    assert any(
        a["id"] == second.id
        for a in json.loads((exports / "001_a9cbf47f8b5096a3.json").read_text())["annotations"]
    )
    pruned = cli(root, "pull", "--quiet", "--prune")
    assert pruned.returncode == 0 and "pruned 0 task file(s), 1 annotation(s)" in pruned.stdout
    assert not json.loads((exports / "001_a9cbf47f8b5096a3.json").read_text())["annotations"]


def test_wrong_token_is_refused_without_echoing_it(ls_project: ProjectPaths) -> None:
    bad = "0123456789abcdef0123456789abcdef01234567"
    env = {**os.environ, "SAHELWIRE_ROOT": str(ls_project.root), "LABEL_STUDIO_API_KEY": bad}
    result = subprocess.run(
        [str(SAHELWIRE), "labelstudio", "pull"],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 1
    assert "refused the API key" in result.stderr
    assert bad not in result.stdout + result.stderr


def test_server_down_is_a_clear_error_and_nothing_is_written(ls_project: ProjectPaths) -> None:
    from sahelwire.labelstudio.server import free_port

    env = {
        **os.environ,
        "SAHELWIRE_ROOT": str(ls_project.root),
        "LABEL_STUDIO_URL": f"http://127.0.0.1:{free_port()}",
    }
    before = snapshot(ls_project.root / "annotations")
    result = subprocess.run(
        [str(SAHELWIRE), "labelstudio", "pull"],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 1
    assert "cannot reach Label Studio" in result.stderr and "Traceback" not in result.stderr
    assert snapshot(ls_project.root / "annotations") == before


def test_server_stopped_mid_pull_then_next_pull_completes(
    ls_project: ProjectPaths, ls_server: Any
) -> None:
    root = ls_project.root
    assert cli(root, "push", "--quiet").returncode == 0
    assert cli(root, "pull", "--quiet").returncode == 0
    before = snapshot(root / "annotations")
    proc = subprocess.Popen(
        [str(SAHELWIRE), "labelstudio", "pull", "--quiet"],
        env={**os.environ},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    time.sleep(0.8)
    os.killpg(ls_server.running.process.pid, signal.SIGKILL)  # the real server dies mid-pull
    _out, err = proc.communicate(timeout=300)
    try:
        if proc.returncode == 0:
            assert snapshot(root / "annotations") == before  # finished first: complete, unchanged
        else:
            assert proc.returncode == 1 and "nothing written" in err and "Traceback" not in err
            assert snapshot(root / "annotations") == before
    finally:
        ls_server.restart()
    again = cli(root, "pull", "--quiet")
    assert again.returncode == 0, again.stderr
    assert snapshot(root / "annotations") == before
