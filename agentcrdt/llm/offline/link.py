"""Links between a document and candidates: duplicates (shingles), amendments and references (the text
names the candidate by title or date), and related documents (embedding similarity of sentence sets)."""

from __future__ import annotations

import re

from agentcrdt.llm.offline.encoder import Encoder
from agentcrdt.llm.offline.extract import document_title
from agentcrdt.llm.offline.normalize import find_dates
from agentcrdt.llm.offline.parties import find_parties
from agentcrdt.llm.offline.text import Span, quote, sentences, words
from agentcrdt.llm.tasks import DocumentInput, Link, Links

__all__ = ["link"]

MAX_SENTENCES = 150
DUPLICATE = 0.9
_AMEND = re.compile(r"\b(amend\w*|supplement\w*|modif\w*|restat\w*)\b", re.I)


def _shingles(text: str, k: int = 5) -> set[str]:
    ws = words(text)
    return {" ".join(ws[i : i + k]) for i in range(max(1, len(ws) - k + 1))} if ws else set()


def _jaccard(a: str, b: str) -> float:
    sa, sb = _shingles(a), _shingles(b)
    return len(sa & sb) / len(sa | sb) if sa and sb else 0.0


def _titles(target: DocumentInput) -> list[str]:
    # The heading the caller gave, and the title the text states: a filing's first line is often
    # "Exhibit 10.27" or a letterhead, while an amendment names the contract by its title.
    stated = document_title(target.text)
    return [target.title] + ([stated] if stated and stated != target.title else [])


def _names(sentence: str, target: DocumentInput) -> tuple[bool, bool]:
    """Does the sentence name the target by title (most of its content words, in order), or by its date?"""
    by_title = False
    for title in _titles(target):
        title_words = words(title)
        if len(title_words) >= 2:
            pattern = r"\b" + r"\W+(?:\w+\W+){0,2}?".join(map(re.escape, title_words)) + r"\b"
            by_title = by_title or re.search(pattern, sentence, re.I) is not None
    target_dates = {d for d, _, _ in find_dates(target.text[:3000])}
    by_date = any(d in target_dates for d, _, _ in find_dates(sentence))
    return by_title, by_date or _names_parties(sentence, target)


def _names_parties(sentence: str, target: DocumentInput) -> bool:
    """Does the sentence name two or more of the target's parties ("amends the Agreement between A and
    B")? Weaker than its title, as strong as its date: an amendment cites its contract by either."""
    found = find_parties(target.text)
    if found is None:
        return False
    said = " ".join(words(sentence))
    named = [n for n in found.names if (w := " ".join(words(n))) and re.search(rf"\b{re.escape(w)}\b", said)]
    return len(named) >= 2


def _explicit(doc: DocumentInput, sents: list[Span], target: DocumentInput) -> Link | None:
    best: tuple[float, Span, str, str] | None = None
    for s in sents:
        by_title, by_date = _names(s.text, target)
        if not (by_title or by_date):
            continue
        amends = _AMEND.search(s.text) is not None
        if amends:
            conf = 0.6 + 0.2 * by_title + 0.15 * by_date
            why = "it says it amends a document it names by " + " and ".join(
                w for w, ok in (("title", by_title), ("date", by_date)) if ok
            )
            relation = "amends"
        elif by_title:
            conf, relation, why = 0.7, "references", "it names the target by its title"
        else:
            continue
        if best is None or conf > best[0]:
            best = (conf, s, relation, why)
    if best is None:
        return None
    conf, s, relation, why = best
    return Link(
        target_id=target.id,
        relation="amends" if relation == "amends" else "references",
        confidence=round(conf, 3),
        rationale=why,
        evidence=[quote(doc.text, s.start, s.end)],
    )


def _similar(doc: DocumentInput, sents: list[Span], target: DocumentInput, enc: Encoder) -> Link | None:
    tsents = sentences(target.text)[:MAX_SENTENCES]
    if not sents or not tsents:
        return None
    a = enc([s.text for s in sents])
    b = enc([s.text for s in tsents])
    sims = a @ b.T
    score = 0.5 * (float(sims.max(axis=1).mean()) + float(sims.max(axis=0).mean()))
    threshold = enc.calibration.related
    if score < threshold:
        return None
    best = sents[int(sims.max(axis=1).argmax())]
    conf = 0.4 + 0.5 * min(1.0, (score - threshold) / max(1e-6, 1.0 - threshold))
    return Link(
        target_id=target.id,
        relation="related",
        confidence=round(conf, 3),
        rationale=f"similar content (sentence-set similarity {score:.2f})",
        evidence=[quote(doc.text, best.start, best.end)],
    )


def link(doc: DocumentInput, candidates: list[DocumentInput], enc: Encoder) -> Links:
    """Return at most one link per candidate, strongest relation first: duplicates, amends/references,
    related."""
    sents = sentences(doc.text)[:MAX_SENTENCES]
    out: list[Link] = []
    for target in candidates:
        if target.id == doc.id:
            continue
        dup = _jaccard(doc.text, target.text)
        if dup >= DUPLICATE and sents:
            out.append(
                Link(
                    target_id=target.id,
                    relation="duplicates",
                    confidence=round(dup, 3),
                    rationale=f"near-identical text ({dup:.0%} of word 5-grams shared)",
                    evidence=[quote(doc.text, sents[0].start, sents[0].end)],
                )
            )
            continue
        found = _explicit(doc, sents, target) or _similar(doc, sents, target, enc)
        if found is not None:
            out.append(found)
    return Links(links=out)
