"""ner_bio rows made in worker processes are the rows made here, in order, and a worker
that dies or fails leaves its share to this process (real child processes, no mock)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from sahelwire.release import bio_workers
from sahelwire.release.bio_workers import BioJob, BioTables, BioWorkers
from sahelwire.schema.table_specs import ShapeBuilder, load_table_specs
from sahelwire.schema.taxonomy import load_taxonomy

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def tables() -> BioTables:
    taxonomy = load_taxonomy(ROOT / "schemas" / "taxonomy.yaml")
    specs = load_table_specs(ROOT / "schemas" / "tables.yaml")
    return BioTables(
        ShapeBuilder(specs, taxonomy).arrow_schema(specs.configs["ner_bio"], published=True),
        taxonomy.class_names("zone:span_layers.zones"),
        taxonomy.class_names("bio:span_layers.entities"),
    )


def _jobs(n: int, bad: int | None = None) -> list[BioJob]:
    """``n`` articles of a few sentences, with zones, nested entities and a line break;
    article ``bad`` has an entity label that is no class."""
    jobs: list[BioJob] = []
    for i in range(n):
        text = f"Menu\nGen. Moussa {i} met U.S. envoys in Niamey’s centre. They left at 3:30!"
        label = "RIVER" if i == bad else "GPE"
        entities: list[dict[str, Any]] = [
            {"start": 9, "end": 15 + len(str(i)), "label": "PERSON"},
            {"start": 32 + len(str(i)), "end": 39 + len(str(i)), "label": label},
            {"start": 32 + len(str(i)), "end": 41 + len(str(i)), "label": "LOC"},
        ]
        zones: list[dict[str, Any]] = [{"start": 0, "end": 4, "label": "NAVIGATION"}]
        jobs.append(
            (f"art-{i:05d}", text, zones, entities, [(e["start"], e["end"]) for e in entities])
        )
    return jobs


def test_two_workers_make_the_rows_made_here_in_order(
    tables: BioTables, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(bio_workers, "MIN_ARTICLES", 10)
    jobs = _jobs(101)
    want, want_stats = tables.make(jobs)
    workers = BioWorkers(tables, count=2)
    calls: list[int] = []
    try:
        for _ in range(2):  # the workers serve one chunk after another
            got, stats = workers.make(jobs, local_first=lambda: calls.append(1))
            assert got.equals(want)
            assert stats == want_stats
        assert len(workers.workers) == 2  # both answered: none was dropped
        assert calls == [1, 1]
        processes = [w.process for w in workers.workers]
    finally:
        workers.close()
    assert [p.returncode for p in processes] == [0, 0]  # each left at the end of its input
    assert not workers.workers


def test_a_dead_worker_leaves_its_share_here(
    tables: BioTables, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(bio_workers, "MIN_ARTICLES", 10)
    jobs = _jobs(40)
    want, want_stats = tables.make(jobs)
    workers = BioWorkers(tables, count=1)
    try:
        workers.make(jobs[:20])  # started, and answered once
        workers.workers[0].process.kill()
        workers.workers[0].process.wait()
        got, stats = workers.make(jobs)
        assert got.equals(want) and stats == want_stats
        assert not workers.workers  # dropped: later chunks are made here
        got, _ = workers.make(jobs)
        assert got.equals(want)
    finally:
        workers.close()


def test_a_share_that_fails_in_a_worker_fails_here_with_the_same_error(
    tables: BioTables, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(bio_workers, "MIN_ARTICLES", 10)
    jobs = _jobs(30, bad=3)  # in the workers' share (the first 70%)
    workers = BioWorkers(tables, count=1)
    try:
        with pytest.raises(ValueError, match="'B-RIVER' is not a class"):
            workers.make(jobs)
        assert len(workers.workers) == 1  # an error answer is not a lost worker
        got, _ = workers.make(_jobs(30))
        assert got.equals(tables.make(_jobs(30))[0])
    finally:
        workers.close()


def test_after_a_failed_chunk_no_answer_is_left_for_the_next(
    tables: BioTables, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The first of two workers' shares fails: the second worker's answer is still read
    before the error is raised, so the next chunk gets its own rows; a failure in this
    process's part stops the workers (their answers unread), and later chunks are made here."""
    monkeypatch.setattr(bio_workers, "MIN_ARTICLES", 10)
    good = _jobs(30)
    want = tables.make(good)
    workers = BioWorkers(tables, count=2)
    try:
        with pytest.raises(ValueError, match="'B-RIVER' is not a class"):
            workers.make(_jobs(30, bad=1))  # in the first worker's share
        assert len(workers.workers) == 2
        got, stats = workers.make(good)
        assert got.equals(want[0]) and stats == want[1]
        with pytest.raises(ValueError, match="'B-RIVER' is not a class"):
            workers.make(_jobs(30, bad=29))  # in this process's part (the last 30%)
        assert not workers.workers
        got, stats = workers.make(good)
        assert got.equals(want[0]) and stats == want[1]
    finally:
        workers.close()


def test_small_chunks_and_no_workers_are_made_here(tables: BioTables) -> None:
    jobs = _jobs(5)
    workers = BioWorkers(tables, count=1)
    got, _ = workers.make(jobs)  # under MIN_ARTICLES: no worker is started
    assert not workers.started and got.equals(tables.make(jobs)[0])
    none = BioWorkers(tables, count=0)
    assert none.make(_jobs(bio_workers.MIN_ARTICLES))[0].num_rows > 0
    assert not none.workers


def test_the_share_balances_both_sides_within_its_bounds() -> None:
    tuner = bio_workers.ShareTuner(weight=1.0)
    # documents 1 s per article here, ner_bio 2 s here, 2 s in the one worker: both sides
    # end together when 1 + 2 (1 - s) = 2 s, s = 0.75.
    tuner.note(100, 100.0, 30, 60.0, [(70, 140.0)])
    assert tuner.share == pytest.approx(0.75)
    # Two workers: 1 + 2 (1 - s) = 2 s / 2, s = 1: held at the upper bound.
    tuner.note(100, 100.0, 30, 60.0, [(35, 70.0), (35, 70.0)])
    assert tuner.share == bio_workers.SHARE_BOUNDS[1]
    # No documents cost and a worker four times slower: s = 2 / (2 + 8) = 0.2, held at 0.3.
    tuner.note(100, 0.0, 30, 60.0, [(70, 560.0)])
    assert tuner.share == bio_workers.SHARE_BOUNDS[0]
    # A chunk with nothing made on one side teaches nothing.
    tuner.note(100, 0.0, 0, 0.0, [(70, 1.0)])
    assert tuner.share == bio_workers.SHARE_BOUNDS[0]


def test_the_means_move_part_way_per_chunk() -> None:
    tuner = bio_workers.ShareTuner()
    assert tuner.share == bio_workers.WORKER_SHARE  # before any chunk
    tuner.note(10, 0.0, 10, 20.0, [(10, 20.0)])  # d 0, m 2, w 2: s = 2 / 4
    assert tuner.share == pytest.approx(0.5)
    tuner.note(10, 10.0, 10, 20.0, [(10, 20.0)])  # d 1: its mean 0.5, s = 2.5 / 4
    assert tuner.documents == pytest.approx(0.5)
    assert tuner.share == pytest.approx(0.625)


def test_a_slow_documents_side_gives_the_workers_more(
    tables: BioTables, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    # This process's own work takes far longer than ner_bio: after the first chunk the
    # workers get the largest share; the rows stay those made here, whatever the cut.
    import time

    monkeypatch.setattr(bio_workers, "MIN_ARTICLES", 10)
    sent: list[int] = []
    send = bio_workers._send

    def counted(stream: Any, message: Any) -> None:
        if isinstance(message, list):  # a share of jobs, not the tables
            sent.append(len(message))
        send(stream, message)

    monkeypatch.setattr(bio_workers, "_send", counted)
    jobs = _jobs(101)
    want, want_stats = tables.make(jobs)
    workers = BioWorkers(tables, count=1)
    try:
        for _ in range(2):
            got, stats = workers.make(jobs, local_first=lambda: time.sleep(1.0))
            assert got.equals(want) and stats == want_stats
        assert workers.tuner.share == bio_workers.SHARE_BOUNDS[1]
        assert sent == [int(101 * bio_workers.WORKER_SHARE), int(101 * 0.9)]
    finally:
        with caplog.at_level("DEBUG", logger=bio_workers.__name__):
            workers.close()
    # What scripts/bench.py records of the run: the last share and the build's wait.
    (figures,) = [r.bio_workers for r in caplog.records if hasattr(r, "bio_workers")]
    assert figures == {"share": 0.9, "waited": workers.waited} and workers.waited >= 0.0
