"""Label Studio export JSON, decoded strictly: what the standard decoder accepts but a
careful reader must not.

``json.loads`` silently keeps the last of two equal keys, reads ``NaN``/``Infinity`` and
numbers too big for a float as non-finite floats, accepts ``\\ud800`` escapes that decode to
lone surrogates (a str that cannot be written as UTF-8, so the first ``.encode()`` or Parquet
write crashes far from the export), and raises ``ValueError`` or ``RecursionError`` rather
than ``JSONDecodeError`` on integers with thousands of digits or absurd nesting. Label Studio
writes none of these (it serializes with Python's ``json`` from database values), so each
one means the file was edited or damaged, and which value was meant is unknown: every one is
refused as a :class:`StrictJSONError` naming the rule, the JSON path and the value.

Cost: the duplicate-key check is an ``object_pairs_hook`` (one C-level ``dict(pairs)`` and a
length comparison per object, ~1.4 x ``json.loads``); float and constant hooks run only for
floats and ``NaN``/``Infinity`` literals; text values are walked only when the raw JSON
holds an escape that could produce a surrogate or NUL (a C-speed regex search), so the
common case pays nothing for them.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

# JSON escapes that may decode to a UTF-16 surrogate (\uD800-\uDFFF) or NUL. A valid pair
# of escaped surrogates also matches: the walk below then finds nothing and accepts it.
SUSPECT_ESCAPE = re.compile(r"\\u(?:[dD][89a-fA-F][0-9a-fA-F]{2}|0000)")
# A decoded str never holds a valid surrogate pair (the decoder joins escaped pairs into one
# code point), so any surrogate left is a lone one.
_BAD_CHAR = re.compile("[\ud800-\udfff\x00]")
UTF8_BOM = b"\xef\xbb\xbf"


class StrictJSONError(ValueError):
    """A JSON text Label Studio would not have written; ``field`` is a JSON path or None."""

    def __init__(
        self, rule: str, message: str, *, field: str | None = None, value: Any = None
    ) -> None:
        super().__init__(message)
        self.rule = rule
        self.field = field
        self.value = value
        self.message = message
        self.record: str | None = None


class NumberError(StrictJSONError):
    """A number literal that is not a finite float64 (may be cut by a read boundary)."""


def _parse_float(literal: str) -> float:
    value = float(literal)
    if not math.isfinite(value):
        raise NumberError(
            "numbers are finite float64",
            f"the number {literal[:40]}{'…' if len(literal) > 40 else ''} overflows a float64 "
            "to infinity",
            value=literal[:40],
        )
    return value


def _parse_constant(literal: str) -> float:
    raise NumberError(
        "numbers are finite float64",
        f"{literal} is not JSON (Python's json writes it for a non-finite float; Label Studio "
        "never stores one)",
        value=literal,
    )


class StrictDecoder:
    """A ``json.JSONDecoder`` with the checks of this module; reuse one per file or stream."""

    def __init__(self) -> None:
        self.duplicates: list[tuple[dict[str, Any], str, list[Any]]] = []
        self._decoder = json.JSONDecoder(
            object_pairs_hook=self._object,
            parse_float=_parse_float,
            parse_constant=_parse_constant,
        )

    def _object(self, pairs: list[tuple[str, Any]]) -> dict[str, Any]:
        obj = dict(pairs)
        if len(obj) != len(pairs):
            seen: set[str] = set()
            for key, _ in pairs:
                if key in seen:
                    values = [v for k, v in pairs if k == key]
                    self.duplicates.append((obj, key, values))
                seen.add(key)
        return obj

    def raw_decode(self, text: str, pos: int) -> tuple[Any, int]:
        """``JSONDecoder.raw_decode`` with the checks; ``JSONDecodeError`` passes through."""
        self.duplicates.clear()
        try:
            value, end = self._decoder.raw_decode(text, pos)
        except RecursionError:
            raise StrictJSONError(
                "JSON nesting within the interpreter's limit",
                "nested too deeply to read (no Label Studio export nests like this)",
            ) from None
        except StrictJSONError:
            raise
        except json.JSONDecodeError:
            raise
        except ValueError as exc:  # e.g. an integer with more than 4300 digits
            raise NumberError(
                "integers have at most 4300 digits",
                f"a number literal could not be read: {exc}",
            ) from None
        self.check(value, text, pos, end)
        return value, end

    def check(self, value: Any, text: str, start: int, end: int) -> None:
        """Refuse duplicate keys, and lone surrogates or NUL anywhere in ``value``."""
        if self.duplicates:
            obj, key, values = self.duplicates[0]
            path = find_path(value, lambda node: node is obj)
            field = f"{path}.{key}" if path else key
            error = StrictJSONError(
                "JSON object keys are unique",
                f"the key {key!r} appears {len(values)} times in one object; the standard "
                "decoder silently keeps the last one, so which value was meant is unknown",
                field=field,
                value=_short(values),
            )
            error.record = record_of(value, field)
            raise error
        if SUSPECT_ESCAPE.search(text, start, end):
            bad = next(_bad_strings(value, ""), None)
            if bad is not None:
                path, string = bad
                kind = "NUL" if "\x00" in string else "a lone surrogate"
                error = StrictJSONError(
                    "text is valid Unicode without NUL",
                    f"the string holds {kind} (a \\u escape that is not a character), which "
                    "cannot be written as UTF-8",
                    field=path or "(top level)",
                    value=printable(string)[:80],
                )
                error.record = record_of(value, path)
                raise error


def printable(text: str) -> str:
    """``text`` with lone surrogates written as ``\\udXXX`` (so it can be printed as UTF-8)."""
    return text.encode("utf-8", "backslashreplace").decode("utf-8")


def brief(value: Any) -> Any:
    """A value for a Problem: scalars as they are, containers as short printable text."""
    if value is None or isinstance(value, (bool, int, float)):
        return value
    text = value if isinstance(value, str) else repr(value)
    text = printable(text)
    return text if len(text) <= 120 else text[:120] + "…"


def record_of(task: Any, path: str) -> str | None:
    """``task 2 (article X)/annotation 7`` for a JSON path inside a Label Studio task."""
    if not isinstance(task, dict):
        return None
    data = task.get("data")
    article = data.get("article_id") if isinstance(data, dict) else None
    record = f"task {printable(str(task.get('id')))}"
    if isinstance(article, str):
        record += f" (article {printable(article)})"
    match = re.match(r"annotations\[(\d+)\]", path)
    annotations = task.get("annotations")
    if match and isinstance(annotations, list) and int(match.group(1)) < len(annotations):
        annotation = annotations[int(match.group(1))]
        if isinstance(annotation, dict):
            record += f"/annotation {printable(str(annotation.get('id')))}"
    return record


def _short(value: Any) -> str:
    text = json.dumps(value, ensure_ascii=True, default=str)
    return text if len(text) <= 120 else text[:120] + "…"


def find_path(root: Any, match: Any) -> str | None:
    """The JSON path (``a.b[2].c``) of the first node for which ``match(node)`` is true."""
    stack: list[tuple[Any, str]] = [(root, "")]
    while stack:
        node, path = stack.pop()
        if match(node):
            return path
        if isinstance(node, dict):
            items = [(v, f"{path}.{k}" if path else str(k)) for k, v in node.items()]
        elif isinstance(node, list):
            items = [(v, f"{path}[{i}]") for i, v in enumerate(node)]
        else:
            continue
        stack.extend(reversed(items))
    return None


def _bad_strings(node: Any, path: str) -> Iterator[tuple[str, str]]:
    """(path, string) for every key or string value holding a lone surrogate or NUL."""
    stack: list[tuple[Any, str]] = [(node, path)]
    while stack:
        current, where = stack.pop()
        if isinstance(current, str):
            if _BAD_CHAR.search(current):
                yield where, current
        elif isinstance(current, dict):
            items = []
            for k, v in current.items():
                child = f"{where}.{k}" if where else str(k)
                if _BAD_CHAR.search(k):
                    yield child + " (key)", k
                items.append((v, child))
            stack.extend(reversed(items))
        elif isinstance(current, list):
            stack.extend(reversed([(v, f"{where}[{i}]") for i, v in enumerate(current)]))


@dataclass(frozen=True)
class DocumentKind:
    """What a strictly read file holds, as its problems name it."""

    what: str  # the rule: "file is one complete <what>"
    fix: str  # what to do about a file cut short
    twice: str  # the likely cause of data after the value


TASK_FILE = DocumentKind("JSON task", "re-run pull", "two tasks in one file, or a bad merge?")
ANNOTATOR_LIST = DocumentKind(
    "JSON object", "restore it from git, or re-run pull", "two lists in one file, or a bad merge?"
)


def loads_document(data: bytes, kind: DocumentKind = TASK_FILE) -> Any:
    """One whole JSON document from ``data`` (a pulled task file, or ``kind``), strictly.

    Refuses a byte-order mark, bytes that are not UTF-8, an empty file, trailing data after
    the value, and everything :class:`StrictDecoder` refuses.
    """
    if data.startswith(UTF8_BOM):
        raise StrictJSONError(
            "no byte-order mark",
            "the file starts with a UTF-8 byte-order mark; `labelstudio pull` never writes one "
            "(was it saved by an editor?)",
            value="EF BB BF",
        )
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise StrictJSONError(
            "file is UTF-8",
            f"invalid UTF-8 at byte offset {exc.start} ({exc.reason})",
            value=data[max(0, exc.start - 8) : exc.start + 8].hex(" "),
        ) from None
    if not text.strip():
        raise StrictJSONError(f"file is one complete {kind.what}", "the file is empty")
    decoder = StrictDecoder()
    try:
        start = len(text) - len(text.lstrip())
        value, end = decoder.raw_decode(text, start)
    except json.JSONDecodeError as exc:
        raise StrictJSONError(
            f"file is one complete {kind.what}",
            f"not JSON at line {exc.lineno} column {exc.colno}: {exc.msg} "
            f"(truncated or corrupted; {kind.fix})",
        ) from None
    rest = text[end:]
    if rest.strip():
        line = text.count("\n", 0, end) + 1
        raise StrictJSONError(
            f"file is one complete {kind.what}",
            f"data after the end of the JSON value at line {line} ({kind.twice})",
            value=rest.strip()[:40],
        )
    return value
