"""``agentcrdt serve`` (the sync server) and ``agentcrdt sync`` (a room with a server, once or live)."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from agentcrdt.errors import UsageError

__all__ = ["register"]

DEFAULT_STORE = "agentcrdt-server"


def register(sub: Any) -> None:
    serve = sub.add_parser("serve", help="run a sync server: relay and persist rooms for peers")
    serve.add_argument(
        "--store",
        default=DEFAULT_STORE,
        help=f"a directory (one SQLite file a room; default ./{DEFAULT_STORE}) or postgresql://… URL",
    )
    serve.add_argument("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1)")
    serve.add_argument("--port", type=int, default=8765, help="port (default 8765)")
    serve.add_argument(
        "--queue", help="NATS URL (nats://host:4222): announce documents' work on a JetStream work queue"
    )
    serve.set_defaults(handler=_serve)

    sync = sub.add_parser("sync", help="sync a room with a server (once, or --watch to stay live)")
    sync.add_argument("--room", required=True, help="the room's SQLite file (created if --scope is given)")
    sync.add_argument("--server", required=True, help="the server's URL (http://host:port)")
    sync.add_argument("--scope", help="the room's scope id, to join a room this machine does not hold")
    sync.add_argument("--key", help="your key file (default: $AGENTCRDT_KEY, else ROOM.key, made if new)")
    sync.add_argument("--watch", action="store_true", help="stay connected: push and take changes live")
    sync.add_argument("--json", action="store_true", help="also print the result as one JSON line, last")
    sync.set_defaults(handler=_sync)


def _serve(args: argparse.Namespace) -> int:
    from agentcrdt.server import serve

    print(f"agentcrdt sync server on http://{args.host}:{args.port} (store: {args.store})", flush=True)
    ui = f"http://{args.host}:{args.port}/ui/<scope>/"
    print(f"  review UI: {ui} (the reviewer's key stays in the browser)", flush=True)
    serve(args.store, host=args.host, port=args.port, queue=args.queue)
    return 0


def _identity(room: Path, key: str | None, *, create: bool) -> Any:
    """The key that signs the sync: as every room command finds it, or (joining) a new ``ROOM.key``."""
    from agentcrdt.cli.room import _identity as room_identity
    from agentcrdt.cli.room import default_key_path
    from agentcrdt.log.keys import Identity

    found = room_identity(str(room), key, required=not create)
    if found is not None:
        return found
    identity = Identity.generate()
    identity.save(default_key_path(room))
    path = default_key_path(room)
    print(f"new key {path}: {identity.author} (an owner grants it: agentcrdt grant {identity.author} ...)")
    return identity


async def sync_room(
    room: Path,
    server: str,
    identity: Any,
    *,
    scope: str | None = None,
    watch: bool = False,
    on_change: Any = None,
) -> Any:
    """Sync the room file ``room`` with ``server`` as ``identity`` (joining scope ``scope`` into a new
    file when there is none yet); return the :class:`SyncResult`. The room is opened without an
    identity: syncing only stores what peers signed, so it can run beside a worker on the same file."""
    from agentcrdt.rooms.local import join_genesis, open_local
    from agentcrdt.sync.websocket import sync_with_server

    opened: list[Any] = []  # closed at the end, whichever way the room was opened
    if room.is_file():
        replica = open_local(room)
        opened.append(replica)
        if scope and scope != replica.scope:
            replica.close()
            raise UsageError(f"{room} holds scope {replica.scope}, not {scope}")
        target: Any = replica
        scope = replica.scope
    elif scope:

        def target(genesis: bytes) -> Any:  # the room file is made from the genesis the server sends
            opened.append(join_genesis(room, genesis))
            return opened[0]
    else:
        raise UsageError(f"no room file at {room}: pass --scope SCOPE to join a room the server holds")
    try:
        return await sync_with_server(server, identity, scope, target, watch=watch, on_change=on_change)
    finally:
        for r in opened:
            r.close()


async def follow_room(
    room: Path, server: str, identity: Any, *, scope: str | None = None, on_change: Any = None
) -> None:
    """Stay synced with ``server``: reconnect after a lost connection or a server restart, waiting
    1, 2, 4 … up to 30 s between tries (what was missed is caught up on reconnect)."""
    import sys

    import anyio

    from agentcrdt.errors import SyncError

    wait = 1.0
    while True:
        try:
            await sync_room(room, server, identity, scope=scope, watch=True, on_change=on_change)
            wait = 1.0  # the server closed a live session: reconnect at once
        except SyncError as e:
            print(f"agentcrdt: sync: {e}; retrying in {wait:.0f} s", file=sys.stderr, flush=True)
            await anyio.sleep(wait)
            wait = min(30.0, wait * 2)


def _sync(args: argparse.Namespace) -> int:
    import anyio

    room = Path(args.room)
    if not room.is_file() and not args.scope:
        raise UsageError(f"no room file at {room}: pass --scope SCOPE to join a room the server holds")
    identity = _identity(room, args.key, create=not room.is_file())

    def changed(n: int) -> None:
        print(f"  {n} event(s) from the server", flush=True)

    if args.watch:
        print(f"following {room} on {args.server} (Ctrl-C to stop)", flush=True)
        anyio.run(lambda: follow_room(room, args.server, identity, scope=args.scope, on_change=changed))
        return 0
    result = anyio.run(lambda: sync_room(room, args.server, identity, scope=args.scope, on_change=changed))
    s = result.stats
    print(
        f"synced {room} with {args.server}: sent {s.events_sent} event(s), received {s.accepted} new "
        f"({s.sent_bytes + s.received_bytes:,} bytes)"
    )
    print(f"  join it elsewhere: agentcrdt sync --room ROOM --server {args.server} --scope {result.scope}")
    if args.json:
        import json

        summary = {"room": str(room), "scope": result.scope, "sent": s.events_sent, "received": s.accepted}
        print(json.dumps(summary))
    return 0
