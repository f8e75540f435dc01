"""The labeling queue on a real server: overlap, equal starting predictions, blindness, invites.

Issue 15, items 4 and 7. Every annotator account is a real sign-up through an invite link;
the queue is Label Studio's own ``/api/projects/<id>/next`` (what "Label All Tasks" calls;
label-studio-sdk 2.x has no method for it), asked with each annotator's own token; their
annotations go through the SDK as themselves.
"""

from __future__ import annotations

import re
import secrets
from typing import Any

import httpx
import pytest
from label_studio_sdk.client import LabelStudio

from helpers import CHROMIUM, CHROMIUM_ARGS, ls_tasks, run_cli
from sahelwire.io.paths import ProjectPaths
from sahelwire.labelstudio.client import Connection, ConnectionProblem
from sahelwire.labelstudio.invite import invite_url, sign_up
from sahelwire.labelstudio.project import require_project

pytestmark = pytest.mark.labelstudio


def _auth(token: str) -> dict[str, str]:
    return {"Authorization": f"Token {token}"}


def _next(url: str, token: str, project_id: int) -> dict[str, Any] | None:
    """The task the queue hands this user next (and locks for them), or None."""
    r = httpx.get(f"{url}/api/projects/{project_id}/next", headers=_auth(token), timeout=60)
    if r.status_code == 404:
        return None
    assert r.status_code == 200, r.text
    return dict(r.json())


def _emails(n: int) -> list[str]:
    tag = secrets.token_hex(3)
    return [f"queue-{tag}-{i}@sahelwire.test" for i in range(n)]


def _push(root: Any) -> str:
    pushed = run_cli(root, "labelstudio", "push", "--quiet")
    assert pushed.returncode == 0, pushed.stdout + pushed.stderr
    return pushed.stdout


def test_push_sets_the_queue_from_pyproject_and_re_push_puts_it_back(
    ls_project: ProjectPaths, ls_conn: Connection, ls_server: Any
) -> None:
    root = ls_project.root
    first = _push(root)
    project = require_project(ls_conn, ls_project)
    version = re.search(r"model (\S+)\)", first)
    assert version, first
    got = ls_conn.client.projects.get(id=project.id)
    assert got.maximum_annotations == 2 and got.overlap_cohort_percentage == 100
    assert got.show_collab_predictions is True
    assert got.reveal_preannotations_interactively is False
    assert got.show_annotation_history is False
    assert got.model_version == version.group(1)
    tasks: list[Any] = list(ls_conn.client.tasks.list(project=project.id, fields="all"))
    assert len(tasks) == 5 and {t.overlap for t in tasks} == {2}
    # Every prediction carries its score; the invalid nesting of article 002 is dropped.
    for t in tasks:
        (pred,) = t.predictions
        assert pred.model_version == version.group(1)
        assert pred.score is not None and 0.0 < pred.score <= 1.0
    assert "1 predicted region(s) dropped by the span rules" in first
    assert re.search(
        r"dropped from the prediction: article 002_4eb8b75709aad65d: entities GPE 'US' "
        r"\d+:\d+ overlaps PERSON",
        first,
    ), first
    again = _push(root)
    assert "settings updated" not in again and "0 prediction set(s) added" in again

    # Community lets any account change the project (docs/annotation_workflow.md): an
    # annotator turns the overlap off; the next push puts it back and says so.
    annotator = sign_up(ls_conn, _emails(1)[0], "Queue-pw-1")
    r = httpx.patch(
        f"{ls_server.url}/api/projects/{project.id}",
        json={"maximum_annotations": 1, "show_collab_predictions": False},
        headers=_auth(annotator),
        timeout=60,
    )
    assert r.status_code == 200, r.text
    restored = _push(root)
    assert (
        "settings updated (maximum_annotations 1 -> 2; show_collab_predictions False -> True)"
        in (restored)
    ), restored
    got = ls_conn.client.projects.get(id=project.id)
    assert got.maximum_annotations == 2 and got.show_collab_predictions is True
    # show_collab_predictions off cleared the selected model version; push selects it again.
    assert got.model_version == version.group(1)

    # A new annotators_per_task reaches the existing project and its tasks on the next push.
    pyproject = root / "pyproject.toml"
    pyproject.write_text(
        pyproject.read_text().replace("annotators_per_task = 2", "annotators_per_task = 3")
    )
    assert "maximum_annotations 2 -> 3" in _push(root)
    tasks = list(ls_conn.client.tasks.list(project=project.id, fields="all"))
    assert {t.overlap for t in tasks} == {3}


def test_two_annotators_get_the_same_task_and_prediction_blind_and_a_third_does_not(
    ls_project: ProjectPaths, ls_conn: Connection, ls_server: Any
) -> None:
    _push(ls_project.root)
    project_id = int(require_project(ls_conn, ls_project).id)
    a, b, c = (sign_up(ls_conn, e, "Queue-pw-2") for e in _emails(3))

    first_a = _next(ls_server.url, a, project_id)
    assert first_a is not None
    task_id = first_a["id"]
    # Before A submits, B is handed the same task (overlap 2), C another one.
    first_b = _next(ls_server.url, b, project_id)
    assert first_b is not None and first_b["id"] == task_id
    first_c = _next(ls_server.url, c, project_id)
    assert first_c is not None and first_c["id"] != task_id

    # A submits the prediction as it is (what the queue's editor starts from).
    (prediction,) = first_a["predictions"]
    LabelStudio(base_url=ls_server.url, api_key=a).annotations.create(
        id=task_id, result=prediction["result"], lead_time=10.0
    )
    # B, asking again, gets the same task with the same prediction, and not A's annotation.
    again_b = _next(ls_server.url, b, project_id)
    assert again_b is not None and again_b["id"] == task_id
    assert again_b["annotations"] == []
    (prediction_b,) = again_b["predictions"]
    for key in ("id", "model_version", "score", "result"):
        assert prediction_b[key] == prediction[key], key
    LabelStudio(base_url=ls_server.url, api_key=b).annotations.create(
        id=task_id, result=prediction_b["result"], lead_time=12.0
    )

    # Two submitted: the task is done; no one gets it again, A and B move on.
    handed = set()
    for token in (c, a, b, c):
        nxt = _next(ls_server.url, token, project_id)
        assert nxt is not None
        handed.add(nxt["id"])
        LabelStudio(base_url=ls_server.url, api_key=token).annotations.create(
            id=nxt["id"], result=[], lead_time=1.0
        )
    assert task_id not in handed
    # Any: the SDK types a task as a union of per-role serializers and which one it parses
    # varies; every field the server sent is on it (extra fields are kept).
    done: Any = ls_conn.client.tasks.get(id=str(task_id))
    assert done.is_labeled is True and done.total_annotations == 2

    # What Community cannot hide: outside the queue, the Data Manager's task endpoint shows
    # B every annotation of the task, A's included.
    shown = httpx.get(f"{ls_server.url}/api/tasks/{task_id}", headers=_auth(b), timeout=60)
    assert shown.status_code == 200
    assert len(shown.json()["annotations"]) == 2


def test_an_annotators_earlier_version_does_not_take_a_place_in_the_queue(
    ls_project: ProjectPaths, ls_conn: Connection, ls_server: Any
) -> None:
    """Label Studio's queue lock counts annotation objects, its ``is_labeled`` distinct
    annotators: A's two versions of a task took two of its places, and with 3 annotators per
    task a third annotator was handed nothing (a fresh clone's restored gold has such
    versions). Push sets the task's overlap so that N counts annotators."""
    root = ls_project.root
    _push(root)
    project_id = int(require_project(ls_conn, ls_project).id)
    a, b, c, d = (sign_up(ls_conn, e, "Queue-pw-5") for e in _emails(4))
    task = _next(ls_server.url, a, project_id)
    assert task is not None
    task_id = task["id"]
    as_a = LabelStudio(base_url=ls_server.url, api_key=a)
    versions: list[list[Any]] = [[], task["predictions"][0]["result"]]
    for result in versions:  # two versions of A's annotation
        as_a.annotations.create(id=task_id, result=result, lead_time=5.0)
    LabelStudio(base_url=ls_server.url, api_key=b).annotations.create(
        id=task_id, result=[], lead_time=6.0
    )
    # Two annotators (A, B) with N = 2: the task is done, whatever the versions.
    pushed = _push(root)
    assert "1 task(s)' overlap set to count annotators, not versions" in pushed, pushed
    got: Any = ls_conn.client.tasks.get(id=str(task_id))
    assert got.overlap == 3 and got.is_labeled is True
    handed_c = _next(ls_server.url, c, project_id)
    assert handed_c is not None and handed_c["id"] != task_id

    pyproject = root / "pyproject.toml"
    pyproject.write_text(
        pyproject.read_text().replace("annotators_per_task = 2", "annotators_per_task = 3")
    )
    pushed = _push(root)
    assert "maximum_annotations 2 -> 3" in pushed, pushed
    got = ls_conn.client.tasks.get(id=str(task_id))
    assert got.overlap == 4 and got.is_labeled is False
    # D, a new annotator, is handed the task two annotators started (breadth first).
    handed_d = _next(ls_server.url, d, project_id)
    assert handed_d is not None and handed_d["id"] == task_id, handed_d
    LabelStudio(base_url=ls_server.url, api_key=d).annotations.create(
        id=task_id, result=[], lead_time=7.0
    )
    # Three annotators now: nobody else is handed it.
    for token in (c, c):
        nxt = _next(ls_server.url, token, project_id)
        assert nxt is not None and nxt["id"] != task_id
        LabelStudio(base_url=ls_server.url, api_key=token).annotations.create(
            id=nxt["id"], result=[], lead_time=1.0
        )
    # Label Studio's own is_labeled counted 3 annotators against overlap 4; push sets it.
    assert "1 task(s)' overlap set" in _push(root)
    got = ls_conn.client.tasks.get(id=str(task_id))
    assert got.overlap == 4 and got.is_labeled is True


def test_an_invite_link_signs_up_any_number_of_accounts_until_it_is_reset(
    ls_project: ProjectPaths, ls_conn: Connection
) -> None:
    shown = run_cli(ls_project.root, "labelstudio", "invite")
    assert shown.returncode == 0, shown.stderr
    link = shown.stdout.strip()
    assert link == invite_url(ls_conn) and "reusable" in shown.stderr
    assert "no project on this server yet: run `sahelwire labelstudio push`" in shown.stderr
    first, second, late = _emails(3)
    for email in (first, second):
        assert sign_up(ls_conn, email, "Invite-pw-1", link=link)
    users = {u.email for u in ls_conn.client.users.list()}
    assert {first, second} <= users  # the same link made both accounts: not one-time

    reset = run_cli(ls_project.root, "labelstudio", "invite", "--reset")
    assert reset.returncode == 0, reset.stderr
    fresh = reset.stdout.strip()
    assert fresh != link and invite_url(ls_conn) == fresh
    assert "earlier links no longer work" in reset.stderr
    with pytest.raises(ConnectionProblem):
        sign_up(ls_conn, late, "Invite-pw-1", link=link)
    assert late not in {u.email for u in ls_conn.client.users.list()}
    assert sign_up(ls_conn, late, "Invite-pw-1", link=fresh)
    # The accounts made with the old link stay, and still log in.
    assert sign_up(ls_conn, first, "Invite-pw-1", link=fresh)


# The editor's own state (window.Htx is Label Studio's store): the annotation the queue
# opened for this user, its parent prediction, and its span regions.
EDITOR_STATE_JS = """() => {
  const store = window.Htx;
  const a = store.annotationStore.selected;
  const spans = a.serializeAnnotation()
    .filter(r => r.type === 'labels')
    .map(r => [r.from_name, r.value.start, r.value.end, r.value.labels.join('|')]);
  return {task: store.task.id, parent: a.parent_prediction ?? null, pk: a.pk ?? null,
          annotations: store.annotationStore.annotations.length, spans};
}"""


def _queue_editor_state(browser: Any, url: str, project_id: int, email: str, pw: str) -> Any:
    """Log in as ``email`` in a fresh browser context, open the labeling queue ("Label All
    Tasks"), and read the annotation it starts the user on."""
    context = browser.new_context(viewport={"width": 1440, "height": 900})
    try:
        page = context.new_page()
        page.goto(f"{url}/user/login/")
        page.fill("input[name=email]", email)
        page.fill("input[name=password]", pw)
        page.click("button[type=submit], input[type=submit]")
        page.wait_for_load_state("networkidle")
        page.goto(f"{url}/projects/{project_id}/data?labeling=1")
        page.wait_for_selector(".lsf-htx-richtext", timeout=90_000)
        page.wait_for_function("() => window.Htx && window.Htx.annotationStore.selected")
        page.wait_for_timeout(1000)
        return page.evaluate(EDITOR_STATE_JS)
    finally:
        context.close()


def _spans(result: list[dict[str, Any]]) -> list[list[Any]]:
    return sorted(
        [r["from_name"], r["value"]["start"], r["value"]["end"], "|".join(r["value"]["labels"])]
        for r in result
        if r["type"] == "labels"
    )


@pytest.mark.browser
def test_in_the_queue_the_second_annotator_starts_from_the_same_prediction_as_the_first(
    ls_project: ProjectPaths, ls_conn: Connection, ls_server: Any
) -> None:
    """Real editor, real queue: A opens the queue, submits; B then opens the queue and is
    handed the same task, starting from the same prediction, without A's annotation."""
    import shutil

    from playwright.sync_api import sync_playwright

    if not shutil.which("chromium"):
        pytest.skip("Debian chromium is not installed")
    _push(ls_project.root)
    project_id = int(require_project(ls_conn, ls_project).id)
    (email_a, email_b), pw = _emails(2), "Queue-pw-3"
    token_a = sign_up(ls_conn, email_a, pw)
    sign_up(ls_conn, email_b, pw)
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
        try:
            state_a = _queue_editor_state(browser, ls_server.url, project_id, email_a, pw)
            task_id = state_a["task"]
            # A submits what the editor started from (the realis the prediction leaves
            # unset would be chosen in the editor; it does not change the spans).
            (prediction,) = ls_conn.client.predictions.list(task=task_id)
            LabelStudio(base_url=ls_server.url, api_key=token_a).annotations.create(
                id=task_id, result=prediction.result, lead_time=20.0
            )
            state_b = _queue_editor_state(browser, ls_server.url, project_id, email_b, pw)
        finally:
            browser.close()
    expected = _spans(prediction.result)
    assert expected, "the prediction has span regions"
    assert state_b["task"] == task_id  # the queue handed B the task A annotated
    for state in (state_a, state_b):
        assert state["pk"] is None  # a new annotation of this user's, not a submitted one
        assert state["parent"] == prediction.id  # made from the prediction
        assert sorted(state["spans"]) == expected
    assert state_b["annotations"] == 1  # B's own; A's submitted annotation is not loaded


def test_push_shows_the_current_baseline_but_never_hides_a_re_opened_release(
    ls_project: ProjectPaths, ls_conn: Connection
) -> None:
    """The queue serves only the project's model version: after the rules change, push must
    select the new one (else annotators start from the old prediction), but a release gold
    selected by push --from-release stays selected."""
    first = _push(ls_project.root)
    version = re.search(r"model (\S+)\)", first)
    assert version, first
    project_id = int(require_project(ls_conn, ls_project).id)
    task_id = next(iter(ls_tasks(ls_conn.client, project=project_id))).id
    for older in ("sahelwire-gazetteer-0.0.0-older", "sahelwire-v0.1.0-gold"):
        ls_conn.client.predictions.create(task=task_id, result=[], model_version=older)
        ls_conn.client.projects.update(id=project_id, model_version=older)
        again = _push(ls_project.root)
        shown = ls_conn.client.projects.get(id=project_id).model_version
        if older.startswith("sahelwire-gazetteer-"):
            assert shown == version.group(1)  # an older baseline: replaced
            assert "not shown" not in again
        else:
            assert shown == older  # a re-opened release: kept, and push says so
            assert f"not shown: the project shows {older}" in again, again
