"""Field extraction: rules and patterns per known field, embedding-ranked sentences for the rest.

Every value is read from one sentence and quoted exactly (the sentence, or a window of it around the
value when it is long). Known field names (case and separators ignored) and their aliases are in
:data:`ALIASES`; any other field is answered with the sentence closest to its description, if close enough.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import date

from agentcrdt.llm.offline.encoder import Encoder
from agentcrdt.llm.offline.normalize import (
    find_dates,
    find_durations,
    find_money,
    jurisdiction,
    parse_number,
)
from agentcrdt.llm.offline.parties import find_parties
from agentcrdt.llm.offline.text import Span, quote, sentences
from agentcrdt.llm.tasks import DocumentInput, ExtractedField, Extraction, FieldSpec

__all__ = ["ALIASES", "Candidate", "document_title", "extract"]

ALIASES = {
    "document_name": ("document_name", "contract_name", "agreement_name", "contract_title", "document_title"),
    "parties": ("parties", "party", "counterparties"),
    "agreement_date": ("agreement_date", "date", "signing_date", "execution_date", "dated"),
    "effective_date": ("effective_date", "commencement_date", "start_date"),
    "expiration_date": ("expiration_date", "expiry_date", "end_date", "termination_date"),
    "governing_law": ("governing_law", "law", "jurisdiction", "choice_of_law"),
    "term": ("term", "initial_term", "duration", "term_length"),
    "renewal_term": ("renewal_term", "renewal", "auto_renewal"),
    "notice_period": ("notice_period", "termination_notice"),
    "renewal_notice": (
        "notice_period_to_terminate_renewal",
        "renewal_notice",
        "non_renewal_notice",
        "notice_of_non_renewal",
    ),
    "payment_terms": ("payment_terms", "payment_term", "payment_due"),
    "amount": ("amount", "contract_value", "total_value", "price", "fees", "fee", "purchase_price"),
}
_CANONICAL = {alias: name for name, aliases in ALIASES.items() for alias in aliases}


@dataclass(frozen=True)
class Candidate:
    """A value read from one sentence: ``start``/``end`` locate the value inside the document."""

    value: str
    sentence: Span
    start: int
    end: int
    score: float  # rule strength (ranks candidates)
    confidence: float


def _key(name: str) -> str:
    return re.sub(r"[^a-z0-9]+", "_", name.lower()).strip("_")


def _has(pattern: str, text: str) -> bool:
    return re.search(pattern, text, re.I) is not None


# -- rules ------------------------------------------------------------------------------------------------


def _governing_law(sents: list[Span]) -> list[Candidate]:
    out = []
    for s in sents:
        t = s.text
        if not _has(r"\b(laws?|legislation)\b", t) or not _has(
            r"govern|constru|interpret|enforce|subject to|apply|regulated by|in accordance with the laws", t
        ):
            continue
        places = jurisdiction(t)
        if not places:
            continue
        anchors = list(re.finditer(r"\b(?:laws?|legislation)\s+(?:in\s+force\s+in\s+|of\s+)", t, re.I))
        # "Except for the SCCs, which are governed by the law of Ireland, this DPA is governed by the laws
        # of New York": the law the document's own subject is governed by wins over one it carves out.
        own = [
            a
            for a in anchors
            if _has(
                r"\bthis\s+\w+\s+(shall|will|is)\s+(be\s+)?(governed|construed)\b[^,;]{0,60}$", t[: a.start()]
            )
        ]
        anchor = own[0] if own else anchors[0] if anchors else None
        after = [p for p in places if anchor and p[1] >= anchor.end()] or places
        name, a, b = after[0]
        score = 1.0 + _has(r"governed\s+by", t) + 0.5 * _has(r"constru", t) + 0.5 * bool(anchor)
        # The contract's own choice of law, not a law some opinion or other document is limited to.
        score += 0.5 * _has(
            r"\bthis\s+(agreement|contract)\s+(shall|will|is)\s+(be\s+)?(governed|construed|interpreted)", t
        )
        score -= 1.0 * _has(r"\b(opinion|counsel)\b", t)
        score -= 0.5 * _has(r"\b(courts?|venue|arbitration|jurisdiction of)\b", t[: a - 0])
        conf = 0.9 if score >= 2.5 else 0.75 if score >= 2 else 0.55
        out.append(Candidate(name, s, s.start + a, s.start + b, score, conf))
    return out


_PREAMBLE_CUE = r"\b(dated|as of|made|entered into|effective|this agreement|agreement date)\b"
_NEAR_CUE = r"(dated|as of|made|entered into|effective|executed|on|this|date:?)\W{0,3}(\w+\W+){0,3}$"
#: The SEC filing stamp on every page ("Source: ACME INC, 10-Q, 5/20/2014"): the filing's date, not the
#: contract's.
_FILING_STAMP = (
    r"\b(8-K|10-K|10-Q|S-\d+|20-F|10SB|10-12G|F-\d|N-\d|485BPOS|DRS|SB-2|1-A)[\w/.\-]*\s*,\s*\d|^source:"
)
_BLANK = r"(?:_{2,}|\[\s*[·•*]?\s*\]|\[_+\])"
#: A template's date with blanks ("made this ____ day of ________, 2019"): only the year is known.
_BLANK_DATE = re.compile(
    rf"{_BLANK}\s*(?:day\s+of\s+)?(?:{_BLANK}|(?P<month>[A-Z][a-z]+))?\s*,?\s*(?P<year>(?:19|20)\d\d)\b"
)


_MONTH_NAMES = (
    "january", "february", "march", "april", "may", "june", "july", "august", "september", "october",
    "november", "december",
)  # fmt: skip
_MONTH_NUMBER = {m: i + 1 for i, m in enumerate(_MONTH_NAMES)}


def _agreement_date(sents: list[Span]) -> list[Candidate]:
    out = []
    for s in sents:
        if s.start > 12000:
            break
        cue = _has(_PREAMBLE_CUE, s.text)
        if (s.start > 4000 and not cue) or _has(_FILING_STAMP, s.text):
            continue
        for iso, a, b in find_dates(s.text):
            near = _has(_NEAR_CUE, s.text[max(0, a - 60) : a]) or _has(r"^\W*day\s+of", s.text[b - 12 : b])
            # "amends the Agreement dated ...": the date of another document
            refers = _has(_OTHER_DOCUMENT, s.text)
            score = 1.0 + cue + 2 * (cue and near) - refers - min(1.0, s.index * 0.02)
            out.append(
                Candidate(iso, s, s.start + a, s.start + b, score, 0.85 if near else 0.6 if cue else 0.45)
            )
            break
    if not out or max(c.score for c in out) < 2:
        for s in sents:
            if s.start > 4000:
                break
            m = _BLANK_DATE.search(s.text)
            if m and _has(_PREAMBLE_CUE, s.text) and not _has(_FILING_STAMP, s.text):
                month = _MONTH_NUMBER.get((m.group("month") or "").lower())
                value = m.group("year") + (f"-{month:02d}" if month else "")
                out.append(Candidate(value, s, s.start + m.start(), s.start + m.end(), 2.5, 0.4))
                break
    return out


#: A date of another document ("the Master Agreement ... dated as of July 27, 2009", "amends the
#: Agreement dated ..."), not of this one.
_OTHER_DOCUMENT = (
    r"\"[^\"]{3,80}\"\s+(shall\s+)?means?\b|\b(amends?|amended|amending)\b"
    r"|\bpursuant to\b|\bunder (the|that)\b"
    r"|\b(entered into|are parties to|party to)\s+(an?|the|that)\s+[^.]{0,80}\b(agreement|contract)\b"
    r"|\bconvention\b"
)

_NOT_START = r"(until|through|expir\w*|end\w*|terminat\w*|later than|between|and)\s+(on\s+)?(\w+\s+){0,2}$"
_FROM_SIGNING = (
    r"(effective|commenc\w*|begin\w*|take effect)\W+(\w+\W+){0,4}(upon|on|as of|from)\s+(the\s+)?"
    r"(date\s+(hereof|first\s+(above\s+)?(written|set forth)|of\s+(this\s+agreement|execution))"
    r"|execution|signing)"
)


def _effective_date(sents: list[Span]) -> list[Candidate]:
    out = []
    for s in sents:
        if not _has(r"\beffective\b|\bcommence", s.text) or _has(_FILING_STAMP, s.text):
            continue
        other = _has(_OTHER_DOCUMENT, s.text)
        for iso, a, b in find_dates(s.text):
            before = s.text[:a]
            if _has(_NOT_START, before):
                continue
            strong = _has(
                r"effective\s+date\W{0,3}\s+(means|shall be|is)|effective\s+(as\s+(of|from)|on)", s.text
            )
            near = _has(r"(effective|commenc\w*)\W+(\w+\W+){0,4}$", before)
            if not near and not strong:
                continue
            score = 3.0 + strong + near - 2 * other - min(1.0, s.index * 0.01)
            out.append(
                Candidate(iso, s, s.start + a, s.start + b, score, 0.85 if strong and not other else 0.6)
            )
            break
    if not out:
        # Most contracts take effect on the date they are dated: when the opening says so ("made as of",
        # "effective", a term that starts "on the date hereof"), the agreement date is the effective date.
        says = any(_has(_FROM_SIGNING, s.text) for s in sents)
        for c in _agreement_date(sents):
            if says or _has(r"\bas of\b|\beffective\b|\bcommenc", c.sentence.text):
                out.append(
                    Candidate(c.value, c.sentence, c.start, c.end, c.score - 2, round(c.confidence * 0.6, 3))
                )
    return out


def _add(d: date, iso: str) -> date | None:
    n, unit = int(iso[1:-1]), iso[-1]
    if unit == "D":
        return date.fromordinal(d.toordinal() + n)
    if unit == "W":
        return date.fromordinal(d.toordinal() + 7 * n)
    months = n * 12 if unit == "Y" else n
    y, m = divmod(d.month - 1 + months, 12)
    try:
        return d.replace(year=d.year + y, month=m + 1)
    except ValueError:
        return None


_OF_TERM = (
    r"\b(the\s+term|initial\s+term|this\s+agreement|agreement\s+(shall|will)|term\s+of\s+this)\b"
    # A defined term ("Term" means ..., "Contract Period" means ...) or a project's dates.
    r"|\bterm\W{0,3}\s+(shall\s+)?means?\b|\bcontract\s+period\b|\bterms?\s+of\s+the\s+project\b"
)
_NOT_TERM = r"\b(quarter|fiscal\s+year|calendar\s+year|period\s+beginning|year\s+\d|policy|lease\b)"
_PERPETUAL = (
    r"\b(in\s+perpetuity|perpetual(ly)?)\b|\b(continue|remain)\w*\s+(in\s+(full\s+)?(force|effect)\s+)?"
    r"(and\s+effect\s+)?(thereafter\s+)?(until|unless)\s+(and\s+until\s+)?(it\s+is\s+)?(terminated|termination"
    r"|either\s+party|one\s+of\s+the\s+parties|the\s+parties)"
    r"|\b(continue|remain)\w*\s+(in\s+(full\s+)?(force|effect)\s+)?indefinitely"
    # Until an event, not a date: CUAD answers these "perpetual" (no fixed end).
    r"|\b(continue|extend|remain)\w*\s+(in\s+(full\s+)?(force|effect)\s+)?(until|through)\s+(the\s+)?"
    r"(completion|termination|expiration|last\s+date)\s+of\b"
)
_ANNIVERSARY = re.compile(
    r"\b(?P<n>\w+|\d+)(?:\s*\(\d+(?:\s*(?:st|nd|rd|th))?\))?(?:st|nd|rd|th)?[\s-]+(?:year\s+)?anniversary\s+of\s+the\s+"
    r"(?:effective\s+date|commencement\s+date|date\s+(?:hereof|of\s+this\s+agreement))",
    re.I,
)
_ORDINALS = {
    "first": 1, "second": 2, "third": 3, "fourth": 4, "fifth": 5, "sixth": 6, "seventh": 7, "eighth": 8,
    "ninth": 9, "tenth": 10, "fifteenth": 15, "twentieth": 20, "one": 1, "two": 2, "three": 3, "four": 4,
    "five": 5, "ten": 10,
}  # fmt: skip


def _start_date(sents: list[Span]) -> Candidate | None:
    # The term runs from the effective date, else from the date the contract is dated.
    for found in (_effective_date(sents), _agreement_date(sents)):
        if found:
            return max(found, key=lambda c: c.score)
    return None


def _expiration_date(sents: list[Span]) -> list[Candidate]:
    """When the initial term ends: a date the term clause states, else the start date plus the term's
    length ("three (3) years from the Effective Date", "the fifth anniversary of the Effective Date"),
    else ``perpetual`` when the contract runs until someone terminates it."""
    out = []
    for s in sents:
        if not _has(r"\b(expir\w*|terminat\w*|until|through|ending|end\s+on|conclude)\b", s.text):
            continue
        if not _has(_OF_TERM, s.text):
            continue
        prev_end = -1
        for iso, a, b in find_dates(s.text):
            before = s.text[max(0, a - 60) : a]
            if _has(_NOT_TERM, before):
                prev_end = b
                continue  # "the fiscal year ending December 31": not the contract's end
            # "until December 31, 2022", "until the earlier of (i) December 31, 2022", and the second
            # date of a range ("from February 8, 2018 to May 3, 2018").
            if _has(
                r"(expir|until|through|ending|end|terminat|conclu)\w*\s+(on\s+)?([\w()]+\s+){0,4}$", before
            ) or (prev_end >= 0 and re.fullmatch(r"\s*(to|through|until|-|–)\s*", s.text[prev_end:a])):
                out.append(Candidate(iso, s, s.start + a, s.start + b, 3.0, 0.8))
            prev_end = b
    if out:
        return out
    start = _start_date(sents)
    if start is not None:
        begin = date.fromisoformat(start.value) if re.fullmatch(r"\d{4}-\d\d-\d\d", start.value) else None
        for s in sents:
            if (
                begin is None
                or not _has(_OF_TERM + r"|\bterm\b", s.text)
                or _has(r"renew|successive", s.text[:80])
            ):
                continue
            anniversary = _ANNIVERSARY.search(s.text)
            if anniversary:
                n = _ORDINALS.get(anniversary.group("n").lower()) or parse_number(anniversary.group("n"))
                end = _add(begin, f"P{n}Y") if n else None
                if end is not None:
                    a, b = anniversary.span()
                    out.append(Candidate(end.isoformat(), s, s.start + a, s.start + b, 1.5, 0.55))
                    break
            if not _has(
                r"effective\s+date|commencement\s+date|date\s+(first\s+)?(above|hereof|of\s+(this|execution))"
                r"|commenc|\bfrom\b|term\s+of\s+this\s+agreement|initial\s+term|this\s+agreement\s+is\s+for",
                s.text,
            ):
                continue
            for iso, a, b in find_durations(s.text):
                if iso[-1] not in "YM":
                    continue
                lead = s.text[max(0, a - 50) : a]
                if _has(r"(renew\w*|successive|additional|extend\w*|notice)\W+(\w+\W+){0,3}$", lead):
                    continue
                if not _has(r"(for|of|period\s+of|term\s+of|be)\W+(\w+\W+){0,2}$", lead):
                    continue
                end = _add(begin, iso)
                if end is not None:
                    out.append(Candidate(end.isoformat(), s, s.start + a, s.start + b, 1.0, 0.5))
                break
            if out:
                break
    if out:
        return out
    return _perpetual(sents)


def _perpetual(sents: list[Span]) -> list[Candidate]:
    """``perpetual`` when the term clause runs until someone terminates it or until an event."""
    for s in sents:
        m = re.search(_PERPETUAL, s.text, re.I)
        if m is None or not _has(_OF_TERM + r"|\bterm\b|\bappointment\b", s.text):
            continue
        # A perpetual licence, or confidentiality kept in perpetuity, outlives the contract: it says
        # nothing about when the contract ends.
        if _has(
            r"licen[cs]|confidential|royalt|grant|right\s+to\s+use|covenant|obligation", s.text[: m.end()]
        ):
            continue
        if _has(r"^\W*(\w+\W+){0,2}(licen[cs]|right)", s.text[m.end() :]):
            continue
        return [Candidate("perpetual", s, s.start + m.start(), s.start + m.end(), 0.5, 0.45)]
    return []


def _durations_in(sents: list[Span], cue: str, units: str, base: float, conf: float) -> list[Candidate]:
    out = []
    for s in sents:
        if not _has(cue, s.text):
            continue
        for iso, a, b in find_durations(s.text):
            if iso[-1] in units:
                near = s.text[max(0, a - 80) : b + 40]
                bonus = 1.0 if _has(cue, near) else 0.0
                out.append(Candidate(iso, s, s.start + a, s.start + b, base + bonus, conf + 0.1 * bonus))
                break
    return out


def _term(sents: list[Span]) -> list[Candidate]:
    cue = (
        r"\b(initial term|term of (this|the) agreement|the term|for a (period|term) of"
        r"|continue (in effect )?for)"
    )
    found = _durations_in([s for s in sents if not _has(r"renew", s.text)], cue, "YM", 2.0, 0.7)
    return found or _durations_in(sents, cue, "YM", 1.0, 0.5)


_RENEWAL_CUE = r"\b(renew\w*|successive|subsequent|additional|extend\w*|extension|automatic)\b"
#: A sentence that may state how the contract renews: a renewal or extension, an automatic
#: continuation, additional terms at a party's option, a successor franchise.
_RENEWAL_SENTENCE = (
    r"renew|extend|extension|continue\w*\s+automatically|automatically\s+continue"
    r"|\badditional\s+(terms?|periods?)\s+of\b|\bsuccessor\s+(franchise|term|agreement)|\boption\s+to\s+continue"
)
#: A renewal period without a number: "on a year to year basis", "for successive annual periods",
#: "for monthly periods", "for an additional month", "half a year".
_PERIODIC = (
    (
        "P1Y",
        re.compile(
            r"\b(year[- ]to[- ]year|from\s+year\s+to\s+year"
            r"|(successive|additional|subsequent)\s+(annual|yearly)"
            r"|annual\s+(periods?|renewals?|terms?|basis)|(each|every)\s+(year|anniversary)"
            r"|an\s+additional\s+year)\b",
            re.I,
        ),
    ),
    ("P6M", re.compile(r"\b(half\s+a\s+year|six[- ]monthly|semi-?annual)\b", re.I)),
    (
        "P1M",
        re.compile(
            r"\b(month[- ]to[- ]month|monthly\s+(periods?|basis|terms?)|an\s+additional\s+month)\b", re.I
        ),
    ),
)


def _renewal_term(sents: list[Span]) -> list[Candidate]:
    """The length of each renewal: in a sentence about renewing, the duration the renewal cue governs
    ("an initial term of one (1) year ... renew for successive two (2) year periods" is P2Y), never the
    initial term's length or a notice period."""
    out = []
    for s in sents:
        t = s.text
        if not _has(_RENEWAL_SENTENCE, t):
            continue
        best: Candidate | None = None
        for iso, a, b in find_durations(t):
            if iso[-1] not in "YM":
                continue
            lead = t[max(0, a - 70) : a]
            if _has(
                r"(prior\s+to|before|notice|after\s+(any\s+)?(termination|expiration))\W+(\w+\W+){0,3}$", lead
            ):
                continue  # "at least six (6) months prior to": a notice, not a renewal
            tail = t[b : b + 40]
            if _has(r"^\W*(\w+\W+){0,1}(notice|prior\s+to|before|in\s+advance)\b", tail):
                continue  # "six (6) months prior to the expiration", "ninety days' notice"
            # The cue before the length ("successive two (2) year periods") or just after it ("an
            # automatic 2 year term extension", "one-year renewal terms").
            cued = _has(_RENEWAL_CUE + r"\W+(\w+\W+){0,5}$", lead) or _has(
                r"^\W*(\w+\W+){0,2}(renewal|extension)s?\b", tail
            )
            initial = _has(
                r"\b(initial|original|first)\s+(term|period)\b|\bterm\s+of\s+this\s+agreement\b", lead
            ) or _has(r"\b(initial|original|first)\W*$", lead)  # "the initial twenty (20) year term"
            score = 2.0 + (1.5 if cued else 0.0) - (1.5 if initial and not cued else 0.0)
            score += 0.5 * _has(r"\bautomatic(ally)?\b", t)  # the renewal clause itself, not a mention
            if best is None or score > best.score:
                best = Candidate(iso, s, s.start + a, s.start + b, score, 0.75 if cued else 0.6)
        for iso, periodic in _PERIODIC:
            found = periodic.search(t)
            if found and (best is None or best.score < 3.0):
                a, b = found.span()
                best = Candidate(iso, s, s.start + a, s.start + b, 3.0 + 0.5 * _has(r"\bautomatic", t), 0.65)
                break
        if best is not None:
            # "would not like to extend", "its election not to renew": how to stop a renewal, which
            # restates the length at best; the renewal clause itself says it.
            if _has(r"\bnot\s+(\w+\s+){0,3}(renew|extend)", t):
                best = replace(best, score=best.score - 0.5)
            out.append(best)
    return out


def _notice_period(sents: list[Span]) -> list[Candidate]:
    cue = r"\bnotice\b"
    found = _durations_in(sents, cue, "DMW", 1.0, 0.6)
    return [
        Candidate(
            c.value,
            c.sentence,
            c.start,
            c.end,
            c.score + _has(r"terminat|renew", c.sentence.text),
            c.confidence,
        )
        for c in found
    ]


_RENEWS = r"\brenew\w*|\bnon-?renew\w*|\bsuccessive\b|\bautomatic\w*\s+(extend|continu)\w*|\bevergreen\b"
_END_OF_TERM = (
    r"(prior to|before|in advance of|preceding)\s+(the\s+)?(end|expiration|expiry|conclusion|termination)"
    r"\s+of\s+(the\s+|any\s+|such\s+|each\s+|its\s+)?((then[- ]?)?current|initial|renewal|applicable|\s)*"
    r"(term|period|year)"
)


_STOPS = r"\bunless\b|terminat|non-?renew|not\s+(to\s+)?(renew|extend|continue)|cancel|elects?\s+not"


def _renewal_notice(sents: list[Span]) -> list[Candidate]:
    """The notice a party must give to stop a renewal: only in a sentence about renewal or the end of the
    term (a notice period for a breach, a price change or an audit is another thing), and the duration
    tied to the notice ("ninety (90) days prior to...", "60 days' written notice"), not the renewal
    term's own length ("successive one (1) year periods")."""
    out = []
    for s in sents:
        if not _has(r"\bnoti(ce|fy|fies|fication)\b", s.text):
            continue
        renews, ends = _has(_RENEWS, s.text), _has(_END_OF_TERM, s.text)
        # A notice to *stop* a renewal: a notice to exercise an extension option, or an insurer's
        # notice of non-renewal of a policy, is not one.
        if not (renews or ends) or not _has(_STOPS, s.text) or _has(r"\binsur", s.text):
            continue
        for iso, a, b in find_durations(s.text):
            after, before = s.text[b : b + 60], s.text[max(0, a - 50) : a]
            if _has(r"^\W*(\(\d+\)\s*)?(\w+\s+){0,1}(term|period|renewal|extension)s?\b", after) and not _has(
                r"^\W*(\w+\s+){0,1}(prior|before|notice|advance)", after
            ):
                continue  # the length of a term, not of a notice
            tied = _has(r"^\W*(\w+\s+){0,3}(prior|before|notice|advance|preceding)", after) or _has(
                r"(notice|notify|least|than|within)\W+(\w+\W+){0,2}$", before
            )
            if not tied:
                continue
            score = 2.0 + renews + ends + _has(r"non-?renew|not (to )?renew|intention|elect", s.text)
            out.append(Candidate(iso, s, s.start + a, s.start + b, score, 0.6 + 0.1 * (renews and ends)))
            break
    return out


def _payment_terms(sents: list[Span]) -> list[Candidate]:
    out = []
    for s in sents:
        m = re.search(r"\bnet\s+(\d{1,3})\b", s.text, re.I)
        if m and _has(r"invoice|payment|pay", s.text):
            out.append(Candidate(f"P{m.group(1)}D", s, s.start + m.start(), s.start + m.end(), 3.0, 0.8))
            continue
        if _has(r"invoice", s.text) and _has(r"\bpa(y|id|yment)", s.text):
            for iso, a, b in find_durations(s.text):
                if iso.endswith("D"):
                    out.append(Candidate(iso, s, s.start + a, s.start + b, 2.0, 0.75))
                    break
    return out


def _amount(sents: list[Span]) -> list[Candidate]:
    out = []
    for s in sents:
        if not _has(r"\b(fee|price|pay|purchase|consideration|amount|value)", s.text):
            continue
        for value, a, b in find_money(s.text):
            out.append(
                Candidate(value, s, s.start + a, s.start + b, 1.0 + _has(r"total|aggregate", s.text), 0.6)
            )
            break
    return out


def _parties(text: str) -> list[Candidate]:
    found = find_parties(text)
    if found is None:
        return []
    conf = 0.7 if found.strength >= 2 else 0.55
    return [Candidate("; ".join(found.names), found.sentence, found.start, found.end, found.strength, conf)]


_TITLE_WORD = (
    r"(?:AGREEMENT|CONTRACT|LICENSE|LEASE|AMENDMENT|ADDENDUM|MEMORANDUM OF UNDERSTANDING|PLAN|"
    r"TERMS AND CONDITIONS|DEED|INDENTURE)S?"
)
_UPPER_TITLE = re.compile(
    # Upper-case words up to a kind of contract; "THIS" or "THE" starts the preamble, not the title
    # ("CONSULTING AGREEMENT THIS AGREEMENT is made..."); "CO-BRANDING, MARKETING AND ..." and
    # "COLLABORATION & ENDORSEMENT" are one title.
    r"(?<![A-Za-z])((?:(?!(?:THIS|THE)\s)(?:[A-Z0-9][A-Z0-9&'.\-]*,?|&)\s+){0,8}"
    + _TITLE_WORD
    + r"(?:\s+"
    + _TITLE_WORD
    + r")*(?:\s+NO\.\s*\d+)?)(?![a-z])"
)
#: What precedes a title on its line: exhibit numbers, "FORM OF", "EXECUTION VERSION", the end of a
#: redaction legend ("... IF PUBLICLY DISCLOSED."), a party's name ("PREMIER NUTRITION CORPORATION").
_TITLE_PREFIX = re.compile(
    r"^(?:(?:EXHIBIT|EX(?=[\s.\-\d])|ANNEX|SCHEDULE|APPENDIX|ATTACHMENT)\s*[\w.\-]*\s+|[\d.()]+\s+|(?:THE|THIS)\s+"
    r"|FORM\s+OF\s+|COPY\s+|EXECUTION(?:\s+(?:VERSION|COPY))?\s+|(?:FINAL\s+)?VERSION\s+|CONFIDENTIAL\s+"
    r"|[A-Z ,()]*\bDISCLOSED\.?\s+"
    r"|(?:[A-Z0-9&.\-]+\s+){1,4}(?:CORPORATION|INC\.?|LLC|LTD\.?|LIMITED|CORP\.?|PLC)\s+(?=\S+\s))+"
)
#: A title-case heading on a line of its own ("Website Design, Development and Hosting Agreement",
#: "Distributorship agreement", "e-business Hosting Agreement"), ended by the line, a redaction mark or a
#: layout gap: upper-case titles are read by _UPPER_TITLE, this is the rest.
_HEADING_TITLE = re.compile(
    r"(?:^|\n)[ \t]*((?!(?:This|The|THIS|THE)\b)(?:[A-Z][\w&'\-]*|e-[a-z]+),?"
    r"(?:[ ](?:[A-Z][\w&'\-]*,?|and|of|for|&|to|the|on)){0,9}?"
    r"[ ](?:[Aa]greement|[Cc]ontract|[Ll]icen[cs]e|[Ll]ease|Amendment|Addendum)s?)"
    r"(?=[ \t]*(?:\n|$|\{\*+\}|\[\*+\]|[ \t]{3,}))"
)
_THIS_TITLE = re.compile(
    r"\bThis\s+((?:[A-Z][\w&'\-]*\s+){0,6}?(?:Agreement|Contract|License|Lease|Amendment))\b"
)


def _document_name(sents: list[Span]) -> list[Candidate]:
    """The title: the first upper-case heading naming a kind of contract, else "This ... Agreement"."""
    out: list[Candidate] = []
    for s in sents[:12]:
        if s.start > 3000:
            break
        for m in _UPPER_TITLE.finditer(s.text):
            raw = " ".join(m.group(1).split())
            cut = _TITLE_PREFIX.match(raw)
            value = raw[cut.end() :] if cut else raw
            start = s.start + m.start(1) + (len(m.group(1)) - len(m.group(1).lstrip()))
            if (
                value in ("AGREEMENT", "CONTRACT")
                or _has(_FILING_STAMP, value)
                or _has(r"\bEX-\d", s.text[max(0, m.start() - 12) : m.start()])
            ):
                continue
            if len(value) >= 6:
                at = s.start + m.end(1) - len(value)  # the value is a suffix of the match (spaces aside)
                out.append(Candidate(value, s, max(start, at), s.start + m.end(1), 3.0 - 0.1 * s.index, 0.8))
                break
        if out:
            return out
    for s in sents[:12]:
        if s.start > 3000:
            break
        heading = _HEADING_TITLE.search(s.text)
        if heading:
            value = heading.group(1)
            return [Candidate(value, s, s.start + heading.start(1), s.start + heading.end(1), 2.0, 0.7)]
    for s in sents[:20]:
        this = _THIS_TITLE.search(s.text)
        if this and " " in this.group(1).strip():
            value = " ".join(this.group(1).split())
            return [Candidate(value, s, s.start + this.start(1), s.start + this.end(1), 1.0, 0.6)]
    return out


def document_title(text: str) -> str | None:
    """The title a contract states at its head ("MARKETING AFFILIATE AGREEMENT"), or None."""
    found = _document_name(sentences(text[:6000]))
    return found[0].value if found else None


SentenceRule = Callable[[list[Span]], list[Candidate]]
TextRule = Callable[[str], list[Candidate]]

#: Rules that read sentences; :data:`TEXT_RULES` read the raw text (an opening breaks lines inside a
#: name and puts periods in addresses, so sentences cut it wrongly).
RULES: dict[str, SentenceRule] = {
    "document_name": _document_name,
    "agreement_date": _agreement_date,
    "effective_date": _effective_date,
    "expiration_date": _expiration_date,
    "governing_law": _governing_law,
    "term": _term,
    "renewal_term": _renewal_term,
    "notice_period": _notice_period,
    "renewal_notice": _renewal_notice,
    "payment_terms": _payment_terms,
    "amount": _amount,
}
TEXT_RULES: dict[str, TextRule] = {"parties": _parties}

# -- ranking and quoting -------------------------------------------------------------------------------


def _quote_window(doc: str, c: Candidate, width: int = 300) -> tuple[int, int]:
    s = c.sentence
    if s.end - s.start <= width:
        return s.start, s.end
    lo = max(s.start, min(c.start, c.end - width // 2) - width // 2)
    hi = min(s.end, max(c.end, lo + width))
    while lo > s.start and not doc[lo - 1].isspace():
        lo -= 1
    while hi < s.end and not doc[hi].isspace():
        hi += 1
    return lo, hi


def _best(cands: list[Candidate], spec: FieldSpec, enc: Encoder) -> tuple[Candidate, float] | None:
    if not cands:
        return None
    if len({c.sentence.index for c in cands}) > 1:  # ambiguous: let meaning break ties between sentences
        query = f"{spec.name.replace('_', ' ')}: {spec.description}".strip(": ")
        sims = enc([query, *(c.sentence.text for c in cands)])
        sim = sims[1:] @ sims[0]
        cands = [
            Candidate(c.value, c.sentence, c.start, c.end, c.score + 0.3 * float(x), c.confidence)
            for c, x in zip(cands, sim, strict=True)
        ]
    ranked = sorted(cands, key=lambda c: (-c.score, c.sentence.index, c.start))
    top = ranked[0]
    rivals = {c.value for c in ranked[1:] if c.score >= top.score - 1.0} - {top.value}
    conf = top.confidence * (0.8 if rivals else 1.0)  # a competing value nearly as strong lowers confidence
    return top, round(min(1.0, max(0.0, conf)), 3)


def _by_meaning(
    doc: DocumentInput, sents: list[Span], spec: FieldSpec, enc: Encoder
) -> ExtractedField | None:
    if not sents or not spec.description:
        return None
    vecs = enc([f"{spec.name.replace('_', ' ')}: {spec.description}", *(s.text for s in sents)])
    sims = vecs[1:] @ vecs[0]
    i = int(sims.argmax())
    sim = float(sims[i])
    if sim < enc.calibration.field:
        return None
    s = sents[i]
    conf = round(min(0.6, 0.3 + (sim - enc.calibration.field)), 3)
    return ExtractedField(
        name=spec.name, value=s.text[:300], quote=quote(doc.text, s.start, s.end), confidence=conf
    )


def extract(doc: DocumentInput, fields: list[FieldSpec], enc: Encoder) -> Extraction:
    """Extract ``fields`` from ``doc`` (omitting those it does not state)."""
    sents = sentences(doc.text)
    out: list[ExtractedField] = []
    for spec in fields:
        canonical = _CANONICAL.get(_key(spec.name), "")
        text_rule = TEXT_RULES.get(canonical)
        rule = RULES.get(canonical)
        if rule is None and text_rule is None:
            found = _by_meaning(doc, sents, spec, enc)
            if found is not None:
                out.append(found)
            continue
        best = _best(text_rule(doc.text) if text_rule else rule(sents) if rule else [], spec, enc)
        if best is None:
            continue
        cand, conf = best
        lo, hi = _quote_window(doc.text, cand)
        out.append(
            ExtractedField(name=spec.name, value=cand.value, quote=quote(doc.text, lo, hi), confidence=conf)
        )
    return Extraction(fields=out)
