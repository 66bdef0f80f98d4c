"""Contradictions: the same field with different normalized values in two facts (documents or versions)."""

from __future__ import annotations

import re
from itertools import combinations
from typing import Literal

from agentcrdt.llm.offline.extract import ALIASES
from agentcrdt.llm.offline.normalize import canonical_value, jurisdictions_agree
from agentcrdt.llm.tasks import CompareContext, ContradictionFinding, Contradictions, Fact, Quote, check_quote

__all__ = ["compare", "is_change"]

_CANONICAL = {alias: name for name, aliases in ALIASES.items() for alias in aliases}
_HIGH = {"amount", "payment_terms", "governing_law", "parties", "term", "renewal_term"}
_MEDIUM = {"agreement_date", "effective_date", "expiration_date", "notice_period"}


_CHANGE = re.compile(
    r"\b(deleted|replaced|substituted|is hereby amended|amended to read|shall be amended"
    r"|increased|reduced)\b",
    re.I,
)
_KEPT = re.compile(r"\b(not (?:be )?(?:changed|modified|amended)|unchanged|no other change)\b", re.I)


def is_change(text: str, start: int, end: int) -> bool:
    """Tell whether the quote ``text[start:end]`` is a value an amendment sets (not one it restates).

    Looks at the quote and the paragraph before it ("Section 3.1 is deleted and replaced with the
    following:"); a quote saying the value is not changed is a restatement whatever precedes it.
    """
    if _KEPT.search(text[start:end]):
        return False
    para = text.rfind("\n\n", 0, start)
    prev = text.rfind("\n\n", 0, para) if para > 0 else -1
    return _CHANGE.search(text[max(0, prev, start - 600) : end]) is not None


def _field(name: str) -> str:
    key = re.sub(r"[^a-z0-9]+", "_", name.lower()).strip("_")
    return _CANONICAL.get(key, key)


def _severity(field: str) -> Literal["low", "medium", "high"]:
    return "high" if field in _HIGH else "medium" if field in _MEDIUM else "low"


def _same(field: str, a: str, b: str) -> bool:
    ca, cb = canonical_value(a), canonical_value(b)
    if ca == cb:
        return True
    if field == "governing_law":
        return jurisdictions_agree(a, b)
    if field in ("renewal", "renewal_term"):
        # "P1Y" says the length and not how it renews: it agrees with "auto P1Y" and "option P1Y".
        mode = re.compile(r"^(auto|option)\s+")
        if bool(mode.match(ca)) != bool(mode.match(cb)):
            return mode.sub("", ca) == mode.sub("", cb)
    return False


def compare(ctx: CompareContext) -> Contradictions:
    """Pair up facts of one field whose canonical values differ; keep the most confident fact per
    (document, field, value). Quotes are re-checked against ``ctx.documents`` when given (a quote that
    cannot be found lowers confidence; a moved one is repaired)."""
    texts = {d.id: d.text for d in ctx.documents}

    def checked(f: Fact) -> tuple[Quote, bool]:
        if f.doc_id not in texts:
            return f.quote, False
        q = check_quote(texts[f.doc_id], f.quote)
        return (q, True) if q is not None else (f.quote, False)

    best: dict[tuple[str, str, str], Fact] = {}
    for f in ctx.facts:
        key = (_field(f.field), f.doc_id, canonical_value(f.value))
        if key not in best or f.confidence > best[key].confidence:
            best[key] = f
    by_field: dict[str, list[Fact]] = {}
    for (field, _, _), f in sorted(best.items()):
        by_field.setdefault(field, []).append(f)
    findings = []
    for field, facts in sorted(by_field.items()):
        for a, b in combinations(facts, 2):
            if _same(field, a.value, b.value):
                continue
            (qa, oka), (qb, okb) = checked(a), checked(b)
            verified = oka and okb
            conf = min(a.confidence, b.confidence) * (0.95 if verified else 0.6 if texts else 0.85)
            where = "the same document" if a.doc_id == b.doc_id else f"{a.doc_id} and {b.doc_id}"
            findings.append(
                ContradictionFinding(
                    field_or_claim=a.field,
                    value_a=a.value,
                    value_b=b.value,
                    doc_a=a.doc_id,
                    doc_b=b.doc_id,
                    quote_a=qa,
                    quote_b=qb,
                    severity=_severity(field),
                    confidence=round(conf, 3),
                    rationale=f"{field} is {a.value!r} in one place and {b.value!r} in the other ({where})",
                )
            )
    return Contradictions(findings=findings)
