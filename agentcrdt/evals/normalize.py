"""Value normalizers for exact-match field scoring: two spellings of one value compare equal.

Each normalizer maps a gold or predicted value to a canonical string; a field is right when the two
canonical strings are equal. They undo *format* differences only (``5/8/14`` and ``2014-05-08``; ``12
months`` and ``P1Y``; letter case and punctuation), never content: ``Ontario, Canada`` and ``Ontario``
are the same jurisdiction written at two levels of detail, but ``New York`` and ``Delaware`` never meet.
"""

from __future__ import annotations

import re
from collections.abc import Callable

from agentcrdt.errors import UsageError
from agentcrdt.evals.metrics import normalize_answer

__all__ = ["NORMALIZERS", "normalizer"]

Normalizer = Callable[[str], str]

_MONTH_NAMES = "january february march april may june july august september october november december"
_MONTHS = {m: i + 1 for i, m in enumerate(_MONTH_NAMES.split())}
_MONTHS.update({k[:3]: v for k, v in list(_MONTHS.items())})
_MONTHS["sept"] = 9


def _year(text: str) -> str:
    y = int(text)
    if len(text) <= 2:  # CUAD writes two-digit years (5/8/14); its contracts span 1990s-2020s
        y += 2000 if y < 50 else 1900
    return f"{y:04d}"


def text(value: str) -> str:
    """Lower case, no punctuation or articles, single spaces (SQuAD's normalization)."""
    return normalize_answer(value)


def date(value: str) -> str:
    """``YYYY-MM-DD`` from ISO, ``m/d/yy``, ``m/d/yyyy`` or ``Month d, yyyy``; CUAD's unknown parts
    (``[]/[]/2020``) leave only what is known (``2020``); ``perpetual`` and other words stay as text."""
    v = value.strip()
    m = re.fullmatch(r"(\d{4})-(\d{1,2})-(\d{1,2})", v)
    if m:
        return f"{m.group(1)}-{int(m.group(2)):02d}-{int(m.group(3)):02d}"
    m = re.fullmatch(r"(\d{1,2}|\[\])/(\d{1,2}|\[\])/(\d{2,4}|\d\d\[\]|\[\])", v)
    if m:
        month, day, year = m.groups()
        if "[" in year:
            return "unknown"
        y = _year(year)
        if "[" in month:
            return y
        if "[" in day:
            return f"{y}-{int(month):02d}"
        if int(month) > 12 >= int(day):  # day first (31/01/2025): the only reading that is a date
            month, day = day, month
        return f"{y}-{int(month):02d}-{int(day):02d}"
    m = re.fullmatch(r"([A-Za-z]+)\.?\s+(\d{1,2})(?:st|nd|rd|th)?,?\s+(\d{4})", v)
    if m and m.group(1).lower() in _MONTHS:
        return f"{m.group(3)}-{_MONTHS[m.group(1).lower()]:02d}-{int(m.group(2)):02d}"
    return text(v)


_UNIT = {"year": "Y", "month": "M", "week": "W", "day": "D"}


def duration(value: str) -> str:
    """An ISO 8601 duration from ``P1Y``, ``auto P1Y``, ``successive 1 year``, ``12 months``, ``90 days``;
    whole years in months become years (``P12M`` is ``P1Y``), half years months (``0.5 year`` is ``P6M``),
    weeks become days. ``perpetual`` stays.
    A value listing two spellings (``180 days / 6 months``) is read by its first."""
    v = value.strip().lower()
    half = re.search(r"\b(\d+)?\.5\s*years?\b|\bhalf\s+a\s+year\b", v)  # "0.5 year", "1.5 years"
    m = re.search(r"\bp(\d+)([ymwd])\b", v)
    if half:
        n, unit = 12 * int(half.group(1) or 0) + 6, "M"
    elif m:
        n, unit = int(m.group(1)), m.group(2).upper()
    else:
        m = re.search(r"(\d+)\)?\s*(year|month|week|day)s?\b", v)
        if not m:
            words = {"one": 1, "two": 2, "three": 3, "four": 4, "five": 5, "six": 6, "twelve": 12}
            w = re.search(r"\b(" + "|".join(words) + r")\s+(year|month|week|day)s?\b", v)
            if not w:
                return text(v)
            n, unit = words[w.group(1)], _UNIT[w.group(2)]
        else:
            n, unit = int(m.group(1)), _UNIT[m.group(2)]
    if unit == "M" and n % 12 == 0:
        n, unit = n // 12, "Y"
    if unit == "W":
        n, unit = n * 7, "D"
    return f"P{n}{unit}"


_SUFFIXES = re.compile(
    r"\b(inc|incorporated|llc|l l c|ltd|limited|corp|corporation|co|company|plc|lp|l p|llp|sa|ag|gmbh|"
    r"nv|bv|pte|pty|srl|spa)\b"
)


_ALIASES = re.compile(r"\([^()]*(?:\([^()]*\)[^()]*)*\)|“[^”]*”|\"[^\"]*\"")


def _party(name: str) -> str:
    name = _ALIASES.sub(" ", name)  # ("Alias"), (formerly known as ...)
    name = re.split(r"\bd/b/a\b|\bdba\b|\bf/k/a\b|\ba/k/a\b", name, flags=re.I)[0]
    name = name.replace("&", " and ")
    return " ".join(_SUFFIXES.sub(" ", normalize_answer(name)).split())


def parties(value: str) -> str:
    """The set of party names, sorted: aliases in parentheses or quotes, ``d/b/a`` and ``f/k/a`` names,
    corporate suffixes (Inc., LLC, Ltd., Corp.), case, punctuation and ``&``/``and`` dropped. Parties
    are separated by ``;``. CUAD's gold lists also carry entries that only define the collective term
    ("Hyatt and Playa (each a "Party" ...)", "individually as a "Party""): an entry made only of names
    and aliases already listed, or of no name at all, is not another party and is dropped."""
    entries = [e for e in value.replace("\n", ";").split(";") if e.strip()]
    known = {a.lower() for e in entries for a in re.findall(r"[“\"]([^”\"]{1,60})[”\"]", e)}
    names = {_party(e) for e in entries}
    known |= {n for n in names if n}
    kept = set()
    for e, n in zip(entries, (_party(e) for e in entries), strict=True):
        if not n:
            continue
        pieces = [
            p for p in re.split(r"\band\b|,|\btogether with\b|\bwith\b", _ALIASES.sub(" ", e)) if p.strip()
        ]
        if len(pieces) > 1 and all(_party(p) in known or normalize_answer(p) in known for p in pieces):
            continue  # "A and B": the two parties again
        if re.match(r"\s*(individually|collectively|each|jointly)\b", _ALIASES.sub(" ", e), re.I):
            continue
        kept.add(n)
    return "; ".join(sorted(kept))


def jurisdiction(value: str) -> str:
    """The most specific place named first: ``State of New York`` and ``New York`` agree, and so do
    ``Ontario, Canada`` and ``Ontario`` (CUAD adds the country outside the US); of a list (``Texas;
    Singapore``) the first, the law the clause names first."""
    v = re.sub(r"(?i)^\s*(the\s+)?(laws?\s+of\s+)?(the\s+)?(state|commonwealth|province)\s+of\s+", "", value)
    places = {text(part.split(",")[0]) for part in v.split(";")}
    if places == {"england", "wales"}:  # "England; Wales", "England, United Kingdom; Wales, United Kingdom"
        return "england and wales"
    v = text(re.split(r"[,;]", v)[0])
    # One country by its long and short names: "People's Republic of China" = "PRC" = "China",
    # "Republic of Kazakhstan" = "Kazakhstan", "United States of America" = "United States".
    v = re.sub(r"^(the\s+)?(people'?s\s+republic\s+of\s+china|p\.?\s?r\.?\s?c\.?)$", "china", v)
    v = re.sub(r"^(the\s+)?republic\s+of\s+", "", v)
    return re.sub(r"^(the\s+)?united\s+states(\s+of\s+america)?$", "united states", v)


def net(value: str) -> str:
    """A payment deadline as ``net N`` (``Net 30``, ``P30D``); other text as text."""
    m = re.search(r"net\s*(\d+)", value, re.I) or re.fullmatch(r"\s*P(\d+)D\s*", value)
    return f"net {m.group(1)}" if m else text(value)


def usd(value: str) -> str:
    """An amount as ``usd N`` (``USD 120,000``, ``$120,000``); other text as text."""
    m = re.search(r"(?:USD|\$)\s*([\d,]+)", value)
    return f"usd {m.group(1).replace(',', '')}" if m else text(value)


NORMALIZERS: dict[str, Normalizer] = {
    "text": text,
    "title": text,
    "date": date,
    "duration": duration,
    "parties": parties,
    "jurisdiction": jurisdiction,
    "net": net,
    "usd": usd,
}


def normalizer(name: str) -> Normalizer:
    """Return the normalizer called ``name``; a clear error lists the known ones."""
    try:
        return NORMALIZERS[name]
    except KeyError:
        raise UsageError(f"no value normalizer {name!r}; known: {', '.join(sorted(NORMALIZERS))}") from None
