"""Followers: project valid events into SQLite tables, cursor and rows in one transaction.

A :class:`Projection` says how events become rows. A :class:`SQLiteFollower` drives one or more
projections over a SQLite database. The replica feeds it :class:`~agentcrdt.replica.Applied` batches
(valid events with their effects, in store order; it never reads the replica or the store itself): each
projection writes its rows and the new cursor is recorded in the same transaction, so a crash leaves
either the old rows and old cursor or the new rows and new cursor, never a mix. A changed projection
``version`` drops the rows (the replica replays the log from cursor 0); a retroactive verdict change
arrives as a ``reset`` batch.
"""

from __future__ import annotations

import sqlite3
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from agentcrdt.errors import StoreError, UsageError
from agentcrdt.log.event import Event
from agentcrdt.ops.state import DecodedOp
from agentcrdt.store.driver import errors, module

if TYPE_CHECKING:
    from agentcrdt.replica import Applied

__all__ = ["Projection", "SQLiteFollower", "Touched", "add_epoch_column"]

Touched = set[tuple[str, str]]  # (table or entity type, row id); ("*", "*") means "anything"
_SET_CURSOR = "UPDATE _followers SET cursor = ?, epoch = ? WHERE name = ?"


def add_epoch_column(db: Any, table: str) -> None:
    """Give a cursor table written before verdict epochs existed its ``epoch`` column (0: the first).

    ``db`` is any DB-API connection to SQLite (sqlite3, pysqlite3, the retrieval index's driver).
    """
    if "epoch" not in {row[1] for row in db.execute(f"PRAGMA table_info({table})")}:
        db.execute(f"ALTER TABLE {table} ADD COLUMN epoch INTEGER NOT NULL DEFAULT 0")


class Projection(ABC):
    """How events become rows. Subclass, name it and bump ``version`` when its rows change shape."""

    name: str = ""
    version: int = 1

    @abstractmethod
    def setup(self, db: sqlite3.Connection) -> None:
        """Create the tables (idempotently)."""

    @abstractmethod
    def reset(self, db: sqlite3.Connection) -> None:
        """Drop every row and table this projection owns."""

    @abstractmethod
    def process(self, db: sqlite3.Connection, event: Event, effects: list[DecodedOp]) -> Touched:
        """Write the rows for one valid event; return what it touched.

        ``effects`` are the entity ops the event applies: its own ops, or an accepted proposal's ops
        stamped at the accepting review (see :meth:`agentcrdt.replica.Replica.effects`).
        """

    def process_many(self, db: sqlite3.Connection, items: Sequence[tuple[Event, list[DecodedOp]]]) -> Touched:
        """Write the rows for a run of valid events, in log order; return what they touched.

        The follower calls this once per batch. The default applies :meth:`process` to each event;
        override it when rows can be read and written once per batch instead of once per event.
        """
        touched: Touched = set()
        for event, effects in items:
            touched |= self.process(db, event, effects)
        return touched

    def forget(self) -> None:  # noqa: B027  (optional hook: most projections keep nothing in memory)
        """Drop any in-memory copy of rows: the database may hold other rows than this process wrote.

        The follower calls this when another process has moved its cursor, after a rebuild and after a
        failed (rolled back) batch.
        """


class SQLiteFollower:
    """Drive projections over a SQLite database (its own file, or the room's store file)."""

    def __init__(
        self,
        db: str | Path | sqlite3.Connection,
        projections: Sequence[Projection],
        *,
        name: str = "default",
    ) -> None:
        names = [p.name for p in projections]
        if not all(names) or len(set(names)) != len(names):
            raise UsageError(f"projections need distinct non-empty names, got {names}")
        if not isinstance(db, str | Path):
            self.db = db  # a connection (of the stdlib or of the process's room driver)
        else:
            self.db = module().connect(str(db), isolation_level=None, check_same_thread=False)
            self.db.execute("PRAGMA journal_mode=WAL")
            self.db.execute("PRAGMA busy_timeout=10000")
        self.name = name
        self.projections = list(projections)
        self.listeners: list[Callable[[Touched], None]] = []
        # The cursor as of our last commit: while the stored cursor still equals it, no other process
        # has written our rows, and projections may trust rows they keep in memory.
        self._trusted: int | None = None
        self._unsent: Touched = set()  # touched by batches whose run is not over (Applied.more)
        self._init()

    def _init(self) -> None:
        with self._tx():
            self.db.execute(
                "CREATE TABLE IF NOT EXISTS _followers (name TEXT PRIMARY KEY, cursor INTEGER NOT NULL,"
                " versions TEXT NOT NULL, epoch INTEGER NOT NULL DEFAULT 0)"
            )
            add_epoch_column(self.db, "_followers")
            row = self.db.execute("SELECT versions FROM _followers WHERE name = ?", (self.name,)).fetchone()
            versions = self._versions()
            if row is not None and row[0] != versions:
                # Projection code changed shape: its rows cannot be trusted, replay the log into new ones.
                for p in self.projections:
                    p.reset(self.db)
                self.db.execute("DELETE FROM _followers WHERE name = ?", (self.name,))
                row = None
            for p in self.projections:
                p.setup(self.db)
            if row is None:
                self.db.execute(
                    "INSERT INTO _followers (name, cursor, versions) VALUES (?, 0, ?)", (self.name, versions)
                )

    def _versions(self) -> str:
        return ",".join(f"{p.name}@{p.version}" for p in self.projections)

    def _tx(self) -> _Transaction:
        return _Transaction(self.db)

    @property
    def cursor(self) -> int:
        """Return the store position of the last processed event."""
        row = self.db.execute("SELECT cursor FROM _followers WHERE name = ?", (self.name,)).fetchone()
        return int(row[0]) if row else 0

    def position(self) -> int:
        """Return the store position through which the projections hold the log (the stored cursor)."""
        return self.cursor

    def epoch(self) -> int:
        """Return the verdict epoch the projected rows were derived under (see Follower)."""
        row = self.db.execute("SELECT epoch FROM _followers WHERE name = ?", (self.name,)).fetchone()
        return int(row[0]) if row else 0

    def apply(self, batch: Applied) -> Touched:
        """Project one :class:`Applied` batch and move the cursor, in one transaction; notify listeners
        of what changed once the last batch of a run is in."""
        touched: Touched = set()
        try:
            with self._tx():
                # The cursor is read inside the write transaction: another process projecting into the
                # same file may have moved it, and nothing must be applied twice.
                cursor = self.cursor
                if batch.reset:
                    self._forget()
                    for p in self.projections:
                        p.reset(self.db)
                        p.setup(self.db)
                    cursor = 0
                    touched.add(("*", "*"))
                elif cursor != self._trusted:
                    # Rows changed under us (or this is the first batch): cached rows may be stale.
                    self._forget()
                if batch.start <= cursor < batch.end:
                    items = [(a.event, a.effects) for a in batch.events if a.position > cursor]
                    # Projections own disjoint tables, so each may take the whole batch in one call.
                    for p in self.projections:
                        touched |= p.process_many(self.db, items)
                    cursor = batch.end
                if batch.reset or cursor == batch.end:
                    self.db.execute(_SET_CURSOR, (cursor, batch.epoch, self.name))
            self._trusted = cursor  # committed: what projections remember matches the rows
        except BaseException:
            self._forget()  # a rolled-back batch may have left changes in projections' memory
            raise
        self._unsent |= touched
        if self._unsent and not batch.more:
            unsent, self._unsent = self._unsent, set()
            for listener in self.listeners:
                listener(unsent)
        return touched

    def _forget(self) -> None:
        self._trusted = None
        for p in self.projections:
            p.forget()

    def query(self, sql: str, params: Iterable[object] = ()) -> list[tuple[object, ...]]:
        """Run a read-only SQL query over the projected tables."""
        return list(self.db.execute(sql, tuple(params)))

    def close(self) -> None:
        """Close the database connection."""
        self.db.close()


class _Transaction:
    """BEGIN IMMEDIATE ... COMMIT, rolled back on any error; maps sqlite3 errors to StoreError."""

    def __init__(self, db: sqlite3.Connection) -> None:
        self.db = db

    def __enter__(self) -> None:
        try:
            self.db.execute("BEGIN IMMEDIATE")
        except errors() as e:
            raise StoreError(f"cannot start a projection transaction: {e}") from e

    def __exit__(self, exc_type: object, exc: object, tb: object) -> None:
        if exc_type is None:
            try:
                self.db.execute("COMMIT")
                return
            except errors() as e:
                self.db.execute("ROLLBACK")
                raise StoreError(f"cannot commit projected rows: {e}") from e
        self.db.execute("ROLLBACK")
