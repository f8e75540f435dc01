"""The manifest as the build reads it: the rows of the file, with shared strings stored once."""

from __future__ import annotations

import json
import sys
from pathlib import Path

from sahelwire.raw.manifest import SHARED_VALUES, iter_manifest, read_manifest


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
