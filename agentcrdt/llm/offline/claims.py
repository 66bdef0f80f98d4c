"""Claims: statements of a quantity about a subject ("ARR at December 31, 2025 was USD 12,600,000"),
read from prose without a schema, and the rule for when two of them conflict.

Contract fields cover what agreements share (governing law, term, notice); a dataroom also states
figures in letters, summaries and minutes: revenue, a covenant's length, a lease's expiry, an option
pool. A claim is one such figure (money, a percentage, a duration or a date) with the content words
around it (its subject) and the dates and years it is qualified by ("at December 31, 2025", "FY2025").

Two claims conflict when they are of one kind, have different values, say it about the same subject
(enough shared subject words, an acronym counting for the words it abbreviates: "ARR" and "annual
recurring revenue") and are not qualified by different periods. A claim about the document itself
("This Agreement shall remain in effect for two years") is about a *different* agreement in another
document, so it is compared only with documents the caller relates to it.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from agentcrdt.llm.offline.normalize import canonical_value, find_dates, find_durations, find_money
from agentcrdt.llm.offline.text import Span, sentences

__all__ = [
    "Claim",
    "ambiguous",
    "common_words",
    "conflicts",
    "read_claims",
    "same_subject",
    "subject_overlap",
]

_TOKEN = re.compile(r"[A-Za-z][A-Za-z'\-]*")
_PERCENT = re.compile(r"(?<![\w.])(\d{1,3}(?:\.\d+)?)\s?(%|percent\b)", re.I)
_DELTA = re.compile(r"\b(by|from)\s+$|\b(grew|increased|decreased|declined|up|down)\s+(by\s+)?$", re.I)
_YEAR = re.compile(r"\b(?:FY\s?)?((?:19|20)\d{2})\b")
# A sentence about the document itself: "This Agreement", "this Master Services Agreement", "the
# Term", or an obligation it creates ("Customer shall pay", "the price will be"): its figures belong to
# that agreement, and another agreement's figures of the same kind are not a contradiction.
_SELF = re.compile(
    r"\b(?:this|the)\s+[\"“]?(?:[A-Z][\w-]*\s+){0,5}(?:agreement|lease|letter|amendment|dpa|contract|plan"
    r"|term|effective\s+date)\b",
    re.I,
)
# Checked in the figure's own clause: "He noted that the pool, representing 15% of ..., will be
# treated" reports a figure; "Hydraspin will accept each Order within ten (10) days" creates one, and
# "If the Parties cannot resolve it within fifteen (15) days" sets a condition.
_OBLIGATION = re.compile(r"\b(?:shall|will|must|agrees?\s+to|if|unless|in\s+the\s+event)\b", re.I)
# Words that say nothing about *what* a figure is: function words, units, months, hedges.
_NOISE = frozenset([
    "a", "an", "the", "and", "or", "of", "to", "in", "on", "for", "by", "with", "as", "at", "be", "is",
    "are", "was", "were", "this", "that", "these", "those", "such", "any", "all", "shall", "will",
    "may", "its", "it", "their", "his", "her", "from", "under", "upon", "into", "than", "other", "each",
    "which", "who", "whom", "our", "we", "us", "has", "have", "had", "been", "being", "not", "no",
    "per", "also", "about", "approximately", "approx", "some", "up", "down", "over", "total", "than",
    "usd", "eur", "gbp", "dollars", "million", "billion", "thousand", "percent", "day", "days", "month",
    "months", "year", "years", "week", "weeks", "january", "february", "march", "april", "may", "june",
    "july", "august", "september", "october", "november", "december", "fy", "one", "two", "three",
    "four", "five", "six", "seven", "eight", "nine", "ten", "eleven", "twelve", "thirteen", "fourteen",
    "fifteen", "sixteen", "eighteen", "twenty", "thirty", "forty", "fifty", "sixty", "ninety",
    "hundred", "equal", "equals", "representing", "represented", "following", "prior", "after",
    "before", "during", "then", "there", "here", "period", "company"
])  # fmt: skip
BEFORE, AFTER = 8, 4  # subject words taken before and after the figure, within its sentence
MIN_SHARED = 2
MAX_CLAIMS = 60


@dataclass(frozen=True)
class Claim:
    """One figure in a document: ``kind`` money|percent|duration|date, its normalized ``value``, the
    clause stating it (``start``/``end`` in the document), its subject words (in order), the acronyms
    among them, the periods (dates, years) qualifying it, and whether its sentence is about the
    document itself ("This Agreement ...")."""

    kind: str
    value: str
    start: int
    end: int
    subject: tuple[str, ...]
    words: tuple[str, ...]  # the subject as written (lower case), for a readable label
    lead: int  # how many of them come before the figure
    acronyms: tuple[str, ...]
    years: frozenset[str]
    about_itself: bool

    @property
    def label(self) -> str:
        """What the figure is, in the document's words nearest it ("annual recurring revenue")."""
        near = self.words[max(0, self.lead - 4) : self.lead] or self.words[self.lead : self.lead + 4]
        return " ".join(near)


def _norm(word: str) -> str:
    w = word.lower().strip("'-").removesuffix("'s")
    for suffix in ("ies", "ing", "ed", "es", "s"):
        if len(w) > len(suffix) + 3 and w.endswith(suffix):
            w = w[: -len(suffix)] + ("y" if suffix == "ies" else "")
            break
    return w.removesuffix("e") if len(w) > 4 else w


def _figures(text: str) -> list[tuple[str, str, int, int]]:
    out = [("money", v, s, e) for v, s, e in find_money(text)]
    out += [("duration", v, s, e) for v, s, e in find_durations(text)]
    out += [("date", v, s, e) for v, s, e in find_dates(text)]
    for m in _PERCENT.finditer(text):
        value = m.group(1).rstrip("0").rstrip(".") if "." in m.group(1) else m.group(1)
        out.append(("percent", f"{value}%", m.start(), m.end()))
    return sorted(out, key=lambda f: (f[2], f[3]))


def _clause(text: str, sent: Span, s: int, e: int, figures: list[tuple[int, int]]) -> tuple[int, int]:
    """The clause of ``sent`` holding the figure ``text[s:e]``: bounded by a line break, ``;``, ``:``,
    a bracket or a comma outside any figure (the comma of "December 31, 2025" does not end it)."""

    def is_break(i: int) -> bool:
        ch = text[i]
        if ch in "\n;:()[]|":
            return True
        return ch == "," and not any(a <= i < b for a, b in figures)

    lo = s
    while lo > sent.start and not is_break(lo - 1):
        lo -= 1
    hi = e
    while hi < sent.end and not is_break(hi):
        hi += 1
    while lo < s and text[lo] in " \t-*•–—\"'“":  # a list bullet or an opening quote is not the clause
        lo += 1
    while hi > e and text[hi - 1] in " \t.":
        hi -= 1
    return lo, hi


def _same_clause(text: str, sent: Span, a: int, b: int, figures: list[tuple[int, int]]) -> bool:
    lo, hi = _clause(text, sent, sent.start + a, sent.start + a + 1, figures)
    return lo <= sent.start + b < hi


def _claim(
    text: str, sent: Span, kind: str, value: str, s: int, e: int, others: list[tuple[int, int]]
) -> Claim:
    tokens = [(m.group(), m.start() + sent.start, m.end() + sent.start) for m in _TOKEN.finditer(sent.text)]
    inside = [(a, b) for a, b in others if sent.start <= a < sent.end]

    def free(a: int, b: int) -> bool:  # not part of another figure (its month, its unit)
        return not any(fa <= a < fb for fa, fb in inside)

    lo, hi = _clause(text, sent, s, e, inside)
    before = [
        t for t in tokens if lo <= t[1] and t[2] <= s and free(t[1], t[2]) and _norm(t[0]) not in _NOISE
    ]
    after = [t for t in tokens if t[1] >= e and t[2] <= hi and free(t[1], t[2]) and _norm(t[0]) not in _NOISE]
    near = [*before[-BEFORE:], *after[:AFTER]]
    kept = [t for t in near if len(t[0]) >= 3 or t[0].isupper()]
    subject = tuple(_norm(t[0]) for t in kept)
    acronyms = tuple(t[0] for t in near if 2 <= len(t[0]) <= 5 and t[0].isupper())
    own = text[s:e]
    clause = text[lo:hi]
    # The period a figure is stated for: the dates and years of its clause other than its own value.
    years = frozenset(
        [m.group(1) for m in _YEAR.finditer(clause) if m.group(1) not in own]
        + [v for v, a, b in find_dates(clause) if not (lo + a <= s < lo + b)]
    )
    return Claim(
        kind=kind,
        value=value,
        start=lo,
        end=hi,
        subject=subject,
        words=tuple(t[0] if t[0].isupper() else t[0].lower() for t in kept),
        lead=sum(t[2] <= s for t in kept),
        acronyms=acronyms,
        years=years,
        about_itself=_SELF.search(sent.text) is not None or _OBLIGATION.search(clause) is not None,
    )


def read_claims(text: str, start: int = 0, end: int | None = None) -> list[Claim]:
    """Return the claims stated in ``text[start:end]`` (all of it by default), in order, at most
    ``MAX_CLAIMS``; a figure with no subject words is left out (a table cell says nothing alone)."""
    end = len(text) if end is None else end
    out: list[Claim] = []
    for sent in sentences(text):
        if sent.end <= start or sent.start >= end:
            continue
        figures = _figures(sent.text)
        spans = [(sent.start + a, sent.start + b) for _, _, a, b in figures]
        for kind, value, a, b in figures:
            if _DELTA.search(sent.text[max(0, a - 12) : a]):
                continue  # "grew by USD 900,000": a change, not the figure itself
            c = _claim(text, sent, kind, value, sent.start + a, sent.start + b, spans)
            if kind == "date" and any(
                k != "date" and c.start <= sent.start + x < c.end and _same_clause(text, sent, a, x, spans)
                for k, _, x, _ in figures
            ):
                continue  # "ARR of $14.2 million as of December 31, 2025": the date qualifies the money
            if len(c.subject) >= MIN_SHARED or (c.subject and c.acronyms):
                out.append(c)
            if len(out) >= MAX_CLAIMS:
                return out
    return out


def _expands(acronym: str, words: tuple[str, ...]) -> bool:
    letters = acronym.lower()
    return any("".join(w[0] for w in words[i : i + len(letters)]) == letters for i in range(len(words)))


def subject_overlap(a: Claim, b: Claim, common: frozenset[str] = frozenset()) -> int:
    """How many subject words ``a`` and ``b`` share (leaving out ``common`` ones); an acronym of one
    that the other spells out counts for each word it abbreviates."""
    shared = len((set(a.subject) & set(b.subject)) - common)
    for x, y in ((a, b), (b, a)):
        for acr in x.acronyms:
            if _norm(acr) not in y.subject and _expands(acr, y.subject):
                shared += len(acr)
    return shared


def common_words(texts: list[str]) -> frozenset[str]:
    """The subject words too many of ``texts`` use to tell one figure from another ("pay", "notice",
    "written"): in more than a third of them (and more than three)."""
    df: dict[str, int] = {}
    for t in texts:
        for w in {_norm(m.group()) for m in _TOKEN.finditer(t)}:
            df[w] = df.get(w, 0) + 1
    limit = max(3, len(texts) // 3)
    return frozenset(w for w, n in df.items() if n > limit)


def conflicts(a: Claim, b: Claim, common: frozenset[str] = frozenset()) -> bool:
    """Tell whether ``a`` and ``b`` state one thing differently (see the module doc). ``common``: words
    that do not count as shared (see :func:`common_words`). The caller decides whether claims about
    their documents themselves may be compared."""
    return canonical_value(a.value) != canonical_value(b.value) and same_subject(a, b, common)


def same_subject(a: Claim, b: Claim, common: frozenset[str] = frozenset()) -> bool:
    """Tell whether ``a`` and ``b`` are figures of one kind about one subject and period, whatever their
    values."""
    if a.kind != b.kind:
        return False
    if (a.years or b.years) and not a.years & b.years:
        return False  # different or unstated periods: FY2024 revenue is not FY2025 revenue
    shared = subject_overlap(a, b, common)
    smaller = min(len(set(a.subject) - common), len(set(b.subject) - common)) or 1
    return shared >= MIN_SHARED and shared * 2 >= smaller


def ambiguous(claim: Claim, others: list[Claim], common: frozenset[str] = frozenset()) -> bool:
    """Tell whether the document stating ``claim`` (``others``: its figures) gives another value for
    the same subject too: "at least ten (10) days before the Payment Date" beside "at least two (2)
    Business Days before the Acquisition Date" are two deadlines, and neither contradicts another
    document's."""
    mine = canonical_value(claim.value)
    return any(canonical_value(o.value) != mine and same_subject(claim, o, common) for o in others)
