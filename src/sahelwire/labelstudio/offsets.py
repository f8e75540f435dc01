"""Span offsets: SahelWire stores Unicode code points; Label Studio's unit is measured.

Measured against the real Label Studio 1.23.2 frontend in headless Chromium (docs/offsets.md,
tests/labelstudio/test_browser_offsets.py): ``<Text>`` regions selected with the mouse after
astral-plane emoji and a ``\\r\\n`` export code-point offsets into the task text as stored
(``\\r\\n`` counts as two), and regions created through the API in code points are displayed
on the right characters. So the conversion to and from Label Studio is the identity today;
it stays a named seam, with exact UTF-16 conversions, so a future frontend that switches to
JavaScript string indices (as label-studio#1347 reported in 2021) is a one-line change here
that the browser test would catch.
"""

from __future__ import annotations

from bisect import bisect_left
from functools import lru_cache
from typing import Literal

LABEL_STUDIO_OFFSET_UNIT: Literal["codepoint", "utf16"] = "codepoint"


class OffsetError(ValueError):
    """An offset outside the text, or inside a UTF-16 surrogate pair."""


class Utf16Index:
    """Code point <-> UTF-16 code unit offsets for one text, O(log n) per conversion."""

    def __init__(self, text: str) -> None:
        self.text = text
        # Code point positions of astral characters (2 UTF-16 units each); usually few.
        self._astral = [i for i, ch in enumerate(text) if ord(ch) > 0xFFFF]
        self.utf16_length = len(text) + len(self._astral)

    def to_utf16(self, cp: int) -> int:
        if not 0 <= cp <= len(self.text):
            raise OffsetError(f"code point offset {cp} outside 0..{len(self.text)}")
        return cp + bisect_left(self._astral, cp)

    def to_codepoint(self, u16: int) -> int:
        if not 0 <= u16 <= self.utf16_length:
            raise OffsetError(f"UTF-16 offset {u16} outside 0..{self.utf16_length}")
        lo, hi = 0, len(self._astral)
        # Number of astral characters wholly before u16: the k with astral[k] + k < u16.
        while lo < hi:
            mid = (lo + hi) // 2
            if self._astral[mid] + mid < u16:
                lo = mid + 1
            else:
                hi = mid
        k = lo
        if k > 0 and self._astral[k - 1] + (k - 1) + 1 == u16:
            raise OffsetError(f"UTF-16 offset {u16} falls inside a surrogate pair")
        return u16 - k


@lru_cache(maxsize=8)
def _index(text: str) -> Utf16Index:
    # A parser converts every region of one article in a row: the index is built once per
    # text (str caches its hash, so a cache hit costs no rescan of a long article).
    return Utf16Index(text)


def codepoint_to_utf16(text: str, i: int) -> int:
    return _index(text).to_utf16(i)


def utf16_to_codepoint(text: str, i: int) -> int:
    return _index(text).to_codepoint(i)


def to_label_studio(text: str, start: int, end: int) -> tuple[int, int]:
    """Code-point span -> the offsets Label Studio stores for ``text``."""
    if not 0 <= start <= end <= len(text):
        raise OffsetError(f"span {start}..{end} outside 0..{len(text)}")
    if LABEL_STUDIO_OFFSET_UNIT == "codepoint":
        return start, end
    index = _index(text)
    return index.to_utf16(start), index.to_utf16(end)


def from_label_studio(text: str, start: int, end: int) -> tuple[int, int]:
    """Label Studio offsets for ``text`` -> code-point span (raises OffsetError when invalid)."""
    if LABEL_STUDIO_OFFSET_UNIT == "codepoint":
        if not 0 <= start <= end <= len(text):
            raise OffsetError(f"span {start}..{end} outside 0..{len(text)}")
        return start, end
    index = _index(text)
    start, end = index.to_codepoint(start), index.to_codepoint(end)
    if start > end:
        raise OffsetError(f"span {start}..{end} is reversed")
    return start, end
