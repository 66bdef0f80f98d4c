"""Links between a document and candidates: duplicates (shingles), amendments and references (the text
names the candidate by title or date), and related documents (embedding similarity of sentence sets)."""

from __future__ import annotations

import re

from agentcrdt.llm.offline.encoder import Encoder
from agentcrdt.llm.offline.extract import document_title
from agentcrdt.llm.offline.normalize import find_dates
from agentcrdt.llm.offline.parties import INTRODUCES, LETTERHEAD, find_parties
from agentcrdt.llm.offline.text import Span, quote, sentences, words
from agentcrdt.llm.tasks import DocumentInput, Link, Links

__all__ = ["link"]

MAX_SENTENCES = 150
DUPLICATE = 0.9
#: Characters of a target read as its opening, where a contract introduces its parties.
OPENING = 5000
# "amends", "Amendment No. 1", "supplemental"; not a contract's own "as amended" or "may be modified".
_AMEND = re.compile(
    r"(?<!\bas\s)(?<!\bbe\s)(?<!\bbeen\s)(?<!\bis\s)(?<!\bare\s)"
    r"\b(amend\w*|supplement\w*|modif\w*|restat\w*)\b",
    re.I,
)


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


def _title_tail(title: str) -> str | None:
    """The last words of a stated title that end in its kind ("MICOA AGENCY AGREEMENT" -> "AGENCY
    AGREEMENT"): a title read from a cover page often carries a party's name or a legend in front, which
    the amendment leaves out. None when the title is already that short."""
    ws = words(title)
    if re.search(r"\b(amendment|addendum|supplement)\b", title, re.I):
        return None  # "AMENDMENT NO. 1 TO AGENCY AGREEMENT": its tail is the contract's title, not its own
    return (
        " ".join(ws[-2:])
        if len(ws) > 2 and re.fullmatch(r"agreement|contract|license|licence", ws[-1], re.I)
        else None
    )


def _says(sentence: str, title: str) -> bool:
    title_words = words(title)
    if len(title_words) < 2:
        return False
    pattern = r"\b" + r"\W+(?:\w+\W+){0,2}?".join(map(re.escape, title_words)) + r"\b"
    return re.search(pattern, sentence, re.I) is not None


def _names(sentence: str, target: DocumentInput, *, amends: bool) -> tuple[bool, str]:
    """Does the sentence name the target by title (most of its content words, in order)? And by what
    else: ``"date"``, ``"parties"`` or ``""``. The end of a title ("AGENCY AGREEMENT" of "MICOA AGENCY
    AGREEMENT") counts only in a sentence that ``amends``: said anywhere else, two words like "License
    Agreement" name too many documents."""
    titles = _titles(target)
    tails = [t for t in map(_title_tail, titles) if t] if amends else []
    by_title = any(_says(sentence, t) for t in [*titles, *tails])
    target_dates = {d for d, _, _ in find_dates(target.text[:3000])}
    by_date = any(d in target_dates for d, _, _ in find_dates(sentence))
    return by_title, "date" if by_date else "parties" if _names_parties(sentence, target) else ""


def _names_parties(sentence: str, target: DocumentInput) -> bool:
    """Does the sentence name two or more of the target's parties ("amends the Agreement between A and
    B")? Weaker than its title, as strong as its date: an amendment cites its contract by either."""
    said = " ".join(words(sentence))
    found = find_parties(target.text)
    if found is not None and found.strength > LETTERHEAD:  # a letter's sender and addressee: no contract
        named = [
            n for n in found.names if (w := " ".join(words(n))) and re.search(rf"\b{re.escape(w)}\b", said)
        ]
        if len(named) >= 2:
            return True
    # The other way round: the parties the sentence names, found in the target's opening (where a
    # contract introduces its parties, whatever form the reader could not parse).
    cited = find_parties(sentence)
    if cited is None:
        return False
    # Only where the target introduces parties ("between ...", "entered into by ..."): a board minute or
    # a customer list names the same companies without being their contract.
    intros = [target.text[m.end() : m.end() + 1500] for m in INTRODUCES.finditer(target.text, 0, OPENING)]
    opening = " ".join(words(" ".join(intros)))
    if not opening:
        return False
    # "between EuroTel and Sicap Ltd" may read as one name ("X and Y Corporation" is one): try its halves.
    pieces = {p for n in cited.names for p in [n, *re.split(r"\s+and\s+", n)] if p}
    named = [n for n in pieces if (w := " ".join(words(n))) and re.search(rf"\b{re.escape(w)}\b", opening)]
    return len(named) >= 2


def _same_kind(doc: DocumentInput, target: DocumentInput) -> bool:
    """Does the target's title name the document's own kind ("CO-BRANDING AGREEMENT" for a co-branding
    agreement)? Then a sentence saying that title may well name the document itself."""
    own = set(words(document_title(doc.text) or doc.title))
    return any(set(ws) <= own for t in _titles(target) if len(ws := words(t)) >= 2)


def _explicit(doc: DocumentInput, sents: list[Span], target: DocumentInput) -> tuple[Link, bool] | None:
    """The document's explicit relation to ``target`` and whether it names it twice over (by title and
    by parties or date)."""
    best: tuple[float, Span, str, str, bool] | None = None
    ambiguous = _same_kind(doc, target)
    for s in sents:
        amends = _AMEND.search(s.text) is not None
        by_title, other = _names(s.text, target, amends=amends)
        if ambiguous and not other:
            by_title = False  # its own kind's title alone names no other document: a date or parties must
        if not (by_title or other):
            continue
        if amends:
            conf = 0.6 + 0.2 * by_title + 0.15 * bool(other)
            why = "it says it amends a document it names by " + " and ".join(
                w for w, ok in (("title", by_title), (other, bool(other))) if ok
            )
            relation = "amends"
        elif by_title:
            conf, relation, why = 0.7, "references", "it names the target by its title"
        else:
            continue
        if best is None or conf > best[0]:
            best = (conf, s, relation, why, by_title and bool(other))
    if best is None:
        return None
    conf, s, relation, why, twice = best
    found = Link(
        target_id=target.id,
        relation="amends" if relation == "amends" else "references",
        confidence=round(conf, 3),
        rationale=why,
        evidence=[quote(doc.text, s.start, s.end)],
    )
    return found, twice


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
    twice: set[str] = set()
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
        explicit = _explicit(doc, sents, target)
        if explicit is not None:
            out.append(explicit[0])
            if explicit[1]:
                twice.add(target.id)
            continue
        similar = _similar(doc, sents, target, enc)
        if similar is not None:
            out.append(similar)
    # "The License Agreement between A and B": when a target is named by title *and* by parties or
    # date, other targets of that same title (or title ending) named by the title alone are other
    # agreements of the same kind; targets of other titles (the DPA an amendment also changes) stay.
    by_id = {c.id: c for c in candidates}

    def kinds(target_id: str) -> set[frozenset[str]]:
        titles = [t for t in _titles(by_id[target_id]) if t]
        found = {frozenset(words(t)) for t in titles} | {
            frozenset(words(t)) for t in map(_title_tail, titles) if t
        }
        return {k for k in found if len(k) >= 2}

    strong: set[frozenset[str]] = set()
    for lk in out:
        if lk.relation == "amends" and lk.target_id in twice:
            strong |= kinds(lk.target_id)
    out = [
        lk
        for lk in out
        if lk.relation != "amends" or lk.target_id in twice or not kinds(lk.target_id) & strong
    ]
    return Links(links=out)
