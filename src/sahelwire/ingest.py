"""Ingest raw articles into dataset/raw/: texts stored exactly as received, plus a manifest row.

All-or-nothing: every input is read and checked first; one bad record refuses the whole
call and dataset/raw/ stays exactly as before. Re-ingesting the same file is a no-op;
the same text under another id is reported as a duplicate and not stored twice.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sahelwire.article_metadata import detect_language, detect_title
from sahelwire.atomic import write_bytes_atomic
from sahelwire.locks import exclusive_lock
from sahelwire.manifest import STATED_METADATA, read_manifest, write_manifest
from sahelwire.paths import ProjectPaths
from sahelwire.raw_text import RawTextError, decode_article

ID_PATTERN = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,127}")
_JSONL_KEYS = {"text", "id", *STATED_METADATA}


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


def _from_jsonl(
    path: Path, data: bytes, max_bytes: int, problems: list[IngestProblem]
) -> list[Candidate]:
    out: list[Candidate] = []
    try:
        body = decode_article(data, max_bytes=max_bytes * 1000).text
    except RawTextError as exc:
        problems.append(IngestProblem(str(path), None, exc.rule, exc.detail))
        return out
    for number, line in enumerate(body.splitlines(), start=1):
        if not line.strip():
            continue

        def bad(rule: str, message: str, number: int = number) -> None:
            problems.append(IngestProblem(str(path), number, rule, message))

        try:
            obj = json.loads(line)
        except json.JSONDecodeError as exc:
            bad("jsonl_json", f"not JSON: {exc.msg} at column {exc.colno}")
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
        out.append(
            Candidate(
                article_id,
                path.name,
                number,
                decoded.text,
                stored,
                decoded.had_bom,
                stated,
                str(path),
            )
        )
    return out


def read_candidates(inputs: Iterable[Path], max_bytes: int) -> list[Candidate]:
    """Read and check every input; raise IngestRefused listing every problem found."""
    problems: list[IngestProblem] = []
    candidates: list[Candidate] = []
    for path in _expand(inputs):
        if not path.is_file():
            problems.append(IngestProblem(str(path), None, "exists", "no such file"))
            continue
        data = path.read_bytes()
        if path.suffix == ".jsonl":
            candidates += _from_jsonl(path, data, max_bytes, problems)
            continue
        try:
            candidates.append(_from_text_file(path, data, max_bytes))
        except RawTextError as exc:
            problems.append(IngestProblem(str(path), None, exc.rule, exc.detail))
    for cand in candidates:
        reason = check_id(cand.id)
        if reason:
            problems.append(IngestProblem(cand.input, cand.source_line, "id", reason))
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


def ingest(paths: ProjectPaths, inputs: Iterable[Path], max_bytes: int) -> IngestResult:
    """Add ``inputs`` to dataset/raw/ (see module docstring); raise IngestRefused on bad input."""
    candidates = read_candidates(inputs, max_bytes)
    with exclusive_lock(paths.state_dir / "locks" / "raw.lock", "ingest"):
        rows = read_manifest(paths.manifest_file)
        by_id = {r["id"]: r for r in rows}
        by_sha = {r["sha256"]: r["id"] for r in rows}
        result = IngestResult()
        problems: list[IngestProblem] = []
        new: list[Candidate] = []
        for cand in candidates:
            existing = by_id.get(cand.id)
            if existing is not None and existing["sha256"] == cand.sha256:
                result.unchanged.append(cand.id)
            elif existing is not None:
                problems.append(
                    IngestProblem(
                        cand.input,
                        cand.source_line,
                        "immutable",
                        f"id {cand.id!r} already holds a different text (sha256 {existing['sha256'][:12]}...); "
                        "raw texts are immutable: ingest the new version under a new id",
                    )
                )
            elif cand.sha256 in by_sha:
                result.duplicates.append((cand.id, by_sha[cand.sha256]))
            else:
                new.append(cand)
                by_id[cand.id] = _manifest_row(cand)
                by_sha[cand.sha256] = cand.id
        if problems:
            raise IngestRefused(problems)
        # Texts first, manifest last: a kill in between leaves unlisted text files, which
        # validate reports and the next ingest of the same input completes.
        for cand in new:
            write_bytes_atomic(paths.raw_text_path(cand.id), cand.stored)
        if new:
            write_manifest(paths, [*rows, *(by_id[c.id] for c in new)])
        result.added = [c.id for c in new]
        return result
