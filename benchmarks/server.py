"""Sync server: one writer pushes ``EVENTS`` signed events live through ``agentcrdt serve`` (SQLite
store, loopback) to ``SUBSCRIBERS`` live peers, each a full replica verifying what it receives; beside a
raw WebSocket echo server (the ``websockets`` library, no agentcrdt) on the same machine in the same run.

Figures: events per second ingested by the server and delivered to every subscriber; delivery latency
p50 / p99 (writer's send to a subscriber having verified and stored it); the raw echo's messages per
second and round-trip p50 / p99 for messages of the same size. Ratios: the server's fan-out deliveries
per second over the echo's round trips per second, and the echo's p99 over the server's.
"""

from __future__ import annotations

import statistics
import tempfile
import threading
import time

import anyio
import uvicorn
from _common import emit, line, load_line, peak_rss_mb, quick
from websockets.asyncio.client import connect
from websockets.asyncio.server import serve as ws_serve

from agentcrdt.capabilities import Capability
from agentcrdt.log.keys import Identity
from agentcrdt.replica import Replica
from agentcrdt.rooms.local import create_memory
from agentcrdt.rooms.workflow import grant
from agentcrdt.server import Hub
from agentcrdt.server.app import create_app
from agentcrdt.store.memory import MemoryStore
from agentcrdt.sync.session import SyncSession
from agentcrdt.sync.websocket import authenticate, sync_url, sync_with_server

EVENTS, SUBSCRIBERS = (100, 2) if quick() else (2_000, 4)
BATCH = 20  # events the writer commits and pushes per frame


def free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def start_server(location: str) -> tuple[uvicorn.Server, str]:
    port = free_port()
    config = uvicorn.Config(
        create_app(Hub(location), poll_interval=5.0), host="127.0.0.1", port=port, log_level="warning",
        ws="websockets-sansio",
    )  # fmt: skip
    server = uvicorn.Server(config)
    threading.Thread(target=server.run, daemon=True).start()
    while not server.started:
        time.sleep(0.01)
    return server, f"http://127.0.0.1:{port}"


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


async def subscriber(url: str, ident: Identity, scope: str, arrived: dict[str, float], ready: anyio.Event,
                     done: anyio.Event) -> None:  # fmt: skip
    async with connect(sync_url(url, scope), max_size=1 << 25) as ws:
        genesis = await authenticate(ws, ident, scope, None)
        session = SyncSession(Replica.join(MemoryStore(), genesis), peer="server")
        for f in session.start():
            await ws.send(f)
        seen: set[str] = set()
        async for frame in ws:
            assert isinstance(frame, bytes)
            for reply in session.handle(frame):
                await ws.send(reply)
            now = time.perf_counter()
            for i in session.received - seen:
                arrived.setdefault(i, now)
            seen |= session.received
            if session.synced:
                ready.set()
            if len(arrived) >= EVENTS:
                done.set()
                return


async def run_fanout(url: str, owner: Replica, readers: list[Identity]) -> tuple[float, list[float], float]:
    await sync_with_server(url, OWNER, owner.scope, owner)
    arrivals = [dict[str, float]() for _ in readers]
    readies = [anyio.Event() for _ in readers]
    dones = [anyio.Event() for _ in readers]
    sent: dict[str, float] = {}
    async with anyio.create_task_group() as tg:
        for ident, arrived, ready, done in zip(readers, arrivals, readies, dones, strict=True):
            tg.start_soon(subscriber, url, ident, owner.scope, arrived, ready, done)
        for r in readies:
            await r.wait()
        async with connect(sync_url(url, owner.scope), max_size=1 << 25) as ws:
            await authenticate(ws, OWNER, owner.scope, owner.genesis.raw)
            session = SyncSession(owner, peer="server")
            for f in session.start():
                await ws.send(f)
            await ws.recv()  # the server's hello
            t0 = time.perf_counter()
            for b in range(0, EVENTS, BATCH):
                ids = []
                for i in range(b, min(EVENTS, b + BATCH)):
                    op = {"e": "Doc", "id": f"d{i % 50}", "f": "t", "t": "lww", "op": {"set": i}}
                    ids.append(owner.commit("ops", {"ops": [op]}).id)
                raws = [owner.store.get(i).raw for i in ids]  # type: ignore[union-attr]
                now = time.perf_counter()
                for i in ids:
                    sent[i] = now
                for f in session.push(raws):
                    await ws.send(f)
                await anyio.sleep(0)
            with anyio.fail_after(120):
                for d in dones:
                    await d.wait()
            elapsed = time.perf_counter() - t0
        tg.cancel_scope.cancel()
    latencies = [(a[i] - sent[i]) * 1000 for a in arrivals for i in sent if i in a]
    size = sum(len(owner.store.get(i).raw) for i in sent) / len(sent)  # type: ignore[union-attr]
    return elapsed, latencies, size


async def run_echo(size: int) -> tuple[float, list[float]]:
    async def echo(ws: object) -> None:
        async for message in ws:  # type: ignore[attr-defined]
            await ws.send(message)  # type: ignore[attr-defined]

    port = free_port()
    payload = b"x" * size
    async with ws_serve(echo, "127.0.0.1", port), connect(f"ws://127.0.0.1:{port}") as ws:
        rtts: list[float] = []
        t0 = time.perf_counter()
        for _ in range(EVENTS):
            s = time.perf_counter()
            await ws.send(payload)
            await ws.recv()
            rtts.append((time.perf_counter() - s) * 1000)
        return time.perf_counter() - t0, rtts


OWNER = Identity.from_name("bench-owner")


def main() -> None:
    print(f"server: {EVENTS:,} events pushed live to {SUBSCRIBERS} subscribers; {load_line()}")
    owner = create_memory(OWNER, "bench")
    readers = [Identity.from_name(f"bench-reader-{i}") for i in range(SUBSCRIBERS)]
    for r in readers:
        grant(owner, r.author, Capability("reader", writes=("Doc.*",), mode="direct"))
    with tempfile.TemporaryDirectory() as d:
        server, url = start_server(d)
        try:
            elapsed, latencies, size = anyio.run(run_fanout, url, owner, readers)
        finally:
            server.should_exit = True
    echo_s, rtts = anyio.run(run_echo, int(size))
    ingest = EVENTS / elapsed
    delivered = EVENTS * SUBSCRIBERS / elapsed
    echo_rate = EVENTS / echo_s
    p50, p99 = statistics.median(latencies), pct(latencies, 0.99)
    e50, e99 = statistics.median(rtts), pct(rtts, 0.99)
    line("events ingested by the server (live push)", ingest, "events/s")
    line(f"deliveries to {SUBSCRIBERS} verifying subscribers", delivered, "events/s")
    line("delivery latency p50", p50, "ms")
    line("delivery latency p99", p99, "ms")
    line(f"raw websocket echo, {int(size)}-byte messages (reference)", echo_rate, "round trips/s")
    line("raw echo round trip p50", e50, "ms")
    line("raw echo round trip p99", e99, "ms")
    line("peak RSS", peak_rss_mb(), "MiB")
    emit(
        "server",
        {
            "events": EVENTS,
            "subscribers": SUBSCRIBERS,
            "ingest_per_s": ingest,
            "deliveries_per_s": delivered,
            "latency_p50_ms": p50,
            "latency_p99_ms": p99,
            "echo_round_trips_per_s": echo_rate,
            "echo_p50_ms": e50,
            "echo_p99_ms": e99,
            "peak_rss_mb": peak_rss_mb(),
        },
        {"deliveries_vs_echo": delivered / echo_rate, "echo_p99_vs_p99": e99 / p99},
    )


if __name__ == "__main__":
    main()
