"""Named, forward-only schema migrations, recorded in ``schema_migrations(name, applied_at)``.

Each backend lists its migrations in order; at open, the ones not yet recorded are applied, each in its
own transaction together with its ``schema_migrations`` row, so a crash leaves either all or none of a
migration. Never edit or reorder a released migration: add a new one. A database that records a name
this version does not know was written by a newer agentcrdt and is refused (``MigrationError``) rather
than half-understood.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from agentcrdt.errors import MigrationError

__all__ = ["POSTGRES_MIGRATIONS", "SQLITE_MIGRATIONS", "Migration", "pending"]


@dataclass(frozen=True, slots=True)
class Migration:
    name: str
    statements: tuple[str, ...]


def pending(known: Sequence[Migration], applied: Iterable[str], where: str) -> list[Migration]:
    """Return the migrations to apply, in order; refuse a database from a newer version."""
    applied = set(applied)
    unknown = applied - {m.name for m in known}
    if unknown:
        raise MigrationError(
            f"{where} was written by a newer version of agentcrdt (it records unknown migrations "
            f"{sorted(unknown)}); upgrade agentcrdt to open it"
        )
    return [m for m in known if m.name not in applied]


SQLITE_MIGRATIONS: tuple[Migration, ...] = (
    Migration(
        "0001_events",
        (
            # position is the rowid: contiguous because it is assigned as max+1 under the write lock
            # and rows are never deleted. deps are space-joined ids (ids never contain whitespace).
            """CREATE TABLE events (
                position INTEGER PRIMARY KEY,
                id TEXT NOT NULL UNIQUE,
                scope TEXT,
                author TEXT NOT NULL,
                seq INTEGER NOT NULL,
                lamport INTEGER NOT NULL,
                kind TEXT NOT NULL,
                deps TEXT NOT NULL,
                local INTEGER NOT NULL,
                raw BLOB NOT NULL
            )""",
            "CREATE INDEX events_author_seq ON events (author, seq)",
            "CREATE TABLE heads (id TEXT PRIMARY KEY) WITHOUT ROWID",
            "CREATE TABLE cursors (name TEXT PRIMARY KEY, position INTEGER NOT NULL) WITHOUT ROWID",
            """CREATE TABLE rejections (
                position INTEGER PRIMARY KEY AUTOINCREMENT,
                reason TEXT NOT NULL,
                detail TEXT NOT NULL,
                raw BLOB NOT NULL,
                event_id TEXT
            )""",
            """CREATE TABLE verdicts (
                id TEXT PRIMARY KEY,
                verdict TEXT NOT NULL CHECK (verdict IN ('valid', 'quarantined', 'pending')),
                reason TEXT NOT NULL
            ) WITHOUT ROWID""",
            "CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL) WITHOUT ROWID",
        ),
    ),
    Migration(
        "0002_verdicts_in_event_rows",
        (
            # A verdict is written with its event (one row instead of a row in a second, randomly keyed
            # b-tree): appends cost less. Verdicts of events the file does not hold had no meaning and
            # are not carried over.
            "ALTER TABLE events ADD COLUMN verdict TEXT"
            " CHECK (verdict IS NULL OR verdict IN ('valid', 'quarantined', 'pending'))",
            "ALTER TABLE events ADD COLUMN reason TEXT",
            """UPDATE events SET
                verdict = (SELECT v.verdict FROM verdicts v WHERE v.id = events.id),
                reason = (SELECT v.reason FROM verdicts v WHERE v.id = events.id)
            WHERE id IN (SELECT id FROM verdicts)""",
            "DROP TABLE verdicts",
        ),
    ),
)

# One set of tables shared by every scope, partitioned by the ``scope`` column (the store's bound
# scope id; the genesis event, whose own scope is NULL, is filed under its id, which IS the scope).
POSTGRES_MIGRATIONS: tuple[Migration, ...] = (
    Migration(
        "0001_events",
        (
            """CREATE TABLE agentcrdt_events (
                scope TEXT NOT NULL,
                position BIGINT NOT NULL,
                id TEXT NOT NULL,
                author TEXT NOT NULL,
                seq BIGINT NOT NULL,
                lamport BIGINT NOT NULL,
                kind TEXT NOT NULL,
                deps TEXT[] NOT NULL,
                local BOOLEAN NOT NULL,
                raw BYTEA NOT NULL,
                PRIMARY KEY (scope, position),
                UNIQUE (scope, id)
            )""",
            "CREATE INDEX agentcrdt_events_author_seq ON agentcrdt_events (scope, author, seq)",
            "CREATE TABLE agentcrdt_heads (scope TEXT NOT NULL, id TEXT NOT NULL, PRIMARY KEY (scope, id))",
            """CREATE TABLE agentcrdt_cursors (
                scope TEXT NOT NULL, name TEXT NOT NULL, position BIGINT NOT NULL, PRIMARY KEY (scope, name)
            )""",
            """CREATE TABLE agentcrdt_rejections (
                position BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
                scope TEXT NOT NULL,
                reason TEXT NOT NULL,
                detail TEXT NOT NULL,
                raw BYTEA NOT NULL,
                event_id TEXT
            )""",
            "CREATE INDEX agentcrdt_rejections_scope ON agentcrdt_rejections (scope, position)",
            """CREATE TABLE agentcrdt_verdicts (
                scope TEXT NOT NULL,
                id TEXT NOT NULL,
                verdict TEXT NOT NULL CHECK (verdict IN ('valid', 'quarantined', 'pending')),
                reason TEXT NOT NULL,
                PRIMARY KEY (scope, id)
            )""",
            """CREATE TABLE agentcrdt_meta (
                scope TEXT NOT NULL, key TEXT NOT NULL, value TEXT NOT NULL, PRIMARY KEY (scope, key)
            )""",
        ),
    ),
)
