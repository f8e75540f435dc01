"""Markdown tables for the card, the diff and command output: quoted text stays text.

Here, below every stage, because the card (release), the baseline (annotations) and the
data diff (versions) all render tables and none of them may import the others' stage.
"""

from __future__ import annotations

import html


def escape_cell(text: object) -> str:
    """Text for a Markdown table cell: HTML-escaped (quoted text is never markup), pipes escaped."""
    return html.escape(str(text), quote=False).replace("|", "\\|").replace("\n", " ")


def markdown_table(header: list[str], rows: list[list[object]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(escape_cell(c) for c in row) + " |" for row in rows]
    return "\n".join(lines) + "\n"
