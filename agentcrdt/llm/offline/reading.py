"""What the schema baseline reads: the texts of a request context, split into sentences, and how
strongly each sentence matches a field (lexical coverage, or calibrated embedding similarity).

Texts reach the model through the request ``context`` (see ``docs/offline-model.md``): its ``texts``
(a list of strings or of objects with a ``text``, or a mapping name → string), else its ``documents``
(the same shapes), else every string value in it. The runtime's default ``Agent.model_context`` sends
the work item's texts as ``texts``.
"""

from __future__ import annotations

import math
import re
from collections import Counter
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

from agentcrdt.llm.offline.encoder import Encoder
from agentcrdt.llm.offline.normalize import SCALE, find_dates
from agentcrdt.llm.offline.text import Span, cosine, sentences, stem, words

__all__ = ["MATCH", "Quoted", "Reader", "Source", "numbers", "query_words", "stems_of", "texts_of"]

MATCH = 0.5
"""A sentence at least this strong states the field; below it, the field is not found."""

_SHORT_WORDS = 4  # a "sentence" shorter than this is a heading or a label: it names a topic, states nothing
_SHORT_PENALTY = 0.6
_PREFIX = 6
_BEST = 0.75  # the better of name and description decides; the other one ranks equals
_TOKEN = re.compile(r"[A-Za-z0-9]+")
_ALPHA = re.compile(r"[A-Za-z]+")
_HEADING_WORDS = 8
_MINOR = frozenset(["of", "and", "or", "the", "to", "for", "in", "on", "a", "an", "by", "with"])
# Words that describe the request rather than what to look for ("the sentence saying when ...").
_FILLER = frozenset(
    [
        *("sentence", "sentences", "text", "quote", "quoted", "saying", "says", "say", "state", "states"),
        *("stated", "stating", "what", "who", "when", "where", "how", "whether", "document", "field"),
        *("value", "give", "return", "e", "g", "eg", "mention", "mentions", "mentioned"),
    ]
)


@dataclass(frozen=True)
class Source:
    """One text the model may quote; ``id`` is the id its context gave it (None when it gave none)."""

    text: str
    id: str | None = None


@dataclass(frozen=True, order=True)
class Quoted:
    """A verbatim piece of one source: ``sources[source].text[start:end] == text``."""

    source: int
    start: int
    end: int
    text: str


def texts_of(context: Mapping[str, Any]) -> list[Source]:
    """Return the texts a request context offers (see the module docstring), empty ones left out."""
    for key in ("texts", "documents"):
        found = _sources(context.get(key))
        if found:
            return found
    leaves = dict.fromkeys(_leaves({k: v for k, v in context.items() if k != "task"}))
    return [Source(t) for t in leaves if t.strip()]


def _sources(value: Any) -> list[Source]:
    if isinstance(value, str):
        return [Source(value)] if value.strip() else []
    if isinstance(value, Mapping):
        if isinstance(value.get("text"), str):
            return _sources([value])
        return [Source(v, str(k)) for k, v in value.items() if isinstance(v, str) and v.strip()]
    out: list[Source] = []
    if isinstance(value, list | tuple):
        for v in value:
            if isinstance(v, str) and v.strip():
                out.append(Source(v))
            elif isinstance(v, Mapping) and isinstance(v.get("text"), str) and v["text"].strip():
                ident = v.get("id")
                out.append(Source(v["text"], ident if isinstance(ident, str) else None))
    return out


def _leaves(value: Any) -> Iterator[str]:
    if isinstance(value, str):
        yield value
    elif isinstance(value, Mapping):
        for v in value.values():
            yield from _leaves(v)
    elif isinstance(value, list | tuple):
        for v in value:
            yield from _leaves(v)


def query_words(name: str) -> list[str]:
    """Split a field name into words: ``due_date`` and ``dueDate`` → ``["due", "date"]``."""
    spaced = re.sub(r"(?<=[a-z0-9])(?=[A-Z])", " ", name)
    return [w for w in re.split(r"[^A-Za-z0-9]+", spaced.lower()) if w]


def stems_of(text: str) -> frozenset[str]:
    """Return the stemmed content words of ``text`` (request filler like "sentence", "what" left out).

    Stems (short plurals included) are cut to six letters so that a word's family meets ("termination"
    and "terminate", "assignable" and "assigned", "date" and "dated"); the price, a few false friends
    ("confidence", "confidential"), is paid in a baseline that is lexical anyway.
    """
    return frozenset(_key(w) for w in words(text) if w not in _FILLER)


def _key(word: str) -> str:
    w = stem(word)
    if len(w) > 3 and w.endswith("s") and not w.endswith("ss"):  # short plurals stem() keeps: laws, days
        w = w[:-1]
    elif len(w) == 5 and w.endswith("ed"):  # short past forms stem() keeps: dated, named
        w = w[:-2]
    if len(w) > 3 and w.endswith("e"):  # "date" meets "dated", "terminate" meets "terminating"
        w = w[:-1]
    return w[:_PREFIX]


class Reader:
    """The sentences of some sources, and each one's match strength for a field query, in [0, 1].

    Lexical strength is the share of the query's content words (stemmed) that the sentence contains: the
    better of the field name's words and the description's. With an embedder, the cosine
    of query and sentence is mapped linearly from the family's "unrelated" level
    (``calibration.field - 0.2``: strength 0) to its "same topic" level (``calibration.tag_strong``: 1),
    which puts the extractor's calibrated field threshold at :data:`MATCH` for MiniLM; the strength is
    the larger of the two. Headings (under four words) count ×0.6. ``floor`` lifts every strength to at
    least itself (for sentences already chosen as relevant by an enclosing list).
    """

    def __init__(
        self,
        sources: Sequence[Source],
        encoder: Encoder,
        spans: Sequence[tuple[int, Span]],
        *,
        only: Sequence[int] | None = None,
        floor: float = 0.0,
        weights: Mapping[str, float] | None = None,
    ) -> None:
        self.sources = list(sources)
        self.encoder = encoder
        self.floor = floor
        self._all = spans
        self.indices = list(range(len(spans))) if only is None else list(only)
        self._stems = {k: stems_of(spans[k][1].text) for k in self.indices}
        if weights is None:  # over every sentence, so a restricted reader weighs words as its parent does
            df = Counter(w for k in self.indices for w in self._stems[k])
            n = len(spans)
            weights = {w: math.log((n + 1) / (c + 1)) + 1.0 for w, c in df.items()}
            self._unseen = math.log(n + 1) + 1.0
        else:
            self._unseen = weights.get("", 1.0)
        self._weights = weights

    @classmethod
    def of(cls, sources: Sequence[Source], encoder: Encoder) -> Reader:
        """Return a reader over every sentence of ``sources``."""
        return cls(sources, encoder, [(i, s) for i, src in enumerate(sources) for s in sentences(src.text)])

    def restrict(self, indices: Sequence[int], floor: float) -> Reader:
        """Return a reader over some of these sentences only (their strengths at least ``floor``)."""
        weights = {**self._weights, "": self._unseen}
        return Reader(self.sources, self.encoder, self._all, only=indices, floor=floor, weights=weights)

    def text(self, k: int) -> str:
        """Return the text of sentence ``k``."""
        return self._all[k][1].text

    def quoted(self, k: int, start: int = 0, end: int | None = None) -> Quoted:
        """Return sentence ``k`` as a quote, or its piece ``[start:end]`` (offsets within the sentence)."""
        source, span = self._all[k]
        a = span.start + start
        b = span.start + (len(span.text) if end is None else end)
        return Quoted(source, a, b, self.sources[source].text[a:b])

    def ranked(self, name_words: Sequence[str], description: str) -> list[tuple[int, float]]:
        """Return ``(sentence, strength)`` for every sentence, strongest first.

        Equals are ordered by density (the share of the sentence's words that are query words: a
        clause about the field beats a long sentence that touches its words in passing), then text order.
        """
        if not self.indices:
            return []
        name, desc = stems_of(" ".join(name_words)), _alternatives(description)
        own = np.array(
            [self._coverage(name, desc, self._stems_at(k)) for k in self.indices], dtype=np.float64
        )
        if self.encoder.semantic:
            own = np.maximum(own, self._semantic(" ".join(name_words), description))
        strength = np.empty_like(own)
        for j, k in enumerate(self.indices):
            s = own[j] * (_SHORT_PENALTY if self._heading(k) else 1.0)
            if k > 0 and self._all[k - 1][0] == self._all[k][0] and self._heading(k - 1):  # under a heading
                s = max(s, (own[j] + self._coverage(name, desc, self._stems_at(k - 1))) / 2)
            strength[j] = s
        strength = np.maximum(np.clip(strength, 0.0, 1.0), self.floor)
        want = name.union(*desc)
        density = [self._density(k, want) for k in self.indices]
        order = sorted(range(len(self.indices)), key=lambda j: (-strength[j], -density[j], self.indices[j]))
        return [(self.indices[j], round(float(strength[j]), 6)) for j in order]

    def _coverage(self, name: frozenset[str], desc: Sequence[frozenset[str]], have: frozenset[str]) -> float:
        # Name and description are two queries, not one: either may be the words the text uses. The
        # better one decides whether the sentence matches, the other one ranks sentences the first finds
        # equal. Words count by rarity in these texts (idf): "agreement" in a contract says little.
        # A description's alternatives ("pay or terminate") are queries of their own: either one may
        # be what a sentence says.
        by_name = self._share(name, have) if name else 0.0
        by_desc = max(self._share(d, have) for d in desc) if desc else by_name
        if not name:
            by_name = by_desc
        return _BEST * max(by_name, by_desc) + (1 - _BEST) * min(by_name, by_desc)

    def _share(self, query: frozenset[str], have: frozenset[str]) -> float:
        total = sum(self._weights.get(w, self._unseen) for w in query)
        return sum(self._weights.get(w, self._unseen) for w in query & have) / total

    def _stems_at(self, k: int) -> frozenset[str]:
        found = self._stems.get(k)
        if found is None:
            found = self._stems[k] = stems_of(self.text(k))
        return found

    def _heading(self, k: int) -> bool:
        """Tell whether sentence ``k`` is a heading: under four words, or a few capitalized ones."""
        if k < 0 or k >= len(self._all):
            return False
        alpha = _ALPHA.findall(self.text(k))
        if len(_TOKEN.findall(self.text(k))) < _SHORT_WORDS:
            return True
        return len(alpha) <= _HEADING_WORDS and all(w[0].isupper() or w.lower() in _MINOR for w in alpha)

    def _density(self, k: int, want: frozenset[str]) -> float:
        tokens = _TOKEN.findall(self.text(k))
        return sum(_key(t.lower()) in want for t in tokens) / len(tokens) if tokens else 0.0

    def _semantic(self, name: str, description: str) -> npt.NDArray[np.float64]:
        cal = self.encoder.calibration
        low, high = cal.field - 0.2, cal.tag_strong
        query = f"{name}: {description}" if description else name
        texts = [self.text(k) for k in self.indices]
        sims = cosine(self.encoder([query]), self.encoder(texts))[0].astype(np.float64)
        out: npt.NDArray[np.float64] = np.clip((sims - low) / (high - low), 0.0, 1.0)
        return out

    def has(self, k: int, stems: frozenset[str]) -> bool:
        """Tell whether sentence ``k`` contains every one of ``stems``."""
        return stems <= self._stems[k]

    def positions(self, k: int, name_words: Sequence[str], description: str) -> list[int]:
        """Return where (offsets in sentence ``k``) the query's content words occur."""
        want = stems_of(" ".join(name_words)) | stems_of(description)
        return [m.start() for m in _TOKEN.finditer(self.text(k)) if _key(m.group().lower()) in want]


def _alternatives(description: str) -> list[frozenset[str]]:
    """Return the description's stems, then those of each alternative it lists ("a or b", "a, b; c")."""
    whole = stems_of(description)
    if not whole:
        return []
    parts = [stems_of(p) for p in _ALTERNATIVE.split(description)]
    return [whole, *(p for p in parts if p and p != whole)]


_ALTERNATIVE = re.compile(r"\bor\b|[,;/]", re.I)
_NUMBER = re.compile(
    r"(?<![\w.,])(?P<sign>-)?(?P<n>\d{1,3}(?:,\d{3})+|\d+)(?P<frac>\.\d+)?(?![\w])"
    r"(?:\s*(?P<scale>million|billion|thousand)\b)?(?P<pct>\s*%)?",
    re.I,
)


def numbers(text: str) -> list[tuple[float, int, int]]:
    """Return ``(value, start, end)`` for the numbers written in ``text`` with digits, dates left out."""
    dates = [(s, e) for _, s, e in find_dates(text)]
    out = []
    for m in _NUMBER.finditer(text):
        if any(m.start() < e and s < m.end() for s, e in dates):
            continue
        value = float(m.group("n").replace(",", "") + (m.group("frac") or ""))
        if m.group("scale"):
            value *= SCALE[m.group("scale").lower()]
        out.append((-value if m.group("sign") else value, m.start(), m.end()))
    return out
