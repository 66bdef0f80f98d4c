"""The embedded default: one SQLite file holding a scope's log and its projections.

``open_local(path)`` gives a :class:`Replica` whose store and entity tables live in the same file, so a
room is one file to copy, back up or audit. Pass ``entities=`` (Entity classes) to also project them into
typed tables named after each type.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from agentcrdt.errors import NotFound, UsageError
from agentcrdt.log.keys import Identity
from agentcrdt.materialize.entities import EntityProjection
from agentcrdt.materialize.follower import Projection, SQLiteFollower
from agentcrdt.replica import SCOPE_META, Replica
from agentcrdt.schema import Entity, TypedEntityProjection
from agentcrdt.store.sqlite import SQLiteStore

__all__ = ["create_local", "open_local"]


def _follower(
    path: Path, entities: Sequence[type[Entity]], projections: tuple[Projection, ...]
) -> SQLiteFollower:
    base = TypedEntityProjection(entities) if entities else EntityProjection()
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
    p = Path(path)
    if p.exists():
        raise UsageError(f"{p} already exists; open it with open_local({str(p)!r}) or choose another path")
    store = SQLiteStore(p)
    replica = Replica.create(store, identity, name, owners=owners, **kwargs)
    follower = _follower(p, entities, projections)
    replica.followers.append(follower)
    follower.catch_up(replica)
    return replica


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
    follower.catch_up(replica)
    return replica
