"""The value codec: wire JSON has no floats or big ints, tags are unambiguous, reads undo them."""

from __future__ import annotations

import datetime as dt
import enum
from decimal import Decimal
from typing import Any

import pytest
from hypothesis import given
from pydantic import TypeAdapter
from schema_strategies import json_values

import agentcrdt.schema as schema_pkg
from agentcrdt.errors import UsageError
from agentcrdt.log.codec import canonical
from agentcrdt.schema import decode_value, encode_value
from agentcrdt.schema.values import MAX_SAFE_INT

ANY: TypeAdapter[Any] = TypeAdapter(Any)


class Level(enum.IntEnum):
    LOW = 1
    HIGH = 2


@given(json_values)
def test_any_json_round_trips_and_is_signable(value: Any) -> None:
    wire = encode_value(ANY, value)
    canonical(wire)  # no floats, no big ints
    assert decode_value(wire) == value


@pytest.mark.parametrize(
    ("value", "wire"),
    [
        (1.5, {"$float": "1.5"}),
        (float("inf"), {"$float": "inf"}),
        (-0.0, {"$float": "-0.0"}),
        (MAX_SAFE_INT, MAX_SAFE_INT),
        (MAX_SAFE_INT + 1, {"$int": str(MAX_SAFE_INT + 1)}),
        (-(2**80), {"$int": str(-(2**80))}),
        ({"$float": "x"}, {"$$float": "x"}),  # a user key that looks like a tag is escaped
        ({"$$a": 1, "b": True}, {"$$$a": 1, "b": True}),
        ({"z", "a", "m"}, ["a", "m", "z"]),  # sets sorted: same value, same JSON, in every process
        (Decimal("1.10"), "1.10"),
        (dt.datetime(2024, 2, 3, 4, 5, 6, tzinfo=dt.UTC), "2024-02-03T04:05:06Z"),
        (dt.date(2024, 2, 3), "2024-02-03"),
        (Level.HIGH, 2),
    ],
)
def test_wire_forms(value: Any, wire: Any) -> None:
    assert encode_value(ANY, value) == wire
    canonical(wire)


def test_tags_only_apply_to_exact_shapes() -> None:
    # Near-miss shapes are plain objects, never numbers.
    assert decode_value({"$float": 1}) == {"float": 1}
    assert decode_value({"$int": "12a"}) == {"int": "12a"}
    assert decode_value({"$float": "2.5", "x": 1}) == {"float": "2.5", "x": 1}
    assert decode_value({"$int": "-12"}) == -12


def test_values_without_a_json_form_are_refused() -> None:
    encode_value(ANY, b"bytes are text")
    with pytest.raises(UsageError, match="cannot store a object value"):
        encode_value(ANY, object())


def test_public_surface() -> None:
    assert sorted(schema_pkg.__all__) == sorted(
        [
            "BASE_FIELDS",
            "LWW",
            "AddWinsSet",
            "CRDTMarker",
            "Counter",
            "Entity",
            "FieldSpec",
            "GrowCounter",
            "InvalidEntityValue",
            "LWWSet",
            "Map",
            "MultiValue",
            "Sequence",
            "Text",
            "TypedEntityProjection",
            "TypedTables",
            "decode_value",
            "encode_value",
            "json_schema",
            "load_entity_class",
            "sql_ddl",
            "typed_table_hook",
        ]
    )
    for name in schema_pkg.__all__:
        assert getattr(schema_pkg, name) is not None
