"""Scoring arithmetic for proposal quality: counts, precision/recall/F1, spans, calibration, intervals.

Pure functions of gold and predicted values (no rooms, no models), so every figure a report shows can be
recomputed by hand from its inputs, and the tests do exactly that. Conventions, chosen once:

* precision is ``tp / (tp + fp)``, recall ``tp / (tp + fn)``; with nothing predicted *and* nothing to
  find, both are 1 (nothing was missed, nothing was wrong). Otherwise an undefined rate is 0, as in
  scikit-learn's ``zero_division=0``: predicting nothing where something was to be found has precision
  0, and a label predicted where none was to be found has recall 0. F1 is the harmonic mean (0 when
  both are 0).
* macro averages run over the labels that occur in the gold *or* the predictions: a label nobody used
  says nothing about the model.
* text spans match as CUAD's own evaluation does: normalized (lower case, punctuation and articles
  dropped, whitespace collapsed), then token-set Jaccard ≥ 0.5.
"""

from __future__ import annotations

import math
import random
import re
import string
from collections.abc import Callable, Hashable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import TypeVar

__all__ = [
    "JACCARD_MATCH",
    "PRF",
    "Calibration",
    "Interval",
    "MultiLabel",
    "bootstrap",
    "calibration",
    "match_sets",
    "multilabel",
    "normalize_answer",
    "paired_bootstrap",
    "span_prf",
    "token_jaccard",
]

JACCARD_MATCH = 0.5
"""Token-set Jaccard at or above which a predicted span matches a gold span (CUAD's threshold)."""

K = TypeVar("K", bound=Hashable)
L = TypeVar("L", bound=Hashable)
T = TypeVar("T", bound=Hashable)


@dataclass(frozen=True)
class PRF:
    """True positives, false positives and false negatives, and what follows from them."""

    tp: int = 0
    fp: int = 0
    fn: int = 0

    def __add__(self, other: PRF) -> PRF:
        return PRF(self.tp + other.tp, self.fp + other.fp, self.fn + other.fn)

    @property
    def precision(self) -> float:
        if self.tp + self.fp == 0:
            return 1.0 if self.fn == 0 else 0.0
        return self.tp / (self.tp + self.fp)

    @property
    def recall(self) -> float:
        if self.tp + self.fn == 0:
            return 1.0 if self.fp == 0 else 0.0
        return self.tp / (self.tp + self.fn)

    @property
    def f1(self) -> float:
        p, r = self.precision, self.recall
        return 0.0 if p + r == 0 else 2 * p * r / (p + r)

    def as_dict(self) -> dict[str, float]:
        """Return the counts and the three rates, for JSON reports."""
        return {
            "tp": self.tp,
            "fp": self.fp,
            "fn": self.fn,
            "precision": self.precision,
            "recall": self.recall,
            "f1": self.f1,
        }


def match_sets(gold: Iterable[T], predicted: Iterable[T]) -> PRF:
    """Count a predicted set against a gold set (edges, pairs, labels of one case): exact membership."""
    g, p = set(gold), set(predicted)
    return PRF(len(g & p), len(p - g), len(g - p))


@dataclass(frozen=True)
class MultiLabel:
    """Multi-label scores: per label, pooled (micro) and averaged over labels (macro)."""

    per_label: Mapping[Hashable, PRF]

    @property
    def micro(self) -> PRF:
        return sum(self.per_label.values(), PRF())

    @property
    def macro_precision(self) -> float:
        return _mean([s.precision for s in self.per_label.values()])

    @property
    def macro_recall(self) -> float:
        return _mean([s.recall for s in self.per_label.values()])

    @property
    def macro_f1(self) -> float:
        return _mean([s.f1 for s in self.per_label.values()])


def multilabel(gold: Mapping[K, Iterable[L]], predicted: Mapping[K, Iterable[L]]) -> MultiLabel:
    """Score labels per case (tags of documents): every case of ``gold`` counts, predicted or not; a
    predicted case absent from ``gold`` counts its labels as false positives."""
    counts: dict[Hashable, list[int]] = {}
    for case in set(gold) | set(predicted):
        g, p = set(gold.get(case, ())), set(predicted.get(case, ()))
        for label in g | p:
            c = counts.setdefault(label, [0, 0, 0])
            c[0 if label in g and label in p else 1 if label in p else 2] += 1
    return MultiLabel({label: PRF(*c) for label, c in sorted(counts.items(), key=lambda kv: str(kv[0]))})


# -- spans -------------------------------------------------------------------------------------------

_ARTICLES = re.compile(r"\b(a|an|the)\b")
_PUNCT = str.maketrans("", "", string.punctuation)


def normalize_answer(text: str) -> str:
    """Normalize text as SQuAD and CUAD do: lower case, no punctuation, no articles, single spaces."""
    return " ".join(_ARTICLES.sub(" ", text.lower().translate(_PUNCT)).split())


def token_jaccard(a: str, b: str) -> float:
    """Return the Jaccard index of the normalized token sets of ``a`` and ``b`` (1 when both are empty)."""
    x, y = set(normalize_answer(a).split()), set(normalize_answer(b).split())
    if not x and not y:
        return 1.0
    return len(x & y) / len(x | y)


def span_prf(gold: Sequence[str], predicted: Sequence[str], threshold: float = JACCARD_MATCH) -> PRF:
    """Count predicted spans against gold spans of one case: a prediction is right when it matches some
    gold span, a gold span is found when some prediction matches it (Jaccard ≥ ``threshold``)."""
    tp = sum(1 for p in predicted if any(token_jaccard(p, g) >= threshold for g in gold))
    found = sum(1 for g in gold if any(token_jaccard(p, g) >= threshold for p in predicted))
    return PRF(tp, len(predicted) - tp, len(gold) - found)


# -- calibration -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Calibration:
    """How well confidences predict correctness.

    ``at[t] = (precision, count)`` over the proposals with confidence ≥ t; ``ece`` is the expected
    calibration error over ``bins`` equal-width bins: Σ (n_b / n) · |accuracy_b − mean confidence_b|.
    """

    at: Mapping[float, tuple[float, int]]
    ece: float
    bins: int
    count: int


def calibration(
    scored: Sequence[tuple[float, bool]],
    thresholds: Sequence[float] = (0.0, 0.5, 0.7, 0.8, 0.9),
    bins: int = 10,
) -> Calibration:
    """Return precision at each confidence threshold and the ECE of ``(confidence, correct)`` pairs."""
    for confidence, _ in scored:
        if not 0.0 <= confidence <= 1.0 or math.isnan(confidence):
            raise ValueError(f"a confidence must be in [0, 1], got {confidence!r}")
    at: dict[float, tuple[float, int]] = {}
    for t in thresholds:
        kept = [ok for c, ok in scored if c >= t]
        at[t] = (sum(kept) / len(kept) if kept else 1.0, len(kept))
    totals: list[list[float]] = [[0, 0.0, 0.0] for _ in range(bins)]  # count, sum conf, sum correct
    for confidence, ok in scored:
        b = min(int(confidence * bins), bins - 1)  # [0, 1/bins), ..., [1 - 1/bins, 1]
        totals[b][0] += 1
        totals[b][1] += confidence
        totals[b][2] += ok
    n = len(scored)
    ece = sum(cnt / n * abs(right / cnt - conf / cnt) for cnt, conf, right in totals if cnt) if n else 0.0
    return Calibration(at, ece, bins, n)


# -- uncertainty -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Interval:
    """A statistic and its bootstrap interval (``low`` ≤ ``value`` ≤ ``high`` is not guaranteed)."""

    value: float
    low: float
    high: float
    level: float

    def excludes_zero(self) -> bool:
        """Tell whether the interval lies wholly on one side of 0 (a difference that is not noise)."""
        return self.low > 0 or self.high < 0


def bootstrap(
    cases: Sequence[T],
    statistic: Callable[[Sequence[T]], float],
    *,
    resamples: int = 1000,
    level: float = 0.95,
    seed: int = 0,
) -> Interval:
    """Return ``statistic(cases)`` with its percentile bootstrap interval over resampled cases.

    Seeded: the same cases give the same interval on every machine.
    """
    if not cases:
        raise ValueError("a bootstrap needs at least one case")
    rng = random.Random(seed)
    n = len(cases)
    values = sorted(statistic([cases[rng.randrange(n)] for _ in range(n)]) for _ in range(resamples))
    lo = values[math.floor((1 - level) / 2 * (resamples - 1))]
    hi = values[math.ceil((1 + level) / 2 * (resamples - 1))]
    return Interval(statistic(cases), lo, hi, level)


def paired_bootstrap(
    a: Sequence[T],
    b: Sequence[T],
    statistic: Callable[[Sequence[T]], float],
    *,
    resamples: int = 1000,
    level: float = 0.95,
    seed: int = 0,
) -> Interval:
    """Return ``statistic(b) − statistic(a)`` with its interval, resampling the same cases on both sides
    (``a[i]`` and ``b[i]`` are one case scored in two runs)."""
    if len(a) != len(b):
        raise ValueError(f"paired runs must score the same cases: {len(a)} against {len(b)}")
    pairs = list(zip(a, b, strict=True))

    def delta(sample: Sequence[tuple[T, T]]) -> float:
        return statistic([y for _, y in sample]) - statistic([x for x, _ in sample])

    return bootstrap(pairs, delta, resamples=resamples, level=level, seed=seed)


def _mean(values: Sequence[float]) -> float:
    return sum(values) / len(values) if values else 1.0
