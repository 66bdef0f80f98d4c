"""Sync: two replicas diverged by ``DIVERGE`` events each (on a shared past of ``SHARED`` events, by two
authors) converge through the sync protocol; bytes and rounds against the minimum (the encoded size of
the events each lacks), beside the raw primitive in the same process (``Replica.sync_with``: each side
reads the other's heads and sends its past beyond them, with no protocol and no wire; heads it does not
know tell it nothing, so diverged replicas send each other everything).

Figures: bytes on the wire both ways, rounds (one round delivers every frame in flight; a round trip
is two), seconds, events per second; ratios: the minimum over the protocol's bytes (1.0 is perfect; the
issue asks for at least 1/1.1), the raw primitive's time over the protocol's, and the whole logs'
bytes (what sending everything would cost) over the protocol's.
"""

from __future__ import annotations

import random
import time

from _common import emit, line, load_line, peak_rss_mb, quick

from agentcrdt.capabilities import Capability
from agentcrdt.log.keys import Identity
from agentcrdt.replica import Replica
from agentcrdt.rooms.local import create_memory, join_memory
from agentcrdt.rooms.workflow import grant
from agentcrdt.sync import SyncSession
from agentcrdt.sync.memory import pump

SHARED, DIVERGE = (50, 200) if quick() else (1_000, 10_000)


def edit(rng: random.Random, r: Replica, n: int) -> None:
    for i in range(n):
        key = rng.choice("abcdefgh")
        r.commit("ops", {"ops": [{"e": "Doc", "id": key, "f": "t", "t": "lww", "op": {"set": f"v{i}"}}]})


def diverged() -> tuple[Replica, Replica]:
    rng = random.Random(1)
    owner = create_memory(Identity.from_name("owner"), "bench")
    ids = [Identity.from_name(n) for n in ("alice", "bob")]
    for ident in ids:
        grant(owner, ident.author, Capability("w", writes=("Doc.*",), mode="direct"))
    a, b = (join_memory(owner, ident) for ident in ids)
    edit(rng, a, SHARED)
    b.ingest(a.missing_for(b.heads))
    edit(rng, a, DIVERGE)
    edit(rng, b, DIVERGE)
    return a, b


def minimum(a: Replica, b: Replica) -> int:
    """The encoded size of the events each side lacks."""
    ids = {r: {e.id for e in r.events()} for r in (a, b)}
    return sum(len(e.raw) for r, o in ((a, b), (b, a)) for e in r.events() if e.id not in ids[o])


def main() -> None:
    print(f"sync: two replicas, {DIVERGE:,} new events each on {SHARED:,} shared; {load_line()}")
    a, b = diverged()
    need = minimum(a, b)
    whole = sum(len(e.raw) for r in (a, b) for e in r.events())
    ra, rb = join_memory(a), join_memory(b)  # the same holdings, for the raw primitive
    sa, sb = SyncSession(a), SyncSession(b)
    t0 = time.perf_counter()
    result = pump(sa, sb)
    proto_s = time.perf_counter() - t0
    assert a.heads == b.heads and a.state_hash() == b.state_hash()
    t0 = time.perf_counter()
    ra.sync_with(rb)
    raw_s = time.perf_counter() - t0
    assert ra.heads == rb.heads == a.heads
    moved = sa.stats.accepted + sb.stats.accepted
    line("events each side lacked", moved, "events")
    line("minimum: their encoded size", need / 1e6, "MB")
    line("protocol: bytes on the wire, both ways", result.bytes / 1e6, "MB")
    line("protocol: bytes over the minimum", result.bytes / need, "x")
    line("protocol: rounds (a round trip is two)", result.rounds, "rounds")
    line("protocol: frames", result.frames, "frames")
    line("protocol: seconds", proto_s, "s")
    line("raw sync_with (reference): seconds", raw_s, "s")
    line("sending both whole logs instead", whole / 1e6, "MB")
    line("peak RSS", peak_rss_mb(), "MiB")
    emit(
        "sync",
        {
            "events": moved,
            "missing_bytes": need,
            "protocol_bytes": result.bytes,
            "protocol_rounds": result.rounds,
            "protocol_s": proto_s,
            "raw_s": raw_s,
            "protocol_events_per_s": moved / proto_s,
            "peak_rss_mb": peak_rss_mb(),
        },
        {
            "minimum_vs_protocol_bytes": need / result.bytes,
            "raw_vs_protocol_time": raw_s / proto_s,
            "whole_logs_vs_protocol_bytes": whole / result.bytes,
        },
    )


if __name__ == "__main__":
    main()
