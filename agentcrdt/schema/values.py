"""The value codec: entity field values <-> JSON that the signed codec accepts.

Signed events forbid floats (encoders disagree on number formats) and ints beyond ±(2**53 - 1), so a
field value goes through pydantic's python-mode dump and then this walk:

* ``float`` -> ``{"$float": repr(x)}`` (shortest round-trip text; ``"inf"``/``"nan"`` included);
* ``int`` outside ±(2**53 - 1) -> ``{"$int": "<decimal digits>"}``;
* ``set``/``frozenset`` -> a list sorted by canonical JSON text (deterministic across processes, so an
  unchanged value always encodes to the same JSON and produces no op);
* ``datetime``/``date``/``time`` -> ISO 8601 text, ``Decimal``/``UUID`` -> text, ``Enum`` -> its value,
  nested models -> objects (all by ``pydantic_core.to_jsonable_python``);
* an object key starting with ``$`` gets one more ``$``, so ``{"$float": ...}`` written by a user can
  never be mistaken for a tag.

Reading reverses the tags and hands the result to pydantic's lax validation, which turns ISO text back
into datetimes, lists back into sets, objects back into models and so on.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from enum import Enum
from typing import Any

from pydantic import TypeAdapter
from pydantic_core import PydanticSerializationError, to_jsonable_python

from agentcrdt.errors import UsageError
from agentcrdt.kernel import JSON, canonical

__all__ = ["MAX_SAFE_INT", "decode_value", "encode_value", "plain_value", "to_wire", "wire_key"]

MAX_SAFE_INT = 2**53 - 1
_FLOAT, _INT = "$float", "$int"


def _escape(key: str) -> str:
    return "$" + key if key.startswith("$") else key


def _unescape(key: str) -> str:
    return key[1:] if key.startswith("$") else key


def _key(k: Any) -> str:
    if isinstance(k, str):
        return k
    j = to_jsonable_python(k)
    return j if isinstance(j, str) else canonical(j)


def _walk(v: Any, leaf: Callable[[Any], JSON], escape: bool) -> JSON:
    t = type(v)
    if v is None or t is bool or t is str:
        return v
    if t is int or t is float:
        return leaf(v)
    if isinstance(v, dict):
        return {(_escape(_key(k)) if escape else _key(k)): _walk(x, leaf, escape) for k, x in v.items()}
    if isinstance(v, list | tuple):
        return [_walk(x, leaf, escape) for x in v]
    if isinstance(v, set | frozenset):
        return sorted((_walk(x, leaf, escape) for x in v), key=canonical)
    if isinstance(v, Enum):
        return _walk(v.value, leaf, escape)
    if isinstance(v, int):  # subclasses: bool was handled above by exact type, so this is a true int
        return bool(v) if isinstance(v, bool) else leaf(int(v))
    if isinstance(v, float):
        return leaf(float(v))
    if isinstance(v, str):
        return str(v)
    try:
        j = to_jsonable_python(v)
    except PydanticSerializationError as e:
        raise UsageError(f"cannot store a {type(v).__name__} value: {e}") from e
    if type(j) is type(v):  # no JSON form: stop rather than loop
        raise UsageError(f"cannot store a {type(v).__name__} value: it has no JSON form")
    return _walk(j, leaf, escape)


def _tag_number(n: int | float) -> JSON:
    if type(n) is float:
        return {_FLOAT: repr(n)}
    return n if -MAX_SAFE_INT <= n <= MAX_SAFE_INT else {_INT: str(n)}


def to_wire(value: Any) -> JSON:
    """Return the signed-codec-safe JSON of an already dumped (python-mode) value."""
    return _walk(value, _tag_number, escape=True)


def encode_value(adapter: TypeAdapter[Any], value: Any) -> JSON:
    """Dump ``value`` (already validated by ``adapter``) to wire JSON."""
    return to_wire(adapter.dump_python(value, mode="python"))


def decode_value(j: JSON) -> Any:
    """Undo :func:`to_wire`'s tags; the result still needs pydantic validation to get rich types back."""
    if isinstance(j, dict):
        if len(j) == 1:
            ((k, v),) = j.items()
            if isinstance(v, str) and k == _FLOAT:
                return float(v)
            if isinstance(v, str) and k == _INT and v.lstrip("-").isdigit():
                return int(v)
        return {_unescape(k): decode_value(v) for k, v in j.items()}
    if isinstance(j, list):
        return [decode_value(x) for x in j]
    return j


def _plain_number(n: int | float) -> JSON:
    # Plain JSON (typed-table columns) has no signature to protect, but NaN/inf still have no JSON form.
    return None if type(n) is float and not math.isfinite(n) else n


def plain_value(adapter: TypeAdapter[Any], value: Any) -> JSON:
    """Dump ``value`` to ordinary JSON (floats stay numbers; sets sorted) for typed-table columns."""
    return _walk(adapter.dump_python(value, mode="python"), _plain_number, escape=False)


def wire_key(j: JSON) -> str:
    """Return the identity of a wire value (how sets and diffs compare elements)."""
    return canonical(j)
