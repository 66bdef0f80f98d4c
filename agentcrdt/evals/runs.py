"""Run directories: what a run wrote, so it can be re-scored, reported and compared later.

``<runs>/<suite>/<UTC time>-<model>/`` holds

* ``run.json``: the record (agentcrdt version, suite digest, dataset version, model id and version,
  embedder, prompt template hashes, scorer version, options, timings, cache hits);
* ``cases.jsonl.gz``: the cases as run (inputs and expected output), so re-scoring needs neither the
  dataset nor the suite file;
* ``outputs.jsonl.gz``: each case's :class:`~agentcrdt.evals.outputs.CaseOutput`;
* ``scores.json``: per-case counts for every view, and the corpus metrics with their intervals;
* ``report.html``: the same figures as one self-contained page (:mod:`agentcrdt.evals.html`), rewritten
  whenever the run is scored.
"""

from __future__ import annotations

import gzip
import json
import re
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from agentcrdt.errors import UsageError
from agentcrdt.evals.aggregate import Summary, intervals, summarize
from agentcrdt.evals.outputs import CaseOutput, read_outputs, write_outputs
from agentcrdt.evals.scorers import SCORER_VERSION, CaseScore, score_case
from agentcrdt.evals.suite import Case, Suite

__all__ = ["Run", "load_run", "new_run_dir", "rescore", "score_run", "write_report", "write_run"]


@dataclass
class Run:
    """A run as stored: its record, cases, outputs and per-view case scores."""

    path: Path
    record: dict[str, Any]
    cases: list[Case]
    outputs: list[CaseOutput]
    scores: dict[str, list[CaseScore]]
    #: The 95% intervals scores.json holds, ``{view: {metric: (low, high)}}``: a report shows the figures
    #: the run stored instead of resampling again (empty for a run built in memory: recompute).
    intervals: dict[str, dict[str, tuple[float, float]]] = field(default_factory=dict)
    #: How scores.json was made (``scorer_version``, ``resamples``): a rescore can postdate run.json.
    scoring: dict[str, Any] = field(default_factory=dict)

    def summary(self, view: str | None = None) -> Summary:
        """Return the corpus metrics of ``view`` (default: the suite's first view)."""
        return summarize(self.scores[view or self.primary_view])

    @property
    def primary_view(self) -> str:
        return next(iter(self.scores))


def new_run_dir(runs: Path, suite: str, model_id: str) -> Path:
    """Return a fresh run directory under ``runs`` (created)."""
    stamp = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime())
    tag = re.sub(r"[^A-Za-z0-9._-]+", "-", model_id).strip("-")[:60]
    path = runs / suite / f"{stamp}-{tag}"
    n = 1
    while path.exists():
        n += 1
        path = runs / suite / f"{stamp}-{tag}-{n}"
    path.mkdir(parents=True)
    return path


def score_run(
    suite: Suite, cases: Sequence[Case], outputs: Sequence[CaseOutput]
) -> dict[str, list[CaseScore]]:
    """Score every case's output: ``{view: [CaseScore, ...]}`` in case order."""
    by_name = {o.case: o for o in outputs}
    scores: dict[str, list[CaseScore]] = {v: [] for v in suite.views}
    for case in cases:
        output = by_name.get(case.name)
        if output is None:
            raise UsageError(f"the run has no output for case {case.name!r}; re-run the suite")
        for s in score_case(suite, case, output):
            scores[s.view].append(s)
    return scores


def _scores_json(scores: dict[str, list[CaseScore]], resamples: int) -> dict[str, Any]:
    views: dict[str, Any] = {}
    for view, per_case in scores.items():
        summary = summarize(per_case)
        iv = intervals(per_case, resamples=resamples)
        views[view] = {
            "metrics": dict(summary.metrics),
            "intervals": {k: [i.low, i.high] for k, i in iv.items()},
            "counts": {k: list(v) for k, v in summary.counts.items()},
            "cost": dict(summary.cost),
            "calibration_at": {str(t): list(v) for t, v in summary.calibration_at.items()},
            "cases": [s.to_json() for s in per_case],
        }
    return {"scorer_version": SCORER_VERSION, "resamples": resamples, "views": views}


def _stored(body: dict[str, Any]) -> tuple[dict[str, dict[str, tuple[float, float]]], dict[str, Any]]:
    """Return a scores.json body's intervals per view and its scoring header."""
    ivs = {
        v: {k: (float(lo), float(hi)) for k, (lo, hi) in data.get("intervals", {}).items()}
        for v, data in body["views"].items()
    }
    return ivs, {k: body.get(k) for k in ("scorer_version", "resamples")}


def write_report(run: Run, path: Path | None = None) -> Path:
    """Write the run's HTML report to ``path`` (default ``report.html`` in the run directory); return it."""
    from agentcrdt.evals.html import render_run  # jinja2 only when a report is written

    target = path or run.path / "report.html"
    target.write_text(render_run(run), encoding="utf-8")
    return target


def write_run(
    path: Path,
    record: dict[str, Any],
    suite: Suite,
    cases: Sequence[Case],
    outputs: Sequence[CaseOutput],
    *,
    resamples: int = 1000,
) -> Run:
    """Score and store a run in ``path``; return it."""
    path.mkdir(parents=True, exist_ok=True)
    scores = score_run(suite, cases, outputs)
    # The date goes in the record itself: the directory name is only new_run_dir's convention.
    date = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
    record = {"date": date, **record, "suite_definition": suite.model_dump(mode="json", exclude={"cases"})}
    (path / "run.json").write_text(json.dumps(record, indent=2, sort_keys=True) + "\n", encoding="utf-8")
    with gzip.open(path / "cases.jsonl.gz", "wt", encoding="utf-8") as f:
        for c in cases:
            f.write(c.model_dump_json() + "\n")
    write_outputs(path / "outputs.jsonl.gz", outputs)
    body = _scores_json(scores, resamples)
    (path / "scores.json").write_text(json.dumps(body, sort_keys=True) + "\n", encoding="utf-8")
    run = Run(path, record, list(cases), list(outputs), scores, *_stored(body))
    write_report(run)
    return run


def load_run(path: str | Path) -> Run:
    """Read a stored run; a clear error when ``path`` is not one."""
    p = Path(path)
    missing = [
        n for n in ("run.json", "cases.jsonl.gz", "outputs.jsonl.gz", "scores.json") if not (p / n).is_file()
    ]
    if missing:
        raise UsageError(
            f"{p} is not an eval run directory (missing {', '.join(missing)}); pass one agentcrdt eval wrote"
        )
    record = json.loads((p / "run.json").read_text(encoding="utf-8"))
    with gzip.open(p / "cases.jsonl.gz", "rt", encoding="utf-8") as f:
        cases = [Case.model_validate_json(line) for line in f if line.strip()]
    outputs = read_outputs(p / "outputs.jsonl.gz")
    body = json.loads((p / "scores.json").read_text(encoding="utf-8"))
    scores = {v: [CaseScore.from_json(c) for c in data["cases"]] for v, data in body["views"].items()}
    return Run(p, record, cases, outputs, scores, *_stored(body))


def rescore(run: Run, suite: Suite | None = None, *, resamples: int = 1000) -> Run:
    """Score a stored run's outputs again (with today's scorers, or another suite's gold and options)
    and write the new scores in place; the model is not called."""
    if suite is None:
        suite = Suite.model_validate(
            run.record["suite_definition"] | {"cases": [c.model_dump() for c in run.cases]}
        )
    cases = run.cases
    if suite.cases:
        by_name = {c.name: c for c in suite.cases}
        cases = [by_name.get(c.name, c) for c in run.cases]
    scores = score_run(suite, cases, run.outputs)
    body = _scores_json(scores, resamples)
    (run.path / "scores.json").write_text(json.dumps(body, sort_keys=True) + "\n", encoding="utf-8")
    new = Run(run.path, run.record, list(cases), run.outputs, scores, *_stored(body))
    write_report(new)
    return new
