"""PostgreSQL event store (psycopg 3): one set of tables shared by many scopes, keyed by ``scope``.

A ``PostgresStore`` is bound to one scope id. Positions are per scope, assigned as ``max + 1`` while
holding a transaction-scoped advisory lock on the scope, so concurrent writers to one scope serialize
(and positions stay contiguous) while writers to different scopes do not contend. This module is only
imported when a ``postgresql://`` store is opened, so ``import agentcrdt.store`` never loads psycopg.
"""

from __future__ import annotations

import threading
from collections.abc import Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from typing import Any

import psycopg
from psycopg import sql

from agentcrdt.errors import StoreError, UsageError
from agentcrdt.store.base import (
    EventRecord,
    EventStore,
    Rejection,
    StoredEvent,
    check_cursor,
    check_since,
    check_verdicts,
    heads_delta,
    plan_append,
    unknown_verdict_ids,
)
from agentcrdt.store.migrations import POSTGRES_MIGRATIONS, pending

__all__ = ["DEFAULT_TEST_URL", "PostgresStore"]

#: Where the test suite looks for a server when ``AGENTCRDT_TEST_POSTGRES_URL`` is unset.
DEFAULT_TEST_URL = "postgresql://postgres@127.0.0.1:5432/test"

_COLUMNS = "position, id, author, seq, lamport, kind, deps, local, raw"
# Namespaces for pg_advisory_xact_lock keys (hashed to bigint).
_MIGRATE_LOCK = "agentcrdt-migrate:"
_SCOPE_LOCK = "agentcrdt-scope:"

Conn = psycopg.Connection[tuple[Any, ...]]


@contextmanager
def _mapped(what: str) -> Iterator[None]:
    """Map driver errors to the one exception tree, keeping the cause."""
    try:
        yield
    except psycopg.Error as e:
        raise StoreError(f"postgres: {what} failed: {e}") from e


class PostgresStore(EventStore):
    """Event store for one scope in a PostgreSQL database.

    ``schema`` (optional) names a PostgreSQL schema to hold the tables (created if missing); by default
    the connection's ``search_path`` decides. Tests use a throwaway schema per session.
    """

    def __init__(self, url: str, scope: str, *, schema: str | None = None, connect_timeout: int = 10) -> None:
        if not isinstance(scope, str) or not scope:
            raise UsageError("PostgresStore needs the scope id (the genesis event id) it stores events for")
        self.scope = scope
        self.schema = schema
        self._lock = threading.RLock()
        with _mapped("connecting"):
            self._conn: Conn = psycopg.connect(url, autocommit=True, connect_timeout=connect_timeout)
        try:
            with _mapped("opening"):
                if schema is not None:
                    self._use_schema(schema)
                self._migrate()
        except BaseException:
            self._conn.close()
            raise

    def _use_schema(self, schema: str) -> None:
        ident = sql.Identifier(schema)
        with self._conn.transaction():
            # CREATE SCHEMA IF NOT EXISTS still races on the catalog's unique index; serialize it.
            self._conn.execute("SELECT pg_advisory_xact_lock(hashtextextended(%s, 0))", (_MIGRATE_LOCK,))
            self._conn.execute(sql.SQL("CREATE SCHEMA IF NOT EXISTS {}").format(ident))
        self._conn.execute(sql.SQL("SET search_path TO {}").format(ident))

    def _lock_migrations(self) -> None:
        self._conn.execute(
            "SELECT pg_advisory_xact_lock(hashtextextended(%s || current_schema(), 0))", (_MIGRATE_LOCK,)
        )

    def _migrate(self) -> None:
        with self._conn.transaction():
            self._lock_migrations()
            self._conn.execute(
                "CREATE TABLE IF NOT EXISTS agentcrdt_schema_migrations "
                "(name TEXT PRIMARY KEY, applied_at TIMESTAMPTZ NOT NULL DEFAULT now())"
            )
            applied = {r[0] for r in self._conn.execute("SELECT name FROM agentcrdt_schema_migrations")}
            where = f"PostgreSQL schema {self.schema or '(search_path)'}"
            todo = pending(POSTGRES_MIGRATIONS, applied, where)
        for migration in todo:
            with self._conn.transaction():
                self._lock_migrations()
                done = self._conn.execute(
                    "SELECT 1 FROM agentcrdt_schema_migrations WHERE name = %s", (migration.name,)
                ).fetchone()
                if done:
                    continue
                for statement in migration.statements:
                    self._conn.execute(statement)
                self._conn.execute(
                    "INSERT INTO agentcrdt_schema_migrations (name) VALUES (%s)", (migration.name,)
                )

    # -- transactions -----------------------------------------------------------------------------

    @property
    def connection(self) -> Conn:
        return self._conn

    @contextmanager
    def atomic(self) -> Iterator[None]:
        """Group writes into one transaction (see :meth:`EventStore.atomic`)."""
        with self.transaction():
            yield

    @contextmanager
    def transaction(self) -> Iterator[Conn]:
        """Run a block atomically (a savepoint when nested) and yield the connection."""
        with self._lock, _mapped("transaction"), self._conn.transaction():
            yield self._conn

    # -- events -----------------------------------------------------------------------------------

    def _event(self, row: tuple[Any, ...]) -> tuple[int, StoredEvent]:
        position, id_, author, seq, lamport, kind, deps, local, raw = row
        # The genesis event is filed under its own id (the scope id) but its scope field is None.
        scope = None if id_ == self.scope else self.scope
        return position, StoredEvent(id_, scope, author, seq, lamport, kind, tuple(deps), local, bytes(raw))

    def _present(self, ids: set[str]) -> set[str]:
        rows = self._conn.execute(
            "SELECT id FROM agentcrdt_events WHERE scope = %s AND id = ANY(%s)", (self.scope, list(ids))
        )
        return {r[0] for r in rows}

    def append(self, events: Sequence[EventRecord]) -> list[int]:
        if not events:
            return []
        with self.transaction(), _mapped("append"):
            self._conn.execute(
                "SELECT pg_advisory_xact_lock(hashtextextended(%s, 0))", (_SCOPE_LOCK + self.scope,)
            )
            new = plan_append(events, self._present, self.scope)
            if not new:
                return []
            start = self.last_position() + 1
            with self._conn.cursor() as cur:
                cur.executemany(
                    f"INSERT INTO agentcrdt_events (scope, {_COLUMNS}) VALUES ({', '.join(['%s'] * 10)})",
                    [
                        (
                            self.scope,
                            start + i,
                            e.id,
                            e.author,
                            e.seq,
                            e.lamport,
                            e.kind,
                            list(e.deps),
                            e.local,
                            e.raw,
                        )
                        for i, e in enumerate(new)
                    ],
                )
                added, removed = heads_delta(new)
                if removed:
                    cur.execute(
                        "DELETE FROM agentcrdt_heads WHERE scope = %s AND id = ANY(%s)",
                        (self.scope, list(removed)),
                    )
                if added:
                    cur.executemany(
                        "INSERT INTO agentcrdt_heads (scope, id) VALUES (%s, %s)",
                        [(self.scope, i) for i in added],
                    )
            return list(range(start, start + len(new)))

    def get_many(self, ids: Iterable[str]) -> dict[str, StoredEvent]:
        with self._lock, _mapped("get"):
            rows = self._conn.execute(
                f"SELECT {_COLUMNS} FROM agentcrdt_events WHERE scope = %s AND id = ANY(%s)",
                (self.scope, list(set(ids))),
            )
            return {e.id: e for e in (self._event(r)[1] for r in rows)}

    def heads(self) -> frozenset[str]:
        with self._lock, _mapped("heads"):
            rows = self._conn.execute("SELECT id FROM agentcrdt_heads WHERE scope = %s", (self.scope,))
            return frozenset(r[0] for r in rows)

    def since(self, cursor: int, limit: int | None = None) -> list[tuple[int, StoredEvent]]:
        check_since(cursor, limit)
        with self._lock, _mapped("since"):
            rows = self._conn.execute(
                f"SELECT {_COLUMNS} FROM agentcrdt_events WHERE scope = %s AND position > %s "
                "ORDER BY position LIMIT %s",
                (self.scope, cursor, limit),
            )
            return [self._event(r) for r in rows]

    def by_author_seq(self, author: str, seq: int) -> list[StoredEvent]:
        with self._lock, _mapped("by_author_seq"):
            rows = self._conn.execute(
                f"SELECT {_COLUMNS} FROM agentcrdt_events WHERE scope = %s AND author = %s AND seq = %s "
                "ORDER BY position",
                (self.scope, author, seq),
            )
            return [self._event(r)[1] for r in rows]

    def last_position(self) -> int:
        with self._lock, _mapped("last_position"):
            row = self._conn.execute(
                "SELECT max(position) FROM agentcrdt_events WHERE scope = %s", (self.scope,)
            ).fetchone()
            return int(row[0] or 0) if row else 0

    # -- cursors, rejections, verdicts, meta ------------------------------------------------------

    def get_cursor(self, name: str) -> int:
        with self._lock, _mapped("get_cursor"):
            row = self._conn.execute(
                "SELECT position FROM agentcrdt_cursors WHERE scope = %s AND name = %s", (self.scope, name)
            ).fetchone()
            return int(row[0]) if row else 0

    def set_cursor(self, name: str, position: int) -> None:
        check_cursor(name, position)
        with self._lock, _mapped("set_cursor"):
            self._conn.execute(
                "INSERT INTO agentcrdt_cursors (scope, name, position) VALUES (%s, %s, %s) "
                "ON CONFLICT (scope, name) DO UPDATE SET position = excluded.position",
                (self.scope, name, position),
            )

    def record_rejection(self, raw: bytes, reason: str, detail: str, event_id: str | None) -> None:
        with self._lock, _mapped("record_rejection"):
            self._conn.execute(
                "INSERT INTO agentcrdt_rejections (scope, reason, detail, raw, event_id) "
                "VALUES (%s, %s, %s, %s, %s)",
                (self.scope, reason, detail, bytes(raw), event_id),
            )

    def rejections(self) -> list[Rejection]:
        with self._lock, _mapped("rejections"):
            rows = self._conn.execute(
                "SELECT position, reason, detail, raw, event_id FROM agentcrdt_rejections "
                "WHERE scope = %s ORDER BY position",
                (self.scope,),
            )
            return [Rejection(p, reason, detail, bytes(raw), eid) for p, reason, detail, raw, eid in rows]

    def set_verdicts(self, verdicts: Mapping[str, tuple[str, str]]) -> None:
        check_verdicts(verdicts)
        if not verdicts:
            return
        with self.transaction(), _mapped("set_verdicts"), self._conn.cursor() as cur:
            unknown = set(verdicts) - self._present(set(verdicts))
            if unknown:
                raise unknown_verdict_ids(unknown)
            cur.executemany(
                "INSERT INTO agentcrdt_verdicts (scope, id, verdict, reason) VALUES (%s, %s, %s, %s) "
                "ON CONFLICT (scope, id) DO UPDATE SET verdict = excluded.verdict, reason = excluded.reason",
                [(self.scope, k, v, r) for k, (v, r) in verdicts.items()],
            )

    def verdicts(self, ids: Iterable[str] | None = None) -> dict[str, tuple[str, str]]:
        with self._lock, _mapped("verdicts"):
            if ids is None:
                rows = self._conn.execute(
                    "SELECT id, verdict, reason FROM agentcrdt_verdicts WHERE scope = %s", (self.scope,)
                )
            else:
                rows = self._conn.execute(
                    "SELECT id, verdict, reason FROM agentcrdt_verdicts WHERE scope = %s AND id = ANY(%s)",
                    (self.scope, list(set(ids))),
                )
            return {i: (v, r) for i, v, r in rows}

    def get_meta(self, key: str) -> str | None:
        with self._lock, _mapped("get_meta"):
            row = self._conn.execute(
                "SELECT value FROM agentcrdt_meta WHERE scope = %s AND key = %s", (self.scope, key)
            ).fetchone()
            return None if row is None else str(row[0])

    def set_meta(self, key: str, value: str) -> None:
        with self._lock, _mapped("set_meta"):
            self._conn.execute(
                "INSERT INTO agentcrdt_meta (scope, key, value) VALUES (%s, %s, %s) "
                "ON CONFLICT (scope, key) DO UPDATE SET value = excluded.value",
                (self.scope, key, value),
            )

    def close(self) -> None:
        with self._lock:
            self._conn.close()
