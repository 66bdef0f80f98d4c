"""Extractive summaries: the most central sentences (embedding centrality plus a lead bonus), verbatim."""

from __future__ import annotations

import re

import numpy as np

from agentcrdt.llm.offline.encoder import Encoder
from agentcrdt.llm.offline.text import Span, quote, sentences
from agentcrdt.llm.tasks import DocumentInput, Summary

__all__ = ["summarize"]

MAX_CANDIDATES = 300
LEAD_BONUS = 0.15
REDUNDANT = 0.85


def _worth_quoting(s: Span) -> bool:
    t = s.text
    letters = [c for c in t if c.isalpha()]
    return (
        40 <= len(t) <= 500
        and len(letters) > 0.6 * len(t.replace(" ", ""))
        and sum(c.isupper() for c in letters) < 0.6 * len(letters)  # not an all-caps heading
        and not re.match(r"(?i)\s*(source:|exhibit\b|table of contents|in witness whereof)", t)
    )


def summarize(doc: DocumentInput, max_sentences: int, enc: Encoder) -> Summary:
    """Pick up to ``max_sentences`` central, non-redundant sentences, in document order."""
    all_sents = sentences(doc.text)
    cands = [s for s in all_sents if _worth_quoting(s)][:MAX_CANDIDATES] or all_sents[:MAX_CANDIDATES]
    if not cands:
        return Summary(summary="", key_points=[], confidence=0.0, evidence=[])
    vecs = enc([s.text for s in cands])
    sims = vecs @ vecs.T
    n = len(cands)
    centrality = (sims.sum(axis=1) - 1.0) / max(1, n - 1)
    score = centrality + LEAD_BONUS * (1.0 - np.arange(n) / n)
    chosen: list[int] = []
    for i in sorted(range(n), key=lambda i: (-float(score[i]), i)):
        if len(chosen) == max_sentences:
            break
        if all(float(sims[i, j]) < REDUNDANT for j in chosen):
            chosen.append(i)
    chosen.sort()
    picked = [cands[i] for i in chosen]
    coverage = float(sims[:, chosen].max(axis=1).mean())  # how well the picks stand for every sentence
    points = [" ".join(s.text.split()) for s in picked]
    return Summary(
        summary=" ".join(points),
        key_points=points,
        confidence=round(min(0.9, max(0.05, 0.2 + 0.7 * coverage)), 3),
        evidence=[quote(doc.text, s.start, s.end) for s in picked],
    )
