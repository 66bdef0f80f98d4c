"""The server's scopes: one replica each (no identity: the server writes nothing of its own), opened on
demand from one store location, and the live peers each scope fans events out to.

A store location is a directory (one SQLite file per scope, the embedded default) or a
``postgresql://`` URL (one set of tables for every scope). Several server processes may share one
PostgreSQL: each announces the scopes it stored events in (``NOTIFY agentcrdt_events``), and every
other one, listening, publishes them to its own peers (a slow poll catches what a lost connection
missed). The server validates what it ingests exactly as
every replica does (:meth:`Replica.ingest`): it relays and persists; it decides nothing.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

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


@dataclass(eq=False)
class ScopeHub:
    """One scope's replica and its live listeners (sessions pushing, SSE streams)."""

    replica: Replica
    cursor: int = 0  # store position up to which events were published
    listeners: dict[int, Listener] = field(default_factory=dict)

    def publish(self, source: int | None = None) -> list[bytes]:
        """Send every event stored since the last publish to each listener but ``source`` (the session
        that brought them: it has them); return them."""
        batch = self.replica.store.since(self.cursor)
        if not batch:
            return []
        self.cursor = batch[-1][0]
        raws = [e.raw for _, e in batch if not e.local]
        for key, listener in list(self.listeners.items()):
            if key != source and raws:
                listener(raws)
        return raws

    def reader(self, author: str) -> Callable[[list[bytes]], list[bytes]]:
        """A filter keeping the events ``author`` may read (see :func:`readable_event`), as of now."""
        patterns = self.replica.readable(author)
        if patterns is None:
            return lambda raws: raws
        return lambda raws: [r for r in raws if readable_event(decode_event(r), patterns)]

    def is_member(self, author: str) -> bool:
        """Whether ``author`` owns the scope or holds a grant not revoked: who may sync it here."""
        return self.replica.is_member(author)


def readable_event(event: Event, patterns: tuple[str, ...]) -> bool:
    """Whether an event may go to a reader of ``patterns``: ops and proposals only when every entity
    field they touch is covered; the room's own structure (grants, revocations, reviews) always."""
    if event.kind not in ("ops", "proposal"):
        return True
    ops = event.payload.get("ops", []) if isinstance(event.payload, dict) else []
    return all(covers(patterns, f"{o.get('e')}.{o.get('f')}") for o in ops if isinstance(o, dict))


class Hub:
    """Every scope the server holds, opened from ``location`` (a directory or a PostgreSQL URL)."""

    def __init__(self, location: str | Path) -> None:
        self.location = str(location)
        self.postgres = self.location.startswith(("postgresql:", "postgres:"))
        if not self.postgres:
            Path(self.location).mkdir(parents=True, exist_ok=True)
        self.scopes: dict[str, ScopeHub] = {}
        self.metrics = Metrics()
        self._notifier: Any = None  # a PostgreSQL connection for NOTIFY, opened on first use

    @property
    def database_url(self) -> str:
        """The PostgreSQL connection URL (without the store's ``#schema=`` fragment)."""
        return self.location.partition("#")[0]

    def notify(self, scope: str) -> None:
        """Tell the other server processes on this PostgreSQL that ``scope`` has new events."""
        if not self.postgres:
            return
        import psycopg

        if self._notifier is None or self._notifier.closed:
            self._notifier = psycopg.connect(self.database_url, autocommit=True)
        self._notifier.execute("SELECT pg_notify(%s, %s)", (CHANNEL, scope))

    def on_notice(self, scope: str) -> int:
        """Another process stored events in ``scope``: publish them to our peers; return how many."""
        hub = self.scopes.get(scope)
        if hub is None or not hub.replica.refresh():
            return 0
        return len(hub.publish())

    def _store(self, scope: str) -> EventStore:
        if self.postgres:
            return open_store(self.location, scope=scope)
        name = hashlib.sha256(scope.encode()).hexdigest()[:32]
        return SQLiteStore(Path(self.location) / f"{name}.db")

    def get(self, scope: str) -> ScopeHub | None:
        """Return the scope ``scope``, opening it from the store; None if the server does not hold it."""
        hub = self.scopes.get(scope)
        if hub is not None:
            return hub
        store = self._store(scope)
        if store.get_meta(SCOPE_META) != scope:
            store.close()
            return None
        hub = ScopeHub(Replica.open(store))
        hub.cursor = store.last_position()
        self.scopes[scope] = hub
        return hub

    def create(self, genesis_raw: bytes, author: str) -> ScopeHub:
        """Start holding the scope of ``genesis_raw``, on behalf of ``author`` (one of its owners)."""
        genesis = decode_event(genesis_raw)
        if genesis.kind != "genesis":
            raise UsageError("expected the scope's genesis event")
        if author not in genesis.payload["owners"]:
            raise UsageError("only an owner of a scope may bring it to this server")
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

    def poll(self) -> int:
        """Publish what other server processes appended to the shared store; return how many events."""
        n = 0
        for hub in list(self.scopes.values()):
            if hub.replica.refresh():
                n += len(hub.publish())
        return n

    def close(self) -> None:
        for hub in self.scopes.values():
            hub.replica.close()
        self.scopes.clear()
        if self._notifier is not None:
            self._notifier.close()
