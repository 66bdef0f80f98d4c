"""A sync server on a free loopback port: in a thread (:func:`serving`), in a process running
``agentcrdt serve`` (:class:`ServeProcess`), or ``python _serve.py LOCATION PORT [POLL]``."""

from __future__ import annotations

import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
import uvicorn

from agentcrdt.server import Hub
from agentcrdt.server.app import create_app

MAIN = "import sys; from agentcrdt.cli._main import run; sys.exit(run(sys.argv[1:]))"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextmanager
def serve_app(app: Any, **config: Any) -> Iterator[str]:
    """Serve an ASGI app on a free loopback port in a thread until the block ends; yield its URL.
    Open event streams never end by themselves: stopping cuts them after a second."""
    port = free_port()
    options = {"log_level": "warning", "lifespan": "on", "timeout_graceful_shutdown": 1, **config}
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, **options))
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


@contextmanager
def serving(location: str | Path | Hub, *, poll_interval: float = 0.1) -> Iterator[str]:
    """Run a server over ``location`` (or that hub) until the block ends; yield its http:// URL."""
    hub = location if isinstance(location, Hub) else Hub(location)
    with serve_app(create_app(hub, poll_interval=poll_interval), ws="websockets-sansio") as url:
        yield url


class ServeProcess:
    """``agentcrdt serve --store STORE`` (and ``extra`` flags) on a free port, in a child process.

    Its stderr goes to a file, never an unread pipe: a pipe fills and blocks the server mid-write, and
    what the server logged about a failure is what a failing test needs to show (:meth:`stop` prints it,
    so pytest reports it with the failing test's captured output)."""

    def __init__(self, store: Path, *extra: str, log: Path) -> None:
        self.store, self.extra, self.log = store, extra, log
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.start()

    def start(self) -> None:
        """Start the server (again, on the same port and store) and wait until it answers /health."""
        with self.log.open("ab") as err:
            self.proc = subprocess.Popen(
                [sys.executable, "-c", MAIN, "serve", "--store", str(self.store), "--port", str(self.port),
                 *self.extra],
                stdout=subprocess.DEVNULL, stderr=err,
            )  # fmt: skip
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and self.proc.poll() is None:
            try:
                if httpx.get(f"{self.url}/health", timeout=1).status_code == 200:
                    return
            except httpx.HTTPError:
                time.sleep(0.1)
        self.kill()
        raise RuntimeError(f"agentcrdt serve did not start:\n{self.output()}")

    def kill(self) -> None:
        self.proc.kill()
        self.proc.wait()

    def output(self) -> str:
        """What the server wrote to stderr so far (every run of it)."""
        return self.log.read_text(errors="replace") if self.log.exists() else ""

    def stop(self) -> None:
        """Kill the server and print its log, if it wrote one (pytest shows it when the test failed)."""
        self.kill()
        if text := self.output():
            print(f"--- agentcrdt serve stderr ({self.log}) ---\n{text}", file=sys.stderr)


if __name__ == "__main__":  # python _serve.py LOCATION PORT [POLL_SECONDS]
    port = int(sys.argv[2])
    poll = float(sys.argv[3]) if len(sys.argv) > 3 else 0.1
    uvicorn.run(
        create_app(Hub(sys.argv[1]), poll_interval=poll), host="127.0.0.1", port=port, log_level="warning",
        ws="websockets-sansio",
    )  # fmt: skip
