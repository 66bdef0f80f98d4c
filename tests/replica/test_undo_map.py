"""Undo of map ops: the latest change to a map field is undone exactly, or refused with a reason."""

from __future__ import annotations

import itertools
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from agentcrdt.errors import UsageError
from agentcrdt.kernel import LWW, MAP, ORSET, PNCOUNTER
from agentcrdt.log.keys import Identity
from agentcrdt.ops.state import op
from agentcrdt.replica import Replica
from agentcrdt.store.memory import MemoryStore

KEYS = ("a", "b", "c")


def field(r: Replica) -> Any:
    doc = r.state_at().entities.get(("Doc", "d1"))
    return None if doc is None else doc.fields.get(("m", "map"))


def value(r: Replica) -> dict[str, Any]:
    state = field(r)
    return {} if state is None else MAP.value(state)


def replicas(owner: str, other: str) -> tuple[Replica, Replica]:
    ticks = itertools.count(1)
    a_id, b_id = Identity.from_name(owner), Identity.from_name(other)
    a = Replica.create(
        MemoryStore(), a_id, "room", owners=[b_id.author], nonce="n", clock=lambda: next(ticks)
    )
    genesis = a.store.get(a.scope)
    assert genesis is not None
    return a, Replica.join(MemoryStore(), genesis.raw, identity=b_id, clock=lambda: next(ticks))


# One map op, built from the replica's current state (removes cover what it has seen).
CHANGES = st.one_of(
    st.tuples(st.just("set"), st.sampled_from(KEYS), st.integers(0, 3)),
    st.tuples(st.just("nested"), st.sampled_from(KEYS), st.integers(0, 3)),
    st.tuples(st.just("add"), st.sampled_from(KEYS), st.integers(0, 3)),
    st.tuples(st.just("count"), st.sampled_from(KEYS), st.integers(1, 3)),
    st.tuples(st.just("remove"), st.sampled_from(KEYS), st.just(0)),
)


def wire(r: Replica, change: tuple[str, str, int]) -> dict[str, Any]:
    kind, key, n = change
    state = field(r) or MAP.empty()
    j = {
        "set": lambda: MAP.set(key, n),
        "nested": lambda: MAP.update([key, "x"], "lww", LWW.set(n)),
        "add": lambda: MAP.update(key, "orset", ORSET.add(n)),
        "count": lambda: MAP.update(key, "pncounter", PNCOUNTER.inc(n)),
        "remove": lambda: MAP.remove(state, key),
    }[kind]()
    return op("Doc", "d1", "m", "map", j)


@settings(max_examples=120, deadline=None)
@given(
    st.lists(st.tuples(st.booleans(), st.lists(CHANGES, min_size=1, max_size=3)), max_size=6),
    st.lists(CHANGES, min_size=1, max_size=3),
    st.text("abcdef", min_size=1, max_size=4),
)
def test_undoing_the_latest_change_restores_the_map_or_says_why_not(
    history: list[tuple[bool, list[tuple[str, str, int]]]], last: list[tuple[str, str, int]], name: str
) -> None:
    a, b = replicas(f"alice-{name}", f"bob-{name}")  # fresh identities: authors order concurrent stamps
    for by_bob, changes in history:
        writer = b if by_bob else a
        writer.commit("ops", {"ops": [wire(writer, c) for c in changes]})
        a.sync_with(b)
    before = value(a)
    change = a.commit("ops", {"ops": [wire(a, c) for c in last]})
    if value(a) == before:
        return  # nothing visible changed (a remove of an absent key, a re-set of the same value...)
    try:
        a.undo(change.id)
    except UsageError as e:
        # Only a key that held an empty set or map cannot be brought back (removed or replaced by E).
        assert "cannot bring back map key" in str(e) and "empty" in str(e)
        assert any(repr(key) in str(e) for _, key, _ in last)
        return
    assert value(a) == before
    a.sync_with(b)
    assert value(b) == before


def test_a_removed_key_comes_back_with_what_it_held() -> None:
    a, b = replicas("alice", "bob")
    a.commit(
        "ops", {"ops": [wire(a, ("nested", "k", 1)), wire(a, ("add", "s", 2)), wire(a, ("set", "v", 3))]}
    )
    a.sync_with(b)
    gone = a.commit("ops", {"ops": [wire(a, ("remove", k, 0)) for k in ("k", "s", "v")]})
    assert value(a) == {}
    a.undo(gone.id)
    a.sync_with(b)
    assert value(a) == value(b) == {"k": {"x": 1}, "s": [2], "v": 3}


def test_an_update_someone_overwrote_or_removed_since_is_left_alone() -> None:
    a, b = replicas("alice", "bob")
    mine = a.commit("ops", {"ops": [wire(a, ("set", "k", 1)), wire(a, ("set", "j", 1))]})
    a.sync_with(b)
    b.commit("ops", {"ops": [wire(b, ("set", "k", 2)), wire(b, ("remove", "j", 0))]})
    a.sync_with(b)
    with pytest.raises(UsageError, match="nothing to undo"):
        a.undo(mine.id)
    assert value(a) == {"k": 2}


def test_a_key_that_cannot_come_back_unchanged_is_refused_with_the_reason() -> None:
    a, _ = replicas("alice", "bob")
    a.commit("ops", {"ops": [op("Doc", "d1", "m", "map", MAP.update("n", "gcounter", {"inc": 2}))]})
    gone = a.commit("ops", {"ops": [wire(a, ("remove", "n", 0))]})
    with pytest.raises(UsageError, match=r"held a 'gcounter'.*write the value you want"):
        a.undo(gone.id)
    assert value(a) == {}  # nothing was written
    a.commit("ops", {"ops": [wire(a, ("count", "c", 2))]})  # the passing twin: a pncounter comes back
    gone = a.commit("ops", {"ops": [wire(a, ("remove", "c", 0))]})
    a.undo(gone.id)
    assert value(a) == {"c": 2}
