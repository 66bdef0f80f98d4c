"""``agentcrdt ui --room PATH``: the review UI of a local room, in the browser."""

from __future__ import annotations

import argparse
from typing import Any

__all__ = ["register"]


def register(sub: Any) -> None:
    ui = sub.add_parser("ui", help="review proposals, documents and the audit trail in the browser")
    ui.add_argument("--room", required=True, help="the room's SQLite file")
    ui.add_argument(
        "--key", help="the reviewer's key (default: $AGENTCRDT_KEY, else ROOM.key; none: read-only)"
    )
    ui.add_argument("--runs", default="runs", help="folder of eval runs to list (default ./runs)")
    ui.add_argument("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1)")
    ui.add_argument("--port", type=int, default=8766, help="port (default 8766)")
    ui.add_argument("--no-open", action="store_true", help="print the address; do not open a browser")
    ui.set_defaults(handler=_ui)


def _ui(args: argparse.Namespace) -> int:
    from agentcrdt.cli.room import _identity
    from agentcrdt.ui import serve_room

    identity = _identity(args.room, args.key, required=False)
    serve_room(
        args.room,
        identity=identity,
        runs=args.runs,
        host=args.host,
        port=args.port,
        open_browser=not args.no_open,
    )
    return 0
