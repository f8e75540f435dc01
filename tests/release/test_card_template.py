"""The card's generated parts have one list: ``card.template.CARD_SECTIONS``.

``validate`` checks DATASET_CARD.md's markers against it (so a card the build could not fill
is refused before any build work), and the build fills the sections of its own ``sections``
mapping: the two must name the same parts, or a correct card would be refused (or a marker
left unfilled).
"""

from __future__ import annotations

import ast

from helpers import ROOT
from sahelwire.release.card.template import CARD_SECTIONS, template_errors


def _build_section_names() -> set[str]:
    """The keys of the ``sections={...}`` mapping ``build._render_from`` hands the card."""
    tree = ast.parse((ROOT / "src/sahelwire/release/build.py").read_text(encoding="utf-8"))
    found = [
        kw.value
        for node in ast.walk(tree)
        if isinstance(node, ast.Call)
        for kw in node.keywords
        if kw.arg == "sections" and isinstance(kw.value, ast.Dict)
    ]
    assert len(found) == 1, "one sections={...} mapping in build.py"
    names = [k.value for k in found[0].keys if isinstance(k, ast.Constant)]
    assert len(names) == len(found[0].keys), "every key is a literal"
    assert all(isinstance(n, str) for n in names), names
    return {str(n) for n in names}


def test_the_build_fills_exactly_the_sections_validate_checks() -> None:
    assert _build_section_names() == set(CARD_SECTIONS)


def test_the_committed_card_has_every_marker_and_no_other() -> None:
    card = (ROOT / "DATASET_CARD.md").read_text(encoding="utf-8")
    assert template_errors(card) == []
    broken = card.replace("sahelwire:begin licensing -->", "sahelwire:begin licence -->")
    broken = broken.replace("sahelwire:end licensing -->", "sahelwire:end licence -->")
    assert template_errors(broken) == [
        "unknown generated sections ['licence']",
        "missing generated sections ['licensing']",
    ]
    assert template_errors(card.replace("# sahelwire:begin generated", "# generated")) == [
        "no '# sahelwire:begin generated' block in the YAML"
    ]
