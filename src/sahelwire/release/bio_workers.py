"""``ner_bio`` rows made in worker processes while the build makes the other configs.

The published phase runs on one core but for DuckDB's queries, and ``ner_bio`` (tokenizing
and cutting every article's text into sentences) is the largest single part of it (34 of
81 profiled seconds of a 10k build's published phase before this module), more at 1M where
most articles are raw text only. So
:meth:`sahelwire.release.tables.ReleaseTableBuilder.rows` hands the first part of each
chunk's articles to worker processes (``python -m sahelwire.release.bio_workers``, one
per core but this one: ``SAHELWIRE_PARSE_WORKERS`` sets the cores, as for the parse) and
makes ``documents`` and the rest of ``ner_bio`` itself meanwhile. The rows are the same
function's (:func:`sahelwire.release.ner_bio.add_bio_rows`) in the same order: each
worker's share is a run of consecutive articles, and the shares are joined in order.

Only an optimisation: a worker that cannot start, fails or answers with an error leaves
its share to this process, which makes it (and raises whatever error the share raises).
Plain child interpreters talking pickles over pipes, as the parse workers do (``spawn``
would re-run the caller's main script, and polars' and DuckDB's threads do not survive a
``fork``).
"""

from __future__ import annotations

import contextlib
import logging
import pickle
import struct
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import IO, Any

import pyarrow as pa

from sahelwire.release.ner_bio import BioColumns, BioStats, add_bio_rows

log = logging.getLogger(__name__)

# Fewer articles than this in a chunk: all made here (a round trip costs more).
MIN_ARTICLES = 200
# The workers' part of a chunk's articles, at first. This process also makes `documents` (about
# a third of the cost of ner_bio, profiled at 10k) while the workers run, so an even split
# would leave the workers waiting: with one worker, 0.5 + 1/6 balances both sides. Where
# `documents` costs less (a raw-only article has no spans: 90% of the 1M bench) or the cores
# differ in load, that share leaves this process waiting, so each chunk's timings set the
# next chunk's share (:class:`ShareTuner`), within these bounds.
WORKER_SHARE = 0.7
SHARE_BOUNDS = (0.3, 0.9)
_LENGTH = struct.Struct("<Q")

# One article's ner_bio inputs: id, text, zones and entities ({start, end, label} each), the
# spans no row may cut.
BioJob = tuple[str, str, list[dict[str, Any]], list[dict[str, Any]], list[tuple[int, int]]]


@dataclass
class BioTables:
    """The classes a ner_bio table is made with (``BioColumns.table``'s arguments)."""

    schema: pa.Schema
    zone_names: Sequence[str]
    tag_names: Sequence[str]

    def make(self, jobs: Sequence[BioJob]) -> tuple[pa.Table, list[BioStats]]:
        """The rows of ``jobs``' articles, in order, and each article's stats."""
        columns = BioColumns()
        stats = [add_bio_rows(columns, *job) for job in jobs]
        return columns.table(self.schema, self.zone_names, self.tag_names), stats


def _send(stream: IO[bytes], message: Any) -> None:
    data = pickle.dumps(message, protocol=pickle.HIGHEST_PROTOCOL)
    stream.write(_LENGTH.pack(len(data)))
    stream.write(data)
    stream.flush()


def _receive(stream: IO[bytes]) -> Any:
    head = stream.read(_LENGTH.size)
    if len(head) < _LENGTH.size:
        raise EOFError("the worker closed its output")
    (length,) = _LENGTH.unpack(head)
    data = stream.read(length)
    if len(data) < length:
        raise EOFError("the worker's answer was cut short")
    return pickle.loads(data)


@dataclass
class ShareTuner:
    """The workers' share of a chunk that leaves neither side waiting, from the seconds per
    article measured on earlier chunks (exponential means, so a chunk of other articles
    moves it only part way): this process spends ``d`` on `documents` and ``m`` on ner_bio
    per article, a worker ``w`` per article of its share, so with ``k`` workers both sides
    end together at the share s of ``d + (1 - s) m = s w / k``. The share only moves the cut:
    the rows are the same whatever it is."""

    share: float = WORKER_SHARE
    documents: float | None = None  # d
    here: float | None = None  # m
    worker: float | None = None  # w
    weight: float = 0.5  # of each new chunk's figures in the means

    def note(
        self,
        articles: int,
        documents_s: float,
        mine: int,
        mine_s: float,
        theirs: list[tuple[int, float]],
    ) -> None:
        """One chunk's timings: its ``articles``, the seconds of `documents` over all of them,
        ``mine`` articles' ner_bio made here in ``mine_s``, and each worker's (articles,
        seconds of making them, as the worker measured)."""
        if not articles or not mine or not theirs or any(n <= 0 for n, _ in theirs):
            return  # nothing to learn the rates from
        worker = sum(s for _, s in theirs) / sum(n for n, _ in theirs)
        self.documents = self._mean(self.documents, documents_s / articles)
        self.here = self._mean(self.here, mine_s / mine)
        self.worker = self._mean(self.worker, worker)
        k = len(theirs)
        balanced = (self.documents + self.here) / (self.here + self.worker / k)
        low, high = SHARE_BOUNDS
        self.share = min(high, max(low, balanced))

    def _mean(self, old: float | None, new: float) -> float:
        return new if old is None else (1 - self.weight) * old + self.weight * new


@dataclass
class _Worker:
    process: subprocess.Popen[bytes]
    errors: IO[bytes]
    busy: bool = False


@dataclass
class BioWorkers:
    """Worker processes for ner_bio rows, started on first use and stopped by :meth:`close`."""

    tables: BioTables
    count: int  # worker processes to use (0: every row made here)
    workers: list[_Worker] = field(default_factory=list)
    started: bool = False
    tuner: ShareTuner = field(default_factory=ShareTuner)
    waited: float = 0.0  # seconds this process waited for the workers' answers, in all

    def _start(self) -> None:
        self.started = True
        command = [sys.executable, "-m", __name__]
        for _ in range(self.count):
            errors = tempfile.TemporaryFile()  # noqa: SIM115 (kept for the worker's life)
            try:
                process = subprocess.Popen(
                    command, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=errors
                )
                assert process.stdin is not None
                _send(process.stdin, self.tables)
            except OSError as exc:
                errors.close()
                log.debug("ner_bio worker not started: %s", exc)
                break
            self.workers.append(_Worker(process, errors))

    def make(
        self, jobs: Sequence[BioJob], local_first: Callable[[], None] | None = None
    ) -> tuple[pa.Table, list[BioStats]]:
        """The rows of ``jobs`` (one chunk's articles, in order) and each article's stats:
        the first part (:class:`ShareTuner`'s share) to the workers, the rest made here,
        after ``local_first()`` (the caller's own work, run while the workers run)."""
        if self.count and len(jobs) >= MIN_ARTICLES and not self.started:
            self._start()
        if not self.workers or len(jobs) < MIN_ARTICLES:
            if local_first is not None:
                local_first()
            return self.tables.make(jobs)
        cut = int(len(jobs) * self.tuner.share)
        shares = _split(jobs[:cut], len(self.workers))
        sent: list[tuple[_Worker | None, Sequence[BioJob]]] = []
        for worker, share in zip(list(self.workers), shares, strict=True):
            try:
                assert worker.process.stdin is not None
                _send(worker.process.stdin, share)
                sent.append((worker, share))
            except (OSError, ValueError) as exc:
                self._lost(worker, exc)
                sent.append((None, share))
        try:
            started = time.perf_counter()
            if local_first is not None:
                local_first()
            documents = time.perf_counter() - started
            mine = self.tables.make(jobs[cut:])
            made = time.perf_counter() - started - documents
        except BaseException:
            self.close()  # their answers, unread, would be taken for the next chunk's
            raise
        # Every answer is read before a failed share is made here (and raises), so no answer
        # is left in a pipe for the next chunk.
        answers: list[Any] = []
        waiting = time.perf_counter()
        for target, _ in sent:
            answer = None
            if target is not None:
                try:
                    assert target.process.stdout is not None
                    answer = _receive(target.process.stdout)
                except (OSError, EOFError, pickle.UnpicklingError) as exc:
                    self._lost(target, exc)
            answers.append(answer)
        self.waited += time.perf_counter() - waiting
        parts: list[tuple[pa.Table, list[BioStats]]] = []
        timings: list[tuple[int, float]] = []
        for (_, share), answer in zip(sent, answers, strict=True):
            if not isinstance(answer, tuple) or answer[0] != "rows":
                if answer is not None:
                    log.debug("ner_bio worker: %s", answer[1] if len(answer) > 1 else answer)
                parts.append(self.tables.make(share))  # raises what the share raises
            else:
                parts.append((answer[1], answer[2]))
                timings.append((len(share), answer[3]))
        if len(timings) == len(sent):  # a share made here would skew the workers' rate
            self.tuner.note(len(jobs), documents, len(jobs) - cut, made, timings)
        parts.append(mine)
        table = pa.concat_tables([t for t, _ in parts])
        return table, [s for _, stats in parts for s in stats]

    def _lost(self, worker: _Worker, exc: BaseException) -> None:
        log.debug("ner_bio worker lost: %s", exc)
        with contextlib.suppress(ValueError):
            self.workers.remove(worker)
        _stop(worker)

    def close(self) -> None:
        if self.workers:
            log.debug(
                "ner_bio workers: last share %.2f, %.1f s waited for their answers",
                self.tuner.share,
                self.waited,
                # scripts/bench.py reports it
                extra={"bio_workers": {"share": self.tuner.share, "waited": self.waited}},
            )
        for worker in self.workers:
            _stop(worker)
        self.workers = []


def _stop(worker: _Worker) -> None:
    with contextlib.suppress(OSError, ValueError):
        if worker.process.stdin is not None:
            worker.process.stdin.close()  # the worker's loop ends at end of input
    try:
        worker.process.wait(timeout=10)
    except subprocess.TimeoutExpired:
        worker.process.kill()
        worker.process.wait()
    with contextlib.suppress(OSError, ValueError):
        if worker.process.stdout is not None:
            worker.process.stdout.close()
    worker.errors.close()


def _split(jobs: Sequence[BioJob], parts: int) -> list[Sequence[BioJob]]:
    """``jobs`` in ``parts`` runs of consecutive jobs, as even as can be."""
    size, extra = divmod(len(jobs), parts)
    out, at = [], 0
    for i in range(parts):
        n = size + (i < extra)
        out.append(jobs[at : at + n])
        at += n
    return out


def main() -> None:
    """The worker: the classes first, then a share of jobs at a time, answered in turn."""
    source, sink = sys.stdin.buffer, sys.stdout.buffer
    tables: BioTables = _receive(source)
    while True:
        try:
            jobs = _receive(source)
        except EOFError:
            return
        try:
            started = time.perf_counter()
            table, stats = tables.make(jobs)
            _send(sink, ("rows", table, stats, time.perf_counter() - started))
        except Exception as exc:  # the parent makes this share itself and raises
            _send(sink, ("error", f"{type(exc).__name__}: {exc}"))


if __name__ == "__main__":
    main()
