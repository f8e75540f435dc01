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

from helpers import run_cli
from sahelwire.labelstudio.client import Connection
from sahelwire.labelstudio.project import require_project
from sahelwire.manifest import load_articles
from sahelwire.paths import ProjectPaths

pytestmark = [pytest.mark.labelstudio, pytest.mark.browser]

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
ARTICLE = "001_a9cbf47f8b5096a3"
PHRASE, WORD = "Do you think Niger can truly benefit", "Niger"

RANGE_JS = """([phrase, word]) => {
  const root = document.querySelector('.lsf-htx-richtext');
  const walker = document.createTreeWalker(root, NodeFilter.SHOW_TEXT);
  let n;
  while ((n = walker.nextNode())) {
    const i = n.data.indexOf(phrase);
    if (i >= 0) {
      const r = document.createRange();
      const s = i + phrase.indexOf(word);
      r.setStart(n, s); r.setEnd(n, s + word.length);
      const b = r.getBoundingClientRect();
      return {x: b.x, y: b.y, w: b.width, h: b.height};
    }
  }
  return null;
}"""


@pytest.mark.skipif(not shutil.which("chromium"), reason="Debian chromium is not installed")
def test_span_after_emoji_selected_in_the_browser_is_published_in_code_points(
    ls_project: ProjectPaths, ls_conn: Connection, ls_server: Any
) -> None:
    from playwright.sync_api import sync_playwright

    root = ls_project.root
    assert run_cli(root, "labelstudio", "push", "--quiet").returncode == 0
    project = require_project(ls_conn, ls_project)
    task_id = next(
        t.id
        for t in ls_conn.client.tasks.list(project=project.id)
        if t.data["article_id"] == ARTICLE
    )
    with sync_playwright() as pw:
        browser = pw.chromium.launch(
            executable_path=CHROMIUM,
            headless=True,
            args=[
                "--no-sandbox",
                "--disable-gpu",
                "--disable-quic",
                "--no-first-run",
                "--disable-background-networking",
                "--disable-component-update",
                "--disable-sync",
            ],
        )
        try:
            page = browser.new_page(viewport={"width": 1400, "height": 1000})
            page.goto(f"{ls_server.url}/user/login/")
            page.fill("input[name=email]", ls_server.admin_email)
            page.fill("input[name=password]", ls_server.admin_password)
            page.click("button[type=submit], input[type=submit]")
            page.wait_for_load_state("networkidle")
            page.goto(f"{ls_server.url}/projects/{project.id}/data?task={task_id}")
            page.wait_for_selector(".lsf-htx-richtext", timeout=90_000)
            page.wait_for_timeout(1500)
            page.get_by_text("GPE", exact=True).first.click()
            box = page.evaluate(RANGE_JS, [PHRASE, WORD])
            if box is None:
                dump = page.evaluate(
                    "() => Array.from(document.querySelectorAll('.lsf-richtext__line'))"
                    ".map(e => JSON.stringify(e.textContent)).slice(0, 3)"
                )
                raise AssertionError(f"phrase not rendered as one text node: {dump}")
            page.mouse.wheel(0, box["y"] - 300)
            page.wait_for_timeout(500)
            box = page.evaluate(RANGE_JS, [PHRASE, WORD])
            y = box["y"] + box["h"] / 2
            page.mouse.move(box["x"] + 1, y)
            page.mouse.down()
            page.mouse.move(box["x"] + box["w"] / 2, y)
            page.mouse.move(box["x"] + box["w"] - 1, y)
            page.mouse.up()
            page.wait_for_timeout(500)
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
