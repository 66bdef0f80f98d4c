"""``agentcrdt eval``: run a suite, show or re-score a stored run, compare two runs (with gates).

``run`` and ``rescore`` write ``report.html`` into the run directory; ``show --html PATH`` and
``compare --html PATH`` write a page elsewhere.

``agentcrdt eval SUITE`` is short for ``agentcrdt eval run SUITE``. The library is imported lazily, in
the handlers, so ``--help`` stays instant.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from agentcrdt.errors import UsageError

if TYPE_CHECKING:
    from agentcrdt.evals.runs import Run

__all__ = ["ACTIONS", "parse_options", "register", "resolve_suite"]

ACTIONS = ("run", "show", "rescore", "compare", "schema")


def _say(text: str) -> None:
    print(text, file=sys.stderr, flush=True)


def resolve_suite(name: str) -> Path:
    """Return the suite file ``name`` names: a path, or a suite shipped in ``evals/`` (``falcon``)."""
    p = Path(name)
    if p.is_file():
        return p
    roots = [Path.cwd() / "evals", Path(__file__).resolve().parents[2] / "evals"]
    for root in roots:
        for ext in (".yaml", ".yml", ".jsonl"):
            if (root / f"{name}{ext}").is_file():
                return root / f"{name}{ext}"
    shipped = sorted({f.stem for r in roots if r.is_dir() for f in r.glob("*.yaml")})
    raise UsageError(
        f"no suite {name!r}: pass a suite file, or one of the shipped suites: {', '.join(shipped) or 'none'}"
    )


def parse_options(pairs: list[str] | None) -> dict[str, object]:
    """Return ``--option KEY=VALUE`` pairs as loader options; a value reads as YAML (``split=holdout``,
    ``contracts=60``, ``fields=[parties, governing_law]``)."""
    import yaml

    out: dict[str, object] = {}
    for pair in pairs or []:
        key, sep, value = pair.partition("=")
        if not sep or not key.strip():
            raise UsageError(f"--option takes KEY=VALUE (for example split=holdout); got {pair!r}")
        try:
            out[key.strip()] = yaml.safe_load(value) if value.strip() else ""
        except yaml.YAMLError as exc:
            raise UsageError(f"--option {key.strip()}: {value!r} is not a YAML value ({exc})") from None
    return out


def _print_run(run: Run, as_json: bool, html: Path | None = None) -> None:
    from agentcrdt.evals.report import metrics_json, table

    print(table(run))
    print(f"run stored in {run.path}")
    if html is not None:
        print(f"report: {html}")
    if as_json:
        print(json.dumps(metrics_json(run), sort_keys=True))


def _run(args: argparse.Namespace) -> int:
    from agentcrdt.evals.runner import CaseProgress, plan_run, run_cases
    from agentcrdt.evals.runs import new_run_dir, write_run
    from agentcrdt.evals.suite import load_suite
    from agentcrdt.llm.cache import ResponseCache
    from agentcrdt.retrieval import get_embedder
    from agentcrdt.runtime import build_model

    suite = load_suite(resolve_suite(args.suite))
    plan = plan_run(suite, data=args.data, limit=args.limit, options=parse_options(args.option))
    embedder = get_embedder(args.embedder or suite.embedder)
    model = build_model(args.model, embedder)
    runs = Path(args.runs)
    runs.mkdir(parents=True, exist_ok=True)
    out_dir = new_run_dir(runs, suite.name, model.model_id)
    _say(f"eval {suite.name}: {len(plan.cases)} case(s), model {model.model_id}, run {out_dir}")

    def progress(p: CaseProgress) -> None:
        if args.quiet and p.error is None and p.done != p.total:
            return
        what = f"error: {p.error}" if p.error else f"{p.proposals} proposal(s)"
        _say(f"  [{p.done}/{p.total}] {p.case[:60]}  {p.seconds:.1f} s  {what}")

    with ResponseCache(runs / "responses.db", mode=args.cache_mode) as cache:
        outputs = run_cases(
            plan,
            model,
            embedder=embedder,
            cache=cache,
            concurrency=args.concurrency,
            rooms=out_dir / "rooms" if args.keep_rooms else None,
            on_case=progress,
        )
    record = {**plan.record, "options": {"limit": args.limit, "concurrency": args.concurrency}}
    run = write_run(out_dir, record, suite, plan.cases, outputs, resamples=args.resamples)
    _print_run(run, args.json, run.path / "report.html")
    return 0


def _show(args: argparse.Namespace) -> int:
    from agentcrdt.evals.runs import load_run, write_report

    run = load_run(args.run)
    _print_run(run, args.json, write_report(run, _html_path(args.html)) if args.html else None)
    return 0


def _html_path(path: Path) -> Path:
    """Return where to write an HTML page: ``path``, or ``path/report.html`` for a directory."""
    target = path / "report.html" if path.is_dir() else path
    if not target.parent.is_dir():
        raise UsageError(f"cannot write {target}: the directory {target.parent} does not exist; create it")
    return target


def _rescore(args: argparse.Namespace) -> int:
    from agentcrdt.evals.runs import load_run, rescore
    from agentcrdt.evals.suite import load_suite

    suite = load_suite(resolve_suite(args.suite)) if args.suite else None
    run = rescore(load_run(args.run), suite, resamples=args.resamples)
    _print_run(run, args.json, run.path / "report.html")
    return 0


def _compare(args: argparse.Namespace) -> int:
    from agentcrdt.evals.compare import compare_runs, parse_gate
    from agentcrdt.evals.runs import load_run

    gates = [parse_gate(g) for g in args.gate]
    result = compare_runs(
        load_run(args.a),
        load_run(args.b),
        gates=gates,
        max_drop=args.max_drop,
        view=args.view,
        resamples=args.resamples,
    )
    print(result.table())
    if args.html:
        from agentcrdt.evals.html import render_comparison

        target = _html_path(args.html)
        target.write_text(render_comparison(result, a=args.a, b=args.b), encoding="utf-8")
        print(f"report: {target}")
    if args.json:
        body = {
            "view": result.view,
            "cases": result.cases,
            "deltas": {
                r.metric: None if r.delta is None else [r.delta.value, r.delta.low, r.delta.high]
                for r in result.rows
            },
            "regressed": [r.metric for r in result.rows if r.regressed],
            "failed": result.failed,
        }
        print(json.dumps(body, sort_keys=True))
    return 1 if result.failed else 0


def _schema(args: argparse.Namespace) -> int:
    from agentcrdt.evals.suite import load_suite, suite_schema, write_schema

    if args.suite is None:
        print(json.dumps(suite_schema(), indent=2, sort_keys=True))
        return 0
    path = resolve_suite(args.suite)
    load_suite(path)  # a schema next to a broken suite would only hide the problem
    print(write_schema(path))
    return 0


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add ``eval`` and its actions to the top-level subparsers."""
    ev = sub.add_parser(
        "eval",
        help="measure proposal quality: run a suite, show, re-score or compare runs",
        description="agentcrdt eval SUITE runs a suite (short for: agentcrdt eval run SUITE).",
    ).add_subparsers(dest="eval_cmd", metavar="ACTION")

    run = ev.add_parser("run", help="run a suite's agents on every case and score their proposals")
    run.add_argument(
        "suite", help="a suite file (.yaml/.jsonl) or a shipped suite's name (falcon, cuad-fields, ...)"
    )
    run.add_argument(
        "--model", default="offline", help="model spec (default offline; e.g. openai:gpt-6-luna)"
    )
    run.add_argument("--embedder", default=None, help="embedder (default: the suite's, usually minilm)")
    run.add_argument("--limit", type=int, default=None, help="run only the first N cases")
    run.add_argument("--concurrency", type=int, default=1, help="cases run at once (default 1)")
    run.add_argument("--data", type=Path, default=None, help="the loader's dataset directory (same layout)")
    run.add_argument(
        "--option",
        action="append",
        metavar="KEY=VALUE",
        help="set a loader option over the suite's (repeatable; e.g. --option split=holdout)",
    )
    run.add_argument("--runs", default="eval-runs", help="where runs and the response cache go (./eval-runs)")
    run.add_argument(
        "--cache-mode",
        choices=("read_write", "replay", "record"),
        default="read_write",
        help="response cache: read_write (default), replay (fail on a miss), record (always call)",
    )
    run.add_argument("--keep-rooms", action="store_true", help="keep each case's room in the run directory")
    run.add_argument("--quiet", action="store_true", help="print only failed cases and the last one")
    for p in (run,):
        p.set_defaults(handler=_run)

    show = ev.add_parser("show", help="print a stored run's report")
    show.add_argument("run", help="a run directory")
    show.add_argument(
        "--html", type=Path, default=None, metavar="PATH", help="also write the HTML report there"
    )
    show.set_defaults(handler=_show)

    rescore = ev.add_parser("rescore", help="score a stored run's outputs again (no model calls)")
    rescore.add_argument("run", help="a run directory")
    rescore.add_argument(
        "--suite", default=None, help="score against this suite's gold instead of the stored one"
    )
    rescore.set_defaults(handler=_rescore)

    compare = ev.add_parser(
        "compare", help="per-metric deltas of run B against run A; exit 1 on a regression"
    )
    compare.add_argument("a", help="the baseline run directory")
    compare.add_argument("b", help="the run to check")
    compare.add_argument("--gate", action="append", default=[], help="METRIC>=X or METRIC<=X on run B")
    compare.add_argument("--max-drop", type=float, default=None, help="fail when any metric falls by more")
    compare.add_argument("--view", default=None, help="proposed or applied (default: the suite's first)")
    compare.add_argument(
        "--html", type=Path, default=None, metavar="PATH", help="also write the comparison as an HTML page"
    )
    compare.set_defaults(handler=_compare)

    for p in (run, show, rescore, compare):
        p.add_argument("--json", action="store_true", help="also print the metrics as one JSON line, last")
        p.add_argument("--resamples", type=int, default=1000, help="bootstrap resamples (default 1000)")

    schema = ev.add_parser("schema", help="write <suite>_schema.json next to a suite (or print the schema)")
    schema.add_argument("suite", nargs="?", default=None, help="a suite file; none: print the schema")
    schema.set_defaults(handler=_schema)


def expand_shorthand(argv: list[str]) -> list[str]:
    """Turn ``eval SUITE ...`` into ``eval run SUITE ...`` (the documented short form)."""
    for i, arg in enumerate(argv):
        if arg == "eval":
            nxt = argv[i + 1] if i + 1 < len(argv) else None
            if nxt is not None and nxt not in ACTIONS and not nxt.startswith("-"):
                return [*argv[: i + 1], "run", *argv[i + 1 :]]
            return argv
        if not arg.startswith("-"):
            return argv  # another command
    return argv
