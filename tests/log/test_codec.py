"""Canonical JSON (format v1): pinned byte vectors, round-trip properties, fail-closed decoding, fuzzing.

Every rejection test has a passing twin so it fails for the right reason. The contract is docs/log.md.
"""

from __future__ import annotations

import json
import random
from typing import Any

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from agentcrdt.errors import EncodingError
from agentcrdt.log.codec import MAX_DEPTH, MAX_INT, canonical, decode_canonical, validate_value

BIG = 1 << 20


def dec(data: bytes, max_size: int = BIG) -> Any:
    return decode_canonical(data, max_size=max_size)


def stdlib(value: Any) -> bytes:
    """The reference encoder the format is defined against (floats and big ints excluded)."""
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode("utf-8")


def nested(levels: int, inner: Any = None) -> Any:
    """``levels`` nested lists; ``inner`` (if not None) is the scalar inside the innermost one."""
    v: Any = [] if inner is None else [inner]
    for _ in range(levels - 1):
        v = [v]
    return v


# -- the canonical value domain --------------------------------------------------------------------

ints = st.integers(-MAX_INT, MAX_INT)
texts = st.text(st.characters(codec="utf-8"), max_size=12)  # no lone surrogates
scalars = st.none() | st.booleans() | ints | texts
json_values = st.recursive(
    scalars,
    lambda children: st.lists(children, max_size=4) | st.dictionaries(texts, children, max_size=4),
    max_leaves=20,
)


# -- pinned vectors: value -> exact bytes ----------------------------------------------------------

VECTORS: list[tuple[str, Any, bytes]] = [
    ("null", None, b"null"),
    ("true", True, b"true"),
    ("false", False, b"false"),
    ("zero", 0, b"0"),
    ("negative", -42, b"-42"),
    ("max_int", MAX_INT, b"9007199254740991"),
    ("min_int", -MAX_INT, b"-9007199254740991"),
    ("empty_string", "", b'""'),
    ("empty_list", [], b"[]"),
    ("empty_object", {}, b"{}"),
    ("compact", {"a": [1, 2, {"b": None}]}, b'{"a":[1,2,{"b":null}]}'),
    # Keys sorted by code point: uppercase before lowercase, ASCII before Latin-1 before BMP before astral.
    (
        "key_order_code_point",
        {"é": 1, "z": 2, "a": 3, "\U0001f600": 4, "\uffff": 5, "B": 6, "aa": 7, "": 8},
        b'{"":8,"B":6,"a":3,"aa":7,"z":2,"\xc3\xa9":1,"\xef\xbf\xbf":5,"\xf0\x9f\x98\x80":4}',
    ),
    # U+FFFF sorts before U+1F600 by code point (RFC 8785's UTF-16 order would put U+1F600 first
    # only against U+E000..U+FFFF; this pins that we are *not* RFC 8785 there).
    ("astral_after_bmp", {"\U0001f600": 1, "\ue000": 2}, b'{"\xee\x80\x80":2,"\xf0\x9f\x98\x80":1}'),
    ("nul", "\x00", b'"\\u0000"'),
    ("short_escapes", "\b\t\n\f\r", b'"\\b\\t\\n\\f\\r"'),
    ("other_controls", "\x01\x0b\x1f", b'"\\u0001\\u000b\\u001f"'),
    ("quote_backslash", '"\\', b'"\\"\\\\"'),
    ("slash_raw", "/", b'"/"'),
    ("del_raw", "\x7f", b'"\x7f"'),
    ("c1_raw", "\x80\x9f", b'"\xc2\x80\xc2\x9f"'),
    ("line_separator_raw", "\u2028\u2029", b'"\xe2\x80\xa8\xe2\x80\xa9"'),
    ("latin1_raw", "é", b'"\xc3\xa9"'),
    ("bmp_raw", "日本", b'"\xe6\x97\xa5\xe6\x9c\xac"'),
    ("non_bmp_raw", "\U0001f600\U0010ffff", b'"\xf0\x9f\x98\x80\xf4\x8f\xbf\xbf"'),
    ("bom_char_in_string_raw", "\ufeff", b'"\xef\xbb\xbf"'),
    ("escaped_key", {"\n": 1}, b'{"\\n":1}'),
]


@pytest.mark.parametrize(("value", "expected"), [v[1:] for v in VECTORS], ids=[v[0] for v in VECTORS])
def test_pinned_vector(value: Any, expected: bytes) -> None:
    assert canonical(value) == expected
    assert dec(expected) == value
    assert stdlib(value) == expected


def test_tuples_encode_as_arrays() -> None:
    assert canonical((1, (2,))) == b"[1,[2]]"


# -- properties ------------------------------------------------------------------------------------


@settings(max_examples=250, deadline=None)
@given(json_values)
def test_round_trip_and_stdlib_agreement(value: Any) -> None:
    data = canonical(value)
    assert data == stdlib(value)
    assert dec(data) == value
    assert canonical(dec(data)) == data


def _same_meaning_variants(value: Any, data: bytes, rnd: random.Random) -> list[bytes]:
    out = [
        b" " + data,
        data + b"\n",
        data + b" ",
        b"\xef\xbb\xbf" + data,
        json.dumps(value, sort_keys=True, separators=(", ", ":"), ensure_ascii=False).encode(),
        json.dumps(value, sort_keys=True, separators=(",", ": "), ensure_ascii=False).encode(),
        json.dumps(value, sort_keys=True, indent=1, ensure_ascii=False).encode(),
        json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=True).encode(),
        json.dumps(value, sort_keys=False, separators=(",", ":"), ensure_ascii=False).encode(),
    ]
    if isinstance(value, dict) and len(value) >= 2:
        items = list(value.items())
        rnd.shuffle(items)
        out.append(
            ("{" + ",".join(f"{stdlib(k).decode()}:{stdlib(v).decode()}" for k, v in items) + "}").encode()
        )
        reversed_items = dict(sorted(value.items(), reverse=True))
        out.append(json.dumps(reversed_items, separators=(",", ":"), ensure_ascii=False).encode())
    if isinstance(value, dict) and value:
        k, v = next(iter(sorted(value.items())))
        out.append(b"{" + stdlib(k) + b":" + stdlib(v) + b"," + data[1:])  # duplicate key, same value
    if type(value) is int:
        out += [str(value).encode() + b".0", str(value).encode() + b"e0", str(value).encode() + b"E+0"]
        if value == 0:
            out.append(b"-0")
    return out


@settings(max_examples=200, deadline=None)
@given(json_values, st.randoms(use_true_random=False))
def test_same_meaning_other_bytes_is_rejected(value: Any, rnd: random.Random) -> None:
    data = canonical(value)
    for variant in _same_meaning_variants(value, data, rnd):
        if variant == data:
            continue
        with pytest.raises(EncodingError):
            dec(variant)
    assert dec(data) == value  # twin


NON_CANONICAL_SAME_MEANING = [
    (b'{"a":1, "b":2}', b'{"a":1,"b":2}'),
    (b'{"b":2,"a":1}', b'{"a":1,"b":2}'),
    (b'{"a":2,"B":1}', b'{"B":1,"a":2}'),
    (b'{"\xc3\xa9":1,"z":2}', b'{"z":2,"\xc3\xa9":1}'),
    (b'["\\u00e9"]', b'["\xc3\xa9"]'),
    (b'["\\u00E9"]', b'["\xc3\xa9"]'),
    (b'"\\ud83d\\ude00"', b'"\xf0\x9f\x98\x80"'),
    (b'"\\u2028"', b'"\xe2\x80\xa8"'),
    (b'"\\u007f"', b'"\x7f"'),
    (b'"\\u0008"', b'"\\b"'),
    (b'"\\u000A"', b'"\\n"'),
    (b'"\\u001F"', b'"\\u001f"'),
    (b'"\\/"', b'"/"'),
    (b'"\\u0041"', b'"A"'),
    (b"[1.0]", b"[1]"),
    (b"[1e0]", b"[1]"),
    (b"[10E-1]", b"[1]"),
    (b"-0", b"0"),
    (b"[-0]", b"[0]"),
    (b"1E2", b"100"),
    (b'{"a":1,"a":1}', b'{"a":1}'),
    (b'{"a":2,"a":1}', b'{"a":1}'),
    (b"[1] ", b"[1]"),
    (b"[1]\x00", b"[1]"),
    (b"[1][2]", b"[1]"),
    (b"\xef\xbb\xbf[1]", b"[1]"),
    (b"\t[1]", b"[1]"),
    (b"[ 1]", b"[1]"),
]


@pytest.mark.parametrize(("bad", "good"), NON_CANONICAL_SAME_MEANING)
def test_non_canonical_spelling_rejected(bad: bytes, good: bytes) -> None:
    with pytest.raises(EncodingError):
        dec(bad)
    value = dec(good)
    assert canonical(value) == good


# -- values outside the domain ---------------------------------------------------------------------

BAD_BYTES = [
    ("nan", b"NaN", b"0"),
    ("infinity", b"Infinity", b"0"),
    ("minus_infinity", b"[-Infinity]", b"[0]"),
    ("float", b"[1.5]", b'["1.5"]'),
    ("float_exponent", b"[1e400]", b'["1e400"]'),
    ("int_just_too_big", b"9007199254740992", b"9007199254740991"),
    ("int_just_too_small", b"-9007199254740992", b"-9007199254740991"),
    ("int_64bit", b"18446744073709551616", b'"18446744073709551616"'),
    ("int_huge", b"1" + b"0" * 400, b'"1' + b"0" * 400 + b'"'),
    ("lone_high_surrogate_escape", b'"\\ud800"', b'"\xf0\x9f\x98\x80"'),
    ("lone_low_surrogate_escape", b'"\\udc00"', b'"\xf0\x9f\x98\x80"'),
    ("reversed_surrogate_pair", b'"\\ude00\\ud83d"', b'"\xf0\x9f\x98\x80"'),
    ("encoded_surrogate", b'"\xed\xa0\x80"', b'"\xed\x9f\xbf"'),
    ("invalid_utf8_ff", b'"\xff"', b'"\xc3\xbf"'),
    ("truncated_utf8", b'"\xc3"', b'"\xc3\xa9"'),
    ("overlong_utf8", b'"\xc0\xaf"', b'"/"'),
    ("beyond_unicode", b'"\xf4\x90\x80\x80"', b'"\xf4\x8f\xbf\xbf"'),
    ("raw_control_in_string", b'"\x01"', b'"\\u0001"'),
    ("raw_newline_in_string", b'"\n"', b'"\\n"'),
    ("empty_input", b"", b"null"),
    ("unterminated", b'{"a":1', b'{"a":1}'),
    ("leading_zero", b"01", b"1"),
    ("plus_sign", b"+1", b"1"),
    ("single_quotes", b"['a']", b'["a"]'),
    ("trailing_comma", b"[1,]", b"[1]"),
    ("comment", b"[1]//", b"[1]"),
    ("bare_key", b"{a:1}", b'{"a":1}'),
    ("python_none", b"None", b"null"),
    ("capital_true", b"True", b"true"),
]


@pytest.mark.parametrize(("bad", "good"), [b[1:] for b in BAD_BYTES], ids=[b[0] for b in BAD_BYTES])
def test_outside_domain_rejected(bad: bytes, good: bytes) -> None:
    with pytest.raises(EncodingError):
        dec(bad)
    assert canonical(dec(good)) == good


BAD_VALUES = [
    ("float", 1.5, "1.5"),
    ("integral_float", 1.0, 1),
    ("nan", float("nan"), "NaN"),
    ("inf", float("inf"), "inf"),
    ("int_too_big", MAX_INT + 1, MAX_INT),
    ("int_too_small", -MAX_INT - 1, -MAX_INT),
    ("lone_surrogate", "\ud800", "\U00010000"),
    ("lone_surrogate_key", {"\udfff": 1}, {"\U0010ffff": 1}),
    ("non_str_key", {1: 1}, {"1": 1}),
    ("bytes", b"x", "x"),
    ("set", {1}, [1]),
    ("nested_float", {"a": [{"b": 0.5}]}, {"a": [{"b": "0.5"}]}),
    ("str_subclass", type("S", (str,), {})("x"), "x"),
    ("int_subclass", type("I", (int,), {})(1), 1),
]


@pytest.mark.parametrize(("bad", "good"), [b[1:] for b in BAD_VALUES], ids=[b[0] for b in BAD_VALUES])
def test_canonical_refuses_values_outside_domain(bad: Any, good: Any) -> None:
    with pytest.raises(EncodingError):
        canonical(bad)
    with pytest.raises(EncodingError):
        validate_value(bad)
    assert dec(canonical(good)) == good


def test_decode_requires_bytes() -> None:
    with pytest.raises(EncodingError):
        decode_canonical("[1]", max_size=BIG)  # type: ignore[arg-type]
    with pytest.raises(EncodingError):
        decode_canonical(bytearray(b"[1]"), max_size=BIG)  # type: ignore[arg-type]
    assert dec(b"[1]") == [1]


# -- size and depth --------------------------------------------------------------------------------


def test_oversize_input_rejected_at_limit_boundary() -> None:
    data = canonical({"k": "x" * 1000})
    assert dec(data, max_size=len(data)) == {"k": "x" * 1000}
    with pytest.raises(EncodingError, match="exceeds the limit"):
        dec(data, max_size=len(data) - 1)


def test_oversize_check_precedes_parsing() -> None:
    # A huge malformed input is refused for its size, without being parsed.
    with pytest.raises(EncodingError, match="exceeds the limit"):
        dec(b"[" * 10_000, max_size=100)


@pytest.mark.parametrize("inner", [None, "x"], ids=["empty", "with_scalar"])
def test_depth_limit_containers(inner: Any) -> None:
    ok = nested(MAX_DEPTH - 1, inner)
    assert dec(canonical(ok)) == ok
    deep = b"[" * (MAX_DEPTH + 1) + b"]" * (MAX_DEPTH + 1)
    with pytest.raises(EncodingError):
        dec(deep)
    with pytest.raises(EncodingError):
        canonical(nested(MAX_DEPTH + 1, inner))


def test_depth_limit_objects() -> None:
    ok = b'{"a":' * MAX_DEPTH + b"{}" + b"}" * MAX_DEPTH
    with pytest.raises(EncodingError):
        dec(ok)  # 33 objects
    twin = b'{"a":' * (MAX_DEPTH - 1) + b"{}" + b"}" * (MAX_DEPTH - 1)
    assert canonical(dec(twin)) == twin


def test_exactly_max_depth_empty_containers_agree() -> None:
    value = nested(MAX_DEPTH)
    data = canonical(value)
    assert dec(data) == value


def test_decode_and_encode_agree_on_depth_domain() -> None:
    # Every byte string decode_canonical accepts must be canonical(value) of what it returns; at the
    # depth boundary the encoder counts the scalar as a level and the decoder does not.
    data = b"[" * MAX_DEPTH + b"1" + b"]" * MAX_DEPTH
    try:
        value = dec(data)
    except EncodingError:
        return  # consistent: both refuse
    assert canonical(value) == data


@pytest.mark.parametrize("opener", [b"[", b'{"a":'], ids=["arrays", "objects"])
def test_hostile_depth_fails_cleanly(opener: bytes) -> None:
    closer = b"]" if opener == b"[" else b"}"
    data = opener * 100_000 + b"1" + closer * 100_000
    with pytest.raises(EncodingError):
        dec(data, max_size=len(data))


def test_hostile_depth_value_fails_cleanly() -> None:
    v: Any = 1
    for _ in range(100_000):
        v = [v]
    with pytest.raises(EncodingError):
        canonical(v)
    d: Any = {}
    for _ in range(100_000):
        d = {"a": d}
    with pytest.raises(EncodingError):
        validate_value(d)


# -- fuzzing ---------------------------------------------------------------------------------------


def _decode_or_encoding_error(data: bytes) -> None:
    try:
        value = dec(data)
    except EncodingError:
        return
    # Accepted: the input must be exactly the canonical encoding of what it decoded to.
    assert canonical(value) == data


@settings(max_examples=1500, deadline=None)
@given(st.binary(max_size=64))
@example(b"\xff\xfe[1]")
@example(b'"\\u0000')
@example(b"[" * 40)
def test_fuzz_random_bytes(data: bytes) -> None:
    _decode_or_encoding_error(data)


JSONISH = b'{}[]":,-0123456789.eE+\\u tfnrl"ab\x00\x7f\xc3\xa9\xed\xa0\x80\xff'


@settings(max_examples=300, deadline=None)
@given(json_values, st.data())
def test_fuzz_mutations_of_valid_encodings(value: Any, data: st.DataObject) -> None:
    raw = bytearray(canonical(value))
    for _ in range(data.draw(st.integers(1, 4))):
        action = data.draw(st.sampled_from(["flip", "insert", "delete", "replace"]))
        pos = data.draw(st.integers(0, len(raw)))
        if action == "insert":
            raw[pos:pos] = bytes([data.draw(st.sampled_from(JSONISH))])
        elif pos < len(raw):
            if action == "flip":
                raw[pos] ^= 1 << data.draw(st.integers(0, 7))
            elif action == "delete":
                del raw[pos]
            else:
                raw[pos] = data.draw(st.sampled_from(JSONISH))
    _decode_or_encoding_error(bytes(raw))


@settings(max_examples=200, deadline=None)
@given(json_values)
def test_each_single_byte_flip_of_encoding_is_rejected_or_a_different_value(value: Any) -> None:
    data = canonical(value)
    for i in range(len(data)):
        mutated = bytearray(data)
        mutated[i] ^= 0x20  # case / space / digit-ish flips: the likeliest to stay JSON
        mutated_b = bytes(mutated)
        try:
            got = dec(mutated_b)
        except EncodingError:
            continue
        assert canonical(got) == mutated_b  # a different value, itself canonical


def test_float_like_int_boundaries() -> None:
    assert dec(b"-9007199254740991") == -MAX_INT
    for bad in (b"9007199254740991.0", b"9.007199254740991e15", b"-9007199254740993"):
        with pytest.raises(EncodingError):
            dec(bad)
