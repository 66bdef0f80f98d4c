"""The server's scopes: one replica each (no identity: the server writes nothing of its own), opened on
demand from one store location, and the live peers each scope fans events out to.

A store location is a directory (one SQLite file per scope, the embedded default) or a
``postgresql://`` URL (one set of tables for every scope). Several server processes may share one
PostgreSQL: each announces the scopes it stored events in (``NOTIFY agentcrdt_events``), and every
other one, listening, publishes them to its own peers (a slow poll catches what a lost connection
missed). The server validates what it ingests exactly as
every replica does (:meth:`Replica.ingest`): it relays and persists; it decides nothing.

Threads: a replica is not thread-safe, and ingesting a large batch (verifying, judging, writing) takes
long enough to stall every other session if it ran on the event loop. So everything that touches a
scope's replica, or a sync session over it, runs in a worker thread through :meth:`ScopeHub.call`,
which holds the scope's lock: one thread at a time per scope, any number of scopes at once, and the
loop free to serve the rest. Only the fan-out to listeners (putting bytes on in-memory streams) runs
on the loop, still under the lock, so batches reach every listener in store order.
"""

from __future__ import annotations

import hashlib
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import anyio
import anyio.to_thread

from agentcrdt.capabilities.spec import covers
from agentcrdt.errors import NotFound, UsageError
from agentcrdt.log.event import Event, decode_event
from agentcrdt.replica import Replica
from agentcrdt.store import open_store
from agentcrdt.store.base import EventStore
from agentcrdt.store.sqlite import SQLiteStore

__all__ = ["Hub", "ScopeHub"]

SCOPE_META = "scope"
CHANNEL = "agentcrdt_events"


@dataclass
class Metrics:
    """Counters the ``/metrics`` endpoint reports (Prometheus text)."""

    sessions: int = 0
    sessions_open: int = 0
    auth_failures: int = 0
    frames_in: int = 0
    frames_out: int = 0
    bytes_in: int = 0
    bytes_out: int = 0
    events_accepted: int = 0
    events_fanned_out: int = 0
    protocol_errors: int = 0


Listener = Callable[[list[bytes]], None]
T = TypeVar("T")


@dataclass(eq=False)
class ScopeHub:
    """One scope's replica and its live listeners (sessions pushing, SSE streams)."""

    replica: Replica
    cursor: int = 0  # store position up to which events were published
    listeners: dict[int, Listener] = field(default_factory=dict)
    lock: anyio.Lock = field(default_factory=anyio.Lock)  # held by whoever touches the replica

    async def call(self, fn: Callable[[], T]) -> T:
        """Run ``fn`` (it touches the replica or a session over it) in a worker thread, never alongside
        another call for this scope; return its result."""
        async with self.lock:
            return await anyio.to_thread.run_sync(fn)

    async def ingest(self, fn: Callable[[], T], *, source: int) -> tuple[T, list[bytes]]:
        """Run ``fn`` (a session taking in a peer's frame) like :meth:`call`, then publish what it stored
        to every listener but ``source`` (that session: its peer has it); return ``fn``'s result and
        the events published."""

        def work() -> tuple[T, list[bytes]]:
            return fn(), self._collect()

        async with self.lock:
            result, raws = await anyio.to_thread.run_sync(work)
            self._fan_out(raws, source)
        return result, raws

    async def publish(self, *, refresh: bool = False) -> list[bytes]:
        """Publish to every listener what was stored since the last publish (``refresh``: what other
        server processes appended to the shared store); return it."""

        def work() -> list[bytes]:
            if refresh and not self.replica.refresh():
                return []
            return self._collect()

        async with self.lock:
            raws = await anyio.to_thread.run_sync(work)
            self._fan_out(raws, None)
        return raws

    def _collect(self) -> list[bytes]:
        """Advance the cursor over what was stored since the last publish; return those events."""
        batch = self.replica.store.since(self.cursor)
        if not batch:
            return []
        self.cursor = batch[-1][0]
        return [e.raw for _, e in batch if not e.local]

    def _fan_out(self, raws: list[bytes], source: int | None) -> None:
        # On the loop (listeners feed in-memory streams, which are not thread-safe) and under the lock
        # (two publishes never interleave): every listener gets the events in store order.
        if not raws:
            return
        for key, listener in list(self.listeners.items()):
            if key != source:
                listener(raws)

    def reader(self, author: str) -> Callable[[list[bytes]], list[bytes]]:
        """A filter keeping the events ``author`` may read (see :func:`readable_event`), as of now
        (through :meth:`call`; the filter itself reads only the events)."""
        patterns = self.replica.readable(author)
        if patterns is None:
            return lambda raws: raws
        return lambda raws: [r for r in raws if readable_event(decode_event(r), patterns)]

    def is_member(self, author: str) -> bool:
        """Whether ``author`` owns the scope or holds a grant not revoked: who may sync it here (through
        :meth:`call`)."""
        return self.replica.is_member(author)


def readable_event(event: Event, patterns: tuple[str, ...]) -> bool:
    """Whether an event may go to a reader of ``patterns``: ops and proposals only when every entity
    field they touch is covered; the room's own structure (grants, revocations, reviews) always."""
    if event.kind not in ("ops", "proposal"):
        return True
    ops = event.payload.get("ops", []) if isinstance(event.payload, dict) else []
    return all(covers(patterns, f"{o.get('e')}.{o.get('f')}") for o in ops if isinstance(o, dict))


class Hub:
    """Every scope the server holds, opened from ``location`` (a directory or a PostgreSQL URL).

    :meth:`get` and :meth:`create` open stores and replay logs: call them in a worker thread
    (``anyio.to_thread.run_sync``); they are safe to call from several at once."""

    def __init__(self, location: str | Path) -> None:
        self.location = str(location)
        self.postgres = self.location.startswith(("postgresql:", "postgres:"))
        if not self.postgres:
            Path(self.location).mkdir(parents=True, exist_ok=True)
        self.scopes: dict[str, ScopeHub] = {}
        self.metrics = Metrics()
        self._notifier: Any = None  # a PostgreSQL connection for NOTIFY, opened on first use
        self._notifying = threading.Lock()  # sessions' worker threads share that connection
        self._opening = threading.RLock()  # two requests for one scope must not open it twice

    @property
    def database_url(self) -> str:
        """The PostgreSQL connection URL (without the store's ``#schema=`` fragment)."""
        return self.location.partition("#")[0]

    def notify(self, scope: str) -> None:
        """Tell the other server processes on this PostgreSQL that ``scope`` has new events (blocking
        I/O: call it in a worker thread)."""
        if not self.postgres:
            return
        import psycopg

        with self._notifying:
            if self._notifier is None or self._notifier.closed:
                self._notifier = psycopg.connect(self.database_url, autocommit=True)
            self._notifier.execute("SELECT pg_notify(%s, %s)", (CHANNEL, scope))

    async def on_notice(self, scope: str) -> int:
        """Another process stored events in ``scope``: publish them to our peers; return how many."""
        hub = self.scopes.get(scope)
        return 0 if hub is None else len(await hub.publish(refresh=True))

    def _store(self, scope: str) -> EventStore:
        if self.postgres:
            return open_store(self.location, scope=scope)
        name = hashlib.sha256(scope.encode()).hexdigest()[:32]
        return SQLiteStore(Path(self.location) / f"{name}.db")

    def get(self, scope: str) -> ScopeHub | None:
        """Return the scope ``scope``, opening it from the store; None if the server does not hold it."""
        hub = self.scopes.get(scope)
        if hub is not None:  # open already: no waiting behind another scope being opened
            return hub
        with self._opening:
            hub = self.scopes.get(scope)
            if hub is not None:
                return hub
            store = self._store(scope)
            if store.get_meta(SCOPE_META) != scope:
                store.close()
                return None
            replica = Replica.open(store)
            replica.dag  # noqa: B018  (replay the log here, in the opening thread, not in a later call)
            hub = ScopeHub(replica, cursor=store.last_position())
            self.scopes[scope] = hub
            return hub

    def create(self, genesis_raw: bytes, author: str) -> ScopeHub:
        """Start holding the scope of ``genesis_raw``, on behalf of ``author`` (one of its owners)."""
        genesis = decode_event(genesis_raw)
        if genesis.kind != "genesis":
            raise UsageError("expected the scope's genesis event")
        if author not in genesis.payload["owners"]:
            raise UsageError("only an owner of a scope may bring it to this server")
        with self._opening:
            existing = self.get(genesis.id)
            if existing is not None:
                return existing
            replica = Replica.join(self._store(genesis.id), genesis_raw)
            hub = ScopeHub(replica, cursor=replica.store.last_position())
            self.scopes[genesis.id] = hub
            return hub

    def require(self, scope: str) -> ScopeHub:
        hub = self.get(scope)
        if hub is None:
            raise NotFound(f"this server holds no scope {scope}")
        return hub

    async def poll(self) -> int:
        """Publish what other server processes appended to the shared store; return how many events."""
        n = 0
        for hub in list(self.scopes.values()):
            n += len(await hub.publish(refresh=True))
        return n

    def close(self) -> None:
        for hub in self.scopes.values():
            hub.replica.close()
        self.scopes.clear()
        if self._notifier is not None:
            self._notifier.close()
