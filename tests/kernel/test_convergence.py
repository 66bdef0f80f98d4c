"""Replicas that make realistic ops from their own state and sync at random converge.

Each replica keeps a Lamport clock and a set of ops it holds; syncing merges states (state-based) and
unions op sets. At the end every replica is synced and must equal a fresh replay of all ops in Lamport
order (a linearization of causality), i.e. state is a function of the set of ops.
"""

from __future__ import annotations

from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from agentcrdt.kernel import MAP, ORSET, RGA, Inc, MapUpdate, SetAdd, Stamp
from agentcrdt.kernel.base import CRDTType

AUTHORS = ("a", "b", "c")


class Replica:
    def __init__(self, author: str, t: CRDTType[Any, Any, Any]) -> None:
        self.author, self.t = author, t
        self.state = t.empty()
        self.ops: dict[tuple[str, int], tuple[Stamp, Any]] = {}
        self.seq = 0

    def stamp(self) -> Stamp:
        self.seq += 1
        lamport = 1 + max((s.lamport for s, _ in self.ops.values()), default=0)
        return Stamp(lamport, self.author, f"{self.author}{self.seq}", 0)

    def do(self, op: Any) -> None:
        self.state = self.t.apply(self.state, op)
        self.ops[op.stamp.tag] = (op.stamp, op)

    def sync_from(self, other: Replica) -> None:
        self.state = self.t.merge(self.state, other.state)
        self.ops.update(other.ops)


def map_op(r: Replica, choice: int, key: str, value: int) -> Any:
    s = r.stamp()
    if choice == 0:
        return MAP.remove_op(r.state, s, key)
    if choice == 1:
        return MapUpdate(s, key, "pncounter", Inc(s, value or 1))
    if choice == 2:
        return MAP.path_op(s, [key, "inner"], "lww", MAP.set_op(s, "x", value).op)
    return MAP.set_op(s, key, value)


def rga_op(r: Replica, choice: int, pos: int, value: int) -> Any:
    n = len(RGA.value(r.state))
    s = r.stamp()
    if choice == 0 and n:
        return RGA.delete_op(r.state, s, pos % n)
    return RGA.insert_op(r.state, s, pos % (n + 1), [str(value)] * (1 + value % 3))


def orset_op(r: Replica, choice: int, key: str, value: int) -> Any:
    s = r.stamp()
    return ORSET.remove_op(r.state, s, key) if choice == 0 else SetAdd(s, key)


steps = st.lists(
    st.tuples(
        st.integers(0, 2),  # replica acting
        st.integers(0, 3),  # op choice
        st.sampled_from(["k1", "k2"]),
        st.integers(0, 9),
        st.integers(-1, 2),  # sync from replica (-1: none)
    ),
    max_size=25,
)


def run(t: CRDTType[Any, Any, Any], make: Any, script: list[tuple[int, int, str, int, int]]) -> None:
    reps = [Replica(a, t) for a in AUTHORS]
    for who, choice, key, value, sync in script:
        r = reps[who]
        if sync >= 0 and sync != who:
            r.sync_from(reps[sync])
        arg: Any = value if t is RGA else key
        r.do(make(r, choice, arg, value))
    for r in reps:  # full sync, twice around the ring
        for other in reps:
            r.sync_from(other)
    for r in reps:
        for other in reps:
            r.sync_from(other)
    fresh = t.empty()
    for _, op in sorted(reps[0].ops.values(), key=lambda so: so[0]):
        fresh = t.apply(fresh, op)
    values = [t.value(r.state) for r in reps]
    assert values[0] == values[1] == values[2] == t.value(fresh)


@settings(max_examples=120, deadline=None)
@given(steps)
def test_map_replicas_converge(script: list[tuple[int, int, str, int, int]]) -> None:
    run(MAP, map_op, script)


@settings(max_examples=120, deadline=None)
@given(steps)
def test_rga_replicas_converge(script: list[tuple[int, int, str, int, int]]) -> None:
    run(RGA, lambda r, c, pos, v: rga_op(r, c, pos, v), script)


@settings(max_examples=80, deadline=None)
@given(steps)
def test_orset_replicas_converge(script: list[tuple[int, int, str, int, int]]) -> None:
    run(ORSET, orset_op, script)
