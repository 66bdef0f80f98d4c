"""The same replica logic over every store backend: sync across memory, SQLite and PostgreSQL."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from agentcrdt.log.audit import verify_log
from agentcrdt.log.keys import Identity
from agentcrdt.ops.state import op
from agentcrdt.replica import Replica
from agentcrdt.rooms.local import open_local
from agentcrdt.store import open_store
from agentcrdt.store.memory import MemoryStore
from agentcrdt.store.sqlite import SQLiteStore


def title(value: str, entity_id: str = "d1") -> dict[str, object]:
    return {"ops": [op("Doc", entity_id, "title", "lww", {"set": value})]}


def test_three_backends_converge(
    tmp_path: Path,
    postgres_url: str,
    postgres_schema: str,
    alice: Identity,
    bob: Identity,
    tick: Callable[[], int],
) -> None:
    def pg(scope: str) -> SQLiteStore:
        return open_store(f"{postgres_url}#schema={postgres_schema}", scope=scope)  # type: ignore[return-value]

    on_pg = Replica.create(pg, alice, "cross-backend room", owners=[bob.author], clock=tick)
    genesis = on_pg.store.get(on_pg.scope)
    assert genesis is not None
    path = tmp_path / "bob.db"
    Replica.join(SQLiteStore(path), genesis.raw).store.close()
    on_sqlite = open_local(path, identity=bob, clock=tick)
    in_memory = Replica.join(MemoryStore(), genesis.raw)

    on_pg.commit("ops", title("from postgres"))
    on_sqlite.commit("ops", title("from sqlite", "d2"))
    on_pg.sync_with(on_sqlite)
    in_memory.sync_with(on_pg)
    assert on_pg.heads == on_sqlite.heads == in_memory.heads
    snapshots = {repr(r.state_at().snapshot()) for r in (on_pg, on_sqlite, in_memory)}
    assert len(snapshots) == 1
    for r in (on_pg, on_sqlite, in_memory):
        assert verify_log(r.store.since(0), stored_heads=r.store.heads()).intact

    reopened = Replica.open(pg(on_pg.scope))
    assert reopened.heads == on_pg.heads and reopened.state_at().snapshot() == on_pg.state_at().snapshot()
