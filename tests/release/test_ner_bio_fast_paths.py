"""The tokenizer's and sentence cutter's fast paths give what the plain walks gave, and the
flat columns the rows are kept in make the table the rows made.

``tokenize``, ``_cut_at_boundaries`` and ``_sentences`` skip the tokens that cannot matter
(no apostrophe, no boundary inside, no sentence mark) instead of testing every token. The
oracles below are the walks they replaced, token by token; hypothesis draws texts dense in
what the rules look at (apostrophes, clitics, sentence marks, closers, capitals, digits,
initialisms, titles, emoji with modifiers, line breaks) and the published rows must not
change by a token.
"""

from __future__ import annotations

import re
from pathlib import Path

import pyarrow as pa
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sahelwire.release.ner_bio import (
    _CLITIC,
    _CLOSERS,
    _SENTENCE_END,
    _TITLES,
    _TOKEN,
    BioColumns,
    _cut_at_boundaries,
    _Guard,
    _sentences,
    add_bio_rows,
    bio_rows,
    tokenize,
)
from sahelwire.schema.table_specs import ShapeBuilder, load_table_specs
from sahelwire.schema.taxonomy import load_taxonomy

ROOT = Path(__file__).resolve().parents[2]

# fmt: off
PIECES = [
    "Niger", "’s", "'s", "n't", "don't", "O'Brien", "U.S.", "U.S.'s", "Gen.", "Mr.", "Lt.",
    "1,000", "8.33", "3:30", ".", "!", "?", "…", '"', "”", "’", "'", ")", "]", "»", "“", "(",
    "«", "‘", "al-Qaida", "US-led", "👍🏽", "🏳️‍🌈", "é", "a", "B", "7", " ", " ", " ", "\n",
    "’re", "'ll", "x’d", "I'm", "-", ",", "’’", "''s", ".'", "s'",
    "Capt.", "Prof.", "Mrs.", "St.", "Sr.", "Mx.", "MR.", "É.", "é.t.", "A.B", "Z", "9.",
]
# fmt: on
texts = st.lists(st.sampled_from(PIECES), max_size=60).map("".join)


# The token pattern without the lookaheads that open its first two branches (ner_bio says
# why they are there; they must change no token).
_PLAIN_TOKEN = re.compile(
    _TOKEN.pattern.replace(r"(?=[^\W\d_]\.)", "", 1).replace(r"(?=[A-Z][a-z]{1,3}\.)", "", 1),
    _TOKEN.flags,
)


def test_the_plain_pattern_is_the_token_pattern_without_its_two_guards() -> None:
    assert len(_PLAIN_TOKEN.pattern) == len(_TOKEN.pattern) - len(r"(?=[^\W\d_]\.)") - len(
        r"(?=[A-Z][a-z]{1,3}\.)"
    )
    assert all(re.fullmatch("[A-Z][a-z]{1,3}", title) for title in _TITLES.split("|"))


def _tokenize_oracle(text: str, start: int, end: int) -> list[tuple[int, int]]:
    out: list[tuple[int, int]] = []
    for match in _PLAIN_TOKEN.finditer(text, start, end):
        s, e = match.span()
        clitic = _CLITIC.match(match.group())
        if clitic and clitic.group(1)[-1:].isalnum():
            cut = s + len(clitic.group(1))
            out += [(s, cut), (cut, e)]
        else:
            out.append((s, e))
    return out


def _cut_oracle(tokens: list[tuple[int, int]], boundaries: list[int]) -> tuple[list, int]:
    out, cuts = [], 0
    for s, e in tokens:
        inside = [b for b in boundaries if s < b < e]
        for b in inside:
            out.append((s, b))
            s = b
        cuts += len(inside)
        out.append((s, e))
    return out, cuts


def _sentences_oracle(text: str, tokens: list[tuple[int, int]], guard: _Guard) -> list[list]:
    groups: list[list[tuple[int, int]]] = []
    current: list[tuple[int, int]] = []
    i = 0
    while i < len(tokens):
        current.append(tokens[i])
        i += 1
        if text[current[-1][0] : current[-1][1]] not in _SENTENCE_END:
            continue
        while i < len(tokens) and text[tokens[i][0] : tokens[i][1]] in _CLOSERS:
            current.append(tokens[i])
            i += 1
        if i >= len(tokens):
            break
        following = text[tokens[i][0] : tokens[i][1]]
        starts = following[0].isupper() or following[0].isdigit() or following in '“"‘(«'
        if starts and not guard.inside(tokens[i][0]):
            groups.append(current)
            current = []
    if current:
        groups.append(current)
    return groups


@settings(max_examples=400, deadline=None)
@given(text=texts, data=st.data())
def test_tokens_cuts_and_sentences_match_the_token_by_token_walks(
    text: str, data: st.DataObject
) -> None:
    start = data.draw(st.integers(0, len(text)))
    end = data.draw(st.integers(start, len(text)))
    tokens = tokenize(text, start, end)
    assert tokens == _tokenize_oracle(text, start, end)
    assert tokenize(text) == _tokenize_oracle(text, 0, len(text))
    boundaries = sorted(set(data.draw(st.lists(st.integers(start, end), max_size=8))))
    cut = _cut_at_boundaries(tokens, boundaries)
    assert cut == _cut_oracle(tokens, boundaries)
    spans = data.draw(st.lists(st.tuples(st.integers(0, len(text)), st.integers(1, 6)), max_size=5))
    guard = _Guard([(s, s + n) for s, n in spans])
    assert _sentences(text, cut[0], guard) == _sentences_oracle(text, cut[0], guard)


def test_a_boundary_inside_a_token_still_cuts_it_in_the_rows() -> None:
    """The fast path's other side: a gold mention ending inside a token ("US" of "USled",
    written without the hyphen) cuts the token there, and the card counts the cut."""
    text = "The USled force left. Then it came back."
    rows, stats = bio_rows("a1", text, [], [{"start": 4, "end": 6, "label": "GPE"}], [(4, 6)])
    assert stats.forced_cuts == 1
    assert rows[0]["tokens"][:3] == ["The", "US", "led"]
    assert rows[0]["ner_tags"][:3] == ["O", "B-GPE", "O"]
    assert [r["text"] for r in rows] == ["The USled force left.", "Then it came back."]


def _published_schema_and_names() -> tuple[pa.Schema, tuple[str, ...], tuple[str, ...]]:
    taxonomy = load_taxonomy(ROOT / "schemas" / "taxonomy.yaml")
    specs = load_table_specs(ROOT / "schemas" / "tables.yaml")
    schema = ShapeBuilder(specs, taxonomy).arrow_schema(specs.configs["ner_bio"], published=True)
    zones = taxonomy.class_names("zone:span_layers.zones")
    tags = taxonomy.class_names("bio:span_layers.entities")
    return schema, zones, tags


def test_the_columns_make_the_table_the_rows_made() -> None:
    """``BioColumns.table`` (flat lists, one conversion per column) equals the row-by-row
    ``from_pylist`` of the same rows with zones and tags as class indices, nested tags,
    zones other than BODY and an article with no row included."""
    schema, zones, tags = _published_schema_and_names()
    text = "NAV\nThe U.S.-led force in Niger’s north left. Then it came back!"
    columns = BioColumns()
    add_bio_rows(
        columns,
        "a1",
        text,
        [{"start": 0, "end": 3, "label": "NAVIGATION"}],
        [
            {"start": 8, "end": 20, "label": "ORG"},
            {"start": 8, "end": 12, "label": "GPE"},
            {"start": 30, "end": 35, "label": "GPE"},
        ],
        [(8, 20), (8, 12), (30, 35)],
    )
    add_bio_rows(columns, "a2", "", [], [], [])
    add_bio_rows(columns, "a3", "Short one. Another one.", [], [], [])
    rows = [
        {
            **r,
            "zone": zones.index(r["zone"]),
            "ner_tags": [tags.index(t) for t in r["ner_tags"]],
            "nested_ner_tags": [tags.index(t) for t in r["nested_ner_tags"]],
        }
        for r in columns.rows()
    ]
    assert {r["article_id"] for r in rows} == {"a1", "a3"}
    assert any(t != "O" for r in columns.rows() for t in r["nested_ner_tags"])
    assert columns.table(schema, zones, tags).equals(pa.Table.from_pylist(rows, schema=schema))
    assert BioColumns().table(schema, zones, tags).num_rows == 0


def test_a_tag_that_is_no_class_is_refused_by_name() -> None:
    schema, zones, tags = _published_schema_and_names()
    columns = BioColumns()
    add_bio_rows(columns, "a1", "Niger left.", [], [{"start": 0, "end": 5, "label": "RIVER"}], [])
    with pytest.raises(ValueError, match="'B-RIVER' is not a class"):
        columns.table(schema, zones, tags)
