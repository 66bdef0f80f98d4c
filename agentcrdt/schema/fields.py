"""Field markers (``Annotated[int, Counter()]``) and the per-field spec checked at class creation.

A field without a marker is an LWW register. A marker names the CRDT that backs the field and which
Python annotations it accepts; a mismatch (``Counter()`` on a ``str``) raises :class:`SchemaError` when
the class is defined, with the declaration that would work, rather than failing on the first write.
"""

from __future__ import annotations

import datetime as dt
import decimal
import types
import typing
import uuid
from dataclasses import dataclass, field
from enum import Enum
from typing import Annotated, Any, ClassVar

from pydantic import TypeAdapter
from pydantic.fields import FieldInfo

from agentcrdt.errors import InvalidEntityValue, SchemaError

__all__ = [
    "LWW",
    "AddWinsSet",
    "CRDTMarker",
    "Counter",
    "FieldSpec",
    "GrowCounter",
    "InvalidEntityValue",
    "LWWSet",
    "Map",
    "MultiValue",
    "Sequence",
    "Text",
    "build_spec",
    "show_type",
    "strip_optional",
]

# Element types a set CRDT accepts: hashable values whose JSON form is a scalar (the set identifies
# elements by their JSON text, so composite elements would compare by an encoding users never see).
_SCALARS: tuple[type, ...] = (str, int, float, bool, decimal.Decimal, uuid.UUID, dt.date, dt.time, Enum)


def show_type(ann: Any) -> str:
    """Return a short, readable spelling of an annotation for error messages."""
    if isinstance(ann, type) and not typing.get_args(ann):
        return ann.__name__
    return repr(ann).replace("typing.", "")


def strip_optional(ann: Any) -> tuple[Any, bool]:
    """Return ``(annotation without None, whether None was allowed)``; unwraps ``Annotated``."""
    while typing.get_origin(ann) is Annotated:
        ann = typing.get_args(ann)[0]
    origin = typing.get_origin(ann)
    if origin is typing.Union or origin is types.UnionType:
        args = [a for a in typing.get_args(ann) if a is not type(None)]
        if len(args) < len(typing.get_args(ann)):
            inner = args[0] if len(args) == 1 else typing.Union[tuple(args)]  # noqa: UP007
            return strip_optional(inner)[0], True
    return ann, False


def _collection(ann: Any, origins: tuple[type, ...]) -> Any | None:
    """Return the item annotation of ``set[T]`` / ``list[T]`` / ``tuple[T, ...]`` (per ``origins``)."""
    origin = typing.get_origin(ann)
    args = typing.get_args(ann)
    if origin not in origins:
        return None
    if origin is tuple:
        return args[0] if len(args) == 2 and args[1] is Ellipsis else None
    return args[0] if len(args) == 1 else (Any if not args else None)


def _is_scalar(ann: Any) -> bool:
    ann, _ = strip_optional(ann)
    origin = typing.get_origin(ann)
    if origin is typing.Literal:
        return all(isinstance(a, str | int | bool) for a in typing.get_args(ann))
    if origin is typing.Union or origin is types.UnionType:
        return all(_is_scalar(a) for a in typing.get_args(ann))
    return isinstance(ann, type) and issubclass(ann, _SCALARS)


@dataclass(frozen=True)
class CRDTMarker:
    """Base of the field markers; ``crdt`` is the kernel type name that backs the field."""

    crdt: ClassVar[str] = ""

    def check(self, ann: Any, name: str) -> str | None:
        """Return why ``ann`` cannot back this marker (with a fix), or None if it can."""
        return None

    def __repr__(self) -> str:
        return f"{type(self).__name__}()"


@dataclass(frozen=True, repr=False)
class LWW(CRDTMarker):
    """Last-writer-wins register (the default for unmarked fields): any value pydantic can validate."""

    crdt: ClassVar[str] = "lww"


@dataclass(frozen=True, repr=False)
class MultiValue(CRDTMarker):
    """Multi-value register: concurrent writes are all kept; the field shows the newest and
    :meth:`Entity.conflicts` shows them all until a later write supersedes them."""

    crdt: ClassVar[str] = "mv"


def _no_optional(marker: str, name: str, optional: bool, example: str) -> str | None:
    if optional:
        return f"{marker} fields cannot be None (the CRDT always has a value); declare `{name}: {example}`"
    return None


@dataclass(frozen=True, repr=False)
class Counter(CRDTMarker):
    """Counter that goes up and down (PN-Counter); concurrent increments add up."""

    crdt: ClassVar[str] = "pncounter"

    def check(self, ann: Any, name: str) -> str | None:
        base, optional = strip_optional(ann)
        example = f"Annotated[int, {self!r}] = 0"
        if base is not int:
            return f"{self!r} needs an `int` field, got `{show_type(ann)}`; declare `{name}: {example}`"
        return _no_optional(repr(self), name, optional, example)


@dataclass(frozen=True, repr=False)
class GrowCounter(Counter):
    """Grow-only counter (G-Counter): updates may only raise it; use :class:`Counter` to decrement."""

    crdt: ClassVar[str] = "gcounter"


@dataclass(frozen=True, repr=False)
class AddWinsSet(CRDTMarker):
    """Observed-remove set, add wins over a concurrent remove: ``set[T]``/``frozenset[T]``/``list[T]``
    of scalar ``T`` (str, int, bool, enum, date, UUID...). A ``list`` field reads back sorted."""

    crdt: ClassVar[str] = "orset"

    def check(self, ann: Any, name: str) -> str | None:
        base, optional = strip_optional(ann)
        item = _collection(base, (set, frozenset, list))
        example = f"Annotated[set[str], {self!r}] = set()"
        if item is None:
            kinds = "`set[T]`, `frozenset[T]` or `list[T]`"
            return f"{self!r} needs a {kinds} field, got `{show_type(ann)}`; declare `{name}: {example}`"
        if not _is_scalar(item):
            return (
                f"{self!r} elements must be JSON scalars (str, int, bool, enum, date, UUID...), got "
                f"`{show_type(item)}`; use Sequence() for a list of objects, or a set of their ids"
            )
        return _no_optional(repr(self), name, optional, example)


@dataclass(frozen=True, repr=False)
class LWWSet(AddWinsSet):
    """Last-writer-wins element set: a later remove beats a concurrent add (unlike :class:`AddWinsSet`)."""

    crdt: ClassVar[str] = "lwwset"


@dataclass(frozen=True, repr=False)
class Sequence(CRDTMarker):
    """Ordered list (RGA) for ``list[T]``/``tuple[T, ...]``: concurrent inserts and deletes all merge."""

    crdt: ClassVar[str] = "rga"

    def check(self, ann: Any, name: str) -> str | None:
        base, optional = strip_optional(ann)
        example = f"Annotated[list[str], {self!r}] = []"
        if _collection(base, (list, tuple)) is None:
            return f"{self!r} needs a `list[T]` or `tuple[T, ...]` field, got `{show_type(ann)}`; " + (
                f"declare `{name}: {example}`"
            )
        return _no_optional(repr(self), name, optional, example)


@dataclass(frozen=True, repr=False)
class Text(CRDTMarker):
    """Collaborative text (RGA of characters): concurrent edits to different places all survive."""

    crdt: ClassVar[str] = "rga"

    def check(self, ann: Any, name: str) -> str | None:
        base, optional = strip_optional(ann)
        example = f'Annotated[str, {self!r}] = ""'
        if base is not str:
            return f"{self!r} needs a `str` field, got `{show_type(ann)}`; declare `{name}: {example}`"
        return _no_optional(repr(self), name, optional, example)


@dataclass(frozen=True, repr=False)
class Map(CRDTMarker):
    """Map of LWW registers: ``dict[str, V]``; concurrent writes to different keys all survive, and a
    write concurrent with a key's removal keeps the key."""

    crdt: ClassVar[str] = "map"

    def check(self, ann: Any, name: str) -> str | None:
        base, optional = strip_optional(ann)
        example = f"Annotated[dict[str, int], {self!r}] = {{}}"
        args = typing.get_args(base)
        if typing.get_origin(base) is not dict or (args and args[0] is not str):
            got = show_type(ann)
            return f"{self!r} needs a `dict[str, V]` field, got `{got}`; declare `{name}: {example}`"
        return _no_optional(repr(self), name, optional, example)


@dataclass(frozen=True)
class FieldSpec:
    """One CRDT-backed field: its marker and a validator for its whole value."""

    name: str
    marker: CRDTMarker
    annotation: Any
    adapter: TypeAdapter[Any] = field(compare=False, repr=False)

    @property
    def crdt(self) -> str:
        """Return the kernel type name backing the field."""
        return self.marker.crdt


def build_spec(owner: str, name: str, info: FieldInfo) -> FieldSpec:
    """Check one model field's annotation against its marker; SchemaError names the fix."""
    markers = [m for m in info.metadata if isinstance(m, CRDTMarker)]
    if len(markers) > 1:
        raise SchemaError(f"{owner}.{name}: one CRDT marker per field, got {markers}; keep exactly one")
    marker = markers[0] if markers else LWW()
    problem = marker.check(info.annotation, name)
    if problem:
        raise SchemaError(f"{owner}.{name}: {problem}")
    rest = [m for m in info.metadata if not isinstance(m, CRDTMarker)]
    ann: Any = Annotated[(info.annotation, *rest)] if rest else info.annotation
    try:
        adapter: TypeAdapter[Any] = TypeAdapter(ann)
    except Exception as e:  # pydantic raises several error types for unsupported annotations
        raise SchemaError(f"{owner}.{name}: pydantic cannot validate `{show_type(ann)}`: {e}") from e
    return FieldSpec(name, marker, info.annotation, adapter)
