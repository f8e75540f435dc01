"""The manifest as the build reads it: the rows of the file, with shared strings stored once;
its ids and hashes as a parse worker reads them (ManifestTexts.quick)."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

from helpers import ROOT
from sahelwire.io.paths import ProjectPaths
from sahelwire.raw.manifest import SHARED_VALUES, ManifestError, iter_manifest, read_manifest
from sahelwire.raw.manifest_texts import ManifestTexts


def test_rows_are_the_lines_and_repeated_strings_are_one_object(tmp_path: Path) -> None:
    lines = [
        {
            "id": f"a{i}",
            "source_file": "seeds/" + "articles.jsonl",  # built at run time: not a constant
            "title": f"Title {i} \u2028 é",
            "language": "en",
            "license": None if i % 2 else "CC-BY-4.0",
            "n_chars": i,
        }
        for i in range(4)
    ]
    path = tmp_path / "manifest.jsonl"
    path.write_text(
        "".join(json.dumps(row, ensure_ascii=False) + "\n" for row in lines), encoding="utf-8"
    )
    rows = read_manifest(path)
    assert rows == lines
    assert [list(r) for r in rows] == [list(r) for r in lines]  # key order kept
    first, second = rows[0], rows[2]
    for key in first:
        shared_key = next(k for k in second if k == key)
        assert shared_key is next(k for k in first if k == key)
    for field in SHARED_VALUES & first.keys():
        if isinstance(first[field], str):
            assert first[field] is second[field]
    assert first["title"] != second["title"]
    assert list(iter_manifest(tmp_path / "absent.jsonl")) == []


def test_rows_share_one_table_of_keys_and_stay_ordinary_dicts(tmp_path: Path) -> None:
    """Each row is smaller than the same dict made on its own (CPython's split dicts: the
    1M manifest's 0.85 GB became 0.59), and behaves as any dict: a row whose keys differ
    from the others', a key added or removed, json and ``dict()`` round trips."""
    keys = ("id", "source_file", "source_line", "sha256", "n_chars", "title", "language")
    lines: list[dict[str, object]] = [{k: f"{k}-{i}" for k in keys} for i in range(3)]
    lines.append({"title": "other order", "id": "z", "extra": 1})
    path = tmp_path / "manifest.jsonl"
    path.write_text("".join(json.dumps(row) + "\n" for row in lines), encoding="utf-8")
    rows = read_manifest(path)
    assert rows == lines and all(type(r) is dict for r in rows)
    assert all(sys.getsizeof(r) < sys.getsizeof(dict(r)) for r in rows[:3])
    assert [json.loads(json.dumps(r)) for r in rows] == lines
    rows[1]["added"] = True
    del rows[2]["title"]
    assert rows[1] == {**lines[1], "added": True}
    assert rows[2] == {k: v for k, v in lines[2].items() if k != "title"}
    assert rows[0] == lines[0] and list(rows[3]) == ["title", "id", "extra"]


def _project(tmp_path: Path, lines: list[str]) -> ProjectPaths:
    paths = ProjectPaths(tmp_path)
    paths.manifest_file.parent.mkdir(parents=True, exist_ok=True)
    paths.manifest_file.write_text("".join(lines), encoding="utf-8")
    return paths


def test_quick_texts_have_the_manifest_s_hashes(tmp_path: Path) -> None:
    # What a parse worker of the export cache reads the manifest with (polars' NDJSON
    # reader, not a json.loads per row): the same ids and hashes, a later row winning.
    rows = [
        {"id": f"a{i}", "sha256": f"{i:064x}", "title": f"T {i} \u2028 é", "n_chars": i}
        for i in range(5)
    ]
    rows.append({**rows[2], "sha256": "f" * 64})  # a later row of the same id wins
    paths = _project(tmp_path, [json.dumps(r, ensure_ascii=False) + "\n" for r in rows])
    quick = ManifestTexts.quick(paths)
    assert quick.sha == ManifestTexts(paths).sha
    assert quick.sha["a2"] == "f" * 64 and len(quick.sha) == 5
    committed = ProjectPaths(ROOT)
    assert ManifestTexts.quick(committed).sha == ManifestTexts(committed).sha


@pytest.mark.parametrize(
    "line",
    [
        '{"id": "a9"}\n',  # no hash
        "not json\n",
    ],
)
def test_quick_texts_of_a_manifest_polars_reads_otherwise_are_read_as_ever(
    tmp_path: Path, line: str
) -> None:
    good = json.dumps({"id": "a1", "sha256": "1" * 64}) + "\n"
    paths = _project(tmp_path, [good, line])
    try:
        expected = ManifestTexts(paths).sha
    except (ManifestError, KeyError) as exc:  # the constructor's own error, both ways
        with pytest.raises(type(exc)):
            ManifestTexts.quick(paths)
        return
    assert ManifestTexts.quick(paths).sha == expected


def test_quick_texts_may_read_a_broken_manifest_otherwise(tmp_path: Path) -> None:
    # polars reads a number as the id's string: the worker then asks for a text the
    # constructor's mapping lacks, and its parse depends on it; the parent's read, whose
    # texts are validation's, finds that dependency unmet and parses the file itself
    # (test_export_cache: a changed raw text re-parses its file). A miss, never a wrong row.
    zeros = "0" * 64
    paths = _project(tmp_path, ['{"id": 7, "sha256": "' + zeros + '"}\n'])
    assert ManifestTexts(paths).sha == {7: zeros}
    assert ManifestTexts.quick(paths).sha == {"7": zeros}
