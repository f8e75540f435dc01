"""The card's plots drawn in a child interpreter while the build writes the card's text.

matplotlib's drawing is about half of the build's metadata phase at 10k (≈1 s of ≈2 s,
profiled) and holds the GIL, and in that phase the second core is idle (the parse and
``ner_bio`` workers are done). So a large build starts this worker before its published
tables (``python -m sahelwire.release.card.plot_worker``: it imports matplotlib then waits),
sends it :class:`~sahelwire.release.card.plot_drawing.PlotInputs` once the documents exist, and
reads the PNG bytes after the card's text is rendered.

Only an optimisation: the bytes are :func:`~sahelwire.release.card.plot_drawing.render_plots`'s in
either process, and a worker that cannot start, fails or answers with anything else leaves
the plots to this process. Plain child interpreters talking pickles over pipes, as the parse
and ``ner_bio`` workers do (``spawn`` would re-run the caller's main script, and polars' and
DuckDB's threads do not survive a ``fork``).
"""

from __future__ import annotations

import contextlib
import logging
import pickle
import subprocess
import sys
import tempfile
from typing import IO

from sahelwire.release.card.plot_drawing import PlotInputs, render_plots

log = logging.getLogger(__name__)

# Fewer published articles than this: the plots are drawn here (starting an interpreter and
# importing matplotlib, ≈0.5 s of CPU, costs more than it saves on a small corpus).
MIN_ARTICLES = 2000
_MODULE = "sahelwire.release.card.plot_worker"


class PlotWorker:
    """One child interpreter that draws one release's plots."""

    def __init__(self, command: list[str] | None = None) -> None:
        self._inputs: PlotInputs | None = None
        self._log: IO[bytes] | None = None
        self._child: subprocess.Popen[bytes] | None = None
        try:
            # Closed by close(), which every path out of this object reaches.
            self._log = tempfile.TemporaryFile()  # noqa: SIM115
            self._child = subprocess.Popen(
                command or [sys.executable, "-m", _MODULE],
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                stderr=self._log,
            )
        except OSError as exc:
            log.debug("plot worker not started: %s", exc)
            self.close()

    def send(self, inputs: PlotInputs) -> None:
        """Start drawing ``inputs`` (in the worker when it runs)."""
        self._inputs = inputs
        if self._child is None:
            return
        assert self._child.stdin is not None
        try:
            with self._child.stdin:
                pickle.dump(inputs, self._child.stdin, protocol=pickle.HIGHEST_PROTOCOL)
        except (OSError, ValueError) as exc:
            self._give_up(f"could not send the inputs: {exc}")

    def result(self) -> dict[str, bytes]:
        """The plots of the inputs sent: the worker's, or drawn here if it failed."""
        if self._inputs is None:
            raise RuntimeError("PlotWorker.result() before send()")
        if self._child is not None:
            assert self._child.stdout is not None
            try:
                answer = self._child.stdout.read()
                code = self._child.wait()
                if code == 0:
                    plots = pickle.loads(answer)
                    if isinstance(plots, dict) and all(
                        isinstance(k, str) and isinstance(v, bytes) for k, v in plots.items()
                    ):
                        self.close()
                        return plots
                self._give_up(f"exit status {code}")
            except (OSError, pickle.UnpicklingError, EOFError, ValueError) as exc:
                self._give_up(str(exc))
        self.close()
        return render_plots(self._inputs)

    def _give_up(self, why: str) -> None:
        detail = ""
        if self._log is not None:
            with contextlib.suppress(OSError, ValueError):
                self._log.seek(0)
                detail = self._log.read().decode(errors="replace")
        log.debug("plot worker failed (%s), plots drawn here: %s", why, detail)
        self.close()

    def close(self) -> None:
        """Stop the worker (if still running) and free its pipes; idempotent."""
        child, self._child = self._child, None
        if child is not None:
            if child.poll() is None:
                child.kill()
            for pipe in (child.stdin, child.stdout):
                if pipe is not None:
                    with contextlib.suppress(OSError, ValueError):
                        pipe.close()
            child.wait()
        if self._log is not None:
            self._log.close()
            self._log = None


def _main() -> None:
    inputs = pickle.load(sys.stdin.buffer)
    sys.stdout.buffer.write(pickle.dumps(render_plots(inputs), protocol=pickle.HIGHEST_PROTOCOL))
    sys.stdout.buffer.flush()


if __name__ == "__main__":
    _main()
