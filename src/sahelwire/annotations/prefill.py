"""A worker of the parallel cold read: ``python -m sahelwire.annotations.prefill ROOT``.

Reads ``(taxonomy, files)`` pickled on standard input from the parent read
(:func:`sahelwire.annotations.tables._prefill`, which wrote it) and stores those files'
parses in the export cache. Prints nothing; the parent reads the cache.
"""

from __future__ import annotations

import pickle
import sys
from pathlib import Path

from sahelwire.annotations.tables import prefill_share


def main() -> None:
    taxonomy, share = pickle.loads(sys.stdin.buffer.read())
    prefill_share(Path(sys.argv[1]), taxonomy, share)


if __name__ == "__main__":
    main()
