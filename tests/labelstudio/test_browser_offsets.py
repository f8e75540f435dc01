"""End to end in a real browser: label a span after an emoji in the real Label Studio UI.

Headless Debian Chromium driven by Playwright (no browser download): log in, open article
001, select "Niger" in a reader comment that follows the 🤔 emoji with the mouse, submit,
then `sahelwire labelstudio pull` and `sahelwire build`, and check the published mention is
exactly that code-point slice. This is also how the offset unit was measured
(docs/offsets.md): if the frontend ever exports UTF-16 indices, this test fails.
"""

from __future__ import annotations

import shutil
from typing import Any

import datasets
import pytest

from helpers import CHROMIUM, CHROMIUM_ARGS, TEXT_BOX_JS, login, run_cli
from sahelwire.io.paths import ProjectPaths
from sahelwire.labelstudio.client import Connection
from sahelwire.labelstudio.project import require_project
from sahelwire.raw.manifest import load_articles

pytestmark = [pytest.mark.labelstudio, pytest.mark.browser]

ARTICLE = "001_a9cbf47f8b5096a3"
PHRASE, WORD = "Do you think Niger can truly benefit", "Niger"


def drag(page: Any, box: dict[str, float]) -> None:
    """A real mouse selection from the word's left edge to its right edge."""
    y = box["y"] + box["h"] / 2
    page.mouse.move(box["x"] + 1, y)
    page.mouse.down()
    page.mouse.move(box["x"] + box["w"] / 2, y)
    page.mouse.move(box["x"] + box["w"] - 1, y)
    page.mouse.up()
    page.wait_for_timeout(500)


@pytest.mark.skipif(not shutil.which("chromium"), reason="Debian chromium is not installed")
def test_span_after_emoji_selected_in_the_browser_is_published_in_code_points(
    ls_project: ProjectPaths, ls_conn: Connection, ls_server: Any
) -> None:
    from playwright.sync_api import sync_playwright

    root = ls_project.root
    assert run_cli(root, "labelstudio", "push", "--quiet").returncode == 0
    project = require_project(ls_conn, ls_project)
    pushed: list[Any] = list(ls_conn.client.tasks.list(project=project.id))
    task_id = next(t.id for t in pushed if t.data["article_id"] == ARTICLE)
    # Push attaches the gazetteer's predictions, which Label Studio preloads as regions (and
    # "Niger" is one); drop them for this task so the submitted annotation is the mouse
    # selection alone.
    for prediction in ls_conn.client.predictions.list(task=task_id):
        assert prediction.id is not None
        ls_conn.client.predictions.delete(id=prediction.id)
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
        try:
            page = browser.new_page(viewport={"width": 1400, "height": 1000})
            login(page, ls_server)
            page.goto(f"{ls_server.url}/projects/{project.id}/data?task={task_id}")
            page.wait_for_selector(".lsf-htx-richtext", timeout=90_000)
            page.wait_for_timeout(1500)
            page.get_by_text("GPE", exact=True).first.click()
            box = page.evaluate(TEXT_BOX_JS, [PHRASE, WORD])
            if box is None:
                dump = page.evaluate(
                    "() => Array.from(document.querySelectorAll('.lsf-richtext__line'))"
                    ".map(e => JSON.stringify(e.textContent)).slice(0, 3)"
                )
                raise AssertionError(f"phrase not rendered as one text node: {dump}")
            # wheel over the article: the side column of the layout scrolls on its own
            article = page.locator(".lsf-htx-richtext").bounding_box()
            assert article is not None
            page.mouse.move(article["x"] + 10, 400)
            page.mouse.wheel(0, box["y"] - 300)
            page.wait_for_timeout(500)
            box = page.evaluate(TEXT_BOX_JS, [PHRASE, WORD])
            drag(page, box)
            page.get_by_test_id("bottombar-submit-button").click()
            page.wait_for_timeout(2500)
        finally:
            browser.close()

    submitted = list(ls_conn.client.annotations.list(id=task_id))
    assert [r["value"]["text"] for a in submitted for r in a.result] == [WORD]
    pulled = run_cli(root, "labelstudio", "pull", "--quiet")
    assert pulled.returncode == 0, pulled.stderr
    built = run_cli(root, "build")
    assert built.returncode == 0, built.stdout + built.stderr
    text = {a.id: a.text for a in load_articles(ls_project)}[ARTICLE]
    start = text.index(PHRASE) + PHRASE.index(WORD)
    assert start > text.index("🤔")  # really after an astral-plane character
    mentions = datasets.load_dataset(str(root / "dist"), "mentions")
    rows = [r for split in mentions.values() for r in split if r["article_id"] == ARTICLE]
    assert [(r["start"], r["end"], r["text"]) for r in rows] == [(start, start + len(WORD), WORD)]


# The measurement on a text built to tell the units apart: astral-plane emoji before every
# target (each is one code point but two UTF-16 units) and a CRLF before two of them.
PROBE_TEXT = "A 🤔 x Niger y\r\nz Niamey end 😀😀 Agadez."
PROBE_CONFIG = """<View>
  <Labels name="label" toName="text"><Label value="PLACE"/></Labels>
  <Text name="text" value="$text"/>
</View>"""


def _utf16(text: str, i: int) -> int:
    return len(text[:i].encode("utf-16-le")) // 2


@pytest.mark.skipif(not shutil.which("chromium"), reason="Debian chromium is not installed")
def test_measure_offset_unit_after_emoji_and_crlf_both_directions(ls_server: Any) -> None:
    """Mouse selections export code points (CRLF = 2); API code points display correctly."""
    from label_studio_sdk.client import LabelStudio
    from playwright.sync_api import sync_playwright

    client = LabelStudio(base_url=ls_server.url, api_key=ls_server.api_key)
    project = client.projects.create(title="offset unit probe", label_config=PROBE_CONFIG)
    assert project.id is not None
    tasks: list[Any] = [{"text": PROBE_TEXT}] * 2
    client.projects.import_tasks(id=project.id, request=tasks)
    listed: list[Any] = list(client.tasks.list(project=project.id))
    by_mouse, by_api = sorted(t.id for t in listed)
    agadez = PROBE_TEXT.index("Agadez")
    client.annotations.create(
        id=by_api,
        result=[
            {
                "id": "api1",
                "from_name": "label",
                "to_name": "text",
                "type": "labels",
                "value": {
                    "start": agadez,
                    "end": agadez + 6,
                    "text": "Agadez",
                    "labels": ["PLACE"],
                },
            }
        ],
    )
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
        try:
            page = browser.new_page(viewport={"width": 1400, "height": 1000})
            login(page, ls_server)
            page.goto(f"{ls_server.url}/projects/{project.id}/data?task={by_mouse}")
            page.wait_for_selector(".lsf-htx-richtext", timeout=90_000)
            page.wait_for_timeout(1500)
            for phrase, word in (("z Niamey end", "Niamey"), ("😀 Agadez.", "Agadez")):
                page.get_by_text("PLACE", exact=True).first.click()
                box = page.evaluate(TEXT_BOX_JS, [phrase, word])
                assert box is not None, f"{phrase!r} not rendered"
                drag(page, box)
            page.get_by_test_id("bottombar-submit-button").click()
            page.wait_for_timeout(2500)
            # the other direction: the API annotation in code points, as the UI highlights it
            page.goto(f"{ls_server.url}/projects/{project.id}/data?task={by_api}")
            page.wait_for_selector(".lsf-htx-richtext .htx-highlight", timeout=90_000)
            highlighted = page.evaluate(
                "() => Array.from(document.querySelectorAll('.lsf-htx-richtext .htx-highlight'))"
                ".map(e => e.textContent).join('')"
            )
        finally:
            browser.close()
    exported = {
        r["value"]["text"]: (r["value"]["start"], r["value"]["end"])
        for a in client.annotations.list(id=by_mouse)
        for r in a.result
    }
    expected = {
        w: (PROBE_TEXT.index(w), PROBE_TEXT.index(w) + len(w)) for w in ("Niamey", "Agadez")
    }
    utf16 = {w: (_utf16(PROBE_TEXT, s), _utf16(PROBE_TEXT, e)) for w, (s, e) in expected.items()}
    print(f"exported {exported}; code points {expected}; UTF-16 {utf16}")  # the evidence
    assert exported == expected != utf16  # code points, with "\r\n" counted as two
    assert highlighted == "Agadez"
