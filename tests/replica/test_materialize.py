"""Followers (cursor-atomic projections) and atoms (reactive queries)."""

from __future__ import annotations

import sqlite3
from pathlib import Path
from typing import Any

import pytest

from agentcrdt.errors import StoreError
from agentcrdt.log.event import Event, create_event
from agentcrdt.log.keys import Identity
from agentcrdt.materialize import Atom, EntityProjection, Projection, Reader, SQLiteFollower, Touched
from agentcrdt.ops.state import DecodedOp, DocState, op
from agentcrdt.replica import Applied, Replica
from agentcrdt.store.memory import MemoryStore


def title(value: str, entity_id: str = "d1") -> dict[str, object]:
    return {"ops": [op("Doc", entity_id, "title", "lww", {"set": value})]}


def rows(f: SQLiteFollower) -> list[tuple[Any, ...]]:
    return f.query("SELECT etype, id, value, deleted FROM entities ORDER BY etype, id")


def memdb() -> sqlite3.Connection:
    return sqlite3.connect(":memory:", isolation_level=None)


def test_projection_follows_commits_and_ingest(pair: tuple[Replica, Replica]) -> None:
    a, b = pair
    fa, fb = SQLiteFollower(memdb(), [EntityProjection()]), SQLiteFollower(memdb(), [EntityProjection()])
    a.followers.append(fa)
    b.followers.append(fb)
    a.commit("ops", title("hello"))
    b.commit("ops", {"ops": [op("Doc", "d1", "views", "pncounter", {"inc": 3})]})
    a.sync_with(b)
    assert rows(fa) == rows(fb)
    assert rows(fa) == [("Doc", "d1", '{"title":"hello","views":3}', 0)]
    b.commit("ops", {"ops": [op("Doc", "d1", "_deleted", "lww", {"set": True})]})
    a.sync_with(b)
    assert rows(fa) == rows(fb) and rows(fa)[0][3] == 1


class Exploding(Projection):
    name = "exploding"

    def __init__(self) -> None:
        self.armed = True

    def setup(self, db: sqlite3.Connection) -> None:
        pass

    def reset(self, db: sqlite3.Connection) -> None:
        pass

    def process(self, db: sqlite3.Connection, event: Event, effects: list[DecodedOp]) -> Touched:
        if self.armed and event.kind == "ops" and event.payload["ops"][0]["op"].get("set") == "boom":
            raise StoreError("simulated crash in the middle of a batch")
        return set()


def test_cursor_and_rows_commit_together(pair: tuple[Replica, Replica]) -> None:
    a, _ = pair
    db = memdb()
    bomb = Exploding()
    follower = SQLiteFollower(db, [EntityProjection(), bomb])
    a.commit("ops", title("before"))
    a.feed(follower)
    cursor = follower.cursor
    a.commit("ops", title("fine", "d2"))
    a.commit("ops", title("boom", "d3"))
    with pytest.raises(StoreError):
        a.feed(follower)
    # The batch rolled back whole: no d2 row without its cursor, no cursor without its rows.
    assert follower.cursor == cursor and [r[1] for r in rows(follower)] == ["d1"]
    bomb.armed = False
    a.feed(follower)
    assert [r[1] for r in rows(follower)] == ["d1", "d2", "d3"] and follower.cursor == a.store.last_position()


def test_follower_resumes_from_its_cursor_after_restart(
    tmp_path: Path, pair: tuple[Replica, Replica]
) -> None:
    a, _ = pair
    path = tmp_path / "proj.db"
    first = SQLiteFollower(path, [EntityProjection()])
    a.commit("ops", title("one"))
    a.feed(first)
    first.close()
    a.commit("ops", title("two", "d2"))
    again = SQLiteFollower(path, [EntityProjection()])
    assert again.cursor > 0
    a.feed(again)
    assert [r[1] for r in rows(again)] == ["d1", "d2"]


class EntityProjectionV2(EntityProjection):
    version = 2


def test_version_change_rebuilds_from_the_log(tmp_path: Path, pair: tuple[Replica, Replica]) -> None:
    a, _ = pair
    path = tmp_path / "proj.db"
    v1 = SQLiteFollower(path, [EntityProjection()])
    a.commit("ops", title("one"))
    a.feed(v1)
    v1.db.execute("UPDATE entities SET value = 'stale'")  # rows the new version must not trust
    v1.close()
    v2 = SQLiteFollower(path, [EntityProjectionV2()])
    assert v2.cursor == 0
    a.feed(v2)
    assert rows(v2) == [("Doc", "d1", '{"title":"one"}', 0)]


def test_retroactive_quarantine_rebuilds_rows(pair: tuple[Replica, Replica], bob: Identity) -> None:
    a, _ = pair
    follower = SQLiteFollower(memdb(), [EntityProjection()])
    a.followers.append(follower)
    head = max(a.heads)
    one = create_event(
        bob, scope=a.scope, seq=1, deps=[head], lamport=2, time_ms=0, kind="ops", payload=title("1")
    )
    two = create_event(
        bob, scope=a.scope, seq=1, deps=[head], lamport=2, time_ms=1, kind="ops", payload=title("2")
    )
    a.ingest([one.raw])
    assert rows(follower) == [("Doc", "d1", '{"title":"1"}', 0)]
    a.ingest([two.raw])
    assert rows(follower) == []


def test_atom_notifies_when_and_only_when_its_reads_change(pair: tuple[Replica, Replica]) -> None:
    a, _ = pair
    follower = SQLiteFollower(memdb(), [EntityProjection()])
    a.followers.append(follower)
    a.commit("ops", title("start"))
    seen: list[object] = []
    atom = Atom(follower, lambda r: (r.entity("Doc", "d1") or {}).get("title"))
    atom.subscribe(seen.append)
    assert atom.value == "start"
    a.commit("ops", title("other entity", "d2"))
    assert seen == []
    a.commit("ops", title("changed"))
    assert seen == ["changed"]
    everything = Atom(follower, lambda r: r.sql("SELECT count(*) FROM entities")[0][0])
    counts: list[object] = []
    everything.subscribe(counts.append)
    a.commit("ops", title("third", "d3"))
    assert counts == [3] and seen == ["changed"]
    everything.close()
    atom.close()


def test_atom_tracks_dependencies_dynamically(pair: tuple[Replica, Replica]) -> None:
    a, _ = pair
    follower = SQLiteFollower(memdb(), [EntityProjection()])
    a.followers.append(follower)
    a.commit("ops", {"ops": [op("Cfg", "main", "target", "lww", {"set": "d1"})]})

    def query(r: Reader) -> object:
        target = (r.entity("Cfg", "main") or {}).get("target")
        return (r.entity("Doc", str(target)) or {}).get("title")

    atom = Atom(follower, query)
    seen: list[object] = []
    atom.subscribe(seen.append)
    a.commit("ops", title("for d2", "d2"))
    assert seen == []
    a.commit("ops", {"ops": [op("Cfg", "main", "target", "lww", {"set": "d2"})]})
    assert seen == ["for d2"]
    a.commit("ops", title("ignored now", "d1"))
    assert seen == ["for d2"]


def test_atoms_are_read_only() -> None:
    follower = SQLiteFollower(memdb(), [EntityProjection()])
    with pytest.raises(sqlite3.DatabaseError):
        Atom(follower, lambda r: r.sql("DELETE FROM entities"))


def views(n: int, entity_id: str = "d1") -> dict[str, object]:
    return {"ops": [op("Doc", entity_id, "views", "pncounter", {"inc": n})]}


def test_a_follower_drops_remembered_rows_when_another_writer_moved_its_cursor(
    tmp_path: Path, pair: tuple[Replica, Replica]
) -> None:
    # Two followers of one name on one file stand for two processes sharing a room's projection.
    a, _ = pair
    path = tmp_path / "shared.db"
    one, two = SQLiteFollower(path, [EntityProjection()]), SQLiteFollower(path, [EntityProjection()])
    a.commit("ops", views(1))
    a.feed(one)  # one now remembers d1 with views = 1
    a.commit("ops", views(10))
    a.feed(two)  # the other writer adds 10 and moves the shared cursor
    a.commit("ops", views(100))
    a.feed(one)  # must start from the stored row (11), not from what it remembers (1)
    assert rows(one) == [("Doc", "d1", '{"views":111}', 0)]


def test_a_rolled_back_batch_leaves_nothing_behind_in_memory(pair: tuple[Replica, Replica]) -> None:
    a, _ = pair
    bomb = Exploding()
    follower = SQLiteFollower(memdb(), [EntityProjection(), bomb])
    a.commit("ops", views(1))
    a.feed(follower)
    a.commit("ops", views(10))
    a.commit("ops", title("boom", "d9"))
    with pytest.raises(StoreError):
        a.feed(follower)  # the entity projection applied +10 before the bomb went off
    bomb.armed = False
    a.feed(follower)
    assert rows(follower)[0] == ("Doc", "d1", '{"views":11}', 0)


def test_entities_evicted_from_memory_are_read_back_from_their_rows(pair: tuple[Replica, Replica]) -> None:
    a, _ = pair
    follower = SQLiteFollower(memdb(), [EntityProjection(cache_size=2)])
    a.followers.append(follower)
    for round_ in range(3):
        a.commit_many([("ops", views(1, f"d{i}")) for i in range(5)])
        assert {r[2] for r in rows(follower)} == {f'{{"views":{round_ + 1}}}'}


class Recorder:
    """A follower that keeps what it is fed: the contract, with no database and no replica in sight."""

    def __init__(self) -> None:
        self.at = 0
        self.held = 0
        self.state = DocState()
        self.batches: list[Applied] = []

    def position(self) -> int:
        return self.at

    def epoch(self) -> int:
        return self.held

    def apply(self, batch: Applied) -> None:
        self.batches.append(batch)
        self.held = batch.epoch
        if batch.reset:
            self.at, self.state = 0, DocState()
        assert batch.start == self.at, "a batch must continue where the follower is"
        for applied in batch.events:
            assert batch.start < applied.position <= batch.end
            self.state.apply_ops(applied.effects, applied.event.time)
        self.at = batch.end


def test_followers_are_fed_applied_batches_and_a_reset_when_verdicts_change(
    pair: tuple[Replica, Replica],
) -> None:
    a, b = pair
    recorder = Recorder()
    a.followers.append(recorder)
    a.feed(recorder)  # the genesis
    for i in range(3):
        a.commit("ops", title(f"v{i}", f"d{i}"))
    assert recorder.at == a.store.last_position() and not any(x.reset for x in recorder.batches)
    assert recorder.state.snapshot() == a.state_at().snapshot()
    # b signs two events with one seq (an equivocation): the one a already applied is quarantined.
    fork = Replica.join(MemoryStore(), a.genesis.raw, identity=b.identity)
    b.sync_with(a)
    b.commit("ops", title("one branch", "x"))
    fork.commit("ops", title("the other", "x"))
    a.sync_with(b)
    assert recorder.state.value("Doc", "x") is not None
    a.ingest(fork.missing_for(a.heads))
    assert any(x.reset for x in recorder.batches)
    assert recorder.state.value("Doc", "x") is None
    assert recorder.state.snapshot() == a.state_at().snapshot()
