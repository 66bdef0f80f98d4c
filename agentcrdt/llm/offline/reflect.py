"""Reflection: one step of an exploration, composed from the other tasks' rules.

At a node, the offline model reads the document's contract fields (the extract rules), names what it
mentions (its parties and its governing law's place), links it to the candidates (the link rules), and
reports findings quoted on every side:

* ``contradiction``: a field of this document and the same field of a related document seen earlier
  (linked at this step, or sharing two parties) with different values, unless this document sets the
  value as an amendment does ("deleted and replaced with");
* ``connection``: an explicit relation (amends, references, duplicates) to a candidate, quoted in both
  documents, or a party this document shares with a candidate it does not cite;
* ``contradiction`` between figures (claims: revenue, a covenant's length, a share of the capital)
  this document states and figures an earlier step read elsewhere about the same subject and period
  (see :mod:`~agentcrdt.llm.offline.claims`);
* ``question``: an agreement the document names ("the Supply Agreement dated ...") that no candidate
  is, so a reviewer knows the room may be missing it.
"""

from __future__ import annotations

import re

from agentcrdt.llm.offline.claims import Claim, ambiguous, common_words, conflicts, read_claims
from agentcrdt.llm.offline.compare import compare, is_change
from agentcrdt.llm.offline.encoder import Encoder
from agentcrdt.llm.offline.extract import document_title, extract
from agentcrdt.llm.offline.link import link
from agentcrdt.llm.offline.text import Span, quote, sentences, words
from agentcrdt.llm.tasks import (
    Citation,
    CompareContext,
    DocumentInput,
    ExplorationFinding,
    ExtractedField,
    Fact,
    FieldSpec,
    Link,
    Mention,
    Quote,
    ReflectContext,
    Reflection,
)

__all__ = ["FIELDS", "reflect"]

#: The fields read at every node (what later steps compare).
FIELDS = (
    "parties", "effective_date", "expiration_date", "governing_law", "term", "renewal_term",
    "notice_period", "payment_terms",
)  # fmt: skip
#: The fields whose values two related documents should agree on (dates and parties legitimately differ).
TERMS = frozenset({"governing_law", "term", "renewal_term", "notice_period", "payment_terms"})
_EXPLICIT = frozenset({"amends", "references", "duplicates"})
_NAMED_AGREEMENT = re.compile(
    r"\b(?:the|that\s+certain|an?\s+existing|its)\s+((?:[A-Z][\w&'\-]*\s+){1,6}"
    r"(?:Agreement|Contract|Lease|License|Licence|Plan))\b"
)
MAX_QUESTIONS = 3


def _sentence_of(sents: list[Span], start: int) -> Span | None:
    return next((s for s in sents if s.start <= start < s.end), None)


def _naming(text: str, sents: list[Span], name: str) -> Quote | None:
    """The first sentence of ``text`` naming ``name`` (case-insensitive, across whitespace)."""
    pattern = r"\s+".join(map(re.escape, name.split()))
    m = re.search(rf"(?<!\w){pattern}(?!\w)", text, re.I)
    if m is None:
        return None
    s = _sentence_of(sents, m.start())
    return quote(text, s.start, s.end) if s is not None else quote(text, m.start(), m.end())


def _parties(value: str) -> list[str]:
    return [p.strip() for p in value.split(";") if len(p.strip()) >= 3]


def _key(name: str) -> str:
    return " ".join(words(name))


def _title_quote(doc: DocumentInput, sents: list[Span]) -> Quote | None:
    title = document_title(doc.text)
    if title:
        found = _naming(doc.text, sents, title)
        if found is not None:
            return found
    return quote(doc.text, sents[0].start, sents[0].end) if sents else None


def reflect(ctx: ReflectContext, enc: Encoder) -> Reflection:
    """Return what the node's document holds, connects to and conflicts with (see the module doc)."""
    doc = ctx.document
    sents = sentences(doc.text)
    fields = extract(doc, [FieldSpec(name=f) for f in FIELDS], enc).fields
    mentions: list[Mention] = []
    own_parties: list[str] = []
    for f in fields:
        if f.name == "parties":
            for name in _parties(f.value):
                q = _naming(doc.text, sents, name) or f.quote
                mentions.append(Mention(name=name, kind="party", quote=q))
                own_parties.append(name)
        elif f.name == "governing_law":
            mentions.append(Mention(name=f.value, kind="jurisdiction", quote=f.quote))
    links = link(doc, ctx.candidates, enc).links
    by_id = {c.id: c for c in ctx.candidates}
    findings = _connections(doc, sents, links, by_id, own_parties)
    findings += _contradictions(ctx, fields, links, own_parties)
    findings += _questions(doc, sents, ctx.candidates)
    claims = _own_claims(doc)
    findings += _claim_contradictions(ctx, claims)
    return Reflection(
        mentions=mentions,
        links=links,
        findings=findings,
        facts=fields,
        claims=[
            ExtractedField(name=c.label, value=c.value, quote=quote(doc.text, c.start, c.end), confidence=0.6)
            for c in claims
        ],
    )


def _own_claims(doc: DocumentInput) -> list[Claim]:
    """The figures of ``doc`` later steps compare: not those describing the document itself (its own
    term and dates are fields, compared only with related documents) nor those it sets as an amendment."""
    return [
        c for c in read_claims(doc.text) if not c.about_itself and not is_change(doc.text, c.start, c.end)
    ]


def _claim_contradictions(ctx: ReflectContext, own: list[Claim]) -> list[ExplorationFinding]:
    """This document's figures against the figures earlier steps read elsewhere: one finding per pair
    of documents and figure (the first conflicting statement of each)."""
    doc = ctx.document
    common = common_words([doc.text, *(c.text for c in ctx.candidates)])
    out: list[ExplorationFinding] = []
    done: set[tuple[str, str]] = set()
    read: dict[str, list[Claim]] = {}  # each seen document's figures, read back from their clauses
    for seen in ctx.claims:
        if seen.doc_id != doc.id:
            read.setdefault(seen.doc_id, []).extend(
                c for c in read_claims(seen.quote.text) if c.value == seen.value
            )
    clear = [c for c in own if not ambiguous(c, own, common)]
    for seen in ctx.claims:
        if seen.doc_id == doc.id:
            continue
        # This figure read back from its own clause (another clause of that document may state the
        # same value about something else); the document's other figures only decide ambiguity.
        theirs = [c for c in read_claims(seen.quote.text) if c.value == seen.value][:1]
        if not theirs or ambiguous(theirs[0], read[seen.doc_id], common):
            continue
        for mine in clear:
            key = (seen.doc_id, mine.label)
            if key in done or not conflicts(mine, theirs[0], common):
                continue
            done.add(key)
            here = quote(doc.text, mine.start, mine.end)
            out.append(
                ExplorationFinding(
                    kind="contradiction",
                    title=f"{mine.label}: {mine.value} ({doc.id}) vs {seen.value} ({seen.doc_id})",
                    description=f"{doc.id} states {here.text!r}; {seen.doc_id} states {seen.quote.text!r}.",
                    evidence=[
                        Citation(doc_id=doc.id, quote=here),
                        Citation(doc_id=seen.doc_id, quote=seen.quote),
                    ],
                    confidence=0.55,
                )
            )
    return out


def _connections(
    doc: DocumentInput,
    sents: list[Span],
    links: list[Link],
    by_id: dict[str, DocumentInput],
    own_parties: list[str],
) -> list[ExplorationFinding]:
    out: list[ExplorationFinding] = []
    cited: set[str] = set()
    for lk in links:
        target = by_id.get(lk.target_id)
        if lk.relation not in _EXPLICIT or target is None or not lk.evidence:
            continue
        there = _title_quote(target, sentences(target.text))
        if there is None:
            continue
        cited.add(target.id)
        out.append(
            ExplorationFinding(
                kind="connection",
                title=f"{doc.id} {lk.relation} {target.id}",
                description=lk.rationale,
                evidence=[
                    Citation(doc_id=doc.id, quote=lk.evidence[0]),
                    Citation(doc_id=target.id, quote=there),
                ],
                confidence=lk.confidence,
            )
        )
    # A party most candidates name (the company under diligence) connects everything and so nothing.
    texts = {t.id: " ".join(t.text.lower().split()) for t in by_id.values()}
    hub = max(2, len(by_id) // 3)
    rare = [n for n in own_parties if sum(" ".join(n.lower().split()) in t for t in texts.values()) <= hub]
    for target in by_id.values():
        if target.id in cited:
            continue
        tsents: list[Span] | None = None
        for name in rare:
            here = _naming(doc.text, sents, name)
            tsents = tsents if tsents is not None else sentences(target.text)
            there = _naming(target.text, tsents, name)
            if here is None or there is None:
                continue
            out.append(
                ExplorationFinding(
                    kind="connection",
                    title=f"{doc.id} and {target.id} both name {name}",
                    description=f"{name}, a party to {doc.id}, is named in {target.id}, which {doc.id} "
                    "does not cite: the two may concern the same relationship.",
                    evidence=[Citation(doc_id=doc.id, quote=here), Citation(doc_id=target.id, quote=there)],
                    confidence=0.5,
                )
            )
            break  # one shared-party connection per pair is enough to follow it
    return out


def _related(ctx: ReflectContext, links: list[Link], own_parties: list[str]) -> set[str]:
    """Documents seen earlier that this one is about the same deal as: linked explicitly here, or
    sharing at least two parties (unrelated contracts under different laws do not contradict)."""
    related = {lk.target_id for lk in links if lk.relation in _EXPLICIT} | set(ctx.related)
    mine = {_key(p) for p in own_parties}
    theirs: dict[str, set[str]] = {}
    for f in ctx.seen:
        if f.field == "parties":
            theirs.setdefault(f.doc_id, set()).update(_key(p) for p in _parties(f.value))
    related |= {d for d, names in theirs.items() if len(mine & names) >= 2}
    return related


def _contradictions(
    ctx: ReflectContext, fields: list[ExtractedField], links: list[Link], own_parties: list[str]
) -> list[ExplorationFinding]:
    doc = ctx.document
    related = _related(ctx, links, own_parties)
    facts = [
        Fact(doc_id=doc.id, field=f.name, value=f.value, quote=f.quote, confidence=f.confidence)
        for f in fields
        # A value this document sets ("Section 4 is deleted and replaced with") amends, not conflicts.
        if f.name in TERMS and not is_change(doc.text, f.quote.start, f.quote.end)
    ]
    facts += [f for f in ctx.seen if f.doc_id in related and f.field in TERMS]
    documents = [doc, *(c for c in ctx.candidates if c.id in related)]
    out: list[ExplorationFinding] = []
    for c in compare(CompareContext(facts=facts, documents=documents)).findings:
        if doc.id not in (c.doc_a, c.doc_b) or c.doc_a == c.doc_b:
            continue
        out.append(
            ExplorationFinding(
                kind="contradiction",
                title=f"{c.field_or_claim}: {c.value_a} ({c.doc_a}) vs {c.value_b} ({c.doc_b})",
                description=c.rationale,
                evidence=[
                    Citation(doc_id=c.doc_a, quote=c.quote_a),
                    Citation(doc_id=c.doc_b, quote=c.quote_b),
                ],
                confidence=c.confidence,
            )
        )
    return out


def _questions(
    doc: DocumentInput, sents: list[Span], candidates: list[DocumentInput]
) -> list[ExplorationFinding]:
    own = _key(document_title(doc.text) or doc.title)
    known = {_key(document_title(c.text) or c.title) for c in candidates} | {
        _key(c.title) for c in candidates
    }
    out: list[ExplorationFinding] = []
    asked: set[str] = set()
    for m in _NAMED_AGREEMENT.finditer(doc.text):
        name = " ".join(m.group(1).split())
        key = _key(name)
        if key in asked or key == own or any(key and (key in k or k.endswith(key)) for k in known if k):
            continue
        s = _sentence_of(sents, m.start())
        if s is None:
            continue
        asked.add(key)
        out.append(
            ExplorationFinding(
                kind="question",
                title=f"Where is the {name}?",
                description=f"{doc.id} names the {name}, and no document reached so far is it.",
                evidence=[Citation(doc_id=doc.id, quote=quote(doc.text, s.start, s.end))],
                confidence=0.4,
            )
        )
        if len(out) >= MAX_QUESTIONS:
            break
    return out
