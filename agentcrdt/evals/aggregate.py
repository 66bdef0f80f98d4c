"""From per-case counts to corpus metrics, with bootstrap intervals over cases (and paired deltas).

Metric names: a ratio keeps its scorer's name (``fields/parties``, ``validity``); a precision/recall count
``m`` gives ``m.precision``, ``m.recall`` and ``m.f1``; and five derived figures: ``fields_mean`` (the mean
of the per-field accuracies: CUAD's "mean exact accuracy over the fields"), ``tags.macro_f1`` (mean F1
over the tags that occur), ``verdicts.macro_f1`` (mean F1 over the claim verdicts that occur: WiCE's
three labels; ``baseline_<name>.macro_f1`` for the reference baselines scored beside them),
``calibration.ece`` and ``calibration.p@0.8`` (precision of claims with confidence ≥ 0.8). Lower is
better only for :data:`LOWER_IS_BETTER`.
"""

from __future__ import annotations

import math
import random
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from agentcrdt.evals.metrics import PRF, Interval, calibration
from agentcrdt.evals.scorers import CaseScore
from agentcrdt.evals.suite import VERDICTS

__all__ = ["LOWER_IS_BETTER", "THRESHOLDS", "Summary", "intervals", "paired_deltas", "summarize"]

THRESHOLDS = (0.0, 0.5, 0.7, 0.8, 0.9)
LOWER_IS_BETTER = frozenset(
    {
        "calibration.ece",
        "exploration.nodes",
        "exploration.nodes_per_finding",
        "exploration.calls_per_finding",
        "baseline_naive.calls_per_finding",
    }
)


@dataclass(frozen=True)
class Summary:
    """Corpus metrics of one view, and the cost totals."""

    metrics: Mapping[str, float]
    counts: Mapping[str, Sequence[int]]
    cost: Mapping[str, float | None]
    calibration_at: Mapping[float, tuple[float, int]]
    cases: int


def _metrics(scores: Sequence[CaseScore]) -> tuple[dict[str, float], dict[str, list[int]]]:
    ratios: dict[str, list[int]] = {}
    prfs: dict[str, list[int]] = {}
    claims: list[tuple[float, bool]] = []
    for s in scores:
        for k, (hits, total) in s.ratios.items():
            r = ratios.setdefault(k, [0, 0])
            r[0] += hits
            r[1] += total
        for k, (tp, fp, fn) in s.prfs.items():
            c = prfs.setdefault(k, [0, 0, 0])
            c[0] += tp
            c[1] += fp
            c[2] += fn
        claims += s.claims
    out: dict[str, float] = {}
    for k, (hits, total) in ratios.items():
        if total:
            out[k] = hits / total
    for k, (tp, fp, fn) in prfs.items():
        prf = PRF(tp, fp, fn)
        out[f"{k}.precision"], out[f"{k}.recall"], out[f"{k}.f1"] = prf.precision, prf.recall, prf.f1
    per_field = [v for k, v in out.items() if k.startswith("fields/")]
    if per_field:
        out["fields_mean"] = sum(per_field) / len(per_field)
    tag_f1 = [PRF(*c).f1 for k, c in prfs.items() if k.startswith("tags/")]
    if tag_f1:
        out["tags.macro_f1"] = sum(tag_f1) / len(tag_f1)
    verdict_f1: dict[str, list[float]] = {}  # by family: the model's, and each reference baseline's
    for k, c in prfs.items():
        family, _, label = k.partition("/")
        if label in VERDICTS and (family == "verdicts" or family.startswith("baseline_")):
            verdict_f1.setdefault(family, []).append(PRF(*c).f1)
    for family, f1s in verdict_f1.items():
        out[f"{family}.macro_f1"] = sum(f1s) / len(f1s)
    if claims:
        cal = calibration(claims, THRESHOLDS)
        out["calibration.ece"] = cal.ece
        out["calibration.p@0.8"] = cal.at[0.8][0]
    counts = {**ratios, **prfs}
    return out, counts


def summarize(scores: Sequence[CaseScore]) -> Summary:
    """Return the corpus metrics of the case scores of one view."""
    metrics, counts = _metrics(scores)
    cost: dict[str, float | None] = {}
    for key in ("input_tokens", "output_tokens", "seconds", "calls", "cached_calls", "proposals"):
        cost[key] = sum(float(s.cost.get(key) or 0) for s in scores)
    prices = [s.cost.get("cost_usd") for s in scores]
    cost["cost_usd"] = None if any(p is None for p in prices) else sum(float(p or 0) for p in prices)
    cost["seconds_per_case"] = (cost["seconds"] or 0) / len(scores) if scores else 0.0
    claims = [c for s in scores for c in s.claims]
    at = calibration(claims, THRESHOLDS).at if claims else {}
    return Summary(metrics, counts, cost, at, len(scores))


def _percentile(values: list[float], q: float) -> float:
    values = sorted(values)
    return values[min(len(values) - 1, max(0, round(q * (len(values) - 1))))]


def intervals(
    scores: Sequence[CaseScore], *, resamples: int = 1000, level: float = 0.95, seed: int = 0
) -> dict[str, Interval]:
    """Return every metric with its percentile bootstrap interval over resampled cases (seeded).

    A resample without any count for a metric (no case in it had that field) leaves that metric out of
    that resample; the interval is taken over the resamples that have it.
    """
    point, _ = _metrics(scores)
    if not scores:
        return {}
    rng = random.Random(seed)
    n = len(scores)
    samples: dict[str, list[float]] = {k: [] for k in point}
    for _ in range(resamples):
        m, _ = _metrics([scores[rng.randrange(n)] for _ in range(n)])
        for k in point:
            if k in m:
                samples[k].append(m[k])
    lo, hi = (1 - level) / 2, (1 + level) / 2
    return {
        k: Interval(v, _percentile(samples[k], lo), _percentile(samples[k], hi), level)
        if samples[k]
        else Interval(v, v, v, level)
        for k, v in point.items()
    }


def paired_deltas(
    a: Sequence[CaseScore],
    b: Sequence[CaseScore],
    *,
    resamples: int = 1000,
    level: float = 0.95,
    seed: int = 0,
) -> dict[str, Interval]:
    """Return ``metric(b) − metric(a)`` with its interval for every metric both runs have, resampling
    the same cases on both sides (cases are matched by name; only common cases count)."""
    by_name = {s.case: s for s in a}
    pairs = [(by_name[s.case], s) for s in b if s.case in by_name]
    if not pairs:
        return {}
    ma, _ = _metrics([x for x, _ in pairs])
    mb, _ = _metrics([y for _, y in pairs])
    names = sorted(set(ma) & set(mb))
    rng = random.Random(seed)
    n = len(pairs)
    samples: dict[str, list[float]] = {k: [] for k in names}
    for _ in range(resamples):
        pick = [pairs[rng.randrange(n)] for _ in range(n)]
        xa, _ = _metrics([x for x, _ in pick])
        xb, _ = _metrics([y for _, y in pick])
        for k in names:
            if k in xa and k in xb:
                samples[k].append(xb[k] - xa[k])
    lo, hi = (1 - level) / 2, (1 + level) / 2
    out = {}
    for k in names:
        d = mb[k] - ma[k]
        s = samples[k]
        out[k] = Interval(d, _percentile(s, lo), _percentile(s, hi), level) if s else Interval(d, d, d, level)
        if math.isnan(d):
            del out[k]
    return out
