"""A scripted reviewer through the real review loop (issue 16, item 4): a review sheet
written by `review --sheet-skeleton`, filled in, submitted by `review --submit` as the
reviewer's own account, and turned into decisions by the same `review --pull` as an editor's
review, on a real Label Studio server, through the real CLI."""

from __future__ import annotations

import json
import stat
from typing import Any

import pytest
import yaml
from label_studio_sdk import LabelStudio

from helpers import ls_projects, ls_tasks, snapshot
from labelstudio.test_review import NEW, TEXT, Results, cli, task_of
from sahelwire.io.paths import ProjectPaths
from sahelwire.labelstudio import server
from sahelwire.labelstudio.client import Connection
from sahelwire.labelstudio.invite import sign_up
from sahelwire.labelstudio.project import require_project

pytestmark = pytest.mark.labelstudio

A, B = "sheet-a@sahelwire.test", "sheet-b@sahelwire.test"
REVIEWER = "ai-reviewer@sahelwire.test"

# The reviewer's decision for each kind of conflict of the two versions below.
WHY = {
    "United States": ("accept", "GUIDELINES §3.5 a party to the talks"),
    "Niamey": ("reject", "GUIDELINES §3.1 one place, marked once"),
    "entity_id": ("set", "GUIDELINES §4.1 the registry id of Niger"),
    "SUPPORTS": ("reject", "GUIDELINES §6.2 the article reports; it does not support"),
    "NEUTRAL_REPORTING": ("accept", "GUIDELINES §6.1 neutral reporting"),
}


def fill(entry: dict[str, Any]) -> None:
    key = next(
        k for k in WHY if k in (entry["text"], entry["item"].rpartition(":")[2], entry["what"])
    )
    entry["action"], entry["why"] = WHY[key]
    if entry["action"] == "set":
        entry["value"] = "ent_niger"


def test_a_review_sheet_goes_through_the_review_loop(
    ls_project: ProjectPaths, ls_conn: Connection, ls_server: Any
) -> None:
    root = ls_project.root
    (root / f"{NEW}.txt").write_text(TEXT, encoding="utf-8")
    assert cli(root, "ingest", str(root / f"{NEW}.txt")).returncode == 0
    assert cli(root, "labelstudio", "push", "--quiet").returncode == 0
    project = require_project(ls_conn, ls_project)
    task = task_of(ls_conn, project.id, NEW)
    r = Results(root, TEXT)
    as_a = LabelStudio(base_url=ls_server.url, api_key=sign_up(ls_conn, A, "Annotator-pw-sa"))
    as_b = LabelStudio(base_url=ls_server.url, api_key=sign_up(ls_conn, B, "Annotator-pw-sb"))
    as_a.annotations.create(
        id=task.id,
        result=[
            *r.span("a1", "Niamey", "GPE", entity_id="ent_niamey"),
            *r.span("a2", "Niger", "GPE", entity_id="ent_niger"),
            *r.span("a3", "United States", "GPE"),
            *r.stance("NEUTRAL_REPORTING"),
        ],
    )
    as_b.annotations.create(
        id=task.id,
        result=[
            *r.span("b1", "Niamey", "GPE", entity_id="ent_niamey"),
            *r.span("b2", "Niger", "GPE"),
            *r.span("b3", "Niamey", "GPE", nth=1),
            *r.stance("SUPPORTS"),
        ],
    )
    assert cli(root, "labelstudio", "pull", "--quiet").returncode == 0
    listed = json.loads(cli(root, "adjudicate", "--json").stdout)["conflicts"]
    unsettled = {c["item"]: c for c in listed if c["kind"] == "conflict"}
    assert len(unsettled) == 5

    # The skeleton: each conflict as adjudicate --json lists it, with its text; no server.
    sheet = root / "review-sheet.yaml"
    skel = cli(root, "labelstudio", "review", "--sheet-skeleton", str(sheet))
    assert skel.returncode == 0, skel.stdout + skel.stderr
    (art,) = yaml.safe_load(sheet.read_text())["articles"]
    assert art["article_id"] == NEW
    entries = {e["item"]: e for e in art["conflicts"]}
    assert set(entries) == set(unsettled)
    for item, e in entries.items():
        assert e["conflict"] == unsettled[item]["detail"]
        if item.startswith("attr:"):
            assert e["values"] == unsettled[item]["values"]
        else:
            assert (e["by"], e["not_by"]) == (unsettled[item]["by"], unsettled[item]["not_by"])
        assert e["action"] is None and e["why"] is None
    us = next(i for i, e in entries.items() if e["text"] == "United States")
    assert entries[us]["by"] == [A] and entries[us]["not_by"] == [B]
    again = cli(root, "labelstudio", "review", "--sheet-skeleton", str(sheet))
    assert again.returncode == 1 and "never replaces a file" in again.stderr

    # Submitting needs the review task: `review` first.
    assert cli(root, "labelstudio", "review").returncode == 0
    review_project = next(
        p for p in ls_projects(ls_conn.client) if p.title == f"{project.title} (review)"
    )
    (review_task,) = list(ls_tasks(ls_conn.client, project=review_project.id))

    # A sheet with an unknown item is refused, naming file, article, item and rule.
    data = yaml.safe_load(sheet.read_text())
    data["articles"][0]["reason"] = "Two annotators, GUIDELINES §2: majority, else the rules"
    for e in data["articles"][0]["conflicts"]:
        fill(e)
    bad = json.loads(json.dumps(data))
    bad["articles"][0]["conflicts"].append(
        {"item": "region:entities:GPE:0:5", "action": "accept", "why": "x"}
    )
    bad_path = root / "bad-sheet.yaml"
    bad_path.write_text(yaml.safe_dump(bad, allow_unicode=True))
    refused = cli(root, "labelstudio", "review", "--submit", str(bad_path), "--reviewer", REVIEWER)
    assert refused.returncode == 1, refused.stdout + refused.stderr
    assert (
        f"refused: {bad_path}: article {NEW}: item region:entities:GPE:0:5: not a conflict "
        "of the article" in refused.stderr
    )
    assert "0 review(s) created" in refused.stdout
    assert list(ls_conn.client.annotations.list(id=review_task.id)) == []

    sheet.write_text(yaml.safe_dump(data, allow_unicode=True, sort_keys=False))
    done = cli(root, "labelstudio", "review", "--submit", str(sheet), "--reviewer", REVIEWER)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "1 review(s) created, 0 updated, 0 unchanged; 0 article(s) refused" in done.stdout
    # The reviewer's own account and token; the password only in the 0600 state file.
    users = {u.id: u.email for u in ls_conn.client.users.list()}
    (ann,) = list(ls_conn.client.annotations.list(id=review_task.id))
    assert users[ann.completed_by] == REVIEWER
    state = server.home(ls_project) / "annotators.json"
    password = json.loads(state.read_text())[REVIEWER]
    assert stat.S_IMODE(state.stat().st_mode) == 0o600
    assert password not in done.stdout + done.stderr
    twice = cli(root, "labelstudio", "review", "--submit", str(sheet), "--reviewer", REVIEWER)
    assert "0 review(s) created, 0 updated, 1 unchanged" in twice.stdout, twice.stdout

    # review --pull: decisions whose action and why are the sheet's, for every conflict.
    pulled = cli(root, "labelstudio", "review", "--pull")
    assert pulled.returncode == 0, pulled.stdout + pulled.stderr
    assert "1 article(s) decided (5 decision(s) written)" in pulled.stdout
    got = yaml.safe_load((root / "annotations" / "decisions" / f"{NEW}.yaml").read_text())
    decided = {d["item"]: d for d in got["decisions"]}
    assert set(decided) == set(entries)
    for e in data["articles"][0]["conflicts"]:
        d = decided[e["item"]]
        assert (d["action"], d.get("value"), d["why"]) == (e["action"], e.get("value"), e["why"])
        assert d["decided_by"] == REVIEWER
    settled = cli(root, "adjudicate")
    assert settled.returncode == 0 and "0 unsettled" in settled.stdout, settled.stdout

    # A changed why is an update of the same review; the pull keeps the earlier decisions
    # (same actions), so nothing changes without a reason to.
    kept = snapshot(root / "annotations")
    data["articles"][0]["conflicts"][0]["why"] += " (reworded)"
    sheet.write_text(yaml.safe_dump(data, allow_unicode=True, sort_keys=False))
    reworded = cli(root, "labelstudio", "review", "--submit", str(sheet), "--reviewer", REVIEWER)
    assert "0 review(s) created, 1 updated" in reworded.stdout, reworded.stdout + reworded.stderr
    assert len(list(ls_conn.client.annotations.list(id=review_task.id))) == 1
    same = cli(root, "labelstudio", "review", "--pull")
    assert same.returncode == 0 and "1 unchanged" in same.stdout, same.stdout + same.stderr
    assert snapshot(root / "annotations") == kept


def test_submit_and_reviewer_go_together(ls_project: ProjectPaths) -> None:
    out = cli(ls_project.root, "labelstudio", "review", "--submit", "x.yaml")
    assert out.returncode == 2 and "--submit FILE and --reviewer EMAIL go together" in out.stderr
    both = cli(ls_project.root, "labelstudio", "review", "--pull", "--sheet-skeleton", "s.yaml")
    assert both.returncode == 2 and "use one at a time" in both.stderr
    # A mistyped path is a usage error, said before any server or sheet is touched.
    missing = ls_project.root / "missing.yaml"
    gone = cli(
        ls_project.root, "labelstudio", "review", "--submit", str(missing), "--reviewer", REVIEWER
    )
    assert gone.returncode == 2 and f"--submit {missing}: no such review sheet" in gone.stderr
