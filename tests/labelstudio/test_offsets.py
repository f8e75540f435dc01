"""Offset conversion: property tests over any mix of BMP, astral characters and newlines."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from sahelwire.labelstudio import offsets
from sahelwire.labelstudio.offsets import (
    OffsetError,
    Utf16Index,
    codepoint_to_utf16,
    from_label_studio,
    to_label_studio,
    utf16_to_codepoint,
)

TEXTS = st.lists(
    st.one_of(
        st.characters(codec="utf-8", exclude_categories=["Cs"]),
        st.sampled_from(["🤔", "😀", "\r\n", "\n", "é", "’", "𝔘"]),
    ),
    max_size=200,
).map("".join)


@given(TEXTS, st.data())
def test_utf16_round_trip(text: str, data: st.DataObject) -> None:
    index = Utf16Index(text)
    assert index.utf16_length == len(text.encode("utf-16-le")) // 2
    cp = data.draw(st.integers(0, len(text)))
    u16 = index.to_utf16(cp)
    # The UTF-16 prefix of that many units is exactly the code-point prefix.
    assert text.encode("utf-16-le")[: 2 * u16].decode("utf-16-le") == text[:cp]
    assert index.to_codepoint(u16) == cp


@given(TEXTS)
def test_offsets_inside_a_surrogate_pair_are_rejected(text: str) -> None:
    index = Utf16Index(text)
    for cp, ch in enumerate(text):
        if ord(ch) > 0xFFFF:
            with pytest.raises(OffsetError, match="surrogate pair"):
                index.to_codepoint(index.to_utf16(cp) + 1)


@given(TEXTS, st.data())
def test_label_studio_round_trip(text: str, data: st.DataObject) -> None:
    start = data.draw(st.integers(0, len(text)))
    end = data.draw(st.integers(start, len(text)))
    assert from_label_studio(text, *to_label_studio(text, start, end)) == (start, end)


def test_out_of_range_is_an_error_not_a_clamp() -> None:
    with pytest.raises(OffsetError):
        from_label_studio("abc", 2, 4)
    with pytest.raises(OffsetError):
        to_label_studio("abc", -1, 2)


@given(TEXTS, st.data())
def test_module_functions_agree_with_javascript_string_indices(
    text: str, data: st.DataObject
) -> None:
    cp = data.draw(st.integers(0, len(text)))
    u16 = codepoint_to_utf16(text, cp)
    assert u16 == len(text[:cp].encode("utf-16-le")) // 2  # what JS `str.length` counts
    assert utf16_to_codepoint(text, u16) == cp


@given(TEXTS, st.data())
def test_utf16_seam_slices_the_same_characters(text: str, data: st.DataObject) -> None:
    """If Label Studio ever exports UTF-16 indices, flipping the constant is all it takes."""
    start = data.draw(st.integers(0, len(text)))
    end = data.draw(st.integers(start, len(text)))
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(offsets, "LABEL_STUDIO_OFFSET_UNIT", "utf16")
        s16, e16 = to_label_studio(text, start, end)
        units = text.encode("utf-16-le")
        assert units[2 * s16 : 2 * e16].decode("utf-16-le") == text[start:end]
        assert from_label_studio(text, s16, e16) == (start, end)


def test_crlf_counts_as_two_and_astral_as_one_code_point() -> None:
    text = "A 🤔 x Niger y\r\nz Niamey end 😀😀 Agadez."
    start = text.index("Agadez")
    assert (start, codepoint_to_utf16(text, start)) == (31, 34)
    assert text.index("Niamey") == 17  # 15 characters, then "\r\n" as two
    with pytest.raises(OffsetError, match="surrogate pair"):
        utf16_to_codepoint(text, 3)  # between the two halves of 🤔
