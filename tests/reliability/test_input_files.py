"""Committed text files the build reads that are not UTF-8, not YAML or of another shape:
``validate`` and ``build`` say the same thing about them (the file named, the same exit
code, no traceback) and the build writes nothing. Both raised bare decoder or key errors
before (build for every one of them; validate for an empty schemas/ file and pyproject.toml),
and ``validate`` did not read the blind workspaces' manifests the card states facts from."""

from __future__ import annotations

from pathlib import Path

import pytest

from helpers import copy_project, run_cli

NOT_UTF8 = b"\xff\xfe{[<<\x00"


@pytest.mark.parametrize(
    ("name", "content", "code", "said"),
    [
        ("schemas/tables.yaml", NOT_UTF8, 2, "schemas/tables.yaml: not UTF-8 (byte 0)"),
        ("schemas/tables.yaml", b"", 2, "schemas/tables.yaml: not a table spec file"),
        ("schemas/taxonomy.yaml", b"- 1\n- 2\n", 2, "must be a YAML mapping, not a list"),
        ("schemas/taxonomy.yaml", b"layers: [\n", 2, "schemas/taxonomy.yaml: not YAML"),
        ("schemas/entities.yaml", NOT_UTF8, 2, "schemas/entities.yaml: not UTF-8 (byte 0)"),
        ("schemas/events.yaml", b"events: 3\n", 2, "`events:` must be a list of mappings"),
        ("dataset/story_clusters.yaml", NOT_UTF8, 1, "story_clusters.yaml: not UTF-8 (byte 0)"),
        ("dataset/raw/manifest.jsonl", None, 1, "manifest.jsonl:3: not UTF-8"),
        ("pyproject.toml", b"# \xff\n", 2, "pyproject.toml: not UTF-8 (byte 2)"),
        ("annotations/blind/ai-annotator-1.txt", NOT_UTF8, 1, "ai-annotator-1.txt: not UTF-8"),
        ("annotations/blind/ai-annotator-1.txt", b"- 1\n", 1, "ai-annotator-1.txt:1: not a"),
    ],
    ids=["tables-utf8", "tables-empty", "taxonomy-list", "taxonomy-yaml", "entities-utf8",
         "events-shape", "clusters-utf8", "manifest-utf8", "pyproject-utf8", "blind-utf8",
         "blind-line"],
)  # fmt: skip
def test_a_bad_committed_file_gets_the_same_error_from_validate_and_build(
    tmp_path: Path, name: str, content: bytes | None, code: int, said: str
) -> None:
    root = copy_project(tmp_path / "p")
    path = root / name
    if content is None:  # the manifest: its third line's id made not UTF-8
        lines = path.read_bytes().splitlines(keepends=True)
        lines[2] = lines[2].replace(b'{"id": "', b'{"id": "\xe9', 1)
        content = b"".join(lines)
    elif name == "pyproject.toml":  # a comment before the settings: still the project's
        content += path.read_bytes()
    path.write_bytes(content)
    for command in (["validate", "--no-dist"], ["build", "--out", str(tmp_path / "d")]):
        done = run_cli(root, *command)
        out = done.stdout + done.stderr
        assert done.returncode == code and "Traceback" not in out, out
        assert said in out, out
    assert not (tmp_path / "d").exists()
