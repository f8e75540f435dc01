"""The review loop against a real Label Studio server, through the real CLI (issue 15, item 8).

Two annotator accounts (invite-link sign-up, each with its own token) annotate one small
article differently; `adjudicate` names who marked what and points to the review; `review`
pushes that article (and only it) into the review project with each annotator's version as a
prediction named by e-mail; a reviewer account submits the gold; `review --pull` writes the
decisions with the reviewer's e-mail and reason; `adjudicate` then reports nothing unsettled
and the build's gold is the reviewer's.
"""

from __future__ import annotations

import json
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml
from label_studio_sdk import LabelStudio

from helpers import ls_projects, ls_tasks, parquet_rows, run_cli, snapshot
from sahelwire.annotations.review import START_VERSION, version_annotator
from sahelwire.io.paths import ProjectPaths
from sahelwire.labelstudio.client import Connection
from sahelwire.labelstudio.invite import sign_up
from sahelwire.labelstudio.label_config import result_types
from sahelwire.labelstudio.offsets import to_label_studio
from sahelwire.labelstudio.project import require_project
from sahelwire.schema.taxonomy import load_taxonomy

pytestmark = pytest.mark.labelstudio

NEW = "005_review_test"
TEXT = (
    "Niger and US officials meet in Niamey\n\nOfficials from Niger and the United States "
    "met in Niamey on Tuesday to discuss the withdrawal of troops.\n"
)
# Accounts of their own: the session server is shared, and other tests sign up others.
A, B, REVIEWER = "review-a@sahelwire.test", "review-b@sahelwire.test", "reviewer@sahelwire.test"
SINGLE = "000_68e681b97d6ec23c"  # annotated by one annotator: no conflict, never reviewed


def cli(root: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return run_cli(root, *args)


class Results:
    """Label Studio result items for the project's config (whatever control an attribute uses)."""

    def __init__(self, root: Path, text: str) -> None:
        self.text = text
        self.types = result_types(load_taxonomy(root / "schemas" / "taxonomy.yaml"))

    def span(
        self, rid: str, surface: str, label: str, *, nth: int = 0, **attrs: str
    ) -> list[dict[str, Any]]:
        start = -1
        for _ in range(nth + 1):
            start = self.text.index(surface, start + 1)
        s, e = to_label_studio(self.text, start, start + len(surface))
        out = [
            {
                "id": rid,
                "from_name": "entities",
                "to_name": "text",
                "type": "labels",
                "value": {"start": s, "end": e, "text": surface, "labels": [label]},
            }
        ]
        for name, v in attrs.items():
            kind = self.types.get(name, "textarea")
            key = {"choices": "choices", "textarea": "text"}[kind]
            out.append(
                {
                    "id": rid,
                    "from_name": name,
                    "to_name": "text",
                    "type": kind,
                    "value": {"start": s, "end": e, key: [v]},
                }
            )
        return out

    @staticmethod
    def stance(value: str) -> list[dict[str, Any]]:
        return [
            {
                "id": "stance",
                "from_name": "stance_us_presence",
                "to_name": "text",
                "type": "choices",
                "value": {"choices": [value]},
            }
        ]

    @staticmethod
    def reason(text: str, *, region: dict[str, Any] | None = None) -> list[dict[str, Any]]:
        if region is None:
            return [
                {
                    "id": "why",
                    "from_name": "review_reason",
                    "to_name": "text",
                    "type": "textarea",
                    "value": {"text": [text]},
                }
            ]
        value = {"start": region["value"]["start"], "end": region["value"]["end"], "text": [text]}
        return [
            {
                "id": region["id"],
                "from_name": "review_region_reason",
                "to_name": "text",
                "type": "textarea",
                "value": value,
            }
        ]


def task_of(conn: Connection, project_id: int, article: str) -> Any:
    return next(
        t for t in ls_tasks(conn.client, project=project_id) if t.data["article_id"] == article
    )


def ingested_and_pushed(
    paths: ProjectPaths, conn: Connection, article: str, text: str
) -> tuple[Any, Any, Results]:
    """A new article ingested and pushed: (the main project, its task, results for it)."""
    root = paths.root
    (root / f"{article}.txt").write_text(text, encoding="utf-8")
    assert cli(root, "ingest", str(root / f"{article}.txt")).returncode == 0
    pushed = cli(root, "labelstudio", "push", "--quiet")
    assert pushed.returncode == 0, pushed.stdout + pushed.stderr
    project = require_project(conn, paths)
    return project, task_of(conn, project.id, article), Results(root, text)


def decisions(root: Path) -> dict[str, dict[str, Any]]:
    data = yaml.safe_load((root / "annotations" / "decisions" / f"{NEW}.yaml").read_text())
    return {d["item"]: d for d in data["decisions"]}


def published(root: Path, config: str) -> list[dict[str, Any]]:
    return [r for r in parquet_rows(root / "dist", config) if r["article_id"] == NEW]


def spans(result: list[dict[str, Any]]) -> list[tuple[str, int, str | None]]:
    """(text, start, entity_id) of each region of a result (entity_id from any control)."""
    ids = {
        i["id"]: (i["value"].get("choices") or i["value"].get("text"))[0]
        for i in result
        if i["from_name"].startswith("entity_id")
    }
    return sorted(
        ((i["value"]["text"], i["value"]["start"], ids.get(i["id"])) for i in result
         if i["type"] == "labels"),
        key=str,
    )  # fmt: skip


def test_review_loop_two_annotators_reviewer_decisions_build(
    ls_project: ProjectPaths, ls_conn: Connection, ls_server: Any
) -> None:
    root = ls_project.root
    project, task, r = ingested_and_pushed(ls_project, ls_conn, NEW, TEXT)
    idle = cli(root, "labelstudio", "review")  # nothing annotated: no (empty) review project
    assert idle.returncode == 0 and "nothing to review" in idle.stdout, idle.stdout + idle.stderr
    assert f"{project.title} (review)" not in {p.title for p in ls_projects(ls_conn.client)}

    # Two annotators, each as themself, annotate the same task differently.
    as_a = LabelStudio(base_url=ls_server.url, api_key=sign_up(ls_conn, A, "Annotator-pw-a1"))
    as_b = LabelStudio(base_url=ls_server.url, api_key=sign_up(ls_conn, B, "Annotator-pw-b1"))
    as_a.annotations.create(
        id=task.id,
        result=[
            *r.span("a1", "Niamey", "GPE", entity_id="ent_niamey"),
            *r.span("a2", "Niger", "GPE", entity_id="ent_niger"),
            *r.span("a3", "United States", "GPE"),
            *r.stance("NEUTRAL_REPORTING"),
        ],
    )
    b_result = [
        *r.span("b1", "Niamey", "GPE", entity_id="ent_niamey"),
        *r.span("b2", "Niger", "GPE"),
        *r.span("b3", "Niamey", "GPE", nth=1),
        *r.stance("SUPPORTS"),
    ]
    b_ann = as_b.annotations.create(id=task.id, result=b_result)
    # One annotator alone on another article: gold as is, nothing to review.
    single = task_of(ls_conn, project.id, SINGLE)
    single_text = single.data["text"]
    as_a.annotations.create(
        id=single.id, result=Results(root, single_text).span("s1", "Niger", "GPE")
    )
    pulled = cli(root, "labelstudio", "pull", "--quiet")
    assert pulled.returncode == 0, pulled.stdout + pulled.stderr

    # adjudicate names who marked what and says what to do next; nothing written unasked.
    adj = cli(root, "adjudicate")
    assert adj.returncode == 1, adj.stdout + adj.stderr
    lines = [line for line in adj.stdout.splitlines() if line.startswith(NEW)]
    us_line = next(line for line in lines if "United States" in line)
    assert f"marked by {A}, not by {B}" in us_line
    assert "'Niger' entity_id tied: 'ent_niger' by " + A + "; None by " + B in adj.stdout
    assert f"choice:stance_us_presence:SUPPORTS  marked by {B}, not by {A}" in adj.stdout
    assert "5 unsettled" in adj.stdout
    assert "next: " in adj.stdout and "sahelwire labelstudio review" in adj.stdout
    assert not (root / "annotations" / "decisions").exists()
    agreement = cli(root, "agreement")
    assert agreement.returncode == 0, agreement.stderr
    assert "caution: only 1 article(s) annotated by two or more annotators" in agreement.stdout
    assert "fewer than the 20" in agreement.stdout

    # The skeleton, only when asked, and never over an existing file.
    skel = cli(root, "adjudicate", "--skeleton")
    assert skel.returncode == 1 and f"wrote annotations/decisions/{NEW}.yaml" in skel.stdout
    placeholders = decisions(root)
    assert len(placeholders) == 5 and all(d["action"] is None for d in placeholders.values())
    us_item = next(i for i in placeholders if i.startswith("region:entities:GPE:") and
                   "United States" in placeholders[i]["conflict"])  # fmt: skip
    assert placeholders[us_item]["conflict"] == f"'United States' marked by {A}, not by {B}"
    before = (root / "annotations" / "decisions" / f"{NEW}.yaml").read_bytes()
    again = cli(root, "adjudicate", "--skeleton")
    assert f"kept annotations/decisions/{NEW}.yaml" in again.stdout
    assert (root / "annotations" / "decisions" / f"{NEW}.yaml").read_bytes() == before
    assert "5 unsettled" in again.stdout  # placeholders settle nothing

    # review: only the article with conflicts, once, with each annotator's version.
    reviewed = cli(root, "labelstudio", "review")
    assert reviewed.returncode == 0, reviewed.stdout + reviewed.stderr
    assert "1 created, 0 updated, 0 unchanged, 0 refused" in reviewed.stdout
    assert "1 annotated article(s) without unsettled conflicts not pushed" in reviewed.stdout
    title = f"{project.title} (review)"
    review_project = next(p for p in ls_projects(ls_conn.client) if p.title == title)
    assert "review_reason" in review_project.label_config
    assert 'name="entities"' in review_project.label_config
    (review_task,) = list(ls_tasks(ls_conn.client, project=review_project.id))
    assert review_task.data["article_id"] == NEW and review_task.data["text"] == TEXT
    assert "marked by A, not by B" in review_task.data["review_conflicts"]
    assert f"(A = {A}; B = {B};" in review_task.data["review_summary"]
    exports = json.loads((root / "annotations" / "exports" / f"{NEW}.json").read_text())
    by_email = {a["completed_by"]["email"]: a["result"] for a in exports["annotations"]}
    preds = {
        p.model_version: p.result for p in ls_conn.client.predictions.list(task=review_task.id)
    }
    start = preds.pop(START_VERSION)
    assert set(preds) == {f"A: {A}", f"B: {B}"}  # a letter each: the tabs tell them apart
    # every annotator's version, named by letter and e-mail, unchanged
    assert {version_annotator(str(k)): v for k, v in preds.items()} == by_email
    # The reviewer starts from what they agreed on and every conflict: both Niamey, the tied
    # entity_id with one of its values, US; the single-choice stance in conflict left empty.
    niamey2 = TEXT.rindex("Niamey")
    assert spans(start) == sorted(
        [
            ("Niamey", TEXT.index("Niamey"), "ent_niamey"),
            ("Niger", TEXT.index("Niger"), "ent_niger"),
            ("United States", TEXT.index("United States"), None),
            ("Niamey", niamey2, None),
        ],
        key=str,
    )
    assert not [i for i in start if i["from_name"] == "stance_us_presence"]
    assert ls_conn.client.projects.get(id=review_project.id).model_version == START_VERSION
    again = cli(root, "labelstudio", "review")
    assert "0 created, 0 updated, 1 unchanged" in again.stdout, again.stdout + again.stderr
    assert len(list(ls_conn.client.tasks.list(project=review_project.id))) == 1

    nothing = cli(root, "labelstudio", "review", "--pull")
    assert nothing.returncode == 0 and "1 review task(s) not reviewed yet" in nothing.stdout

    # The reviewer submits the gold, as themself. First with a region nobody marked:
    # decisions cannot add it, so the article is refused and nothing is written.
    as_r = LabelStudio(base_url=ls_server.url, api_key=sign_up(ls_conn, REVIEWER, "Reviewer-pw-r1"))
    rt = Results(root, TEXT)
    us = rt.span("r3", "United States", "GPE")
    gold = [
        *rt.span("r1", "Niamey", "GPE", entity_id="ent_niamey"),
        *rt.span("r2", "Niger", "GPE", entity_id="ent_niger"),
        *us,
        *rt.stance("NEUTRAL_REPORTING"),
        *rt.reason("Guidelines 2.1: the talks' parties are GPEs; 'Niamey' twice is one place."),
        *rt.reason("a party to the talks", region=us[0]),
    ]
    extra = rt.span("r9", "US", "GPE")
    review_ann = as_r.annotations.create(id=review_task.id, result=[*gold, *extra])
    refused = cli(root, "labelstudio", "review", "--pull")
    assert refused.returncode == 1, refused.stdout + refused.stderr
    assert "the review has region entities:GPE:10:12, which the gold cannot get" in refused.stderr
    assert "0 article(s) decided (0 decision(s) written), 0 unchanged, 1 review(s) refused" in (
        refused.stdout
    ), refused.stdout
    assert (root / "annotations" / "decisions" / f"{NEW}.yaml").read_bytes() == before

    as_r.annotations.update(id=review_ann.id, result=gold)
    done = cli(root, "labelstudio", "review", "--pull")
    assert done.returncode == 0, done.stdout + done.stderr
    assert f"wrote annotations/decisions/{NEW}.yaml" in done.stdout
    assert "1 article(s) decided (5 decision(s) written)" in done.stdout
    got = decisions(root)
    assert {d["decided_by"] for d in got.values()} == {REVIEWER}
    actions = {i: (d["action"], d.get("value")) for i, d in got.items()}
    assert actions[us_item] == ("accept", None)
    assert got[us_item]["why"] == "a party to the talks"  # the region's own reason
    assert actions["choice:stance_us_presence:NEUTRAL_REPORTING"] == ("accept", None)
    assert actions["choice:stance_us_presence:SUPPORTS"] == ("reject", None)
    second_niamey = next(
        i for i in got if i.endswith(f":{TEXT.rindex('Niamey')}:{TEXT.rindex('Niamey') + 6}")
    )
    assert actions[second_niamey] == ("reject", None)
    assert got[second_niamey]["why"].startswith("Guidelines 2.1")
    tie = next(i for i in got if i.startswith("attr:"))
    assert actions[tie] == ("set", "ent_niger")
    assert (
        got[us_item]["conflict"] == placeholders[us_item]["conflict"]
    )  # who made what, as the skeleton said

    settled = cli(root, "adjudicate")
    assert settled.returncode == 0, settled.stdout + settled.stderr
    assert "0 unsettled" in settled.stdout and "next:" not in settled.stdout

    # Idempotent: the same review again writes nothing; review pushes nothing new.
    unchanged = snapshot(root / "annotations")
    twice = cli(root, "labelstudio", "review", "--pull")
    assert twice.returncode == 0 and "0 article(s) decided" in twice.stdout, twice.stdout
    assert "1 unchanged" in twice.stdout
    assert snapshot(root / "annotations") == unchanged
    no_more = cli(root, "labelstudio", "review")
    assert "0 created, 0 updated, 0 unchanged" in no_more.stdout, no_more.stdout
    assert (
        "2 annotated article(s) without unsettled conflicts not pushed (1 of them with a "
        "review task from before, left as it is)" in no_more.stdout
    ), no_more.stdout

    # Never over a different decision without --overwrite.
    path = root / "annotations" / "decisions" / f"{NEW}.yaml"
    hand = path.read_text().replace("action: accept", "action: reject", 1)
    path.write_text(hand)
    clash = cli(root, "labelstudio", "review", "--pull")
    assert clash.returncode == 1
    assert "never replaced without `--overwrite`" in clash.stderr
    assert path.read_text() == hand
    forced = cli(root, "labelstudio", "review", "--pull", "--overwrite")
    assert forced.returncode == 0, forced.stdout + forced.stderr
    assert decisions(root) == got

    # The build's gold is the reviewer's.
    built = cli(root, "build")
    assert built.returncode == 0, built.stdout + built.stderr
    mentions = {(m["text"], m["start"], m["entity_id"]) for m in published(root, "mentions")}
    assert mentions == {
        ("Niamey", TEXT.index("Niamey"), "ent_niamey"),
        ("Niger", TEXT.index("Niger"), "ent_niger"),
        ("United States", TEXT.index("United States"), None),
    }
    (doc,) = published(root, "documents")
    stances = load_taxonomy(root / "schemas" / "taxonomy.yaml").document_field("stance_us_presence")
    assert stances.value_names[doc["stance_us_presence"]] == "NEUTRAL_REPORTING"  # a ClassLabel
    assert doc["n_annotators"] == 2

    # An annotator changes their annotation after the review: that review is of versions that
    # no longer exist, so neither review nor review --pull uses it; nothing is written.
    frame = {
        "id": "frame",
        "from_name": "primary_frame",
        "to_name": "text",
        "type": "choices",
        "value": {"choices": ["DIPLOMACY"]},
    }
    as_b.annotations.update(id=b_ann.id, result=[*b_result, frame])
    assert cli(root, "labelstudio", "pull", "--quiet").returncode == 0
    kept = snapshot(root / "annotations" / "decisions")
    stale = cli(root, "labelstudio", "review")
    assert stale.returncode == 1, stale.stdout + stale.stderr
    assert "was reviewed on annotation versions that have changed since" in stale.stderr
    stale_pull = cli(root, "labelstudio", "review", "--pull")
    assert stale_pull.returncode == 1, stale_pull.stdout + stale_pull.stderr
    assert "reviewed on annotation versions that are not the repository's now" in stale_pull.stderr
    assert snapshot(root / "annotations" / "decisions") == kept


THREE = "006_review_three"
TEXT3 = "Niamey and Washington\n\nThe junta in Niamey told Washington that US troops must leave Agadez.\n"


def test_with_three_annotators_the_review_starts_from_the_gold_so_far_and_every_conflict(
    ls_project: ProjectPaths, ls_conn: Connection, ls_server: Any
) -> None:
    """Three annotators, and a decision made before the third came: the review task starts
    from what two of three agreed on, what the decision settled and every unsettled item;
    the reviewer only removes what they reject. Before, it started from one annotator's
    version (the last by e-mail): the items the other two agreed on were missing, and a
    review that only settled the listed conflicts was refused (a walkthrough found it)."""
    root = ls_project.root
    project, task, r = ingested_and_pushed(ls_project, ls_conn, THREE, TEXT3)
    who = [f"three-{k}@sahelwire.test" for k in "abc"]  # C sorts last: the old start
    token = {w: sign_up(ls_conn, w, f"Three-pw-{w[6]}1") for w in who}
    made = {
        who[0]: [*r.span("a1", "Niamey", "GPE"), *r.span("a2", "Washington", "GPE"),
                 *r.span("a3", "Agadez", "GPE"), *r.stance("SUPPORTS")],
        who[1]: [*r.span("b1", "Niamey", "GPE"), *r.span("b2", "Washington", "GPE"),
                 *r.span("b3", "junta", "ORG"), *r.stance("SUPPORTS")],
        who[2]: [*r.span("c1", "Niamey", "GPE", nth=1), *r.span("c2", "junta", "ORG"),
                 *r.stance("OPPOSES")],
    }  # fmt: skip
    for w, result in made.items():
        LabelStudio(base_url=ls_server.url, api_key=token[w]).annotations.create(
            id=task.id, result=result
        )
    pulled = cli(root, "labelstudio", "pull", "--quiet")
    assert pulled.returncode == 0, pulled.stdout + pulled.stderr
    # A lead rejected Agadez earlier (a decision stands while anyone disagrees).
    agadez = "region:entities:GPE:{}:{}".format(TEXT3.index("Agadez"), TEXT3.index("Agadez") + 6)
    folder = root / "annotations" / "decisions"
    folder.mkdir(parents=True, exist_ok=True)
    earlier = {"item": agadez, "action": "reject", "decided_by": "lead@sahelwire.test",
               "why": "Agadez is where troops are, not a party"}  # fmt: skip
    (folder / f"{THREE}.yaml").write_text(yaml.safe_dump({"decisions": [earlier]}))
    adj = cli(root, "adjudicate")
    lines = [line for line in adj.stdout.splitlines() if line.startswith(THREE)]
    assert adj.returncode == 1 and "2 unsettled" in adj.stdout, adj.stdout + adj.stderr
    assert any("choice:stance_us_presence:OPPOSES" in line for line in lines), lines

    reviewed = cli(root, "labelstudio", "review")
    assert reviewed.returncode == 0, reviewed.stdout + reviewed.stderr
    review_project = next(
        p for p in ls_projects(ls_conn.client) if p.title == f"{project.title} (review)"
    )
    assert ls_conn.client.projects.get(id=review_project.id).model_version == START_VERSION
    review_task = task_of(ls_conn, review_project.id, THREE)
    preds = {
        p.model_version: p.result for p in ls_conn.client.predictions.list(task=review_task.id)
    }
    assert set(preds) == {START_VERSION, *(f"{t}: {w}" for t, w in zip("ABC", who, strict=True))}
    preds = {version_annotator(str(k)): v for k, v in preds.items()}
    start = preds[START_VERSION]
    # The box also shows the earlier decision, with who made what now.
    box = review_task.data["review_conflicts"]
    assert f"Decided earlier (they stand; annotations/decisions/{THREE}.yaml):" in box
    assert "'Agadez' marked by A, not by B, C: reject by lead@" in box  # tabs' letters
    first, second = TEXT3.index("Niamey"), TEXT3.rindex("Niamey")
    agreed = [("Niamey", first, None), ("Washington", TEXT3.index("Washington"), None),
              ("junta", TEXT3.index("junta"), None)]  # fmt: skip
    # Agreed (two of three) and the unsettled second Niamey in; Agadez, rejected, out.
    assert spans(start) == sorted([*agreed, ("Niamey", second, None)], key=str)
    stance = [i["value"]["choices"] for i in start if i["from_name"] == "stance_us_presence"]
    assert stance == [["SUPPORTS"]]  # the majority's; OPPOSES, in conflict, is not selected
    # Label Studio's own choice before: C's version, without what A and B agreed on.
    assert not set(agreed) <= set(spans(preds[who[2]]))

    reviewer = "three-reviewer@sahelwire.test"
    as_r = LabelStudio(base_url=ls_server.url, api_key=sign_up(ls_conn, reviewer, "Three-pw-r1"))
    why = r.reason("Guidelines 2.1: a place named twice is marked once; 'must leave' opposes.")
    # Settling only the listed conflicts on C's version is refused: it drops agreed items.
    old_start = [i for i in preds[who[2]] if i["value"].get("start") != second]
    review_ann = as_r.annotations.create(id=review_task.id, result=[*old_start, *why])
    refused = cli(root, "labelstudio", "review", "--pull")
    assert refused.returncode == 1, refused.stdout + refused.stderr
    assert "which the annotators agreed on" in refused.stderr, refused.stderr
    # From the start: remove the second Niamey, side with C's stance (in the editor,
    # selecting OPPOSES unselects the majority's SUPPORTS), say why.
    kept = [i for i in start if i["value"].get("start") != second and "choices" not in i["value"]]
    as_r.annotations.update(id=review_ann.id, result=[*kept, *r.stance("OPPOSES"), *why])
    done = cli(root, "labelstudio", "review", "--pull")
    assert done.returncode == 0, done.stdout + done.stderr
    assert "1 article(s) decided (3 decision(s) written)" in done.stdout, done.stdout
    got = yaml.safe_load((folder / f"{THREE}.yaml").read_text())["decisions"]
    actions = {d["item"]: (d["action"], d["decided_by"]) for d in got}
    assert actions[agadez] == ("reject", "lead@sahelwire.test")  # the earlier decision kept
    assert actions["choice:stance_us_presence:OPPOSES"] == ("accept", reviewer)
    # the majority's value, overruled: a single-choice field holds one value
    assert actions["choice:stance_us_presence:SUPPORTS"] == ("reject", reviewer)
    overruled = next(d for d in got if d["item"] == "choice:stance_us_presence:SUPPORTS")
    assert overruled["conflict"] == (  # who made what, like every entry
        f"marked by {who[0]}, {who[1]}, not by {who[2]}; the majority's value; the review "
        "selects OPPOSES"
    ), overruled
    assert actions[f"region:entities:GPE:{second}:{second + 6}"] == ("reject", reviewer)
    settled = cli(root, "adjudicate")
    assert settled.returncode == 0 and "0 unsettled" in settled.stdout, settled.stdout


def test_pull_and_submit_without_a_review_project_name_the_command_that_makes_it(
    ls_project: ProjectPaths, ls_conn: Connection, tmp_path: Path
) -> None:
    root = ls_project.root
    assert run_cli(root, "labelstudio", "push", "--quiet").returncode == 0
    sheet = tmp_path / "sheet.yaml"
    sheet.write_text("articles: []\n", encoding="utf-8")
    for args in (
        ("review", "--pull"),
        ("review", "--submit", str(sheet), "--reviewer", "reviewer@sahelwire.test"),
    ):
        refused = run_cli(root, "labelstudio", *args)
        # the server lacks what the command needs: an environment problem (exit 2)
        assert refused.returncode == 2, refused.stdout + refused.stderr
        assert "no review project titled" in refused.stderr, refused.stderr
        assert "run `sahelwire labelstudio review` first" in refused.stderr
        assert "Traceback" not in refused.stderr
