"""`sahelwire ingest` through the real CLI: the bad-input matrix of issue 2, and what it keeps.

Every refusal is checked the same way: exit 1, an error naming the input (and the line,
for JSONL), no traceback, and dataset/raw/ byte-identical to before the call.
"""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from helpers import copy_project, run_cli, snapshot

ARTICLE = "Niamey, 2024. The US agreed to withdraw its troops from Niger.\n\nSecond paragraph.\n"


@pytest.fixture()
def project(tmp_path: Path) -> Path:
    return copy_project(tmp_path / "project", annotations=False)


def manifest(root: Path) -> list[dict[str, Any]]:
    lines = (root / "dataset/raw/manifest.jsonl").read_text(encoding="utf-8").splitlines()
    return [json.loads(line) for line in lines]


def max_bytes(root: Path) -> int:
    from sahelwire.io.config import Settings

    return Settings.from_pyproject(root / "pyproject.toml").max_article_bytes


def refused(root: Path, *inputs: Path, expect: list[str]) -> str:
    """Run ingest on ``inputs``; assert a clean refusal that leaves dataset/raw/ untouched."""
    before = snapshot(root / "dataset/raw")
    result = run_cli(root, "ingest", *map(str, inputs))
    err = result.stderr
    assert result.returncode == 1, (result.stdout, err)
    assert "Traceback" not in err
    assert "dataset/raw/ unchanged" in err
    for needle in expect:
        assert needle in err, (needle, err)
    assert snapshot(root / "dataset/raw") == before
    assert not list((root / "dataset/raw").rglob("*.tmp"))
    return err


# (file name, bytes or a function of the size limit, what the error must say)
BadFile = tuple[str, Callable[[int], bytes], list[str]]
BAD_FILES: dict[str, BadFile] = {
    "invalid-utf8": ("broken.txt", lambda _: b"valid start \xff\xfe\xfd end", ["[utf8]"]),
    "latin1": (
        "latin1.txt",
        lambda _: "Le président du Niger a reçu l'ambassadeur.".encode("latin-1"),
        ["[utf8]", "Latin-1"],
    ),
    "utf16": ("utf16.txt", lambda _: ARTICLE.encode("utf-16"), ["[utf8]"]),
    "nul-byte": ("nul.txt", lambda _: b"Niger\x00troops", ["[no_nul]", "byte offset 5"]),
    "empty": ("empty.txt", lambda _: b"", ["[not_empty]"]),
    "whitespace-only": ("blank.txt", lambda _: b" \n\t\r\n  \n", ["[not_blank]"]),
    "binary": (
        "image.txt",
        lambda _: bytes([0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A]) + bytes(range(1, 9)) * 8,
        ["image.txt:"],
    ),
    "binary-controls-valid-utf8": (
        "controls.txt",
        lambda _: bytes(range(1, 9)) * 40 + b"some text",
        ["[text_like]"],
    ),
    "oversized": ("huge.txt", lambda limit: b"a" * (limit + 1), ["[max_size]", "over the limit"]),
    "dotdot-id": ("..evil.txt", lambda _: ARTICLE.encode(), ["[id]", "'..'"]),
}


@pytest.mark.parametrize("case", list(BAD_FILES), ids=list(BAD_FILES))
def test_bad_text_file_is_refused_and_nothing_is_written(project: Path, case: str) -> None:
    name, make, expect = BAD_FILES[case]
    bad = project.parent / name
    bad.write_bytes(make(max_bytes(project)))
    refused(project, bad, expect=[str(bad), *expect])


def test_file_at_the_size_limit_is_accepted(project: Path) -> None:
    limit = max_bytes(project)
    ok = project.parent / "at_limit.txt"
    ok.write_bytes(b"word " * (limit // 5) + b"x" * (limit % 5))
    assert ok.stat().st_size == limit
    result = run_cli(project, "ingest", str(ok))
    assert result.returncode == 0, result.stderr
    assert (project / "dataset/raw/texts/at_limit.txt").read_bytes() == ok.read_bytes()


def jsonl(tmp: Path, name: str, lines: list[str]) -> Path:
    path = tmp / name
    path.write_text("".join(line + "\n" for line in lines), encoding="utf-8")
    return path


GOOD_LINE = json.dumps({"id": "jl_ok", "text": ARTICLE})
BAD_LINES: dict[str, tuple[str, list[str]]] = {
    "not-json": ('{"id": "x", "text": "unterminated', ["[jsonl_json]", "not JSON"]),
    "not-an-object": ('["a", "list"]', ["[jsonl_object]", "not an object"]),
    "a-string": ('"just a string"', ["[jsonl_object]"]),
    "lacks-text": ('{"id": "jl_2", "title": "x"}', ["[jsonl_text]", "no 'text'"]),
    "text-not-string": ('{"id": "jl_2", "text": 42}', ["[jsonl_text]"]),
    "path-separator-id": (json.dumps({"id": "a/b", "text": "x y"}), ["[id]", "path separator"]),
    "backslash-id": (json.dumps({"id": "a\\b", "text": "x y"}), ["[id]", "path separator"]),
    "dotdot-id": (json.dumps({"id": "../../etc", "text": "x y"}), ["[id]", "'..'"]),
    "nul-in-text": (json.dumps({"id": "jl_2", "text": "a\u0000b"}), ["[no_nul]"]),
    "blank-text": (json.dumps({"id": "jl_2", "text": "   \n"}), ["[not_blank]"]),
    "unknown-key": (json.dumps({"id": "jl_2", "text": "x y", "autor": "z"}), ["[jsonl_keys]"]),
    # json.loads kept the second text without a word: which one was meant is unknown.
    "text-twice": ('{"id": "jl_2", "text": "x y", "text": "z"}', ["[jsonl_keys]", "'text' is given twice"]),
}  # fmt: skip


@pytest.mark.parametrize("case", list(BAD_LINES), ids=list(BAD_LINES))
def test_bad_jsonl_line_refuses_the_whole_call_naming_file_and_line(
    project: Path, case: str
) -> None:
    line, expect = BAD_LINES[case]
    # The good record on line 1 is refused too: one bad record refuses the whole call.
    path = jsonl(project.parent, "batch.jsonl", [GOOD_LINE, "", line])
    refused(project, path, expect=[f"{path}:3:", *expect])


def test_jsonl_with_invalid_utf8_names_the_file(project: Path) -> None:
    path = project.parent / "latin.jsonl"
    path.write_bytes(GOOD_LINE.encode() + b"\n" + '{"text": "reçu"}\n'.encode("latin-1"))
    refused(project, path, expect=[str(path), "[utf8]"])


def test_one_bad_file_among_good_ones_refuses_all_and_lists_every_problem(project: Path) -> None:
    good = project.parent / "good_one.txt"
    good.write_text(ARTICLE, encoding="utf-8")
    empty = project.parent / "empty.txt"
    empty.write_bytes(b"")
    nul = project.parent / "nul.txt"
    nul.write_bytes(b"a\x00b")
    err = refused(project, good, empty, nul, expect=[str(empty), str(nul), "2 problem(s)"])
    assert str(good) not in err
    assert not (project / "dataset/raw/texts/good_one.txt").exists()


def test_missing_input_is_refused(project: Path) -> None:
    refused(project, project.parent / "nope.txt", expect=["nope.txt", "no such file"])


def test_text_is_stored_exactly_and_manifest_row_is_complete(project: Path) -> None:
    text = "Title line\r\n\r\n  Body with trailing spaces  \r\nNo final newline 🤔"
    path = project.parent / "crlf_story.txt"
    path.write_bytes(text.encode("utf-8"))
    result = run_cli(project, "ingest", str(path))
    assert result.returncode == 0, result.stderr
    assert "added      crlf_story" in result.stdout
    assert (project / "dataset/raw/texts/crlf_story.txt").read_bytes() == text.encode("utf-8")
    row = next(r for r in manifest(project) if r["id"] == "crlf_story")
    assert row["n_chars"] == len(text) and row["n_bytes"] == len(text.encode("utf-8"))
    assert row["had_bom"] is False and row["source_file"] == "crlf_story.txt"
    assert row["title"] == "Title line"
    # metadata the input did not state is null, never guessed
    assert all(row[k] is None for k in ("url", "outlet", "published_date", "license"))
    assert run_cli(project, "validate", "--no-dist").returncode == 0


def test_bom_is_removed_and_recorded(project: Path) -> None:
    path = project.parent / "bom_story.txt"
    path.write_bytes(b"\xef\xbb\xbf" + ARTICLE.encode("utf-8"))
    result = run_cli(project, "ingest", str(path))
    assert result.returncode == 0, result.stderr
    assert (project / "dataset/raw/texts/bom_story.txt").read_bytes() == ARTICLE.encode("utf-8")
    row = next(r for r in manifest(project) if r["id"] == "bom_story")
    assert row["had_bom"] is True and row["n_chars"] == len(ARTICLE)


def test_reingesting_the_same_file_is_a_no_op(project: Path) -> None:
    path = project.parent / "again.txt"
    path.write_text(ARTICLE, encoding="utf-8")
    assert run_cli(project, "ingest", str(path)).returncode == 0
    before = snapshot(project / "dataset/raw")
    second = run_cli(project, "ingest", str(path))
    assert second.returncode == 0, second.stderr
    assert "unchanged  again" in second.stdout and "0 added" in second.stdout
    assert snapshot(project / "dataset/raw") == before


def test_committed_seed_texts_reingest_as_unchanged(project: Path) -> None:
    texts = project / "dataset/raw/texts"
    copies = project.parent / "seeds"
    copies.mkdir()
    for t in texts.glob("*.txt"):
        (copies / t.name).write_bytes(t.read_bytes())
    before = snapshot(project / "dataset/raw")
    result = run_cli(project, "ingest", str(copies))
    assert result.returncode == 0, result.stderr
    assert f"0 added, {len(list(texts.glob('*.txt')))} unchanged" in result.stdout
    assert snapshot(project / "dataset/raw") == before


def test_same_text_under_another_name_is_a_duplicate_not_stored_twice(project: Path) -> None:
    first = project.parent / "original.txt"
    first.write_text(ARTICLE, encoding="utf-8")
    assert run_cli(project, "ingest", str(first)).returncode == 0
    before = snapshot(project / "dataset/raw")
    copy = project.parent / "renamed_copy.txt"
    copy.write_text(ARTICLE, encoding="utf-8")
    result = run_cli(project, "ingest", str(copy))
    assert result.returncode == 0, result.stderr
    assert "duplicate  renamed_copy: same text as original" in result.stdout
    assert snapshot(project / "dataset/raw") == before


def test_same_id_with_different_text_is_refused(project: Path) -> None:
    path = project.parent / "story.txt"
    path.write_text(ARTICLE, encoding="utf-8")
    assert run_cli(project, "ingest", str(path)).returncode == 0
    path.write_text(ARTICLE + "edited", encoding="utf-8")
    refused(project, path, expect=[f"{path}:", "[immutable]"])


def test_jsonl_with_metadata_and_unknown_metadata_null(project: Path) -> None:
    path = jsonl(
        project.parent,
        "feed.jsonl",
        [
            json.dumps(
                {
                    "id": "jl_meta",
                    "text": ARTICLE,
                    "url": "https://example.org/a",
                    "outlet": "Example Wire",
                    "published_date": "2024-03-16",
                    "license": "CC-BY-4.0",
                }
            ),
            "",
            json.dumps({"id": "jl_bare", "text": "Another story about Agadez.\n"}),
        ],
    )
    result = run_cli(project, "ingest", "--json", str(path))
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["added"] == ["jl_meta", "jl_bare"]  # input order
    rows = {r["id"]: r for r in manifest(project)}
    meta = rows["jl_meta"]
    assert meta["url"] == "https://example.org/a" and meta["outlet"] == "Example Wire"
    assert meta["published_date"] == "2024-03-16" and meta["license"] == "CC-BY-4.0"
    assert meta["source_file"] == "feed.jsonl" and meta["source_line"] == 1
    bare = rows["jl_bare"]
    assert bare["source_line"] == 3
    assert all(bare[k] is None for k in ("url", "outlet", "published_date", "license"))
    assert (project / "dataset/raw/texts/jl_meta.txt").read_text(encoding="utf-8") == ARTICLE
    assert run_cli(project, "validate", "--no-dist").returncode == 0


def test_refusal_as_json_names_input_line_and_rule(project: Path) -> None:
    path = jsonl(project.parent, "b.jsonl", [GOOD_LINE, "[1]"])
    result = run_cli(project, "ingest", "--json", str(path))
    assert result.returncode == 1
    problems = json.loads(result.stdout)["refused"]
    assert problems == [
        {
            "input": str(path),
            "line": 2,
            "rule": "jsonl_object",
            "message": "a JSON list, not an object",
        }
    ]


def test_html_in_article_text_is_stored_verbatim(project: Path) -> None:
    text = '<p onclick="x()">Niger</p><script>alert("x")</script> &amp; troops\n'
    path = project.parent / "html_story.txt"
    path.write_text(text, encoding="utf-8")
    assert run_cli(project, "ingest", str(path)).returncode == 0
    assert (project / "dataset/raw/texts/html_story.txt").read_text(encoding="utf-8") == text


def _big_jsonl(path: Path, n: int) -> Path:
    body = "Niamey, 2024. Les troupes américaines quittent la base 🤔. " * 80
    with path.open("w", encoding="utf-8") as f:
        for i in range(n):
            f.write(json.dumps({"id": f"big_{i:05d}", "text": f"{i} {body}"}) + "\n")
    return path


_PEAK_PROBE = """
import json, sys, tracemalloc
from pathlib import Path
from sahelwire.io.config import Settings
from sahelwire.raw.ingest import ingest
from sahelwire.io.paths import ProjectPaths

paths = ProjectPaths(Path(sys.argv[1]))
limit = Settings.from_pyproject(paths.root / "pyproject.toml").max_article_bytes
ingest(paths, [Path(sys.argv[2])], limit)  # imports and per-project caches
tracemalloc.start()
result = ingest(paths, [Path(sys.argv[3])], limit)
print(json.dumps([tracemalloc.get_traced_memory()[1], len(result.added)]))
"""


def _peak_ingesting(root: Path, warm: Path, path: Path) -> tuple[int, int]:
    """Peak Python allocations of one ingest, in a fresh interpreter (pytest's own
    allocations would blur the figure)."""
    proc = subprocess.run(
        [sys.executable, "-c", _PEAK_PROBE, str(root), str(warm), str(path)],
        capture_output=True,
        text=True,
        check=True,
    )
    peak, added = json.loads(proc.stdout)
    return int(peak), int(added)


def test_jsonl_ingest_streams_memory_does_not_hold_the_file(tmp_path: Path) -> None:
    """10x the records costs ~nothing more: texts are never all held (only the ids listed
    in the result grow with N, a few dozen bytes per article against kilobytes of text)."""
    small_root = copy_project(tmp_path / "small", annotations=False)
    big_root = copy_project(tmp_path / "big", annotations=False)
    warm = _big_jsonl(tmp_path / "warm.jsonl", 1)
    small, n_small = _peak_ingesting(small_root, warm, _big_jsonl(tmp_path / "s.jsonl", 150))
    path = _big_jsonl(tmp_path / "b.jsonl", 1500)
    big, n_big = _peak_ingesting(big_root, warm, path)
    assert (n_small, n_big) == (149, 1499)  # record 0 was in warm.jsonl already
    assert big - small < path.stat().st_size / 40, (small, big, path.stat().st_size)
    rows = {r["id"]: r for r in manifest(big_root)}
    assert rows["big_01499"]["source_line"] == 1500
    ids = [r["id"] for r in manifest(big_root)]
    assert ids == sorted(ids)
    assert run_cli(big_root, "validate", "--no-dist").returncode == 0


def test_input_changed_between_passes_refuses_and_removes_new_texts(
    project: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The second pass re-reads the input; if it changed, nothing of this call remains."""
    from sahelwire.io.paths import ProjectPaths
    from sahelwire.raw import ingest as ingest_module

    path = _big_jsonl(project.parent / "moving.jsonl", 20)
    lines = path.read_text(encoding="utf-8").splitlines()
    classify = ingest_module._classify

    def classify_then_edit(*args: object, **kwargs: object) -> None:
        classify(*args, **kwargs)  # type: ignore[arg-type]
        lines[10] = json.dumps({"id": "big_00010", "text": "edited meanwhile"})
        path.write_text("\n".join(lines) + "\n", encoding="utf-8")

    monkeypatch.setattr(ingest_module, "_classify", classify_then_edit)
    before = snapshot(project / "dataset/raw")
    with pytest.raises(ingest_module.IngestRefused) as refusal:
        ingest_module.ingest(ProjectPaths(project), [path], max_bytes(project))
    assert refusal.value.problems[0].rule == "input_changed"
    assert refusal.value.problems[0].line == 11
    assert snapshot(project / "dataset/raw") == before


def test_overlong_jsonl_line_is_refused_without_reading_it_whole(project: Path) -> None:
    limit = max_bytes(project)
    huge = json.dumps({"id": "huge", "text": "\u0001" * (limit + 200_000)})
    path = jsonl(project.parent, "long.jsonl", [GOOD_LINE, huge, GOOD_LINE.replace("jl_ok", "b")])
    refused(project, path, expect=[f"{path}:2:", "[max_size]"])


def test_jsonl_lines_split_on_newline_only(project: Path) -> None:
    """U+2028 and a lone CR are valid inside a JSON string: they do not end a record."""
    text = "Line one\u2028still line one\rand a CR. Niamey.\n"
    path = jsonl(
        project.parent, "seps.jsonl", [json.dumps({"id": "seps", "text": text}, ensure_ascii=False)]
    )
    result = run_cli(project, "ingest", str(path))
    assert result.returncode == 0, result.stderr
    assert (project / "dataset/raw/texts/seps.txt").read_bytes() == text.encode("utf-8")


def test_metadata_with_a_line_separator_character_round_trips_through_the_manifest(
    project: Path,
) -> None:
    """U+2028 inside a value is text, not a line break: the JSONL manifest keeps its row whole."""
    row = {"id": "jl_sep", "text": ARTICLE, "outlet": "Example\u2028Wire"}
    path = jsonl(project.parent, "sep.jsonl", [json.dumps(row, ensure_ascii=False)])
    assert run_cli(project, "ingest", str(path)).returncode == 0
    from sahelwire.raw.manifest import read_manifest

    rows = {r["id"]: r for r in read_manifest(project / "dataset/raw/manifest.jsonl")}
    assert rows["jl_sep"]["outlet"] == "Example\u2028Wire"
    assert run_cli(project, "validate", "--no-dist").returncode == 0
    again = run_cli(project, "ingest", str(path))  # a no-op, not a broken manifest
    assert again.returncode == 0, again.stderr
