"""The server ingests in worker threads, one at a time per scope: while a peer's large batch is being
ingested, the server still answers ``/health`` and syncs other scopes, and a second peer of the same
scope waits its turn (a replica is not thread-safe).

The ingest is held open by a store that waits inside its first large append until the test lets it go,
so "the health check answered before the ingest finished" is an ordering the test controls, not a
race against the clock."""

from __future__ import annotations

import hashlib
import threading
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

import anyio
import httpx

from agentcrdt.replica import Replica
from agentcrdt.rooms.local import create_memory
from agentcrdt.server import Hub
from agentcrdt.store.base import EventRecord, EventStore
from agentcrdt.store.sqlite import SQLiteStore
from agentcrdt.sync.websocket import sync_with_server
from tests.server._serve import serving
from tests.server.test_server import BOB, OWNER, _join, _room, _sync

HELD = 30.0  # seconds a held ingest waits at most: a broken test fails, it never hangs


class _HeldStore(SQLiteStore):
    """An SQLite store whose first append of many events waits for ``release`` (after ``entered``)."""

    def __init__(self, path: Path, entered: threading.Event, release: threading.Event) -> None:
        super().__init__(path)
        self.entered, self.release = entered, release

    def append_judged(
        self, events: Sequence[EventRecord], verdicts: Mapping[str, tuple[str, str]]
    ) -> list[int]:
        if len(events) > 1 and not self.entered.is_set():
            self.entered.set()
            self.release.wait(HELD)
        return super().append_judged(events, verdicts)


class _HoldingHub(Hub):
    """A hub whose store for ``scope`` holds its first large ingest (the others are plain)."""

    def __init__(self, location: Path, scope: str) -> None:
        super().__init__(location)
        self.held_scope = scope
        self.entered, self.release = threading.Event(), threading.Event()

    def _store(self, scope: str) -> EventStore:
        if scope != self.held_scope:
            return super()._store(scope)
        path = Path(self.location) / f"{hashlib.sha256(scope.encode()).hexdigest()[:32]}.db"
        return _HeldStore(path, self.entered, self.release)


def _in_thread(fn: Callable[[], Any]) -> tuple[threading.Thread, list[Any]]:
    """Run ``fn`` in a thread; the list gets its result (or the exception it raised)."""
    out: list[Any] = []

    def run() -> None:
        try:
            out.append(fn())
        except Exception as e:  # handed to the test, which asserts on it
            out.append(e)

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    return thread, out


def _big_room(n: int) -> Replica:
    room = _room(0)
    room.commit_many(
        [
            ("ops", {"ops": [{"e": "Doc", "id": f"d{i}", "f": "t", "t": "lww", "op": {"set": i}}]})
            for i in range(n)
        ]
    )
    return room


def test_a_large_ingest_leaves_the_server_free_and_holds_only_its_own_scope(tmp_path: Path) -> None:
    big = _big_room(3000)  # thousands of events: one sync, one large batch for the server to ingest
    other = create_memory(OWNER, "another room")
    hub = _HoldingHub(tmp_path / "srv", big.scope)
    with serving(hub) as url:
        pushing, pushed = _in_thread(lambda: anyio.run(sync_with_server, url, OWNER, big.scope, big))
        try:
            assert hub.entered.wait(HELD), "the server never started ingesting the batch"
            # The ingest is held inside the store now: everything below happens before it can finish.
            assert httpx.get(f"{url}/health", timeout=HELD / 2).json()["status"] == "ok"
            _sync(url, OWNER, other.scope, other)  # another scope syncs meanwhile
            # The same scope waits its turn: its replica is busy in the ingest's thread. (The join gets a
            # second to finish wrongly; a broken lock might not show in it, a sound one never fails.)
            assert hub.scopes[big.scope].lock.locked()
            joining, joined = _in_thread(lambda: _join(url, BOB, big.scope))
            joining.join(1.0)
            assert joining.is_alive() and pushing.is_alive() and not pushed
        finally:
            hub.release.set()
        pushing.join(HELD)
        joining.join(HELD)
    assert pushed and not isinstance(pushed[0], Exception) and pushed[0].synced
    assert joined and isinstance(joined[0], Replica) and joined[0].heads == big.heads
