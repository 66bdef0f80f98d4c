"""``agentcrdt rabbithole``: run exploration jobs on a room, show their map, export it.

``run`` starts a job (``--question`` or ``--from``) or resumes one (``--job``) with ``--workers``
processes, each a peer with its own key (``ROOM.explorer.key``, ``ROOM.explorer-1.key``, ...), granted
the ``explorer`` slot (proposals, reviewed) and the ``rabbithole`` slot (the job's own state) by the
room's owner key when they lack them. The library is imported in the handlers: ``--help`` stays instant.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import sys
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import TYPE_CHECKING, Any

from agentcrdt.errors import UsageError

if TYPE_CHECKING:
    from agentcrdt.log.keys import Identity
    from agentcrdt.rabbithole.explore import AgentExplorer
    from agentcrdt.rabbithole.report import JobMap
    from agentcrdt.replica import Replica

__all__ = ["parse_budgets", "register"]

_BUDGET = re.compile(
    r"^\s*(?:(?P<k1>[a-z]+)\s*=\s*(?P<v1>[\d.]+)|(?P<v2>[\d.]+)\s*(?P<k2>[a-z]+)|\$(?P<usd>[\d.]+))\s*$"
)
_KINDS = {"calls": "calls", "call": "calls", "tokens": "tokens", "token": "tokens", "nodes": "nodes",
          "node": "nodes", "usd": "usd", "money": "usd"}  # fmt: skip


def parse_budgets(specs: list[str] | None) -> dict[str, Any]:
    """Return ``--budget`` specs (``calls=40``, ``20000tokens``, ``nodes=10``, ``$0.50``) as limits."""
    out: dict[str, Any] = {}
    for spec in specs or []:
        m = _BUDGET.match(spec.lower())
        kind = value = None
        if m is not None:
            if m.group("usd"):
                kind, value = "usd", m.group("usd")
            else:
                kind = _KINDS.get(m.group("k1") or m.group("k2") or "")
                value = m.group("v1") or m.group("v2")
        if kind is None or value is None:
            raise UsageError(
                f"--budget {spec!r}: give calls=N, tokens=N, nodes=N or usd=X (also '40calls', '$0.50')"
            )
        try:
            out[kind] = Decimal(value) if kind == "usd" else int(value)
        except (ValueError, InvalidOperation):
            raise UsageError(
                f"--budget {spec!r}: {value!r} is not a {'number' if kind == 'usd' else 'whole number'}"
            ) from None
    return out


def _repo_agent() -> Path:
    here = Path(__file__).resolve()
    for parent in (Path.cwd(), *here.parents):
        if (parent / "agents" / "explorer.py").is_file():
            return parent / "agents" / "explorer.py"
    raise UsageError("no agents/explorer.py here or above: pass --agent PATH (an explorer agent file)")


def _key_path(room: Path, index: int) -> Path:
    return room.with_name(f"{room.stem}.explorer{'' if index == 0 else f'-{index}'}.key")


def _worker_key(room: Path, index: int, owner_key: str | None) -> Identity:
    """Load (or create) worker ``index``'s key and make sure it holds both slots."""
    from agentcrdt.cli.room import _identity
    from agentcrdt.cli.worker import load_or_create_key
    from agentcrdt.rabbithole.state import JOB_CAPABILITY
    from agentcrdt.rooms.local import open_local
    from agentcrdt.rooms.workflow import grant
    from agentcrdt.runtime import load_agent, slot_problem

    identity, _ = load_or_create_key(_key_path(room, index))
    agent = load_agent(str(_agent_path_from_env()))
    replica = open_local(room)
    try:
        missing = [
            c for c in (agent.capability, JOB_CAPABILITY) if slot_problem(replica, identity.author, c.slot)
        ]
    finally:
        replica.close()
    if missing:
        owner = _identity(str(room), owner_key, required=False)
        if owner is None:
            slots = ", ".join(c.slot for c in missing)
            raise UsageError(
                f"the explorer key {_key_path(room, index)} lacks the slots {slots}: pass the owner's --key, "
                f"or grant them (agentcrdt grant {room} {identity.author} ...)"
            )
        replica = open_local(room, identity=owner)
        try:
            for cap in missing:
                grant(replica, identity.author, cap)
        finally:
            replica.close()
    return identity


_AGENT_ENV = "AGENTCRDT_EXPLORER_AGENT"


def _agent_path_from_env() -> Path:
    return Path(os.environ[_AGENT_ENV]) if os.environ.get(_AGENT_ENV) else _repo_agent()


def _explorer(room: Path, model: str, embedder_name: str) -> AgentExplorer:
    from agentcrdt.rabbithole.explore import AgentExplorer
    from agentcrdt.retrieval import get_embedder
    from agentcrdt.runtime import build_model, load_agent
    from agentcrdt.runtime.context import open_retrieval

    agent = load_agent(str(_agent_path_from_env()))
    embedder = get_embedder(embedder_name)
    retrieval = open_retrieval(room, embedder, agent.retrieval_sources) if agent.retrieval_sources else None
    return AgentExplorer(agent, build_model(model, embedder), retrieval=retrieval)  # type: ignore[arg-type]


def _printer(quiet: bool) -> Any:
    def on_node(summary: Any, node: Any, result: Any) -> None:
        if not quiet and node.kind == "theme":
            written = "summarized" if result.theme is not None else "not summarized (nothing quoted)"
            print(f"  [{summary.worker}] theme {node.ref}: {written}", flush=True)
        elif not quiet and node.kind == "entity":
            print(
                f"  [{summary.worker} {len(summary.explored)}] name {node.ref!r}: "
                f"{len(result.discovered)} documents name it"
            )
        elif not quiet:
            c = result.counts
            print(
                f"  [{summary.worker} {len(summary.explored)}] {node.ref} (depth {node.depth}, {node.via}): "
                f"{c.get('links', 0)} links, {c.get('findings', 0)} findings, {c.get('mentions', 0)} names",
                flush=True,
            )

    return on_node


def _run(args: argparse.Namespace) -> int:
    import anyio

    from agentcrdt.rabbithole import JobRunner, create_job, read_job
    from agentcrdt.rooms.local import open_local

    room = Path(args.room)
    if not room.is_file():
        raise UsageError(f"no room file at {room}; create one (agentcrdt room init {room}) and add documents")
    if args.workers < 1:
        raise UsageError("--workers must be at least 1")
    if args.agent:
        os.environ[_AGENT_ENV] = str(Path(args.agent).resolve())
    keys = [_worker_key(room, i, args.key) for i in range(args.workers)]
    explorer = _explorer(room, args.model, args.embedder)
    replica = open_local(room, identity=keys[0])
    try:
        if explorer.retrieval is not None:
            explorer.retrieval.catch_up(replica)  # the documents' chunks, for seeds and candidates
        if args.job:
            job = read_job(replica, args.job).job.id  # says clearly when there is no such job
        else:
            limits = parse_budgets(args.budget)
            job = create_job(
                replica,
                explorer,
                question=args.question or "",
                start=args.start or [],
                depth=args.depth,
                nodes=limits.get("nodes"),
                calls=limits.get("calls"),
                tokens=limits.get("tokens"),
                usd=limits.get("usd"),
                model=args.model,
                themes=args.themes,
            )
        view = read_job(replica, job)
        if not args.quiet:
            print(
                f"rabbithole job {job}: {len(view.nodes)} node(s) so far; "
                f"{args.workers} worker(s), model {args.model}"
            )
        others = [_spawn(room, job, i, args) for i in range(1, args.workers)]
        runner = JobRunner(replica, job, explorer, index=0, on_node=_printer(args.quiet))
        summary = anyio.run(runner.run)
        for p in others:
            p.wait()
        view = read_job(replica, job)
        end = view.end_reason(explorer.calls_per_node) or summary.reason
        spent = view.job
        print(
            f"job {job} {'ended' if view.end_reason(explorer.calls_per_node) else 'stopped'}: {end}; "
            f"{sum(n.kind != 'theme' for n in view.done())} nodes explored, "
            f"{sum(n.kind == 'theme' for n in view.done())} themes summarized, "
            f"{spent.calls} model calls, {spent.tokens} tokens"
            + (f", ${Decimal(spent.usd_micros) / 1_000_000:.4f}" if spent.usd_micros else "")
        )
        if args.json:
            print(json.dumps({"job": job, "reason": end, "explored": len(view.done()), "calls": spent.calls}))
        print(f"see it: agentcrdt rabbithole show {job} --room {room}")
    finally:
        replica.close()
        if explorer.retrieval is not None:
            explorer.retrieval.close()
    return 0


def _spawn(room: Path, job: str, index: int, args: argparse.Namespace) -> subprocess.Popen[bytes]:
    cmd = [
        sys.executable, "-c", "import sys; from agentcrdt.cli._main import run; sys.exit(run(sys.argv[1:]))",
        "rabbithole", "work", "--room", str(room), "--job", job, "--index", str(index),
        "--model", args.model, "--embedder", args.embedder,
    ]  # fmt: skip
    if args.quiet:
        cmd.append("--quiet")
    return subprocess.Popen(cmd)


def _work(args: argparse.Namespace) -> int:
    import anyio

    from agentcrdt.log.keys import Identity
    from agentcrdt.rabbithole import JobRunner
    from agentcrdt.rooms.local import open_local

    room = Path(args.room)
    identity = Identity.load(_key_path(room, args.index))
    explorer = _explorer(room, args.model, args.embedder)
    replica = open_local(room, identity=identity)
    try:
        runner = JobRunner(replica, args.job, explorer, index=args.index, on_node=_printer(args.quiet))
        summary = anyio.run(runner.run)
        if not args.quiet:
            print(
                f"  worker {summary.worker}: {len(summary.explored)} explored; {summary.reason}", flush=True
            )
    finally:
        replica.close()
        if explorer.retrieval is not None:
            explorer.retrieval.close()
    return 0


def _open_read(room: str) -> Replica:
    from agentcrdt.rooms.local import open_local

    if not Path(room).is_file():
        raise UsageError(f"no room file at {room}")
    return open_local(room)


def _read_map(args: argparse.Namespace) -> JobMap:
    """The map of ``--job`` in ``--room``, read without a key."""
    from agentcrdt.rabbithole.report import build_map

    replica = _open_read(args.room)
    try:
        return build_map(replica, args.job)
    finally:
        replica.close()


def _show(args: argparse.Namespace) -> int:
    from agentcrdt.rabbithole.show import render_text

    m = _read_map(args)
    if args.json:
        print(json.dumps(m.to_json(), sort_keys=True))
    else:
        print(render_text(m))
    return 0


def _export(args: argparse.Namespace) -> int:
    from agentcrdt.rabbithole.export import to_graphml, to_html, to_json

    m = _read_map(args)
    text = {"json": to_json, "graphml": to_graphml, "html": to_html}[args.format](m)
    out = Path(args.output or f"{m.job['id']}.{args.format}")
    out.write_text(text, encoding="utf-8")
    print(f"wrote {out} ({len(text):,} bytes)")
    return 0


def _stop(args: argparse.Namespace) -> int:
    from agentcrdt.rabbithole import read_job, request_stop
    from agentcrdt.rooms.local import open_local

    room = Path(args.room)
    replica = open_local(room, identity=_worker_key(room, 0, args.key))
    try:
        request_stop(replica, read_job(replica, args.job).job.id)
    finally:
        replica.close()
    print(f"asked job {args.job} to stop: its workers finish the nodes they hold, then stop")
    return 0


def _list(args: argparse.Namespace) -> int:
    from agentcrdt.rabbithole import RabbitholeJob, read_job

    replica = _open_read(args.room)
    try:
        for job in replica.all(RabbitholeJob):
            view = read_job(replica, job.id)
            start = f"from {job.start}" if job.start else f"on {job.question!r}"
            reason = view.end_reason(1) or "running"
            print(
                f"{job.id}  {start}  depth<={job.max_depth}  "
                f"{len(view.done())}/{len(view.nodes)} explored  {reason}"
            )
    finally:
        replica.close()
    return 0


def register(sub: Any) -> None:
    """Add ``rabbithole`` and its actions to the CLI's subparsers."""
    rh = sub.add_parser("rabbithole", help="exploration jobs: connections and contradictions across a room")
    actions = rh.add_subparsers(dest="rabbithole_cmd", metavar="ACTION", required=True)

    run = actions.add_parser(
        "run", help="start (or resume) a job and explore until a budget or the frontier ends it"
    )
    run.add_argument("--room", required=True, help="the room's SQLite file")
    start = run.add_mutually_exclusive_group(required=True)
    start.add_argument("--question", help="start from the documents this question retrieves")
    start.add_argument(
        "--from", dest="start", metavar="DOC", action="append", help="start from this document (repeatable)"
    )
    start.add_argument("--job", help="resume this job (its id, or latest)")
    run.add_argument("--depth", type=int, default=2, help="how far from the start to go (default 2)")
    run.add_argument(
        "--budget", action="append", metavar="LIMIT",
        help="a hard limit: calls=N, tokens=N, nodes=N or usd=X (repeatable)",
    )  # fmt: skip
    run.add_argument(
        "--themes",
        type=int,
        default=3,
        help="themes of the finished map the model summarizes, largest first (default 3; 0: none)",
    )
    run.add_argument("--workers", type=int, default=1, help="worker processes sharing the job (default 1)")
    run.add_argument("--model", default="offline", help="model: offline (default), openai:<name>, ...")
    run.add_argument("--embedder", default="minilm", help="embedder: minilm (default, bundled) or fake")
    run.add_argument("--agent", help="the explorer agent file (default: agents/explorer.py)")
    run.add_argument("--key", help="the room owner's key, to grant the workers' slots (default: ROOM.key)")
    run.add_argument("--quiet", action="store_true", help="print only the final lines")
    run.add_argument("--json", action="store_true", help="also print the result as one JSON line")
    run.set_defaults(handler=_run)

    work = actions.add_parser("work", help=argparse.SUPPRESS)
    work.add_argument("--room", required=True)
    work.add_argument("--job", required=True)
    work.add_argument("--index", type=int, required=True)
    work.add_argument("--model", default="offline")
    work.add_argument("--embedder", default="minilm")
    work.add_argument("--quiet", action="store_true")
    work.set_defaults(handler=_work)

    show = actions.add_parser(
        "show", help="print a job's map: themes, connections, contradictions, questions"
    )
    show.add_argument("job", help="the job id (rabbithole list shows them), or latest")
    show.add_argument("--room", required=True, help="the room's SQLite file")
    show.add_argument("--json", action="store_true", help="print the map as JSON")
    show.set_defaults(handler=_show)

    export = actions.add_parser(
        "export", help="write a job's map as JSON, GraphML or an interactive HTML graph"
    )
    export.add_argument("job", help="the job id, or latest")
    export.add_argument("--room", required=True, help="the room's SQLite file")
    export.add_argument("--format", choices=("json", "graphml", "html"), default="html")
    export.add_argument("-o", "--output", help="the file to write (default: JOB.FORMAT)")
    export.set_defaults(handler=_export)

    stop = actions.add_parser("stop", help="ask a job's workers to stop after the nodes they hold")
    stop.add_argument("job")
    stop.add_argument("--room", required=True)
    stop.add_argument("--key", help="the room owner's key (to grant the stopping key its slot if needed)")
    stop.set_defaults(handler=_stop)

    ls = actions.add_parser("list", help="list the room's jobs")
    ls.add_argument("--room", required=True)
    ls.set_defaults(handler=_list)
