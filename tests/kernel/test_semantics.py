"""Type-specific semantics: add-wins sets and maps, LWW order, MV conflicts, RGA ordering, counters."""

from __future__ import annotations

from typing import Any

from agentcrdt.kernel import (
    GCOUNTER,
    LWW,
    LWWSET,
    MAP,
    MV,
    ORSET,
    PNCOUNTER,
    RGA,
    Inc,
    MapUpdate,
    SeqInsert,
    SetAdd,
    SetRemove,
    SetValue,
    Stamp,
)


def st_(lamport: int, author: str, event: str | None = None, index: int = 0) -> Stamp:
    return Stamp(lamport, author, event or f"{author}{lamport}", index)


def both_ways(t: Any, a: Any, b: Any) -> Any:
    ab, ba = t.merge(a, b), t.merge(b, a)
    assert t.value(ab) == t.value(ba)
    return t.value(ab)


def test_stamp_order_is_lamport_then_author_then_event_then_index() -> None:
    assert st_(1, "z") < st_(2, "a")
    assert st_(2, "a", "e9") < st_(2, "b", "e0")
    assert Stamp(2, "a", "e1", 5) < Stamp(2, "a", "e2", 0) < Stamp(2, "a", "e2", 1)
    assert Stamp(3, "a", "ev", 4).tag == ("ev", 4)


def test_lww_highest_stamp_wins_in_any_order() -> None:
    lo, hi = SetValue(st_(1, "b"), "lo"), SetValue(st_(1, "c"), "hi")
    assert LWW.value(LWW.apply(LWW.apply(LWW.empty(), lo), hi)) == "hi"
    assert LWW.value(LWW.apply(LWW.apply(LWW.empty(), hi), lo)) == "hi"
    assert LWW.value(LWW.empty()) is None


def test_mv_keeps_concurrent_writes_and_a_later_write_resolves_them() -> None:
    a = MV.apply(MV.empty(), MV.set_op(MV.empty(), st_(1, "a"), "from a"))
    b = MV.apply(MV.empty(), MV.set_op(MV.empty(), st_(1, "b"), "from b"))
    m = MV.merge(a, b)
    assert MV.value(m) == ["from a", "from b"] and MV.conflict(m)
    resolved = MV.apply(MV.copy(m), MV.set_op(m, st_(2, "a"), "merged"))
    assert MV.value(resolved) == ["merged"] and not MV.conflict(resolved)
    # a stale replica that still holds a superseded write cannot revive it
    assert MV.value(MV.merge(b, resolved)) == ["merged"]


def test_counters_add_per_author_and_merge_by_max() -> None:
    g1 = GCOUNTER.apply(GCOUNTER.empty(), Inc(st_(1, "a"), 2))
    g2 = GCOUNTER.apply(GCOUNTER.copy(g1), Inc(st_(2, "a"), 3))
    g3 = GCOUNTER.apply(GCOUNTER.empty(), Inc(st_(1, "b"), 4))
    assert both_ways(GCOUNTER, g2, GCOUNTER.merge(g1, g3)) == 9
    p = PNCOUNTER.apply(PNCOUNTER.empty(), Inc(st_(1, "a"), 5))
    q = PNCOUNTER.apply(PNCOUNTER.empty(), Inc(st_(1, "b"), -7))
    assert both_ways(PNCOUNTER, p, q) == -2


def test_orset_add_wins_over_a_concurrent_remove() -> None:
    base = ORSET.apply(ORSET.empty(), SetAdd(st_(1, "a"), "x"))
    remover = ORSET.copy(base)
    ORSET.apply(remover, ORSET.remove_op(remover, st_(2, "b"), "x"))
    adder = ORSET.apply(ORSET.copy(base), SetAdd(st_(2, "a"), "x"))
    assert ORSET.value(remover) == []
    assert both_ways(ORSET, remover, adder) == ["x"]


def test_orset_observed_remove_removes_and_keeps_distinct_json_elements() -> None:
    s = ORSET.empty()
    for i, e in enumerate([1, True, "1", {"k": [1]}]):
        ORSET.apply(s, SetAdd(st_(i + 1, "a"), e))
    assert ORSET.value(s) == ["1", 1, True, {"k": [1]}]  # canonical-text order; 1 and True distinct
    ORSET.apply(s, ORSET.remove_op(s, st_(9, "a"), True))
    assert True not in [x for x in ORSET.value(s) if x is True]
    assert len(ORSET.value(s)) == 3


def test_lwwset_latest_op_wins_so_remove_can_beat_a_concurrent_add() -> None:
    add = LWWSET.apply(LWWSET.empty(), SetAdd(st_(1, "a"), "x"))
    rm = LWWSET.apply(LWWSET.empty(), SetRemove(st_(1, "b"), "x"))
    assert both_ways(LWWSET, add, rm) == []
    readd = LWWSET.apply(LWWSET.empty(), SetAdd(st_(2, "a"), "x"))
    assert both_ways(LWWSET, readd, rm) == ["x"]


def test_map_remove_concurrent_with_update_keeps_the_update() -> None:
    base = MAP.apply(MAP.empty(), MAP.set_op(st_(1, "a"), "title", "draft"))
    remover = MAP.copy(base)
    MAP.apply(remover, MAP.remove_op(remover, st_(2, "b"), "title"))
    assert MAP.value(remover) == {}
    updater = MAP.apply(MAP.copy(base), MAP.set_op(st_(2, "a"), "title", "final"))
    assert both_ways(MAP, remover, updater) == {"title": "final"}
    # a remove that has seen the update removes it for good
    merged = MAP.merge(remover, updater)
    MAP.apply(merged, MAP.remove_op(merged, st_(3, "b"), "title"))
    assert MAP.value(merged) == {}


def test_map_revived_nested_map_shows_only_uncovered_keys() -> None:
    base = MAP.empty()
    MAP.apply(base, MAP.path_op(st_(1, "a"), ["doc", "a"], "lww", SetValue(st_(1, "a"), 1)))
    MAP.apply(base, MAP.path_op(st_(2, "a"), ["doc", "b"], "lww", SetValue(st_(2, "a"), 2)))
    assert MAP.value(base) == {"doc": {"a": 1, "b": 2}}
    remover = MAP.copy(base)
    MAP.apply(remover, MAP.remove_op(remover, st_(3, "b"), "doc"))
    updater = MAP.apply(
        MAP.copy(base), MAP.path_op(st_(3, "a"), ["doc", "a"], "lww", SetValue(st_(3, "a"), 10))
    )
    assert both_ways(MAP, remover, updater) == {"doc": {"a": 10}}


def test_map_revived_counter_keeps_its_old_contributions() -> None:
    base = MAP.apply(MAP.empty(), MapUpdate(st_(1, "a"), "n", "pncounter", Inc(st_(1, "a"), 5)))
    remover = MAP.copy(base)
    MAP.apply(remover, MAP.remove_op(remover, st_(2, "b"), "n"))
    updater = MAP.apply(MAP.copy(base), MapUpdate(st_(2, "a"), "n", "pncounter", Inc(st_(2, "a"), 1)))
    assert both_ways(MAP, remover, updater) == {"n": 6}  # documented: non-map children are not reset


def test_map_remove_inside_one_event_respects_op_order() -> None:
    s = MAP.empty()
    MAP.apply(s, MAP.set_op(Stamp(5, "a", "ev", 0), "k", "first"))
    MAP.apply(s, MAP.remove_op(s, Stamp(5, "a", "ev", 1), "k"))
    assert MAP.value(s) == {}
    MAP.apply(s, MAP.set_op(Stamp(5, "a", "ev", 2), "k", "again"))
    assert MAP.value(s) == {"k": "again"}


def test_map_type_conflict_shows_the_newest_type_on_every_replica() -> None:
    a = MAP.apply(MAP.empty(), MAP.set_op(st_(1, "a"), "f", "text"))
    b = MAP.apply(MAP.empty(), MapUpdate(st_(1, "b"), "f", "gcounter", Inc(st_(1, "b"), 3)))
    assert both_ways(MAP, a, b) == {"f": 3}
    assert MAP.present(MAP.merge(a, b), "f") and not MAP.present(a, "g")


def test_rga_concurrent_inserts_at_the_same_place_do_not_interleave() -> None:
    base = RGA.apply(RGA.empty(), SeqInsert(st_(1, "a"), None, tuple("|")))
    a = RGA.apply(RGA.copy(base), RGA.insert_op(base, st_(2, "a"), 1, list("abc")))
    b = RGA.apply(RGA.copy(base), RGA.insert_op(base, st_(2, "b"), 1, list("xyz")))
    # the greater stamp (author "b" at the same lamport) goes first, each run stays whole
    assert RGA.text(RGA.merge(a, b)) == RGA.text(RGA.merge(b, a)) == "|xyzabc"


def test_rga_insert_lands_right_after_its_reference_and_delete_leaves_an_anchor() -> None:
    s = RGA.apply(RGA.empty(), RGA.insert_op(RGA.empty(), st_(1, "a"), 0, list("held")))
    RGA.apply(s, RGA.insert_op(s, st_(2, "a"), 3, ["l", "o"]))
    assert RGA.text(s) == "hellod"
    RGA.apply(s, RGA.delete_op(s, st_(3, "a"), 2, 3))
    assert RGA.text(s) == "hed"
    other = RGA.apply(RGA.copy(s), RGA.insert_op(s, st_(4, "b"), 2, ["!"]))
    assert RGA.text(RGA.merge(s, other)) == "he!d"


def test_rga_out_of_order_insert_waits_for_its_reference() -> None:
    first = SeqInsert(st_(1, "a"), None, ("a",))
    second = SeqInsert(st_(2, "a"), ("a1", 0, 0), ("b",))
    s = RGA.apply(RGA.empty(), second)
    assert RGA.value(s) == []
    assert RGA.value(RGA.apply(s, first)) == ["a", "b"]
