"""Two annotators and a reviewer, end to end in a real browser (issue 15, item 9).

On the session's real Label Studio server, in a copy of the project with one short synthetic
article added (the ``ls_project`` fixture removes the committed exports, so ``push`` needs no
``restore`` first), with headless Debian Chromium as the people and the real CLI as the
maintainer:

1. ``sahelwire labelstudio push``; ``sahelwire labelstudio invite`` prints the sign-up link.
2. Annotators A and B each sign up through that link in the browser, open the queue with
   *Label All Tasks* and are handed the same task (overlap 2), starting from the same
   prediction. A marks "Agadez" as a GPE (label, then a mouse selection); B deletes the
   predicted ORG "junta" (select it, the region's delete button). Each submits in the editor.
3. ``pull``; ``adjudicate`` names who marked what: both spans by A, not by B.
4. ``review``; a reviewer signs up through the link, opens the review task from the task
   list and starts from the prediction ``agreed + every conflict`` (both spans in), deletes
   "Agadez", keeps "junta", types the required reason and submits.
5. ``review --pull`` writes annotations/decisions/<article>.yaml (decided_by the reviewer,
   the reason typed); ``adjudicate`` reports 0 unsettled.
6. ``build``: the gold (``datasets.load_dataset(dist, "mentions")``) has "junta" and not
   "Agadez"; the card counts two annotator accounts and one reviewer.

Every step a person takes is done in the UI; the API is used only to read what to assert
(task and prediction ids, the editor's state through ``window.Htx``). Screenshots of the key
steps are written under the test's tmp_path; their paths are in every assertion message.
"""

from __future__ import annotations

import re
import secrets
import shutil
from pathlib import Path
from typing import Any

import datasets
import pytest
import yaml

from helpers import CHROMIUM, CHROMIUM_ARGS, TEXT_BOX_JS, ls_projects, ls_tasks, run_cli
from sahelwire.annotations.review import START_VERSION, version_annotator
from sahelwire.io.paths import ProjectPaths
from sahelwire.labelstudio.client import Connection
from sahelwire.labelstudio.project import require_project

pytestmark = [pytest.mark.labelstudio, pytest.mark.browser]

# Sorts before the committed articles: push imports in article-id order, and the queue
# (Sequential sampling) hands out the lowest task id first, so both annotators get this one.
ARTICLE = "000_0_e2e_review"
TEXT = (
    "Niger and the United States\n\n"
    "The junta in Niamey and officials of the United States spoke about Agadez.\n"
)
PASSWORD = "E2e-review-pw-1"
REASON = (
    "Guidelines 2: 'junta' names Niger's military government, an ORG; "
    "Agadez plays no part in these talks."
)
# The editor's own state (window.Htx is Label Studio's store): the selected annotation, the
# prediction it was copied from, its span regions, and the predictions it can see.
STATE_JS = """() => {
  const store = window.Htx;
  const a = store.annotationStore.selected;
  const spans = a.serializeAnnotation()
    .filter(r => r.type === 'labels')
    .map(r => [r.value.start, r.value.end, r.value.labels.join('|'), r.value.text]);
  return {task: store.task.id, parent: a.parent_prediction ?? null, pk: a.pk ?? null,
          annotations: store.annotationStore.annotations.length, spans,
          predictions: store.annotationStore.predictions.map(p => [Number(p.pk), p.createdBy])};
}"""


class Shots:
    """Screenshots of the key steps, named in order; ``str(shots)`` lists their paths."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.paths: list[Path] = []
        folder.mkdir(parents=True, exist_ok=True)

    def take(self, page: Any, name: str) -> None:
        path = self.folder / f"{len(self.paths) + 1:02d}-{name}.png"
        page.screenshot(path=str(path))
        self.paths.append(path)

    def __str__(self) -> str:
        return "screenshots: " + " ".join(str(p) for p in self.paths)


def cli(root: Path, *args: str) -> Any:
    return run_cli(root, *args)


def sign_up(page: Any, link: str, email: str) -> None:
    """The invite link's sign-up form, as a person fills it in (no newsletter)."""
    page.goto(link)
    page.fill("input[name=email]", email)
    page.fill("input[name=password]", PASSWORD)
    page.get_by_text("Get the latest news").click()  # the box is ticked by default
    page.click("button[type=submit]")
    page.wait_for_load_state("networkidle")
    assert "/user/" not in page.url, f"sign-up of {email} did not go through: {page.url}"


def wait_for_editor(page: Any) -> None:
    page.wait_for_selector(".lsf-htx-richtext", timeout=90_000)
    page.wait_for_function("() => window.Htx && window.Htx.annotationStore.selected")
    page.wait_for_timeout(800)


def open_queue(page: Any, url: str, project_id: int) -> Any:
    """The project's task list, *Label All Tasks*, and past the instructions shown first."""
    page.goto(f"{url}/projects/{project_id}/data")
    page.get_by_role("button", name="Label All Tasks").click()
    wait_for_editor(page)
    page.get_by_text("Labeling Instructions").wait_for()
    page.locator("button[aria-label='Close modal']").click()
    page.wait_for_timeout(400)
    return page.evaluate(STATE_JS)


def select_text(page: Any, phrase: str, word: str) -> None:
    """A real mouse selection of ``word`` (in ``phrase``) from its left to its right edge."""
    box = page.evaluate(TEXT_BOX_JS, [phrase, word])
    assert box is not None, f"{phrase!r} is not in the article on screen"
    y = box["y"] + box["h"] / 2
    page.mouse.move(box["x"] + 1, y)
    page.mouse.down()
    page.mouse.move(box["x"] + box["w"] / 2, y)
    page.mouse.move(box["x"] + box["w"] - 1, y)
    page.mouse.up()
    page.wait_for_timeout(500)


def click_region(page: Any, word: str) -> None:
    page.locator(".lsf-htx-richtext .htx-highlight", has_text=word).first.click()
    page.wait_for_timeout(500)


def submit(page: Any) -> int:
    """Click Submit and wait for the editor's POST of the annotation; its HTTP status."""
    with page.expect_response(
        lambda r: r.request.method == "POST" and re.search(r"/api/tasks/\d+/annotations", r.url),
        timeout=60_000,
    ) as saved:
        page.get_by_test_id("bottombar-submit-button").click()
    page.wait_for_timeout(500)
    return int(saved.value.status)


def spans(result: list[dict[str, Any]]) -> list[list[Any]]:
    return sorted(
        [r["value"]["start"], r["value"]["end"], "|".join(r["value"]["labels"]), r["value"]["text"]]
        for r in result
        if r["type"] == "labels"
    )


def at(word: str) -> tuple[int, int]:
    start = TEXT.index(word)
    return start, start + len(word)


@pytest.mark.skipif(not shutil.which("chromium"), reason="Debian chromium is not installed")
def test_two_annotators_label_in_the_queue_a_reviewer_settles_the_conflict_and_the_gold_has_it(
    ls_project: ProjectPaths, ls_conn: Connection, ls_server: Any, tmp_path: Path
) -> None:
    from playwright.sync_api import sync_playwright

    root = ls_project.root
    shots = Shots(tmp_path / "screenshots")
    source = tmp_path / f"{ARTICLE}.txt"
    source.write_text(TEXT, encoding="utf-8")
    ingested = cli(root, "ingest", str(source))
    assert ingested.returncode == 0, ingested.stdout + ingested.stderr

    # 1. push, and the invite link the maintainer hands out
    pushed = cli(root, "labelstudio", "push", "--quiet")
    assert pushed.returncode == 0, pushed.stdout + pushed.stderr
    project = require_project(ls_conn, ls_project)
    task_id = next(
        t.id
        for t in ls_tasks(ls_conn.client, project=project.id)
        if t.data["article_id"] == ARTICLE
    )
    (prediction,) = ls_conn.client.predictions.list(task=task_id)
    predicted = spans(prediction.result)
    assert [*at("junta"), "ORG", "junta"] in predicted
    assert not any(s[3] == "Agadez" for s in predicted)  # only a person marks it
    invite = cli(root, "labelstudio", "invite")
    assert invite.returncode == 0, invite.stderr
    link = invite.stdout.strip()
    # Accounts of their own: the session server is shared with other tests. Sorted A < B.
    tag = secrets.token_hex(3)
    a, b, reviewer = (f"e2e-{who}-{tag}@sahelwire.test" for who in ("a", "b", "r"))
    url = ls_server.url

    # 2. A and B, each in their own browser session, through the queue
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
        try:
            page = browser.new_context(viewport={"width": 1440, "height": 900}).new_page()
            sign_up(page, link, a)
            start_a = open_queue(page, url, int(project.id))
            shots.take(page, "a-queue-start")
            assert start_a["task"] == task_id, f"the queue handed A {start_a}; {shots}"
            assert start_a["parent"] == prediction.id and start_a["pk"] is None, shots
            assert sorted(start_a["spans"]) == predicted, shots
            page.get_by_text("GPE", exact=True).first.click()
            select_text(page, "spoke about Agadez.", "Agadez")
            marked = page.evaluate(STATE_JS)
            shots.take(page, "a-marked-agadez")
            assert sorted(marked["spans"]) == sorted(
                [*predicted, [*at("Agadez"), "GPE", "Agadez"]]
            ), f"{marked}; {shots}"
            assert submit(page) == 201, shots
            shots.take(page, "a-submitted")
            page.context.close()

            page = browser.new_context(viewport={"width": 1440, "height": 900}).new_page()
            sign_up(page, link, b)
            start_b = open_queue(page, url, int(project.id))
            shots.take(page, "b-queue-start")
            # The same task, from the same prediction, without A's annotation (blind).
            assert start_b["task"] == task_id, f"the queue handed B {start_b}; {shots}"
            assert start_b["parent"] == prediction.id and start_b["annotations"] == 1, shots
            assert sorted(start_b["spans"]) == predicted, shots
            click_region(page, "junta")
            shots.take(page, "b-junta-selected")
            page.get_by_role("button", name="Delete selected region").click()
            page.wait_for_timeout(400)
            deleted = page.evaluate(STATE_JS)
            shots.take(page, "b-junta-deleted")
            assert sorted(deleted["spans"]) == [s for s in predicted if s[3] != "junta"], (
                f"{deleted}; {shots}"
            )
            assert submit(page) == 201, shots
            shots.take(page, "b-submitted")
            page.context.close()
        finally:
            browser.close()

    # 3. pull; adjudicate names who marked what
    pulled = cli(root, "labelstudio", "pull", "--quiet")
    assert pulled.returncode == 0, pulled.stdout + pulled.stderr
    adj = cli(root, "adjudicate")
    assert adj.returncode == 1, adj.stdout + adj.stderr
    for word, label in (("Agadez", "GPE"), ("junta", "ORG")):
        start, end = at(word)
        item = f"region:entities:{label}:{start}:{end}"
        assert f"{ARTICLE}  conflict   {item}  '{word}' marked by {a}, not by {b}" in adj.stdout, (
            adj.stdout
        )
    assert "2 unsettled" in adj.stdout and "sahelwire labelstudio review" in adj.stdout

    # 4. review: the reviewer settles it in the browser
    reviewed = cli(root, "labelstudio", "review")
    assert reviewed.returncode == 0, reviewed.stdout + reviewed.stderr
    assert "review tasks 1 created" in reviewed.stdout, reviewed.stdout
    title = f"{project.title} (review)"
    review_project = next(p for p in ls_projects(ls_conn.client) if p.title == title)
    (review_task,) = list(ls_tasks(ls_conn.client, project=review_project.id))
    named = {p.model_version: p for p in ls_conn.client.predictions.list(task=review_task.id)}
    # Each version named by its letter and e-mail: the tabs show "A: e2e-a...test".
    assert set(named) == {f"A: {a}", f"B: {b}", START_VERSION}
    versions = {version_annotator(str(k)): p for k, p in named.items()}
    assert ls_conn.client.projects.get(id=review_project.id).model_version == START_VERSION
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
        try:
            page = browser.new_context(viewport={"width": 1440, "height": 900}).new_page()
            sign_up(page, link, reviewer)
            page.goto(f"{url}/projects/{review_project.id}/data")
            page.get_by_text(ARTICLE, exact=True).wait_for()
            shots.take(page, "r-task-list")
            page.get_by_text(ARTICLE, exact=True).click()  # the task's row, as docs/review.md says
            wait_for_editor(page)
            start_r = page.evaluate(STATE_JS)
            shots.take(page, "r-review-start")
            assert start_r["task"] == review_task.id, shots
            assert sorted(start_r["predictions"]) == sorted(
                [p.id, name] for name, p in named.items()
            ), shots
            # Label Studio copies the prediction of the project's model version: the start,
            # what A and B agreed on plus both conflicts ('junta' as A had it, 'Agadez').
            assert start_r["parent"] == versions[START_VERSION].id, f"{start_r}; {shots}"
            assert sorted(start_r["spans"]) == spans(versions[START_VERSION].result), shots
            assert sorted(start_r["spans"]) == spans(versions[a].result), shots
            # Keep 'junta'; delete 'Agadez' (select it, the region's delete button).
            click_region(page, "Agadez")
            shots.take(page, "r-agadez-selected")
            page.get_by_role("button", name="Delete selected region").click()
            page.wait_for_timeout(400)
            shots.take(page, "r-agadez-deleted")
            page.keyboard.press("Escape")  # unselect
            reason = page.locator("textarea[name=review_reason]")
            reason.fill(REASON)
            reason.press("Shift+Enter")  # Label Studio keeps only added text
            page.wait_for_timeout(400)
            gold = page.evaluate(STATE_JS)
            shots.take(page, "r-reason-added")
            assert submit(page) == 201, shots
            shots.take(page, "r-submitted")
        finally:
            browser.close()
    assert sorted(gold["spans"]) == sorted(
        [*spans(versions[b].result), [*at("junta"), "ORG", "junta"]]
    ), f"{gold}; {shots}"
    assert gold["parent"] == versions[START_VERSION].id, shots

    # 5. review --pull: the decisions, by the reviewer, with the reason; nothing unsettled
    decided = cli(root, "labelstudio", "review", "--pull")
    assert decided.returncode == 0, decided.stdout + decided.stderr + str(shots)
    assert "1 article(s) decided (2 decision(s) written)" in decided.stdout, decided.stdout
    data = yaml.safe_load((root / "annotations" / "decisions" / f"{ARTICLE}.yaml").read_text())
    got = {d["item"]: d for d in data["decisions"]}
    agadez = "region:entities:GPE:{}:{}".format(*at("Agadez"))
    junta = "region:entities:ORG:{}:{}".format(*at("junta"))
    assert {i: got[i]["action"] for i in got} == {agadez: "reject", junta: "accept"}, got
    assert {d["decided_by"] for d in got.values()} == {reviewer}
    assert {d["why"] for d in got.values()} == {REASON}
    assert got[agadez]["conflict"] == f"'Agadez' marked by {a}, not by {b}"
    settled = cli(root, "adjudicate")
    assert settled.returncode == 0, settled.stdout + settled.stderr
    assert "2 conflict(s), 0 unsettled" in settled.stdout, settled.stdout

    # 6. build: the gold carries the decision; the card counts the people
    built = cli(root, "build")
    assert built.returncode == 0, built.stdout + built.stderr
    mentions = datasets.load_dataset(str(root / "dist"), "mentions")
    rows = [r for split in mentions.values() for r in split if r["article_id"] == ARTICLE]
    names = next(iter(mentions.values())).features["label"].names
    published = sorted(
        (r["start"], r["end"], names[r["label"]], r["text"], r["entity_id"]) for r in rows
    )
    assert (*at("junta"), "ORG", "junta", "ent_niger_junta") in published, published
    assert not any(r[3] == "Agadez" for r in published), published
    assert [list(r[:4]) for r in published] == sorted(gold["spans"])  # the reviewer's screen
    documents = datasets.load_dataset(str(root / "dist"), "documents")
    (doc,) = [r for split in documents.values() for r in split if r["article_id"] == ARTICLE]
    assert doc["n_annotators"] == 2
    card = (root / "dist" / "README.md").read_text(encoding="utf-8")
    assert f"Annotated in Label Studio by 2 human annotator accounts ({a}, {b})." in card
    assert f"Conflicts were adjudicated by 1 reviewer: {reviewer} (person, 2 decisions)." in card
    print(shots)
