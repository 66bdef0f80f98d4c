"""``agentcrdt worker run``: run one agent against a room (``--once`` processes what is there and exits).

The lead wires :func:`add_worker_arguments` / :func:`worker_command` into ``agentcrdt/cli/_main.py``;
``python -m agentcrdt.cli.worker --room … --agent …`` runs the same command stand-alone.
"""

from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from agentcrdt.errors import AgentCRDTError, UsageError

if TYPE_CHECKING:
    from agentcrdt.log.keys import Identity

__all__ = ["add_worker_arguments", "default_key_path", "load_or_create_key", "main", "worker_command"]


def add_worker_arguments(parser: argparse.ArgumentParser) -> None:
    """Add the ``worker run`` flags to ``parser``."""
    parser.add_argument("--room", required=True, help="the room's SQLite file")
    parser.add_argument(
        "--agent", required=True, help="agent file, loaded by path: agents/<file>.py[:ClassName]"
    )
    parser.add_argument(
        "--model",
        default="offline",
        help="model string: offline (default), openai:<name>, anthropic:<name>, …",
    )
    parser.add_argument(
        "--key", default=None, help="the agent's key file (created if missing; default: <room>.<agent>.key)"
    )
    parser.add_argument(
        "--concurrency", type=int, default=4, help="model calls in flight at most (default 4)"
    )
    parser.add_argument("--once", action="store_true", help="process what the room holds now, then exit")
    parser.add_argument(
        "--embedder",
        default="minilm",
        help="embedder for retrieval and the offline model: minilm (default), fake, or another name",
    )
    parser.add_argument(
        "--poll",
        type=float,
        default=0.5,
        help="seconds between checks for other processes' writes (default 0.5)",
    )
    parser.add_argument("--quiet", action="store_true", help="print only the final progress line")
    parser.add_argument(
        "--server",
        help="follow the room on this sync server (http://host:port): pull before, push proposals live",
    )
    parser.add_argument("--scope", help="with --server: join this scope into --room if there is no file yet")
    parser.add_argument(
        "--queue",
        help="with --server: take documents from the server's JetStream work queue (nats://host:4222), "
        "sharing them with this agent's other workers",
    )


def default_key_path(room: Path, agent_name: str) -> Path:
    """Return where an agent's key lives unless ``--key`` says otherwise: next to the room."""
    return room.with_name(f"{room.stem}.{agent_name}.key")


def load_or_create_key(path: Path) -> tuple[Identity, bool]:
    """Load the key at ``path``, or create it; return it and whether it was created."""
    from agentcrdt.log.keys import Identity

    if path.exists():
        return Identity.load(path), False
    identity = Identity.generate()
    identity.save(path)
    return identity, True


def worker_command(args: argparse.Namespace) -> int:
    """Run the worker described by ``args`` (see :func:`add_worker_arguments`); return the exit code."""
    from agentcrdt.retrieval import get_embedder
    from agentcrdt.runtime import ProgressPrinter, Worker, build_model, load_agent, slot_problem
    from agentcrdt.runtime.models import offline_needs_embedder

    room = Path(args.room)
    server = getattr(args, "server", None)
    queue = getattr(args, "queue", None)
    if queue and not server:
        raise UsageError("--queue needs --server: the work queue names documents, the server holds them")
    if not room.is_file() and not (server and args.scope):
        hint = f"create one first (agentcrdt room init {room})"
        raise UsageError(f"no room file at {room}; {hint}, or join one: --server URL --scope SCOPE")
    if args.concurrency < 1:
        raise UsageError("--concurrency must be at least 1")
    agent = load_agent(args.agent)
    key_path = Path(args.key) if args.key else default_key_path(room, agent.name)
    identity, created = load_or_create_key(key_path)
    if server:
        import anyio

        from agentcrdt.cli.sync import sync_room

        got = anyio.run(lambda: sync_room(room, server, identity, scope=args.scope))
        if not args.quiet:
            print(f"{agent.name}: synced {room} with {server}: {got.stats.accepted} new event(s)")
    slot = agent.capability.slot
    if created:
        print(f"created a key for {agent.name} at {key_path}")
        print(f"  author: {identity.author}")
        print(f"  an owner must grant it the slot {slot!r} before it can propose anything")
    needs_embedder = bool(agent.retrieval_sources) or offline_needs_embedder(args.model)
    embedder = get_embedder(args.embedder) if needs_embedder else None
    model = build_model(args.model, embedder)
    printer = ProgressPrinter(interval=1.0)
    quiet = bool(args.quiet)
    worker = Worker(
        room,
        agent,
        model,
        identity=identity,
        embedder=embedder,
        concurrency=args.concurrency,
        poll_interval=args.poll,
        on_progress=(lambda p, force: printer(p, True) if force else None) if quiet else printer,
    )
    try:
        info = worker.describe()
        if not quiet:
            print(
                f"{agent.name}: author {identity.author[:24]}…, slot {slot!r}, model {info['model']}, "
                f"prompt {info['prompt']} ({str(info['prompt_hash'])[:19]}…)"
            )
        if not args.once:
            problem = slot_problem(worker.replica, identity.author, slot)
            if problem is not None:
                print(f"{agent.name}: waiting for a grant: {problem}", file=sys.stderr)
        import anyio

        if queue:
            once = bool(args.once)
            anyio.run(lambda: _from_queue(worker, model, str(server), room, identity, queue, once))
        else:
            anyio.run(_run, worker, model, bool(args.once), server, room, identity)
    finally:
        worker.close()
    for message in worker.progress.last_errors[-5:]:
        print(f"  {message}", file=sys.stderr)
    return 0


async def _run(
    worker: object, model: object, once: bool, server: str | None, room: Path, identity: Identity
) -> None:
    import anyio

    from agentcrdt.llm.base import Model
    from agentcrdt.runtime import Worker

    assert isinstance(worker, Worker) and isinstance(model, Model)
    async with model:
        if once:
            await worker.run_once()
            if server:  # what it proposed reaches every peer through the server
                from agentcrdt.cli.sync import sync_room

                await sync_room(room, server, identity)
            return
        if not server:
            await worker.run()
            return
        from agentcrdt.cli.sync import follow_room

        async with anyio.create_task_group() as tg:  # the worker and a live sync of its room file
            tg.start_soon(lambda: follow_room(room, server, identity))
            await worker.run()
            tg.cancel_scope.cancel()


async def _from_queue(
    worker: object, model: object, server: str, room: Path, identity: Identity, queue: str, once: bool
) -> None:
    """Take documents from the work queue one at a time: pull the room, run the agent on that document,
    push what it proposed, ack. ``once``: stop when the queue has nothing for a while."""
    from agentcrdt.cli.sync import sync_room
    from agentcrdt.llm.base import Model
    from agentcrdt.runtime import Worker
    from agentcrdt.server.queue import WorkQueue

    assert isinstance(worker, Worker) and isinstance(model, Model)
    async with model, WorkQueue.open(queue) as q:
        sub = await q.pull(worker.replica.scope, worker.agent.capability.slot)
        while True:
            taken = await q.take(sub, timeout=2.0)
            if not taken and once:
                return
            for item in taken:
                await sync_room(room, server, identity)  # what the announcement refers to
                await worker.run_once(only={item.document})
                await sync_room(room, server, identity)  # what the agent proposed reaches every peer
                await item.ack()


def main(argv: list[str] | None = None) -> int:
    """Parse ``argv`` as ``worker run`` flags and run; library errors become one line on stderr."""
    parser = argparse.ArgumentParser(prog="agentcrdt worker run", description="run an agent against a room")
    add_worker_arguments(parser)
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format="%(message)s")
    try:
        return worker_command(args)
    except AgentCRDTError as e:
        print(f"agentcrdt: error: {e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
