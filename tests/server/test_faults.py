"""Faults on loopback, through a proxy between peers and the server: delay, dropped connections,
partition and heal, a server restart, and a client SIGKILLed mid-sync. Nothing acknowledged is lost and
every replica converges once the network heals."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

import anyio
import pytest

from agentcrdt.errors import SyncError
from agentcrdt.sync.websocket import sync_with_server
from tests.server._proxy import FaultyProxy
from tests.server._serve import MAIN, ServeProcess, serving
from tests.server.test_server import BOB, OWNER, _join, _room, _sync, _write

ROOT = Path(__file__).resolve().parents[2]


def _port(url: str) -> int:
    return int(url.rsplit(":", 1)[1])


def test_a_slow_link_still_converges(tmp_path: Path) -> None:
    owner = _room(200)
    with serving(tmp_path / "srv") as url:
        proxy = FaultyProxy(_port(url))
        proxy.delay = 0.02
        _sync(proxy.url, OWNER, owner.scope, owner)
        bob = _join(proxy.url, BOB, owner.scope)
        assert bob.heads == owner.heads


def test_a_dropped_connection_fails_the_sync_and_a_retry_completes_it_without_loss(tmp_path: Path) -> None:
    owner = _room(400)
    with serving(tmp_path / "srv") as url:
        proxy = FaultyProxy(_port(url))
        proxy.drop_after = 30_000  # part of the events get through, then the link dies
        with pytest.raises(SyncError):
            anyio.run(sync_with_server, proxy.url, OWNER, owner.scope, owner)
        proxy.drop_after = None
        _sync(proxy.url, OWNER, owner.scope, owner)
        bob = _join(url, BOB, owner.scope)
        assert bob.heads == owner.heads and bob.state_hash() == owner.state_hash()


def test_a_partition_heals_and_both_sides_writes_converge(tmp_path: Path) -> None:
    owner = _room(10)
    with serving(tmp_path / "srv") as url:
        _sync(url, OWNER, owner.scope, owner)
        bob = _join(url, BOB, owner.scope)
        proxy = FaultyProxy(_port(url))
        proxy.partition()
        _write(owner, 5, "during")
        _write(bob, 5, "partition")
        with pytest.raises(SyncError, match="within"):
            anyio.run(lambda: sync_with_server(proxy.url, OWNER, owner.scope, owner, timeout=1.0))
        proxy.heal()
        for replica, ident in ((owner, OWNER), (bob, BOB), (owner, OWNER)):
            _sync(proxy.url, ident, owner.scope, replica)
        assert owner.heads == bob.heads and owner.state_hash() == bob.state_hash()


def test_a_live_peer_rides_out_a_server_restart(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from agentcrdt.cli._main import run as cli
    from agentcrdt.rooms.local import open_local

    server = ServeProcess(tmp_path / "srv", log=tmp_path / "serve.log")
    a, b = tmp_path / "a.db", tmp_path / "b.db"
    try:
        assert cli(["room", "init", str(a), "--json"]) == 0
        scope = json.loads(capsys.readouterr().out)["scope"]
        assert cli(["sync", "--room", str(a), "--server", server.url]) == 0
        args = ["sync", "--room", str(b), "--server", server.url, "--scope", scope, "--key", f"{a}.key"]
        assert cli(args) == 0  # the owner's second machine (same key: it only reads here)
        follower = subprocess.Popen(
            [sys.executable, "-c", MAIN, *args, "--watch"],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        try:
            time.sleep(1.0)
            server.kill()  # the live session dies with the server
            server.start()
            assert (
                cli(["room", "add", str(a), str(ROOT / "examples/falcon/documents/01-mutual-nda.txt")]) == 0
            )
            assert cli(["sync", "--room", str(a), "--server", server.url]) == 0
            want = open_local(a)
            heads = want.heads
            want.close()
            deadline = time.monotonic() + 30
            got = None
            while time.monotonic() < deadline:
                r = open_local(b)
                got = r.heads
                r.close()
                if got == heads:
                    break
                time.sleep(0.3)
            assert got == heads  # the follower reconnected and caught up
        finally:
            follower.kill()
            follower.wait()
    finally:
        server.stop()


CLIENT = """
import sys, anyio
from agentcrdt.log.keys import Identity
from agentcrdt.rooms.local import open_local
from agentcrdt.sync.websocket import sync_with_server
room = open_local(sys.argv[2], identity=Identity.from_name("srv-owner"))
print("syncing", flush=True)
anyio.run(sync_with_server, sys.argv[1], Identity.from_name("srv-owner"), room.scope, room)
"""


def test_a_client_killed_mid_sync_leaves_server_and_room_whole_and_a_rerun_completes(tmp_path: Path) -> None:
    from agentcrdt.capabilities import Capability
    from agentcrdt.rooms.local import create_local, open_local
    from agentcrdt.rooms.workflow import grant

    path = tmp_path / "big.db"
    room = create_local(path, OWNER, "big")
    grant(room, BOB.author, Capability("writer", writes=("Doc.*",), mode="direct"))
    _write(room, 3000)
    scope, heads = room.scope, room.heads
    room.close()
    with serving(tmp_path / "srv") as url:
        proxy = FaultyProxy(_port(url))
        proxy.delay = 0.005  # slow enough to be killed half-way
        proc = subprocess.Popen([sys.executable, "-c", CLIENT, proxy.url, str(path)], cwd=ROOT,
                                stdout=subprocess.PIPE)  # fmt: skip
        assert proc.stdout is not None and proc.stdout.readline().strip() == b"syncing"
        time.sleep(1.5)
        proc.kill()  # SIGKILL, mid-transfer
        proc.wait()
        partial = _join(url, BOB, scope)  # what the server acknowledged is consistent and servable
        assert len(list(partial.events())) <= 3002
        again = open_local(path, identity=OWNER)  # the client's room file is intact
        assert again.heads == heads
        _sync(url, OWNER, scope, again)
        bob = _join(url, BOB, scope)
        assert bob.heads == heads
        again.close()
