"""Op/state codecs: round trips, and every rejection has a passing twin (so it fails for the right reason)."""

from __future__ import annotations

from typing import Any

import pytest

from agentcrdt.errors import UsageError
from agentcrdt.kernel import MAP, RGA, TYPES, Stamp, canonical, get_type, register_type
from agentcrdt.kernel.base import check_json

S = Stamp(3, "ed25519:aa", "sha256:ev", 1)

# (type, good op JSON, bad op JSON differing in one respect)
TWINS: list[tuple[str, Any, Any]] = [
    ("lww", {"set": {"a": [1, "x", None, True]}}, {"set": 1.5}),
    ("lww", {"set": 1}, {"value": 1}),
    ("lww", {"set": {"k": 1}}, {"set": {"k": 0.1}}),
    ("mv", {"set": 1, "seen": [["e", 0]]}, {"set": 1, "seen": [["e", -1]]}),
    ("mv", {"set": 1, "seen": []}, {"set": 1}),
    ("gcounter", {"inc": 2}, {"inc": -2}),
    ("gcounter", {"inc": 1}, {"inc": True}),
    ("pncounter", {"inc": -2}, {"inc": 0}),
    ("pncounter", {"inc": 5}, {"inc": "5"}),
    ("orset", {"add": [1, 2]}, {"add": [1, 2.0]}),
    ("orset", {"remove": "x", "seen": [["e", 1]]}, {"remove": "x", "seen": [["e", 1, 2]]}),
    ("orset", {"remove": "x", "seen": []}, {"remove": "x"}),
    ("lwwset", {"remove": "x"}, {"remove": "x", "seen": []}),
    ("lwwset", {"add": "x"}, {"add": "x", "extra": 1}),
    ("map", {"key": "k", "type": "lww", "op": {"set": 1}}, {"key": "k", "type": "nope", "op": {"set": 1}}),
    ("map", {"key": "k", "type": "lww", "op": {"set": 1}}, {"key": 1, "type": "lww", "op": {"set": 1}}),
    (
        "map",
        {"key": "k", "type": "gcounter", "op": {"inc": 1}},
        {"key": "k", "type": "gcounter", "op": {"inc": 0}},
    ),
    ("map", {"remove": "k", "seen": {"a": [3, 0]}}, {"remove": "k", "seen": {"a": [3]}}),
    ("map", {"remove": "k", "seen": {}}, {"remove": "k", "seen": []}),
    (
        "map",
        {"key": "m", "type": "map", "op": {"key": "k", "type": "lww", "op": {"set": 1}}},
        {"key": "m", "type": "map", "op": {"key": "k", "type": "lww", "op": {"set": 1.0}}},
    ),
    ("rga", {"insert": ["a", "b"], "after": None}, {"insert": [], "after": None}),
    ("rga", {"insert": ["a"], "after": ["e", 0, 2]}, {"insert": ["a"], "after": ["e", 0]}),
    ("rga", {"delete": [["e", 0, 0]]}, {"delete": []}),
    ("rga", {"delete": [["e", 0, 0]]}, {"delete": [["e", 0, -1]]}),
    ("rga", {"insert": ["a"], "after": None}, "insert"),
]


@pytest.mark.parametrize(("name", "good", "bad"), TWINS)
def test_malformed_op_is_rejected_and_its_twin_accepted(name: str, good: Any, bad: Any) -> None:
    t = get_type(name)
    op = t.decode_op(good, S)
    assert canonical(t.encode_op(op)) == canonical(good)
    with pytest.raises(UsageError):
        t.decode_op(bad, S)


def test_decoded_op_carries_the_event_stamp() -> None:
    op = MAP.decode_op({"key": "k", "type": "lww", "op": {"set": 1}}, S)
    assert op.stamp == S and op.op.stamp == S


@pytest.mark.parametrize(
    ("name", "good", "bad"),
    [
        ("lww", None, {"stamp": [1, "a", "e", 0]}),
        ("gcounter", {"a": 3}, {"a": -3}),
        ("pncounter", {"p": {"a": 1}, "n": {}}, {"p": {"a": 1}}),
        ("mv", {"live": [], "dead": [[["e", 0], ["f", 0]]]}, {"live": [], "dead": [[["e", 0]]]}),
        ("orset", {"elems": [["x", [["e", 0]]]], "removed": {}}, {"elems": [["x"]], "removed": {}}),
        ("lwwset", [[[1, "a", "e", 0], True, "x"]], [[[1, "a", "e", 0], 1, "x"]]),
        (
            "rga",
            {"nodes": [[[1, "a", "e", 0, 0], None, "x"]], "deleted": []},
            {"nodes": [[[1, "a"], None, "x"]], "deleted": []},
        ),
        (
            "map",
            {"k": {"rm": {}, "rm_tags": [], "types": {"lww": {"upd": {}, "state": None}}}},
            {"k": {"rm": {}, "rm_tags": [], "types": {"zzz": {"upd": {}, "state": None}}}},
        ),
    ],
)
def test_malformed_state_is_rejected_and_its_twin_accepted(name: str, good: Any, bad: Any) -> None:
    t = get_type(name)
    assert canonical(t.encode_state(t.decode_state(good))) == canonical(good)
    with pytest.raises(UsageError):
        t.decode_state(bad)


def test_rga_state_round_trip_keeps_order_and_tombstones() -> None:
    s = RGA.apply(RGA.empty(), RGA.insert_op(RGA.empty(), Stamp(1, "a", "e1", 0), 0, list("hello")))
    RGA.apply(s, RGA.delete_op(s, Stamp(2, "b", "e2", 0), 1, 2))
    back = RGA.decode_state(RGA.encode_state(s))
    assert RGA.text(back) == "hlo" and canonical(RGA.encode_state(back)) == canonical(RGA.encode_state(s))


def test_unknown_type_name_says_what_is_known() -> None:
    with pytest.raises(UsageError, match=r"unknown CRDT type 'nope'.*lww.*register_type"):
        get_type("nope")
    assert get_type("lww") is TYPES["lww"]


def test_register_type_refuses_to_shadow_a_builtin() -> None:
    class Fake(type(get_type("lww"))):  # type: ignore[misc]
        pass

    with pytest.raises(UsageError, match="already registered"):
        register_type(Fake())
    register_type(get_type("lww"))  # the same object again is fine


def test_check_json_rejects_floats_and_non_str_keys_with_a_hint() -> None:
    assert check_json({"a": [1, None, True, "x"]}) == {"a": [1, None, True, "x"]}
    with pytest.raises(UsageError, match="floats are not allowed"):
        check_json([1.0])
    with pytest.raises(UsageError, match="keys must be str"):
        check_json({1: 2})
