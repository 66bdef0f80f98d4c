"""The WebSocket client of a sync server: authenticate with the peer key, run :class:`SyncSession`, and
(``watch``) stay: push what is written here, take in what other peers bring.

Imported only by ``agentcrdt sync`` and ``agentcrdt worker run --server`` (it needs ``websockets``).
"""

from __future__ import annotations

import base64
import json
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

import anyio
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed, InvalidHandshake

from agentcrdt.errors import SyncError, UsageError
from agentcrdt.log.keys import Identity
from agentcrdt.replica import Replica
from agentcrdt.sync.auth import sign_challenge
from agentcrdt.sync.session import SyncSession, SyncStats

__all__ = ["SyncResult", "authenticate", "sync_url", "sync_with_server"]

MAX_FRAME = 32 * 1024 * 1024


@dataclass
class SyncResult:
    scope: str
    stats: SyncStats
    synced: bool


def sync_url(server: str, scope: str) -> str:
    """The WebSocket URL of ``scope``'s sync on ``server`` (``http(s)://`` or ``ws(s)://``)."""
    base = server.rstrip("/")
    for plain, secure in (("http://", "ws://"), ("https://", "wss://")):
        if base.startswith(plain):
            base = secure + base[len(plain) :]
    if not base.startswith(("ws://", "wss://")):
        raise UsageError(f"--server must be an http(s):// or ws(s):// URL, got {server!r}")
    return f"{base}/v1/scopes/{scope}/sync"


async def sync_with_server(
    server: str,
    identity: Identity,
    scope: str,
    replica: Replica | Callable[[bytes], Replica],
    *,
    watch: bool = False,
    poll: float = 0.2,
    timeout: float = 60.0,
    on_change: Callable[[int], None] | None = None,
) -> SyncResult:
    """Sync ``replica`` (or the replica a factory makes from the scope's genesis bytes, for a room not
    held here yet) with ``server``; return once synced, or with ``watch`` when the server closes.
    ``on_change(n)``: called after ``n`` new events from the server were stored (live views)."""
    url = sync_url(server, scope)
    try:
        ws = await connect(url, max_size=MAX_FRAME, open_timeout=timeout)
    except TimeoutError as e:
        raise SyncError(f"no sync with the server within {timeout:.0f} s: {url} did not answer") from e
    except (OSError, InvalidHandshake) as e:
        raise SyncError(f"cannot reach the sync server at {url}: {e}") from e
    async with ws:
        with anyio.move_on_after(timeout) as deadline:
            genesis = await authenticate(
                ws, identity, scope, replica.genesis.raw if isinstance(replica, Replica) else None
            )
        if deadline.cancelled_caught:
            raise SyncError(f"no sync with the server within {timeout:.0f} s: no answer to the handshake")
        if not isinstance(replica, Replica):
            replica = replica(genesis)
        session = SyncSession(replica, peer="server")
        return await _run(ws, session, scope, watch, poll, timeout, on_change)


async def authenticate(ws: ClientConnection, identity: Identity, scope: str, genesis: bytes | None) -> bytes:
    """Answer the server's challenge on ``ws`` (bringing the scope with ``genesis`` if the server does
    not hold it); return the scope's genesis bytes. SyncError if the server refuses."""
    hello = json.loads(await ws.recv())
    answer = {"author": identity.author, "signature": sign_challenge(identity, scope, hello["challenge"])}
    if not hello.get("known") and genesis is not None:
        answer["genesis"] = base64.b64encode(genesis).decode()  # bring the scope
    await ws.send(json.dumps(answer))
    try:
        ok = json.loads(await ws.recv())
    except ConnectionClosed as e:
        raise SyncError(f"the server refused the sync: {e.rcvd.reason if e.rcvd else e}") from e
    return base64.b64decode(ok["genesis"])


async def _run(
    ws: ClientConnection,
    session: SyncSession,
    scope: str,
    watch: bool,
    poll: float,
    timeout: float,
    on_change: Callable[[int], None] | None,
) -> SyncResult:
    replica = session.replica
    for f in session.start():
        await ws.send(f)
    cursor = replica.store.last_position()

    async def pusher() -> None:
        """Push what other processes of this machine wrote to the room (the CLI, an agent worker)."""
        nonlocal cursor
        while True:
            await anyio.sleep(poll)
            replica.refresh()
            batch = replica.store.since(cursor)
            if not batch:
                continue
            cursor = batch[-1][0]
            raws = [e.raw for _, e in batch if not e.local and e.id not in session.received]
            for f in session.push(raws):
                await ws.send(f)

    async def reader() -> None:
        async for frame in ws:
            if not isinstance(frame, bytes):
                raise SyncError("the server sent text after the handshake")
            accepted = session.stats.accepted
            for reply in session.handle(frame):
                await ws.send(reply)
            if on_change is not None and session.stats.accepted > accepted:
                on_change(session.stats.accepted - accepted)
            if not watch and session.synced:
                return

    failure: BaseException | None = None

    async def guarded(fn: Callable[[], Awaitable[None]], cancel: anyio.CancelScope) -> None:
        # A child's error would reach the caller wrapped in an exception group: keep the first one.
        nonlocal failure
        try:
            await fn()
        except (ConnectionClosed, OSError, SyncError) as e:
            failure = failure or e
        finally:
            cancel.cancel()

    with anyio.move_on_after(None if watch else timeout) as deadline:
        async with anyio.create_task_group() as tg:
            if watch:
                tg.start_soon(guarded, pusher, tg.cancel_scope)
            tg.start_soon(guarded, reader, tg.cancel_scope)
    if deadline.cancelled_caught:
        raise SyncError(f"no sync with the server within {timeout:.0f} s")
    if isinstance(failure, SyncError):
        raise failure
    if isinstance(failure, ConnectionClosed | OSError) and not watch:
        reason = failure.rcvd.reason if isinstance(failure, ConnectionClosed) and failure.rcvd else failure
        raise SyncError(f"the server closed the sync: {reason}") from failure
    return SyncResult(scope, session.stats, session.synced)
