"""A sync server on a free loopback port, in a thread (tests) or a process (``python _serve.py DIR``)."""

from __future__ import annotations

import socket
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import uvicorn

from agentcrdt.server import Hub
from agentcrdt.server.app import create_app


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextmanager
def serving(location: str | Path, *, poll_interval: float = 0.1) -> Iterator[str]:
    """Run a server over ``location`` until the block ends; yield its http:// URL."""
    port = free_port()
    config = uvicorn.Config(
        create_app(Hub(location), poll_interval=poll_interval), host="127.0.0.1", port=port,
        log_level="warning", ws="websockets-sansio", lifespan="on",
    )  # fmt: skip
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started:
        if time.monotonic() > deadline or not thread.is_alive():
            raise RuntimeError("the test server did not start")
        time.sleep(0.01)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(10)


if __name__ == "__main__":  # python _serve.py LOCATION PORT [POLL_SECONDS]
    port = int(sys.argv[2])
    poll = float(sys.argv[3]) if len(sys.argv) > 3 else 0.1
    uvicorn.run(
        create_app(Hub(sys.argv[1]), poll_interval=poll), host="127.0.0.1", port=port, log_level="warning",
        ws="websockets-sansio",
    )  # fmt: skip
