"""The UI's report pages: rabbithole jobs (their maps and graphs) and eval runs (listed and compared).

A job's map is the page ``agentcrdt rabbithole export --html`` writes, built from the room's events as
they are now; an eval run's report is the ``report.html`` its run directory holds. Run directories are
found under one folder (``agentcrdt ui --runs DIR``, default ``runs/``), never outside it.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from agentcrdt.errors import NotFound, UsageError
from agentcrdt.replica import Replica

__all__ = ["compare", "job_map_html", "jobs", "run_dir", "runs"]


def jobs(replica: Replica) -> list[dict[str, Any]]:
    """Every rabbithole job of the room, newest first, with its status and what it found."""
    from agentcrdt.rabbithole.report import build_map
    from agentcrdt.rabbithole.state import RabbitholeJob

    out = []
    for job in sorted(replica.all(RabbitholeJob), key=lambda j: (-(j.created_at or 0), j.id)):
        m = build_map(replica, job.id)
        out.append(
            {
                "id": job.id,
                "question": job.question,
                "status": m.status,
                "created_at": job.created_at,
                "nodes": len(m.nodes),
                "links": len(m.links),
                "findings": {
                    k: len(m.findings_of(k)) for k in ("contradiction", "connection", "risk", "question")
                },
                "themes": len(m.themes),
            }
        )
    return out


def job_map_html(replica: Replica, job: str) -> str:
    """The job's self-contained map page: the interactive graph, themes, contradictions, questions."""
    from agentcrdt.rabbithole.export import to_html
    from agentcrdt.rabbithole.report import build_map

    return to_html(build_map(replica, job))


def runs(folder: Path | None) -> list[dict[str, Any]]:
    """Every eval run directory under ``folder`` (``<suite>/<run>/run.json``), newest first."""
    if folder is None or not folder.is_dir():
        return []
    out = []
    for record_file in folder.glob("*/*/run.json"):
        try:
            record = json.loads(record_file.read_text(encoding="utf-8"))
            scores = json.loads((record_file.parent / "scores.json").read_text(encoding="utf-8"))
        except (OSError, ValueError):
            continue  # a run still being written, or not one of ours: not listed
        views = scores.get("views", {})
        first: dict[str, Any] = next(iter(views.values()), {})
        metrics = {k: v for k, v in first.get("metrics", {}).items() if isinstance(v, int | float)}
        out.append(
            {
                "path": f"{record_file.parent.parent.name}/{record_file.parent.name}",
                "suite": record.get("suite", record_file.parent.parent.name),
                "model": record.get("model", ""),
                "date": record.get("date", ""),
                "report": (record_file.parent / "report.html").is_file(),
                "metrics": dict(list(metrics.items())[:8]),
            }
        )
    return sorted(out, key=lambda r: r["path"].split("/")[1], reverse=True)


def run_dir(folder: Path | None, rel: str) -> Path:
    """The run directory ``rel`` (``suite/run``) under ``folder``; NotFound for anything outside it."""
    if folder is None:
        raise NotFound("no eval runs folder: start the UI with --runs DIR")
    parts = rel.split("/")
    if len(parts) != 2 or any(p in ("", ".", "..") or p.startswith(".") for p in parts):
        raise UsageError(f"an eval run is named 'suite/run', got {rel!r}")
    path = (folder / parts[0] / parts[1]).resolve()
    if folder.resolve() not in path.parents or not (path / "run.json").is_file():
        raise NotFound(f"no eval run {rel!r} under {folder}")
    return path


def compare(folder: Path | None, a: str, b: str) -> dict[str, Any]:
    """Run ``b`` against the baseline ``a``: per-metric deltas with their intervals, and regressions."""
    from agentcrdt.evals.compare import compare_runs
    from agentcrdt.evals.runs import load_run

    c = compare_runs(load_run(run_dir(folder, a)), load_run(run_dir(folder, b)))
    return {
        "view": c.view,
        "cases": c.cases,
        "rows": [
            {
                "metric": r.metric,
                "a": r.a,
                "b": r.b,
                "delta": None
                if r.delta is None
                else {"value": r.delta.value, "low": r.delta.low, "high": r.delta.high},
                "regressed": r.regressed,
            }
            for r in c.rows
        ],
        "failed": c.failed,
        "warnings": c.warnings,
    }
