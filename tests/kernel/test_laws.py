"""Every built-in type passes the CRDT laws; check_laws accepts a good λ-CRDT and rejects a broken one."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import strategies as st

from agentcrdt.kernel import TYPES, LatticeCRDT, Stamp, check_laws, get_type
from agentcrdt.kernel.clock import JSON

MAX_OPS = 8
scalars = st.one_of(st.integers(-3, 3), st.sampled_from(["a", "b", ""]), st.none(), st.booleans())
values = st.one_of(
    scalars, st.lists(scalars, max_size=2), st.dictionaries(st.sampled_from(["p", "q"]), scalars)
)
# Refers to ops of the same history by tag (event "e{i}" is the i-th op).
tags = st.lists(st.builds(lambda i: [f"e{i}", 0], st.integers(0, MAX_OPS - 1)), max_size=3)
elems = st.sampled_from(["x", "y", 1, True, None])
seen = st.dictionaries(
    st.sampled_from(["a", "b", "c"]), st.builds(lambda lam: [lam, 0], st.integers(0, MAX_OPS)), max_size=3
)

lww_ops = st.builds(lambda v: {"set": v}, values)
mv_ops = st.builds(lambda v, s: {"set": v, "seen": s}, values, tags)
gcounter_ops = st.builds(lambda n: {"inc": n}, st.integers(1, 5))
pncounter_ops = st.builds(lambda n: {"inc": n}, st.integers(-5, 5).filter(bool))
orset_ops = st.one_of(
    st.builds(lambda e: {"add": e}, elems), st.builds(lambda e, s: {"remove": e, "seen": s}, elems, tags)
)
lwwset_ops = st.one_of(st.builds(lambda e: {"add": e}, elems), st.builds(lambda e: {"remove": e}, elems))
elem_ids = st.builds(lambda i, o: [f"e{i}", 0, o], st.integers(0, MAX_OPS - 1), st.integers(0, 2))
rga_ops = st.one_of(
    st.builds(
        lambda vs, after: {"insert": vs, "after": after},
        st.lists(st.sampled_from("abc"), min_size=1, max_size=3),
        st.none() | elem_ids,
    ),
    st.builds(lambda ids: {"delete": ids}, st.lists(elem_ids, min_size=1, max_size=2)),
)
keys = st.sampled_from(["k1", "k2", "k3"])


def _map_ops(children: Any) -> Any:
    return st.one_of(
        st.builds(lambda k, c: {"key": k, "type": c[0], "op": c[1]}, keys, children),
        st.builds(lambda k, s: {"remove": k, "seen": s}, keys, seen),
    )


leaf_children = st.one_of(
    st.tuples(st.just("lww"), lww_ops),
    st.tuples(st.just("pncounter"), pncounter_ops),
    st.tuples(st.just("orset"), orset_ops),
    st.tuples(st.just("mv"), mv_ops),
    st.tuples(st.just("rga"), rga_ops),
)
map_ops = _map_ops(
    st.one_of(leaf_children, st.tuples(st.just("map"), _map_ops(st.tuples(st.just("lww"), lww_ops))))
)

STRATEGIES: dict[str, Any] = {
    "lww": lww_ops,
    "mv": mv_ops,
    "gcounter": gcounter_ops,
    "pncounter": pncounter_ops,
    "orset": orset_ops,
    "lwwset": lwwset_ops,
    "map": map_ops,
    "rga": rga_ops,
}


def test_every_builtin_type_has_a_strategy() -> None:
    assert set(STRATEGIES) <= set(TYPES)
    assert {"lww", "mv", "gcounter", "pncounter", "orset", "lwwset", "map", "rga"} == set(STRATEGIES)


@pytest.mark.parametrize("name", sorted(STRATEGIES))
def test_builtin_type_obeys_the_laws(name: str) -> None:
    check_laws(get_type(name), STRATEGIES[name], max_examples=150 if name == "map" else 80, max_ops=MAX_OPS)


class MaxRegister(LatticeCRDT[int, tuple[Stamp, int], int]):
    """The docstring example of laws.py: a register that keeps the greatest int."""

    name = "test-max"

    def empty(self) -> int:
        return 0

    def join(self, a: int, b: int) -> int:
        return max(a, b)

    def apply(self, state: int, op: tuple[Stamp, int]) -> int:
        return max(state, op[1])

    def encode_op(self, op: tuple[Stamp, int]) -> JSON:
        return {"max": op[1]}

    def decode_op(self, j: JSON, stamp: Stamp) -> tuple[Stamp, int]:
        return (stamp, j["max"])

    def encode_state(self, state: int) -> JSON:
        return state

    def decode_state(self, j: JSON) -> int:
        return int(j)


class LeftBiased(MaxRegister):
    """Broken on purpose: the join keeps its left argument whenever it is set."""

    name = "test-left"

    def join(self, a: int, b: int) -> int:
        return a or b


class Adder(MaxRegister):
    """Broken on purpose: apply is fine but the join double counts (not idempotent)."""

    name = "test-adder"

    def join(self, a: int, b: int) -> int:
        return a + b

    def apply(self, state: int, op: tuple[Stamp, int]) -> int:
        return state + op[1]


max_ops = st.integers(0, 50).map(lambda n: {"max": n})


def test_user_lattice_passes() -> None:
    check_laws(MaxRegister(), max_ops, max_examples=50)


def test_user_lattice_passes_with_explicit_states() -> None:
    check_laws(MaxRegister(), max_ops, states_strategy=st.integers(0, 50), max_examples=50)


def test_non_commutative_join_is_caught() -> None:
    with pytest.raises(AssertionError, match="law 'merge commutative' failed for CRDT type 'test-left'"):
        check_laws(LeftBiased(), max_ops, max_examples=200)


def test_non_idempotent_join_is_caught() -> None:
    with pytest.raises(AssertionError, match="law 'merge idempotent' failed for CRDT type 'test-adder'"):
        check_laws(Adder(), max_ops, max_examples=200)
