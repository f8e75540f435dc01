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
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import IO, Any

import pyarrow as pa

from sahelwire.release.ner_bio import BioColumns, BioStats, add_bio_rows

log = logging.getLogger(__name__)

# Fewer articles than this in a chunk: all made here (a round trip costs more).
MIN_ARTICLES = 200
# The workers' part of a chunk's articles. This process also makes `documents` (about a third
# of the cost of ner_bio, profiled at 10k) while the workers run, so an even split would leave
# the workers waiting: with one worker, 0.5 + 1/6 balances both sides.
WORKER_SHARE = 0.7
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
        the first :data:`WORKER_SHARE` to the workers, the rest made here, after
        ``local_first()`` (the caller's own work, run while the workers run)."""
        if self.count and len(jobs) >= MIN_ARTICLES and not self.started:
            self._start()
        if not self.workers or len(jobs) < MIN_ARTICLES:
            if local_first is not None:
                local_first()
            return self.tables.make(jobs)
        cut = int(len(jobs) * WORKER_SHARE)
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
            if local_first is not None:
                local_first()
            mine = self.tables.make(jobs[cut:])
        except BaseException:
            self.close()  # their answers, unread, would be taken for the next chunk's
            raise
        # Every answer is read before a failed share is made here (and raises), so no answer
        # is left in a pipe for the next chunk.
        answers: list[Any] = []
        for target, _ in sent:
            answer = None
            if target is not None:
                try:
                    assert target.process.stdout is not None
                    answer = _receive(target.process.stdout)
                except (OSError, EOFError, pickle.UnpicklingError) as exc:
                    self._lost(target, exc)
            answers.append(answer)
        parts: list[tuple[pa.Table, list[BioStats]]] = []
        for (_, share), answer in zip(sent, answers, strict=True):
            if not isinstance(answer, tuple) or answer[0] != "rows":
                if answer is not None:
                    log.debug("ner_bio worker: %s", answer[1] if len(answer) > 1 else answer)
                parts.append(self.tables.make(share))  # raises what the share raises
            else:
                parts.append((answer[1], answer[2]))
        parts.append(mine)
        table = pa.concat_tables([t for t, _ in parts])
        return table, [s for _, stats in parts for s in stats]

    def _lost(self, worker: _Worker, exc: BaseException) -> None:
        log.debug("ner_bio worker lost: %s", exc)
        with contextlib.suppress(ValueError):
            self.workers.remove(worker)
        _stop(worker)

    def close(self) -> None:
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
            table, stats = tables.make(jobs)
            _send(sink, ("rows", table, stats))
        except Exception as exc:  # the parent makes this share itself and raises
            _send(sink, ("error", f"{type(exc).__name__}: {exc}"))


if __name__ == "__main__":
    main()
