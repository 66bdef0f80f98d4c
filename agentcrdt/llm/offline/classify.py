"""Nearest-label classification: document kind from the title and opening, clause tags from sentences.

A label scores by the cosine between its ``name: description`` and the document's text (the opening for
kinds, the best sentence for tags) plus keyword cues (its ``keywords``, or its name when it has none).
A vocabulary of contract clause types (CUAD's yes/no categories, without keywords) goes to the clause
rules of :mod:`.clauses` instead, which quote one clause per tag.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import numpy as np

from agentcrdt.llm.offline import clauses
from agentcrdt.llm.offline.encoder import Encoder
from agentcrdt.llm.offline.text import Span, quote, sentences
from agentcrdt.llm.tasks import Classification, DocumentInput, LabelSpec, Quote

__all__ = ["classify"]

MAX_SENTENCES = 400
HEAD_CHARS = 600


def _cues(label: LabelSpec) -> list[re.Pattern[str]]:
    phrases = label.keywords or [label.name.replace("_", " ").replace("-", " ")]
    return [
        re.compile(r"\b" + r"\s+".join(map(re.escape, p.split())) + r"\b", re.I) for p in phrases if p.strip()
    ]


def _label_text(label: LabelSpec) -> str:
    name = label.name.replace("_", " ").replace("-", " ")
    return f"{name}: {label.description}" if label.description else name


@dataclass(frozen=True)
class _Scored:
    name: str
    score: float
    confidence: float
    sentence: Span | None
    why: str


def _first_hit(cues: list[re.Pattern[str]], sents: list[Span]) -> Span | None:
    return next((s for s in sents if any(c.search(s.text) for c in cues)), None)


def _best_hit(cues: list[re.Pattern[str]], sents: list[Span], sims: list[float]) -> Span | None:
    """The keyword-bearing sentence closest to the label (headings like 'Governing Law.' lose to clauses)."""
    hits = [(len(s.text) >= 40, sim, -s.index, s) for s, sim in zip(sents, sims, strict=True)]
    found = [h for h in hits if any(c.search(h[3].text) for c in cues)]
    return max(found, key=lambda h: h[:3])[3] if found else None


def _kinds(doc: DocumentInput, kinds: list[LabelSpec], sents: list[Span], enc: Encoder) -> list[_Scored]:
    head = f"{doc.title}\n{doc.text[:HEAD_CHARS]}".strip()
    head_sents = [s for s in sents if s.start < HEAD_CHARS] or sents[:1]
    vecs = enc([head, *(_label_text(k) for k in kinds)])
    sims = vecs[1:] @ vecs[0]
    out = []
    for k, sim in zip(kinds, sims, strict=True):
        cues = _cues(k)
        in_title = any(c.search(doc.title) for c in cues)
        hit = _first_hit(cues, head_sents)
        score = float(sim) + 0.6 * in_title + 0.4 * (hit is not None)
        why = "title names it" if in_title else "opening names it" if hit else f"similarity {float(sim):.2f}"
        out.append(_Scored(k.name, score, 0.0, hit or (head_sents[0] if head_sents else None), why))
    return sorted(out, key=lambda s: -s.score)


def _tags(tags: list[LabelSpec], sents: list[Span], enc: Encoder) -> list[_Scored]:
    if not tags or not sents:
        return []
    cal = enc.calibration
    svecs = enc([s.text for s in sents])
    lvecs = enc([_label_text(t) for t in tags])
    sims = lvecs @ svecs.T  # (tags, sentences)
    out = []
    for t, row in zip(tags, sims, strict=True):
        best = int(np.argmax(row))
        sim = float(row[best])
        hit = _best_hit(_cues(t), sents, [float(x) for x in row])
        if hit is not None:
            conf = 0.9 if sim >= cal.tag else 0.7
            out.append(_Scored(t.name, sim, conf, hit, "keyword"))
        elif sim >= cal.tag:
            strength = min(1.0, (sim - cal.tag) / max(1e-6, cal.tag_strong - cal.tag))
            out.append(
                _Scored(t.name, sim, round(0.5 + 0.3 * strength, 3), sents[best], f"similarity {sim:.2f}")
            )
    return out


def classify(
    doc: DocumentInput, kinds: list[LabelSpec], tags: list[LabelSpec], enc: Encoder
) -> Classification:
    """Pick the nearest kind and every tag above its calibrated threshold, with the sentences as evidence."""
    sents = sentences(doc.text)[:MAX_SENTENCES]
    ranked = _kinds(doc, kinds, sents, enc)
    top = ranked[0]
    margin = top.score - ranked[1].score if len(ranked) > 1 else 0.5
    kind_conf = min(0.95, max(0.05, 0.3 + 0.4 * min(1.0, max(0.0, top.score)) + 0.5 * margin))
    if clauses.answers(tags):
        return clauses.classify_clauses(doc, top.name, tags, enc)
    chosen = _tags(tags, sents, enc)
    confidence = (
        kind_conf if not chosen else 0.5 * kind_conf + 0.5 * float(np.mean([t.confidence for t in chosen]))
    )
    evidence: list[Quote] = []
    seen: set[int] = set()
    for s in [top.sentence, *(t.sentence for t in chosen)]:
        if s is not None and s.index not in seen:
            seen.add(s.index)
            evidence.append(quote(doc.text, s.start, s.end))
    rationale = f"kind {top.name!r}: {top.why} (margin {margin:.2f} over the next kind)"
    if chosen:
        rationale += "; tags: " + ", ".join(f"{t.name} ({t.why})" for t in chosen)
    return Classification(
        kind=top.name,
        tags=[t.name for t in chosen],
        confidence=round(confidence, 3),
        rationale=rationale,
        evidence=evidence,
    )
