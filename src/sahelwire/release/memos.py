"""Every per-article memo folder of a project (:mod:`sahelwire.io.article_packs`), by what it
keeps: one list for ``sahelwire cache info``/``clear`` and the benchmark's cold builds, so a
new memo cannot be left out of either."""

from __future__ import annotations

from pathlib import Path

from sahelwire.annotations.agreement_cache import cache_folder as agreement_folder
from sahelwire.annotations.agreement_cache import report_folder as agreement_report_folder
from sahelwire.annotations.baseline_cache import cache_folder as baseline_folder
from sahelwire.io.paths import ProjectPaths
from sahelwire.release.article_cache import cache_folder as rows_folder
from sahelwire.release.card.kept import LABEL_COUNTS, LEAKAGE, LENGTHS, ORGANISATIONS, card_folder
from sahelwire.release.file_rule_cache import cache_folder as input_rules_folder
from sahelwire.release.raw_cache import cache_folder as raw_rows_folder
from sahelwire.release.span_rule_cache import cache_folder as span_rules_folder


def memo_folders(paths: ProjectPaths) -> list[tuple[str, Path]]:
    """(what it keeps, folder) for every per-article memo of ``paths``."""
    return [
        ("per-article published rows", rows_folder(paths)),
        ("per-article annotations_raw rows", raw_rows_folder(paths)),
        ("per-article span error classes", agreement_folder(paths)),
        ("the card's agreement report", agreement_report_folder(paths)),
        ("per-article baseline predictions", baseline_folder(paths)),
        ("per-article span rules (annotations)", span_rules_folder(paths) / "annotations"),
        ("per-article span rules (gold)", span_rules_folder(paths) / "gold"),
        ("per-export-file input rules", input_rules_folder(paths)),
        ("the card's article lengths", card_folder(paths, LENGTHS)),
        ("the card's gold label counts", card_folder(paths, LABEL_COUNTS)),
        ("the card's organisations outside the body", card_folder(paths, ORGANISATIONS)),
        ("the card's leakage section", card_folder(paths, LEAKAGE)),
    ]
