"""The review UI in the browser: proposals with evidence, documents, findings, jobs, evals, audit, live.

``agentcrdt ui --room PATH`` serves one local room (:func:`serve_room`); the page, its script and its
style ship in this package (``static/``), so there is no build step. :mod:`.views` computes what each
page shows, :mod:`.review` decides proposals, :mod:`.app` is the HTTP surface.
"""

from __future__ import annotations

import secrets
import webbrowser
from pathlib import Path
from typing import TYPE_CHECKING

from agentcrdt.errors import UsageError

if TYPE_CHECKING:
    from agentcrdt.log.keys import Identity

__all__ = ["serve_room"]


def serve_room(
    room: str | Path,
    *,
    identity: Identity | None = None,
    runs: str | Path | None = None,
    host: str = "127.0.0.1",
    port: int = 8766,
    open_browser: bool = True,
    token: str | None = None,
) -> None:
    """Serve the review UI of the room file ``room`` until interrupted; reviews are signed with
    ``identity`` (None: read-only, and texts are withheld since every read is logged)."""
    try:
        import uvicorn

        from agentcrdt.ui.app import create_ui_app
    except ImportError as e:
        raise UsageError("the review UI needs the server extra: pip install 'agentcrdt[server]'") from e
    from agentcrdt.rooms.local import open_local
    from agentcrdt.ui.views import RoomViews

    replica = open_local(room, identity=identity)
    token = token or secrets.token_urlsafe(24)
    views = RoomViews(replica)
    # A large room takes seconds to index: the app does it once it has started, and the page says
    # so meanwhile, instead of the browser waiting on an address that does not answer yet.
    app = create_ui_app(views, token=token, runs=Path(runs) if runs else None, prepare=True)
    url = f"http://{host}:{port}/?token={token}"
    who = f"reviewing as {identity.author}" if identity else "read-only: no key (pass --key to review)"
    count = replica.store.count()
    print(f"agentcrdt review UI for {room} ({count:,} events; {who})\n  open {url}", flush=True)
    if open_browser:
        webbrowser.open(url)
    try:
        # Open pages hold event streams that never end by themselves: a stop cuts them after a second.
        uvicorn.run(app, host=host, port=port, log_level="warning", timeout_graceful_shutdown=1)
    finally:
        replica.close()
