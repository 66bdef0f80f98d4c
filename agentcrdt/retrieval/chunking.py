"""Split text into chunks whose offsets are exact: ``chunk.text == source[chunk.start:chunk.end]``.

Agents quote evidence by exact span, so a chunk is always a slice of its source, never a rewritten copy.
Boundaries are chosen locally, so an edit in one paragraph re-chunks only around it and the indexer
re-embeds only what changed:

1. paragraphs are the runs of text between blank lines;
2. a paragraph longer than ``max_chars`` is cut at sentence ends (``.``, ``!``, ``?``, ``;``, ``:`` or a
   newline, followed by whitespace), packed greedily; a sentence longer than ``max_chars`` is cut at
   whitespace; a word longer than ``max_chars`` is cut hard;
3. consecutive pieces shorter than ``min_chars`` are merged while the merged span fits ``max_chars``
   (so headings and numbered lines ride with their neighbours);
4. with ``overlap`` > 0, each chunk after the first also starts up to ``overlap`` characters before its
   own first character, at a word start, so a phrase cut by a boundary is whole in one of the two chunks.

Guarantees (property-tested): chunks are in order, have no leading or trailing whitespace, every
non-whitespace character of the source is in some chunk, and ``len(chunk.text) <= max_chars + overlap``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from agentcrdt.errors import UsageError

__all__ = ["DEFAULT_MAX_CHARS", "DEFAULT_MIN_CHARS", "DEFAULT_OVERLAP", "Chunk", "chunk_text"]

DEFAULT_MAX_CHARS = 1000  # ~250 word pieces: all-MiniLM-L6-v2 truncates at 256
DEFAULT_MIN_CHARS = 200
DEFAULT_OVERLAP = 0

_PARAGRAPH_BREAK = re.compile(r"\n[ \t\r\f\v]*\n\s*")
_SENTENCE_END = re.compile(r"(?<=[.!?;:])\s+|\n\s*")
_SPACE = re.compile(r"\s+")
_NON_SPACE = re.compile(r"\S")

Span = tuple[int, int]


@dataclass(frozen=True)
class Chunk:
    """One slice of a source text: ``text == source[start:end]``; ``index`` counts from 0."""

    index: int
    start: int
    end: int
    text: str


def _trim(text: str, start: int, end: int) -> Span | None:
    """Shrink ``[start, end)`` to exclude surrounding whitespace; None if nothing is left."""
    while start < end and text[start].isspace():
        start += 1
    while end > start and text[end - 1].isspace():
        end -= 1
    return (start, end) if start < end else None


def _split(text: str, start: int, end: int, boundary: re.Pattern[str]) -> list[Span]:
    """Cut ``[start, end)`` at every match of ``boundary`` into trimmed spans."""
    spans: list[Span] = []
    pos = start
    for m in boundary.finditer(text, start, end):
        if (s := _trim(text, pos, m.start())) is not None:
            spans.append(s)
        pos = m.end()
    if (s := _trim(text, pos, end)) is not None:
        spans.append(s)
    return spans


def _pack(text: str, spans: list[Span], max_chars: int, min_chars: int | None = None) -> list[Span]:
    """Merge consecutive spans greedily while the merged span fits (and, with ``min_chars``, is short)."""
    out: list[Span] = []
    for s, e in spans:
        if out:
            ps, pe = out[-1]
            short = min_chars is None or pe - ps < min_chars or e - s < min_chars
            if short and e - ps <= max_chars:
                out[-1] = (ps, e)
                continue
        out.append((s, e))
    return out


def _fit(text: str, span: Span, max_chars: int) -> list[Span]:
    """Cut one span into pieces of at most ``max_chars``: sentences, then words, then hard cuts."""
    s, e = span
    if e - s <= max_chars:
        return [span]
    pieces: list[Span] = []
    for sentence in _split(text, s, e, _SENTENCE_END):
        if sentence[1] - sentence[0] <= max_chars:
            pieces.append(sentence)
            continue
        for word in _split(text, sentence[0], sentence[1], _SPACE):
            ws, we = word
            pieces.extend((i, min(i + max_chars, we)) for i in range(ws, we, max_chars))
    # Words must not be re-merged across a sentence's hard cuts beyond max_chars: _pack checks the size.
    return _pack(text, pieces, max_chars)


def _overlap_start(text: str, prev: Span, start: int, overlap: int) -> int:
    """Return a word start in ``[start - overlap, start]`` not before ``prev``'s start (or ``start``)."""
    floor = max(prev[0] + 1, start - overlap)
    for m in _NON_SPACE.finditer(text, floor, start):
        i = m.start()
        if text[i - 1].isspace():
            return i
    return start


def chunk_text(
    text: str,
    *,
    max_chars: int = DEFAULT_MAX_CHARS,
    overlap: int = DEFAULT_OVERLAP,
    min_chars: int = DEFAULT_MIN_CHARS,
) -> list[Chunk]:
    """Split ``text`` into exact-offset chunks of at most ``max_chars`` (+ ``overlap``) characters."""
    if max_chars < 1 or overlap < 0 or min_chars < 0:
        raise UsageError("chunk_text needs max_chars >= 1, overlap >= 0 and min_chars >= 0")
    spans: list[Span] = []
    for paragraph in _split(text, 0, len(text), _PARAGRAPH_BREAK):
        spans.extend(_fit(text, paragraph, max_chars))
    spans = _pack(text, spans, max_chars, min_chars)
    chunks: list[Chunk] = []
    for i, (s, e) in enumerate(spans):
        start = _overlap_start(text, spans[i - 1], s, overlap) if i and overlap else s
        chunks.append(Chunk(i, start, e, text[start:e]))
    return chunks
