"""A Label Studio export list -> annotation tables, streamed: memory does not follow the file.

``annotation_tables`` parses a one-file export with ijson, preloads every raw text of the
manifest (``collector_for``) and keeps every output row as a dict until the end: at 10k
articles that is several times the export's size in memory. Here:

* :func:`iter_export_list` reads the list in fixed-size chunks and decodes one task at a
  time with the C JSON decoder (``json.JSONDecoder.raw_decode``), the same scanner as
  ``json.load``; only one task and one chunk are held at once;
* :class:`ManifestTexts` gives the collector each raw text when its task comes, read from
  dataset/raw/texts/ on demand, and only the ids and hashes of the manifest up front;
* :class:`SpillingCollector` turns its rows into Arrow batches every ``batch_rows`` rows
  and spills them to Arrow IPC files that the final tables memory-map, so the tables of a
  million articles are not in the heap.

The rules and Problems are the ones of :class:`~sahelwire.annotation_tables.TableCollector`,
which this module only feeds differently.
"""

from __future__ import annotations

import json
import re
import tempfile
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import polars as pl

from sahelwire.annotation_tables import (
    ANNOTATION_COLUMNS,
    CHOICE_COLUMNS,
    REGION_COLUMNS,
    RELATION_COLUMNS,
    AnnotationTables,
    TableCollector,
    read_annotators,
)
from sahelwire.paths import ProjectPaths
from sahelwire.problems import Problem
from sahelwire.taxonomy import Taxonomy, load_taxonomy

# Characters read per chunk: large enough that re-decoding the one task cut by a chunk
# boundary is negligible, small enough to be a constant next to any real export.
CHUNK_CHARS = 1 << 20
# How far from the end of the buffer a decode error can be and still mean "cut by the
# chunk boundary" (a literal such as ``false`` or a \uXXXX escape split in two).
_BOUNDARY_SLACK = 16
_WHITESPACE = re.compile(r"[ \t\n\r]*")


def _is_number(item: Any) -> bool:
    return isinstance(item, (int, float)) and not isinstance(item, bool)


class ExportListError(ValueError):
    """The export is not a complete JSON list; the message names the character offset."""


def iter_export_list(path: Path, chunk_chars: int = CHUNK_CHARS) -> Iterator[Any]:
    """Yield each element of the JSON list in ``path``, holding one element at a time."""
    decode = json.JSONDecoder().raw_decode
    with path.open(encoding="utf-8") as f:
        buf, pos, base, eof = "", 0, 0, False

        def fill() -> None:
            nonlocal buf, pos, base, eof
            more = f.read(chunk_chars)
            eof = not more
            base += pos
            buf, pos = buf[pos:] + more, 0

        def skip_whitespace() -> None:
            nonlocal pos
            while True:
                match = _WHITESPACE.match(buf, pos)
                pos = match.end() if match else pos
                if pos < len(buf) or eof:
                    return
                fill()

        def fail(what: str) -> ExportListError:
            return ExportListError(f"{what} at character offset {base + pos} of {path.name}")

        skip_whitespace()
        if buf[pos : pos + 1] != "[":
            raise fail("a Label Studio export is a JSON list: expected '['")
        pos += 1
        skip_whitespace()
        if buf[pos : pos + 1] == "]":
            return
        while True:
            while True:
                try:
                    item, end = decode(buf, pos)
                except json.JSONDecodeError as exc:
                    cut = exc.pos >= len(buf) - _BOUNDARY_SLACK or exc.msg.startswith(
                        "Unterminated string"
                    )
                    if eof or not cut:
                        pos = exc.pos
                        raise fail(f"not JSON ({exc.msg})") from None
                    fill()
                    continue
                # Only a bare number is not closed by its own last character: "-12." or
                # "1e" cut by the boundary decodes as a shorter number, so look further.
                if not eof and end + _BOUNDARY_SLACK >= len(buf) and _is_number(item):
                    fill()
                    continue
                break
            pos = end
            yield item
            skip_whitespace()
            sep = buf[pos : pos + 1]
            pos += 1
            if sep == "]":
                skip_whitespace()
                if pos < len(buf):
                    raise fail("data after the end of the list")
                return
            if sep != ",":
                pos -= 1
                raise fail("expected ',' or ']' between tasks")
            skip_whitespace()


class ManifestTexts(Mapping[str, tuple[str, str]]):
    """article id -> (raw text, manifest sha256), each text read when it is asked for.

    Like ``annotation_tables._raw_texts``: an article whose text file is unreadable is
    absent (validation reports it itself).
    """

    def __init__(self, paths: ProjectPaths) -> None:
        self.paths = paths
        self.sha: dict[str, str] = {}
        if paths.manifest_file.exists():
            with paths.manifest_file.open(encoding="utf-8") as f:
                for line in f:
                    if line.strip():
                        row = json.loads(line)
                        self.sha[row["id"]] = row["sha256"]

    def _text(self, article_id: str) -> str | None:
        try:
            return self.paths.raw_text_path(article_id).read_bytes().decode("utf-8")
        except (OSError, UnicodeDecodeError):
            return None

    def __getitem__(self, article_id: str) -> tuple[str, str]:
        sha = self.sha[article_id]
        text = self._text(article_id)
        if text is None:
            raise KeyError(article_id)
        return text, sha

    def __contains__(self, article_id: object) -> bool:
        return (
            isinstance(article_id, str)
            and article_id in self.sha
            and self.paths.raw_text_path(article_id).is_file()
        )

    def __iter__(self) -> Iterator[str]:
        return iter(self.sha)

    def __len__(self) -> int:
        return len(self.sha)


class SpillingCollector(TableCollector):
    """A TableCollector whose rows leave the heap every ``batch_rows`` rows."""

    SHAPES = (
        ("annotations", ANNOTATION_COLUMNS),
        ("regions", REGION_COLUMNS),
        ("relations", RELATION_COLUMNS),
        ("choices", CHOICE_COLUMNS),
    )

    def __init__(
        self,
        texts: Mapping[str, tuple[str, str]],
        taxonomy: Taxonomy,
        annotators: Mapping[str, str],
        spill_dir: Path,
        batch_rows: int = 20_000,
    ) -> None:
        super().__init__(texts, taxonomy, annotators)
        self.spill_dir = spill_dir
        self.batch_rows = batch_rows
        self._parts: dict[str, list[Path]] = {name: [] for name, _ in self.SHAPES}

    def add_task(self, task: Any, source: str) -> None:
        super().add_task(task, source)
        if len(self.regions) >= self.batch_rows:
            self._spill()

    def _spill(self) -> None:
        for name, schema in self.SHAPES:
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
        for name, schema in self.SHAPES:
            parts = [pl.read_ipc(p) for p in self._parts[name]]
            frames[name] = pl.concat(parts, rechunk=False) if parts else pl.DataFrame(schema=schema)
        return AnnotationTables(
            annotations=frames["annotations"],
            regions=frames["regions"],
            relations=frames["relations"],
            choices=frames["choices"],
            problems=self.problems,
            drafts=self.drafts,
            tasks=self.tasks,
            rejected=self.rejected,
        )


def streamed_tables(
    paths: ProjectPaths, export: Path, spill_dir: Path, taxonomy: Taxonomy | None = None
) -> AnnotationTables:
    """The annotation tables of one export list; ``spill_dir`` must outlive the tables."""
    collector = SpillingCollector(
        ManifestTexts(paths),
        taxonomy or load_taxonomy(paths.taxonomy_file),
        read_annotators(paths),
        spill_dir,
    )
    source = export.name
    try:
        for task in iter_export_list(export):
            collector.add_task(task, source)
    except (ExportListError, UnicodeDecodeError) as exc:
        collector.problems.append(
            Problem(source, None, None, "export is complete JSON", None, str(exc))
        )
    return collector.tables()


def spill_folder(paths: ProjectPaths) -> Path:
    """A fresh folder under .sahelwire/tmp/ for :func:`streamed_tables`' spilled batches."""
    root = paths.state_dir / "tmp"
    root.mkdir(parents=True, exist_ok=True)
    return Path(tempfile.mkdtemp(prefix="export-tables-", dir=root))
