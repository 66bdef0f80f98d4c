"""The sync server: an ASGI app (Starlette) that relays and persists events for many scopes.

Routes (OpenAPI at ``/openapi.json``):

``GET /health``                      liveness, and how many scopes are open
``GET /metrics``                     Prometheus text: sessions, frames, bytes, events, errors
``WS  /v1/scopes/{scope}/sync``      the sync protocol, after a signed challenge (below), then live
``GET /v1/scopes/{scope}/events``    Server-Sent Events: every event stored from now on that the
                                     subscriber may read (owners: all; grantees: the ops and proposals
                                     touching only fields their grants read or write, and the room's
                                     grants, revocations and reviews)

A WebSocket peer authenticates by key: the server sends ``{"challenge", "known"}``, the peer answers
``{"author", "signature"}`` (and ``"genesis"``, base64, to bring a scope the server does not hold yet:
only one of its owners may). A peer that is neither an owner nor holds a grant is refused (close code
4403); a bad signature gets 4401; a protocol error 4400. Then both sides run :class:`SyncSession`
over binary frames, and the server pushes every event other peers bring while the peer stays.

An SSE subscriber authenticates with ``?author=&nonce=&signature=`` over a nonce it took from
``GET /v1/challenge`` (one use, a minute). Everything ingested is validated as on every replica, in a
worker thread holding the scope's lock (:class:`ScopeHub`): a large batch never stalls the other
sessions, the other scopes or ``/health``.
"""

from __future__ import annotations

import base64
import contextlib
import json
import logging
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from functools import partial
from typing import Any

import anyio
import anyio.to_thread
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, RedirectResponse, Response, StreamingResponse
from starlette.routing import Mount, Route, WebSocketRoute
from starlette.websockets import WebSocket, WebSocketDisconnect, WebSocketDisconnected

from agentcrdt.errors import AgentCRDTError, SyncError
from agentcrdt.log.event import decode_event
from agentcrdt.server.hub import Hub, ScopeHub
from agentcrdt.server.ui import HubAccess
from agentcrdt.sync.auth import check_signature, new_nonce
from agentcrdt.sync.session import SyncSession
from agentcrdt.ui.remote import create_remote_ui

__all__ = ["create_app"]

log = logging.getLogger("agentcrdt.server")

AUTH_TIMEOUT = 10.0
LIVE_BUFFER = 256  # batches a live peer may fall behind before it is dropped (it resyncs on reconnect)
NONCE_TTL = 60.0


def create_app(hub: Hub, *, poll_interval: float = 0.5, queue: str | None = None) -> Starlette:
    """Return the server app over ``hub``; ``poll_interval``: how often it publishes what other server
    processes appended to a shared store; ``queue``: a NATS URL to announce documents' work on
    (JetStream, :mod:`agentcrdt.server.queue`)."""
    nonces: dict[str, float] = {}
    work: list[Any] = []  # the open work queue, if any
    counter = iter(range(1, 1 << 62))

    def keys() -> int:
        return next(counter)

    async def announce(scope_hub: ScopeHub, fresh: list[bytes]) -> None:  # the UI's writes, as a peer's
        await _announce(hub, work[0] if work else None, scope_hub, fresh)

    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        async with anyio.create_task_group() as tg:

            async def poller() -> None:
                while True:
                    await anyio.sleep(poll_interval)
                    await hub.poll()

            tg.start_soon(poller)
            if hub.postgres:
                tg.start_soon(_listen, hub)
            try:
                if queue is None:
                    yield
                else:
                    from agentcrdt.server.queue import WorkQueue

                    async with WorkQueue.open(queue) as q:
                        work.append(q)
                        yield
            finally:
                tg.cancel_scope.cancel()
                hub.close()

    async def health(request: Request) -> Response:
        return JSONResponse({"status": "ok", "scopes": len(hub.scopes)})

    async def metrics(request: Request) -> Response:
        m = hub.metrics
        lines = []
        for name, value in vars(m).items():
            kind = "gauge" if name == "sessions_open" else "counter"
            lines += [f"# TYPE agentcrdt_{name} {kind}", f"agentcrdt_{name} {value}"]
        lines += ["# TYPE agentcrdt_scopes_open gauge", f"agentcrdt_scopes_open {len(hub.scopes)}"]
        return PlainTextResponse("\n".join(lines) + "\n", media_type="text/plain; version=0.0.4")

    async def openapi(request: Request) -> Response:
        return JSONResponse(OPENAPI)

    async def home(request: Request) -> Response:
        return RedirectResponse("/ui/")

    async def challenge(request: Request) -> Response:
        now = time.monotonic()
        for n, t in list(nonces.items()):
            if now - t > NONCE_TTL:
                del nonces[n]
        nonce = new_nonce()
        nonces[nonce] = now
        return JSONResponse({"challenge": nonce, "expires_in": NONCE_TTL})

    async def events(request: Request) -> Response:
        scope = request.path_params["scope"]
        author = request.query_params.get("author", "")
        nonce = request.query_params.get("nonce", "")
        signature = request.query_params.get("signature", "")
        issued = nonces.pop(nonce, None)
        if issued is None or time.monotonic() - issued > NONCE_TTL:
            return JSONResponse({"error": "unknown or expired nonce: take one from /v1/challenge"}, 401)
        if not check_signature(author, signature, scope, nonce):
            hub.metrics.auth_failures += 1
            return JSONResponse({"error": "the signature does not verify for that author"}, 401)
        scope_hub = await anyio.to_thread.run_sync(hub.get, scope)
        if scope_hub is None:
            return JSONResponse({"error": f"this server holds no scope {scope}"}, 404)
        if not await scope_hub.call(partial(scope_hub.is_member, author)):
            return JSONResponse({"error": "neither an owner nor a grantee of this scope"}, 403)
        send, receive = anyio.create_memory_object_stream[list[bytes]](LIVE_BUFFER)
        key = next(counter)
        # A grantee receives only what its grants read or write.
        readable = await scope_hub.call(partial(scope_hub.reader, author))

        def listener(raws: list[bytes]) -> None:
            kept = readable(raws)
            if not kept:
                return
            try:
                send.send_nowait(kept)
            except (anyio.WouldBlock, anyio.BrokenResourceError, anyio.ClosedResourceError):
                # Too slow (it reconnects and catches up), or gone: dropped, never the publisher's fault.
                scope_hub.listeners.pop(key, None)
                send.close()

        scope_hub.listeners[key] = listener

        async def stream() -> AsyncIterator[bytes]:
            try:
                yield b": connected\n\n"
                async with receive:
                    async for raws in receive:
                        for raw in raws:
                            yield _sse(raw)
            finally:
                scope_hub.listeners.pop(key, None)

        return StreamingResponse(stream(), media_type="text/event-stream")

    async def sync(ws: WebSocket) -> None:
        scope = ws.path_params["scope"]
        await ws.accept()
        scope_hub = await anyio.to_thread.run_sync(hub.get, scope)
        nonce = new_nonce()
        await ws.send_json({"challenge": nonce, "known": scope_hub is not None, "protocol": 1})
        answer: Any = None
        with anyio.move_on_after(AUTH_TIMEOUT):
            try:
                answer = json.loads(await ws.receive_text())
            except WebSocketDisconnect:
                return  # the peer left before answering
            except (KeyError, ValueError):
                pass  # a binary frame or not JSON: refused below
        if not isinstance(answer, dict):
            await ws.close(4400, "expected the signed challenge")
            return
        author, signature = str(answer.get("author", "")), str(answer.get("signature", ""))
        if not check_signature(author, signature, scope, nonce):
            hub.metrics.auth_failures += 1
            await ws.close(4401, "the signature does not verify for that author")
            return
        if scope_hub is None:
            scope_hub = await _bring(ws, hub, scope, author, answer.get("genesis"))
            if scope_hub is None:
                return
        if not await scope_hub.call(partial(scope_hub.is_member, author)):
            hub.metrics.auth_failures += 1
            await ws.close(4403, "neither an owner nor a grantee of this scope")
            return
        genesis = scope_hub.replica.genesis.raw
        await ws.send_json({"ok": True, "genesis": base64.b64encode(genesis).decode()})
        await _run(ws, hub, scope_hub, author, next(counter), work[0] if work else None)

    routes = [
        Route("/health", health),
        Route("/metrics", metrics),
        Route("/openapi.json", openapi),
        Route("/v1/challenge", challenge),
        Route("/v1/scopes/{scope}/events", events),
        WebSocketRoute("/v1/scopes/{scope}/sync", sync),
        Route("/", home),
        # The review UI for every scope held here; the viewer's key stays in its browser.
        Mount("/ui", create_remote_ui(HubAccess(hub, announce, keys))),
    ]
    return Starlette(routes=routes, lifespan=lifespan)


async def _bring(ws: WebSocket, hub: Hub, scope: str, author: str, genesis: Any) -> ScopeHub | None:
    """Create the scope from the genesis a peer brought, or close with why not."""
    try:
        raw = base64.b64decode(str(genesis or ""), validate=True)
        if not raw or decode_event(raw).id != scope:
            raise SyncError("that genesis event is not the scope's")
        return await anyio.to_thread.run_sync(hub.create, raw, author)
    except (AgentCRDTError, ValueError) as e:
        await ws.close(4404, f"this server holds no scope {scope[:24]}…; an owner brings it: {e}"[:120])
        return None


async def _run(ws: WebSocket, hub: Hub, scope_hub: ScopeHub, author: str, key: int, queue: Any) -> None:
    m = hub.metrics
    session = SyncSession(scope_hub.replica, peer=f"{author[:24]}#{key}")
    send, receive = anyio.create_memory_object_stream[list[bytes]](LIVE_BUFFER)

    def listener(raws: list[bytes]) -> None:
        try:
            send.send_nowait(raws)
        except anyio.WouldBlock:
            send.close()  # too far behind: the pusher ends the connection, the peer resyncs
        except (anyio.BrokenResourceError, anyio.ClosedResourceError):
            pass  # this session is ending (or was dropped): nothing to deliver, never the publisher's fault

    async def out(frames: list[bytes]) -> None:
        for f in frames:
            m.frames_out += 1
            m.bytes_out += len(f)
            await ws.send_bytes(f)

    def push(raws: list[bytes]) -> list[bytes]:
        # Re-announce our heads after pushing what other peers brought: the peer's "synced" needs our
        # heads to cover everything it holds, and it now holds events beyond our last hello. With an
        # answer still due, the session re-announces on its own when that answer arrives.
        frames = session.push(raws)
        return frames + session.start() if frames and not session.awaiting else frames

    async def pusher() -> None:
        async for raws in receive:
            batch = [*raws]
            with contextlib.suppress(anyio.WouldBlock, anyio.EndOfStream):
                while True:  # take every batch already waiting: one push, one hello
                    batch += receive.receive_nowait()
            m.events_fanned_out += len(batch)
            await out(await scope_hub.call(partial(push, batch)))
        await ws.close(4408, "fell too far behind: reconnect to resync")

    def handle(frame: bytes) -> tuple[list[bytes], int]:
        before = session.stats.accepted
        replies = session.handle(frame)
        return replies, session.stats.accepted - before

    async def reader() -> None:
        await out(await scope_hub.call(session.start))
        while True:
            try:
                frame = await _receive_frame(ws)
                m.frames_in += 1
                m.bytes_in += len(frame)
                (replies, accepted), fresh = await scope_hub.ingest(partial(handle, frame), source=key)
            except SyncError as e:
                m.protocol_errors += 1
                await ws.close(4400, str(e)[:120])
                return
            m.events_accepted += accepted
            await out(replies)
            if fresh:
                await _announce(hub, queue, scope_hub, fresh)

    async def guarded(fn: Callable[[], Awaitable[None]], scope: anyio.CancelScope) -> None:
        try:
            await fn()
        except (WebSocketDisconnect, WebSocketDisconnected):
            pass  # the peer left (or we closed): what it sent is stored, the rest it resends
        except Exception as e:  # a fault of ours: say so in a close frame, never drop the socket mute
            log.exception("sync session with %s failed", author[:24])
            with contextlib.suppress(Exception):
                await ws.close(1011, f"server error: {e}"[:120])
        finally:
            scope.cancel()  # either side ending ends the connection

    m.sessions += 1
    m.sessions_open += 1
    scope_hub.listeners[key] = listener
    try:
        async with anyio.create_task_group() as tg:
            tg.start_soon(guarded, pusher, tg.cancel_scope)
            tg.start_soon(guarded, reader, tg.cancel_scope)
    finally:
        # Unlisten before closing the stream: a publish in between must find no listener, not a
        # closed stream (that raised in the publishing session and cut its peer off).
        scope_hub.listeners.pop(key, None)
        send.close()
        receive.close()
        m.sessions_open -= 1


async def _announce(hub: Hub, queue: Any, scope_hub: ScopeHub, fresh: list[bytes]) -> None:
    """After storing a peer's events: tell the other servers on this PostgreSQL, announce the work
    (``queue``: the open work queue, or None)."""
    scope = scope_hub.replica.scope
    if hub.postgres:  # blocking I/O: a thread
        await anyio.to_thread.run_sync(hub.notify, scope)
    if queue is not None:  # work for agent workers elsewhere, one line per granted slot
        await queue.announce(scope, await scope_hub.call(scope_hub.replica.slots), fresh)


async def _receive_frame(ws: WebSocket) -> bytes:
    """The next binary frame; WebSocketDisconnect when the peer left, SyncError for a text frame."""
    message = await ws.receive()
    if message["type"] == "websocket.disconnect":
        raise WebSocketDisconnect(message.get("code", 1000), message.get("reason"))
    frame = message.get("bytes")
    if frame is None:
        raise SyncError("expected binary sync frames after the handshake")
    return bytes(frame)


async def _listen(hub: Hub) -> None:
    """LISTEN for the other server processes' notices; reconnect after a lost connection."""
    import psycopg

    from agentcrdt.server.hub import CHANNEL

    while True:
        try:
            async with await psycopg.AsyncConnection.connect(hub.database_url, autocommit=True) as conn:
                await conn.execute(f"LISTEN {CHANNEL}")
                async for notice in conn.notifies():
                    await hub.on_notice(notice.payload)
        except psycopg.Error:
            await anyio.sleep(1.0)  # the poller covers the gap


def _sse(raw: bytes) -> bytes:
    e = decode_event(raw)
    data = {"id": e.id, "author": e.author, "seq": e.seq, "lamport": e.lamport, "kind": e.kind,
            "payload": e.payload, "raw": base64.b64encode(raw).decode()}  # fmt: skip
    return f"id: {e.id}\nevent: {e.kind}\ndata: {json.dumps(data, separators=(',', ':'))}\n\n".encode()


OPENAPI: dict[str, Any] = {
    "openapi": "3.1.0",
    "info": {"title": "agentcrdt sync server", "version": "1"},
    "paths": {
        "/health": {"get": {"summary": "Liveness and open scopes", "responses": {"200": {
            "description": "ok", "content": {"application/json": {"schema": {
                "type": "object", "properties": {"status": {"type": "string"}, "scopes": {"type": "integer"}},
            }}},
        }}}},
        "/metrics": {"get": {"summary": "Prometheus metrics", "responses": {"200": {
            "description": "text exposition format", "content": {"text/plain": {}},
        }}}},
        "/v1/challenge": {"get": {"summary": "A one-use nonce to sign for an SSE subscription",
            "responses": {"200": {"description": "the nonce", "content": {"application/json": {"schema": {
                "type": "object", "properties": {"challenge": {"type": "string"},
                                                 "expires_in": {"type": "number"}},
            }}}}}}},
        "/v1/scopes/{scope}/events": {"get": {
            "summary": "Server-Sent Events: every event of the scope stored from now on",
            "parameters": [
                {"name": "scope", "in": "path", "required": True, "schema": {"type": "string"}},
                {"name": "author", "in": "query", "required": True, "schema": {"type": "string"}},
                {"name": "nonce", "in": "query", "required": True, "schema": {"type": "string"}},
                {"name": "signature", "in": "query", "required": True, "schema": {"type": "string"},
                 "description": "hex Ed25519 signature of 'agentcrdt-sync-auth/1\\0<scope>\\0<nonce>'"},
            ],
            "responses": {
                "200": {"description": "event stream", "content": {"text/event-stream": {}}},
                "401": {"description": "bad or expired nonce, or a signature that does not verify"},
                "403": {"description": "neither an owner nor a grantee of the scope"},
                "404": {"description": "the server holds no such scope"},
            },
        }},
        "/ui/{scope}/": {"get": {
            "summary": "The review UI for a scope (its own API: /ui/{scope}/api/openapi.json)",
            "parameters": [{"name": "scope", "in": "path", "required": True, "schema": {"type": "string"}}],
            "responses": {"200": {"description": "the page", "content": {"text/html": {}}}},
        }},
        "/v1/scopes/{scope}/sync": {"get": {
            "summary": "WebSocket: signed challenge, then the binary sync protocol (docs/sync.md)",
            "parameters": [{"name": "scope", "in": "path", "required": True, "schema": {"type": "string"}}],
            "responses": {"101": {"description": "switching to WebSocket"}},
        }},
    },
}  # fmt: skip
