"""The inputs read, adjudicated and validated a chunk of export files at a time (issue 17 item 3).

The build must give the same files whatever the chunks (one file each, or all in one), with
the parse on one core or on worker processes that store a pack per chunk; ``validate`` the
same Problems; and the layers the build keeps after its sink took the per-annotator rows
must hold what the card's agreement reads, so the card is the same.
"""

from __future__ import annotations

import json
import shutil
import sys
from pathlib import Path
from typing import Any

import pyarrow.parquet as pq
import pytest

from helpers import ROOT, run_cli
from sahelwire.annotations import tables as annotation_tables
from sahelwire.annotations.agreement import (
    CHOICE_COLUMNS,
    REGION_COLUMNS,
    RELATION_COLUMNS,
    agreement_report,
    argument_agreement,
    link_agreement,
    span_agreement,
    span_error_classes,
)
from sahelwire.annotations.agreement_cache import ErrorClassCache
from sahelwire.annotations.agreement_cache import cache_folder as agreement_folder
from sahelwire.annotations.export_cache import cache_dir
from sahelwire.annotations.gold_layer import GoldLayer
from sahelwire.annotations.memo_keys import frame_digests
from sahelwire.annotations.tables import CHUNK_ENV, JOIN_MAX_CHUNKS, WORKERS_ENV, input_chunks
from sahelwire.io.article_packs import CACHE_ENV
from sahelwire.io.config import Settings
from sahelwire.io.paths import ProjectPaths
from sahelwire.io.write_thread import OrderedWrites
from sahelwire.release import bio_workers, gold_files
from sahelwire.release.build import render_release
from sahelwire.release.gold_files import GoldFiles, gold_between, gold_column, gold_of
from sahelwire.release.validation import for_agreement, validate_inputs

sys.path.insert(0, str(ROOT / "scripts"))
import bench

N_ARTICLES = 30  # with multi_share 0.2, a few articles have two annotators


@pytest.fixture(scope="module")
def synthetic(tmp_path_factory: pytest.TempPathFactory) -> ProjectPaths:
    """A project of N_ARTICLES synthetic articles, all annotated (as scripts/bench.py makes)."""
    tmp = tmp_path_factory.mktemp("chunked")
    root = bench.make_project(tmp, N_ARTICLES, seed=7)
    done = run_cli(root, "ingest", str(tmp / "corpus" / "articles.jsonl"))
    assert done.returncode == 0, done.stderr
    return ProjectPaths(root)


def _clear_cache(paths: ProjectPaths) -> None:
    for pack in cache_dir(paths).glob("*"):
        pack.unlink()


def test_chunks_are_runs_of_files_in_order(tmp_path: Path) -> None:
    files = []
    for i, size in enumerate([5, 5, 20, 1, 1, 1]):
        files.append(tmp_path / f"{i}.json")
        files[-1].write_bytes(b"x" * size)
    assert input_chunks(files, 10) == [files[0:2], files[2:3], files[3:6]]
    assert input_chunks(files, 0) == [[f] for f in files]
    assert input_chunks(files, 1000) == [files]
    assert input_chunks([], 10) == [[]]


@pytest.mark.parametrize(
    ("name", "value"),
    [
        (CHUNK_ENV, "lots"),
        (CHUNK_ENV, "-1"),
        (CHUNK_ENV, "nan"),
        (WORKERS_ENV, "0"),
        (WORKERS_ENV, "two"),
    ],
)
def test_a_bad_setting_of_the_read_is_exit_2_naming_it(
    synthetic: ProjectPaths, tmp_path: Path, name: str, value: str
) -> None:
    """Not a silent fallback to the default: the user asked for something else."""
    out = tmp_path / "out"
    for args in (["validate"], ["build", "--out", str(out)]):
        done = run_cli(synthetic.root, *args, env={name: value})
        assert done.returncode == 2, (args, done.stdout, done.stderr)
        assert f"{name}={value!r}" in done.stderr and "Traceback" not in done.stderr
    assert not out.exists()


@pytest.mark.parametrize("workers", ["1", "2"])
def test_build_in_chunks_gives_the_same_files(
    synthetic: ProjectPaths, monkeypatch: pytest.MonkeyPatch, workers: str
) -> None:
    settings = Settings.load(synthetic)
    assert settings.build_engine == "duckdb"  # the engine whose sources are written per chunk
    monkeypatch.setenv(WORKERS_ENV, workers)
    monkeypatch.setattr(annotation_tables, "PREFILL_MIN_FILES", 4)  # workers for 65 files
    monkeypatch.setenv(CHUNK_ENV, "1000")
    _clear_cache(synthetic)
    whole = render_release(synthetic, settings).files
    whole_files = dict(whole.items())
    monkeypatch.setenv(CHUNK_ENV, "0")  # one export file per chunk
    _clear_cache(synthetic)
    cold = render_release(synthetic, settings).files
    if workers == "2":
        # Each worker stored a pack per chunk: the chunked read finds a chunk's rows in one.
        assert len(list(cache_dir(synthetic).glob("*.pack"))) > 2
    warm = render_release(synthetic, settings).files
    assert dict(cold.items()) == whole_files
    assert dict(warm.items()) == whole_files


def test_ner_bio_made_in_worker_processes_gives_the_same_files(
    synthetic: ProjectPaths, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The build with ner_bio's rows made partly by worker processes (release.bio_workers,
    started here for a 30-article chunk) writes the files the build made in one process."""
    settings = Settings.load(synthetic)
    monkeypatch.setenv(CACHE_ENV, "off")  # every article's rows made, in both builds
    monkeypatch.setenv(WORKERS_ENV, "1")
    alone = dict(render_release(synthetic, settings).files.items())
    started: list[int] = []
    start = bio_workers.BioWorkers._start

    def counted(self: bio_workers.BioWorkers) -> None:
        start(self)
        started.append(len(self.workers))

    monkeypatch.setattr(bio_workers.BioWorkers, "_start", counted)
    monkeypatch.setattr(bio_workers, "MIN_ARTICLES", 10)
    monkeypatch.setenv(WORKERS_ENV, "3")  # two ner_bio workers beside this process
    assert dict(render_release(synthetic, settings).files.items()) == alone
    assert started == [2]


def test_validate_in_chunks_finds_the_same_problems(
    synthetic: ProjectPaths, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    root = tmp_path / "p"
    shutil.copytree(synthetic.root, root, ignore=shutil.ignore_patterns(".sahelwire", "dist"))
    paths = ProjectPaths(root)
    # Two files break rules: a region's text that is not the article's, and a later file
    # repeating an annotation id of an earlier one (a rule across files, hence chunks).
    files = sorted(paths.exports_dir.glob("syn*.json"))
    bad = json.loads(files[3].read_text("utf-8"))
    result = bad["annotations"][0]["result"]
    span = next(r for r in result if r.get("type") == "labels")
    span["value"]["text"] = "not the text"
    files[3].write_text(json.dumps(bad), "utf-8")
    twin = json.loads(files[9].read_text("utf-8"))
    twin["annotations"][0]["id"] = bad["annotations"][0]["id"]
    files[9].write_text(json.dumps(twin), "utf-8")

    def problems(chunk_mb: str) -> tuple[list[str], dict[str, int]]:
        monkeypatch.setenv(CHUNK_ENV, chunk_mb)
        report, _ = validate_inputs(paths)
        return sorted(str(p) for p in report.problems), report.checked

    whole, whole_checked = problems("1000")
    assert any("not the text" in p for p in whole)
    assert len(whole) >= 2
    assert problems("0") == (whole, whole_checked)


def test_layers_kept_after_the_sink_give_the_same_agreement(
    synthetic: ProjectPaths, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(CHUNK_ENV, "0")
    taken: list[int] = []
    _, slim = validate_inputs(
        synthetic, raw_sink=lambda layers: taken.append(layers.regions.height)
    )
    _, whole = validate_inputs(synthetic)
    full, kept = whole.layers, slim.layers
    assert len(taken) > 1 and sum(taken) == full.regions.height
    # Only the rows of articles with two or more annotations are kept; the rest is whole.
    assert 0 < kept.regions.height < full.regions.height
    # ... and of those rows only the columns the agreement reads.
    assert kept.regions.columns == list(REGION_COLUMNS)
    assert kept.relations.columns == list(RELATION_COLUMNS)
    assert kept.choices.columns == list(CHOICE_COLUMNS)
    assert kept.annotations.equals(full.annotations)
    # The sink took the gold: only its status (one row per article) stays.
    assert kept.gold.status.equals(full.gold.status)
    assert kept.gold.regions.height == 0 < full.gold.regions.height
    tax = whole.taxonomy

    def report(layers: object) -> dict[str, object]:
        return agreement_report(
            layers.annotations,  # type: ignore[attr-defined]
            layers.regions,  # type: ignore[attr-defined]
            layers.choices,  # type: ignore[attr-defined]
            tax,
            relations=layers.relations,  # type: ignore[attr-defined]
        )

    assert report(kept) == report(full)
    assert report(full)["articles_with_2plus_annotators"]

    # Each part the build keeps is one chunk per column, so that joining the parts (one per
    # chunk of files: 62 at 1M) stays within JOIN_MAX_CHUNKS and is not a copy beside them.
    assert full.regions.n_chunks() > 1  # the layers joined from the chunks, not copied
    one = for_agreement(full)
    for name in ("annotations", "regions", "relations", "choices", "predictions"):
        frame = getattr(one, name)
        assert frame is not None and frame.n_chunks("all") == [1] * frame.width, name
    assert one.regions.equals(kept.regions) and one.annotations.equals(full.annotations)
    assert max(kept.regions.n_chunks("all")) <= len(taken) <= JOIN_MAX_CHUNKS


def test_agreement_in_chunks_of_articles_is_the_whole_report(
    synthetic: ProjectPaths, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The card's agreement turns the rows of a few doubly annotated articles into Python at a
    time; its sums over pairs, and nervaluate's counts memoised per article or not, give
    the report of all the rows at once, floats included."""
    monkeypatch.delenv(CACHE_ENV, raising=False)
    _, validated = validate_inputs(synthetic)
    layers, tax = validated.layers, validated.taxonomy

    def report(chunk: int, memo: ErrorClassCache | None = None) -> dict[str, Any]:
        return agreement_report(
            layers.annotations,
            layers.regions,
            layers.choices,
            tax,
            relations=layers.relations,
            error_classes=memo,
            chunk_articles=chunk,
        )

    whole = report(10**9)
    # Every measure has something to compare (not a report of empty sums).
    assert whole["articles_with_2plus_annotators"] >= 3
    assert whole["spans"] and whole["span_errors"] and whole["arguments"]["f1"] is not None
    assert whole["links"] and whole["article_labels"]
    # The per-measure functions over all rows at once give the same figures.
    assert whole["span_errors"] == span_error_classes(layers.annotations, layers.regions, tax)
    assert whole["spans"] == span_agreement(layers.annotations, layers.regions, tax)
    assert whole["links"] == link_agreement(layers.annotations, layers.regions)
    assert whole["arguments"] == argument_agreement(
        layers.annotations, layers.regions, layers.relations
    )
    for chunk in (1, 2, 3):
        assert report(chunk) == whole
    shutil.rmtree(agreement_folder(synthetic), ignore_errors=True)  # the builds above filled it
    memo = ErrorClassCache.for_project(synthetic, tax)
    assert memo is not None
    for chunk in (1, 2):  # cold, then warm
        assert report(chunk, memo) == whole
    assert memo.stats.hits == memo.stats.misses == whole["articles_with_2plus_annotators"]


def test_gold_read_range_after_range_decodes_each_row_group_once(
    synthetic: ProjectPaths, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The build reads the gold a chunk of articles at a time, in id order: a row group
    spanning several chunks is decoded once (the last ones used are kept), not once per
    chunk, and the rows are those of the gold held whole."""
    monkeypatch.delenv(CHUNK_ENV, raising=False)  # one chunk of files: groups span articles
    monkeypatch.setattr(gold_files, "ROW_GROUP_ROWS", 250)  # several articles' rows a group
    files = GoldFiles(tmp_path)
    validate_inputs(synthetic, raw_sink=lambda layers: files.add(layers.gold))
    files.finish()
    whole = validate_inputs(synthetic)[1].layers.gold
    groups = sum(pq.ParquetFile(files.path(n)).num_row_groups for n in gold_files.SPILLED)
    assert groups > len(gold_files.SPILLED)
    decoded: list[int] = []
    read = pq.ParquetFile.read_row_group

    def counted(self: pq.ParquetFile, i: int, *args: Any, **kwargs: Any) -> Any:
        decoded.append(i)
        return read(self, i, *args, **kwargs)

    monkeypatch.setattr(pq.ParquetFile, "read_row_group", counted)
    ids = sorted(whole.status["article_id"].to_list())
    for first in range(len(ids)):  # one article per chunk: the most re-reading there is
        mine = gold_between(files, ids[first], ids[first])
        want = gold_between(whole, ids[first], ids[first])
        for name in ("regions", "relations", "choices", "status"):
            assert getattr(mine, name).equals(getattr(want, name)), name
    assert 0 < len(decoded) <= groups


@pytest.mark.parametrize("threaded", [False, True])
def test_gold_on_disk_reads_back_as_the_gold_held(
    synthetic: ProjectPaths, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, threaded: bool
) -> None:
    """The build's gold files, written a chunk at a time (inline, or in the build's write
    thread), give back the rows of the gold held whole, in its order, for any range or list
    of articles."""
    monkeypatch.setenv(CHUNK_ENV, "0")
    writes = OrderedWrites() if threaded else None
    files = GoldFiles(tmp_path, writes)
    validate_inputs(synthetic, raw_sink=lambda layers: files.add(layers.gold))
    files.finish()
    if writes is not None:
        writes.close()
    whole = validate_inputs(synthetic)[1].layers.gold
    assert files.status.equals(whole.status)
    ids = sorted(whole.status["article_id"].to_list())

    def picks(gold: GoldFiles | GoldLayer) -> list[GoldLayer]:
        return [
            gold_between(gold, ids[0], ids[-1]),
            gold_between(gold, ids[3], ids[10]),
            gold_between(gold, ids[5], ids[5]),
            gold_of(gold, ids[::3]),
            gold_of(gold, []),
        ]

    got = picks(files)
    for mine, want in zip(got, picks(whole), strict=True):
        for name in ("regions", "relations", "choices", "status"):
            assert getattr(mine, name).equals(getattr(want, name)), name
    assert got[0].regions.height == whole.regions.height > 0
    # The digests the files took as they were written (the article memo's keys) are those
    # of the rows read back: a key stands for exactly what the build reads.
    for name in gold_files.SPILLED:
        assert files.digests[name] == frame_digests(getattr(got[0], name)), name
        assert files.digests[name]  # rows in each table: the comparison is not of empties
    for column in ("entity_id", "unit"):
        assert sorted(map(str, gold_column(files, "regions", column))) == sorted(
            map(str, gold_column(whole, "regions", column))
        )
