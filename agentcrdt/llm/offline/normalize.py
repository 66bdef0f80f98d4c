"""Value normalization: dates to ISO, spelled-out durations to ISO 8601, money, jurisdictions.

Pure functions over strings; each ``find_*`` returns ``(normalized, start, end)`` spans of the input so
the caller can quote exactly what it read.
"""

from __future__ import annotations

import re
from datetime import date

__all__ = [
    "JURISDICTIONS",
    "SCALE",
    "canonical_value",
    "find_dates",
    "find_durations",
    "find_money",
    "jurisdiction",
    "parse_number",
]

_MONTHS = {
    m: i + 1
    for i, names in enumerate(
        [
            ("january", "jan"),
            ("february", "feb"),
            ("march", "mar"),
            ("april", "apr"),
            ("may",),
            ("june", "jun"),
            ("july", "jul"),
            ("august", "aug"),
            ("september", "sep", "sept"),
            ("october", "oct"),
            ("november", "nov"),
            ("december", "dec"),
        ]
    )
    for m in names
}
_MONTH = (
    r"(?P<month>January|February|March|April|May|June|July|August|September|October|November|December|"
    r"Jan|Feb|Mar|Apr|Jun|Jul|Aug|Sept|Sep|Oct|Nov|Dec)\.?"
)
_DAY = r"(?P<day>[0-3]?\d)\s*(?:st|nd|rd|th|t\s?h)?"
_YEAR = r"(?P<year>(?:19|20)\d\d)"
_DATE_PATTERNS = [
    # May 8, 2014 / July 11 , 2006 / May 8 2014
    re.compile(rf"(?<![A-Za-z]){_MONTH}\s+{_DAY}\s*,?\s*{_YEAR}\b", re.I),
    # 8th day of May, 2014 / 1 August 2019 / 8 May, 2014
    re.compile(rf"(?<![0-9]){_DAY}\s+(?:day\s+of\s+)?{_MONTH}\s*,?\s*(?:of\s+)?{_YEAR}\b", re.I),
    # 2014-05-08
    re.compile(r"\b(?P<year>(?:19|20)\d\d)-(?P<month>[01]?\d)-(?P<day>[0-3]?\d)\b"),
    # 5/8/2014, 29/3/18, 3-14-18 (month first unless the first number cannot be a month)
    re.compile(r"\b(?P<a>[0-3]?\d)[/.-](?P<b>[0-3]?\d)[/.-](?P<year>(?:19|20)?\d\d)\b"),
]


def _year(text: str) -> int:
    y = int(text)
    if len(text) == 2:
        y += 2000 if y < 50 else 1900
    return y


def _month(text: str) -> int:
    return int(text) if text.isdigit() else _MONTHS[text.lower().rstrip(".")]


def find_dates(text: str) -> list[tuple[str, int, int]]:
    """Return ``(iso_date, start, end)`` for every date written in ``text``, in order, non-overlapping."""
    found: list[tuple[str, int, int]] = []
    taken: list[tuple[int, int]] = []
    for pattern in _DATE_PATTERNS:
        for m in pattern.finditer(text):
            if any(m.start() < e and s < m.end() for s, e in taken):
                continue
            g = m.groupdict()
            try:
                if "a" in g and g.get("a") is not None:
                    a, b = int(g["a"]), int(g["b"])
                    month, day = (b, a) if a > 12 else (a, b)
                else:
                    month, day = _month(g["month"]), int(g["day"])
                d = date(_year(g["year"]), month, day)
            except (ValueError, KeyError):
                continue
            taken.append((m.start(), m.end()))
            found.append((d.isoformat(), m.start(), m.end()))
    return sorted(found, key=lambda f: f[1])


_UNITS = {
    "zero": 0, "one": 1, "two": 2, "three": 3, "four": 4, "five": 5, "six": 6, "seven": 7, "eight": 8,
    "nine": 9, "ten": 10, "eleven": 11, "twelve": 12, "thirteen": 13, "fourteen": 14, "fifteen": 15,
    "sixteen": 16, "seventeen": 17, "eighteen": 18, "nineteen": 19, "twenty": 20, "thirty": 30,
    "forty": 40, "fifty": 50, "sixty": 60, "seventy": 70, "eighty": 80, "ninety": 90, "hundred": 100,
    "a": 1, "an": 1,
}  # fmt: skip
_NUMBER_WORD = r"(?:" + "|".join(sorted((k for k in _UNITS if len(k) > 2), key=len, reverse=True)) + r")"
_SPELLED = rf"{_NUMBER_WORD}(?:[\s-]+{_NUMBER_WORD})*"
# "thirty (30)", "30", "thirty", "one (I)" (OCR'd 1), "(30)"
_AMOUNT = rf"(?P<num>(?:{_SPELLED})\s*\(\s*(?:\d+|I)\s*\)|\(?\d+\)?|{_SPELLED})"
_DURATION = re.compile(
    rf"\b{_AMOUNT}[\s-]*(?:\w+\s+)?(?P<unit>years?|months?|weeks?|days?|calendar\s+days?|business\s+days?)\b",
    re.I,
)
_UNIT_CODE = {"year": "Y", "month": "M", "week": "W", "day": "D"}


def parse_number(text: str) -> int | None:
    """Parse '30', '(30)', 'thirty (30)', 'twenty-four', 'one (I)' into an int; None if it is no number."""
    digits = re.search(r"\d+", text)
    if digits:
        return int(digits.group())
    if re.search(r"\(\s*I\s*\)", text):
        return 1
    total, seen = 0, False
    for word in re.findall(r"[a-z]+", text.lower()):
        if word not in _UNITS:
            return None
        seen = True
        total = total * 100 if word == "hundred" else total + _UNITS[word]
    return total if seen else None


def find_durations(text: str) -> list[tuple[str, int, int]]:
    """Return ``(iso_duration, start, end)`` for durations like 'thirty (30) days' or 'two (2) years'."""
    out = []
    for m in _DURATION.finditer(text):
        n = parse_number(m.group("num"))
        if n is None or n <= 0:
            continue
        unit = m.group("unit").lower().split()[-1].rstrip("s")
        out.append((f"P{n}{_UNIT_CODE[unit]}", m.start(), m.end()))
    return out


_CURRENCY = {"$": "USD", "US$": "USD", "USD": "USD", "€": "EUR", "EUR": "EUR", "£": "GBP", "GBP": "GBP"}
_MONEY = re.compile(
    r"(?P<cur>US\$|\$|€|£|USD|EUR|GBP)\s?(?P<amount>\d{1,3}(?:,\d{3})+|\d+)(?P<cents>\.\d{1,2})?"
    r"(?:\s*(?P<scale>million|billion|thousand))?",
    re.I,
)
#: Multipliers of written-out scales ("2.5 million"), shared by money and plain numbers.
SCALE = {"thousand": 1_000, "million": 1_000_000, "billion": 1_000_000_000}


def find_money(text: str) -> list[tuple[str, int, int]]:
    """Return ``('USD 1000000', start, end)`` for amounts like '$1,000,000' or 'USD 2.5 million'."""
    out = []
    for m in _MONEY.finditer(text):
        cur = _CURRENCY[m.group("cur").upper() if m.group("cur").isalpha() else m.group("cur")]
        amount = m.group("amount").replace(",", "") + (m.group("cents") or "")
        scale = m.group("scale")
        if scale:
            value = float(amount) * SCALE[scale.lower()]
            amount = str(int(value)) if value.is_integer() else f"{value:.2f}"
        elif amount.endswith(".00"):
            amount = amount[:-3]
        out.append((f"{cur} {amount}", m.start(), m.end()))
    return out


_US_STATES = [
    "Alabama", "Alaska", "Arizona", "Arkansas", "California", "Colorado", "Connecticut", "Delaware",
    "Florida", "Georgia", "Hawaii", "Idaho", "Illinois", "Indiana", "Iowa", "Kansas", "Kentucky",
    "Louisiana", "Maine", "Maryland", "Massachusetts", "Michigan", "Minnesota", "Mississippi",
    "Missouri", "Montana", "Nebraska", "Nevada", "Ohio", "Oklahoma", "Oregon", "Pennsylvania",
    "Tennessee", "Texas", "Utah", "Vermont", "Virginia", "Washington", "Wisconsin", "Wyoming",
    "New Hampshire", "New Jersey", "New Mexico", "New York", "North Carolina", "North Dakota",
    "Rhode Island", "South Carolina", "South Dakota", "West Virginia", "District of Columbia",
]  # fmt: skip
_OTHER = [
    "England and Wales", "England", "Scotland", "Ireland", "Ontario", "British Columbia", "Alberta",
    "Quebec", "Canada", "Netherlands", "Germany", "France", "Switzerland", "Singapore", "Hong Kong",
    "Japan", "China", "India", "Israel", "Australia", "New South Wales", "Victoria", "Sweden", "Norway",
    "Denmark", "Finland", "Spain", "Italy", "Belgium", "Luxembourg", "Austria", "Korea", "Taiwan",
    "Cayman Islands", "Bermuda", "Brazil", "Mexico", "United Kingdom", "United States",
    "Kazakhstan", "South Africa", "Colombia", "Nova Scotia", "Manitoba", "Saskatchewan", "New Zealand",
    "Russia", "Poland", "Czech Republic", "Hungary", "Portugal", "Greece", "Turkey", "Thailand",
    "Malaysia", "Indonesia", "Philippines", "Vietnam", "Argentina", "Chile", "Peru", "Cyprus", "Malta",
    "Puerto Rico", "Wales", "Northern Ireland", "Isle of Man", "British Virgin Islands", "Bahamas",
    "Barbados", "Panama", "Costa Rica", "Uruguay", "Venezuela", "Ecuador", "Saudi Arabia",
    "United Arab Emirates", "Dubai", "Egypt", "Nigeria", "Kenya", "Pakistan", "Ukraine", "Romania",
    "Bulgaria", "Croatia", "Slovakia", "Slovenia", "Estonia", "Latvia", "Lithuania", "Iceland",
    "Liechtenstein", "Monaco", "Queensland", "Western Australia", "New Brunswick", "Macau",
]  # fmt: skip
#: Other names of a jurisdiction in the table ("English law", "the laws of the PRC").
_ALIASES = {
    "people's republic of china": "China", "peoples republic of china": "China", "prc": "China",
    "p.r.c.": "China", "p. r. china": "China", "english": "England", "russian federation": "Russia",
    "united states of america": "United States", "u.s.a.": "United States", "holland": "Netherlands",
    "the netherlands": "Netherlands", "republic of korea": "Korea", "u.k.": "United Kingdom",
    "uae": "United Arab Emirates", "hong kong sar": "Hong Kong",
    # Adjectives name a law only as "Swiss law" (see jurisdiction): elsewhere they are languages or
    # nationalities.
    "swiss": "Switzerland", "german": "Germany", "french": "France", "dutch": "Netherlands",
    "japanese": "Japan", "irish": "Ireland", "scottish": "Scotland", "israeli": "Israel",
    "singaporean": "Singapore", "canadian": "Canada", "chinese": "China", "korean": "Korea",
}  # fmt: skip
#: The aliases that are adjectives ("English law"), counted only before "law" or "courts".
_ADJECTIVES = {
    "english", "swiss", "german", "french", "dutch", "japanese", "irish", "scottish", "israeli",
    "singaporean", "canadian", "chinese", "korean",
}  # fmt: skip
JURISDICTIONS: list[str] = sorted([*_US_STATES, *_OTHER], key=len, reverse=True)
# Names match across any whitespace: PDF conversions put two spaces, or a line break, inside them.
_JURIS = re.compile(
    r"(?<![\w.])("
    + "|".join(
        r"\s+".join(map(re.escape, j.split()))
        for j in sorted([*JURISDICTIONS, *_ALIASES], key=len, reverse=True)
    )
    + r")(?![\w])",
    re.I,
)
_CANON = {j.lower(): j for j in JURISDICTIONS} | _ALIASES


#: Places inside a larger jurisdiction named in the table: a contract governed by "the laws of England
#: and Wales" and one governed by "English law" agree, and so do "the United States" and "New York".
_WITHIN: dict[str, set[str]] = {
    "united states": {j.lower() for j in _US_STATES},
    "united kingdom": {"england", "wales", "scotland", "england and wales", "northern ireland"},
    "england and wales": {"england", "wales"},
    "canada": {
        "ontario",
        "british columbia",
        "alberta",
        "quebec",
        "nova scotia",
        "manitoba",
        "saskatchewan",
        "new brunswick",
    },
    "australia": {"new south wales", "victoria", "queensland", "western australia"},
    "united arab emirates": {"dubai"},
}


def jurisdictions_agree(a: str, b: str) -> bool:
    """Tell whether two governing-law values name one jurisdiction, possibly at two levels of detail
    ("England" and "England and Wales"; "United States" and "Delaware"), never two of one level
    ("New York" and "Delaware")."""
    ka, kb = (canonical_value(v).removeprefix("the laws of ").strip() for v in (a, b))
    if ka == kb:
        return True
    inside = _WITHIN.get(ka, set()) | {k for k, parts in _WITHIN.items() if ka in parts}
    return kb in inside or (kb in _WITHIN and ka in _WITHIN[kb])


def jurisdiction(text: str) -> list[tuple[str, int, int]]:
    """Return ``(name, start, end)`` for known jurisdictions named in ``text`` ('State of Delaware' →
    'Delaware'); 'United States' is kept only when nothing more specific is named."""
    out = [
        (_CANON[" ".join(m.group(1).lower().split())], m.start(1), m.end(1)) for m in _JURIS.finditer(text)
    ]
    # "English" names a law only as "English law"; elsewhere it is a language.
    out = [
        o
        for o in out
        if text[o[1] : o[2]].lower() not in _ADJECTIVES or re.match(r"\s+(law|courts?)\b", text[o[2] :], re.I)
    ]
    specific = [o for o in out if o[0] not in ("United States", "United Kingdom")]
    return specific or out


def _months_or_days(m: re.Match[str]) -> str:
    n, u = int(m.group(1)), m.group(2)
    if u == "y":
        n, u = n * 12, "m"
    elif u == "w":
        n, u = n * 7, "d"
    return f"p{n}{u}"


def canonical_value(value: str) -> str:
    """Return a comparison key for a normalized value: case, spacing, separators and unit multiples
    folded (P12M == P1Y, 'auto P12M' == 'auto P1Y', 'USD 1,000,000' == 'USD 1000000', 'the State of
    Delaware' == 'delaware')."""
    v = " ".join(value.strip().lower().split())
    v = re.sub(r"\bp(\d+)([ymwd])\b", _months_or_days, v)
    v = re.sub(r"(?<=\d),(?=\d{3})", "", v)
    v = re.sub(r"^(the\s+)?(state|commonwealth|province)\s+of\s+", "", v)
    return v.strip(" .;,")
