"""Reports of a run: a terminal table and one JSON object (the metrics, for scripts and CI)."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

from agentcrdt.evals.aggregate import intervals, summarize
from agentcrdt.evals.runs import Run
from agentcrdt.evals.scorers import CaseScore

__all__ = ["headline", "metrics_json", "scores_table", "table"]

#: The order metrics are listed in (the rest follow alphabetically).
_ORDER = (
    "kind",
    "tags.precision",
    "tags.recall",
    "tags.f1",
    "tags.macro_f1",
    "fields_mean",
    "fields",
    "links.precision",
    "links.recall",
    "links.f1",
    "links_unlabeled_recall",
    "contradictions.precision",
    "contradictions.recall",
    "contradictions.f1",
    "validity",
    "groundedness",
    "grounded_proposals",
    "calibration.ece",
    "calibration.p@0.8",
)


def _rank(name: str) -> tuple[int, str]:
    return (_ORDER.index(name), "") if name in _ORDER else (len(_ORDER), name)


def headline(metrics: Mapping[str, float]) -> list[str]:
    """Return the metric names worth a line: everything but per-label tag counts, in report order."""
    return sorted((m for m in metrics if not m.startswith("tags/")), key=_rank)


def _fmt(v: float | None) -> str:
    if v is None or (isinstance(v, float) and math.isnan(v)):
        return "-"
    return f"{v:.3f}"


def _int(cost: Mapping[str, float | None], key: str) -> int:
    return int(cost.get(key) or 0)


def _grid(rows: Sequence[Sequence[str]]) -> str:
    width = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    return "\n".join("  ".join(c.ljust(w) for c, w in zip(r, width, strict=True)).rstrip() for r in rows)


def table(run: Run, *, with_intervals: bool = True, resamples: int = 1000) -> str:
    """Return the run's metrics as a table: one column per view, 95% bootstrap intervals beside."""
    title = f"suite {run.record.get('suite')}: {len(run.cases)} cases, model {run.record.get('model')}"
    lines = [title, scores_table(run.scores, with_intervals=with_intervals, resamples=resamples)]
    errors = [o for o in run.outputs if o.error]
    if errors:
        lines.append(f"{len(errors)} case(s) failed, e.g. {errors[0].case}: {errors[0].error}")
    return "\n".join(lines)


def scores_table(
    scores: Mapping[str, Sequence[CaseScore]], *, with_intervals: bool = True, resamples: int = 1000
) -> str:
    """Return per-view case scores as a table (metrics, counts, intervals) and a cost line."""
    views = list(scores)
    sums = {v: summarize(scores[v]) for v in views}
    ivs = {v: intervals(scores[v], resamples=resamples) for v in views} if with_intervals else {}
    names = headline({k: 0.0 for v in views for k in sums[v].metrics})
    rows: list[list[str]] = [["metric", *views]]
    for name in names:
        cells = []
        for v in views:
            value = sums[v].metrics.get(name)
            iv = ivs.get(v, {}).get(name)
            n = sums[v].counts.get(name.split(".")[0])
            count = f" ({n[0]}/{n[1]})" if n is not None and len(n) == 2 else ""
            span = f" [{iv.low:.3f}, {iv.high:.3f}]" if iv is not None and iv.low != iv.high else ""
            cells.append(_fmt(value) + count + span)
        rows.append([name, *cells])
    cost = sums[views[0]].cost
    money = "unknown" if cost.get("cost_usd") is None else f"${cost['cost_usd']:.4f}"
    lines = [
        _grid(rows),
        f"cost: {_int(cost, 'input_tokens'):,} input + {_int(cost, 'output_tokens'):,} output tokens, "
        f"{money}; {_int(cost, 'calls')} model calls ({_int(cost, 'cached_calls')} from the cache); "
        f"{cost.get('seconds_per_case') or 0:.2f} s per case",
    ]
    return "\n".join(lines)


def metrics_json(run: Run) -> dict[str, Any]:
    """Return the run as one JSON object: metrics per view, cost, and what the run was."""
    views: dict[str, Any] = {}
    for v, per_case in run.scores.items():
        s = summarize(per_case)
        views[v] = {"metrics": dict(s.metrics), "cost": dict(s.cost), "cases": s.cases}
    keep = ("suite", "model", "model_version", "dataset_version", "scorer_version", "prompts", "embedder")
    return {"run": str(run.path), **{k: run.record.get(k) for k in keep}, "views": views}
