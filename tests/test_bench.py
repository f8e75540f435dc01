"""scripts/bench.py: stage selection, failures and timeouts recorded (never aborting the
run), and a small real run whose every number comes from the run itself."""

from __future__ import annotations

import json
import logging
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from helpers import ROOT

sys.path.insert(0, str(ROOT / "scripts"))
import bench


def test_stage_selection_keeps_pipeline_order() -> None:
    assert bench.select_stages(None, None) == bench.STAGES
    assert bench.select_stages("parse_export,ingest", None) == ("ingest", "parse_export")
    assert "build" not in bench.select_stages(None, "build,baseline")
    with pytest.raises(SystemExit, match="unknown stage"):
        bench.select_stages("ingest,bild", None)


def _fake(monkeypatch: pytest.MonkeyPatch, code: str) -> None:
    monkeypatch.setattr(bench, "stage_command", lambda *_: [sys.executable, "-c", code])


def test_failed_stage_is_recorded_with_its_error(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    _fake(monkeypatch, "import sys; sys.stderr.write('boom: disk full\\n'); sys.exit(3)")
    result = bench.run_stage("build", tmp_path, tmp_path, {}, timeout=None)
    assert result["status"] == "failed" and result["returncode"] == 3
    assert result["error"] == "boom: disk full"


def test_stage_over_the_timeout_is_killed_and_recorded(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    # The stage starts a child that would outlive it: the whole process group goes.
    marker = tmp_path / "child-survived"
    child = tmp_path / "child.py"
    child.write_text(f"import time\ntime.sleep(3)\nopen({str(marker)!r}, 'w').close()\n")
    _fake(
        monkeypatch,
        f"import subprocess, sys, time; subprocess.Popen([sys.executable, {str(child)!r}]); "
        "time.sleep(60)",
    )
    t0 = time.perf_counter()
    result = bench.run_stage("validate", tmp_path, tmp_path, {}, timeout=1.0)
    assert time.perf_counter() - t0 < 20
    assert result["status"] == "timeout" and result["seconds"] >= 1.0
    time.sleep(4)
    assert not marker.exists()


def test_stage_without_a_result_line_is_a_failure(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    _fake(monkeypatch, "print('no json here')")
    result = bench.run_stage("ingest", tmp_path, tmp_path, {}, timeout=None)
    assert result["status"] == "failed" and "no result line" in result["error"]


def test_report_marks_failures_and_omits_ratios_without_a_baseline() -> None:
    results: dict[str, dict[str, Any]] = {
        "ingest": {"status": "ok", "seconds": 2.0, "peak_rss_mb": 100.0},
        "build": {"status": "timeout", "seconds": 9.0, "error": "over the --timeout"},
        "baseline": {"status": "failed", "seconds": 0.1, "error": "no build output"},
        "load_first": {"status": "skipped"},
    }
    text = bench.report(1000, results)
    assert "| ingest | ok | 2.00 | — | 2000 | 100 |" in text
    assert "| build | timeout | 9.00 | — | — | — |" in text
    assert "| load_first | skipped | — | — | — | — |" in text
    assert "- build timeout: over the --timeout" in text


def test_small_real_run_measures_and_records(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "results.json"
    bench.main(
        [
            "--n",
            "6",
            "--keep",
            str(tmp_path),
            "--json",
            str(out),
            "--stages",
            "ingest,json_load,parse_export,baseline",
            "--timeout",
            "300",
        ]
    )
    results = json.loads(out.read_text())["6"]
    assert results["generate"]["status"] == "ok"
    assert results["ingest"]["status"] == "ok" and results["ingest"]["added"] == 6
    assert results["json_load"]["tasks"] == 6
    parse = results["parse_export"]
    assert parse["status"] == "ok" and parse["tasks"] == 6 and parse["problems"] == 0
    assert parse["peak_rss_mb"] > 0 and parse["seconds"] > 0
    # No build ran: the baseline has nothing to write and says so, and the run went on.
    assert results["baseline"]["status"] == "failed"
    assert "run build first" in results["baseline"]["error"]
    assert results["validate"]["status"] == results["build"]["status"] == "skipped"
    printed = capsys.readouterr().out
    assert "export parsing vs json.load" in printed and "| baseline | failed |" in printed


def test_only_the_inputs_the_stages_read_are_generated(tmp_path: Path) -> None:
    root = bench.make_project(tmp_path, 4, seed=1, stages=("ingest",))
    assert (tmp_path / "corpus" / "articles.jsonl").is_file()
    assert not (tmp_path / "corpus" / "export.json").exists()
    assert not list((root / "annotations" / "exports").iterdir())
    assert not list(tmp_path.rglob("*.tmp"))


def test_run_of_one_stage_records_what_was_generated(tmp_path: Path) -> None:
    results = bench.run_size(5, 0, tmp_path, stages=("ingest",), timeout=300)
    assert results["generate"]["status"] == "ok" and results["generate"]["articles_mb"] > 0
    assert "export_mb" not in results["generate"]
    assert results["ingest"]["status"] == "ok" and results["ingest"]["added"] == 5


def test_json_load_that_would_not_fit_in_memory_is_not_run(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    root = bench.make_project(tmp_path, 3, seed=1, stages=("json_load",))
    monkeypatch.setattr(bench, "_mem_available_bytes", lambda: 1024)
    result = bench._stage("json_load", root, tmp_path)
    assert result["status"] == "not_run" and "would need" in result["error"]
    monkeypatch.setattr(bench, "_mem_available_bytes", lambda: None)
    assert bench._stage("json_load", root, tmp_path)["tasks"] == 3


def test_touch_exports_changes_the_share_asked_and_keeps_them_valid(tmp_path: Path) -> None:
    from sahelwire.annotations.tables import read_annotation_tables
    from sahelwire.io.paths import ProjectPaths

    root = bench.make_project(tmp_path, 7, seed=1, stages=("ingest", "build"))
    bench._stage("ingest", root, tmp_path)
    paths = ProjectPaths(root)
    before = {p.name: p.read_bytes() for p in paths.exports_dir.iterdir()}
    changed = bench.touch_exports(paths.exports_dir, 0.3)
    assert len(changed) == 2 and len(set(changed)) == 2
    after = {p.name: p.read_bytes() for p in paths.exports_dir.iterdir()}
    assert sorted(n for n in before if before[n] != after[n]) == sorted(changed)
    assert bench.touch_exports(paths.exports_dir, 0.01) == [sorted(before)[0]]  # at least one
    tables = read_annotation_tables(paths, cache=False)
    assert tables.problems == []
    lead = dict(
        zip(tables.annotations["annotation_id"], tables.annotations["lead_time"], strict=True)
    )
    for name in changed:
        first = json.loads((paths.exports_dir / name).read_text())["annotations"][0]
        assert first["lead_time"] >= 1.5 and lead[first["id"]] == first["lead_time"]


def test_rebuild_stage_parses_only_the_changed_exports(tmp_path: Path) -> None:
    stages = ("ingest", "build", "rebuild_1pct", "rebuild_1pct_gold")
    results = bench.run_size(5, 0, tmp_path, stages=stages, timeout=600)
    build, rebuild, gold = (results[s] for s in stages[1:])
    assert build["status"] == rebuild["status"] == gold["status"] == "ok", results
    assert build["export_cache"] == [{"parsed": 5, "from_cache": 0, "stored": 5}]
    # The build resets the kernel's peak per phase, so ru_maxrss alone may be below the
    # true peak: the stage's is never below a phase's.
    phase_peaks = build.get("phase_peak_rss_mb") or {"none recorded": 0.0}
    assert build["peak_rss_mb"] >= max(phase_peaks.values())
    assert rebuild["changed_files"] == 1
    assert rebuild["export_cache"][-1]["parsed"] == 1
    assert rebuild["export_cache"][-1]["from_cache"] == 4
    # A lead time leaves the gold as it was: only annotations_raw's files are encoded again
    # (release.parquet_reuse); a stance changes the gold, so documents' are too.
    assert build["reused_files"] == 0
    assert 0 < gold["reused_files"] < rebuild["reused_files"] < rebuild["data_files"]
    assert gold["changed_files"] == 1 and gold["export_cache"][-1]["parsed"] == 1
    text = bench.report(5, results)
    assert "rebuild_1pct: rebuild after changing 1 export file(s)" in text
    assert "rebuild_1pct_gold: rebuild after changing 1 export file(s)" in text
    assert "x the full build" in text


def test_annotations_raw_stages_time_both_engines_against_their_bare_write(
    tmp_path: Path,
) -> None:
    stages = ("ingest", "annotations_raw_polars", "annotations_raw_duckdb")
    results = bench.run_size(5, 0, tmp_path, stages=stages, timeout=600)
    polars, duckdb = results["annotations_raw_polars"], results["annotations_raw_duckdb"]
    assert polars["status"] == "ok" and duckdb["status"] == "ok", results
    assert polars["rows"] == duckdb["rows"] > 0
    for r in (polars, duckdb):
        assert r["seconds"] > 0 and r["bare_write_seconds"] > 0 and r["engine_peak_rss_mb"] > 0
    text = bench.report(5, results)
    assert f"annotations_raw_duckdb: {duckdb['seconds']:.2f} s = " in text
    assert "x the bare write of its" in text and "annotations_raw, duckdb / polars:" in text


def test_a_corpus_with_an_annotated_share_builds_with_raw_only_articles(tmp_path: Path) -> None:
    import pyarrow.parquet as pq

    results = bench.run_size(
        10, 0, tmp_path, stages=("ingest", "build", "baseline"), timeout=600, annotated=0.2
    )
    assert results["build"]["status"] == "ok", results
    disk = results["disk"]
    assert disk["annotated"] == 0.2 and disk["tasks"] == 2
    (work,) = tmp_path.glob("sahelwire-bench-10-*")
    assert len(list((work / "project" / "annotations" / "exports").iterdir())) == 2
    data = work / "dist" / "data"
    documents = pq.read_table(sorted((data / "documents").glob("*.parquet"))).num_rows
    assert documents == 10  # the eight raw-only articles are published too, without layers
    annotated = set(pq.read_table(data / "annotations_raw").column("article_id").to_pylist())
    assert len(annotated) == 2
    # The baseline's files went once no later stage read them; their size was recorded first.
    assert not list(work.glob("baseline-*.parquet"))
    assert results["baseline"]["disk_after_mb"] > results["build"]["disk_after_mb"]
    assert disk["peak_bytes"] >= disk["after_stages_bytes"] > disk["corpus_bytes"] > 0
    assert disk["estimate_bytes"] > 0
    text = bench.report(10, results)
    assert "### N = 10 (20% annotated: 2 tasks)" in text and "disk: corpus as generated" in text


def test_disk_estimate_follows_the_share_and_the_stages() -> None:
    full = bench.estimate_disk(1_000_000, 1.0, bench.STAGES, 0)
    tenth = bench.estimate_disk(1_000_000, 0.1, bench.STAGES, 0)
    assert tenth["exports"] * 10 == pytest.approx(full["exports"], rel=1e-6)
    assert tenth["articles.jsonl"] == full["articles.jsonl"] > 0  # every article, annotated or not
    ingest_only = bench.estimate_disk(1_000_000, 0.1, ("ingest",), 0)
    assert set(ingest_only) == {"articles.jsonl", "raw"}  # only what the stage reads and writes
    # Removed outputs count one at a time: the largest, not their sum.
    assert [k for k in full if k.startswith("largest removed")] == [
        "largest removed output (hf-cache)"
    ]
    # At 1M the datasets cache is not made unless asked for by name.
    run, notes = bench.stages_at(1_000_000, bench.STAGES, named=False)
    assert not set(bench.NOT_AT_1M) & set(run) and set(notes) == set(bench.NOT_AT_1M)
    assert bench.stages_at(1_000_000, bench.STAGES, named=True) == (bench.STAGES, {})
    assert bench.stages_at(100_000, bench.STAGES, named=False) == (bench.STAGES, {})
    assert bench.annotated_share(1_000_000, None) == 0.1
    assert bench.annotated_share(10_000, None) == bench.annotated_share(777, None) == 1.0
    assert bench.annotated_share(10_000, 0.5) == 0.5


def test_a_run_that_would_not_fit_on_disk_is_refused_before_generating(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    usage = bench.shutil.disk_usage(tmp_path)
    small = usage._replace(free=bench.DISK_MARGIN + 1024)
    monkeypatch.setattr(bench.shutil, "disk_usage", lambda _: small)
    with pytest.raises(SystemExit) as exit_:
        bench.main(["--n", "40", "--stages", "ingest", "--keep", str(tmp_path)])
    assert exit_.value.code == 2
    captured = capsys.readouterr()
    assert "disk estimate at N = 40:" in captured.out
    assert "this run needs ~" in captured.err and "GiB free, less a 2 GiB margin" in captured.err
    assert not list(tmp_path.iterdir())  # nothing generated
    with pytest.raises(SystemExit) as exit_:
        bench.main(["--n", "40", "--annotated", "2"])
    assert exit_.value.code == 2 and "--annotated 2.0 is not between 0 and 1" in (
        capsys.readouterr().err
    )
    monkeypatch.setattr(bench.shutil, "disk_usage", lambda _: usage)
    bench.main(["--n", "40", "--stages", "ingest", "--estimate-disk", "--keep", str(tmp_path)])
    assert not list(tmp_path.iterdir())  # --estimate-disk only prints


def test_tree_memory_counts_a_worker_and_its_own_child(tmp_path: Path) -> None:
    # A child that starts a grandchild holding 200 MB: the stage's own ru_maxrss would see
    # neither; the sampled sum sees the grandchild's pages, found through the child.
    holder = (
        "import sys, time; b = bytearray(200 * 2**20); b[::4096] = b'x' * len(b[::4096]); "
        "open(sys.argv[1], 'w').close(); time.sleep(30)"
    )
    ready = tmp_path / "ready"
    parent = (
        "import subprocess, sys; "
        f"subprocess.run([sys.executable, '-c', {holder!r}, {str(ready)!r}])"
    )
    import subprocess

    child = subprocess.Popen([sys.executable, "-c", parent])
    try:
        deadline = time.monotonic() + 30
        while not ready.exists() and time.monotonic() < deadline:
            time.sleep(0.05)
        assert ready.exists()
        with bench.TreeMemory(interval=0.05) as tree:
            time.sleep(0.3)
        assert len(bench._tree(child.pid)) == 2
    finally:
        child.kill()
        child.wait()
    assert tree.peak_processes >= 3  # this process, the child and the grandchild
    assert tree.peak_rss_kb >= 200 * 1024 and tree.peak_pss_kb >= 190 * 1024
    assert tree.peak_rss_kb >= tree.peak_pss_kb


def test_the_tree_sampler_reads_pss_only_near_the_rss_high() -> None:
    """RSS is a counter (statm) read every sample; PSS makes the kernel walk every page
    (≈19 ms a read at a 4 GB process), so it is read at a new high and then at most every
    ``pss_every`` seconds, not every sample."""
    tree = bench.TreeMemory(interval=0.01, pss_every=3600.0)
    samples = 50
    for _ in range(samples):
        tree.sample()
    assert tree.peak_rss_kb > 0 and 0 < tree.peak_pss_kb <= tree.peak_rss_kb
    assert 1 <= tree.pss_reads < samples // 5
    grown = bytearray(64 * 2**20)  # a new high by more than PSS_STEP: PSS read again
    grown[::4096] = b"x" * len(grown[::4096])
    before = tree.pss_reads
    tree.sample()
    assert tree.pss_reads == before + 1 and tree.peak_pss_kb > 64 * 1024
    del grown


def test_stage_records_its_tree_peak(tmp_path: Path) -> None:
    results = bench.run_size(5, 0, tmp_path, stages=("ingest",), timeout=600)
    ingest = results["ingest"]
    assert ingest["status"] == "ok", results
    # The stage's own process is in the sum, so it is at least the sampled RSS.
    assert ingest["peak_tree_rss_mb"] > 0 and ingest["peak_tree_processes"] >= 1
    assert ingest["peak_tree_rss_mb"] >= ingest["peak_tree_pss_mb"] > 0
    assert "with workers: RSS / PSS MB" in bench.report(5, results)


def test_the_stage_log_keeps_the_ner_bio_workers_figures() -> None:
    log = bench._CacheLog()
    logger = logging.getLogger("sahelwire.release.bio_workers")
    logger.addHandler(log)
    try:
        logger.setLevel(logging.DEBUG)
        logger.debug("ner_bio workers", extra={"bio_workers": {"share": 0.6, "waited": 1.5}})
    finally:
        logger.removeHandler(log)
    assert log.bio_workers == [{"share": 0.6, "waited": 1.5}]


def test_keep_may_name_a_folder_not_made_yet(tmp_path: Path) -> None:
    # Seen: `--keep /tmp/b2k/keep` with /tmp/b2k missing died in the disk check (statvfs of
    # the parent), then in mkdtemp, with a traceback each time.
    keep = tmp_path / "not" / "yet"
    bench.main(["--n", "3", "--stages", "ingest", "--keep", str(keep)])
    (work,) = keep.iterdir()
    assert work.name.startswith("sahelwire-bench-3-")
    assert (work / "corpus" / "articles.jsonl").is_file()
