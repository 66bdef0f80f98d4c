"""Sentences with exact offsets, a lexical vectorizer, and similarity helpers shared by the tasks."""

from __future__ import annotations

import hashlib
import itertools
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

from agentcrdt.llm.tasks import Quote

__all__ = [
    "EmbedFn",
    "Matrix",
    "Span",
    "cosine",
    "lexical_embed",
    "quote",
    "sentences",
    "stem",
    "words",
]

Matrix = npt.NDArray[np.float32]
EmbedFn = Callable[[list[str]], Any]
"""``embed(texts) -> (n, dim)`` array-like of (ideally unit) vectors."""


@dataclass(frozen=True)
class Span:
    """A piece of a document: ``text == document[start:end]``; ``index`` is its position among sentences."""

    index: int
    start: int
    end: int
    text: str


# A sentence ends at . ! ? ; followed by space and an upper-case letter, digit, quote or bracket, or at
# a blank line / a line break before an enumerated heading, or a run of spaces before a lettered item.
_BREAK = re.compile(
    r"(?<=[.!?;:])[\"'”’)]?\s+(?=[\"“(\[]?[A-Z0-9])"
    r"|\n[ \t]*\n\s*"
    r"|\n(?=\s*(?:\(?[0-9]{1,2}(?:\.[0-9]{1,2})*[.)]|\([a-z]{1,3}\)|ARTICLE|Section)\s)"
    # PDF text keeps a list's layout as runs of spaces: "...Riyadh, Saudi Arabia   B. This Agreement".
    r"|[ \t]{2,}(?=(?:[A-Z]|[IVX]{1,4})\.[ \t]+[A-Z][a-z])"
)
_ABBREV = re.compile(
    r"(?:\b(?:Inc|Ltd|Corp|Co|No|Mr|Ms|Mrs|Dr|St|U\.S|S\.A|N\.V|L\.P|L\.L\.C|vs|Sec)\.|\b[A-Z]\.)$"
)
MAX_SENTENCE = 700


def sentences(text: str, *, min_chars: int = 3) -> list[Span]:
    """Split ``text`` into sentence spans with exact offsets (long ones cut at ``;`` or whitespace)."""
    pieces: list[tuple[int, int]] = []
    start = 0
    for m in _BREAK.finditer(text):
        if _ABBREV.search(text[max(0, m.start() - 8) : m.start()]) and "\n" not in m.group():
            continue
        pieces.append((start, m.start()))
        start = m.end()
    pieces.append((start, len(text)))
    out: list[Span] = []
    for s, e in pieces:
        for s2, e2 in _cut_long(text, s, e):
            s3, e3 = _trim(text, s2, e2)
            if e3 - s3 >= min_chars:
                out.append(Span(len(out), s3, e3, text[s3:e3]))
    return out


def _cut_long(text: str, s: int, e: int) -> list[tuple[int, int]]:
    out = []
    while e - s > MAX_SENTENCE:
        window = text[s : s + MAX_SENTENCE]
        cut = max(window.rfind("; "), window.rfind(", "))
        if cut < MAX_SENTENCE // 3:
            cut = window.rfind(" ")
        if cut <= 0:
            cut = MAX_SENTENCE - 1
        out.append((s, s + cut + 1))
        s = s + cut + 1
    out.append((s, e))
    return out


def _trim(text: str, s: int, e: int) -> tuple[int, int]:
    while s < e and text[s].isspace():
        s += 1
    while e > s and text[e - 1].isspace():
        e -= 1
    return s, e


def quote(document: str, start: int, end: int) -> Quote:
    """Build a :class:`Quote` of ``document[start:end]`` (trimmed of surrounding whitespace)."""
    s, e = _trim(document, start, end)
    return Quote(text=document[s:e], start=s, end=e)


_WORD = re.compile(r"[a-z0-9]+")
_STOP = frozenset([
    "a", "an", "the", "and", "or", "of", "to", "in", "on", "for", "by", "with", "as", "at", "be", "is",
    "are", "was", "were", "this", "that", "these", "those", "such", "any", "all", "shall", "will",
    "may", "its", "it", "their", "his", "her", "from", "under", "upon", "into", "than", "other", "each",
    "which", "who", "whom",
])  # fmt: skip


def words(text: str) -> list[str]:
    """Lower-case content words (stop words removed)."""
    return [w for w in _WORD.findall(text.lower()) if w not in _STOP]


def stem(w: str) -> str:
    """Strip one plural or verb suffix (``laws`` → ``law``, ``governed`` → ``govern``); crude, stable."""
    for suffix in ("ing", "ed", "es", "s"):
        if len(w) > len(suffix) + 3 and w.endswith(suffix):
            return w[: -len(suffix)]
    return w


def lexical_embed(texts: Sequence[str], dim: int = 1024) -> Matrix:
    """Hashed, stemmed bag of content words and word bigrams, L2-normalized (the no-embedder mode)."""
    out = np.zeros((len(texts), dim), dtype=np.float32)
    for row, t in enumerate(texts):
        ws = [stem(w) for w in words(t)]
        for f in ws + [f"{a}_{b}" for a, b in itertools.pairwise(ws)]:
            h = int.from_bytes(hashlib.blake2b(f.encode(), digest_size=8).digest(), "little")
            out[row, h % dim] += 1.0
    norms = np.linalg.norm(out, axis=1, keepdims=True)
    result: Matrix = (out / np.where(norms == 0, 1, norms)).astype(np.float32)
    return result


def cosine(a: Matrix, b: Matrix) -> Matrix:
    """Cosine similarity of every row of ``a`` with every row of ``b`` (rows re-normalized)."""

    def unit(x: Matrix) -> Matrix:
        n = np.linalg.norm(x, axis=1, keepdims=True)
        r: Matrix = (x / np.where(n == 0, 1, n)).astype(np.float32)
        return r

    if len(a) == 0 or len(b) == 0:
        return np.zeros((len(a), len(b)), dtype=np.float32)
    sims: Matrix = (unit(a) @ unit(b).T).astype(np.float32)
    return sims
