"""The UI's OpenAPI document (served at ``/api/openapi.json``; a test checks it names every route)."""

from __future__ import annotations

from typing import Any

__all__ = ["OPENAPI", "REMOTE_OPENAPI"]


def _q(name: str, description: str, kind: str = "string") -> dict[str, Any]:
    return {
        "name": name,
        "in": "query",
        "required": False,
        "schema": {"type": kind},
        "description": description,
    }


def _path(name: str = "id") -> dict[str, Any]:
    return {"name": name, "in": "path", "required": True, "schema": {"type": "string"}}


PAGE = [
    _q("offset", "rows to skip (default 0)", "integer"),
    _q("limit", "rows, 1 to 200 (default 50)", "integer"),
]
FILTERS = [
    _q("status", "pending, accepted, auto_accepted, rejected or quarantined"),
    _q("agent", "the proposing author (ed25519:…)"),
    _q("kind", "the proposal kind"),
    _q("slot", "the capability slot"),
    _q("min_confidence", "lowest confidence kept, 0 to 1"),
    _q("max_confidence", "highest confidence kept, 0 to 1"),
]
ERRORS = {
    "400": {"description": "bad input; the body's 'error' says what and how to fix it"},
    "401": {"description": "no session: open the URL agentcrdt ui printed"},
    "403": {"description": "the UI's key has no right to do that; nothing was signed"},
    "404": {"description": "no such document, proposal, event, job or run"},
    "503": {"description": "agentcrdt ui is still opening the room (see /api/ready); retry later"},
}
DECISION: dict[str, Any] = {
    "type": "object",
    "required": ["decision"],
    "properties": {
        "decision": {"enum": ["accept", "reject"]},
        "note": {"type": "string", "maxLength": 2000},
        "force": {"type": "boolean", "description": "accept even if an evidence quote does not verify"},
    },
}


def _get(
    summary: str, params: list[dict[str, Any]] | None = None, media: str = "application/json"
) -> dict[str, Any]:
    return {
        "get": {
            "summary": summary,
            "parameters": params or [],
            "responses": {"200": {"description": "ok", "content": {media: {}}}, **ERRORS},
        }
    }


def _post(summary: str, schema: dict[str, Any], params: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    return {
        "post": {
            "summary": summary,
            "parameters": params or [],
            "requestBody": {"required": True, "content": {"application/json": {"schema": schema}}},
            "responses": {
                "200": {"description": "what was decided", "content": {"application/json": {}}},
                **ERRORS,
            },
        }
    }


OPENAPI: dict[str, Any] = {
    "openapi": "3.1.0",
    "info": {"title": "agentcrdt review UI", "version": "1"},
    "components": {
        "securitySchemes": {
            "session": {"type": "apiKey", "in": "cookie", "name": "agentcrdt_ui"},
            "bearer": {"type": "http", "scheme": "bearer", "description": "the token agentcrdt ui printed"},
        }
    },
    "security": [{"session": []}, {"bearer": []}],
    "paths": {
        "/api/overview": _get("The room: counts, owners, the viewer and its review rights, agents"),
        "/api/documents": _get(
            "Documents, by id", [_q("q", "substring of id or title"), _q("kind", "kind"), *PAGE]
        ),
        "/api/documents/{id}": _get(
            "A document: versions (texts read and logged), highlights, signatures", [_path()]
        ),
        "/api/proposals": _get("The proposal queue, oldest first, with facets", [*FILTERS, *PAGE]),
        "/api/proposals/{id}": _get("A proposal: three-way view, evidence in context", [_path()]),
        "/api/proposals/{id}/review": _post(
            "Accept or reject, signed with the UI's key", DECISION, [_path()]
        ),
        "/api/reviews": _post(
            "Bulk review of every pending proposal the filters match",
            {
                "type": "object",
                "required": ["decision", "filters", "expect"],
                "properties": {
                    **DECISION["properties"],
                    "filters": {
                        "type": "object",
                        "description": "the queue's filters (status is forced to pending)",
                    },
                    "expect": {
                        "type": "integer",
                        "description": "the count the user confirmed; refused if it moved",
                    },
                },
            },
        ),
        "/api/findings": _get("Findings: contradictions, connections, risks, questions", PAGE),
        "/api/access": _get("The access log: every logged read", PAGE),
        "/api/audit": _get(
            "The chain with verdicts and the whole log's verification (incremental as the log grows)",
            [*PAGE, _q("only", "'flagged'"), _q("verify", "'full': re-verify every event from the genesis")],
        ),
        "/api/events/{id}": _get("One event, decoded, with its verdict", [_path()]),
        "/api/jobs": _get("Rabbithole jobs"),
        "/api/jobs/{id}/map": _get("A job's map and interactive graph (a page)", [_path()], "text/html"),
        "/api/evals": _get("Eval runs found under --runs"),
        "/api/evals/report": _get("A run's HTML report", [_q("run", "suite/run")], "text/html"),
        "/api/evals/compare": _get("Run b against baseline a", [_q("a", "suite/run"), _q("b", "suite/run")]),
        "/api/ready": _get("{'ready': bool}: false while agentcrdt ui is still opening the room"),
        "/api/live": _get(
            "Server-Sent Events: 'change' whenever the room changes", media="text/event-stream"
        ),
    },
}


_LOCAL_ONLY = ("/api/proposals/{id}/review", "/api/reviews", "/api/ready")
_SCOPE = {"name": "scope", "in": "path", "required": True, "schema": {"type": "string"}}


def _scoped(item: dict[str, Any]) -> dict[str, Any]:
    return {m: {**op, "parameters": [_SCOPE, *op.get("parameters", [])]} for m, op in item.items()}


#: The server's UI (mounted at ``/ui``): the same reads per scope; writes are prepared, signed in the
#: browser and submitted.
REMOTE_OPENAPI: dict[str, Any] = {
    "openapi": "3.1.0",
    "info": {"title": "agentcrdt review UI (server)", "version": "1"},
    "components": {
        "securitySchemes": {"session": {"type": "apiKey", "in": "cookie", "name": "agentcrdt_ui_session"}}
    },
    "security": [{"session": []}],
    "paths": {
        **{f"/ui/{{scope}}{p}": _scoped(i) for p, i in OPENAPI["paths"].items() if p not in _LOCAL_ONLY},
        "/ui/{scope}/api/challenge": _scoped(_get("A one-use nonce to sign in with (60 s)")),
        "/ui/{scope}/api/session": _scoped({
            **_get("Who is signed in ({'author': null} if nobody)"),
            **_post("Sign in: the key's signature of 'agentcrdt-sync-auth/1\\0<scope>\\0<nonce>'", {
                "type": "object", "required": ["author", "nonce", "signature"],
                "properties": {"author": {"type": "string"}, "nonce": {"type": "string"},
                               "signature": {"type": "string", "description": "hex"}},
            }),
        }),
        "/ui/{scope}/api/reviews/prepare": _scoped(_post("Reviews to sign: one, or a confirmed set", {
            "type": "object", "required": ["decision"],
            "properties": {**DECISION["properties"], "ids": {"type": "array", "items": {"type": "string"}},
                           "filters": {"type": "object"}, "expect": {"type": "integer"}},
        })),
        "/ui/{scope}/api/reads/prepare": _scoped(_post("The access events to sign before texts show", {
            "type": "object", "required": ["versions"],
            "properties": {"versions": {"type": "array", "items": {"type": "string"}}},
        })),
        "/ui/{scope}/api/events": _scoped(_post("Signed prepared events: sealed, judged and stored", {
            "type": "object", "required": ["events"],
            "properties": {"events": {"type": "array", "items": {"type": "object", "properties": {
                "id": {"type": "string"}, "signature": {"type": "string", "description": "hex"}}}}},
        })),
    },
}  # fmt: skip
