"""The review UI's HTTP surface: a Starlette app serving the page, its assets and a JSON API.

``agentcrdt ui --room PATH`` serves one local room with the key it was given: reviews are signed on
this side, and the key never reaches the browser. Every API call needs the session token the command
printed (in the URL it opens): the first page load turns it into a ``SameSite=Strict`` cookie, so a page
of another site can neither read the room nor make a review in the user's name (no CORS is offered).

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
"""

from __future__ import annotations

import hmac
import json
import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from importlib import resources
from pathlib import Path
from typing import Any

import anyio
from anyio.streams.memory import MemoryObjectSendStream
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, RedirectResponse, Response, StreamingResponse
from starlette.routing import Route

from agentcrdt.errors import AgentCRDTError, CapabilityDenied, NotFound, UsageError
from agentcrdt.ui import reports
from agentcrdt.ui.openapi import OPENAPI
from agentcrdt.ui.review import decide, decide_many, review_slots
from agentcrdt.ui.views import Filters, RoomViews

__all__ = ["COOKIE", "create_ui_app"]

log = logging.getLogger("agentcrdt.ui")

COOKIE = "agentcrdt_ui"
ASSETS = {"app.js": "text/javascript", "app.css": "text/css"}
Handler = Callable[[Request], Awaitable[Response]]


def _asset(name: str) -> str:
    return (resources.files("agentcrdt.ui") / "static" / name).read_text(encoding="utf-8")


def _int(request: Request, name: str, default: int) -> int:
    value = request.query_params.get(name)
    if value is None or value == "":
        return default
    try:
        return int(value)
    except ValueError as e:
        raise UsageError(f"{name} must be a whole number, got {value!r}") from e


def _filters(source: Any) -> Filters:
    keys = ("status", "agent", "kind", "slot", "min_confidence", "max_confidence")
    return Filters(**{k: str(source.get(k) or "") for k in keys})


async def _body(request: Request) -> dict[str, Any]:
    try:
        body = json.loads(await request.body() or b"{}")
    except ValueError as e:
        raise UsageError(f"the request body is not JSON: {e}") from e
    if not isinstance(body, dict):
        raise UsageError("the request body must be a JSON object")
    return body


def _decision(body: dict[str, Any]) -> tuple[Any, str]:
    decision = body.get("decision")
    if decision not in ("accept", "reject"):
        raise UsageError('"decision" must be "accept" or "reject"')
    note = body.get("note", "")
    if not isinstance(note, str) or len(note) > 2_000:
        raise UsageError('"note" must be a string of at most 2,000 characters')
    return decision, note


def create_ui_app(
    views: RoomViews, *, token: str, runs: Path | None = None, poll_interval: float = 0.25
) -> Starlette:
    """Return the UI app over ``views`` (one room), guarded by the session ``token``."""
    listeners: set[MemoryObjectSendStream[str]] = set()

    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        async with anyio.create_task_group() as tg:

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
                        message = json.dumps({"position": now[0], "epoch": now[1]})
                        for send in list(listeners):
                            try:
                                send.send_nowait(message)
                            except (anyio.WouldBlock, anyio.BrokenResourceError, anyio.ClosedResourceError):
                                listeners.discard(send)  # a stalled page: it reloads on reconnect

            tg.start_soon(watch)
            yield
            tg.cancel_scope.cancel()

    def authorized(request: Request) -> bool:
        given = request.cookies.get(COOKIE) or request.headers.get("authorization", "").removeprefix(
            "Bearer "
        )
        return hmac.compare_digest(given.encode(), token.encode())

    def api(fn: Handler) -> Handler:
        async def guarded(request: Request) -> Response:
            if not authorized(request):
                return JSONResponse(
                    {"error": "no session: open the URL 'agentcrdt ui' printed (it carries the token)"}, 401
                )
            try:
                return await fn(request)
            except CapabilityDenied as e:
                return JSONResponse({"error": str(e)}, 403)
            except NotFound as e:
                return JSONResponse({"error": str(e)}, 404)
            except (UsageError, AgentCRDTError) as e:
                return JSONResponse({"error": str(e)}, 400)

        return guarded

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
        return HTMLResponse(_asset("index.html"), headers={"Content-Security-Policy": CSP})

    async def asset(request: Request) -> Response:
        name = request.path_params["name"]
        if name not in ASSETS:
            return Response("not found", 404)
        return Response(_asset(name), media_type=ASSETS[name], headers={"Cache-Control": "no-cache"})

    async def overview(request: Request) -> Response:
        out = views.overview()
        viewer = out["viewer"]
        slots = None if viewer is None else review_slots(views.replica, viewer)
        out["review"] = {
            "any": viewer is not None and (slots is None or bool(slots)),
            "slots": None if slots is None else list(slots),
        }
        return JSONResponse(out)

    async def documents(request: Request) -> Response:
        q = request.query_params
        return JSONResponse(
            views.documents(
                q=q.get("q", ""),
                kind=q.get("kind", ""),
                offset=_int(request, "offset", 0),
                limit=_int(request, "limit", 50),
            )
        )

    async def document(request: Request) -> Response:
        return JSONResponse(views.document(request.path_params["id"]))

    async def proposals(request: Request) -> Response:
        return JSONResponse(
            views.proposals(
                _filters(request.query_params),
                offset=_int(request, "offset", 0),
                limit=_int(request, "limit", 50),
            )
        )

    async def proposal(request: Request) -> Response:
        out = views.proposal(request.path_params["id"])
        viewer = views.replica.identity
        slots = None if viewer is None else review_slots(views.replica, viewer.author)
        out["may_review"] = viewer is not None and (slots is None or "*" in slots or out["slot"] in slots)
        return JSONResponse(out)

    async def review(request: Request) -> Response:
        body = await _body(request)
        decision, note = _decision(body)
        result = decide(
            views.replica, request.path_params["id"], decision, note, force=bool(body.get("force"))
        )
        return JSONResponse(result.to_json())

    async def bulk(request: Request) -> Response:
        body = await _body(request)
        decision, note = _decision(body)
        filters = body.get("filters")
        if not isinstance(filters, dict):
            raise UsageError(
                '"filters" must be the queue\'s filters, e.g. {"status": "pending", "agent": "…"}'
            )
        ids = views.matching(_filters({**filters, "status": "pending"}))
        expect = body.get("expect")
        if expect != len(ids):
            # The user confirmed a count; the set moved since (an agent proposed, a peer reviewed).
            raise UsageError(
                f"the filter now matches {len(ids)} pending proposals, not {expect}; confirm again"
            )
        results = decide_many(views.replica, ids, decision, note)
        done = sum(1 for r in results if not r.error)
        return JSONResponse(
            {"decided": done, "skipped": len(results) - done, "results": [r.to_json() for r in results]}
        )

    async def findings(request: Request) -> Response:
        return JSONResponse(
            views.findings(offset=_int(request, "offset", 0), limit=_int(request, "limit", 50))
        )

    async def access(request: Request) -> Response:
        return JSONResponse(views.access(offset=_int(request, "offset", 0), limit=_int(request, "limit", 50)))

    async def audit(request: Request) -> Response:
        return JSONResponse(
            views.audit(
                offset=_int(request, "offset", 0),
                limit=_int(request, "limit", 50),
                only=request.query_params.get("only", ""),
            )
        )

    async def event(request: Request) -> Response:
        return JSONResponse(views.event(request.path_params["id"]))

    async def jobs(request: Request) -> Response:
        return JSONResponse({"items": reports.jobs(views.replica)})

    async def job_map(request: Request) -> Response:
        html = reports.job_map_html(views.replica, request.path_params["id"])
        return HTMLResponse(html)

    async def evals(request: Request) -> Response:
        return JSONResponse({"folder": None if runs is None else str(runs), "items": reports.runs(runs)})

    async def eval_report(request: Request) -> Response:
        path = reports.run_dir(runs, request.query_params.get("run", "")) / "report.html"
        if not path.is_file():
            raise NotFound("that run has no report.html yet: agentcrdt eval report RUN writes one")
        return HTMLResponse(path.read_text(encoding="utf-8"))

    async def eval_compare(request: Request) -> Response:
        q = request.query_params
        return JSONResponse(reports.compare(runs, q.get("a", ""), q.get("b", "")))

    async def live(request: Request) -> Response:
        send, receive = anyio.create_memory_object_stream[str](64)
        listeners.add(send)

        async def stream() -> AsyncIterator[bytes]:
            try:
                yield b"retry: 1000\n: connected\n\n"
                async with receive:
                    async for message in receive:
                        yield f"event: change\ndata: {message}\n\n".encode()
            finally:
                listeners.discard(send)

        return StreamingResponse(
            stream(), media_type="text/event-stream", headers={"Cache-Control": "no-cache"}
        )

    async def openapi(request: Request) -> Response:
        return JSONResponse(OPENAPI)

    routes = [
        Route("/", index),
        Route("/assets/{name}", asset),
        Route("/api/openapi.json", openapi),
        Route("/api/overview", api(overview)),
        Route("/api/documents", api(documents)),
        Route("/api/documents/{id:path}", api(document)),
        Route("/api/proposals", api(proposals)),
        Route("/api/proposals/{id}/review", api(review), methods=["POST"]),
        Route("/api/proposals/{id}", api(proposal)),
        Route("/api/reviews", api(bulk), methods=["POST"]),
        Route("/api/findings", api(findings)),
        Route("/api/access", api(access)),
        Route("/api/audit", api(audit)),
        Route("/api/events/{id}", api(event)),
        Route("/api/jobs", api(jobs)),
        Route("/api/jobs/{id}/map", api(job_map)),
        Route("/api/evals", api(evals)),
        Route("/api/evals/report", api(eval_report)),
        Route("/api/evals/compare", api(eval_compare)),
        Route("/api/live", api(live)),
    ]
    return Starlette(routes=routes, lifespan=lifespan)


# The page runs only its own script and style; report pages (maps, eval reports) load in sandboxed frames.
CSP = (
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; "
    "frame-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"
)
