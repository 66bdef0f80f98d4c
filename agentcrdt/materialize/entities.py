"""The generic entity projection: one row per entity with its CRDT state and its plain value.

The row keeps the encoded CRDT state next to the value, so applying a new op needs only that row: a
follower resumes after a crash or a restart without replaying the log, and opening a large room answers
queries straight from these rows. Typed per-schema tables (see :mod:`agentcrdt.schema`) sit on top.
"""

from __future__ import annotations

import itertools
import sqlite3
from collections.abc import Callable, Iterable, Sequence

import orjson

from agentcrdt.log.event import Event
from agentcrdt.materialize.follower import Projection, Touched
from agentcrdt.ops.state import DecodedOp, EntityKey, EntityState

__all__ = ["EntityProjection", "RowHook"]

# Called after an entity's row is written, inside the same transaction (typed tables hang off this).
RowHook = Callable[[sqlite3.Connection, EntityKey, EntityState], None]


_CHUNK = 400  # ids per SELECT, under SQLITE_MAX_VARIABLE_NUMBER of old builds (999)
_SELECT_ONE = "SELECT state FROM entities WHERE etype = ? AND id = ?"
_UPSERT = (
    "INSERT INTO entities VALUES (?, ?, ?, ?, ?, ?, ?) ON CONFLICT (etype, id) DO UPDATE SET"
    " state = excluded.state, value = excluded.value, deleted = excluded.deleted,"
    " created_at = excluded.created_at, updated_at = excluded.updated_at"
)


def _dumps(value: object) -> str:
    return orjson.dumps(value, option=orjson.OPT_SORT_KEYS).decode()


class EntityProjection(Projection):
    """Project ``ops`` events into the ``entities`` table."""

    name = "entities"
    version = 1

    def __init__(self, hooks: tuple[RowHook, ...] = (), *, cache_size: int = 10_000) -> None:
        self.hooks = hooks
        # Entities written recently, as committed (the follower calls forget() when that may be false):
        # an entity updated again needs no SELECT and no JSON decoding. Oldest first, for eviction.
        self._cache: dict[EntityKey, EntityState] = {}
        self._cache_size = cache_size

    def forget(self) -> None:
        self._cache.clear()

    def setup(self, db: sqlite3.Connection) -> None:
        db.execute(
            "CREATE TABLE IF NOT EXISTS entities ("
            " etype TEXT NOT NULL, id TEXT NOT NULL, state TEXT NOT NULL, value TEXT NOT NULL,"
            " deleted INTEGER NOT NULL, created_at INTEGER NOT NULL, updated_at INTEGER NOT NULL,"
            " PRIMARY KEY (etype, id)) WITHOUT ROWID"
        )

    def reset(self, db: sqlite3.Connection) -> None:
        self.forget()
        db.execute("DROP TABLE IF EXISTS entities")

    def load(self, db: sqlite3.Connection, key: EntityKey) -> EntityState | None:
        """Return the stored state of one entity, or None."""
        row = db.execute(_SELECT_ONE, key).fetchone()
        return None if row is None else EntityState.decode(orjson.loads(row[0]))

    def load_many(self, db: sqlite3.Connection, keys: Iterable[EntityKey]) -> dict[EntityKey, EntityState]:
        """Return the stored states of ``keys`` (entities without a row are absent from the result)."""
        by_type: dict[str, list[str]] = {}
        for etype, entity_id in keys:
            by_type.setdefault(etype, []).append(entity_id)
        out: dict[EntityKey, EntityState] = {}
        decode, loads = EntityState.decode, orjson.loads
        for etype, ids in by_type.items():
            for i in range(0, len(ids), _CHUNK):
                chunk = ids[i : i + _CHUNK]
                marks = ",".join("?" * len(chunk))
                sql = f"SELECT id, state FROM entities WHERE etype = ? AND id IN ({marks})"
                for entity_id, raw in db.execute(sql, (etype, *chunk)):
                    out[(etype, entity_id)] = decode(loads(raw))
        return out

    def process(self, db: sqlite3.Connection, event: Event, effects: list[DecodedOp]) -> Touched:
        return self.process_many(db, [(event, effects)])

    def process_many(self, db: sqlite3.Connection, items: Sequence[tuple[Event, list[DecodedOp]]]) -> Touched:
        # Perf: each touched entity is read once and written once per batch, not once per event (the
        # per-event round trips and JSON re-encoding dominated a busy room's projection cost).
        keys = {key for _, effects in items for key, *_ in effects}
        if not keys:
            return set()
        cache = self._cache
        states = {k: cache.pop(k) for k in keys if k in cache}  # popped: re-added below as newest
        states.update(self.load_many(db, [k for k in keys if k not in states]))
        for event, effects in items:
            for key, f, t, kop, stamp in effects:
                st = states.get(key)
                if st is None:
                    st = states[key] = EntityState()
                st.apply(f, t, kop, stamp, event.time)
        rows = []
        for key in keys:
            st = states[key]
            assert st.first is not None and st.last is not None  # an applied op set both
            value = _dumps(st.values())
            rows.append((*key, _dumps(st.encode()), value, int(st.deleted), st.first[1], st.last[1]))
        db.executemany(_UPSERT, rows)
        for hook in self.hooks:
            for key in keys:
                hook(db, key, states[key])
        cache.update(states)
        for stale in list(itertools.islice(cache, max(0, len(cache) - self._cache_size))):
            del cache[stale]
        return keys
