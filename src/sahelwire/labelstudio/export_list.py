"""One Label Studio JSON export list, read task by task: memory does not follow the file.

The list is read in fixed-size chunks and each task is decoded with the C JSON decoder
(``json.JSONDecoder.raw_decode``), the scanner ``json.load`` itself uses, so reading is as
fast as ``json.load`` while holding one task and one chunk instead of the whole list (a
``json.load`` of a 850 MB export peaks near 9 GB). No dependency beyond the standard library,
so any module (``annotation_tables`` included) can use it.

Decoding is strict (:mod:`sahelwire.labelstudio.export_json`): duplicate keys, ``NaN`` and
``Infinity``, numbers that overflow, lone surrogates and NUL end the list with an
:class:`ExportListError` naming the rule, the task's offset and the JSON path.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from sahelwire.labelstudio.export_json import NumberError, StrictDecoder, StrictJSONError

# Characters read per chunk: large enough that re-decoding the one task cut by a chunk
# boundary is negligible, small enough to be a constant next to any real export.
CHUNK_CHARS = 1 << 20
# How far from the end of the buffer a decode error can be and still mean "cut by the
# chunk boundary" (a literal such as ``false`` or a \uXXXX escape split in two).
_BOUNDARY_SLACK = 16
# How much further to read before refusing a number (longer than any number literal that
# could be accepted: integers are limited to 4300 digits).
_NUMBER_READAHEAD = 8192
_WHITESPACE = re.compile(r"[ \t\n\r]*")


def _is_number(item: Any) -> bool:
    return isinstance(item, (int, float)) and not isinstance(item, bool)


class ExportListError(ValueError):
    """The export is not a complete, strict JSON list; the message names the character offset.

    ``rule``/``field``/``value`` are set when a strict-JSON rule was broken (else ``rule`` is
    ``export is complete JSON``).
    """

    def __init__(
        self,
        message: str,
        rule: str = "export is complete JSON",
        field: str | None = None,
        value: Any = None,
    ) -> None:
        super().__init__(message)
        self.rule, self.field, self.value = rule, field, value


def iter_export_list(path: Path, chunk_chars: int = CHUNK_CHARS) -> Iterator[Any]:
    """Yield each element of the JSON list in ``path``, holding one element at a time."""
    decode = StrictDecoder().raw_decode
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

        def strict(exc: StrictJSONError) -> ExportListError:
            where = f" (field {exc.field})" if exc.field else ""
            return ExportListError(
                f"{exc.message}: in the element starting at character offset {base + pos} "
                f"of {path.name}{where}",
                exc.rule,
                exc.field,
                exc.value,
            )

        skip_whitespace()
        if buf[pos : pos + 1] != "[":
            raise fail("a Label Studio export is a JSON list: expected '['")
        pos += 1
        skip_whitespace()
        if buf[pos : pos + 1] == "]":
            return
        while True:
            number_refused_at: int | None = None
            while True:
                try:
                    item, end = decode(buf, pos)
                except NumberError as exc:
                    # A long number cut by the chunk boundary reads as a different number
                    # (400 nines without their "e-300" overflow): read a little further
                    # before refusing, never the rest of the file.
                    if number_refused_at is None:
                        number_refused_at = base + len(buf)
                    if not eof and base + len(buf) - number_refused_at < _NUMBER_READAHEAD:
                        fill()
                        continue
                    raise strict(exc) from None
                except StrictJSONError as exc:
                    raise strict(exc) from None
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
