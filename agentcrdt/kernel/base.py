"""The type-object interface every CRDT implements, the registry, and shared codec helpers.

A CRDT *type* is a stateless object; the *state* is a separate value the caller owns. ``apply`` may mutate
the state it is given (and returns it) because copying a 10,000-key map per op would dominate the cost;
callers that need the old state keep a ``copy``. ``merge`` never mutates its inputs.
"""

from __future__ import annotations

import copy as _copy
import json
from abc import ABC, abstractmethod
from collections.abc import Callable
from typing import Any, ClassVar, Generic, TypeVar

from agentcrdt.errors import UsageError
from agentcrdt.kernel.clock import JSON, Stamp, Tag, tag_from_json

__all__ = [
    "TYPES",
    "CRDTType",
    "LatticeCRDT",
    "Stable",
    "canonical",
    "check_json",
    "get_type",
    "register_type",
]

S = TypeVar("S")
O = TypeVar("O")  # noqa: E741
V = TypeVar("V")
K = TypeVar("K")

_CHECK = Stamp(0, "", "", 0)  # decodes a wire op to validate it; never applied to a state

#: ``stable(tag)`` is true once the op with that tag is in the causal past of every known head of every
#: peer (causal stability); only then may the tombstone it left be collected.
Stable = Callable[[Tag], bool]


class CRDTType(ABC, Generic[S, O, V]):
    """A CRDT type object: pure functions over states and ops, plus JSON codecs."""

    name: ClassVar[str]

    @abstractmethod
    def empty(self) -> S:
        """Return a fresh bottom state."""

    @abstractmethod
    def apply(self, state: S, op: O) -> S:
        """Apply one op (delivered exactly once); may mutate ``state`` and returns the result."""

    @abstractmethod
    def merge(self, a: S, b: S) -> S:
        """Return the join of two states without mutating either."""

    @abstractmethod
    def value(self, state: S) -> V:
        """Return the plain Python value the state denotes."""

    @abstractmethod
    def copy(self, state: S) -> S:
        """Return an independent copy (so ``apply`` on it leaves ``state`` untouched)."""

    @abstractmethod
    def encode_op(self, op: O) -> JSON:
        """Encode an op without its stamp (the carrying event supplies it)."""

    @abstractmethod
    def decode_op(self, j: JSON, stamp: Stamp) -> O:
        """Rebuild an op from its JSON and the stamp of the event carrying it; UsageError if malformed."""

    @abstractmethod
    def encode_state(self, state: S) -> JSON:
        """Encode a state as canonical-able JSON (for snapshots)."""

    @abstractmethod
    def decode_state(self, j: JSON) -> S:
        """Rebuild a state from ``encode_state`` output; UsageError if malformed."""

    def collect(self, state: S, stable: Stable) -> S:
        """Drop tombstones whose deletion is causally stable; the default keeps everything."""
        return state

    def checked(self, j: JSON) -> JSON:
        """Return the wire op ``j`` after decoding it as a replica will; UsageError if it is malformed.

        The op builders without a stamp (``LWW.set(v)``, ``ORSET.remove(state, e)``...) return wire ops,
        what an event's ``ops`` carry: the event stamps them when a replica applies it.
        """
        self.decode_op(j, _CHECK)
        return j

    def __repr__(self) -> str:
        return f"<CRDT type {self.name!r}>"


class LatticeCRDT(CRDTType[S, O, V]):
    """Base for user-defined (λ-)CRDTs: give ``empty``, ``join``, ``apply`` and the codecs.

    ``join`` must be commutative, associative and idempotent and must not mutate its inputs; ``apply`` must
    be inflationary (``join(s, apply(s, op)) == apply(s, op)``) and concurrent ops must commute. Check
    all of that with :func:`agentcrdt.kernel.laws.check_laws`, then ``register_type(MyType())``.
    ``value`` defaults to the state itself and ``copy`` to a deep copy.
    """

    @abstractmethod
    def join(self, a: S, b: S) -> S:
        """Return the least upper bound of two states."""

    def merge(self, a: S, b: S) -> S:
        return self.join(a, b)

    def value(self, state: S) -> V:
        return state  # type: ignore[return-value]  # identity unless the subclass says otherwise

    def copy(self, state: S) -> S:
        return _copy.deepcopy(state)


#: The closed registry of CRDT types by stable name. Data names a type; code never imported by name.
TYPES: dict[str, CRDTType[Any, Any, Any]] = {}


def register_type(t: CRDTType[Any, Any, Any], *, replace: bool = False) -> CRDTType[Any, Any, Any]:
    """Register a type object under ``t.name``; refuse to shadow another type unless ``replace``."""
    name = getattr(t, "name", None)
    if not isinstance(name, str) or not name:
        raise UsageError(f"{t!r} needs a non-empty class attribute `name: str` to be registered")
    old = TYPES.get(name)
    if old is not None and old is not t and not replace:
        raise UsageError(f"CRDT type name {name!r} is already registered to {old!r}; pick another name")
    TYPES[name] = t
    return t


def get_type(name: str) -> CRDTType[Any, Any, Any]:
    """Return the registered type called ``name``; UsageError lists the known names otherwise."""
    t = TYPES.get(name) if isinstance(name, str) else None
    if t is None:
        known = ", ".join(sorted(TYPES))
        raise UsageError(
            f"unknown CRDT type {name!r}; known types: {known}. Custom types must be registered with "
            "agentcrdt.kernel.register_type() before ops naming them are decoded"
        )
    return t


def check_json(v: JSON, what: str = "value") -> JSON:
    """Return ``v`` if it is plain JSON without floats; raise UsageError otherwise."""
    t = type(v)
    if t is str or t is int or t is bool or v is None:
        return v
    if t is list:
        for x in v:
            check_json(x, what)
        return v
    if t is dict:
        for k, x in v.items():
            if type(k) is not str:
                raise UsageError(f"{what}: JSON object keys must be str, got {k!r}")
            check_json(x, what)
        return v
    hint = " (floats are not allowed: use an int or a decimal string)" if t is float else ""
    raise UsageError(f"{what}: {v!r} is not a JSON value{hint}")


def canonical(v: JSON) -> str:
    """Return a canonical string for a JSON value (dict-key identity of set elements, state equality)."""
    return json.dumps(v, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def op_dict(j: JSON, type_name: str, allowed: tuple[frozenset[str], ...]) -> dict[str, JSON]:
    """Return ``j`` if it is a dict whose key set is one of ``allowed``; UsageError otherwise."""
    if isinstance(j, dict) and frozenset(j) in allowed:
        return j
    shapes = " or ".join("{" + ", ".join(sorted(a)) + "}" for a in allowed)
    raise UsageError(f"a {type_name!r} op is a JSON object with keys {shapes}, got {j!r}")


def tags_from_json(j: JSON, what: str) -> frozenset[Tag]:
    """Decode a list of ``[event, index]`` tags."""
    if not isinstance(j, list):
        raise UsageError(f"{what} is a list of [event, index] tags, got {j!r}")
    return frozenset(tag_from_json(x) for x in j)


def tags_to_json(tags: Any) -> JSON:
    """Encode tags as a sorted list of ``[event, index]``."""
    return [[e, i] for e, i in sorted(tags)]


def min_tag(d: dict[K, Tag], key: K, tag: Tag) -> None:
    """Record ``tag`` as the remover of ``key``, keeping the least (a deterministic lattice choice)."""
    old = d.get(key)
    if old is None or tag < old:
        d[key] = tag
