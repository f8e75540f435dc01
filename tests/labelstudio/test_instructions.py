"""The guidelines as the project's instructions: rendered with no HTML from the file, set by
push (and shown before labelling), stored by Label Studio exactly as derived, and put back
when an account with the same rights as everyone (Community has no roles) changes them."""

from __future__ import annotations

import secrets
from html.parser import HTMLParser
from pathlib import Path

import pytest
from label_studio_sdk import LabelStudio

from helpers import ROOT, run_cli
from sahelwire.io.paths import ProjectPaths
from sahelwire.labelstudio.client import Connection
from sahelwire.labelstudio.instructions import load_instructions, render_instructions
from sahelwire.labelstudio.invite import sign_up
from sahelwire.labelstudio.label_config import LabelConfig
from sahelwire.labelstudio.project import require_project

# What Markdown itself makes (CommonMark + tables + strikethrough), and nothing else.
MARKDOWN_TAGS = {
    "p", "em", "strong", "code", "pre", "h1", "h2", "h3", "h4", "h5", "h6", "ul", "ol", "li",
    "blockquote", "hr", "br", "a", "table", "thead", "tbody", "tr", "th", "td", "s",
}  # fmt: skip
MARKDOWN_ATTRIBUTES = {("a", "href"), ("ol", "start"), ("th", "style"), ("td", "style")}


class Tags(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.tags: list[tuple[str, list[tuple[str, str | None]]]] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append((tag, attrs))


def tags_of(html: str) -> list[tuple[str, list[tuple[str, str | None]]]]:
    parser = Tags()
    parser.feed(html)
    return parser.tags


HOSTILE = """# Guidelines <b>bold</b>

<script>alert(document.cookie)</script>

<div onclick="steal()">a block of HTML</div>

Inline <img src=x onerror=alert(1)> and <a href="javascript:alert(1)">a link</a>,
[a markdown link](javascript:alert(1)), ![an image](http://example.invalid/t.png),
<iframe src="http://example.invalid"></iframe> <!-- a comment --> &lt;escaped&gt;

| a | <i>b</i> |
|---|---|
| <u>x</u> | [ok](https://example.org/page) |
"""


def test_raw_html_in_the_guidelines_comes_out_as_text() -> None:
    html = render_instructions(HOSTILE)
    for tag, attrs in tags_of(html):
        assert tag in MARKDOWN_TAGS, tag
        for name, value in attrs:
            assert (tag, name) in MARKDOWN_ATTRIBUTES, (tag, name)
            if name == "href":
                # an image is a plain link (never fetched); no javascript:/data: target
                assert value is not None and value.startswith(("https://", "http://")), value
    # the file's tags are there, as text an annotator can read
    for shown in ("&lt;script&gt;", "&lt;img src=x onerror=alert(1)&gt;", "&lt;b&gt;bold"):
        assert shown in html
    assert "<script" not in html and "<img" not in html and "<iframe" not in html
    assert 'href="javascript' not in html and "&lt;iframe" in html


def test_the_committed_guidelines_render_to_markdown_tags_only() -> None:
    html = load_instructions(ProjectPaths(ROOT))
    tags = tags_of(html)
    assert {t for t, _ in tags} <= MARKDOWN_TAGS
    assert sum(1 for t, _ in tags if t == "table") >= 10  # the guidelines are mostly tables
    assert "BEGIN keys" not in html  # the generator's markers are not guidance
    assert "Reserved keys" in html and "relabels that region" in html


@pytest.mark.labelstudio
def test_push_sets_the_instructions_shown_before_labelling_and_keeps_them(
    ls_project: ProjectPaths, ls_conn: Connection
) -> None:
    root: Path = ls_project.root
    first = run_cli(root, "labelstudio", "push", "--quiet")
    assert first.returncode == 0, first.stderr
    project = require_project(ls_conn, ls_project)
    # exactly what is derived from annotations/GUIDELINES.md (Label Studio's own cleaning
    # of the field, bleach, leaves it byte for byte as sent)
    assert project.expert_instruction == load_instructions(ls_project)
    assert project.show_instruction is True
    # (Label Studio drops the file's final newline)
    assert project.label_config == LabelConfig.load(ls_project).xml().strip()
    again = run_cli(root, "labelstudio", "push", "--quiet")
    assert again.returncode == 0
    assert "instructions updated" not in again.stdout and "config updated" not in again.stdout

    # An annotator's account may change both (Label Studio Community gives every account
    # every permission); push puts the repository's back.
    email = f"annotator-{secrets.token_hex(3)}@sahelwire.test"
    token = sign_up(ls_conn, email, secrets.token_urlsafe(16))
    annotator = LabelStudio(base_url=ls_conn.url, api_key=token)
    assert project.id is not None
    annotator.projects.update(
        id=project.id,
        expert_instruction="<p>label anything</p>",
        show_instruction=False,
        label_config=project.label_config.replace("Selected entity mention", "changed"),
    )
    changed = require_project(ls_conn, ls_project)
    assert changed.expert_instruction == "<p>label anything</p>"  # it really could
    restored = run_cli(root, "labelstudio", "push", "--quiet")
    assert restored.returncode == 0
    assert "label config updated" in restored.stdout and "instructions updated" in restored.stdout
    back = require_project(ls_conn, ls_project)
    assert back.expert_instruction == load_instructions(ls_project) and back.show_instruction
    assert back.label_config == LabelConfig.load(ls_project).xml().strip()


@pytest.mark.labelstudio
def test_edited_guidelines_reach_label_studio_on_the_next_push(
    ls_project: ProjectPaths, ls_conn: Connection
) -> None:
    root = ls_project.root
    assert run_cli(root, "labelstudio", "push", "--quiet").returncode == 0
    guide = root / "annotations" / "GUIDELINES.md"
    guide.write_text(
        guide.read_text(encoding="utf-8") + "\n## 10. New rule <script>x()</script>\n",
        encoding="utf-8",
    )
    pushed = run_cli(root, "labelstudio", "push", "--quiet")
    assert pushed.returncode == 0 and "instructions updated" in pushed.stdout
    stored = require_project(ls_conn, ls_project).expert_instruction
    assert stored == load_instructions(ls_project)
    assert "<h2>10. New rule &lt;script&gt;x()&lt;/script&gt;</h2>" in stored
