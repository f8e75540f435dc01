"""One Label Studio JSON export list, read task by task: memory does not follow the file.

The list is read in fixed-size chunks and each task is decoded with the C JSON decoder
(``json.JSONDecoder.raw_decode``), the scanner ``json.load`` itself uses, so reading is as
fast as ``json.load`` while holding one task and one chunk instead of the whole list (a
``json.load`` of a 850 MB export peaks near 9 GB). No dependency beyond the standard library,
so any module (``annotation_tables`` included) can use it.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

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
