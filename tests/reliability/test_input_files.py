"""Committed text files the build reads that are not UTF-8, not YAML or of another shape:
``validate`` and ``build`` say the same thing about them (the file named, the same exit
code, no traceback) and the build writes nothing. Both raised bare decoder or key errors
before (build for every one of them; validate for an empty schemas/ file and pyproject.toml),
``validate`` did not read the blind workspaces' manifests the card states facts from, and
DATASET_CARD.md (whose markers the build fills last: it refused a card without them after
all its work, and raised a decoder's traceback for one not UTF-8)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from helpers import copy_project, refused_alike

NOT_UTF8 = b"\xff\xfe{[<<\x00"
CARD_RULE = "DATASET_CARD.md is UTF-8 with the marker of every generated part"


def _becomes(content: bytes) -> Callable[[bytes], bytes]:
    return lambda _: content


def _third_id_not_utf8(manifest: bytes) -> bytes:
    lines = manifest.splitlines(keepends=True)
    lines[2] = lines[2].replace(b'{"id": "', b'{"id": "\xe9', 1)
    return b"".join(lines)


def _comment_not_utf8(pyproject: bytes) -> bytes:
    return b"# \xff\n" + pyproject  # a comment before the settings: still the project's


def _leakage_marker_renamed(card: bytes) -> bytes:
    return card.replace(b"sahelwire:begin leakage", b"sahelwire:begin leakage_x", 1)


def _repeated(line_start: bytes, again: bytes) -> Callable[[bytes], bytes]:
    """The first line starting with ``line_start`` followed by ``again`` (the same key, another
    value): YAML's last value won without a word, changing the published data."""

    def edit(content: bytes) -> bytes:
        lines = content.splitlines(keepends=True)
        at = next(i for i, line in enumerate(lines) if line.lstrip().startswith(line_start))
        return b"".join([*lines[: at + 1], again, *lines[at + 1 :]])

    return edit


def _second_line_again(content: bytes) -> bytes:
    return content + content.splitlines(keepends=True)[1]


def _replaced(old: bytes, new: bytes) -> Callable[[bytes], bytes]:
    return lambda content: content.replace(old, new, 1)


DECISIONS = "annotations/decisions/000_68e681b97d6ec23c.yaml"
TWICE = "is given twice in one mapping (first on line"
CASES = {
    "tables-utf8": ("schemas/tables.yaml", _becomes(NOT_UTF8), 2, "schemas/tables.yaml: not UTF-8 (byte 0)"),
    "tables-empty": ("schemas/tables.yaml", _becomes(b""), 2, "schemas/tables.yaml: not a table spec file"),
    "taxonomy-list": ("schemas/taxonomy.yaml", _becomes(b"- 1\n- 2\n"), 2, "must be a YAML mapping, not a list"),
    "taxonomy-yaml": ("schemas/taxonomy.yaml", _becomes(b"layers: [\n"), 2, "schemas/taxonomy.yaml: not YAML"),
    "entities-utf8": ("schemas/entities.yaml", _becomes(NOT_UTF8), 2, "schemas/entities.yaml: not UTF-8 (byte 0)"),
    "events-shape": ("schemas/events.yaml", _becomes(b"events: 3\n"), 2, "`events:` must be a list of mappings"),
    "clusters-utf8": ("dataset/story_clusters.yaml", _becomes(NOT_UTF8), 1, "story_clusters.yaml: not UTF-8 (byte 0)"),
    "manifest-utf8": ("dataset/raw/manifest.jsonl", _third_id_not_utf8, 1, "manifest.jsonl:3: not UTF-8"),
    "pyproject-utf8": ("pyproject.toml", _comment_not_utf8, 2, "pyproject.toml: not UTF-8 (byte 2)"),
    "blind-utf8": ("annotations/blind/ai-annotator-1.txt", _becomes(NOT_UTF8), 1, "ai-annotator-1.txt: not UTF-8"),
    "blind-line": ("annotations/blind/ai-annotator-1.txt", _becomes(b"- 1\n"), 1, "ai-annotator-1.txt:1: not a"),
    "card-utf8": ("DATASET_CARD.md", _becomes(NOT_UTF8), 1, f"{CARD_RULE}: not UTF-8 (byte 0)"),
    "card-marker": ("DATASET_CARD.md", _leakage_marker_renamed, 1, f"{CARD_RULE}: missing generated sections ['leakage']"),
    "decisions-key-twice": (DECISIONS, _repeated(b"value: people", b"  value: days\n"), 1, f"{DECISIONS} record 000_68e681b97d6ec23c: rule a decisions file is readable YAML of complete, distinct decisions: line 8: the key 'value' {TWICE} 7)"),
    "clusters-key-twice": ("dataset/story_clusters.yaml", _repeated(b"articles: [001", b"    articles: [001_a9cbf47f8b5096a3]\n"), 1, f"story_clusters.yaml: line 13: the key 'articles' {TWICE} 12)"),
    "entities-key-twice": ("schemas/entities.yaml", _replaced(b"wikidata: Q30,", b"wikidata: Q30, wikidata: Q31,"), 2, f"entities.yaml: line 8: the key 'wikidata' {TWICE} 8)"),
    "manifest-line-twice": ("dataset/raw/manifest.jsonl", _second_line_again, 1, "field id: rule field_uniqueness value '001_a9cbf47f8b5096a3': the value is on 2 rows (2, 6)"),
    "manifest-key-twice": ("dataset/raw/manifest.jsonl", _replaced(b'{"id"', b'{"title": "Fake title", "id"'), 1, "manifest.jsonl:1: the key 'title' is given twice in one object"),
}  # fmt: skip


@pytest.mark.parametrize("case", CASES)
def test_a_bad_committed_file_gets_the_same_error_from_validate_and_build(
    tmp_path: Path, case: str
) -> None:
    name, edit, code, said = CASES[case]
    root = copy_project(tmp_path / "p")
    path = root / name
    path.write_bytes(edit(path.read_bytes()))
    for out in refused_alike(root, tmp_path / "d", said, code=code):
        assert out.count(said) == 1, out  # once: a duplicated manifest line was said twice
