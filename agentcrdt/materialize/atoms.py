"""Atoms: reactive queries over projected tables with automatic dependency tracking.

An atom runs a query function against a :class:`Reader`. The reader records what the query read: single
entities by key (``entity``), whole entity types (``entities``) and, for raw SQL, every table SQLite
reports reading (through the connection's authorizer hook, so nothing has to be declared by hand).
Dependencies are recorded afresh on every run, like signals. A subscriber is called with the new result
when, and only when, an applied event touched something the last run read.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Iterable
from typing import Any, Generic, TypeVar

import orjson

from agentcrdt.materialize.follower import SQLiteFollower, Touched

__all__ = ["Atom", "Reader", "table_for"]

T = TypeVar("T")
ENTITIES = "entities"


def table_for(entity_type: str) -> str:
    """Return the typed table name of an entity type (the schema layer uses the same rule)."""
    return entity_type.lower()


class Reader:
    """The query side of an atom: every read goes through here and is recorded."""

    def __init__(self, db: sqlite3.Connection) -> None:
        self._db = db
        self.keys: set[tuple[str, str]] = set()
        self.types: set[str] = set()
        self.tables: set[str] = set()

    def entity(self, entity_type: str, entity_id: str) -> dict[str, Any] | None:
        """Return one live entity's values (None if absent or deleted)."""
        self.keys.add((entity_type, entity_id))
        row = self._db.execute(
            "SELECT value FROM entities WHERE etype = ? AND id = ? AND deleted = 0", (entity_type, entity_id)
        ).fetchone()
        return None if row is None else dict(orjson.loads(row[0]))

    def entities(self, entity_type: str) -> dict[str, dict[str, Any]]:
        """Return every live entity of a type, by id."""
        self.types.add(entity_type)
        rows = self._db.execute(
            "SELECT id, value FROM entities WHERE etype = ? AND deleted = 0 ORDER BY id", (entity_type,)
        )
        return {i: dict(orjson.loads(v)) for i, v in rows}

    def sql(self, query: str, params: Iterable[object] = ()) -> list[tuple[object, ...]]:
        """Run read-only SQL; the tables it reads become dependencies."""
        read: set[str] = set()

        def authorize(
            action: int, arg1: str | None, arg2: str | None, db: str | None, src: str | None
        ) -> int:
            if action == sqlite3.SQLITE_READ and arg1:
                read.add(arg1)
            elif action not in (sqlite3.SQLITE_SELECT, sqlite3.SQLITE_READ, sqlite3.SQLITE_FUNCTION):
                return sqlite3.SQLITE_DENY  # atoms are read-only: a write here is a bug in the query
            return sqlite3.SQLITE_OK

        self._db.set_authorizer(authorize)
        try:
            rows = list(self._db.execute(query, tuple(params)))
        finally:
            self._db.set_authorizer(None)
        self.tables |= read
        return rows

    def depends_on(self, touched: Touched) -> bool:
        """Tell whether a change to ``touched`` can affect what was read."""
        if ("*", "*") in touched:
            return True
        for entity_type, entity_id in touched:
            if (entity_type, entity_id) in self.keys or entity_type in self.types:
                return True
            if ENTITIES in self.tables or table_for(entity_type) in self.tables:
                return True
        return False


class Atom(Generic[T]):
    """A reactive query over a follower's tables."""

    def __init__(self, follower: SQLiteFollower, query: Callable[[Reader], T]) -> None:
        self._follower = follower
        self._query = query
        self._subscribers: list[Callable[[T], None]] = []
        self._reader, self._value = self._run()
        follower.listeners.append(self._on_touched)

    def _run(self) -> tuple[Reader, T]:
        reader = Reader(self._follower.db)
        return reader, self._query(reader)

    @property
    def value(self) -> T:
        """Return the latest result."""
        return self._value

    def subscribe(self, callback: Callable[[T], None]) -> Callable[[], None]:
        """Call ``callback(result)`` after each relevant change; return a function that unsubscribes."""
        self._subscribers.append(callback)
        return lambda: self._subscribers.remove(callback)

    def close(self) -> None:
        """Stop following changes."""
        self._follower.listeners.remove(self._on_touched)
        self._subscribers.clear()

    def _on_touched(self, touched: Touched) -> None:
        if not self._reader.depends_on(touched):
            return
        self._reader, self._value = self._run()
        for callback in list(self._subscribers):
            callback(self._value)
