"""The sync server: :class:`Hub` (scopes, each a replica, and their live peers) and
:func:`create_app` (the ASGI app). Imported by ``agentcrdt serve`` only: it needs the ``server`` extra
(starlette, uvicorn, websockets)."""

from agentcrdt.server.hub import Hub, ScopeHub

__all__ = ["Hub", "ScopeHub"]
