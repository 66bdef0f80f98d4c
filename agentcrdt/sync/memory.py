"""Drivers that run two :class:`SyncSession` s against each other in one process: a synchronous pump
(for tests and benchmarks: it counts round trips) and an anyio one over memory object streams (the
shape every network driver has: send what ``start`` and ``handle`` return, stop once synced)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import anyio
from anyio.abc import ObjectReceiveStream, ObjectSendStream

from agentcrdt.errors import SyncError
from agentcrdt.sync.session import SyncSession

__all__ = ["PumpResult", "pump", "run_session", "sync_in_memory"]

#: A frame filter between the two sides (for fault tests): returns the frames to deliver in its place.
Channel = Callable[[bytes], list[bytes]]


@dataclass
class PumpResult:
    rounds: int  # exchanges of every frame in flight (a round trip is two)
    frames: int
    bytes: int


def pump(
    a: SyncSession,
    b: SyncSession,
    *,
    max_rounds: int = 64,
    a_to_b: Channel | None = None,
    b_to_a: Channel | None = None,
    shuffle: Callable[[list[bytes]], None] | None = None,
) -> PumpResult:
    """Exchange frames between ``a`` and ``b`` in rounds (every frame in flight delivered, the answers
    collected) until nothing is in flight; SyncError if that takes more than ``max_rounds``.
    ``shuffle`` reorders each round's frames in place (``random.Random(seed).shuffle``: a network
    that reorders)."""
    to_b, to_a = a.start(), b.start()
    rounds = frames = size = 0
    while to_a or to_b:
        if rounds == max_rounds:
            raise SyncError(f"no quiescence after {max_rounds} rounds")
        rounds += 1
        frames += len(to_a) + len(to_b)
        size += sum(map(len, to_a)) + sum(map(len, to_b))
        deliver_b = [g for f in to_b for g in (a_to_b(f) if a_to_b else [f])]
        deliver_a = [g for f in to_a for g in (b_to_a(f) if b_to_a else [f])]
        if shuffle is not None:
            shuffle(deliver_a)
            shuffle(deliver_b)
        to_a = [r for f in deliver_b for r in b.handle(f)]
        to_b = [r for f in deliver_a for r in a.handle(f)]
    return PumpResult(rounds, frames, size)


async def run_session(
    session: SyncSession,
    send: ObjectSendStream[bytes],
    receive: ObjectReceiveStream[bytes],
    *,
    until_synced: bool = True,
) -> None:
    """Run ``session`` over a pair of streams until it is synced (or, live, until the peer closes)."""
    async with send, receive:
        try:
            for frame in session.start():
                await send.send(frame)
            async for frame in receive:
                for reply in session.handle(frame):
                    await send.send(reply)
                if until_synced and session.synced:
                    return
        except anyio.BrokenResourceError:
            return  # the peer is done and gone: what it still needed, it asks for next time


async def sync_in_memory(a: SyncSession, b: SyncSession, *, buffer: int = 64) -> None:
    """Sync two sessions over anyio memory object streams, both sides concurrently."""
    a_send, b_recv = anyio.create_memory_object_stream[bytes](buffer)
    b_send, a_recv = anyio.create_memory_object_stream[bytes](buffer)
    async with anyio.create_task_group() as tg:
        tg.start_soon(run_session, a, a_send, a_recv)
        tg.start_soon(run_session, b, b_send, b_recv)
