"""Extractive summaries: the most central sentences (embedding centrality plus a lead bonus), verbatim;
for a theme of several documents, the sentences closest to what the documents share, one per document
first."""

from __future__ import annotations

import re

import numpy as np

from agentcrdt.errors import CannotAnswer
from agentcrdt.llm.offline.encoder import Encoder
from agentcrdt.llm.offline.text import Span, quote, sentences
from agentcrdt.llm.tasks import Citation, DocumentInput, Summary, ThemeContext, ThemeSummary

__all__ = ["summarize", "summarize_theme"]

MAX_CANDIDATES = 300
LEAD_BONUS = 0.15
REDUNDANT = 0.85
THEME_CANDIDATES = 80  # sentences per document of a theme
NAME_BONUS = 0.1  # a sentence naming what the theme's documents share says what holds them together


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


def summarize_theme(ctx: ThemeContext, enc: Encoder) -> ThemeSummary:
    """Pick up to ``ctx.max_sentences`` sentences of the theme's documents closest to what they share
    (the centroid of the documents' mean sentence vectors, plus a bonus for naming a shared name): the
    best sentence of each document first, most central documents first, then the next best overall."""
    cands: list[tuple[int, Span]] = []
    for di, doc in enumerate(ctx.documents):
        every = sentences(doc.text)
        cands += [(di, s) for s in ([s for s in every if _worth_quoting(s)] or every)[:THEME_CANDIDATES]]
    if not cands:
        raise CannotAnswer("the theme's documents have no text to quote", missing=("evidence",))
    vecs = enc([s.text for _, s in cands])
    owner = np.array([di for di, _ in cands])
    means = [vecs[owner == di].mean(axis=0) for di in sorted(set(owner.tolist()))]
    centroid = np.mean([m / (np.linalg.norm(m) or 1.0) for m in means], axis=0)
    centroid = centroid / (np.linalg.norm(centroid) or 1.0)
    names = [n.lower() for n in ctx.names if n.strip()]
    named = np.array([any(n in s.text.lower() for n in names) for _, s in cands], dtype=float)
    score = vecs @ centroid + NAME_BONUS * named
    order = sorted(range(len(cands)), key=lambda i: (-float(score[i]), i))
    chosen: list[int] = []
    docs_done: set[int] = set()
    for first_pass in (True, False):
        for i in order:
            if len(chosen) == ctx.max_sentences:
                break
            if i in chosen or (first_pass and int(owner[i]) in docs_done):
                continue
            if all(float(vecs[i] @ vecs[j]) < REDUNDANT for j in chosen):
                chosen.append(i)
                docs_done.add(int(owner[i]))
    chosen.sort(key=lambda i: (int(owner[i]), cands[i][1].start))
    central = int(owner[order[0]])
    label = " · ".join(ctx.names[:2]) or ctx.documents[central].title or ctx.documents[central].id
    points = [" ".join(cands[i][1].text.split()) for i in chosen]
    lead = f"{len(ctx.documents)} documents about {label}"
    if ctx.relations:
        lead += " (" + "; ".join(ctx.relations[:3]) + ")"
    coverage = float((vecs @ vecs[chosen].T).max(axis=1).mean())
    return ThemeSummary(
        label=label,
        summary=lead + ". " + " ".join(points),
        evidence=[
            Citation(
                doc_id=ctx.documents[int(owner[i])].id,
                quote=quote(ctx.documents[int(owner[i])].text, cands[i][1].start, cands[i][1].end),
            )
            for i in chosen
        ],
        confidence=round(min(0.9, max(0.05, 0.2 + 0.7 * coverage)), 3),
    )
