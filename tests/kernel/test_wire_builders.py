"""The stamp-free op builders return exactly the wire op the stamped builders encode to, on any state."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from agentcrdt.errors import UsageError
from agentcrdt.kernel import (
    GCOUNTER,
    LWW,
    LWWSET,
    MAP,
    MV,
    ORSET,
    PNCOUNTER,
    RGA,
    SetAdd,
    SetRemove,
    SetValue,
    Stamp,
)
from agentcrdt.kernel.base import canonical

from .test_laws import STRATEGIES, elems, keys, values

authors = st.text("abcdef0123", min_size=1, max_size=6)  # fresh identities: the author orders stamps


@st.composite
def histories(draw: st.DrawFn, name: str) -> tuple[Any, Stamp]:
    """A state built from random ops by random authors at random (tied or not) Lamport times."""
    t = {"lww": LWW, "mv": MV, "orset": ORSET, "lwwset": LWWSET, "map": MAP, "rga": RGA}[name]
    state = t.empty()
    for i, j in enumerate(draw(st.lists(STRATEGIES[name], max_size=8))):
        stamp = Stamp(draw(st.integers(0, 3)), draw(authors), f"e{i}", 0)
        state = t.apply(state, t.decode_op(j, stamp))
    return state, Stamp(9, draw(authors), "e-new", draw(st.integers(0, 3)))


def same(t: Any, wire: Any, stamped: Any, stamp: Stamp) -> None:
    assert canonical(wire) == canonical(t.encode_op(stamped))
    assert t.decode_op(wire, stamp) == stamped


@settings(max_examples=150)
@given(histories("mv"), values)
def test_mv_set(h: tuple[Any, Stamp], v: Any) -> None:
    state, stamp = h
    same(MV, MV.set(state, v), MV.set_op(state, stamp, v), stamp)


@settings(max_examples=150)
@given(histories("orset"), elems)
def test_orset_add_and_remove(h: tuple[Any, Stamp], e: Any) -> None:
    state, stamp = h
    same(ORSET, ORSET.add(e), SetAdd(stamp, e), stamp)
    same(ORSET, ORSET.remove(state, e), ORSET.remove_op(state, stamp, e), stamp)


@settings(max_examples=150)
@given(histories("map"), keys, values)
def test_map_set_update_and_remove(h: tuple[Any, Stamp], k: str, v: Any) -> None:
    state, stamp = h
    same(MAP, MAP.set(k, v), MAP.set_op(stamp, k, v), stamp)
    same(MAP, MAP.remove(state, k), MAP.remove_op(state, stamp, k), stamp)
    nested = MAP.path_op(stamp, [k, "inner"], "orset", SetAdd(stamp, v if isinstance(v, int) else 1))
    same(MAP, MAP.update([k, "inner"], "orset", ORSET.add(v if isinstance(v, int) else 1)), nested, stamp)


@settings(max_examples=150)
@given(histories("rga"), st.data())
def test_rga_insert_and_delete(h: tuple[Any, Stamp], data: st.DataObject) -> None:
    state, stamp = h
    n = len(RGA.value(state))
    pos = data.draw(st.integers(0, n))
    same(RGA, RGA.insert(state, pos, ["z"]), RGA.insert_op(state, stamp, pos, ["z"]), stamp)
    if n:
        at = data.draw(st.integers(0, n - 1))
        count = data.draw(st.integers(1, n - at))
        same(RGA, RGA.delete(state, at, count), RGA.delete_op(state, stamp, at, count), stamp)


@given(values, elems)
def test_registers_counters_and_lww_sets(v: Any, e: Any) -> None:
    s = Stamp(1, "a", "e", 0)
    same(LWW, LWW.set(v), SetValue(s, v), s)
    same(LWWSET, LWWSET.add(e), SetAdd(s, e), s)
    same(LWWSET, LWWSET.remove(e), SetRemove(s, e), s)
    assert GCOUNTER.inc(3) == PNCOUNTER.inc(3) == {"inc": 3} and PNCOUNTER.inc(-2) == {"inc": -2}


@pytest.mark.parametrize(
    ("build", "message"),
    [
        (lambda: GCOUNTER.inc(-1), "pncounter"),
        (lambda: PNCOUNTER.inc(0), "non-zero"),
        (lambda: LWW.set(1.5), "float"),
        (lambda: MAP.update([], "lww", LWW.set(1)), "at least one key"),
        (lambda: MAP.update("k", "nope", {}), "nope"),
        (lambda: RGA.insert(RGA.empty(), 1, ["a"]), "0..0"),
        (lambda: RGA.delete(RGA.empty(), 0), "cannot delete"),
    ],
)
def test_a_bad_wire_op_fails_when_built_not_when_a_replica_reads_it(build: Any, message: str) -> None:
    with pytest.raises(UsageError, match=message):
        build()
