"""The local review UI (``agentcrdt ui --room PATH``): one room file, reviews signed on this side.

The key never reaches the browser. Every API call needs the session token the command printed (in the
URL it opens): the first page load turns it into a ``SameSite=Strict`` cookie, so a page of another
site can neither read the room nor make a review in the user's name (no CORS is offered).

Routes (OpenAPI at ``/api/openapi.json``; every list takes ``offset`` and ``limit`` ≤ 200)::

    GET  /                             the page (hash routes: overview, documents, proposals, …)
    GET  /assets/{name}                its script, style
    GET  /api/overview                 counts, owners, the viewer and its review rights, agents
    GET  /api/documents                documents (q, kind)
    GET  /api/documents/{id}           versions with texts (each read logged), highlights, signatures
    GET  /api/proposals                the queue (status, agent, kind, slot, min_confidence, …)
    GET  /api/proposals/{id}           three-way view, evidence in context
    POST /api/proposals/{id}/review    {"decision": "accept"|"reject", "note", "force"}
    POST /api/reviews                  bulk: {"filters", "decision", "note", "expect": n}
    GET  /api/findings, /api/access, /api/audit (only=flagged), /api/events/{id}
    GET  /api/jobs, /api/jobs/{id}/map  rabbithole jobs and their map pages
    GET  /api/evals, /api/evals/report?run=, /api/evals/compare?a=&b=
    GET  /api/live                     Server-Sent Events: ``change`` whenever the room changes
    GET  /api/ready                    {"ready": false} while the room is being opened (every other
                                       API call answers 503 until then)
"""

from __future__ import annotations

import hmac
import json
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import anyio
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, RedirectResponse, Response
from starlette.routing import Route

from agentcrdt.errors import AgentCRDTError, UsageError
from agentcrdt.ui.openapi import OPENAPI
from agentcrdt.ui.review import decide, decide_many
from agentcrdt.ui.routes import (
    Broadcast,
    Handler,
    asset_route,
    body,
    decision,
    filters,
    guarded,
    log,
    page_response,
    read_routes,
)
from agentcrdt.ui.views import RoomViews

__all__ = ["COOKIE", "create_ui_app"]

COOKIE = "agentcrdt_ui"
NO_SESSION = "no session: open the URL 'agentcrdt ui' printed (it carries the token)"
PREPARING = "the room is being opened (its indexes are built once at start); try again in a moment"


def create_ui_app(
    views: RoomViews,
    *,
    token: str,
    runs: Path | None = None,
    poll_interval: float = 0.25,
    prepare: bool = False,
) -> Starlette:
    """Return the UI app over ``views`` (one room), guarded by the session ``token``.

    ``prepare``: derive what the first pages need (:meth:`RoomViews.prepare`, seconds on a large
    room) in a worker thread once the app starts. The page and its assets are served at once; until
    the views are ready every API call answers 503 ``{"preparing": true}`` and the page says it is
    opening the room and retries, so the browser paints at once instead of waiting on a blank tab.
    """
    live = Broadcast()
    # Read by handlers on the loop, set once by the lifespan task on the same loop: no lock needed.
    gate = {"ready": not prepare}

    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        async with anyio.create_task_group() as tg:

            async def start() -> None:
                if not gate["ready"]:
                    try:
                        # The only time the replica is used off the loop: nothing else touches it
                        # until the gate opens (handlers answer 503, the poller starts after).
                        await anyio.to_thread.run_sync(views.prepare)
                    except AgentCRDTError:
                        log.exception("preparing the room's views failed; pages will derive them")
                    gate["ready"] = True
                await watch()

            async def watch() -> None:
                # One poller for every page: a change by this UI, by an agent process on the same file,
                # or by a sync, becomes one ``change`` event each open page refetches on.
                last = views.version_key()
                while True:
                    await anyio.sleep(poll_interval)
                    try:
                        now = views.version_key()
                    except AgentCRDTError:
                        log.exception("reading the room for live updates failed; retrying")
                        continue
                    if now != last:
                        last = now
                        live.send(json.dumps({"position": now[0], "epoch": now[1]}))

            tg.start_soon(start)
            yield
            tg.cancel_scope.cancel()

    def authorized(request: Request) -> bool:
        given = request.cookies.get(COOKIE) or request.headers.get("authorization", "").removeprefix(
            "Bearer "
        )
        return hmac.compare_digest(given.encode(), token.encode())

    def session(fn: Handler) -> Handler:
        async def handler(request: Request) -> Response:
            if not authorized(request):
                return JSONResponse({"error": NO_SESSION}, 401)
            if not gate["ready"]:
                return JSONResponse({"error": PREPARING, "preparing": True}, 503, {"retry-after": "1"})
            return await fn(request)

        return handler

    async def run(request: Request, fn: Callable[[RoomViews], Any]) -> Any:
        return fn(views)  # one room, in the event loop: nothing else touches the replica meanwhile

    async def index(request: Request) -> Response:
        given = request.query_params.get("token")
        if given is not None:
            if not hmac.compare_digest(given.encode(), token.encode()):
                return HTMLResponse(
                    "<!doctype html><title>agentcrdt</title><p>That token is not this UI's.", 401
                )
            response = RedirectResponse("/", 303)  # the token leaves the address bar and the history
            response.set_cookie(COOKIE, token, httponly=True, samesite="strict")
            return response
        if not authorized(request):
            return HTMLResponse(
                "<!doctype html><html lang=en><title>agentcrdt</title><main><h1>No session</h1>"
                "<p>Open the address <code>agentcrdt ui</code> printed: it carries this session's token."
                "</main>",
                401,
            )
        return page_response()

    async def review(request: Request) -> Response:
        found = await body(request)
        what, note = decision(found)
        result = decide(views.replica, request.path_params["id"], what, note, force=bool(found.get("force")))
        return JSONResponse(result.to_json())

    async def bulk(request: Request) -> Response:
        found = await body(request)
        what, note = decision(found)
        chosen = found.get("filters")
        if not isinstance(chosen, dict):
            raise UsageError(
                '"filters" must be the queue\'s filters, e.g. {"status": "pending", "agent": "…"}'
            )
        ids = views.matching(filters({**chosen, "status": "pending"}))
        expect = found.get("expect")
        if expect != len(ids):
            # The user confirmed a count; the set moved since (an agent proposed, a peer reviewed).
            raise UsageError(
                f"the filter now matches {len(ids)} pending proposals, not {expect}; confirm again"
            )
        results = decide_many(views.replica, ids, what, note)
        done = sum(1 for r in results if not r.error)
        return JSONResponse(
            {"decided": done, "skipped": len(results) - done, "results": [r.to_json() for r in results]}
        )

    async def openapi(request: Request) -> Response:
        return JSONResponse(OPENAPI)

    async def stream(request: Request) -> Response:
        return live.response()

    async def ready(request: Request) -> Response:
        if not authorized(request):
            return JSONResponse({"error": NO_SESSION}, 401)
        return JSONResponse({"ready": gate["ready"]})

    routes = [
        Route("/", index),
        asset_route("/assets/{name}"),
        Route("/api/openapi.json", openapi),
        Route("/api/ready", ready),
        *read_routes(run, runs, wrap=session),
        Route("/api/proposals/{id}/review", session(guarded(review)), methods=["POST"]),
        Route("/api/reviews", session(guarded(bulk)), methods=["POST"]),
        Route("/api/live", session(stream)),
    ]
    return Starlette(routes=routes, lifespan=lifespan)
