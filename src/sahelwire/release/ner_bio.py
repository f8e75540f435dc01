"""The ``ner_bio`` view: sentences of the page text as tokens with BIO entity tags, lossless.

Design (stated in the card and tested on every gold mention of the committed corpus):

- **Every zone is kept.** The whole text is cut into segments at zone boundaries; each
  segment carries its zone (``BODY`` for text no zone covers), so a trainer picks the
  article body with a filter instead of finding mentions silently missing.
- **Rows are sentences**, never whole articles: segments are cut at line breaks, then at
  sentence ends; no cut ever falls inside a gold span of any layer, so every mention stays
  inside one row. Rows keep their article id and offsets.
- **Tokens** split the possessive and other clitics off ("Niger’s" -> "Niger" "’s",
  "military's" -> "military" "'s"), keep initialisms whole ("U.S."), keep numbers with
  separators whole ("1,000", "8.33") and split hyphens ("al-Qaida" -> "al" "-" "Qaida"),
  so a mention inside a hyphenated compound ("US-led") is still whole tokens. A token that
  still straddles a gold entity boundary is cut there, and the card reports how many were
  (none in the committed corpus; a test proves it).
- **Nesting:** outermost mentions are tagged in ``ner_tags``, mentions nested one level
  inside them in ``nested_ner_tags``. Deeper mentions cannot be carried and are counted.
"""

from __future__ import annotations

import re
from bisect import bisect_left, bisect_right
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc

from sahelwire.schema.taxonomy import BODY_ZONE

# Titles that precede a name: their period is not a sentence end ("Gen. Michael Langley").
_TITLES = "Mr|Mrs|Ms|Dr|Gen|Lt|Col|Maj|Capt|Sgt|Cpl|Adm|Brig|Sen|Rep|Gov|Prof|Rev|St|Jr|Sr"
# The first two branches open with a lookahead their own match implies (a letter then a
# period; a capital, up to three small letters, a period), so at most word starts they fail
# at once instead of trying every title: the same tokens, the regex ≈25% faster (the build's
# hottest line).
_TOKEN = re.compile(
    r"(?=[^\W\d_]\.)(?:[^\W\d_]\.){2,}"  # initialisms: U.S., D.C., U.N.
    rf"|(?=[A-Z][a-z]{{1,3}}\.)\b(?:{_TITLES})\.(?=\s+[A-Z])"  # a title before a name
    r"|\d+(?:[.,:]\d+)+"  # numbers with separators: 1,000  8.33  3:30
    r"|['’](?:s|re|ve|ll|d|m)\b"  # a clitic after a non-word token ("U.S.'s")
    r"|\w+(?:['’]\w+)*"  # words, with inner apostrophes ("O'Brien", "Niger’s")
    # Any other character on its own (punctuation, hyphen, emoji), with the modifiers and
    # joiners that make one emoji out of several code points ("👍🏽", "🏳️‍🌈").
    r"|[^\w\s][\u0300-\u036f\ufe0f\U0001F3FB-\U0001F3FF]*"
    r"(?:\u200d[^\w\s][\ufe0f\U0001F3FB-\U0001F3FF]*)*",
    re.UNICODE,
)
# A word ending in a clitic is split before it: "Niger’s" -> "Niger" + "’s", "don't" -> "do" + "n't".
_CLITIC = re.compile(r"^(.+?)(n['’]t|['’](?:s|re|ve|ll|d|m))$", re.IGNORECASE)
_APOSTROPHE = re.compile("['’]")
_SENTENCE_END = {".", "!", "?", "…"}
_SENTENCE_MARK = re.compile("[" + re.escape("".join(sorted(_SENTENCE_END))) + "]")
_CLOSERS = {'"', "”", "’", "'", ")", "]", "»"}


def tokenize(text: str, start: int = 0, end: int | None = None) -> list[tuple[int, int]]:
    """(start, end) of each token of ``text[start:end]``, as offsets into ``text``."""
    stop = len(text) if end is None else end
    out = [match.span() for match in _TOKEN.finditer(text, start, stop)]
    # Only a token holding an apostrophe can end in a clitic: find those from the apostrophes
    # (a few per paragraph) instead of testing every token (the build's hottest loop).
    split: list[tuple[int, int, int]] = []  # (token index, start, cut)
    for apostrophe in _APOSTROPHE.finditer(text, start, stop):
        k = bisect_right(out, (apostrophe.start(), stop)) - 1
        if k < 0 or out[k][1] <= apostrophe.start() or (split and split[-1][0] == k):
            continue
        s, e = out[k]
        clitic = _CLITIC.match(text[s:e])
        if clitic and clitic.group(1)[-1:].isalnum():
            split.append((k, s, s + len(clitic.group(1))))
    if not split:
        return out
    cut_tokens: list[tuple[int, int]] = []
    done = 0
    for k, s, cut in split:
        cut_tokens += out[done:k]
        cut_tokens += [(s, cut), (cut, out[k][1])]
        done = k + 1
    return cut_tokens + out[done:]


def zone_segments(text: str, zones: Iterable[dict[str, Any]]) -> list[tuple[int, int, str]]:
    """(start, end, zone) covering ``text``: each zone's extent, and BODY between zones.

    Zones never overlap (a validated rule); the result is sorted and gap-free.
    """
    out: list[tuple[int, int, str]] = []
    cursor = 0
    for z in sorted(zones, key=lambda z: (z["start"], z["end"])):
        if z["start"] > cursor:
            out.append((cursor, z["start"], BODY_ZONE))
        out.append((z["start"], z["end"], str(z["label"])))
        cursor = max(cursor, z["end"])
    if cursor < len(text):
        out.append((cursor, len(text), BODY_ZONE))
    return out


class _Guard:
    """Spans no row boundary may cut; ``inside(p)`` in O(log n) via prefix maxima of ends."""

    def __init__(self, spans: Iterable[tuple[int, int]]) -> None:
        ordered = sorted(spans)
        self.starts = [s for s, _ in ordered]
        self.reach: list[int] = []
        for _, e in ordered:
            self.reach.append(max(e, self.reach[-1]) if self.reach else e)

    def inside(self, position: int) -> bool:
        """True when ``position`` falls strictly inside one of the spans."""
        k = bisect_left(self.starts, position)  # spans starting before position: [0, k)
        return k > 0 and self.reach[k - 1] > position

    def covers(self, index: int) -> bool:
        """True when the character at ``index`` belongs to one of the spans."""
        k = bisect_right(self.starts, index)  # spans starting at or before index: [0, k)
        return k > 0 and self.reach[k - 1] > index


@dataclass
class BioStats:
    """What the view carried and what it could not, for the card."""

    rows: Counter[str] = field(default_factory=Counter)  # zone -> sentences
    tokens: Counter[str] = field(default_factory=Counter)  # zone -> tokens
    max_tokens: int = 0
    mentions_outer: int = 0
    mentions_nested: int = 0
    mentions_too_deep: int = 0  # nested two or more levels: not carried
    forced_cuts: int = 0  # tokens cut at a gold entity boundary the tokenizer did not see

    def add(self, other: BioStats) -> None:
        self.rows.update(other.rows)
        self.tokens.update(other.tokens)
        self.max_tokens = max(self.max_tokens, other.max_tokens)
        self.mentions_outer += other.mentions_outer
        self.mentions_nested += other.mentions_nested
        self.mentions_too_deep += other.mentions_too_deep
        self.forced_cuts += other.forced_cuts


def nesting_depths(mentions: Sequence[dict[str, Any]]) -> list[int]:
    """Depth of each mention: 0 outermost, 1 inside one other mention, and so on."""
    order = sorted(range(len(mentions)), key=lambda i: (mentions[i]["start"], -mentions[i]["end"]))
    depth = [0] * len(mentions)
    stack: list[int] = []  # ends of the open enclosing mentions
    for i in order:
        m = mentions[i]
        while stack and stack[-1] <= m["start"]:
            stack.pop()
        depth[i] = len(stack)
        stack.append(m["end"])
    return depth


def _cut_at_boundaries(
    tokens: list[tuple[int, int]], boundaries: Sequence[int]
) -> tuple[list[tuple[int, int]], int]:
    """Tokens cut wherever a boundary falls strictly inside one; and how many cuts."""
    # Nearly always no boundary falls inside a token: find that out with one bisection per
    # boundary before walking every token.
    for b in boundaries:
        k = bisect_right(tokens, (b, b)) - 1  # the last token starting at or before b
        if k >= 0 and tokens[k][0] < b < tokens[k][1]:
            break
    else:
        return tokens, 0
    out: list[tuple[int, int]] = []
    cuts = j = 0  # tokens and boundaries are both sorted: one pointer walks the boundaries
    for s, e in tokens:
        while j < len(boundaries) and boundaries[j] <= s:
            j += 1
        while j < len(boundaries) and boundaries[j] < e:
            out.append((s, boundaries[j]))
            s = boundaries[j]
            cuts += 1
            j += 1
        out.append((s, e))
    return out, cuts


def _sentences(
    text: str, tokens: list[tuple[int, int]], protected: _Guard
) -> list[list[tuple[int, int]]]:
    """Tokens grouped into sentences; never cut inside a protected (gold) span."""
    groups: list[list[tuple[int, int]]] = []
    n = len(tokens)
    if not n:
        return groups
    first = 0  # the current sentence's first token
    # Sentence ends are one-character tokens: visit the tokens at those characters only,
    # not every token (tokens are sorted and do not overlap, so a bisection finds each).
    for mark in _SENTENCE_MARK.finditer(text, tokens[0][0], tokens[-1][1]):
        p = mark.start()
        i = bisect_right(tokens, (p, p + 1))
        if tokens[i - 1] != (p, p + 1) or i <= first:
            continue
        # Closing quotes and brackets belong to the sentence they close.
        while i < n and text[tokens[i][0] : tokens[i][1]] in _CLOSERS:
            i += 1
        if i >= n:
            break
        following = text[tokens[i][0] : tokens[i][1]]
        starts_sentence = following[0].isupper() or following[0].isdigit() or following in '“"‘(«'
        if starts_sentence and not protected.inside(tokens[i][0]):
            groups.append(tokens[first:i])
            first = i
    groups.append(tokens[first:])
    return groups


def sentence_spans(text: str, protected: Iterable[tuple[int, int]] = ()) -> list[tuple[int, int]]:
    """(start, end) of each sentence of ``text``, split as ``ner_bio`` rows are (line breaks
    and sentence punctuation; never inside a ``protected`` span), so that "same sentence"
    means the same thing in the published rows and in the reviewer's warnings."""
    guard = _Guard(protected)
    out: list[tuple[int, int]] = []
    start = 0
    for line in [*text.split("\n")]:
        end = start + len(line)
        tokens = tokenize(text, start, end)
        out += [(sent[0][0], sent[-1][1]) for sent in _sentences(text, tokens, guard) if sent]
        start = end + 1
    return out


@dataclass
class BioColumns:
    """``ner_bio`` rows as flat columns, appended article by article (:func:`add_bio_rows`)
    and made into one Arrow table at once (:meth:`table`). A dict per sentence and a Python
    list per token column, converted row by row (``pa.Table.from_pylist``), cost about half as
    much again as finding the sentences; flat lists convert in one call each."""

    article_id: list[str] = field(default_factory=list)
    sentence_index: list[int] = field(default_factory=list)
    zone: list[str] = field(default_factory=list)
    start: list[int] = field(default_factory=list)
    end: list[int] = field(default_factory=list)
    text: list[str] = field(default_factory=list)
    # Row i's tokens are tokens[token_offsets[i]:token_offsets[i + 1]] (so for the tags).
    token_offsets: list[int] = field(default_factory=lambda: [0])
    tokens: list[str] = field(default_factory=list)
    token_starts: list[int] = field(default_factory=list)
    ner_tags: list[str] = field(default_factory=list)
    nested_ner_tags: list[str] = field(default_factory=list)

    def __len__(self) -> int:
        return len(self.article_id)

    def rows(self) -> list[dict[str, Any]]:
        """One dict per row, tags and zones as names."""
        o = self.token_offsets
        return [
            {
                "article_id": self.article_id[i],
                "sentence_index": self.sentence_index[i],
                "zone": self.zone[i],
                "start": self.start[i],
                "end": self.end[i],
                "text": self.text[i],
                "tokens": self.tokens[o[i] : o[i + 1]],
                "token_starts": self.token_starts[o[i] : o[i + 1]],
                "ner_tags": self.ner_tags[o[i] : o[i + 1]],
                "nested_ner_tags": self.nested_ner_tags[o[i] : o[i + 1]],
            }
            for i in range(len(self))
        ]

    def table(
        self, schema: pa.Schema, zone_names: Sequence[str], tag_names: Sequence[str]
    ) -> pa.Table:
        """The rows as ``schema`` (the published ner_bio schema): zones and tags as their
        class indices in ``zone_names`` and ``tag_names``; ValueError for a name in neither."""
        offsets = pa.array(self.token_offsets, pa.int32())

        def indices(values: list[str], names: Sequence[str], what: str) -> pa.Array:
            found = pc.index_in(pa.array(values, pa.string()), value_set=pa.array(names))
            if found.null_count:
                unknown = pc.filter(pa.array(values, pa.string()), pc.is_null(found))
                raise ValueError(f"ner_bio: {what} {unknown[0].as_py()!r} is not a class")
            return found

        def listed(values: pa.Array) -> pa.Array:
            return pa.ListArray.from_arrays(offsets, values)

        columns: dict[str, pa.Array] = {
            "article_id": pa.array(self.article_id, pa.string()),
            "sentence_index": pa.array(self.sentence_index, pa.int64()),
            "zone": indices(self.zone, zone_names, "zone"),
            "start": pa.array(self.start, pa.int64()),
            "end": pa.array(self.end, pa.int64()),
            "text": pa.array(self.text, pa.string()),
            "tokens": listed(pa.array(self.tokens, pa.string())),
            "token_starts": listed(pa.array(self.token_starts, pa.int64())),
            "ner_tags": listed(indices(self.ner_tags, tag_names, "tag")),
            "nested_ner_tags": listed(indices(self.nested_ner_tags, tag_names, "tag")),
        }
        return pa.Table.from_arrays([columns[f.name].cast(f.type) for f in schema], schema=schema)


def bio_rows(
    article_id: str,
    text: str,
    zones: list[dict[str, Any]],
    entities: list[dict[str, Any]],
    protected: Iterable[tuple[int, int]],
) -> tuple[list[dict[str, Any]], BioStats]:
    """The ner_bio rows of one article (tags as names) and what they carried
    (:func:`add_bio_rows`, as dicts)."""
    out = BioColumns()
    stats = add_bio_rows(out, article_id, text, zones, entities, protected)
    return out.rows(), stats


def add_bio_rows(
    out: BioColumns,
    article_id: str,
    text: str,
    zones: list[dict[str, Any]],
    entities: list[dict[str, Any]],
    protected: Iterable[tuple[int, int]],
) -> BioStats:
    """Append the ner_bio rows of one article to ``out``; what they carried.

    ``zones``/``entities``: gold spans (start, end, label); ``protected``: every gold span
    of every layer, which no row boundary may cut.
    """
    stats = BioStats()
    guard = _Guard([*protected, *((m["start"], m["end"]) for m in entities)])
    depths = nesting_depths(entities)
    tagged = sorted(
        ((m, d) for m, d in zip(entities, depths, strict=True) if d <= 1),
        key=lambda md: (md[0]["start"], -md[0]["end"]),
    )
    tagged_starts = [m["start"] for m, _ in tagged]
    stats.mentions_outer = sum(1 for _, d in tagged if d == 0)
    stats.mentions_nested = sum(1 for _, d in tagged if d == 1)
    stats.mentions_too_deep = len(entities) - len(tagged)
    boundaries = sorted({m["start"] for m in entities} | {m["end"] for m in entities})
    index = 0
    for seg_start, seg_end, zone in zone_segments(text, zones):
        # Paragraphs: cut at line breaks that no gold span covers.
        cuts = []
        i = text.find("\n", seg_start, seg_end)
        while i != -1:
            if not guard.covers(i):
                cuts.append(i)
            i = text.find("\n", i + 1, seg_end)
        starts = [seg_start, *(c + 1 for c in cuts)]
        ends = [*cuts, seg_end]
        for p_start, p_end in zip(starts, ends, strict=True):
            inner = boundaries[bisect_right(boundaries, p_start) : bisect_left(boundaries, p_end)]
            tokens, forced = _cut_at_boundaries(tokenize(text, p_start, p_end), inner)
            stats.forced_cuts += forced
            for sentence in _sentences(text, tokens, guard):
                first, last = sentence[0][0], sentence[-1][1]
                mine = tagged[bisect_left(tagged_starts, first) : bisect_left(tagged_starts, last)]
                _add_row(out, article_id, index, zone, text, sentence, mine)
                index += 1
                stats.rows[zone] += 1
                stats.tokens[zone] += len(sentence)
                stats.max_tokens = max(stats.max_tokens, len(sentence))
    return stats


def _add_row(
    out: BioColumns,
    article_id: str,
    index: int,
    zone: str,
    text: str,
    sentence: list[tuple[int, int]],
    tagged: list[tuple[dict[str, Any], int]],
) -> None:
    """One row; ``tagged``: the (mention, depth) pairs that start inside the sentence."""
    first, last = sentence[0][0], sentence[-1][1]
    starts = [s for s, _ in sentence]
    tags = [["O"] * len(sentence), ["O"] * len(sentence)]
    for m, depth in tagged:
        k = bisect_left(starts, m["start"])  # the mention's first token
        prefix = "B"
        while k < len(sentence) and sentence[k][1] <= m["end"]:
            tags[depth][k] = f"{prefix}-{m['label']}"
            prefix = "I"
            k += 1
    out.article_id.append(article_id)
    out.sentence_index.append(index)
    out.zone.append(zone)
    out.start.append(first)
    out.end.append(last)
    out.text.append(text[first:last])
    out.tokens += [text[s:e] for s, e in sentence]
    out.token_starts += starts
    out.ner_tags += tags[0]
    out.nested_ner_tags += tags[1]
    out.token_offsets.append(len(out.tokens))


def bio_spans(tokens: Sequence[str], starts: Sequence[int], tags: Sequence[str]) -> list[tuple]:
    """(label, start, end) of every BIO span in one row (for round-trip checks)."""
    spans: list[tuple[str, int, int]] = []
    for token, start, tag in zip(tokens, starts, tags, strict=True):
        if tag == "O":
            continue
        prefix, label = tag.split("-", 1)
        if prefix == "B" or not spans or spans[-1][0] != label:
            spans.append((label, start, start + len(token)))
        else:
            spans[-1] = (label, spans[-1][1], start + len(token))
    return spans
