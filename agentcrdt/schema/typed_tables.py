"""Typed tables: one SQLite table per Entity class, kept in step with the generic ``entities`` table.

:class:`TypedTables` is a ``RowHook`` (see :mod:`agentcrdt.materialize.entities`): after the projection
writes an entity's row it upserts the typed row in the same transaction, so a typed table is never ahead
of or behind the follower's cursor. Tables are created on first use; a table whose columns no longer
match its class (the schema changed) is dropped, recreated and refilled from the ``entities`` rows,
which hold every entity's full CRDT state, so no replay of the log is needed.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterable
from typing import Any

import orjson

from agentcrdt.errors import UsageError
from agentcrdt.materialize.atoms import table_for
from agentcrdt.materialize.entities import EntityProjection, RowHook
from agentcrdt.ops.state import EntityKey, EntityState
from agentcrdt.schema.entity import Entity
from agentcrdt.schema.export import Column, columns, ddl_statements, quote
from agentcrdt.schema.fields import InvalidEntityValue
from agentcrdt.schema.values import plain_value
from agentcrdt.store.driver import operational_errors

__all__ = ["TypedEntityProjection", "TypedTables", "typed_table_hook"]

_ENTITIES = "entities"
_RESERVED_TABLES = frozenset({_ENTITIES, "_followers"})
_INT64 = 2**63 - 1


def _cell(kind: str, plain: Any) -> Any:
    """Return the SQLite value of one column from the field's plain JSON value."""
    if plain is None:
        return None
    if kind == "json" or isinstance(plain, dict | list):
        return orjson.dumps(plain, option=orjson.OPT_SORT_KEYS).decode()
    if isinstance(plain, bool):
        return int(plain)
    if isinstance(plain, int) and not -_INT64 - 1 <= plain <= _INT64:
        # SQLite integers are 64-bit: hand over the digits and let the column's affinity store what it
        # can (an INTEGER column keeps a REAL approximation) rather than fail the whole projection.
        return str(plain)
    return plain


class TypedTables:
    """The row hook that mirrors entities of the given classes into their typed tables."""

    def __init__(self, classes: Iterable[type[Entity]]) -> None:
        self.classes: dict[str, type[Entity]] = {}
        tables: dict[str, str] = {}
        for cls in classes:
            etype, table = cls.entity_type, table_for(cls.entity_type)
            if table in _RESERVED_TABLES or table.startswith("sqlite_"):
                raise UsageError(f"entity type {etype!r} would use the reserved table {table!r}; rename it")
            if table in tables:
                raise UsageError(f"entity types {tables[table]!r} and {etype!r} both map to table {table!r}")
            tables[table] = etype
            self.classes[etype] = cls
        self._columns = {etype: columns(cls) for etype, cls in self.classes.items()}
        # Tables known to match, per connection; the connection is kept so its id cannot be reused.
        self._ready: dict[int, tuple[sqlite3.Connection, set[str]]] = {}

    def setup(self, db: sqlite3.Connection) -> None:
        """Create (or refresh) every typed table now rather than on first write."""
        for etype in self.classes:
            self._ensure(db, etype)

    def reset(self, db: sqlite3.Connection) -> None:
        """Drop every typed table (the projection is being rebuilt)."""
        for etype in self.classes:
            db.execute(f"DROP TABLE IF EXISTS {quote(table_for(etype))}")
        self._ready.pop(id(db), None)

    def __call__(self, db: sqlite3.Connection, key: EntityKey, state: EntityState) -> None:
        etype, entity_id = key
        if etype not in self.classes:
            return
        self._ensure(db, etype)
        try:
            self._write(db, etype, entity_id, state)
        except operational_errors():
            # The table we remembered may have gone with a rolled-back transaction: check it again.
            self._ready.pop(id(db), None)
            self._ensure(db, etype)
            self._write(db, etype, entity_id, state)

    def row(self, etype: str, entity_id: str, state: EntityState) -> tuple[Any, ...]:
        """Return the typed row of one entity, in column order; invalid stored values become NULL."""
        cls = self.classes[etype]
        try:
            obj = cls.from_state(entity_id, state)
            values = {name: getattr(obj, name) for name in cls.crdt_fields()}
        except InvalidEntityValue:
            # A peer's value does not fit our schema: show what does rather than stall the follower.
            values = cls.field_values(state)
        specs = cls.crdt_fields()
        out: list[Any] = [
            entity_id,
            None if state.first is None else state.first[1],
            None if state.last is None else state.last[1],
            int(state.deleted),
        ]
        for col in self._columns[etype][4:]:
            v = values[col.name]
            out.append(None if v is None else _cell(col.kind, plain_value(specs[col.name].adapter, v)))
        return tuple(out)

    def _write(self, db: sqlite3.Connection, etype: str, entity_id: str, state: EntityState) -> None:
        cols: list[Column] = self._columns[etype]
        names = ", ".join(quote(c.name) for c in cols)
        marks = ", ".join("?" for _ in cols)
        updates = ", ".join(f"{quote(c.name)} = excluded.{quote(c.name)}" for c in cols[1:])
        db.execute(
            f"INSERT INTO {quote(table_for(etype))} ({names}) VALUES ({marks})"
            f" ON CONFLICT ({quote('id')}) DO UPDATE SET {updates}",
            self.row(etype, entity_id, state),
        )

    def _ensure(self, db: sqlite3.Connection, etype: str) -> None:
        entry = self._ready.get(id(db))
        if entry is None or entry[0] is not db:
            entry = self._ready[id(db)] = (db, set())
        if etype in entry[1]:
            return
        table = table_for(etype)
        cls = self.classes[etype]
        have = [(r[1], r[2]) for r in db.execute(f"PRAGMA table_info({quote(table)})")]
        want = [(c.name, c.sql_type("sqlite")) for c in self._columns[etype]]
        if have != want:
            db.execute(f"DROP TABLE IF EXISTS {quote(table)}")
            for stmt in ddl_statements(cls, "sqlite"):
                db.execute(stmt)
            self._backfill(db, etype)
        entry[1].add(etype)

    def _backfill(self, db: sqlite3.Connection, etype: str) -> None:
        found = db.execute("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = ?", (_ENTITIES,))
        if found.fetchone() is None:
            return
        rows = db.execute(f"SELECT id, state FROM {_ENTITIES} WHERE etype = ?", (etype,)).fetchall()
        for entity_id, raw in rows:
            self._write(db, etype, entity_id, EntityState.decode(orjson.loads(raw)))


def typed_table_hook(classes: Iterable[type[Entity]]) -> TypedTables:
    """Return a ``RowHook`` keeping typed tables for ``classes``: ``EntityProjection(hooks=(hook,))``."""
    return TypedTables(classes)


class TypedEntityProjection(EntityProjection):
    """The ``entities`` projection plus typed tables that are created and dropped along with it."""

    def __init__(self, classes: Iterable[type[Entity]], hooks: tuple[RowHook, ...] = ()) -> None:
        self.typed = TypedTables(classes)
        super().__init__(hooks=(self.typed, *hooks))

    def setup(self, db: sqlite3.Connection) -> None:
        super().setup(db)
        self.typed.setup(db)

    def reset(self, db: sqlite3.Connection) -> None:
        super().reset(db)
        self.typed.reset(db)
