"""Canonical encoding: the byte contract every event id depends on.

Format (version 1, documented in docs/log.md, pinned by golden vectors in tests/log):

* JSON text, UTF-8, no BOM, no insignificant whitespace (separators ``,`` and ``:``).
* Object keys sorted by Unicode code point; duplicate keys are an error.
* Values: objects with string keys, arrays, strings, integers in ``[-(2**53-1), 2**53-1]``,
  ``true``, ``false``, ``null``. **No floats** (number formats are where encoders disagree;
  callers encode decimals as strings). No NaN/Infinity.
* Strings are escaped minimally: ``"`` ``\\`` and U+0000..U+001F only (``\\b \\t \\n \\f \\r``
  short forms, ``\\u00xx`` lowercase otherwise); everything else is raw UTF-8. Lone surrogates are
  rejected.
* Nesting depth at most ``MAX_DEPTH``; encoded size at most the caller's limit.

Decoding is strict and fails closed: the input must be exactly the canonical encoding of the value it
decodes to, so every value has one byte form and every byte form one value.
"""

from __future__ import annotations

from typing import Any

import orjson

from agentcrdt.errors import EncodingError

__all__ = ["MAX_DEPTH", "MAX_INT", "canonical", "decode_canonical", "encode_validated", "validate_value"]

MAX_INT = 2**53 - 1
MAX_DEPTH = 32

JSON = Any


def validate_value(value: JSON, *, max_depth: int = MAX_DEPTH) -> None:
    """Raise :class:`EncodingError` unless ``value`` is in the canonical value domain."""
    if max_depth <= _RECURSION_SAFE_DEPTH:
        # Perf: the recursive walk is ~2x faster on the signing hot path (create_event); the depth
        # budget bounds its recursion. It reports the same first error as the iterative walk below.
        _walk(value, max_depth, max_depth)
        return
    # Iterative walk: a hostile payload must not be able to blow the Python stack.
    stack: list[tuple[JSON, int]] = [(value, 1)]
    while stack:
        item, depth = stack.pop()
        if depth > max_depth and type(item) in (list, tuple, dict):
            raise EncodingError(f"value nested deeper than {max_depth} levels; flatten the payload")
        if item is None or item is True or item is False:
            continue
        kind = type(item)
        if kind is str:
            _check_str(item)
        elif kind is int:
            if not -MAX_INT <= item <= MAX_INT:
                raise EncodingError(f"integer {item} is outside ±(2**53-1); encode it as a string")
        elif kind is list or kind is tuple:
            stack.extend((x, depth + 1) for x in item)
        elif kind is dict:
            for k, v in item.items():
                if type(k) is not str:
                    raise EncodingError(f"object key {k!r} is not a string")
                _check_str(k)
                stack.append((v, depth + 1))
        elif kind is float:
            raise EncodingError(f"float {item!r} is not allowed in signed data; encode it as a string")
        else:
            raise EncodingError(
                f"{kind.__name__} is not a JSON value (allowed: dict, list, str, int, bool, None)"
            )


_RECURSION_SAFE_DEPTH = 200  # well under Python's recursion limit


def _walk(item: JSON, budget: int, max_depth: int) -> None:
    # Same checks and the same visiting order as validate_value's stack walk (keys first, then values
    # last to first), so a value with several defects reports the same one. Valid scalars inside a
    # container are accepted inline, without a call; ASCII strings cannot hold a lone surrogate.
    kind = type(item)
    if kind is dict:
        if budget <= 0:
            raise EncodingError(f"value nested deeper than {max_depth} levels; flatten the payload")
        for k in item:
            if type(k) is not str:
                raise EncodingError(f"object key {k!r} is not a string")
            if not k.isascii():
                _check_str(k)
        children: Any = reversed(item.values())
    elif kind is list or kind is tuple:
        if budget <= 0:
            raise EncodingError(f"value nested deeper than {max_depth} levels; flatten the payload")
        children = reversed(item)
    elif kind is str:
        _check_str(item)
        return
    elif kind is int:
        if not -MAX_INT <= item <= MAX_INT:
            raise EncodingError(f"integer {item} is outside ±(2**53-1); encode it as a string")
        return
    elif item is None or item is True or item is False:
        return
    elif kind is float:
        raise EncodingError(f"float {item!r} is not allowed in signed data; encode it as a string")
    else:
        raise EncodingError(
            f"{kind.__name__} is not a JSON value (allowed: dict, list, str, int, bool, None)"
        )
    for v in children:
        t = type(v)
        if (t is str and v.isascii()) or v is None or v is True or v is False:
            continue
        if t is int and -MAX_INT <= v <= MAX_INT:
            continue
        _walk(v, budget - 1, max_depth)


def _check_str(s: str) -> None:
    try:
        s.encode("utf-8")
    except UnicodeEncodeError as e:
        raise EncodingError("string contains a lone surrogate; it is not valid Unicode") from e


def canonical(value: JSON, *, max_depth: int = MAX_DEPTH) -> bytes:
    """Return the canonical bytes of ``value`` (validated first)."""
    validate_value(value, max_depth=max_depth)
    return encode_validated(value)


def encode_validated(value: JSON) -> bytes:
    """Return the canonical bytes of a value the caller has already validated (see :func:`canonical`)."""
    # orjson with sorted keys produces exactly the format above once floats and big ints are excluded
    # (checked against the stdlib encoder by a property test).
    return orjson.dumps(value, option=orjson.OPT_SORT_KEYS)


def decode_canonical(data: bytes, *, max_size: int, max_depth: int = MAX_DEPTH) -> JSON:
    """Decode ``data``, requiring it to be the canonical encoding of its value."""
    if type(data) is not bytes:
        raise EncodingError(f"expected bytes, got {type(data).__name__}")
    if len(data) > max_size:
        raise EncodingError(f"{len(data)} bytes exceeds the limit of {max_size} bytes")
    # orjson parses strictly (UTF-8, surrogates, NaN, trailing garbage) but forgives duplicate keys and
    # number spellings; re-encoding and comparing bytes catches those (a duplicate key or a spelled-out
    # float cannot survive the round trip), and validate_value rejects floats, big ints and deep nesting.
    try:
        value = orjson.loads(data)
    except orjson.JSONDecodeError as e:
        raise EncodingError(f"malformed JSON: {e}") from e
    _check_decoded(value, max_depth)
    if orjson.dumps(value, option=orjson.OPT_SORT_KEYS) != data:
        raise EncodingError("bytes are valid JSON but not in canonical form (key order, spacing or escapes)")
    return value


def _check_decoded(value: JSON, budget: int) -> None:
    # The hot path of ingest. orjson already guarantees string keys and valid Unicode, so only the
    # number domain and the depth remain to check; recursion is bounded by MAX_DEPTH.
    t = type(value)
    if t is dict:
        if budget <= 0:
            raise EncodingError("value nested deeper than the depth limit")
        for v in value.values():
            tv = type(v)
            # Perf: in-range ints (seq, lamport, time...) are accepted inline, without a call.
            if tv in _SCALARS or (tv is int and -MAX_INT <= v <= MAX_INT):
                continue
            _check_decoded(v, budget - 1)
    elif t is list:
        if budget <= 0:
            raise EncodingError("value nested deeper than the depth limit")
        for v in value:
            tv = type(v)
            if tv in _SCALARS or (tv is int and -MAX_INT <= v <= MAX_INT):
                continue
            _check_decoded(v, budget - 1)
    elif t is int:
        if not -MAX_INT <= value <= MAX_INT:
            raise EncodingError(f"integer {value} is outside ±(2**53-1); encode it as a string")
    elif t is float:
        raise EncodingError(f"number {value!r} is not an integer; floats are not allowed in canonical JSON")


_SCALARS = frozenset({str, bool, type(None)})
