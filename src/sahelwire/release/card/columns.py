"""Columns of a published table a batch at a time, for the card.

Apart from :mod:`sahelwire.release.card.facts` so that the plot worker
(:mod:`sahelwire.release.card.plot_worker`), which imports the plots, loads pyarrow and
matplotlib only, not polars and the annotation tables (195 MB and 1.3 s of imports before).
"""

from __future__ import annotations

from collections.abc import Iterator

import pyarrow as pa


def column_batches(table: pa.Table, columns: list[str]) -> Iterator[pa.RecordBatch]:
    """``columns`` of ``table`` a batch at a time. The build hands the card its written files
    (``build.ParquetTable``), read here a row group at a time: read whole, one column could
    be gigabytes at 1M articles (``ner_bio``'s tokens: 5.3 GB; the texts: 2.6 GB)."""
    if isinstance(table, pa.Table):
        return iter(table.select(columns).to_batches())
    return iter(table.to_batches(columns=columns))
