"""What the local UI (:mod:`.app`) and the server's UI (:mod:`.remote`) serve alike: the page, its
assets, every read of the JSON API, and the live event stream.

Each handler asks ``run(request, fn)`` to call ``fn`` with the request's :class:`RoomViews`: the local
UI calls it at once; the server first finds the session's scope and viewer and calls it while no
other task touches that scope's replica. Errors map to one JSON shape, ``{"error": "what and how to
fix it"}``, with 400 (bad input), 401 (no session), 403 (not allowed; nothing was signed), 404.
"""

from __future__ import annotations

import json
import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from importlib import resources
from pathlib import Path
from typing import Any, TypeVar

import anyio
from anyio.streams.memory import MemoryObjectSendStream
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, Response, StreamingResponse
from starlette.routing import Route

from agentcrdt.errors import AgentCRDTError, CapabilityDenied, NotFound, UsageError
from agentcrdt.ui import reports
from agentcrdt.ui.review import may_review, review_slots
from agentcrdt.ui.views import Filters, RoomViews

__all__ = [
    "CSP",
    "Broadcast",
    "Run",
    "asset_route",
    "body",
    "decision",
    "filters",
    "guarded",
    "page_response",
    "read_routes",
]

log = logging.getLogger("agentcrdt.ui")

T = TypeVar("T")
Run = Callable[[Request, Callable[[RoomViews], Any]], Awaitable[Any]]
Handler = Callable[[Request], Awaitable[Response]]
ASSETS = {"app.js": "text/javascript", "app.css": "text/css"}

# The page runs only its own script and style; report pages (maps, eval reports) load in sandboxed frames.
CSP = (
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; "
    "frame-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"
)


def asset(name: str) -> str:
    return (resources.files("agentcrdt.ui") / "static" / name).read_text(encoding="utf-8")


def page_response() -> Response:
    return HTMLResponse(asset("index.html"), headers={"Content-Security-Policy": CSP})


async def _asset(request: Request) -> Response:
    name = request.path_params["name"]
    if name not in ASSETS:
        return Response("not found", 404)
    return Response(asset(name), media_type=ASSETS[name], headers={"Cache-Control": "no-cache"})


def asset_route(path: str) -> Route:
    return Route(path, _asset)


def guarded(fn: Handler) -> Handler:
    """Map the library's errors to status codes with the message that says what to fix."""

    async def handler(request: Request) -> Response:
        try:
            return await fn(request)
        except CapabilityDenied as e:
            return JSONResponse({"error": str(e)}, 403)
        except NotFound as e:
            return JSONResponse({"error": str(e)}, 404)
        except (UsageError, AgentCRDTError) as e:
            return JSONResponse({"error": str(e)}, 400)

    return handler


def _int(request: Request, name: str, default: int) -> int:
    value = request.query_params.get(name)
    if value is None or value == "":
        return default
    try:
        return int(value)
    except ValueError as e:
        raise UsageError(f"{name} must be a whole number, got {value!r}") from e


def filters(source: Any) -> Filters:
    keys = ("status", "agent", "kind", "slot", "min_confidence", "max_confidence")
    return Filters(**{k: str(source.get(k) or "") for k in keys})


async def body(request: Request) -> dict[str, Any]:
    try:
        found = json.loads(await request.body() or b"{}")
    except ValueError as e:
        raise UsageError(f"the request body is not JSON: {e}") from e
    if not isinstance(found, dict):
        raise UsageError("the request body must be a JSON object")
    return found


def decision(found: dict[str, Any]) -> tuple[Any, str]:
    value = found.get("decision")
    if value not in ("accept", "reject"):
        raise UsageError('"decision" must be "accept" or "reject"')
    note = found.get("note", "")
    if not isinstance(note, str) or len(note) > 2_000:
        raise UsageError('"note" must be a string of at most 2,000 characters')
    return value, note


def _review_rights(views: RoomViews) -> dict[str, Any]:
    if views.viewer is None:
        return {"any": False, "slots": []}
    slots = review_slots(views.replica, views.viewer)
    return {"any": slots is None or bool(slots), "slots": None if slots is None else list(slots)}


def read_routes(run: Run, runs: Path | None, *, wrap: Callable[[Handler], Handler]) -> list[Route]:
    """Every read of the API, each handler wrapped by ``wrap`` (the session check) and :func:`guarded`."""

    def get(path: str, fn: Callable[[Request, RoomViews], Any], html: bool = False) -> Route:
        async def handler(request: Request) -> Response:
            out = await run(request, lambda views: fn(request, views))
            return HTMLResponse(out) if html else JSONResponse(out)

        return Route(path, wrap(guarded(handler)))

    def page_args(request: Request) -> dict[str, int]:
        return {"offset": _int(request, "offset", 0), "limit": _int(request, "limit", 50)}

    def overview(request: Request, views: RoomViews) -> dict[str, Any]:
        return {**views.overview(), "review": _review_rights(views)}

    def proposal(request: Request, views: RoomViews) -> dict[str, Any]:
        out = views.proposal(request.path_params["id"])
        out["may_review"] = may_review(views.replica, views.viewer, out["slot"])
        return out

    def eval_report(request: Request, views: RoomViews) -> str:
        path = reports.run_dir(runs, request.query_params.get("run", "")) / "report.html"
        if not path.is_file():
            raise NotFound("that run has no report.html yet: agentcrdt eval report RUN writes one")
        return path.read_text(encoding="utf-8")

    def q(request: Request, name: str) -> str:
        return request.query_params.get(name, "")

    return [
        get("/api/overview", overview),
        get("/api/documents", lambda r, v: v.documents(q=q(r, "q"), kind=q(r, "kind"), **page_args(r))),
        get("/api/documents/{id}", lambda r, v: v.document(r.path_params["id"])),
        get("/api/proposals", lambda r, v: v.proposals(filters(r.query_params), **page_args(r))),
        get("/api/proposals/{id}", proposal),
        get("/api/findings", lambda r, v: v.findings(**page_args(r))),
        get("/api/access", lambda r, v: v.access(**page_args(r))),
        get("/api/audit", lambda r, v: v.audit(only=q(r, "only"), verify=q(r, "verify"), **page_args(r))),
        get("/api/events/{id}", lambda r, v: v.event(r.path_params["id"])),
        get("/api/jobs", lambda r, v: {"items": reports.jobs(v.replica)}),
        get(
            "/api/jobs/{id}/map", lambda r, v: reports.job_map_html(v.replica, r.path_params["id"]), html=True
        ),
        get(
            "/api/evals",
            lambda r, v: {"folder": None if runs is None else str(runs), "items": reports.runs(runs)},
        ),
        get("/api/evals/report", eval_report, html=True),
        get("/api/evals/compare", lambda r, v: reports.compare(runs, q(r, "a"), q(r, "b"))),
    ]


class Broadcast:
    """The live stream's fan-out: each open page holds one bounded queue; a page too slow to take its
    messages is dropped (its EventSource reconnects and the page refetches)."""

    def __init__(self) -> None:
        self.listeners: set[MemoryObjectSendStream[str]] = set()

    def send(self, message: str) -> None:
        for stream in list(self.listeners):
            try:
                stream.send_nowait(message)
            except (anyio.WouldBlock, anyio.BrokenResourceError, anyio.ClosedResourceError):
                self.listeners.discard(stream)
                stream.close()

    def response(self) -> Response:
        send, receive = anyio.create_memory_object_stream[str](64)
        self.listeners.add(send)

        async def stream() -> AsyncIterator[bytes]:
            try:
                yield b"retry: 1000\n: connected\n\n"
                async with receive:
                    async for message in receive:
                        yield f"event: change\ndata: {message}\n\n".encode()
            finally:
                self.listeners.discard(send)

        return StreamingResponse(
            stream(), media_type="text/event-stream", headers={"Cache-Control": "no-cache"}
        )
