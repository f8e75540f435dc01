"""A Label Studio export list -> annotation tables, streamed: memory does not follow the file.

``sahelwire.annotations.tables.TableCollector`` keeps its output rows in memory until the end (flushed
to polars frames, but all held): at 10k articles that is several times the export's size.
Here:

* :func:`~sahelwire.labelstudio.export_list.iter_export_list` reads the list one task at a time with
  the C JSON decoder, as fast as ``json.load``;
* :class:`~sahelwire.raw.manifest_texts.ManifestTexts` reads each raw text when its task comes;
* :class:`SpillingCollector` turns its rows into Arrow batches every ``batch_rows`` rows
  and spills them to Arrow IPC files that the final tables memory-map, so the tables of a
  million articles are not in the heap.

The rules and Problems are the ones of :class:`~sahelwire.annotations.tables.TableCollector`,
which this module only feeds differently (strictly decoded, like the per-task files).
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from pathlib import Path
from typing import Any

import polars as pl

from sahelwire.annotations.tables import (
    AnnotationTables,
    Shapes,
    TableCollector,
    load_source_shapes,
)
from sahelwire.io.paths import ProjectPaths
from sahelwire.io.scratch import scratch_dir
from sahelwire.labelstudio.export_list import ExportListError, iter_export_list
from sahelwire.labelstudio.identity import load_annotators
from sahelwire.raw.manifest_texts import ManifestTexts
from sahelwire.schema.problems import Problem
from sahelwire.schema.taxonomy import Taxonomy, load_taxonomy


class SpillingCollector(TableCollector):
    """A TableCollector whose rows leave the heap every ``batch_rows`` rows."""

    def __init__(
        self,
        texts: Mapping[str, tuple[str, str]],
        taxonomy: Taxonomy,
        annotators: Collection[str],
        shapes: Shapes,
        spill_dir: Path,
        batch_rows: int = 20_000,
    ) -> None:
        super().__init__(texts, taxonomy, annotators, shapes)
        self.spill_dir = spill_dir
        self.batch_rows = batch_rows
        self._parts: dict[str, list[Path]] = {name: [] for name in shapes}

    def add_task(self, task: Any, source: str) -> None:
        super().add_task(task, source)
        if len(self.regions) >= self.batch_rows:
            self._spill()

    def _spill(self) -> None:
        for name, schema in self.shapes.items():
            rows: list[dict[str, Any]] = getattr(self, name)
            if not rows:
                continue
            part = self.spill_dir / f"{name}-{len(self._parts[name]):06d}.arrow"
            pl.DataFrame(rows, schema=schema).write_ipc(part, compression="uncompressed")
            self._parts[name].append(part)
            rows.clear()

    def tables(self) -> AnnotationTables:
        self._spill()
        frames = {}
        for name, schema in self.shapes.items():
            parts = [pl.read_ipc(p) for p in self._parts[name]]
            frames[name] = pl.concat(parts, rechunk=False) if parts else pl.DataFrame(schema=schema)
        return self._with_frames(frames)


def streamed_tables(
    paths: ProjectPaths, export: Path, taxonomy: Taxonomy | None = None
) -> AnnotationTables:
    """The annotation tables of one export list (rules and Problems as TableCollector's)."""
    # The spilled batches are read back before the folder goes (on Linux a memory-mapped
    # file also stays readable after it is removed).
    with scratch_dir(paths.tmp_dir, "export-tables-") as spill:
        annotators, problems = load_annotators(paths)
        collector = SpillingCollector(
            ManifestTexts(paths),
            taxonomy or load_taxonomy(paths.taxonomy_file),
            annotators,
            load_source_shapes(paths),
            Path(spill),
        )
        collector.problems.extend(problems)
        source = export.name
        try:
            for task in iter_export_list(export):
                collector.add_task(task, source)
        except ExportListError as exc:
            collector.problems.append(
                Problem(source, None, exc.field, exc.rule, exc.value, str(exc))
            )
        except UnicodeDecodeError as exc:
            collector.problems.append(Problem(source, None, None, "file is UTF-8", None, str(exc)))
        return collector.tables()
