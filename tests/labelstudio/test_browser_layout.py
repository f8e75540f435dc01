"""The labeling screen in a real browser (headless Chromium, 1440x900), on the longest article.

Push the project and see the guidelines shown before labelling starts; give the longest article an entity and an event region near its end, open
the task in the real Label Studio UI and click each region where it is in the text: the
region's fields (the registry list of its label, the proposal field, realis) must be inside
the window without any further scrolling, because the right-hand column is sticky. Then
every reserved key is pressed with the region selected (nothing may change), an id is picked
from the list with the mouse, the annotation is saved, pulled, validated and built: the
published mention carries the picked id. Screenshots are written next to the test's temp
files (their paths are printed).
"""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path
from typing import TYPE_CHECKING, Any

import datasets
import pytest

from helpers import CHROMIUM, CHROMIUM_ARGS, login, ls_tasks, run_cli
from sahelwire.io.paths import ProjectPaths
from sahelwire.labelstudio.client import Connection
from sahelwire.labelstudio.hotkeys import reserved_keys
from sahelwire.labelstudio.label_config import LabelConfig
from sahelwire.labelstudio.offsets import to_label_studio
from sahelwire.labelstudio.project import require_project
from sahelwire.raw.manifest import load_articles
from sahelwire.schema.registries import load_registries

if TYPE_CHECKING:
    from playwright.sync_api import FloatRect

pytestmark = [pytest.mark.labelstudio, pytest.mark.browser]

WIDTH, HEIGHT = 1440, 900


def in_window(box: FloatRect | None) -> bool:
    return (
        box is not None
        and box["x"] >= 0
        and box["y"] >= 0
        and box["x"] + box["width"] <= WIDTH
        and box["y"] + box["height"] <= HEIGHT
    )


def region_item(text: str, start: int, word: str, layer: str, label: str, rid: str) -> Any:
    s, e = to_label_studio(text, start, start + len(word))
    return {
        "id": rid,
        "from_name": layer,
        "to_name": "text",
        "type": "labels",
        "value": {"start": s, "end": e, "text": word, "labels": [label]},
    }


def select_region(page: Any, word: str) -> None:
    """Scroll the article to the last highlight of ``word`` and click it, as a person would."""
    spans = page.locator(".lsf-htx-richtext .htx-highlight", has_text=word)
    target = spans.nth(spans.count() - 1)
    target.scroll_into_view_if_needed()
    page.wait_for_timeout(400)
    target.click()
    page.wait_for_timeout(800)


@pytest.mark.skipif(not shutil.which("chromium"), reason="Debian chromium is not installed")
def test_fields_of_a_region_near_the_end_of_the_longest_article_are_in_view(
    ls_project: ProjectPaths, ls_conn: Connection, ls_server: Any, tmp_path: Path
) -> None:
    from playwright.sync_api import sync_playwright

    root = ls_project.root
    assert run_cli(root, "labelstudio", "push", "--quiet").returncode == 0
    articles = load_articles(ls_project)
    longest = max(articles, key=lambda a: len(a.text))
    text = longest.text
    # the GPE of the registry whose name occurs last in the article, and the last word
    # before it: an entity and an event region near the end of the text
    gpes = [
        r for r in load_registries(ls_project).entities.iter_rows(named=True) if r["type"] == "GPE"
    ]
    entity = max(gpes, key=lambda r: text.rfind(r["name"]))
    word = entity["name"]
    at = text.rindex(word)
    assert at > 0.9 * len(text), "the region is near the end of the article"
    event_word = text[:at].split()[-1].strip("?.,!")
    event_at = text.rindex(event_word, 0, at)
    project = require_project(ls_conn, ls_project)
    task_id = next(
        t.id
        for t in ls_tasks(ls_conn.client, project=project.id)
        if t.data["article_id"] == longest.id
    )
    for prediction in ls_conn.client.predictions.list(task=task_id):
        assert prediction.id is not None
        ls_conn.client.predictions.delete(id=prediction.id)  # the annotation alone, no merge
    event = region_item(text, event_at, event_word, "events", "MEETING", "ev1")
    realis = {
        **event,
        "from_name": "realis",
        "type": "choices",
        "value": {"start": event["value"]["start"], "end": event["value"]["end"],
                  "choices": ["ACTUAL"]},
    }  # fmt: skip
    # a quantity: taxonomy 3.0.0's bound is one of its fields (guidelines v2 §4)
    number = re.search(r"\b\d[\d,]*\d\b", text)
    assert number is not None
    quantity = region_item(text, number.start(), number.group(), "quantities", "TROOPS", "q1")
    span = {"start": quantity["value"]["start"], "end": quantity["value"]["end"]}
    # the editor refuses to save while a required field of a region is empty
    fields = [
        {**quantity, "from_name": "value", "type": "number",
         "value": {**span, "number": float(number.group().replace(",", ""))}},
        {**quantity, "from_name": "unit", "type": "textarea", "value": {**span, "text": ["people"]}},
        {**quantity, "from_name": "approximate", "type": "choices",
         "value": {**span, "choices": ["false"]}},
        {**quantity, "from_name": "bound", "type": "choices", "value": {**span, "choices": ["POINT"]}},
    ]  # fmt: skip
    ls_conn.client.annotations.create(
        id=task_id,
        result=[
            event,
            realis,
            region_item(text, at, word, "entities", "GPE", "en1"),
            quantity,
            *fields,
        ],
    )
    config = LabelConfig.load(ls_project)
    assert entity["id"] in {i for i, _ in config.pickers["entity_id_GPE"]}
    shots = []
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
        try:
            page = browser.new_page(viewport={"width": WIDTH, "height": HEIGHT})
            login(page, ls_server)
            # the guidelines are shown before labelling starts (push set show_instruction)
            page.goto(f"{ls_server.url}/projects/{project.id}/data?labeling=1")
            note = page.get_by_text("The project's annotation guidelines", exact=False)
            note.wait_for(timeout=90_000)
            assert page.get_by_text("Labeling Instructions").is_visible()
            shots.append(tmp_path / "instructions.png")
            page.screenshot(path=str(shots[-1]))
            page.goto(f"{ls_server.url}/projects/{project.id}/data?task={task_id}")
            page.wait_for_selector(".lsf-htx-richtext .htx-highlight", timeout=90_000)
            page.wait_for_timeout(1500)

            # the event: realis and the MEETING list, in view
            select_region(page, event_word)
            shots.append(tmp_path / "layout-event.png")
            page.screenshot(path=str(shots[-1]))
            for name in ("realis", "event_id (MEETING)", "event_proposal"):
                header = page.get_by_text(name, exact=True)
                assert header.is_visible() and in_window(header.bounding_box()), name
            picker = page.locator(".lsf-choices_layout_select:visible")
            assert picker.count() == 1 and in_window(picker.bounding_box())

            # the entity near the very end: the GPE list and the proposal field, in view
            select_region(page, word)
            scrolled = page.evaluate("() => document.querySelector('.lsf-main-content').scrollTop")
            assert scrolled > HEIGHT, "the article really was scrolled to its end"
            shots.append(tmp_path / "layout-entity.png")
            page.screenshot(path=str(shots[-1]))
            for name in ("entity_id (GPE)", "entity_proposal"):
                header = page.get_by_text(name, exact=True)
                assert header.is_visible() and in_window(header.bounding_box()), name
            assert not page.get_by_text("realis", exact=True).is_visible()
            picker = page.locator(".lsf-choices_layout_select:visible")
            assert picker.count() == 1 and in_window(picker.bounding_box())
            # the label palette stays in view below the fields
            assert in_window(page.get_by_text("Entity mentions", exact=True).bounding_box())

            # reserved keys do nothing, also with a region selected (no change to save)
            for key in reserved_keys(config.taxonomy):
                page.keyboard.press(key)
                page.wait_for_timeout(150)
            update = page.get_by_test_id("bottombar-update-button")
            assert update.is_disabled(), "a reserved key changed the annotation"

            # pick the id from the list with the mouse, and save
            picker.click()
            page.wait_for_timeout(500)
            page.get_by_text(entity["id"], exact=True).last.click()
            page.wait_for_timeout(500)
            shots.append(tmp_path / "layout-picked.png")
            page.screenshot(path=str(shots[-1]))
            update.click()
            page.wait_for_timeout(2500)

            # the quantity: value, unit, bound and approximate under their names
            select_region(page, number.group())
            shots.append(tmp_path / "layout-quantity.png")
            page.screenshot(path=str(shots[-1]))
            for name in ("value", "unit", "bound", "approximate"):
                header = page.get_by_text(name, exact=True)
                assert header.is_visible() and in_window(header.bounding_box()), name
            assert page.get_by_text("MORE_THAN", exact=True).is_visible()
            assert not page.get_by_text("realis", exact=True).is_visible()
        finally:
            browser.close()
    print("screenshots:", *shots)

    saved = list(ls_conn.client.annotations.list(id=task_id))
    results = [
        (r.get("id"), r.get("from_name"), r["value"].get("choices") or r["value"].get("labels"))
        for a in saved
        for r in a.result
    ]
    assert sorted(results) == sorted(
        [
            ("ev1", "events", ["MEETING"]),
            ("ev1", "realis", ["ACTUAL"]),
            ("en1", "entities", ["GPE"]),
            ("en1", "entity_id_GPE", [entity["id"]]),
            ("q1", "quantities", ["TROOPS"]),
            ("q1", "value", None),
            ("q1", "unit", None),
            ("q1", "approximate", ["false"]),
            ("q1", "bound", ["POINT"]),
        ]
    )
    pulled = run_cli(root, "labelstudio", "pull", "--quiet")
    assert pulled.returncode == 0, pulled.stderr
    exported = json.loads((ls_project.exports_dir / f"{longest.id}.json").read_text())
    assert any(
        r.get("from_name") == "entity_id_GPE" for a in exported["annotations"] for r in a["result"]
    )
    checked = run_cli(root, "validate", "--no-dist")
    assert checked.returncode == 0, checked.stdout + checked.stderr
    built = run_cli(root, "build")
    assert built.returncode == 0, built.stdout + built.stderr
    mentions = datasets.load_dataset(str(root / "dist"), "mentions")
    rows = [r for split in mentions.values() for r in split if r["article_id"] == longest.id]
    assert [(r["start"], r["text"], r["entity_id"]) for r in rows] == [(at, word, entity["id"])]
