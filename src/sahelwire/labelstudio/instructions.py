"""The project's instructions in Label Studio: annotations/GUIDELINES.md as safe HTML.

``push`` sets them as the project's ``expert_instruction`` with ``show_instruction`` on, so
Label Studio shows the guidelines before labelling starts (and behind its Instructions
button). Label Studio renders that field as HTML, so the Markdown is rendered with raw HTML
*off*: a tag typed in the guidelines (``<script>``, ``<img onerror=…>``) is shown as text,
never passed through, and links with a ``javascript:``/``data:`` target are not made links
(markdown-it's own check). Images are not rendered either (an annotator's browser would
fetch them). The output is HTML5 (``<hr>``, not ``<hr />``), which Label Studio's own
cleaning (bleach, on save) leaves byte for byte as it is: what push sends is what the
server stores, and a test compares the two.
"""

from __future__ import annotations

from pathlib import Path

from markdown_it import MarkdownIt

from sahelwire.io.paths import ProjectPaths
from sahelwire.labelstudio.guidelines import MARKER

SOURCE_NOTE = (
    "<p><em>The project's annotation guidelines: <code>annotations/GUIDELINES.md</code> of "
    "the repository, as <code>sahelwire labelstudio push</code> last set them.</em></p>\n"
    # a rule before the guidelines' title: Label Studio's dialog gives its heading no margin,
    # so it ran into this note (a browser walkthrough's screenshot)
    "<hr>\n"
)


def _renderer() -> MarkdownIt:
    # commonmark + tables (the guidelines are mostly tables); html off: raw HTML is text.
    md = MarkdownIt("commonmark", {"html": False, "xhtmlOut": False})
    return md.enable(["table", "strikethrough"]).disable("image")


def render_instructions(markdown: str) -> str:
    """``markdown`` as HTML in which no tag comes from the text itself."""
    # The generated-section markers are the repository's bookkeeping, not guidance (and,
    # as raw HTML, would be shown as text).
    kept = [line for line in markdown.splitlines() if not MARKER.fullmatch(line.strip())]
    return SOURCE_NOTE + _renderer().render("\n".join(kept) + "\n")


def guidelines_path(paths: ProjectPaths) -> Path:
    return paths.annotations_dir / "GUIDELINES.md"


def load_instructions(paths: ProjectPaths) -> str:
    """The instructions ``push`` sets, from the repository's annotations/GUIDELINES.md."""
    return render_instructions(guidelines_path(paths).read_text(encoding="utf-8"))
