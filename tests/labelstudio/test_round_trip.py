"""The full Label Studio round trip against a real server, through the real CLI."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import time
from pathlib import Path
from typing import Any

import httpx
import pytest
from label_studio_sdk import LabelStudio

from helpers import SAHELWIRE, ls_tasks, run_cli, snapshot
from sahelwire.io.paths import ProjectPaths
from sahelwire.labelstudio.client import Connection
from sahelwire.labelstudio.invite import sign_up
from sahelwire.labelstudio.offsets import to_label_studio
from sahelwire.labelstudio.project import find_project, require_project
from sahelwire.raw.manifest import load_articles

pytestmark = pytest.mark.labelstudio


def span(
    text: str, surface: str, label: str, layer: str, rid: str, after: int = 0
) -> list[dict[str, Any]]:
    """A region for the first ``surface`` at or after code point ``after`` (Label Studio units)."""
    start = text.index(surface, after)
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


def relation(from_id: str, to_id: str, role: str) -> dict[str, Any]:
    return {
        "type": "relation",
        "from_id": from_id,
        "to_id": to_id,
        "direction": "right",
        "labels": [role],
    }


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
    return {t.data["article_id"]: t.id for t in ls_tasks(conn.client, project=project.id)}


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
    task = ls_conn.client.tasks.get(id=str(ids["001_a9cbf47f8b5096a3"]))
    article = {a.id: a for a in load_articles(ls_project)}["001_a9cbf47f8b5096a3"]
    assert task.data["text"] == article.text and task.data["text_sha256"] == article.sha256

    # Pre-annotations: one prediction set per task, with the model version push reported;
    # re-pushing adds none.
    version = re.search(r"model (\S+)\)", first.stdout)
    assert version is not None, first.stdout
    assert "0 prediction set(s) added" in second.stdout
    for tid in ids.values():
        preds = list(ls_conn.client.predictions.list(task=tid))
        assert [p.model_version for p in preds] == [version.group(1)]
    assert any(r["value"]["text"] == "Niger" for r in preds[0].result if r["type"] == "labels")


def test_push_restores_changed_text_unless_annotated(
    ls_project: ProjectPaths, ls_conn: Connection
) -> None:
    """A task whose text differs from the raw article: updated while unannotated, else refused."""
    root = ls_project.root
    assert cli(root, "push", "--quiet").returncode == 0
    ids = tasks_by_article(ls_conn, ls_project)
    articles = {a.id: a for a in load_articles(ls_project)}
    for aid in ("000_68e681b97d6ec23c", "002_4eb8b75709aad65d"):
        data = {
            "text": articles[aid].text + " (edited)",
            "article_id": aid,
            "text_sha256": "0" * 64,
        }
        ls_conn.client.tasks.update(id=str(ids[aid]), data=data)
    ls_conn.client.annotations.create(id=ids["002_4eb8b75709aad65d"], result=[])
    result = cli(root, "push", "--quiet")
    assert result.returncode == 1
    assert "0 created, 1 updated, 3 unchanged, 1 refused" in result.stdout
    assert f"task {ids['002_4eb8b75709aad65d']} (article 002_4eb8b75709aad65d)" in result.stderr
    restored = ls_conn.client.tasks.get(id=str(ids["000_68e681b97d6ec23c"])).data
    assert restored["text"] == articles["000_68e681b97d6ec23c"].text
    assert restored["text_sha256"] == articles["000_68e681b97d6ec23c"].sha256
    kept = ls_conn.client.tasks.get(id=str(ids["002_4eb8b75709aad65d"])).data
    assert kept["text_sha256"] == "0" * 64  # refused: the annotated task was left alone


def test_round_trip_two_annotators_update_delete_prune(
    ls_project: ProjectPaths, ls_conn: Connection, ls_server: Any
) -> None:
    root = ls_project.root
    assert cli(root, "push", "--quiet").returncode == 0
    ids = tasks_by_article(ls_conn, ls_project)
    texts = {a.id: a.text for a in load_articles(ls_project)}
    # Two real annotator accounts, signed up through an invite link, each with its own token.
    token1 = sign_up(ls_conn, "amina@sahelwire.test", "Annotator-pw-1")
    ann1 = LabelStudio(base_url=ls_server.url, api_key=token1)
    ann2 = LabelStudio(
        base_url=ls_server.url, api_key=sign_up(ls_conn, "blaise@sahelwire.test", "Annotator-pw-2")
    )

    # Annotator 1: entities on article 000, and a cancelled (skipped) annotation on 002.
    t0 = texts["000_68e681b97d6ec23c"]
    r1 = span(t0, "Niger", "GPE", "entities", "a1")
    first = ann1.annotations.create(id=ids["000_68e681b97d6ec23c"], result=r1, lead_time=30.0)
    ann1.annotations.create(id=ids["002_4eb8b75709aad65d"], result=[], was_cancelled=True)
    # ... and an unsubmitted draft on 003 (the SDK has no drafts call; this is the UI's endpoint).
    t3 = texts["003_9f344fe3cdd782de"]
    draft = httpx.post(
        f"{ls_server.url}/api/tasks/{ids['003_9f344fe3cdd782de']}/drafts",
        json={"result": span(t3, "Niger", "GPE", "entities", "a9"), "lead_time": 5.0},
        headers={"Authorization": f"Token {token1}"},
        timeout=60,
    )
    assert draft.status_code == 201, draft.text

    # Annotator 2: an event with realis, two entities and two argument relations, all after
    # the second emoji (astral, 2 UTF-16 units) in 001's reader comments, plus article fields.
    t1 = texts["001_a9cbf47f8b5096a3"]
    emoji_at = [i for i, ch in enumerate(t1) if ch == "🤔"][1]
    sentence = t1.index("Is the US really optimistic about partnering with Niger?", emoji_at)
    event = span(t1, "partnering", "SECURITY_COOPERATION", "events", "b_ev", after=sentence)
    us = span(t1, "US", "GPE", "entities", "b_us", after=sentence)
    niger = span(t1, "Niger", "GPE", "entities", "b_ng", after=sentence)
    result2 = [
        *event,
        attr("b_ev", "realis", "choices", ["HYPOTHETICAL"], event[0]["value"]),
        *us,
        *niger,
        relation("b_ev", "b_us", "AGENT"),
        relation("b_ev", "b_ng", "PATIENT"),
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
    assert "annotations 3 new, 0 updated, 0 unchanged (of all these, 1 cancelled by Skip)" in (
        pulled.stdout
    )
    assert "1 draft(s) not published" in pulled.stdout
    exports = ls_project.exports_dir
    assert sorted(p.stem for p in exports.glob("*.json")) == sorted(texts)
    directory = json.loads((root / "annotations" / "annotators.json").read_text())
    assert set(directory) == {"amina@sahelwire.test", "blaise@sahelwire.test"}  # by e-mail

    validated = run_cli(root, "validate")
    assert validated.returncode == 0, validated.stdout + validated.stderr

    # The published spans after the emoji are the code-point slices; relations, the cancelled
    # annotation and both annotators survive; the draft is counted, not published.
    from sahelwire.annotations.tables import read_annotation_tables

    tables = read_annotation_tables(ls_project)
    assert tables.problems == []
    regions = {r["region_id"]: r for r in tables.regions.iter_rows(named=True)}
    for rid, surface in (("b_ev", "partnering"), ("b_us", "US"), ("b_ng", "Niger")):
        row = regions[rid]
        assert t1[row["start"] : row["end"]] == surface and row["start"] > emoji_at
        assert row["annotator"] == "blaise@sahelwire.test"
    assert regions["b_ev"]["realis"] == "HYPOTHETICAL"
    assert regions["a1"]["annotator"] == "amina@sahelwire.test"
    assert "a9" not in regions  # the draft's region
    relations = {
        (r["from_region_id"], r["to_region_id"], r["label"])
        for r in tables.relations.iter_rows(named=True)
    }
    assert relations == {("b_ev", "b_us", "AGENT"), ("b_ev", "b_ng", "PATIENT")}
    assert tables.annotations.filter(tables.annotations["cancelled"]).height == 1
    # the draft stays on the server: counted by the pull above, in no committed file
    assert tables.drafts == 0 and '"a9"' not in (exports / "003_9f344fe3cdd782de.json").read_text()

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

    # Deleted on the server (an annotation, and a whole task): kept locally until --prune,
    # and the pull names exactly what --prune would remove (by repository id and UUID).
    blaise = [
        a
        for a in json.loads((exports / "001_a9cbf47f8b5096a3.json").read_text())["annotations"]
        if a["completed_by"] == {"email": "blaise@sahelwire.test"}
    ]
    assert len(blaise) == 1
    ls_conn.client.annotations.delete(id=second.id)
    ls_conn.client.tasks.delete(id=str(ids["004_d8470e8c95419e20"]))
    kept = cli(root, "pull", "--quiet")
    assert kept.returncode == 0, kept.stderr
    assert "1 task file(s), 1 annotation(s)" in kept.stdout
    ref = f"001_a9cbf47f8b5096a3.json annotation {blaise[0]['id']} (unique_id {blaise[0]['unique_id']})"
    assert f"kept (deleted on this server; --prune removes it): annotations/exports/{ref}" in (
        kept.stdout
    )
    assert "task file 004_d8470e8c95419e20.json" in kept.stdout
    assert (exports / "004_d8470e8c95419e20.json").exists()
    assert (
        blaise[0] in json.loads((exports / "001_a9cbf47f8b5096a3.json").read_text())["annotations"]
    )
    pruned = cli(root, "pull", "--quiet", "--prune")
    assert pruned.returncode == 0 and "pruned 1 task file(s), 1 annotation(s)" in pruned.stdout
    assert not json.loads((exports / "001_a9cbf47f8b5096a3.json").read_text())["annotations"]
    assert not (exports / "004_d8470e8c95419e20.json").exists()


def test_server_down_is_a_clear_error_and_nothing_is_written(ls_project: ProjectPaths) -> None:
    from sahelwire.labelstudio.server import free_port

    before = snapshot(ls_project.root / "annotations")
    result = run_cli(
        ls_project.root,
        *("labelstudio", "pull"),
        env={"LABEL_STUDIO_URL": f"http://127.0.0.1:{free_port()}"},
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


def test_rotate_token_revokes_the_old_one_and_keeps_the_file_private(
    ls_project: ProjectPaths, ls_conn: Connection, ls_server: Any
) -> None:
    """Rotation on the managed-server path (token from the 0600 file), with an annotator's
    account so the session admin's token stays valid for the other tests."""
    from sahelwire.labelstudio import server

    old = sign_up(ls_conn, "rotator@sahelwire.test", "Rotator-pw-1")
    creds = server.credentials_file(ls_project)
    server.write_private_json(
        creds, {"email": "rotator@sahelwire.test", "password": "Rotator-pw-1", "api_key": old}
    )
    result = run_cli(
        ls_project.root,
        *("labelstudio", "rotate-token"),
        env={"LABEL_STUDIO_API_KEY": None, "LABEL_STUDIO_URL": ls_server.url},
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    new = json.loads(creds.read_text())["api_key"]
    assert new != old and creds.stat().st_mode & 0o777 == 0o600
    assert old not in result.stdout + result.stderr and new not in result.stdout + result.stderr
    me = LabelStudio(base_url=ls_server.url, api_key=new).users.whoami()
    assert me.email == "rotator@sahelwire.test"
    refused = httpx.get(
        f"{ls_server.url}/api/current-user/whoami",
        headers={"Authorization": f"Token {old}"},
        timeout=30,
    )
    assert refused.status_code == 401


def test_two_pushes_at_once_the_second_is_refused(
    ls_project: ProjectPaths, ls_conn: Connection
) -> None:
    from sahelwire.io.locks import exclusive_lock

    lock = ls_project.state_dir / "locks" / "labelstudio-push.lock"
    with exclusive_lock(lock, "test holder"):
        second = cli(ls_project.root, "push", "--quiet")
    assert second.returncode == 1 and "another labelstudio push is running" in second.stderr
    assert find_project(ls_conn, ls_project) is None  # refused before touching the server
    assert cli(ls_project.root, "push", "--quiet").returncode == 0
