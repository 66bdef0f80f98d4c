"""The review UI a sync server serves (``agentcrdt serve``, under ``/ui``): any scope it holds, for a
viewer whose key stays in the browser.

The browser holds an Ed25519 key (WebCrypto; generated there, or imported from a key file, and kept
non-extractable in IndexedDB). It signs in by signing a challenge as a sync peer does
(:mod:`agentcrdt.sync.auth`), and every event it writes — a review, a logged read — is prepared here
(:meth:`Replica.prepare_for`: the id fixed, the deps the server's heads), signed there, and sealed and
ingested here, judged as every peer's event is. The server never holds a key: it cannot write in a
viewer's name, and what it was sent is checked like anything a peer sends.

Routes, under the mount point (``/ui``)::

    GET  /  and /{scope}/                        the page (the first picks a scope)
    GET  /{scope}/api/challenge                  a one-use nonce to sign in with
    POST /{scope}/api/session                    {"author", "nonce", "signature"}: a session cookie
    GET  /{scope}/api/session                    who is signed in ({"author": null} if nobody)
    GET  /{scope}/api/…                          every read of the local UI (see :mod:`.routes`)
    POST /{scope}/api/reviews/prepare            {"ids" | "filters" + "expect", "decision", "note", "force"}
    POST /{scope}/api/reads/prepare              {"versions": [...]}: the access events to sign first
    POST /{scope}/api/events                     {"events": [{"id", "signature"}]}: seal, ingest, publish
    GET  /{scope}/api/live                       Server-Sent Events: ``change`` on every new event
"""

from __future__ import annotations

import base64
import secrets
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import Any, Protocol, TypeVar

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from agentcrdt.dataroom.access import ACCESS, access_payload
from agentcrdt.dataroom.domain import DocumentVersion
from agentcrdt.errors import CapabilityDenied, IntegrityError, NotFound, RejectedEvent, UsageError
from agentcrdt.log.event import UnsignedEvent
from agentcrdt.replica import Replica
from agentcrdt.replica.placement import IngestReport
from agentcrdt.rooms.workflow import proposal
from agentcrdt.sync.auth import check_signature, new_nonce
from agentcrdt.ui.openapi import REMOTE_OPENAPI
from agentcrdt.ui.review import MAX_BULK, Decision, check_decision
from agentcrdt.ui.routes import (
    Broadcast,
    Handler,
    asset_route,
    body,
    decision,
    filters,
    guarded,
    page_response,
    read_routes,
)
from agentcrdt.ui.views import RoomViews

__all__ = ["ReplicaAccess", "ScopeAccess", "create_remote_ui"]

T = TypeVar("T")
SESSION_COOKIE = "agentcrdt_ui_session"
SESSION_TTL = 8 * 3600.0
NONCE_TTL = 60.0
PREPARED_TTL = 600.0  # seconds a prepared event waits for its signature


class ScopeAccess(Protocol):
    """What the UI needs of the server holding the scopes."""

    async def views(self, scope: str) -> RoomViews | None:
        """The scope's views (over the server's replica, which has no identity), or None."""
        ...

    async def call(self, scope: str, fn: Callable[[], T]) -> T:
        """Call ``fn`` while nothing else touches the scope's replica."""
        ...

    async def ingest(self, scope: str, raws: Sequence[bytes]) -> IngestReport:
        """Store events as a peer's, then hand them to the scope's live peers and other servers."""
        ...

    async def append_local(self, scope: str, raws: Sequence[bytes]) -> None:
        """Store a local chain signed elsewhere (reads through this server: logged here, never synced;
        :meth:`Replica.append_signed`)."""
        ...

    def subscribe(self, scope: str, callback: Callable[[], None]) -> Callable[[], None]:
        """Call ``callback`` (on the event loop) whenever the scope stores events; return the
        unsubscriber."""
        ...


class ReplicaAccess:
    """The in-memory :class:`ScopeAccess`: replicas held in this process, called on the loop (for
    tests and for one process serving its own rooms to browsers)."""

    def __init__(self, *replicas: Replica) -> None:
        self._views = {r.scope: RoomViews(r) for r in replicas}
        self._subscribers: dict[str, list[Callable[[], None]]] = {}

    async def views(self, scope: str) -> RoomViews | None:
        return self._views.get(scope)

    async def call(self, scope: str, fn: Callable[[], T]) -> T:
        return fn()

    async def ingest(self, scope: str, raws: Sequence[bytes]) -> IngestReport:
        report = self._views[scope].replica.ingest(raws, source="ui")
        if report.accepted:
            for callback in list(self._subscribers.get(scope, ())):
                callback()
        return report

    async def append_local(self, scope: str, raws: Sequence[bytes]) -> None:
        self._views[scope].replica.append_signed(raws)
        for callback in list(self._subscribers.get(scope, ())):
            callback()

    def subscribe(self, scope: str, callback: Callable[[], None]) -> Callable[[], None]:
        self._subscribers.setdefault(scope, []).append(callback)
        return lambda: self._subscribers[scope].remove(callback)


@dataclass
class _Session:
    scope: str
    author: str
    expires: float


@dataclass
class _Prepared:
    """The events prepared for one viewer of one scope, waiting for its signatures. A new prepare
    replaces them: they would share sequence numbers (only one chain can be the author's next)."""

    events: dict[str, UnsignedEvent] = field(default_factory=dict)
    expires: float = 0.0


def _signing(events: Sequence[UnsignedEvent]) -> list[dict[str, str]]:
    return [{"id": u.id, "message": base64.b64encode(u.signing_message).decode()} for u in events]


def create_remote_ui(access: ScopeAccess, *, runs: Path | None = None) -> Starlette:
    """Return the UI app for the scopes ``access`` holds (mount it, e.g. at ``/ui``)."""
    sessions: dict[str, _Session] = {}
    nonces: dict[str, tuple[str, float]] = {}
    prepared: dict[tuple[str, str], _Prepared] = {}
    broadcasts: dict[str, Broadcast] = {}

    def now() -> float:
        return time.monotonic()

    def session_of(request: Request) -> _Session:
        scope = request.path_params["scope"]
        found = sessions.get(request.cookies.get(SESSION_COOKIE, ""))
        if found is None or found.scope != scope or found.expires < now():
            raise _NoSession
        return found

    def with_session(fn: Handler) -> Handler:
        async def handler(request: Request) -> Response:
            try:
                session_of(request)
            except _NoSession:
                return JSONResponse(
                    {"error": "sign in first: your key signs a challenge (POST …/api/session)"}, 401
                )
            return await fn(request)

        return handler

    async def base(scope: str) -> RoomViews:
        views = await access.views(scope)
        if views is None:
            raise NotFound(f"this server holds no scope {scope}")
        return views

    async def run(request: Request, fn: Callable[[RoomViews], Any]) -> Any:
        session = session_of(request)
        views = await base(session.scope)
        return await access.call(session.scope, lambda: fn(views.for_viewer(session.author)))

    async def page(request: Request) -> Response:
        return page_response()

    async def challenge(request: Request) -> Response:
        for n, (_, t) in list(nonces.items()):
            if now() - t > NONCE_TTL:
                del nonces[n]
        nonce = new_nonce()
        nonces[nonce] = (request.path_params["scope"], now())
        return JSONResponse({"challenge": nonce, "expires_in": NONCE_TTL})

    async def sign_in(request: Request) -> Response:
        scope = request.path_params["scope"]
        found = await body(request)
        author, nonce, signature = (str(found.get(k, "")) for k in ("author", "nonce", "signature"))
        issued = nonces.pop(nonce, None)
        if issued is None or issued[0] != scope or now() - issued[1] > NONCE_TTL:
            return JSONResponse({"error": "unknown or expired challenge: take a new one"}, 401)
        if not check_signature(author, signature, scope, nonce):
            return JSONResponse({"error": "the signature does not verify for that author"}, 401)
        views = await base(scope)

        def allowed() -> str:
            replica = views.replica
            if not replica.is_member(author):
                return "this key is neither an owner nor a grantee of the room: send its author to an owner"
            patterns = replica.readable(author)
            if patterns is not None and "*" not in patterns:
                return "the review UI shows the whole room; this key's grants read only part of it"
            return ""

        why = await access.call(scope, allowed)
        if why:
            return JSONResponse({"error": why, "author": author}, 403)
        sid = secrets.token_urlsafe(24)
        for k, s in list(sessions.items()):
            if s.expires < now():
                del sessions[k]
        sessions[sid] = _Session(scope, author, now() + SESSION_TTL)
        response = JSONResponse({"author": author, "scope": scope})
        path = f"{request.scope.get('root_path', '')}/{scope}/"
        response.set_cookie(
            SESSION_COOKIE, sid, httponly=True, samesite="strict", path=path, max_age=int(SESSION_TTL)
        )
        return response

    async def who(request: Request) -> Response:
        try:
            session = session_of(request)
        except _NoSession:
            return JSONResponse({"author": None})
        return JSONResponse({"author": session.author})

    def keep(session: _Session, events: list[UnsignedEvent]) -> list[dict[str, str]]:
        prepared[(session.scope, session.author)] = _Prepared({u.id: u for u in events}, now() + PREPARED_TTL)
        return _signing(events)

    async def prepare_reviews(request: Request) -> Response:
        session = session_of(request)
        found = await body(request)
        what, note = decision(found)
        force = bool(found.get("force"))
        views = await base(session.scope)

        def build() -> dict[str, Any]:
            replica = views.replica
            if "ids" in found:
                ids = found["ids"]
                if not isinstance(ids, list) or not all(isinstance(i, str) for i in ids) or not ids:
                    raise UsageError('"ids" must be a non-empty list of proposal ids')
            else:
                chosen = found.get("filters")
                if not isinstance(chosen, dict):
                    raise UsageError('give "ids", or "filters" and "expect" (the count the user confirmed)')
                ids = views.matching(filters({**chosen, "status": "pending"}))
                if found.get("expect") != len(ids):
                    moved = f"the filter now matches {len(ids)} pending proposals, not {found.get('expect')}"
                    raise UsageError(moved + "; confirm again")
            if len(ids) > MAX_BULK:
                raise UsageError(f"a bulk review decides at most {MAX_BULK} proposals; narrow the filter")
            payloads, skipped = _review_payloads(replica, session.author, ids, what, note, force)
            events = (
                replica.prepare_for(session.author, [("review", p) for p in payloads]) if payloads else []
            )
            return {"events": keep(session, events), "skipped": skipped}

        return JSONResponse(await access.call(session.scope, build))

    async def prepare_reads(request: Request) -> Response:
        session = session_of(request)
        found = await body(request)
        versions = found.get("versions")
        if not isinstance(versions, list) or not all(isinstance(v, str) for v in versions) or not versions:
            raise UsageError('"versions" must be a non-empty list of version ids')
        views = await base(session.scope)

        def build() -> dict[str, Any]:
            replica = views.replica
            changes = []
            for vid in dict.fromkeys(versions):
                key = ("DocumentVersion", vid)
                state = replica.state_at(only=[key]).entities.get(key)
                if state is None:
                    raise NotFound(f"no version {vid} in this room")
                v = DocumentVersion.from_state(vid, state)
                changes.append((ACCESS, access_payload(v.document, v.id, v.content_hash, "ui")))
            return {"events": keep(session, replica.prepare_for(session.author, changes, local=True))}

        return JSONResponse(await access.call(session.scope, build))

    async def submit(request: Request) -> Response:
        session = session_of(request)
        found = await body(request)
        signed = found.get("events")
        if not isinstance(signed, list) or not signed or not all(isinstance(e, dict) for e in signed):
            raise UsageError('"events" must be a list of {"id", "signature"} (hex) for prepared events')
        waiting = prepared.get((session.scope, session.author))
        if waiting is None or waiting.expires < now():
            raise UsageError("nothing is waiting for a signature (or it expired): prepare again")
        raws, local = [], []
        for e in signed:
            unsigned = waiting.events.get(str(e.get("id", "")))
            if unsigned is None:
                raise UsageError(
                    f"event {str(e.get('id'))[:24]}… was not prepared for you, or was replaced: prepare again"
                )
            try:
                raws.append(unsigned.seal(bytes.fromhex(str(e.get("signature", "")))).raw)
            except ValueError as err:
                raise UsageError(f"the signature of {unsigned.id[:24]}… is not 128 hex digits") from err
            local.append(unsigned.local)
        if all(local):  # reads: this server's own log of who read what through it
            try:
                await access.append_local(session.scope, raws)
            except (RejectedEvent, IntegrityError) as err:
                raise UsageError(f"the signed reads were refused: {err}; prepare again") from err
            del prepared[(session.scope, session.author)]
            return JSONResponse({"accepted": len(raws), "refused": {}})
        report = await access.ingest(session.scope, raws)
        del prepared[(session.scope, session.author)]
        refused = {i: f"{r}: {d}" for i, r, d in report.quarantined} | {
            str(i): f"{r}: {d}" for i, r, d in report.rejected if i is not None
        }
        if report.rejected and not refused:
            refused = {"": "; ".join(f"{r}: {d}" for _, r, d in report.rejected)}
        return JSONResponse(
            {"accepted": len(report.accepted), "refused": refused},
            200 if not refused else 400 if report.rejected else 403,
        )

    async def live(request: Request) -> Response:
        session = session_of(request)
        channel = broadcasts.get(session.scope)
        if channel is None:
            channel = broadcasts[session.scope] = Broadcast()
            # One subscription per scope for every open page; the message only says "refetch".
            access.subscribe(session.scope, partial(channel.send, "{}"))
        return channel.response()

    async def openapi(request: Request) -> Response:
        return JSONResponse(REMOTE_OPENAPI)

    scoped = [
        Route(r.path.replace("/api/", "/{scope}/api/", 1), r.endpoint)
        for r in read_routes(run, runs, wrap=with_session)
    ]
    routes = [
        Route("/", page),
        asset_route("/assets/{name}"),
        Route("/{scope}/", page),
        asset_route("/{scope}/assets/{name}"),
        Route("/{scope}/api/openapi.json", openapi),
        Route("/{scope}/api/challenge", guarded(challenge)),
        Route("/{scope}/api/session", guarded(sign_in), methods=["POST"]),
        Route("/{scope}/api/session", who),
        *scoped,
        Route("/{scope}/api/reviews/prepare", with_session(guarded(prepare_reviews)), methods=["POST"]),
        Route("/{scope}/api/reads/prepare", with_session(guarded(prepare_reads)), methods=["POST"]),
        Route("/{scope}/api/events", with_session(guarded(submit)), methods=["POST"]),
        Route("/{scope}/api/live", with_session(live)),
    ]
    return Starlette(routes=routes)


class _NoSession(Exception):
    pass


def _review_payloads(
    replica: Replica, author: str, ids: Sequence[str], what: Decision, note: str, force: bool
) -> tuple[list[dict[str, Any]], dict[str, str]]:
    """The review payloads ``author`` may sign for ``ids`` (:func:`check_decision`, the local UI's
    rule); what it may not, and why. One proposal asked for alone and refused is an error (403 or
    400); in a set it is skipped and reported."""
    payloads: list[dict[str, Any]] = []
    skipped: dict[str, str] = {}
    for pid in ids:
        info = proposal(replica, pid)
        try:
            check_decision(replica, author, info, what, force=force)
        except (CapabilityDenied, UsageError) as e:
            if len(ids) == 1:
                raise
            skipped[info.id] = str(e)
            continue
        payloads.append({"proposal": info.id, "decision": what, "note": note})
    return payloads, skipped
