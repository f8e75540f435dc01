"""Ingest raw articles into dataset/raw/: texts stored exactly as received, plus a manifest row.

All-or-nothing: every input is read and checked first; one bad record refuses the whole
call and dataset/raw/ stays exactly as before. Re-ingesting the same file is a no-op;
the same text under another id is reported as a duplicate and not stored twice.

Streaming, so a JSONL of a million articles is never in memory: the inputs are read twice,
record by record. The first pass checks every record and classifies it against the manifest
(held in an on-disk index, :mod:`sahelwire.raw.ingest_index`), keeping no text; nothing is
written unless the whole pass found no problem. The second pass reads the inputs again and
writes the new texts; a record whose bytes differ from the first pass (the input changed
meanwhile) refuses the call and removes the texts this call created, so dataset/raw/ is
again exactly as before. The manifest is written last, from the index, sorted by id.
"""

from __future__ import annotations

import contextlib
import hashlib
import itertools
import json
import os
import re
import tempfile
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sahelwire.io.locks import exclusive_lock
from sahelwire.io.paths import ProjectPaths
from sahelwire.io.text_files import DuplicateJSONKey, unique_pairs
from sahelwire.raw.article_metadata import detect_language, detect_title
from sahelwire.raw.ingest_index import ManifestIndex, manifest_index, write_lines_atomic
from sahelwire.raw.manifest import STATED_METADATA, manifest_fields
from sahelwire.raw.raw_text import UTF8_BOM, RawTextError, decode_article

ID_PATTERN = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,127}")
_JSONL_KEYS = {"text", "id", *STATED_METADATA}
_UTF16_BOMS = (b"\xff\xfe", b"\xfe\xff")
# A JSONL line holds one text of at most max_bytes UTF-8 bytes; JSON escaping can make it
# up to 6x longer (a control character as \u0001), plus a little metadata. A longer line is
# refused without being read whole.
_LINE_INFLATION = 6
_LINE_METADATA_BYTES = 1 << 20


@dataclass(frozen=True)
class IngestProblem:
    input: str
    line: int | None
    rule: str
    message: str

    def __str__(self) -> str:
        where = self.input if self.line is None else f"{self.input}:{self.line}"
        return f"{where}: [{self.rule}] {self.message}"


class IngestRefused(Exception):
    """One or more inputs are bad; nothing was written."""

    def __init__(self, problems: list[IngestProblem]) -> None:
        super().__init__("\n".join(str(p) for p in problems))
        self.problems = problems


@dataclass(frozen=True)
class Candidate:
    id: str
    source_file: str
    source_line: int | None
    text: str
    stored: bytes
    had_bom: bool
    stated: dict[str, Any]
    # The input path as the user gave it: errors name it (source_file is just the name).
    input: str = ""

    @property
    def sha256(self) -> str:
        return hashlib.sha256(self.stored).hexdigest()


@dataclass
class IngestResult:
    added: list[str] = field(default_factory=list)
    unchanged: list[str] = field(default_factory=list)
    duplicates: list[tuple[str, str]] = field(default_factory=list)  # (input id, existing id)


def check_id(article_id: str) -> str | None:
    """Why ``article_id`` cannot name a file under dataset/raw/, or None if it can."""
    if "/" in article_id or "\\" in article_id or ".." in article_id:
        return f"id {article_id!r} contains a path separator or '..'"
    if not ID_PATTERN.fullmatch(article_id):
        return f"id {article_id!r} must match {ID_PATTERN.pattern}"
    return None


def _expand(paths: Iterable[Path]) -> list[Path]:
    files: list[Path] = []
    for path in paths:
        if path.is_dir():
            files += sorted(p for p in path.rglob("*") if p.suffix in (".txt", ".jsonl"))
        else:
            files.append(path)
    return files


def _from_text_file(path: Path, data: bytes, max_bytes: int) -> Candidate:
    decoded = decode_article(data, max_bytes=max_bytes)
    stored = decoded.text.encode("utf-8")
    return Candidate(
        path.stem, path.name, None, decoded.text, stored, decoded.had_bom, {}, str(path)
    )


def _jsonl_lines(
    path: Path, max_line: int, problems: list[IngestProblem]
) -> Iterator[tuple[int, str]]:
    """(line number, line) of a JSONL file, streamed; file-level and byte problems reported.

    Lines are split on LF only (JSON strings may hold U+2028 or a lone CR).
    """
    with path.open("rb") as f:
        offset, number, content = 0, 0, False
        while True:
            raw = f.readline(max_line + 1)
            if not raw:
                break
            number += 1
            start = offset
            offset += len(raw)
            if number == 1:
                if raw.startswith(_UTF16_BOMS):
                    problems.append(
                        IngestProblem(
                            str(path),
                            None,
                            "utf8",
                            "UTF-16 byte-order mark: the text is not UTF-8; convert it first",
                        )
                    )
                    return
                if raw.startswith(UTF8_BOM):
                    raw, start = raw[len(UTF8_BOM) :], start + len(UTF8_BOM)
            if len(raw) > max_line and not raw.endswith(b"\n"):
                while raw and not raw.endswith(b"\n"):  # skip the rest, never held whole
                    raw = f.readline(max_line + 1)
                    offset += len(raw)
                problems.append(
                    IngestProblem(str(path), number, "max_size", f"line is over {max_line} bytes")
                )
                content = True
                continue
            nul = raw.find(b"\x00")
            if nul >= 0:
                problems.append(
                    IngestProblem(
                        str(path),
                        number,
                        "no_nul",
                        f"NUL byte at byte offset {start + nul}: binary data, not text",
                    )
                )
                content = True
                continue
            try:
                line = raw.decode("utf-8")
            except UnicodeDecodeError as exc:
                hint = (
                    " (looks like Latin-1/Windows-1252)"
                    if any(0xA0 <= b <= 0xFF for b in raw)
                    else ""
                )
                problems.append(
                    IngestProblem(
                        str(path),
                        number,
                        "utf8",
                        f"invalid UTF-8 at byte offset {start + exc.start}{hint}: "
                        f"{raw[max(0, exc.start - 12) : exc.end + 12]!r}; "
                        "re-encode the file as UTF-8 before ingesting",
                    )
                )
                content = True
                continue
            if not line.strip():
                continue
            content = True
            yield number, line
    if number == 0:
        problems.append(IngestProblem(str(path), None, "not_empty", "the file is empty"))
    elif not content:
        problems.append(
            IngestProblem(str(path), None, "not_blank", "the text is empty or whitespace only")
        )


def _from_jsonl(path: Path, max_bytes: int, problems: list[IngestProblem]) -> Iterator[Candidate]:
    max_line = _LINE_INFLATION * max_bytes + _LINE_METADATA_BYTES
    for number, line in _jsonl_lines(path, max_line, problems):

        def bad(rule: str, message: str, number: int = number) -> None:
            problems.append(IngestProblem(str(path), number, rule, message))

        try:
            obj = json.loads(line, object_pairs_hook=unique_pairs)
        except json.JSONDecodeError as exc:
            bad("jsonl_json", f"not JSON: {exc.msg} at column {exc.colno}")
            continue
        except DuplicateJSONKey as exc:  # two texts or ids: which one was meant is unknown
            bad("jsonl_keys", str(exc))
            continue
        if not isinstance(obj, dict):
            bad("jsonl_object", f"a JSON {type(obj).__name__}, not an object")
            continue
        if "text" not in obj:
            bad("jsonl_text", "object has no 'text' field")
            continue
        if not isinstance(obj["text"], str):
            bad("jsonl_text", "'text' is not a string")
            continue
        unknown = sorted(set(obj) - _JSONL_KEYS)
        if unknown:
            bad("jsonl_keys", f"unknown keys {unknown}; allowed: {sorted(_JSONL_KEYS)}")
            continue
        try:
            decoded = decode_article(
                obj["text"].encode("utf-8", errors="surrogatepass"), max_bytes=max_bytes
            )
        except RawTextError as exc:
            bad(exc.rule, exc.detail)
            continue
        stored = decoded.text.encode("utf-8")
        article_id = obj.get("id") or hashlib.sha256(stored).hexdigest()[:16]
        if not isinstance(article_id, str):
            bad("id", "'id' is not a string")
            continue
        stated = {k: obj.get(k) for k in STATED_METADATA if obj.get(k) is not None}
        yield Candidate(
            article_id,
            path.name,
            number,
            decoded.text,
            stored,
            decoded.had_bom,
            stated,
            str(path),
        )


def iter_candidates(
    inputs: Iterable[Path], max_bytes: int, problems: list[IngestProblem]
) -> Iterator[Candidate]:
    """Every good record of ``inputs`` in input order, one at a time; the bad ones (and
    ids that cannot name a file) are appended to ``problems`` instead."""
    for path in _expand(inputs):
        if not path.is_file():
            problems.append(IngestProblem(str(path), None, "exists", "no such file"))
            continue
        if path.suffix == ".jsonl":
            found: Iterable[Candidate] = _from_jsonl(path, max_bytes, problems)
        else:
            if path.stat().st_size > max_bytes:  # refused without reading it
                size = path.stat().st_size
                problems.append(
                    IngestProblem(
                        str(path),
                        None,
                        "max_size",
                        f"{size} bytes is over the limit of {max_bytes} bytes",
                    )
                )
                continue
            try:
                found = [_from_text_file(path, path.read_bytes(), max_bytes)]
            except RawTextError as exc:
                problems.append(IngestProblem(str(path), None, exc.rule, exc.detail))
                continue
        for cand in found:
            reason = check_id(cand.id)
            if reason:
                problems.append(IngestProblem(cand.input, cand.source_line, "id", reason))
                continue
            yield cand


def read_candidates(inputs: Iterable[Path], max_bytes: int) -> list[Candidate]:
    """Read and check every input; raise IngestRefused listing every problem found.

    Holds every text: for small inputs and tests. ``ingest`` streams instead.
    """
    problems: list[IngestProblem] = []
    candidates = list(iter_candidates(inputs, max_bytes, problems))
    if problems:
        raise IngestRefused(problems)
    return candidates


def _manifest_row(cand: Candidate) -> dict[str, Any]:
    row: dict[str, Any] = {
        "id": cand.id,
        "source_file": cand.source_file,
        "source_line": cand.source_line,
        "sha256": cand.sha256,
        "n_chars": len(cand.text),
        "n_bytes": len(cand.stored),
        "had_bom": cand.had_bom,
        "title": detect_title(cand.text),
        "language": detect_language(cand.text),
    }
    row.update({k: cand.stated.get(k) for k in STATED_METADATA})
    return row


def _classify(
    inputs: list[Path], max_bytes: int, index: ManifestIndex, result: IngestResult
) -> None:
    """First pass: check every record and sort it into added/unchanged/duplicate.

    New rows go into ``index`` with their record number. Raises IngestRefused with every
    problem: bad records first; conflicts with the manifest only when none is bad.
    """
    problems: list[IngestProblem] = []
    conflicts: list[IngestProblem] = []
    for number, cand in enumerate(iter_candidates(inputs, max_bytes, problems)):
        sha = cand.sha256
        existing = index.sha_of(cand.id)
        if existing == sha:
            result.unchanged.append(cand.id)
        elif existing is not None or index.has_id(cand.id):
            conflicts.append(
                IngestProblem(
                    cand.input,
                    cand.source_line,
                    "immutable",
                    f"id {cand.id!r} already holds a different text (sha256 {str(existing)[:12]}...); "
                    "raw texts are immutable: ingest the new version under a new id",
                )
            )
        elif (same := index.id_with_sha(sha)) is not None:
            result.duplicates.append((cand.id, same))
        elif not problems and not conflicts:  # once refused, only look for more problems
            index.add(_manifest_row(cand), number)
            result.added.append(cand.id)
    if problems or conflicts:
        raise IngestRefused(problems or conflicts)


def _write_text(path: Path, data: bytes) -> None:
    """Temp file + rename, not fsynced: one sync for all texts comes before the manifest."""
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
        os.chmod(tmp, 0o644)
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise


def _changed(where: Candidate | None, inputs: list[Path], detail: str) -> IngestRefused:
    problem = IngestProblem(
        where.input if where else str(inputs[-1]),
        where.source_line if where else None,
        "input_changed",
        f"{detail} while it was being ingested; nothing was written, ingest it again",
    )
    return IngestRefused([problem])


def _write_texts(
    paths: ProjectPaths, inputs: list[Path], max_bytes: int, index: ManifestIndex
) -> None:
    """Second pass: write the new texts; on any failure remove the ones this call created.

    The good records come in the same order as in the first pass, so the new ones are
    found by their record number and checked to be the very same id and bytes.
    """
    # Counted, not listed: the rollback finds the written ids again in the index.
    written = 0
    preexisting: set[str] = set()  # unlisted texts left by a killed ingest: never removed
    pending = index.new_records()
    want = next(pending, None)
    paths.raw_texts_dir.mkdir(parents=True, exist_ok=True)
    try:
        problems: list[IngestProblem] = []
        for number, cand in enumerate(iter_candidates(inputs, max_bytes, problems)):
            if problems:
                raise _changed(cand, inputs, "an input record became invalid")
            if want is None:
                break
            if number != want[0]:
                continue  # unchanged or duplicate: nothing to write
            if (cand.id, cand.sha256) != want[1:]:
                raise _changed(cand, inputs, f"record {want[1]!r} changed")
            target = paths.raw_text_path(cand.id)
            if target.exists():
                preexisting.add(cand.id)
            _write_text(target, cand.stored)
            written += 1
            want = next(pending, None)
        if want is not None or problems:
            raise _changed(None, inputs, "an input record disappeared or became invalid")
    except BaseException:
        for _, article_id, _ in itertools.islice(index.new_records(), written):
            if article_id not in preexisting:
                with contextlib.suppress(FileNotFoundError):
                    paths.raw_text_path(article_id).unlink()
        raise


def ingest(paths: ProjectPaths, inputs: Iterable[Path], max_bytes: int) -> IngestResult:
    """Add ``inputs`` to dataset/raw/ (see module docstring); raise IngestRefused on bad input."""
    inputs = list(inputs)
    with (
        exclusive_lock(paths.state_dir / "locks" / "raw.lock", "ingest"),
        manifest_index(paths.tmp_dir, manifest_fields(paths)) as index,
    ):
        index.load_manifest(paths.manifest_file)
        result = IngestResult()
        _classify(inputs, max_bytes, index, result)
        # Texts first, manifest last: a kill in between leaves unlisted text files, which
        # validate reports and the next ingest of the same input completes.
        if result.added:
            _write_texts(paths, inputs, max_bytes, index)
            # One sync makes every text durable before the manifest lists it (an fsync
            # per text costs milliseconds each: minutes at 100k articles).
            os.sync()
            write_lines_atomic(paths.manifest_file, index.sorted_lines())
        return result
