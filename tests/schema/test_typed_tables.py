"""Typed tables: events projected through EntityProjection + the hook, queried with SQL."""

# pydantic copies field defaults per instance, so mutable defaults on Entity fields are safe.
# ruff: noqa: RUF012

from __future__ import annotations

import sqlite3
from collections.abc import Callable
from pathlib import Path
from typing import Annotated

import pytest
from schema_models import Color, Kitchen, Step

from agentcrdt.errors import UsageError
from agentcrdt.log.keys import Identity
from agentcrdt.materialize.entities import EntityProjection
from agentcrdt.materialize.follower import SQLiteFollower
from agentcrdt.ops.state import op
from agentcrdt.replica import Replica
from agentcrdt.schema import AddWinsSet, Counter, Entity, TypedEntityProjection, typed_table_hook
from agentcrdt.store.memory import MemoryStore


class Task(Entity):
    title: str = ""
    done: bool = False
    votes: Annotated[int, Counter()] = 0
    tags: Annotated[set[str], AddWinsSet()] = set()


def room(follower: SQLiteFollower, clock: Callable[[], int]) -> Replica:
    return Replica.create(
        MemoryStore(), Identity.from_name("alice"), "room", nonce="n", clock=clock, followers=[follower]
    )


def rows(follower: SQLiteFollower, sql: str) -> list[tuple[object, ...]]:
    return follower.query(sql)


def test_rows_follow_creates_updates_and_deletes(tick: Callable[[], int]) -> None:
    follower = SQLiteFollower(":memory:", [EntityProjection(hooks=(typed_table_hook([Task, Kitchen]),))])
    r = room(follower, tick)
    r.commit("ops", {"ops": Task.create_ops(id="t1", title="write docs", tags={"b", "a"})})
    r.commit("ops", {"ops": Task.create_ops(id="t2", title="ship", done=True)})
    state = r.state_at().entities[("Task", "t1")]
    r.commit("ops", {"ops": Task.update_ops("t1", state, votes=3, tags={"a", "c"})})
    r.commit("ops", {"ops": Task.delete_ops("t2")})
    got = rows(follower, 'SELECT id, title, done, votes, tags, deleted FROM "task" ORDER BY id')
    assert got == [("t1", "write docs", 0, 3, '["a","c"]', 0), ("t2", "ship", 1, 0, "[]", 1)]
    # The typed columns are queryable as SQL values, JSON included.
    live = rows(follower, "SELECT t.id FROM task t, json_each(t.tags) j WHERE j.value = 'c' AND NOT deleted")
    assert live == [("t1",)]
    created, updated = rows(follower, "SELECT created_at, updated_at FROM task WHERE id = 't1'")[0]
    assert isinstance(created, int) and isinstance(updated, int) and created < updated


def test_every_kind_lands_in_a_sensible_column(tick: Callable[[], int]) -> None:
    follower = SQLiteFollower(":memory:", [EntityProjection(hooks=(typed_table_hook([Kitchen]),))])
    r = room(follower, tick)
    ops = Kitchen.create_ops(
        id="k",
        title="t",
        price=2.5,
        big=2**70,
        color=Color.BLUE,
        step=Step(name="s", weight=0.5),
        steps=[Step(name="a")],
        body="text",
        attrs={"w": 1.5},
        labels={3, 1},
        status="open",
    )
    r.commit("ops", {"ops": ops})
    (row,) = rows(
        follower, "SELECT title, price, big, color, step, steps, body, attrs, labels, status FROM kitchen"
    )
    assert row == (
        "t",
        2.5,
        float(2**70),  # beyond 64 bits SQLite's INTEGER affinity keeps an approximation (from_state: exact)
        "blue",
        '{"name":"s","weight":0.5}',
        '[{"name":"a","weight":1.0}]',
        "text",
        '{"w":1.5}',
        "[1,3]",
        "open",
    )


def test_untyped_entities_and_invalid_values(tick: Callable[[], int]) -> None:
    follower = SQLiteFollower(":memory:", [EntityProjection(hooks=(typed_table_hook([Task]),))])
    r = room(follower, tick)
    r.commit("ops", {"ops": [op("Other", "o1", "x", "lww", {"set": 1})]})  # no class: generic table only
    assert rows(follower, "SELECT etype FROM entities") == [("Other",)]
    assert rows(follower, "SELECT name FROM sqlite_master WHERE name = 'other'") == []
    # A peer with another schema writes a value our class rejects: that cell is NULL, the row stays.
    r.commit(
        "ops", {"ops": [*Task.create_ops(id="t1", votes=2), op("Task", "t1", "title", "lww", {"set": [1]})]}
    )
    assert rows(follower, "SELECT id, title, votes FROM task") == [("t1", None, 2)]


def test_schema_change_refills_the_typed_table_from_entities(tmp_path: Path, tick: Callable[[], int]) -> None:
    db = tmp_path / "room.db"
    follower = SQLiteFollower(db, [EntityProjection(hooks=(typed_table_hook([Task]),))])
    r = room(follower, tick)
    r.commit("ops", {"ops": Task.create_ops(id="t1", title="a")})
    follower.close()

    class TaskV2(Entity, entity_type="Task"):
        title: str = ""
        priority: int = 1

    follower = SQLiteFollower(db, [TypedEntityProjection([TaskV2])])
    # The new field was never written: the row shows the class default, as from_state does.
    assert rows(follower, "SELECT id, title, priority FROM task") == [("t1", "a", 1)]
    columns = [c[1] for c in rows(follower, "PRAGMA table_info(task)")]
    assert columns == ["id", "created_at", "updated_at", "deleted", "title", "priority"]
    follower.close()


def test_typed_projection_rebuild_drops_stale_rows(tick: Callable[[], int]) -> None:
    follower = SQLiteFollower(":memory:", [TypedEntityProjection([Task])])
    r = room(follower, tick)
    r.commit("ops", {"ops": Task.create_ops(id="t1", title="a")})
    follower.db.execute("INSERT INTO task (id, deleted) VALUES ('ghost', 0)")
    r.feed(follower, reset=True)
    assert rows(follower, "SELECT id, title FROM task") == [("t1", "a")]


def test_typed_rows_commit_with_the_cursor(tick: Callable[[], int]) -> None:
    failing = [True]

    def crash(db: sqlite3.Connection, key: tuple[str, str], state: object) -> None:
        if failing[0]:
            raise RuntimeError("crash after the typed row was written")

    follower = SQLiteFollower(":memory:", [EntityProjection(hooks=(typed_table_hook([Task]), crash))])
    r = Replica.create(MemoryStore(), Identity.from_name("alice"), "room", nonce="n", clock=tick)
    r.commit("ops", {"ops": Task.create_ops(id="t1", title="a")})
    with pytest.raises(RuntimeError):
        r.feed(follower)
    # Rolled back with the cursor: not even the lazily created table survives.
    assert follower.cursor == 0
    assert rows(follower, "SELECT name FROM sqlite_master WHERE name = 'task'") == []
    failing[0] = False
    r.feed(follower)  # the hook must notice its table is gone and create it again
    assert rows(follower, "SELECT id, title FROM task") == [("t1", "a")]


def test_hook_refuses_clashing_or_reserved_tables() -> None:
    class task(Entity):
        pass

    class Entities(Entity):
        pass

    typed_table_hook([Task])
    with pytest.raises(UsageError, match="both map to table 'task'"):
        typed_table_hook([Task, task])
    with pytest.raises(UsageError, match="reserved table 'entities'"):
        typed_table_hook([Entities])
