"""Class-creation checks: every rejected declaration has an accepted twin that differs in one place."""

# pydantic copies field defaults per instance, so mutable defaults on Entity fields are safe.
# ruff: noqa: RUF012

from __future__ import annotations

import datetime as dt
import enum
from typing import Annotated, Any, ClassVar, Literal

import pytest
from pydantic import BaseModel

from agentcrdt.errors import SchemaError
from agentcrdt.schema import (
    LWW,
    AddWinsSet,
    Counter,
    Entity,
    GrowCounter,
    LWWSet,
    Map,
    MultiValue,
    Sequence,
    Text,
)


class Color(enum.Enum):
    RED = "red"
    BLUE = "blue"


def define(annotation: Any, default: Any = None, *, name: str = "f") -> type[Entity]:
    """Define an Entity subclass with one field ``name: annotation = default``."""
    ns: dict[str, Any] = {"__annotations__": {name: annotation}}
    if default is not None:
        ns[name] = default
    return type("Probe", (Entity,), ns)


GOOD_BAD = [
    # (marker, accepted annotation, rejected annotation, words the rejection must contain)
    (Counter(), int, str, "needs an `int` field"),
    (Counter(), int, bool, "needs an `int` field"),
    (Counter(), int, int | None, "cannot be None"),
    (GrowCounter(), int, float, "needs an `int` field"),
    (Text(), str, list[str], "needs a `str` field"),
    (Text(), str, str | None, "cannot be None"),
    (AddWinsSet(), set[str], dict[str, int], "set[T]"),
    (AddWinsSet(), frozenset[int], set[dict[str, int]], "elements must be JSON scalars"),
    (AddWinsSet(), list[Color], list[list[str]], "use Sequence()"),
    (AddWinsSet(), set[Literal["a", "b"]], set[str] | None, "cannot be None"),
    (LWWSet(), set[dt.date], str, "set[T]"),
    (Sequence(), list[dict[str, int]], set[str], "list[T]"),
    (Sequence(), tuple[int, ...], tuple[int, str], "list[T]"),
    (Map(), dict[str, int], dict[int, int], "dict[str, V]"),
    (Map(), dict[str, list[str]], list[str], "dict[str, V]"),
]


@pytest.mark.parametrize(("marker", "good", "bad", "words"), GOOD_BAD)
def test_marker_annotations(marker: Any, good: Any, bad: Any, words: str) -> None:
    cls = define(Annotated[good, marker])
    assert cls.crdt_fields()["f"].crdt == marker.crdt
    with pytest.raises(SchemaError) as info:
        define(Annotated[bad, marker])
    message = str(info.value)
    assert "Probe.f" in message and words in message
    assert "declare" in message or "use" in message  # the message says how to fix it


def test_unmarked_fields_are_lww_and_any_type_is_accepted() -> None:
    class Note(Entity):
        title: str
        when: dt.datetime | None = None
        color: Color = Color.RED
        anything: Any = None
        explicit: Annotated[str, LWW()] = ""
        status: Annotated[Color, MultiValue()] = Color.RED

    specs = Note.crdt_fields()
    assert [(n, s.crdt) for n, s in specs.items()] == [
        ("title", "lww"),
        ("when", "lww"),
        ("color", "lww"),
        ("anything", "lww"),
        ("explicit", "lww"),
        ("status", "mv"),
    ]
    assert "id" not in specs and "deleted" not in specs


def test_two_markers_on_one_field() -> None:
    define(Annotated[int, Counter()])
    with pytest.raises(SchemaError, match="one CRDT marker per field"):
        define(Annotated[int, Counter(), GrowCounter()])


def test_entity_type_defaults_to_class_name_and_can_be_overridden() -> None:
    class Task(Entity):
        pass

    class Renamed(Entity, entity_type="todo"):
        pass

    class ByClassVar(Entity):
        entity_type: ClassVar[str] = "by_var"

    class Child(ByClassVar):
        pass

    assert (Task.entity_type, Renamed.entity_type, ByClassVar.entity_type) == ("Task", "todo", "by_var")
    assert Child.entity_type == "Child"  # a subclass is another entity type unless it says otherwise


def test_entity_type_must_be_an_identifier() -> None:
    class Fine(Entity, entity_type="fine_name_1"):
        pass

    with pytest.raises(SchemaError, match="must be an identifier"):

        class Bad(Entity, entity_type="not-an-identifier"):
            pass

    with pytest.raises(SchemaError, match="must be an identifier"):

        class Long(Entity, entity_type="x" * 64):
            pass


def test_field_name_length() -> None:
    define(int, name="x" * 63)
    with pytest.raises(SchemaError, match="at most 63"):
        define(int, name="x" * 64)


class Holder(Entity):
    parts: Annotated[list[Part], Sequence()] = []


class Part(BaseModel):
    name: str


def test_forward_references_resolve_on_first_use() -> None:
    assert Holder.crdt_fields()["parts"].crdt == "rga"
    assert Holder.model_validate({"id": "h", "parts": [{"name": "x"}]}).parts == [Part(name="x")]


def test_unresolvable_forward_references_are_reported() -> None:
    class Later(Entity):
        child: Annotated[list[Item], Sequence()] = []  # noqa: F821  (unresolvable on purpose)

    class Item(Entity):
        pass

    del Item  # Later.child refers to a name that no longer resolves: first use must say so clearly
    with pytest.raises(SchemaError, match="unresolved annotations"):
        Later.crdt_fields()


def test_pydantic_constraints_stay_on_the_field() -> None:
    from pydantic import Field

    class Limited(Entity):
        title: Annotated[str, Text(), Field(max_length=3)] = ""

    assert Limited.crdt_fields()["title"].adapter.validate_python("abc") == "abc"
