"""Peak memory and time of the card's sections that read the build's files, one section per
process, on a built ``dist/`` (e.g. the 1M bench's, kept with ``scripts/bench.py --keep``).

    .venv/bin/python scripts/card_memory.py WORK SECTION
    # WORK: a bench work folder (WORK/dist, WORK/project); SECTION: one of SECTIONS below,
    # or all (every one in turn, in this one process)
    for s in ner_bio lengths plots statistics leakage outlets; do
        .venv/bin/python scripts/card_memory.py /tmp/b1m/keep/sahelwire-bench-1000000-* $s
    done

Each section gets the files as the build hands them to the card (``build.ParquetTable``) and
prints its output's size, seconds and the process's peak RSS (ru_maxrss: run one section per
process). Nothing is asserted: the figures go into docs/benchmarks.md.
"""

from __future__ import annotations

import resource
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from sahelwire.io.paths import ProjectPaths
from sahelwire.release.build import ParquetTable
from sahelwire.release.card.data_sections import (
    count_tokens,
    leakage_section,
    licensing_text,
    ner_bio_section,
    outlets_section,
)
from sahelwire.release.card.facts import organisations_outside_the_body
from sahelwire.release.card.plots import article_lengths, label_counts, plot_files
from sahelwire.release.card.sections import statistics_section
from sahelwire.release.ner_bio import BioStats
from sahelwire.schema.taxonomy import Taxonomy, load_taxonomy

Tables = dict[str, dict[str, Any]]


def outlets(tables: Tables, taxonomy: Taxonomy) -> str:
    documents = tables["documents"]
    registry = tables["entity_registry"].get("full")
    orgs = organisations_outside_the_body(documents, registry, taxonomy)
    return outlets_section(documents, orgs) + licensing_text(documents, "owner/name")


SECTIONS: dict[str, Callable[[Tables, Taxonomy], Any]] = {
    "ner_bio": lambda t, tax: ner_bio_section(
        BioStats(), t["ner_bio"], count_tokens(t["ner_bio"], tax)
    ),
    "lengths": lambda t, _: article_lengths(t["documents"]),
    "plots": lambda t, tax: plot_files(t["documents"], tax, article_lengths(t["documents"])),
    "statistics": lambda t, tax: statistics_section(
        t, tax, "full", label_counts(t["documents"], tax)
    ),
    "leakage": lambda t, _: leakage_section(t, "owner/name", "full"),
    "outlets": outlets,
}


def main(argv: list[str]) -> int:
    if len(argv) != 2 or argv[1] not in (*SECTIONS, "all"):
        print(__doc__)
        return 2
    work = Path(argv[0])
    taxonomy = load_taxonomy(ProjectPaths(work / "project").taxonomy_file)
    tables: Tables = {
        config.name: {
            f.name.split("-")[0]: ParquetTable(f) for f in sorted(config.glob("*.parquet"))
        }
        for config in (work / "dist" / "data").iterdir()
    }
    clock = time.perf_counter()
    names = list(SECTIONS) if argv[1] == "all" else [argv[1]]  # all: one after the other
    out = [SECTIONS[name](tables, taxonomy) for name in names]
    seconds = time.perf_counter() - clock
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"{argv[1]}: {sum(map(len, out)):,} long, {seconds:.1f} s, peak {peak:,.0f} MB")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
