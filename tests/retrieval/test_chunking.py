"""chunk_text: exact offsets, coverage, bounded sizes, local boundaries."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from agentcrdt.errors import UsageError
from agentcrdt.retrieval import chunk_text

_alphabet = st.sampled_from([*"abcde fgh.!?;:\n\t\u00e9\u4e2d", "\n\n", ". ", "\r\n"])
texts = st.lists(_alphabet, max_size=400).map("".join)


def _check(text: str, max_chars: int, overlap: int, min_chars: int) -> None:
    chunks = chunk_text(text, max_chars=max_chars, overlap=overlap, min_chars=min_chars)
    covered = [False] * len(text)
    prev_start = prev_end = -1
    for i, c in enumerate(chunks):
        assert c.index == i
        assert c.text == text[c.start : c.end]
        assert c.text and not c.text[0].isspace() and not c.text[-1].isspace()
        assert len(c.text) <= max_chars + overlap
        assert c.start > prev_start and c.end > prev_end  # in order
        prev_start, prev_end = c.start, c.end
        for j in range(c.start, c.end):
            covered[j] = True
    assert all(covered[j] or ch.isspace() for j, ch in enumerate(text))


@settings(max_examples=300, deadline=None)
@given(texts, st.integers(1, 60), st.integers(0, 20), st.integers(0, 40))
def test_chunks_cover_the_text_with_exact_offsets_and_bounded_sizes(
    text: str, max_chars: int, overlap: int, min_chars: int
) -> None:
    _check(text, max_chars, overlap, min_chars)


@settings(max_examples=100, deadline=None)
@given(st.text(max_size=300), st.integers(1, 50))
def test_any_unicode_text(text: str, max_chars: int) -> None:
    _check(text, max_chars, 5, 10)


def test_paragraphs_and_sentences_are_preferred_boundaries() -> None:
    text = "Title\n\nFirst sentence here. Second sentence here.\n\nAnother paragraph that is separate."
    chunks = chunk_text(text, max_chars=30, min_chars=0)
    assert [c.text for c in chunks] == [
        "Title",
        "First sentence here.",
        "Second sentence here.",
        "Another paragraph that is",
        "separate.",
    ]


def test_short_pieces_merge_up_to_max_chars() -> None:
    text = "1. Definitions\n\nShort line.\n\n" + "x" * 50
    chunks = chunk_text(text, max_chars=40, min_chars=20)
    assert chunks[0].text == "1. Definitions\n\nShort line."
    assert chunks[1].text == "x" * 40 and chunks[2].text == "x" * 10  # a long word is cut hard


def test_overlap_starts_at_a_word_inside_the_previous_chunk() -> None:
    text = "alpha beta gamma delta. epsilon zeta eta theta."
    a, b = chunk_text(text, max_chars=24, overlap=12, min_chars=0)
    assert a.text == "alpha beta gamma delta."
    assert b.start < a.end and b.text == "delta. epsilon zeta eta theta."


def test_an_edit_rechunks_only_around_it() -> None:
    paragraphs = [f"Paragraph {i}. " + "word " * 60 for i in range(10)]
    before = chunk_text("\n\n".join(paragraphs), max_chars=400)
    paragraphs[4] = "Paragraph 4 was rewritten entirely. " + "other " * 50
    after = chunk_text("\n\n".join(paragraphs), max_chars=400)
    same = {c.text for c in before} & {c.text for c in after}
    assert len(same) == len(before) - 1


def test_empty_and_whitespace_only() -> None:
    assert chunk_text("") == []
    assert chunk_text(" \n\n\t ") == []


def test_bad_arguments() -> None:
    with pytest.raises(UsageError):
        chunk_text("x", max_chars=0)
