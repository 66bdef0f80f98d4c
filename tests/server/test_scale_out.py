"""Scale-out: two server processes over one PostgreSQL. A peer on one sees a peer on the other live
(LISTEN/NOTIFY, with the poll set too slow to be what delivers), and when one server is killed
mid-work and restarted, nothing acknowledged is lost and every replica converges."""

from __future__ import annotations

import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import anyio
import httpx
import pytest

from agentcrdt.replica import Replica
from agentcrdt.rooms.workflow import grant
from agentcrdt.sync.websocket import sync_with_server
from tests.server._serve import free_port
from tests.server.test_server import BOB, CAROL, OWNER, WRITE, _join, _room, _sync, _write

SERVE = Path(__file__).with_name("_serve.py")
ROOT = Path(__file__).resolve().parents[2]


class Proc:
    def __init__(self, location: str, poll: float) -> None:
        self.location, self.poll, self.port = location, poll, free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.start()

    def start(self) -> None:
        self.proc = subprocess.Popen(
            [sys.executable, str(SERVE), self.location, str(self.port), str(self.poll)], cwd=ROOT
        )
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            try:
                if httpx.get(f"{self.url}/health", timeout=1).status_code == 200:
                    return
            except httpx.HTTPError:
                time.sleep(0.1)
        raise RuntimeError("a test server did not start")

    def kill(self) -> None:
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait()


@pytest.fixture
def two_servers(postgres_url: str, postgres_schema: str) -> Iterator[tuple[Proc, Proc]]:
    location = f"{postgres_url}#schema={postgres_schema}"
    servers = (Proc(location, 30.0), Proc(location, 30.0))  # polls too slow to matter: NOTIFY delivers
    yield servers
    for s in servers:
        s.proc.kill()
        s.proc.wait()


def test_a_live_peer_on_one_server_sees_a_write_made_through_the_other(
    two_servers: tuple[Proc, Proc],
) -> None:
    one, two = two_servers
    owner = _room()
    _sync(one.url, OWNER, owner.scope, owner)
    bob = _join(two.url, BOB, owner.scope)  # server two opens the scope from PostgreSQL
    assert bob.heads == owner.heads
    arrived = anyio.Event()

    async def scenario() -> float:
        async with anyio.create_task_group() as tg:
            tg.start_soon(
                lambda: sync_with_server(
                    two.url, BOB, owner.scope, bob, watch=True, on_change=lambda n: arrived.set()
                )
            )
            await anyio.sleep(0.5)
            _write(owner, 3, "across")
            t0 = time.monotonic()
            await sync_with_server(one.url, OWNER, owner.scope, owner)
            with anyio.fail_after(10):
                await arrived.wait()
            elapsed = time.monotonic() - t0
            tg.cancel_scope.cancel()
            return elapsed

    latency = anyio.run(scenario)
    assert latency < 2.0
    deadline = time.monotonic() + 5
    while bob.heads != owner.heads and time.monotonic() < deadline:
        time.sleep(0.05)  # the three events may arrive in more than one push
    assert bob.heads == owner.heads


def test_killing_a_server_mid_work_loses_nothing_acknowledged_and_all_converge(
    two_servers: tuple[Proc, Proc],
) -> None:
    one, two = two_servers
    owner = _room()
    grant(owner, CAROL.author, WRITE)
    _sync(one.url, OWNER, owner.scope, owner)
    bob, carol = _join(two.url, BOB, owner.scope), _join(one.url, CAROL, owner.scope)
    peers: list[tuple[Replica, object]] = [(owner, OWNER), (bob, BOB), (carol, CAROL)]
    for rnd in range(3):
        for i, (r, ident) in enumerate(peers):
            _write(r, 5, f"k{rnd}{i}")
            server = (one, two)[(rnd + i) % 2]
            if server is one and rnd == 1:
                one.kill()  # killed with work in flight; its peers use the other server meanwhile
                server = two
            _sync(server.url, ident, owner.scope, r)  # type: ignore[arg-type]
        if rnd == 1:
            one.start()  # restarted on the same PostgreSQL
    for _ in range(2):
        for i, (r, ident) in enumerate(peers):
            _sync((one, two)[i % 2].url, ident, owner.scope, r)  # type: ignore[arg-type]
    assert owner.heads == bob.heads == carol.heads
    assert owner.state_hash() == bob.state_hash() == carol.state_hash()
    assert len(list(owner.events())) == 1 + 2 + 20 + 45  # genesis, grants, writes: nothing lost
