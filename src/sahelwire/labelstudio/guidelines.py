"""The generated parts of annotations/GUIDELINES.md: the key list and the relation targets.

The guidelines are written by people, except for the lists that must agree with the
taxonomy and the labeling config: those are written between markers by
``sahelwire labelstudio config`` (``--check`` fails when they drift), so the page an
annotator reads (in the repository and, through ``push``, in Label Studio) lists exactly
the keys the config binds and the targets ``validate`` enforces.
"""

from __future__ import annotations

import re
from collections.abc import Callable

from sahelwire.io.markdown import markdown_table
from sahelwire.labelstudio.hotkeys import keys_section
from sahelwire.schema.taxonomy import Taxonomy


def roles_section(taxonomy: Taxonomy) -> str:
    """Each relation role with the targets the taxonomy allows it (Markdown)."""
    rows: list[list[object]] = []
    for layer in taxonomy.span_layers:
        for role in layer.relation_labels:
            targets = role.targets or layer.relation_to_layers
            rows.append([f"`{role.name}`", ", ".join(f"`{t}`" for t in targets)])
    return (
        "**One role per relation, to an allowed target** (generated from "
        "`schemas/taxonomy.yaml`; `sahelwire validate` refuses anything else, naming the "
        "relation). A relation goes from an event trigger to a region of the same annotation; "
        "Label Studio lets you pick one role for it. A target is a layer (any of its labels) "
        "or one label of a layer:\n\n" + markdown_table(["role", "may point to"], rows)
    )


SECTIONS: dict[str, Callable[[Taxonomy], str]] = {"keys": keys_section, "roles": roles_section}


def begin_marker(name: str) -> str:
    return f"<!-- BEGIN {name}: generated from schemas/taxonomy.yaml by `sahelwire labelstudio config` -->"


def end_marker(name: str) -> str:
    return f"<!-- END {name} -->"


MARKER = re.compile(r"<!-- (BEGIN (\w+): generated from .*|END (\w+)) -->")


class GuidelinesError(ValueError):
    """annotations/GUIDELINES.md lacks the markers of a generated section."""


def with_generated_sections(guidelines: str, taxonomy: Taxonomy) -> str:
    """``guidelines`` with the text between each pair of markers regenerated."""
    out = guidelines
    for name, render in SECTIONS.items():
        begin, end = begin_marker(name), end_marker(name)
        i, j = out.find(begin), out.find(end)
        if i < 0 or j < i:
            raise GuidelinesError(
                f"annotations/GUIDELINES.md has no generated {name} section: add the lines "
                f"{begin!r} and {end!r} where it belongs"
            )
        out = f"{out[: i + len(begin)]}\n{render(taxonomy)}{out[j:]}"
    return out
