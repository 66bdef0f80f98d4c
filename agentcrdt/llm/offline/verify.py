"""Claim verification: align a claim's facts with the source's sentences, then judge what is covered.

The claim becomes a list of facts: numbers (normalized: ``260,000`` → ``260000``, ``eight`` → ``8``,
``2018–19`` → also ``2019``), names (capitalized words) and content words (stemmed; a long word also
matches on its first letters), each weighted by how rare it is in the source: the page's subject, named
in every sentence, says little about one claim. Up to three source sentences are chosen greedily, each
for the weight it newly covers. The verdict:

* ``supported``: the chosen sentences cover enough of the claim's weight (with a little credit for
  embedding similarity, when an embedder is injected), every number and name of the claim occurs in the
  source, and the quotes leave out at most one of them;
* ``not_supported``: they cover almost none of it;
* ``partially_supported``: between. A number or name the source never states is what a partly
  unsupported claim usually adds (a date, a co-star, an award), so one is enough to withhold
  ``supported``, and such facts weigh double in the share.

The chosen sentences are quoted verbatim (offsets into their document); for an unsupported claim they
are the closest the source comes, for a reviewer to see what it says instead. The claim's clauses
(split at ``;``, dashes, parentheses, ``, which``...) that the quotes barely cover are reported as its
unsupported parts. Every threshold was tuned on the WiCE tune split only (``evals/wice.yaml``).
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

import numpy as np
import numpy.typing as npt

from agentcrdt.llm.offline.encoder import Encoder
from agentcrdt.llm.offline.text import sentences, stem, words
from agentcrdt.llm.tasks import Citation, DocumentInput, Quote, Verdict, Verification, VerifyContext

__all__ = ["DEFAULT", "Params", "verify"]


@dataclass(frozen=True)
class Params:
    """The verifier's knobs (tuned on the WiCE tune split; kept together so a sweep can vary them)."""

    number_weight: float = 2.0
    name_weight: float = 1.5
    max_sentences: int = 3
    min_gain: float = 0.08  # a sentence must add this share of the claim's weight to be quoted
    claim_supported: float = 0.45  # with this share of the weight covered (and its names and numbers)
    claim_unsupported: float = 0.2  # below this share covered, the claim is not supported at all
    max_uncovered_keys: int = 1  # names/numbers a supported claim's quotes may leave out (none absent)
    missing_penalty: float = 1.0  # facts absent from the whole source count this much extra
    semantic: float = 0.25  # how much embedding similarity can stand in for missing words
    floor: float | None = None  # similarity that means "unrelated" (None: the embedder family's)


DEFAULT = Params()

_ORDINAL = re.compile(r"^(\d+)(?:st|nd|rd|th)$")
_TOKEN = re.compile(r"[A-Za-z][A-Za-z'’]*|\d[\d,]*(?:\.\d+)?(?:st|nd|rd|th)?")
_YEAR_RANGE = re.compile(r"\b((?:19|20)\d)(\d)\s*[–-]\s*(\d)(\d)\b")
_MONTHS = {
    "jan": "january",
    "feb": "february",
    "mar": "march",
    "apr": "april",
    "jun": "june",
    "jul": "july",
    "aug": "august",
    "sep": "september",
    "sept": "september",
    "oct": "october",
    "nov": "november",
    "dec": "december",
}
_SMALL = [
    "zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine", "ten", "eleven", "twelve",
    "thirteen", "fourteen", "fifteen", "sixteen", "seventeen", "eighteen", "nineteen", "twenty",
]  # fmt: skip
_NUMBER_WORDS = {w: str(i) for i, w in enumerate(_SMALL)} | {
    "thirty": "30",
    "forty": "40",
    "fifty": "50",
    "hundred": "100",
    "first": "1",
    "second": "2",
}
# Words that carry no checkable content in a claim (pronouns, auxiliaries, connectives), on top of the
# shared stop words: a source rarely repeats them, so counting them would make every claim look
# partially supported.
_LIGHT = frozenset([
    "he", "she", "they", "him", "them", "her", "hers", "we", "us", "our", "you", "your", "i", "me",
    "my", "mine", "also", "still", "then", "later", "during", "out", "up", "not", "no", "has", "have",
    "had", "been", "being", "would", "could", "should", "can", "did", "do", "does", "so", "thus",
    "however", "there", "here", "about", "over", "after", "before", "while", "when", "where", "what",
    "how", "very", "most", "more", "much", "many", "some", "several", "one's", "own", "same", "both",
    "either", "well", "just", "only", "even", "yet", "since", "until", "against", "between", "through"
])  # fmt: skip
# Clause boundaries: a part of a claim is what one of these separates (kept short: a part needs facts).
_PARTS = re.compile(
    r"\s*(?:;|\s[–—-]\s|\(|\)|,\s*(?:and|but|while|which|who|where|whereas|making|including|although|"
    r"though|after|before|when|with)\s|\s(?:and|but)\s(?=(?:was|were|is|are|has|had|have|also|later|"
    r"then|became|received|won|served|went)\b))\s*"
)
_MIN_PART_FACTS = 2
_PREFIX = 6  # words this long also match on their first letters ("congratulated", "congratulations")


@dataclass(frozen=True)
class _Fact:
    surface: str
    key: str
    prefix: str  # "" when the word is too short to match by its first letters
    kind: Literal["number", "name", "word"]
    part: int


@dataclass(frozen=True)
class _Unit:
    source: int
    start: int
    end: int
    text: str
    keys: frozenset[str]


def _norm_number(raw: str) -> str:
    n = raw.replace(",", "")
    if "." in n:
        n = n.rstrip("0").rstrip(".")
    return n.lstrip("0") or "0"


def _tokens(text: str) -> list[tuple[str, str, Literal["number", "name", "word"] | None]]:
    """Return ``(surface, key, kind)`` per token; ``kind`` is None for a word with no content."""
    text = _YEAR_RANGE.sub(lambda m: f"{m[1]}{m[2]} {m[1][:-1]}{m[3]}{m[4]}", text)  # 2018–19: 2019 too
    out: list[tuple[str, str, Literal["number", "name", "word"] | None]] = []
    for tok in _TOKEN.findall(text):
        low = tok.lower().replace("’", "'").strip("'").removesuffix("'s")
        m = _ORDINAL.match(low)
        if m or low[:1].isdigit():
            out.append((tok, _norm_number(m.group(1) if m else low), "number"))
        elif low in _NUMBER_WORDS:
            out.append((tok, _NUMBER_WORDS[low], "number"))
        elif len(low) < 2:
            continue
        else:
            low = _MONTHS.get(low, low)
            light = low in _LIGHT or not words(low)
            kind: Literal["number", "name", "word"] | None = (
                None if light else "name" if tok[:1].isupper() else "word"
            )
            out.append((tok, stem(low), kind))
    return out


def _keys(text: str) -> frozenset[str]:
    """Return the matchable keys of a text: stems of words, numbers, and prefixes of long words."""
    out: set[str] = set()
    for _, key, _ in _tokens(text):
        out.add(key)
        if len(key) >= _PREFIX and not key[0].isdigit():
            out.add("~" + key[:_PREFIX])
    return frozenset(out)


def _facts(claim: str) -> tuple[list[_Fact], list[str]]:
    """Return the claim's facts and its parts (clauses; ``_Fact.part`` indexes them)."""
    facts: list[_Fact] = []
    seen: set[str] = set()
    parts = [p for p in _PARTS.split(claim) if p and p.strip()]
    merged: list[str] = []
    for p in parts:
        # A fragment too small to check on its own ("in 2018") belongs to the clause before it.
        if merged and len(words(p)) < _MIN_PART_FACTS:
            merged[-1] += " " + p
        else:
            merged.append(p)
    for i, p in enumerate(merged):
        for j, (surface, key, kind) in enumerate(_tokens(p)):
            if kind is None or key in seen:
                continue
            if kind == "name" and i == 0 and j == 0:
                kind = "word"  # capitalized because it opens the claim
            seen.add(key)
            prefix = "~" + key[:_PREFIX] if len(key) >= _PREFIX and kind != "number" else ""
            facts.append(_Fact(surface, key, prefix, kind, i))
    return facts, [" ".join(p.split()) for p in merged]


def _units(sources: Sequence[DocumentInput]) -> list[_Unit]:
    """Split each source into sentences with exact offsets: by line first (a page of one sentence per
    line, as WiCE gives them), then within a line."""
    out: list[_Unit] = []
    for si, doc in enumerate(sources):
        offset = 0
        for line in doc.text.split("\n"):
            for s in sentences(line, min_chars=2):
                start = offset + s.start
                out.append(_Unit(si, start, start + len(s.text), s.text, _keys(s.text)))
            offset += len(line) + 1
    return out


def _weight(f: _Fact, df: dict[str, int], n: int, p: Params) -> float:
    idf = math.log((n + 1) / (df.get(f.key, 0) + 1)) + 1.0
    base = p.number_weight if f.kind == "number" else p.name_weight if f.kind == "name" else 1.0
    return base * idf


@dataclass(frozen=True)
class Assessment:
    """What the alignment found: the shares of the claim's weight covered, per part and overall."""

    share: float  # by the chosen sentences (semantic credit included)
    lexical: float  # by the chosen sentences, words only
    anywhere: float  # by the whole source
    parts: tuple[float, ...]  # the share of each part's weight covered
    weak_parts: tuple[str, ...]  # parts (of several) less than half covered
    absent_keys: int  # numbers and names the source never states
    uncovered_keys: int  # numbers and names the quoted sentences do not state
    best_similarity: float
    chosen: tuple[int, ...]
    missing: tuple[str, ...]  # the facts the chosen sentences do not state, as the claim spells them


def assess(claim: str, units: Sequence[_Unit], enc: Encoder, p: Params = DEFAULT) -> Assessment | None:
    """Align the claim's facts with the sentences ``units``; None when there is nothing to compare."""
    facts, part_texts = _facts(claim)
    if not facts or not units:
        return None
    df: dict[str, int] = {}
    for u in units:
        for k in u.keys:
            df[k] = df.get(k, 0) + 1
    n = len(units)
    w = np.array([_weight(f, df, n, p) for f in facts], dtype=np.float64)
    hit = np.array([[f.key in u.keys or f.prefix in u.keys for f in facts] for u in units], dtype=bool)
    absent = ~hit.any(axis=0)
    # The weight a missing fact takes off: more when the source never states it anywhere.
    cost = w * np.where(absent, 1.0 + p.missing_penalty, 1.0)
    sem = _semantic(claim, units, enc, p) if p.semantic > 0 else np.zeros(n)
    chosen = _choose(hit, w, sem, p)
    covered: npt.NDArray[np.bool_] = np.zeros(len(facts), dtype=bool)
    for i in chosen:
        covered |= hit[i]
    lexical = float((cost * covered).sum() / cost.sum())
    best_sem = float(sem[chosen].max()) if chosen else 0.0
    share = min(1.0, lexical + p.semantic * max(0.0, best_sem - lexical) * (1 - lexical))
    parts: dict[int, float] = {}  # a part without facts (only light words) has nothing to check
    for i in sorted({f.part for f in facts}):
        mask = np.array([f.part == i for f in facts])
        parts[i] = float((cost * covered * mask).sum() / (cost * mask).sum())
    keys = np.array([f.kind != "word" for f in facts])
    return Assessment(
        share=share,
        lexical=lexical,
        anywhere=float((cost * ~absent).sum() / cost.sum()),
        parts=tuple(parts.values()),
        weak_parts=tuple(part_texts[i] for i, x in parts.items() if x < 0.5 and len(parts) > 1),
        absent_keys=int((absent & keys).sum()),
        uncovered_keys=int((~covered & keys).sum()),
        best_similarity=best_sem,
        chosen=tuple(sorted(chosen)),
        missing=tuple(f.surface for f, c in zip(facts, covered, strict=True) if not c),
    )


def decide(a: Assessment, p: Params = DEFAULT) -> Verdict:
    """Return the verdict an assessment supports."""
    if a.share >= p.claim_supported and a.absent_keys == 0 and a.uncovered_keys <= p.max_uncovered_keys:
        return "supported"
    if a.share < p.claim_unsupported:
        return "not_supported"
    return "partially_supported"


def verify(ctx: VerifyContext, enc: Encoder, params: Params = DEFAULT) -> Verification:
    """Judge the claim of ``ctx`` against its sources and quote the sentences the verdict rests on."""
    claim = " ".join(ctx.claim.text.split())
    units = _units(ctx.sources)
    a = assess(claim, units, enc, params)
    if a is None:
        return Verification(
            verdict="not_supported",
            confidence=0.5,
            rationale="nothing in the claim or the sources to compare",
            evidence=[],
            unsupported=[claim] if claim else [],
        )
    verdict = decide(a, params)
    evidence = [
        Citation(
            doc_id=ctx.sources[units[i].source].id,
            quote=Quote(text=units[i].text, start=units[i].start, end=units[i].end),
        )
        for i in a.chosen
    ]
    return Verification(
        verdict=verdict,
        confidence=_confidence(verdict, a.share, params),
        rationale=(
            f"{round(100 * a.share)}% of the claim's facts are stated in {len(a.chosen)} source sentence(s)"
            + (f"; not found: {', '.join(a.missing[:8])}" if a.missing else "")
        ),
        evidence=evidence,
        unsupported=[*a.weak_parts, *(m for m in a.missing if m not in " ".join(a.weak_parts))][:20],
    )


#: Cosine below which a sentence says nothing about the claim, per embedder family (tuned: sentences of
#: the claim's own page share its topic, so both embedders put unrelated ones fairly high).
_FLOORS = {"minilm": 0.4, "fake": 0.4}


def _semantic(claim: str, units: Sequence[_Unit], enc: Encoder, p: Params) -> np.ndarray:
    if not enc.semantic:
        return np.zeros(len(units))
    floor = p.floor if p.floor is not None else _FLOORS.get(enc.family, 0.3)
    vecs = enc([claim, *(u.text for u in units)])
    sims = np.asarray(vecs[1:] @ vecs[0], dtype=np.float64)
    return np.clip((sims - floor) / (1 - floor), 0.0, 1.0)


def _choose(hit: np.ndarray, w: np.ndarray, sem: np.ndarray, p: Params) -> list[int]:
    """Pick sentences greedily by the claim weight each newly covers (ties: more similar, earlier)."""
    total = float(w.sum())
    covered = np.zeros(hit.shape[1], dtype=bool)
    chosen: list[int] = []
    for _ in range(p.max_sentences):
        gain = (hit & ~covered) @ w / total + 0.01 * sem
        if chosen:
            gain[chosen] = -1.0
        best = int(np.argmax(gain))
        if gain[best] < (p.min_gain if chosen else 0.0):
            break
        chosen.append(best)
        covered |= hit[best]
    return chosen


def _confidence(verdict: Verdict, share: float, p: Params) -> float:
    """Return how often such a verdict was right on the tune split: a claim withheld from ``supported``
    only by a name or number the source lacks is the surest call (84%), one called ``not_supported`` is
    as sure as its share is low, and how far a share clears the supported threshold says little."""
    if verdict == "supported":
        margin = (share - p.claim_supported) / max(1e-6, 1 - p.claim_supported)
        return round(0.65 + 0.1 * margin, 3)
    if verdict == "not_supported":
        margin = (p.claim_unsupported - share) / max(1e-6, p.claim_unsupported)
        return round(0.4 + 0.45 * margin, 3)
    return 0.8 if share >= p.claim_supported else 0.72
