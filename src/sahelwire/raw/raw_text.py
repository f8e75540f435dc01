"""Decoding raw article bytes: strict UTF-8, refusing what is not text.

The text is kept exactly as received (no stripping, no newline changes); the only
change is removing a UTF-8 byte-order mark, which is an encoding marker rather than
text, and which the manifest records.
"""

from __future__ import annotations

from dataclasses import dataclass

UTF8_BOM = b"\xef\xbb\xbf"
_UTF16_BOMS = (b"\xff\xfe", b"\xfe\xff")
# C0 controls other than tab, LF, VT, FF, CR: rare in text, common in binary files.
_BINARY_CONTROLS = {c for c in range(32) if c not in (9, 10, 11, 12, 13)} | {127}
_BINARY_CONTROL_CHARS = tuple(chr(c) for c in sorted(_BINARY_CONTROLS))


class RawTextError(ValueError):
    """The bytes are not acceptable article text; ``rule`` names the rule broken."""

    def __init__(self, rule: str, detail: str) -> None:
        super().__init__(detail)
        self.rule = rule
        self.detail = detail


@dataclass(frozen=True)
class DecodedText:
    text: str
    had_bom: bool


def decode_article(data: bytes, *, max_bytes: int) -> DecodedText:
    """Return the article text from ``data`` or raise RawTextError naming the rule."""
    if len(data) > max_bytes:
        raise RawTextError("max_size", f"{len(data)} bytes is over the limit of {max_bytes} bytes")
    if not data:
        raise RawTextError("not_empty", "the file is empty")
    if data.startswith(_UTF16_BOMS):
        raise RawTextError(
            "utf8", "UTF-16 byte-order mark: the text is not UTF-8; convert it first"
        )
    had_bom = data.startswith(UTF8_BOM)
    body = data[len(UTF8_BOM) :] if had_bom else data
    nul = body.find(b"\x00")
    if nul >= 0:
        raise RawTextError("no_nul", f"NUL byte at byte offset {nul}: binary data, not text")
    try:
        text = body.decode("utf-8", errors="strict")
    except UnicodeDecodeError as exc:
        snippet = body[max(0, exc.start - 12) : exc.end + 12]
        hint = " (looks like Latin-1/Windows-1252)" if _looks_latin1(body) else ""
        raise RawTextError(
            "utf8",
            f"invalid UTF-8 at byte offset {exc.start}{hint}: {snippet!r}; "
            "re-encode the file as UTF-8 before ingesting",
        ) from None
    # str.count per control character runs in C: ingest calls this once per article.
    controls = sum(map(text.count, _BINARY_CONTROL_CHARS))
    if controls and controls / len(text) > 0.01:
        raise RawTextError("text_like", f"{controls} control characters: binary data, not text")
    if not text.strip():
        raise RawTextError("not_blank", "the text is empty or whitespace only")
    return DecodedText(text=text, had_bom=had_bom)


def _looks_latin1(body: bytes) -> bool:
    return any(0xA0 <= b <= 0xFF for b in body) and body.isascii() is False
