"""The streamed export-list parser: same tasks as json.load, same tables as the in-memory collector,
clear errors on broken files, and memory that does not follow the file's size."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from polars.testing import assert_frame_equal

from helpers import ROOT, SOURCE_SHAPES, run_cli
from sahelwire.annotations.export_stream import SpillingCollector, streamed_tables
from sahelwire.annotations.tables import (
    collector_for,
    iter_export_tasks,
    tables_from_tasks,
)
from sahelwire.io.paths import ProjectPaths
from sahelwire.labelstudio.export_list import ExportListError, iter_export_list
from sahelwire.labelstudio.identity import read_known_annotators
from sahelwire.raw.manifest import read_manifest
from sahelwire.raw.manifest_texts import ManifestTexts
from sahelwire.schema.taxonomy import load_taxonomy

sys.path.insert(0, str(ROOT / "scripts"))
import bench

TRICKY = [
    {"id": 1, "s": 'a\\"b\u2028c', "n": -12.5e3, "big": 12345678901234567890},
    [],
    {},
    "naïve 🤔 \u00e9\\u00e9",
    1234567,
    0.5,
    True,
    None,
    {"nested": [{"x": [1, 2, {"y": "z" * 50}]}], "f": False},
    98765,
]


@pytest.mark.parametrize("chunk", [1, 2, 3, 7, 64, 1 << 20])
@pytest.mark.parametrize("spacing", [None, 2])
def test_same_items_as_json_load_whatever_the_chunk_boundaries(
    tmp_path: Path, chunk: int, spacing: int | None
) -> None:
    path = tmp_path / "export.json"
    path.write_text(" \n" + json.dumps(TRICKY, indent=spacing, ensure_ascii=False) + "\n")
    assert list(iter_export_list(path, chunk_chars=chunk)) == TRICKY


@pytest.mark.parametrize("body", ["[]", " [ ] \n", "[\n]"])
def test_empty_list(tmp_path: Path, body: str) -> None:
    path = tmp_path / "export.json"
    path.write_text(body)
    assert list(iter_export_list(path, chunk_chars=1)) == []


@pytest.mark.parametrize(
    ("body", "needle"),
    [
        ('{"a": 1}', "expected '['"),
        ("", "expected '['"),
        ('[{"a": 1}, {"b": ', "not JSON"),
        ('[{"a": 1}, {"b": "unterminated', "not JSON"),
        ('[{"a": 1} {"b": 2}]', "expected ',' or ']'"),
        ('[{"a": 1}, {"b": nope}]', "not JSON"),
        ('[{"a": 1}', "expected ',' or ']'"),
        ('[{"a": 1}] trailing', "data after the end"),
    ],
)
def test_broken_export_names_the_offset(tmp_path: Path, body: str, needle: str) -> None:
    path = tmp_path / "export.json"
    path.write_text(body)
    for chunk in (3, 1 << 20):
        with pytest.raises(ExportListError) as exc:
            list(iter_export_list(path, chunk_chars=chunk))
        assert needle in str(exc.value) and "character offset" in str(exc.value)
        assert "export.json" in str(exc.value)


@pytest.fixture(scope="module")
def synthetic(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    work = tmp_path_factory.mktemp("synthetic")
    root = bench.make_project(work, 30, seed=9)
    assert run_cli(root, "ingest", str(work / "corpus" / "articles.jsonl")).returncode == 0
    return root, work / "corpus" / "export.json"


def test_spilled_tables_equal_the_in_memory_collector(
    synthetic: tuple[Path, Path], tmp_path: Path
) -> None:
    root, export = synthetic
    paths = ProjectPaths(root)
    old = tables_from_tasks(iter_export_tasks(export), collector_for(paths), "export.json")
    # A small batch so that the rows are spilled several times.
    collector = SpillingCollector(
        ManifestTexts(paths),
        load_taxonomy(paths.taxonomy_file),
        read_known_annotators(paths),
        SOURCE_SHAPES,
        tmp_path,
        batch_rows=500,
    )
    for task in iter_export_list(export):
        collector.add_task(task, "export.json")
    new = collector.tables()
    assert len(list(collector.spill_dir.glob("regions-*.arrow"))) > 3
    assert new.problems == old.problems == []
    assert (new.tasks, new.drafts) == (old.tasks, old.drafts)
    for name in ("annotations", "regions", "relations", "choices"):
        assert_frame_equal(getattr(new, name), getattr(old, name))
    once = streamed_tables(paths, export)
    assert not list((root / ".sahelwire" / "tmp").glob("export-tables-*"))
    assert_frame_equal(once.regions, old.regions)


def test_broken_export_is_a_problem_not_a_crash(
    synthetic: tuple[Path, Path], tmp_path: Path
) -> None:
    root, export = synthetic
    cut = tmp_path / "cut.json"
    cut.write_bytes(export.read_bytes()[: export.stat().st_size // 2])
    tables = streamed_tables(ProjectPaths(root), cut)
    assert [p.rule for p in tables.problems] == ["export is complete JSON"]
    assert 0 < tables.tasks < 30


def test_texts_are_read_on_demand(synthetic: tuple[Path, Path]) -> None:
    root, _ = synthetic
    texts = ManifestTexts(ProjectPaths(root))
    some = next(iter(texts))
    assert some in texts and "nope" not in texts and len(texts) >= 30
    text, sha = texts[some]
    assert (root / "dataset/raw/texts" / f"{some}.txt").read_text(encoding="utf-8") == text
    assert len(sha) == 64


_PEAK_PROBE = """
import itertools, json, sys, tracemalloc
from pathlib import Path
from sahelwire.labelstudio.export_list import iter_export_list

tracemalloc.start()
items = iter_export_list(Path(sys.argv[1]), chunk_chars=1 << 16)
n = sum(1 for _ in itertools.islice(items, int(sys.argv[2])))
print(json.dumps([tracemalloc.get_traced_memory()[1], n]))
"""


def _peak_reading(export: Path, tasks: int) -> tuple[int, int]:
    proc = subprocess.run(
        [sys.executable, "-c", _PEAK_PROBE, str(export), str(tasks)],
        capture_output=True,
        text=True,
        check=True,
    )
    peak, n = json.loads(proc.stdout)
    return int(peak), int(n)


def test_reading_holds_one_task_not_the_file(tmp_path: Path) -> None:
    """Reading 240 tasks peaks about where reading 3 does, far below the file's size."""
    from sahelwire.raw.synthetic import write_corpus

    # 240 tasks (~10 MB): the seed tasks are ~43 KB now that pulled files carry no predictions
    write_corpus(ProjectPaths(ROOT), tmp_path, 240, seed=4)
    export = tmp_path / "export.json"
    few, n_few = _peak_reading(export, 3)
    all_, n_all = _peak_reading(export, 1000)
    assert (n_few, n_all) == (3, 240)
    assert all_ < 2 * few and all_ < export.stat().st_size / 3, (few, all_)


def test_manifest_texts_match_the_preloaded_ones(synthetic: tuple[Path, Path]) -> None:
    """Every manifest article whose text reads as UTF-8; a missing or non-UTF-8 text absent."""
    root, _ = synthetic
    paths = ProjectPaths(root)
    ids = sorted(ManifestTexts(paths))
    gone, broken = paths.raw_text_path(ids[0]), paths.raw_text_path(ids[1])
    saved = gone.read_bytes(), broken.read_bytes()
    try:
        gone.unlink()
        broken.write_bytes(b"\xff\xfe not utf-8")
        lazy = ManifestTexts(paths)
        eager = {
            row["id"]: (paths.raw_text_path(row["id"]).read_text(encoding="utf-8"), row["sha256"])
            for row in read_manifest(paths.manifest_file)
            if row["id"] not in (ids[0], ids[1])
        }
        assert dict(lazy) == eager
        assert ids[0] not in lazy and ids[1] not in lazy and ids[2] in lazy
        with pytest.raises(KeyError):
            lazy[ids[1]]
    finally:
        gone.write_bytes(saved[0])
        broken.write_bytes(saved[1])


@pytest.mark.parametrize(
    ("body", "rule"),
    [
        ('[{"a": 1, "a": 2}]', "JSON object keys are unique"),
        ('[{"a": 1}, {"b": [NaN]}]', "numbers are finite float64"),
        ('[{"b": -Infinity}]', "numbers are finite float64"),
        ('[{"b": 1e999}]', "numbers are finite float64"),
        ('[{"b": "x\\ud800y"}]', "text is valid Unicode without NUL"),
        ('[{"b": 1' + "0" * 5000 + "}]", "integers have at most 4300 digits"),
    ],
    ids=["duplicate-key", "nan", "infinity", "overflow", "lone-surrogate", "huge-int"],
)
def test_export_lists_are_read_strictly_whatever_the_chunk_boundaries(
    tmp_path: Path, body: str, rule: str
) -> None:
    path = tmp_path / "export.json"
    path.write_text(body)
    for chunk in (1, 5, 1 << 20):
        with pytest.raises(ExportListError) as exc:
            list(iter_export_list(path, chunk_chars=chunk))
        assert exc.value.rule == rule and "export.json" in str(exc.value)


def test_a_long_number_cut_by_a_chunk_boundary_is_read_whole(tmp_path: Path) -> None:
    # 400 nines alone overflow a float64; with their exponent they are an ordinary number.
    literal = "9" * 400 + "e-300"
    path = tmp_path / "export.json"
    path.write_text(f'[{{"n": {literal}}}, {{"m": [{literal}]}}]')
    for chunk in (7, 100, 399, 1 << 20):
        assert list(iter_export_list(path, chunk_chars=chunk)) == [
            {"n": float(literal)},
            {"m": [float(literal)]},
        ]
