"""Metadata detected from an article's text: its title line and its language.

Only what the text itself shows is detected. URL, outlet, date and license are never
guessed: they stay null unless the input states them.
"""

from __future__ import annotations

import re
from collections import Counter

# Site chrome that opens many scraped pages; never a title.
_NAVIGATION_LINE = re.compile(
    r"^(skip to (main )?content|menu|search|sign in|log in|subscribe|share( news)?|home)\b",
    re.IGNORECASE,
)
_MAX_TITLE_CHARS = 300

# A few hundred function words are enough to tell these languages apart on news text;
# a model would need a download, which this project may not do at run time.
_FUNCTION_WORDS: dict[str, frozenset[str]] = {
    "en": frozenset(
        [
            "the",
            "of",
            "and",
            "to",
            "in",
            "a",
            "is",
            "that",
            "for",
            "on",
            "with",
            "as",
            "was",
            "by",
            "it",
            "at",
            "from",
            "are",
            "has",
            "have",
            "not",
            "be",
        ]
    ),
    "fr": frozenset(
        [
            "le",
            "la",
            "les",
            "de",
            "des",
            "du",
            "et",
            "en",
            "un",
            "une",
            "est",
            "que",
            "qui",
            "dans",
            "pour",
            "sur",
            "au",
            "aux",
            "avec",
            "par",
            "pas",
        ]
    ),
    "es": frozenset(
        [
            "el",
            "la",
            "los",
            "las",
            "de",
            "del",
            "y",
            "en",
            "un",
            "una",
            "es",
            "que",
            "por",
            "con",
            "para",
            "se",
            "al",
            "lo",
            "como",
        ]
    ),
    "pt": frozenset(
        [
            "o",
            "a",
            "os",
            "as",
            "de",
            "do",
            "da",
            "dos",
            "das",
            "e",
            "em",
            "um",
            "uma",
            "que",
            "para",
            "com",
            "por",
            "se",
            "no",
            "na",
        ]
    ),
    "de": frozenset(
        [
            "der",
            "die",
            "das",
            "und",
            "in",
            "den",
            "von",
            "zu",
            "mit",
            "sich",
            "des",
            "auf",
            "für",
            "ist",
            "im",
            "dem",
            "nicht",
            "ein",
            "eine",
        ]
    ),
}
_WORD = re.compile(r"[^\W\d_]+", re.UNICODE)


def detect_title(text: str) -> str | None:
    """First non-empty line that is not site navigation and is short enough for a title."""
    for line in text.splitlines():
        candidate = line.strip()
        if not candidate or _NAVIGATION_LINE.match(candidate):
            continue
        return candidate if len(candidate) <= _MAX_TITLE_CHARS else None
    return None


def detect_language(text: str) -> str | None:
    """ISO 639-1 code from function-word frequency; None when the evidence is weak."""
    words = Counter(w.lower() for w in _WORD.findall(text))
    total = sum(words.values())
    if total < 20:
        return None
    # Counted once, then summed per vocabulary: the same integers as testing every word
    # against every language, without the words x languages loop (ingest runs this per article).
    scores = {
        lang: sum(words[w] for w in vocab if w in words) / total
        for lang, vocab in _FUNCTION_WORDS.items()
    }
    ranked = sorted(scores.items(), key=lambda kv: kv[1], reverse=True)
    (best, top), (_, second) = ranked[0], ranked[1]
    if top < 0.08 or top < 1.5 * second:
        return None
    return best
