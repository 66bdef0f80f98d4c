"""The sync server: :class:`Hub` (scopes, each a replica, and their live peers) and
:func:`create_app` (the ASGI app). Imported by ``agentcrdt serve`` only: it needs the ``server`` extra
(starlette, uvicorn, websockets)."""

from pathlib import Path

from agentcrdt.errors import UsageError
from agentcrdt.server.hub import Hub, ScopeHub

__all__ = ["Hub", "ScopeHub", "serve"]


def serve(
    location: str | Path, *, host: str = "127.0.0.1", port: int = 8765, queue: str | None = None
) -> None:
    """Run the server over ``location`` (a directory or a PostgreSQL URL) until interrupted;
    ``queue``: a NATS URL to announce work on for remote agent workers."""
    try:
        import uvicorn

        from agentcrdt.server.app import create_app
    except ImportError as e:
        raise UsageError("the sync server needs its extra: pip install 'agentcrdt[server]'") from e
    app = create_app(Hub(location), queue=queue)
    uvicorn.run(app, host=host, port=port, log_level="warning", ws="websockets-sansio")
