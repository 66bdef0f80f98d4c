"""Who signs: the party names a contract's opening lists ("by and between X, a Delaware corporation
("Company"), and Y ..."), cut from the descriptions, addresses and aliases around them.

The opening is read in three shapes, in this order of trust: the preamble sentence ("This Agreement ...
between A and B"), a numbered parties block ("Parties (1) A ... (2) B"), and a title line ("AGREEMENT
Between: A And B Dated: ..."). A name is a run of capitalized words (with the connectors names carry:
"of", "&", "de"), a legal-form suffix ("Inc.", "LLC", "GmbH") closing it; a lower-case word that is not
a connector ("a Delaware corporation", "whose address is"), a digit after "of" (an address) or a
parenthesis (an alias) ends it.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from agentcrdt.llm.offline.text import Span

__all__ = ["INTRODUCES", "PartyList", "find_parties"]

_SUFFIX = (
    r"(?:Inc|Incorporated|LLC|L\.L\.C|Ltd|Limited|Corp|Corporation|Co|Company|plc|PLC|P\.L\.C|LP|L\.P|LLP"
    r"|L\.L\.P|S\.A|SA|S\.A\.S|SAS|AG|GmbH|N\.V|NV|B\.V|BV|Pte|Pty|S\.r\.l|Srl|S\.p\.A|SpA|A/S|AB|Oy|KK"
    r"|SE|ULC|Trust|University|Partnership|LLLP|N\.A)\.?"
)
_SUFFIX_RE = re.compile(rf"^{_SUFFIX},?$", re.I)
_CONNECTORS = frozenset(
    [
        "of",
        "and",
        "&",
        "de",
        "du",
        "des",
        "la",
        "le",
        "del",
        "do",
        "da",
        "di",
        "von",
        "van",
        "der",
        "y",
        "und",
        "the",
        "for",
        "et",
    ]
)
# Capitalized words that start what follows a name, never a name's own word.
_STOPWORDS = frozenset(
    [
        "Dated",
        "Date",
        "Effective",
        "WHEREAS",
        "Whereas",
        "RECITALS",
        "Recitals",
        "Source",
        "Table",
        "EXHIBIT",
        "Exhibit",
        "Each",
        "Both",
        "Hereinafter",
        "Referred",
        "Witnesseth",
        "WITNESSETH",
        "Made",
        "Entered",
        "Collectively",
        "Individually",
    ]
)
_OPENING = re.compile(
    r"\b(?:by\s+and\s+)?(?:between|among(?:st)?)\b\s*:?\s*|\b(?:entered\s+into|made)\s+by\s+(?!and\b)", re.I
)
#: Where an opening starts listing its parties (for readers that look for names of their own there).
INTRODUCES = _OPENING
_NUMBERED = re.compile(r"\bParties\b\W{0,5}\(1\)\s*", re.I)
_ALIAS = re.compile(r"\([^()]*(?:\([^()]*\)[^()]*)*\)|“[^”]*”|\"[^\"]*\"")
_AND = re.compile(r"(?:[,;]\s*)?\s+(?:and|AND|And)\s*[,:]?\s+(?=\S)|;\s+|\s+\(\d\)\s+")


@dataclass(frozen=True)
class PartyList:
    """Party names and where the list was read: ``start``/``end`` are offsets in the document."""

    names: tuple[str, ...]
    sentence: Span
    start: int
    end: int
    strength: (
        float  # the shape it was read from: preamble 2, numbered block 1.5, title line 1, letterhead 0.5
    )


def _is_suffix(tok: str) -> bool:
    return bool(_SUFFIX_RE.match(tok.rstrip(",;:")) or _SUFFIX_RE.match(tok.strip(",.;:")))


def _name(part: str) -> str | None:
    """The party name at the start of ``part`` (aliases already blanked), or None."""
    part = part.lstrip(" -\u2013\u2014:,;")
    # A lower-case article is not the name's ("the TOWN OF VINTON", "the At Home Corporation"), nor a
    # role put in front of it ("its Reseller, Schoolpop, Inc.").
    part = re.sub(r"^(?:the\s+|(?:its|their)\s+[A-Z][\w-]*,\s+)", "", part)
    tokens = part.split()
    kept: list[str] = []
    for i, tok in enumerate(tokens):
        bare = tok.strip(",.;:")
        if not bare:
            if kept and tok.startswith(","):
                continue  # "Inc. , Emerald ..." -- a stray comma
            break
        suffix = _is_suffix(tok)
        if kept and _is_suffix(kept[-1]) and not suffix:
            break  # a legal form closes the name: "X Inc. 600 Kenrick", "X Limited of Boston House"
        if i == 0:
            # A name starts with a capital or a digit; a lower-case start only in names like
            # "iPayment" or "salesforce.com" ("having", "its", "with" start descriptions).
            if bare in _STOPWORDS or not (
                bare[:1].isupper()
                or bare[:1].isdigit()
                or re.search(r"[a-z][A-Z]|\.(com|org|net)\b", bare)
                or any(_is_suffix(t) for t in tokens[1:3])  # "e-centives, Inc."
            ):
                return None
        elif suffix:
            pass
        elif bare.lower() in _CONNECTORS and bare != "The":
            if bare.lower() == "of" and i + 1 < len(tokens) and tokens[i + 1][:1].isdigit():
                break  # "X of 275 Madison Avenue": an address
        elif (bare[:1].isupper() or bare[:1].isdigit()) and bare not in _STOPWORDS:
            if kept[-1].endswith(","):
                break  # "Prolong Super Lubricants, Anaheim": a place after the name
        else:
            break
        kept.append(tok)
        if tok.endswith((";", ":")) or (tok.endswith(".") and not suffix and len(bare) > 3):
            break
    while kept and kept[-1].strip(",.;:").lower() in _CONNECTORS:
        kept.pop()
    name = " ".join(kept).strip(" ,;:.")
    name = re.sub(r"\s+,", ",", name)
    if not (2 <= len(name) <= 120) or not re.search(r"[A-Za-z]{2}", name):
        return None
    if name.lower() in ("the", "each", "both", "party", "parties"):
        return None
    return name


def _split_after_suffix(part: str) -> list[str]:
    pieces, last = [], 0
    for m in re.finditer(r",\s+(?=[A-Z][\w&.\-]*\s+[A-Z])", part):
        before = part[last : m.start()].split()
        if before and _SUFFIX_RE.match(before[-1]):
            pieces.append(part[last : m.start()])
            last = m.end()
    return [*pieces, part[last:]]


def _aliases(text: str) -> set[str]:
    return {a.lower() for a in re.findall(r"[“\"]([^”\"]{1,40})[”\"]", text)}


_ROLES = frozenset(
    [
        "company",
        "licensor",
        "licensee",
        "distributor",
        "reseller",
        "developer",
        "client",
        "customer",
        "supplier",
        "vendor",
        "franchisor",
        "franchisee",
        "consultant",
        "contractor",
        "provider",
        "recipient",
        "purchaser",
        "seller",
        "buyer",
        "manufacturer",
        "employee",
        "employer",
        "party",
        "parties",
        "lender",
        "borrower",
        "owner",
        "operator",
        "agent",
        "sponsor",
        "promoter",
        "producer",
        "publisher",
        "member",
        "you",
        "we",
        "service",
        "services",
        "principal",
        "carrier",
        "shipper",
        "affiliate",
        "affiliates",
        "subsidiary",
        "a",
        "b",
        "i",
        "ii",
    ]
)


def _is_role(name: str, aliases: set[str]) -> bool:
    """A defined term standing for a party ("the Company", "Reseller", "Party B"), not its name."""
    bare = re.sub(r"^(the|its|each|any|such)\s+", "", name.strip(" .,"), flags=re.I).lower()
    if bare in aliases or (" " not in bare and name.strip(" .,").lower() != bare):
        return True
    return all(w in _ROLES for w in re.findall(r"[a-z]+", bare))


_ADDRESS = re.compile(
    r"\b(Suite|Street|St|Road|Rd|Avenue|Ave|Floor|Box|Boulevard|Blvd|Drive|Building|Highway|Plaza)\b\.?"
)


def _parts(segment: str) -> list[tuple[str, str]]:
    """Split the list at "and", ";" and "(2)": each part with aliases blanked, and as written (with its
    separator)."""
    blanked = _ALIAS.sub(lambda m: " " * len(m.group()), segment)
    out, last = [], 0
    for m in [*_AND.finditer(blanked), None]:
        end = m.start() if m else len(blanked)
        # As written, up to the separator's end: a separator's whitespace may have swallowed a blanked
        # alias ('Green (the "Affiliate") and'), and the alias says the part was introduced.
        out.append((blanked[last:end], segment[last : m.end() if m else end]))
        if m is None or len(out) >= 8:
            break
        last = m.end()
    return out


def _introduces(original: str, name: str) -> bool:
    """Whether ``name`` is followed at once by an alias or a description: 'X ("Company")', 'X, a ...'."""
    at = original.find(name)
    return (
        at >= 0
        and re.match(r"\s*,?\s*(\(|“|\"|an?\s|of\s+\d|whose\b)", original[at + len(name) :]) is not None
    )


def _names(segment: str) -> list[str]:
    aliases = _aliases(segment)
    parts = _parts(segment)
    # "New York Life Insurance and Annuity Corporation": an "and" inside one name (nothing between the
    # left words and the "and", no legal form on the left, one on the right).
    merged: list[tuple[str, str]] = []
    for part, original in parts:
        if (
            merged
            and not re.search(r"[(“\"]", merged[-1][1])  # the left part was introduced: a party of its own
            and re.fullmatch(r"\s*(?:[A-Z][\w&.\-]*\s+){0,4}[A-Z][\w&.\-]*\s*", merged[-1][0])
            and not any(_SUFFIX_RE.match(t) for t in merged[-1][0].split())
            and (name := _name(part)) is not None
            and _SUFFIX_RE.match(name.split()[-1])
        ):
            merged[-1] = (f"{merged[-1][0].strip()} and {part}", f"{merged[-1][1].strip()} and {original}")
            continue
        merged.append((part, original))
    found: list[tuple[str, bool]] = []
    for part, original in merged:
        introduced = bool(re.search(r"[(“\"]", original))
        for piece in _split_after_suffix(part):
            name = _name(piece)
            if not name or name in [n for n, _ in found] or _is_role(name, aliases) or _ADDRESS.search(name):
                continue
            if " " not in name and not _is_suffix(name) and not _introduces(original, name):
                continue  # one capitalized word with nothing introducing it: "Wales", "Munich", "Rights"
            found.append((name, introduced))
    # Contracts introduce each party with an alias or a description ("X Inc. ("Company")"); when two
    # or more are introduced so, the other pieces are addresses and places caught in the list.
    introduced_names = [n for n, intro in found if intro]
    if len(introduced_names) >= 2:
        return introduced_names
    return [n for n, _ in found]


#: "Party A: Beike Internet Security Technology Co., Ltd." (contracts drafted in China list parties so).
_LETTERED = re.compile(
    r"\bParty\s+([A-D])\s*[:：]\s*(?P<name>[^\n(（]{2,150}?)\s*(?=\(|（|\bAddress\b|\bADD\b|\n|$)"
)


def _lettered(text: str, head: int) -> PartyList | None:
    """The parties of a "Party A: ... Party B: ..." block, each name as written up to its alias or
    address (a name there keeps its parentheses: "Rise (Tianjin) Education ... Co., Ltd.")."""
    names: list[str] = []
    first: re.Match[str] | None = None
    last_end = 0
    for m in _LETTERED.finditer(text, 0, head):
        name = m.group("name").strip(" ,;:.")
        if len(names) == ord(m.group(1)) - ord("A") and re.search(r"[A-Za-z]{2}", name):
            # Keep a parenthesized place inside the name: "Rise (Tianjin) Education ... Co., Ltd.".
            tail = re.match(
                r"(\s*\([A-Z][\w ]{1,30}\)[^\n(（]*?)\s*(?=\(|（|\bAddress\b|\n|$)", text[m.end("name") :]
            )
            if tail:
                name = (name + tail.group(1)).strip(" ,;:.")
            names.append(name)
            first = first or m
            last_end = m.end()
    if len(names) < 2 or first is None:
        return None
    sent = Span(index=0, start=first.start(), end=last_end, text=text[first.start() : last_end])
    return PartyList(tuple(names), sent, first.start(), last_end, 1.5)


def find_parties(text: str, *, head: int = 6000, window: int = 1500) -> PartyList | None:
    """Return the parties named in the opening (the first ``head`` characters of ``text``), or None.

    Reads the raw text after each "between"/"Parties (1)" (not sentences: openings break lines inside a
    name and put periods in addresses, "Ste. 15")."""
    best: PartyList | None = None
    for pattern, strength in ((_OPENING, 2.0), (_NUMBERED, 1.5)):
        for m in pattern.finditer(text, 0, head):
            segment = text[m.end() : m.end() + window]
            stop = re.search(
                r"\b(dated|made|effective|entered|is\s+made|witnesseth|whereas|recitals|background)\b"
                r"|\n\s*\n\s*\d+\.|\bsource:",
                segment,
                re.I,
            )
            if stop and stop.start() > 20:
                segment = segment[: stop.start()]
            names = _names(segment)
            if len(names) < 2:
                continue
            before = text[max(0, m.start() - 400) : m.start()]
            shape = strength
            if strength == 2.0 and not re.search(
                r"\b(this|the)\b[^.]{0,200}\b(agreement|contract|amendment|license|lease|addendum)\b"
                r"|\bis\s+(made|entered)|\bmade\b|\bentered\b",
                before,
                re.I,
            ):
                shape = 1.0  # a title line ("AGREEMENT Between: A And B"), or a recital
            sent = Span(index=0, start=m.end(), end=m.end() + len(segment.rstrip()), text=segment.rstrip())
            found = PartyList(tuple(names), sent, m.end(), sent.end, shape)
            if best is None or found.strength > best.strength:
                best = found
            if shape == 2.0:
                return best
    lettered = _lettered(text, head)
    if lettered is not None and (best is None or lettered.strength >= best.strength):
        return lettered
    return best if best is not None else _letterhead(text, head)


#: The strength of a letterhead's parties: a letter between two companies is not their contract.
LETTERHEAD = 0.5
_FROM_TO = re.compile(
    r"^[ \t]*From:[ \t]*(?P<a>[^\n]{3,120})\n[ \t]*To:[ \t]*(?P<b>[^\n]{3,120})$", re.I | re.M
)


def _letterhead(text: str, head: int) -> PartyList | None:
    """A letter's or a notice's sender and addressee ("From: A" and "To: B" on consecutive lines): the
    weakest shape, read only when no opening names parties."""
    m = _FROM_TO.search(text, 0, head)
    if m is None:
        return None
    names = [n for n in (_name(m.group("a")), _name(m.group("b"))) if n]
    if len(names) < 2:
        return None
    sent = Span(index=0, start=m.start(), end=m.end(), text=text[m.start() : m.end()])
    return PartyList(tuple(names), sent, m.start(), m.end(), LETTERHEAD)
