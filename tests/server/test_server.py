"""The sync server over real loopback sockets: peers sync through it and converge, live peers see each
other's writes within a second, it persists across a restart, authenticates by key, refuses
non-members and protocol breakers, and documents and reports itself (OpenAPI, health, metrics, SSE)."""

from __future__ import annotations

import base64
import contextlib
import json
import time
from pathlib import Path

import anyio
import httpx
import pytest
from websockets.exceptions import ConnectionClosed

from agentcrdt.capabilities import Capability
from agentcrdt.errors import SyncError
from agentcrdt.log.keys import Identity
from agentcrdt.replica import Replica
from agentcrdt.rooms.local import create_memory
from agentcrdt.rooms.workflow import grant
from agentcrdt.store.memory import MemoryStore
from agentcrdt.sync.auth import sign_challenge
from agentcrdt.sync.websocket import sync_with_server
from tests.server._serve import serving

WRITE = Capability("writer", writes=("Doc.*",), mode="direct")
OWNER, BOB, CAROL = (Identity.from_name(n) for n in ("srv-owner", "srv-bob", "srv-carol"))


def _room(n: int = 20) -> Replica:
    room = create_memory(OWNER, "room")
    grant(room, BOB.author, WRITE)
    _write(room, n)
    return room


def _write(r: Replica, n: int, key: str = "x") -> None:
    for i in range(n):
        r.commit("ops", {"ops": [{"e": "Doc", "id": key, "f": "t", "t": "lww", "op": {"set": i}}]})


def _sync(url: str, ident: Identity, scope: str, replica: Replica) -> None:
    result = anyio.run(sync_with_server, url, ident, scope, replica)
    assert result.synced


def _join(url: str, ident: Identity, scope: str) -> Replica:
    made: list[Replica] = []

    def factory(genesis: bytes) -> Replica:
        made.append(Replica.join(MemoryStore(), genesis, identity=ident))
        return made[0]

    anyio.run(sync_with_server, url, ident, scope, factory)
    return made[0]


def test_an_owner_brings_a_room_and_a_granted_peer_joins_edits_and_both_converge(tmp_path: Path) -> None:
    owner = _room()
    with serving(tmp_path / "srv") as url:
        _sync(url, OWNER, owner.scope, owner)
        bob = _join(url, BOB, owner.scope)
        assert bob.heads == owner.heads and bob.state_hash() == owner.state_hash()
        _write(bob, 5, "y")
        _write(owner, 5, "z")
        _sync(url, BOB, owner.scope, bob)
        _sync(url, OWNER, owner.scope, owner)
        _sync(url, BOB, owner.scope, bob)
        assert bob.heads == owner.heads and bob.state_hash() == owner.state_hash()
    with serving(tmp_path / "srv") as url:  # restarted on the same store: nothing acknowledged is lost
        again = _join(url, BOB, owner.scope)
        assert again.heads == owner.heads


def test_a_live_peer_sees_another_peers_write_within_a_second(tmp_path: Path) -> None:
    owner = _room()
    with serving(tmp_path / "srv") as url:
        _sync(url, OWNER, owner.scope, owner)
        bob = _join(url, BOB, owner.scope)
        arrived = anyio.Event()

        async def scenario() -> float:
            async with anyio.create_task_group() as tg:
                tg.start_soon(
                    lambda: sync_with_server(
                        url, BOB, owner.scope, bob, watch=True, on_change=lambda n: arrived.set()
                    )
                )
                await anyio.sleep(0.3)  # bob's live session is up
                _write(owner, 1, "live")
                t0 = time.monotonic()
                await sync_with_server(url, OWNER, owner.scope, owner)
                with anyio.fail_after(5):
                    await arrived.wait()
                tg.cancel_scope.cancel()
                return time.monotonic() - t0

        latency = anyio.run(scenario)
        assert bob.heads == owner.heads
        assert latency < 1.0


def test_peers_are_authenticated_by_key_and_non_members_refused(tmp_path: Path) -> None:
    owner = _room()
    with serving(tmp_path / "srv") as url:
        with pytest.raises(SyncError, match="owner brings it"):
            _join(url, BOB, owner.scope)  # the server does not hold it, and bob cannot bring it
        _sync(url, OWNER, owner.scope, owner)
        with pytest.raises(SyncError, match="neither an owner nor a grantee"):
            _join(url, CAROL, owner.scope)

        async def forged() -> str:
            from websockets.asyncio.client import connect

            async with connect(f"{url.replace('http', 'ws')}/v1/scopes/{owner.scope}/sync") as ws:
                nonce = json.loads(await ws.recv())["challenge"]
                sig = sign_challenge(CAROL, owner.scope, nonce)  # carol's signature, claiming to be bob
                await ws.send(json.dumps({"author": BOB.author, "signature": sig}))
                with contextlib.suppress(ConnectionClosed):
                    await ws.recv()
                assert ws.close_code is not None
                return f"{ws.close_code} {ws.close_reason}"

        assert anyio.run(forged).startswith("4401")


def test_a_peer_breaking_the_protocol_is_cut_off_and_the_server_serves_on(tmp_path: Path) -> None:
    owner = _room()
    with serving(tmp_path / "srv") as url:
        _sync(url, OWNER, owner.scope, owner)

        async def garbage() -> int | None:
            from websockets.asyncio.client import connect

            async with connect(f"{url.replace('http', 'ws')}/v1/scopes/{owner.scope}/sync") as ws:
                nonce = json.loads(await ws.recv())["challenge"]
                await ws.send(
                    json.dumps({"author": BOB.author, "signature": sign_challenge(BOB, owner.scope, nonce)})
                )
                await ws.recv()  # ok
                await ws.send(b"not a frame at all")
                with contextlib.suppress(ConnectionClosed):
                    while True:
                        await ws.recv()
                return ws.close_code

        assert anyio.run(garbage) == 4400
        bob = _join(url, BOB, owner.scope)
        assert bob.heads == owner.heads
        metrics = httpx.get(f"{url}/metrics").text
        assert "agentcrdt_protocol_errors 1" in metrics


def test_health_metrics_and_openapi_describe_the_server(tmp_path: Path) -> None:
    owner = _room()
    with serving(tmp_path / "srv") as url:
        _sync(url, OWNER, owner.scope, owner)
        assert httpx.get(f"{url}/health").json() == {"status": "ok", "scopes": 1}
        metrics = httpx.get(f"{url}/metrics").text
        brought = len(list(owner.events())) - 1  # all but the genesis, which came in the handshake
        assert f"agentcrdt_events_accepted {brought}\n" in metrics
        spec = httpx.get(f"{url}/openapi.json").json()
        assert spec["openapi"].startswith("3.") and "/v1/scopes/{scope}/events" in spec["paths"]
        for path in ("/health", "/metrics", "/v1/challenge", "/v1/scopes/{scope}/sync"):
            assert path in spec["paths"]


def test_an_sse_subscriber_with_a_signed_nonce_receives_new_events(tmp_path: Path) -> None:
    owner = _room()
    with serving(tmp_path / "srv") as url:
        _sync(url, OWNER, owner.scope, owner)

        async def subscribe() -> list[dict[str, object]]:
            async with httpx.AsyncClient(base_url=url, timeout=10) as client:
                bad = await client.get(f"/v1/scopes/{owner.scope}/events", params={"nonce": "x"})
                assert bad.status_code == 401
                nonce = (await client.get("/v1/challenge")).json()["challenge"]
                params = {
                    "author": BOB.author,
                    "nonce": nonce,
                    "signature": sign_challenge(BOB, owner.scope, nonce),
                }
                got: list[dict[str, object]] = []
                async with (
                    anyio.create_task_group() as tg,
                    client.stream("GET", f"/v1/scopes/{owner.scope}/events", params=params) as response,
                ):
                    assert response.status_code == 200

                    async def write_later() -> None:
                        await anyio.sleep(0.2)
                        _write(owner, 2, "sse")
                        await sync_with_server(url, OWNER, owner.scope, owner)

                    tg.start_soon(write_later)
                    with anyio.fail_after(5):
                        async for line in response.aiter_lines():
                            if line.startswith("data: "):
                                got.append(json.loads(line[6:]))
                                if len(got) == 2:
                                    break
                    tg.cancel_scope.cancel()
                return got

        got = anyio.run(subscribe)
        assert [g["kind"] for g in got] == ["ops", "ops"]
        assert {base64.b64decode(str(g["raw"]))[:1] for g in got}  # the raw event rides along
        assert got[-1]["id"] in owner.heads


def test_a_read_only_subscriber_receives_only_what_its_grant_reads(tmp_path: Path) -> None:
    dana = Identity.from_name("srv-dana")  # a dashboard: reads findings, nothing else
    owner = _room(2)
    grant(owner, dana.author, Capability("dashboard", reads=("Finding.*",), writes=(), mode="direct"))
    with serving(tmp_path / "srv") as url:
        _sync(url, OWNER, owner.scope, owner)

        async def subscribe(who: Identity, want: int) -> list[str]:
            async with httpx.AsyncClient(base_url=url, timeout=10) as client:
                nonce = (await client.get("/v1/challenge")).json()["challenge"]
                signed = sign_challenge(who, owner.scope, nonce)
                params = {"author": who.author, "nonce": nonce, "signature": signed}
                kinds: list[str] = []
                async with (
                    anyio.create_task_group() as tg,
                    client.stream("GET", f"/v1/scopes/{owner.scope}/events", params=params) as response,
                ):

                    async def write_later() -> None:
                        await anyio.sleep(0.2)
                        _write(owner, 2, "doc")  # Doc.t: bob's grant writes it, dana's does not read it
                        owner.commit("ops", {"ops": [
                            {"e": "Finding", "id": "f1", "f": "title", "t": "lww", "op": {"set": "x"}}
                        ]})  # fmt: skip
                        await sync_with_server(url, OWNER, owner.scope, owner)

                    tg.start_soon(write_later)
                    with anyio.fail_after(5):
                        async for line in response.aiter_lines():
                            if line.startswith("data: "):
                                ops = json.loads(line[6:])["payload"]["ops"]
                                kinds.append(ops[0]["e"])
                                if len(kinds) == want:
                                    break
                    tg.cancel_scope.cancel()
                return kinds

        assert anyio.run(subscribe, dana, 1) == ["Finding"]
        assert anyio.run(subscribe, BOB, 2) == ["Doc", "Doc"]


def test_the_server_judges_what_it_ingests_as_every_replica_does(tmp_path: Path) -> None:
    owner = _room(1)
    with serving(tmp_path / "srv") as url:
        _sync(url, OWNER, owner.scope, owner)
        bob = _join(url, BOB, owner.scope)
        # Bob's grant writes Doc.*; an event writing a Finding is outside it. Forged past his own
        # replica's check by building it by hand, it reaches the server, which quarantines it.
        from agentcrdt.log.event import create_event

        deps = sorted(bob.heads)
        lamport = max(bob.dag.lamport(d) for d in deps) + 1
        forged = create_event(
            BOB, scope=bob.scope, seq=1, deps=deps, lamport=lamport, time_ms=0, kind="ops",
            payload={"ops": [{"e": "Finding", "id": "f", "f": "title", "t": "lww", "op": {"set": "x"}}]},
        )  # fmt: skip
        bob.ingest([forged.raw])
        assert bob.store.verdicts([forged.id])[forged.id][0] == "quarantined"
        _sync(url, BOB, owner.scope, bob)
        carol_view = _join(url, OWNER, owner.scope)  # a fresh replica fetched from the server
        assert carol_view.store.verdicts([forged.id])[forged.id][0] == "quarantined"
        assert carol_view.state_hash() == owner.state_hash()  # it changed nothing anywhere
