"""Two writers build ops from the same base; applying them in either order gives one state."""

from __future__ import annotations

from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st
from schema_helpers import Writer, copy_state
from schema_models import Kitchen
from schema_strategies import FIELDS, kitchen_values

from agentcrdt.ops.state import EntityState


def both_orders(
    base: EntityState, a_ops: list[dict[str, Any]], b_ops: list[dict[str, Any]]
) -> tuple[EntityState, EntityState]:
    """Apply alice's and bob's concurrent events (same lamport) in both orders."""
    a, b = Writer("alice"), Writer("bob")
    one = b.apply(a.apply(copy_state(base), a_ops, lamport=2), b_ops, lamport=2)
    a, b = Writer("alice"), Writer("bob")
    two = a.apply(b.apply(copy_state(base), b_ops, lamport=2), a_ops, lamport=2)
    return one, two


def base_state(**values: Any) -> EntityState:
    return Writer("root").apply(EntityState(), Kitchen.create_ops(id="k", **values), lamport=1)


@settings(max_examples=150, deadline=None)
@given(base=kitchen_values(sorted(FIELDS)), a=kitchen_values(), b=kitchen_values(), views=st.integers(0, 99))
def test_concurrent_updates_converge(
    base: dict[str, Any], a: dict[str, Any], b: dict[str, Any], views: int
) -> None:
    state = base_state(**base)
    a_ops = Kitchen.update_ops("k", state, views=views, **a)
    b_ops = Kitchen.update_ops("k", state, views=2 * views, **b)
    one, two = both_orders(state, a_ops, b_ops)
    assert one.encode() == two.encode()
    assert Kitchen.from_state("k", one) == Kitchen.from_state("k", two)


def test_or_set_add_wins_over_a_concurrent_remove() -> None:
    state = base_state(tags={"x"})
    remove = Kitchen.update_ops("k", state, tags=set())
    # Bob adds "x" anew (built on a state without it): alice's concurrent remove never saw that add.
    without_x = Writer("bob").apply(copy_state(state), remove, lamport=2)
    readd = Kitchen.update_ops("k", without_x, tags={"x"})
    one, two = both_orders(state, remove, readd)
    assert Kitchen.from_state("k", one).tags == Kitchen.from_state("k", two).tags == {"x"}


def test_lww_set_lets_the_later_remove_win() -> None:
    # The LWW-element-set twin: alice adds 1 while bob removes it; the higher stamp (bob's) decides.
    state = base_state(labels=frozenset())
    add = Kitchen.update_ops("k", state, labels={1})
    with_1 = Writer("alice").apply(copy_state(state), add, lamport=2)
    remove = Kitchen.update_ops("k", with_1, labels=set())
    one, two = both_orders(state, add, remove)
    assert Kitchen.from_state("k", one).labels == Kitchen.from_state("k", two).labels == frozenset()


def test_text_edits_at_different_places_all_survive() -> None:
    state = base_state(body="hello")
    one, two = both_orders(
        state,
        Kitchen.update_ops("k", state, body="hello world"),
        Kitchen.update_ops("k", state, body="Say hello"),
    )
    assert Kitchen.from_state("k", one).body == Kitchen.from_state("k", two).body == "Say hello world"


def test_text_runs_typed_at_one_place_do_not_interleave() -> None:
    state = base_state(body="hello")
    one, two = both_orders(
        state,
        Kitchen.update_ops("k", state, body="heAAAllo"),
        Kitchen.update_ops("k", state, body="heBBBllo"),
    )
    body = Kitchen.from_state("k", one).body
    assert body == Kitchen.from_state("k", two).body
    assert body in ("heAAABBBllo", "heBBBAAAllo")


def test_concurrent_deletes_of_overlapping_text() -> None:
    state = base_state(body="abcdef")
    one, two = both_orders(
        state,
        Kitchen.update_ops("k", state, body="af"),
        Kitchen.update_ops("k", state, body="abXef"),
    )
    assert Kitchen.from_state("k", one).body == Kitchen.from_state("k", two).body == "aXf"


def test_counters_add_up() -> None:
    state = base_state(votes=10)
    one, two = both_orders(
        state, Kitchen.update_ops("k", state, votes=11), Kitchen.update_ops("k", state, votes=8)
    )
    assert Kitchen.from_state("k", one).votes == Kitchen.from_state("k", two).votes == 9


def test_multivalue_keeps_the_conflict_until_a_write_resolves_it() -> None:
    state = base_state(status="open")
    one, two = both_orders(
        state,
        Kitchen.update_ops("k", state, status="done"),
        Kitchen.update_ops("k", state, status="blocked"),
    )
    k = Kitchen.from_state("k", one)
    assert k == Kitchen.from_state("k", two)
    assert k.status == "blocked"  # newest write shows: same lamport, bob > alice
    assert sorted(k.conflicts("status")) == ["blocked", "done"]
    # Writing the value already shown still resolves the conflict (it supersedes both writes).
    resolve = Kitchen.update_ops("k", one, status="blocked")
    assert len(resolve) == 1
    Writer("carol").apply(one, resolve, lamport=3)
    k = Kitchen.from_state("k", one)
    assert (k.status, k.conflicts("status")) == ("blocked", [])


def test_soft_delete_keeps_a_concurrent_edit() -> None:
    state = base_state(title="draft")
    one, two = both_orders(state, Kitchen.delete_ops("k"), Kitchen.update_ops("k", state, title="final"))
    for s in (one, two):
        k = Kitchen.from_state("k", s)
        assert (k.deleted, k.title) == (True, "final")
        Writer("carol").apply(s, Kitchen.restore_ops("k"), lamport=3)
        assert Kitchen.from_state("k", s).deleted is False


def test_map_keys_merge_and_an_update_beats_a_concurrent_remove() -> None:
    state = base_state(attrs={"a": 1.0, "b": 2.0})
    one, two = both_orders(
        state,
        Kitchen.update_ops("k", state, attrs={"b": 2.0}),  # removes a
        Kitchen.update_ops("k", state, attrs={"a": 5.0, "b": 2.0, "c": 3.0}),  # updates a, adds c
    )
    assert (
        Kitchen.from_state("k", one).attrs
        == Kitchen.from_state("k", two).attrs
        == {"a": 5.0, "b": 2.0, "c": 3.0}
    )
