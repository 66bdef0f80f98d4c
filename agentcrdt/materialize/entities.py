"""The generic entity projection: one row per entity with its CRDT state and its plain value.

The row keeps the encoded CRDT state next to the value, so applying a new op needs only that row: a
follower resumes after a crash or a restart without replaying the log, and opening a large room answers
queries straight from these rows. Typed per-schema tables (see :mod:`agentcrdt.schema`) sit on top.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable

import orjson

from agentcrdt.log.event import Event
from agentcrdt.materialize.follower import Projection, Touched
from agentcrdt.state import DecodedOp, EntityKey, EntityState

__all__ = ["EntityProjection", "RowHook"]

# Called after an entity's row is written, inside the same transaction (typed tables hang off this).
RowHook = Callable[[sqlite3.Connection, EntityKey, EntityState], None]


def _dumps(value: object) -> str:
    return orjson.dumps(value, option=orjson.OPT_SORT_KEYS).decode()


class EntityProjection(Projection):
    """Project ``ops`` events into the ``entities`` table."""

    name = "entities"
    version = 1

    def __init__(self, hooks: tuple[RowHook, ...] = ()) -> None:
        self.hooks = hooks

    def setup(self, db: sqlite3.Connection) -> None:
        db.execute(
            "CREATE TABLE IF NOT EXISTS entities ("
            " etype TEXT NOT NULL, id TEXT NOT NULL, state TEXT NOT NULL, value TEXT NOT NULL,"
            " deleted INTEGER NOT NULL, created_at INTEGER NOT NULL, updated_at INTEGER NOT NULL,"
            " PRIMARY KEY (etype, id)) WITHOUT ROWID"
        )

    def reset(self, db: sqlite3.Connection) -> None:
        db.execute("DROP TABLE IF EXISTS entities")

    def load(self, db: sqlite3.Connection, key: EntityKey) -> EntityState | None:
        """Return the stored state of one entity, or None."""
        row = db.execute("SELECT state FROM entities WHERE etype = ? AND id = ?", key).fetchone()
        return None if row is None else EntityState.decode(orjson.loads(row[0]))

    def process(self, db: sqlite3.Connection, event: Event, effects: list[DecodedOp]) -> Touched:
        states: dict[EntityKey, EntityState] = {}
        for key, f, t, kop, stamp in effects:
            st = states.get(key)
            if st is None:
                st = states[key] = self.load(db, key) or EntityState()
            st.apply(f, t, kop, stamp, event.time)
        for key, st in states.items():
            assert st.first is not None and st.last is not None  # an applied op set both
            db.execute(
                "INSERT INTO entities VALUES (?, ?, ?, ?, ?, ?, ?) ON CONFLICT (etype, id) DO UPDATE SET"
                " state = excluded.state, value = excluded.value, deleted = excluded.deleted,"
                " created_at = excluded.created_at, updated_at = excluded.updated_at",
                (*key, _dumps(st.encode()), _dumps(st.values()), int(st.deleted), st.first[1], st.last[1]),
            )
            for hook in self.hooks:
                hook(db, key, st)
        return set(states)
