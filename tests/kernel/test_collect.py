"""Tombstone collection keeps values unchanged and only drops what causal stability makes safe."""

from __future__ import annotations

from agentcrdt.kernel import (
    LWWSET,
    MAP,
    MV,
    ORSET,
    RGA,
    Inc,
    MapUpdate,
    SeqInsert,
    SetAdd,
    SetRemove,
    Stamp,
    Tag,
)


def stamp(n: int, author: str = "a") -> Stamp:
    return Stamp(n, author, f"e{n}", 0)


def everything(_: Tag) -> bool:
    return True


def nothing(_: Tag) -> bool:
    return False


def test_orset_drops_stable_removed_tags_only() -> None:
    s = ORSET.apply(ORSET.empty(), SetAdd(stamp(1), "x"))
    ORSET.apply(s, ORSET.remove_op(s, stamp(2), "x"))
    assert ORSET.collect(ORSET.copy(s), nothing).removed
    done = ORSET.collect(s, lambda tag: tag == ("e2", 0))
    assert done.removed == {} and ORSET.value(done) == []


def test_mv_and_lwwset_drop_stable_tombstones() -> None:
    m = MV.apply(MV.empty(), MV.set_op(MV.empty(), stamp(1), "old"))
    MV.apply(m, MV.set_op(m, stamp(2), "new"))
    assert MV.collect(m, everything).dead == {} and MV.value(m) == ["new"]
    s = LWWSET.apply(LWWSET.empty(), SetAdd(stamp(1), "x"))
    LWWSET.apply(s, SetRemove(stamp(2), "x"))
    assert LWWSET.collect(LWWSET.copy(s), nothing).elems
    assert LWWSET.collect(s, everything).elems == {}


def test_rga_drops_leaf_tombstones_but_keeps_anchors() -> None:
    s = RGA.apply(RGA.empty(), SeqInsert(stamp(1), None, tuple("abc")))
    RGA.apply(s, RGA.delete_op(s, stamp(2), 0, 2))  # delete "a" and "b": "b" anchors "c"
    before = RGA.value(s)
    RGA.collect(s, everything)
    assert RGA.value(s) == before == ["c"]
    assert set(s.nodes) == {("e1", 0, 0), ("e1", 0, 1), ("e1", 0, 2)}  # chain a->b->c: all anchor
    RGA.apply(s, RGA.delete_op(s, stamp(3), 0))
    RGA.collect(s, everything)
    assert s.nodes == {} and s.deleted == {} and s.children == {}


def test_rga_collect_waits_for_stability() -> None:
    s = RGA.apply(RGA.empty(), SeqInsert(stamp(1), None, ("a",)))
    RGA.apply(s, RGA.delete_op(s, stamp(2), 0))
    RGA.collect(s, nothing)
    assert s.nodes and s.deleted


def test_map_drops_stable_removed_lww_keys_and_keeps_counters() -> None:
    s = MAP.apply(MAP.empty(), MAP.set_op(stamp(1), "title", "x"))
    MAP.apply(s, MapUpdate(stamp(2), "n", "pncounter", Inc(stamp(2), 1)))
    MAP.apply(s, MAP.remove_op(s, stamp(3), "title"))
    MAP.apply(s, MAP.remove_op(s, stamp(4), "n"))
    MAP.collect(s, nothing)
    assert set(s) == {"title", "n"}
    MAP.collect(s, everything)
    assert set(s) == {"n"} and MAP.value(s) == {}  # a revived counter must still show its past


def test_map_collect_recurses_into_children() -> None:
    s = MAP.apply(MAP.empty(), MapUpdate(stamp(1), "tags", "orset", SetAdd(stamp(1), "t")))
    inner = MAP.child(s, "tags", "orset")
    MAP.apply(s, MapUpdate(stamp(2), "tags", "orset", ORSET.remove_op(inner, stamp(2), "t")))
    MAP.collect(s, everything)
    assert MAP.child(s, "tags", "orset").removed == {}
