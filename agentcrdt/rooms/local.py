"""Rooms with their default follower, so nobody builds stores and followers by hand.

* ``create_local(path, me, name)`` / ``open_local(path)``: the embedded default, one SQLite file holding
  a scope's log and its projections, so a room is one file to copy, back up or audit;
* ``create_memory(me, name)``: the same room in memory (tests, notebooks, short-lived agents);
* ``join_memory(room, peer)`` / ``join_local(path, room, peer)``: a second replica of a room's scope in
  this process (another peer), already synced with it; exchange later changes with ``a.sync_with(b)``;
* ``join_genesis(path, genesis, peer)``: a new, empty room file of a scope known by its genesis event
  (what a sync server hands a peer joining a room it does not hold yet).

Pass ``entities=`` (Entity classes) to also project them into typed tables named after each type.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from agentcrdt.errors import NotFound, UsageError
from agentcrdt.log.keys import Identity
from agentcrdt.materialize.entities import EntityProjection
from agentcrdt.materialize.follower import Projection, SQLiteFollower
from agentcrdt.replica import SCOPE_META, Replica
from agentcrdt.store.base import EventStore
from agentcrdt.store.memory import MemoryStore
from agentcrdt.store.sqlite import SQLiteStore

if TYPE_CHECKING:
    from agentcrdt.schema import Entity

__all__ = ["create_local", "create_memory", "join_genesis", "join_local", "join_memory", "open_local"]

_IN_MEMORY = ":memory:"


def _new_file(path: str | Path) -> Path:
    p = Path(path)
    if p.exists():
        raise UsageError(f"{p} already exists; open it with open_local({str(p)!r}) or choose another path")
    return p


def _follower(
    path: Path | str, entities: Sequence[type[Entity]], projections: tuple[Projection, ...]
) -> SQLiteFollower:
    if not entities:
        return SQLiteFollower(path, (EntityProjection(), *projections))
    # Typed tables need pydantic (~60 ms to import): only a room opened with entity classes pays it.
    from agentcrdt.schema import TypedEntityProjection

    base = TypedEntityProjection(entities)
    return SQLiteFollower(path, (base, *projections))


def create_local(
    path: str | Path,
    identity: Identity,
    name: str,
    *,
    owners: tuple[str, ...] = (),
    entities: Sequence[type[Entity]] = (),
    projections: tuple[Projection, ...] = (),
    **kwargs: Any,
) -> Replica:
    """Create a new scope in a new SQLite file at ``path``."""
    p = _new_file(path)
    store = SQLiteStore(p)
    return _attached(Replica.create(store, identity, name, owners=owners, **kwargs), p, entities, projections)


def open_local(
    path: str | Path,
    *,
    identity: Identity | None = None,
    entities: Sequence[type[Entity]] = (),
    projections: tuple[Projection, ...] = (),
    **kwargs: Any,
) -> Replica:
    """Open the scope stored in the SQLite file at ``path`` and bring its projections up to date."""
    p = Path(path)
    if not p.is_file():
        raise NotFound(f"no room file at {p}; create one first")
    store = SQLiteStore(p)
    if store.get_meta(SCOPE_META) is None:
        store.close()
        raise NotFound(f"{p} is an SQLite file but holds no agentcrdt scope")
    follower = _follower(p, entities, projections)
    replica = Replica.open(store, identity=identity, followers=[follower], **kwargs)
    replica.feed(follower)
    return replica


def _attached(
    replica: Replica, db: Path | str, entities: Sequence[type[Entity]], projections: tuple[Projection, ...]
) -> Replica:
    follower = _follower(db, entities, projections)
    replica.followers.append(follower)
    replica.feed(follower)
    return replica


def create_memory(
    identity: Identity,
    name: str,
    *,
    owners: tuple[str, ...] = (),
    entities: Sequence[type[Entity]] = (),
    projections: tuple[Projection, ...] = (),
    **kwargs: Any,
) -> Replica:
    """Create a new scope held in memory, its tables in an in-memory SQLite database (gone on close)."""
    replica = Replica.create(MemoryStore(), identity, name, owners=owners, **kwargs)
    return _attached(replica, _IN_MEMORY, entities, projections)


def _join(
    store: EventStore,
    db: Path | str,
    room: Replica,
    identity: Identity | None,
    entities: Sequence[type[Entity]],
    projections: tuple[Projection, ...],
    kwargs: dict[str, Any],
) -> Replica:
    if identity is not None and room.identity is not None and identity.author == room.identity.author:
        raise UsageError(
            "a second replica needs its own identity: two replicas writing as one author fork its chain "
            "(an equivocation every peer quarantines); pass Identity.generate() or another key"
        )
    replica = _attached(
        Replica.join(store, room.genesis.raw, identity=identity, **kwargs), db, entities, projections
    )
    replica.sync_with(room)
    return replica


def join_memory(
    room: Replica,
    identity: Identity | None = None,
    *,
    entities: Sequence[type[Entity]] = (),
    projections: tuple[Projection, ...] = (),
    **kwargs: Any,
) -> Replica:
    """Return a new in-memory replica of ``room``'s scope for another peer (read-only without an
    identity), holding everything ``room`` holds; ``a.sync_with(b)`` exchanges what comes later."""
    return _join(MemoryStore(), _IN_MEMORY, room, identity, entities, projections, kwargs)


def join_local(
    path: str | Path,
    room: Replica,
    identity: Identity | None = None,
    *,
    entities: Sequence[type[Entity]] = (),
    projections: tuple[Projection, ...] = (),
    **kwargs: Any,
) -> Replica:
    """Like :func:`join_memory`, into a new SQLite file at ``path`` (reopen it with open_local)."""
    p = _new_file(path)
    return _join(SQLiteStore(p), p, room, identity, entities, projections, kwargs)


def join_genesis(
    path: str | Path,
    genesis_raw: bytes,
    identity: Identity | None = None,
    *,
    entities: Sequence[type[Entity]] = (),
    projections: tuple[Projection, ...] = (),
    **kwargs: Any,
) -> Replica:
    """Start a new SQLite room file at ``path`` holding only the scope's genesis event (a sync fills it)."""
    p = _new_file(path)
    return _attached(
        Replica.join(SQLiteStore(p), genesis_raw, identity=identity, **kwargs), p, entities, projections
    )
