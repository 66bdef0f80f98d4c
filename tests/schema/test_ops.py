"""Ops builders: round trips for every field kind, minimal diffs, validation, delete/restore."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Annotated, Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import Field, field_validator
from schema_helpers import Writer, copy_state
from schema_models import Color, Kitchen, Step
from schema_strategies import FIELDS, kitchen_values

from agentcrdt.errors import UsageError
from agentcrdt.ops.state import EntityState, op
from agentcrdt.schema import Counter, Entity, InvalidEntityValue, MultiValue, Text


def fields_of(entity: Entity) -> dict[str, Any]:
    return entity.model_dump(exclude={"created_at", "updated_at"})


def expected(**values: Any) -> dict[str, Any]:
    return fields_of(Kitchen(id="k", **values))


def created(writer: Writer, **values: Any) -> EntityState:
    return writer.apply(EntityState(), Kitchen.create_ops(id="k", **values), lamport=1)


@settings(max_examples=150, deadline=None)
@given(values=kitchen_values(), views=st.integers(0, 2**40))
def test_create_round_trip(values: dict[str, Any], views: int) -> None:
    state = created(Writer("a"), views=views, **values)
    assert fields_of(Kitchen.from_state("k", state)) == expected(views=views, **values)
    assert fields_of(Kitchen.from_state("k", copy_state(state))) == expected(views=views, **values)


@settings(max_examples=150, deadline=None)
@given(
    old=kitchen_values(sorted(FIELDS)),
    new=kitchen_values(),
    views=st.integers(0, 2**40),
    more=st.integers(0, 2**40),
)
def test_update_round_trip(old: dict[str, Any], new: dict[str, Any], views: int, more: int) -> None:
    """from_state(apply(update_ops(old -> new))) shows the new values, for every field kind."""
    w = Writer("a")
    state = created(w, views=views, **old)
    changes = {**new, "views": views + more}
    ops = Kitchen.update_ops("k", state, **changes)
    w.apply(state, ops, lamport=2)
    assert fields_of(Kitchen.from_state("k", state)) == expected(**{**old, **changes})
    # Applying the same change again is a no-op: builders diff against the current state.
    assert Kitchen.update_ops("k", state, **changes) == []


@settings(max_examples=100, deadline=None)
@given(old=st.text(max_size=40), new=st.text(max_size=40))
def test_text_diff_round_trip(old: str, new: str) -> None:
    w = Writer("a")
    state = created(w, body=old)
    w.apply(state, Kitchen.update_ops("k", state, body=new), lamport=2)
    assert Kitchen.from_state("k", state).body == new


def test_unchanged_fields_produce_no_ops() -> None:
    alice = Writer("alice")
    values = {
        "title": "t",
        "price": 1.5,
        "tags": {"a"},
        "body": "hi",
        "status": "open",
        "steps": [Step(name="s")],
        "attrs": {"x": 1.0},
        "votes": 3,
        "labels": frozenset({1}),
        "when": dt.datetime(2024, 5, 1, 12, tzinfo=dt.UTC),
    }
    state = created(alice, **values)
    assert Kitchen.update_ops("k", state, **values) == []
    # Equal after validation counts as unchanged too (an ISO string for a datetime, a list for a set).
    assert Kitchen.update_ops("k", state, when="2024-05-01T12:00:00Z", tags=["a"]) == []


def test_counter_moves_by_the_difference() -> None:
    alice = Writer("alice")
    state = created(alice, votes=5)
    assert Kitchen.update_ops("k", state, votes=2) == [op("Kitchen", "k", "votes", "pncounter", {"inc": -3})]
    assert Kitchen.update_ops("k", None, votes=2) == [op("Kitchen", "k", "votes", "pncounter", {"inc": 2})]


def test_grow_counter_refuses_to_shrink() -> None:
    alice = Writer("alice")
    state = created(alice, views=5)
    assert Kitchen.update_ops("k", state, views=7) == [op("Kitchen", "k", "views", "gcounter", {"inc": 2})]
    with pytest.raises(InvalidEntityValue, match=r"Kitchen\.views.*only grows.*Counter\(\)") as info:
        Kitchen.update_ops("k", state, views=4)
    assert info.value.field == "views"


def test_or_set_remove_names_the_observed_tags() -> None:
    alice = Writer("alice")
    state = created(alice, tags={"a", "b"})
    ops = Kitchen.update_ops("k", state, tags={"b", "c"})
    add_tag = [
        [f"sha256:{alice.author[8:40]}{1:032x}", i]
        for i, o in enumerate(Kitchen.create_ops(id="k", tags={"a", "b"}))
        if o["f"] == "tags" and o["op"].get("add") == "a"
    ]
    assert [o["op"] for o in ops] == [{"remove": "a", "seen": add_tag}, {"add": "c"}]


def test_mv_write_supersedes_what_it_saw() -> None:
    alice = Writer("alice")
    state = created(alice, status="open")
    (write,) = Kitchen.update_ops("k", state, status="done")
    assert write["t"] == "mv" and write["op"]["set"] == "done" and len(write["op"]["seen"]) == 1


def test_text_edit_is_small() -> None:
    alice = Writer("alice")
    text = "lorem ipsum " * 100
    state = created(alice, body=text)
    ops = Kitchen.update_ops("k", state, body=text[:600] + "X" + text[600:])
    assert len(ops) == 1 and ops[0]["op"]["insert"] == ["X"] and ops[0]["op"]["after"][2] == 599
    ops = Kitchen.update_ops("k", state, body=text[:600] + text[605:])
    assert len(ops) == 1 and len(ops[0]["op"]["delete"]) == 5


def test_floats_and_big_ints_never_reach_the_wire() -> None:
    alice = Writer("alice")
    ops = Kitchen.create_ops(id="k", price=0.1, big=2**70, attrs={"$float": 2.5}, data={"x": [1.5]})
    by_field = {o["f"]: o["op"] for o in ops}
    assert by_field["price"] == {"set": {"$float": "0.1"}}
    assert by_field["big"] == {"set": {"$int": str(2**70)}}
    assert by_field["attrs"] == {"key": "$$float", "type": "lww", "op": {"set": {"$float": "2.5"}}}
    assert by_field["data"] == {"set": {"x": [{"$float": "1.5"}]}}
    state = alice.apply(EntityState(), ops, lamport=1)  # passes the signed codec
    k = Kitchen.from_state("k", state)
    assert (k.price, k.big, k.attrs, k.data) == (0.1, 2**70, {"$float": 2.5}, {"x": [1.5]})


def test_rich_values_round_trip() -> None:
    alice = Writer("alice")
    values = {
        "amount": Decimal("12.340"),
        "when": dt.datetime(2024, 1, 2, 3, 4, 5, 6789, tzinfo=dt.timezone(dt.timedelta(hours=2))),
        "day": dt.date(1999, 12, 31),
        "color": Color.GREEN,
        "step": Step(name="n", weight=0.25),
    }
    k = Kitchen.from_state("k", created(alice, **values))
    assert fields_of(k) == expected(**values)
    assert str(k.amount) == "12.340"  # Decimals keep their digits


def test_bad_values_name_the_field() -> None:
    alice = Writer("alice")
    state = created(alice)
    Kitchen.update_ops("k", state, votes=3)
    with pytest.raises(InvalidEntityValue, match=r"Kitchen\.votes: .*integer") as info:
        Kitchen.update_ops("k", state, votes="many")
    assert isinstance(info.value, UsageError) and info.value.field == "votes"
    Kitchen.create_ops(id="k2", tags={"x"})
    with pytest.raises(InvalidEntityValue, match=r"Kitchen\.tags"):
        Kitchen.create_ops(id="k2", tags=5)


def test_unknown_and_derived_fields_are_refused() -> None:
    alice = Writer("alice")
    state = created(alice)
    with pytest.raises(UsageError, match="has no field 'titel'; its fields are: title, price"):
        Kitchen.update_ops("k", state, titel="x")
    hints = {"id": "the id names", "created_at": "derived", "updated_at": "derived", "deleted": "delete_ops"}
    for name, hint in hints.items():
        with pytest.raises(UsageError, match=hint):
            Kitchen.update_ops("k", state, **{name: 1})
    with pytest.raises(UsageError, match="needs the entity id"):
        Kitchen.create_ops(title="x")
    with pytest.raises(UsageError, match="derived from the log"):
        Kitchen.create_ops(id="k", created_at=1)
    with pytest.raises(InvalidEntityValue, match="Extra inputs"):
        Kitchen.create_ops(id="k", titel="x")
    with pytest.raises(InvalidEntityValue, match=r"Kitchen\.id"):
        Kitchen.create_ops(id="")


def test_validators_and_constraints_run_on_updates() -> None:
    class Shouting(Entity):
        word: Annotated[str, Field(max_length=5)] = ""
        body: Annotated[str, Text()] = ""

        @field_validator("word")
        @classmethod
        def upper(cls, v: str) -> str:
            return v.upper()

    ops = Shouting.update_ops("s", None, word="hey")
    assert ops == [op("Shouting", "s", "word", "lww", {"set": "HEY"})]
    with pytest.raises(InvalidEntityValue, match=r"Shouting\.word: String should have at most 5"):
        Shouting.update_ops("s", None, word="too long")


def test_fields_named_like_the_builder_arguments() -> None:
    class Odd(Entity):
        entity_id: str = ""
        current: int = 0

    ops = Odd.update_ops("o1", None, entity_id="x", current=2)
    assert [(o["id"], o["f"]) for o in ops] == [("o1", "entity_id"), ("o1", "current")]


def test_delete_restore_and_timestamps() -> None:
    alice = Writer("alice")
    state = created(alice, title="a")
    k = Kitchen.from_state("k", state)
    assert (k.created_at, k.updated_at, k.deleted) == (1000, 1000, False)
    alice.apply(state, Kitchen.delete_ops("k"), lamport=2)
    k = Kitchen.from_state("k", state)
    assert (k.created_at, k.updated_at, k.deleted, k.title) == (1000, 2000, True, "a")
    alice.apply(state, Kitchen.restore_ops("k"), lamport=3)
    assert Kitchen.from_state("k", state).deleted is False


def test_from_state_ignores_other_crdt_types_and_reports_bad_values() -> None:
    alice = Writer("alice")
    state = created(alice, votes=2)
    # A peer with another schema wrote `votes` as an LWW string: it lives beside our counter.
    alice.apply(state, [op("Kitchen", "k", "votes", "lww", {"set": "lots"})], lamport=2)
    assert Kitchen.from_state("k", state).votes == 2
    alice.apply(state, [op("Kitchen", "k", "title", "lww", {"set": 42})], lamport=3)
    with pytest.raises(InvalidEntityValue, match=r"Kitchen\.title") as info:
        Kitchen.from_state("k", state)
    assert info.value.field == "title"
    values = Kitchen.field_values(state)
    assert values["title"] is None and values["votes"] == 2


def test_conflicts_only_for_multivalue_fields() -> None:
    alice = Writer("alice")
    k = Kitchen.from_state("k", created(alice, status="open"))
    assert k.conflicts("status") == []
    with pytest.raises(UsageError, match="not a MultiValue"):
        k.conflicts("title")


def test_counter_field_defaults_from_crdt_when_never_written() -> None:
    class Votes(Entity):
        n: Annotated[int, Counter()]
        label: Annotated[str, MultiValue()] = "x"

    state = Writer("a").apply(EntityState(), Votes.delete_ops("v"), lamport=1)
    v = Votes.from_state("v", state)
    assert (v.n, v.label, v.deleted) == (0, "x", True)


def test_text_skips_items_a_peer_wrote_that_are_not_strings() -> None:
    alice = Writer("alice")
    state = alice.apply(
        EntityState(), [op("Kitchen", "k", "body", "rga", {"insert": ["ab", 5, "c"], "after": None})], 1
    )
    assert Kitchen.from_state("k", state).body == "abc"
    alice.apply(state, Kitchen.update_ops("k", state, body="abXc"), lamport=2)
    assert Kitchen.from_state("k", state).body == "abXc"


def test_long_bad_values_are_shortened_in_messages() -> None:
    with pytest.raises(InvalidEntityValue) as info:
        Kitchen.create_ops(id="k", votes="x" * 1000)
    assert len(str(info.value)) < 300 and "..." in str(info.value)
