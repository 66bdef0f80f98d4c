"""Rooms with their default follower: in memory, in a file, and a second peer joined in-process."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import Annotated

import pytest

from agentcrdt import (
    AddWinsSet,
    Capability,
    Entity,
    Identity,
    NotFound,
    UsageError,
    create_local,
    create_memory,
    grant,
    join_local,
    join_memory,
    open_local,
)
from agentcrdt.replica import Replica
from agentcrdt.store.memory import MemoryStore


class Task(Entity):
    title: str = ""
    tags: Annotated[set[str], AddWinsSet()] = set()  # noqa: RUF012  (pydantic copies defaults)


def test_a_memory_room_answers_sql_and_typed_reads(alice: Identity) -> None:
    with create_memory(alice, "room", entities=[Task]) as room:
        room.commit("ops", {"ops": Task.create_ops(id="t1", title="one", tags={"a"})})
        room.commit("ops", {"ops": Task.create_ops(id="t2", title="two")})
        room.commit("ops", {"ops": Task.delete_ops("t2")})
        task = room.get(Task, "t1")
        assert task is not None and task.title == "one" and task.tags == {"a"}
        assert room.get(Task, "t2") is None and room.get(Task, "nope") is None
        assert [t.id for t in room.all(Task)] == ["t1"]
        assert room.query("SELECT id, title FROM task WHERE deleted = 0") == [("t1", "one")]


def test_a_replica_without_an_sql_follower_says_how_to_get_one(alice: Identity) -> None:
    bare = Replica.create(MemoryStore(), alice, "room")
    with pytest.raises(UsageError, match="create_memory"):
        bare.query("SELECT 1")


def test_a_joined_peer_holds_everything_and_syncs_both_ways(alice: Identity, bob: Identity) -> None:
    room = create_memory(alice, "room", entities=[Task])
    room.commit("ops", {"ops": Task.create_ops(id="t1", title="before the join")})
    grant(room, bob.author, Capability("editor", writes=("Task.*",), mode="direct"))
    laptop = join_memory(room, bob, entities=[Task])
    assert laptop.state_hash() == room.state_hash()
    assert laptop.query("SELECT title FROM task") == [("before the join",)]
    laptop.commit(
        "ops", {"ops": Task.update_ops("t1", laptop.state_at().entities[("Task", "t1")], title="b")}
    )
    room.commit("ops", {"ops": Task.create_ops(id="t2", title="a")})
    assert laptop.state_hash() != room.state_hash()
    laptop.sync_with(room)
    assert laptop.state_hash() == room.state_hash()
    assert sorted(t.title for t in room.all(Task)) == ["a", "b"]


def test_a_joined_peer_needs_its_own_identity(alice: Identity) -> None:
    room = create_memory(alice, "room")
    with pytest.raises(UsageError, match="its own identity"):
        join_memory(room, alice)


def test_a_peer_joined_into_a_file_reopens_with_its_state(tmp_path: Path, alice: Identity) -> None:
    room = create_memory(alice, "room", entities=[Task])
    room.commit("ops", {"ops": Task.create_ops(id="t1", title="kept")})
    with join_local(tmp_path / "copy.db", room, entities=[Task]) as copy:
        digest = copy.state_hash()
    with open_local(tmp_path / "copy.db", entities=[Task]) as again:
        assert again.state_hash() == digest == room.state_hash()
        assert again.query("SELECT title FROM task") == [("kept",)]
    with pytest.raises(UsageError, match="already exists"):
        join_local(tmp_path / "copy.db", room)
    with pytest.raises(NotFound):
        open_local(tmp_path / "missing.db")


def test_the_kept_state_follows_commits_undo_and_retroactive_changes(alice: Identity, bob: Identity) -> None:
    room = create_memory(alice, "room", owners=(bob.author,))
    peer = join_memory(room, bob)
    first = room.commit("ops", {"ops": Task.create_ops(id="t1", title="x")})
    assert room.get(Task, "t1") is not None
    room.undo(first.id)
    assert room.state_at().snapshot() == room.state_at(room.heads).snapshot()
    peer.sync_with(room)
    assert peer.state_hash() == room.state_hash()
    # An equivocation found later makes an event already folded invalid: the kept state follows.
    fork = Replica.join(MemoryStore(), room.genesis.raw, identity=bob)
    peer.commit("ops", {"ops": Task.create_ops(id="t9", title="one branch")})
    assert peer.get(Task, "t9") is not None
    fork.commit("ops", {"ops": Task.create_ops(id="t9", title="the other")})
    peer.ingest(fork.missing_for(peer.heads))
    assert peer.get(Task, "t9") is None  # both halves of bob's fork are quarantined
    assert peer.state_at().snapshot() == peer.state_at(peer.heads).snapshot()


def test_opening_a_room_without_entity_classes_does_not_import_pydantic(
    tmp_path: Path, alice: Identity
) -> None:
    # Typed tables are opt-in; every CLI command and agent worker opens rooms, and pydantic costs ~60 ms
    # to import, so an untyped open must not pay it (benchmarks/open.py reports the import time).
    path = tmp_path / "room.db"
    create_local(path, alice, "room").close()
    code = (
        "import sys; from agentcrdt.rooms.local import open_local; "
        f"r = open_local({str(path)!r}); r.query('SELECT 1'); r.close(); "
        "assert 'pydantic' not in sys.modules, 'pydantic imported'"
    )
    subprocess.run([sys.executable, "-c", code], check=True)
