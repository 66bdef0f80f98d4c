"""Entity state: CRDT ops carried by ``ops`` events, folded into per-entity field states. Pure.

An ``ops`` event's payload is ``{"ops": [OP, ...]}`` (optionally ``"undoes": <event id>``) where::

    OP = {"e": <entity type>, "id": <entity id>, "f": <field>, "t": <kernel type name>, "op": <kernel op>}

Each op's stamp is rebuilt from the carrying event: ``Stamp(lamport, author, event id, index)``. A
field's state is keyed by ``(field, type)``, so two peers that disagree on a field's CRDT type never
corrupt each other's state: both states exist and the schema decides which one is read. ``_deleted``
is the soft-delete flag (an LWW register), so deleting hides an entity without discarding concurrent
edits. ``created_at`` / ``updated_at`` are the wall times of the lowest / highest stamped op that
touched the entity: informational, yet deterministic given the set of events.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any

from agentcrdt.errors import EncodingError, UsageError
from agentcrdt.kernel import Stamp, get_type
from agentcrdt.log.event import Event, register_kind
from agentcrdt.log.keys import is_digest

__all__ = [
    "DELETED",
    "OPS",
    "DecodedOp",
    "DocState",
    "EntityKey",
    "EntityState",
    "check_ops_payload",
    "decode_ops",
    "entity_ops",
    "op",
]

OPS = "ops"
DELETED = "_deleted"
MAX_OPS_PER_EVENT = 10_000
_NAME_RE = re.compile(r"[A-Za-z_][A-Za-z0-9_]{0,62}")
_OP_KEYS = frozenset({"e", "id", "f", "t", "op"})
_PAYLOAD_KEYS = {frozenset({"ops"}), frozenset({"ops", "undoes"})}
_PROBE = Stamp(1, "ed25519:" + "0" * 64, "sha256:" + "0" * 64, 0)

EntityKey = tuple[str, str]  # (entity type, entity id)


def op(entity: str, entity_id: str, field_name: str, crdt: str, kernel_op: Any) -> dict[str, Any]:
    """Build one op of an ``ops`` payload."""
    return {"e": entity, "id": entity_id, "f": field_name, "t": crdt, "op": kernel_op}


_GOOD_NAMES: set[str] = set()  # perf: a room uses a few entity types and fields, over and over


def _is_name(name: object) -> bool:
    if type(name) is not str:
        return False
    if name in _GOOD_NAMES:
        return True
    if not _NAME_RE.fullmatch(name):
        return False
    if len(_GOOD_NAMES) < 65536:
        _GOOD_NAMES.add(name)
    return True


def _check_op(o: Any) -> None:
    if type(o) is not dict or o.keys() != _OP_KEYS:
        raise EncodingError(f"each op must have exactly the keys {sorted(_OP_KEYS)}")
    if not _is_name(o["e"]):
        raise EncodingError(f"entity type {o['e']!r} must be an identifier of at most 63 characters")
    if not _is_name(o["f"]):
        raise EncodingError(f"field {o['f']!r} must be an identifier of at most 63 characters")
    if type(o["id"]) is not str or not 0 < len(o["id"]) <= 200:
        raise EncodingError("entity id must be a non-empty string of at most 200 characters")
    try:
        get_type(o["t"]).decode_op(o["op"], _PROBE)
    except UsageError as e:
        raise EncodingError(f"op on {o['e']}.{o['f']}: {e}") from e


def check_ops_payload(payload: Any) -> None:
    """Validate an ``ops`` payload structurally (deterministic: same bytes, same answer everywhere)."""
    if type(payload) is not dict or frozenset(payload) not in _PAYLOAD_KEYS:
        raise EncodingError("an ops payload is {'ops': [...]} with an optional 'undoes' event id")
    if "undoes" in payload and not is_digest(payload["undoes"]):
        raise EncodingError("'undoes' must be the 'sha256:<hex>' id of the event being undone")
    ops = payload["ops"]
    if type(ops) is not list or not 0 < len(ops) <= MAX_OPS_PER_EVENT:
        raise EncodingError(f"'ops' must be a list of 1..{MAX_OPS_PER_EVENT} ops")
    for o in ops:
        _check_op(o)


register_kind(OPS, check_ops_payload)


DecodedOp = tuple[EntityKey, str, str, Any, Stamp]  # (entity key, field, crdt name, kernel op, stamp)


def decode_ops(ops: list[dict[str, Any]], lamport: int, author: str, event_id: str) -> list[DecodedOp]:
    """Decode payload ops, stamping them as if carried by the event ``(lamport, author, event_id)``.

    Accepted proposals apply at their review's causal position: the review's coordinates stamp them.
    """
    out = []
    for index, o in enumerate(ops):
        stamp = Stamp(lamport, author, event_id, index)
        out.append(((o["e"], o["id"]), o["f"], o["t"], get_type(o["t"]).decode_op(o["op"], stamp), stamp))
    return out


def entity_ops(event: Event) -> Iterator[DecodedOp]:
    """Yield ``((type, id), field, crdt name, decoded op, stamp)`` for each op of an ``ops`` event."""
    if event.kind != OPS:
        return
    yield from decode_ops(event.payload["ops"], event.lamport, event.author, event.id)


@dataclass
class EntityState:
    """The CRDT states of one entity's fields plus its first/last touch."""

    fields: dict[tuple[str, str], Any] = field(default_factory=dict)  # (field, type) -> kernel state
    first: tuple[Stamp, int] | None = None  # (stamp, wall time ms)
    last: tuple[Stamp, int] | None = None
    # How many ops this object has applied: lets a reader reuse what it built from it while the count
    # is unchanged. Bookkeeping of this object, not state: not encoded, not compared, not hashed.
    touched: int = field(default=0, compare=False, repr=False)

    def apply(self, field_name: str, crdt: str, kernel_op: Any, stamp: Stamp, time_ms: int) -> None:
        """Apply one decoded op."""
        self.touched += 1
        t = get_type(crdt)
        key = (field_name, crdt)
        state = self.fields.get(key)
        self.fields[key] = t.apply(t.empty() if state is None else state, kernel_op)
        if self.first is None or stamp < self.first[0]:
            self.first = (stamp, time_ms)
        if self.last is None or stamp > self.last[0]:
            self.last = (stamp, time_ms)

    def field_value(self, field_name: str, crdt: str) -> Any:
        """Return one field's value under the given CRDT type (None if never written)."""
        state = self.fields.get((field_name, crdt))
        return None if state is None else get_type(crdt).value(state)

    @property
    def deleted(self) -> bool:
        """Tell whether the soft-delete flag is set."""
        return bool(self.field_value(DELETED, "lww"))

    def values(self) -> dict[str, Any]:
        """Return every field's value; a field written under two types shows as ``field:type``."""
        by_field: dict[str, list[str]] = {}
        for f, t in self.fields:
            by_field.setdefault(f, []).append(t)
        out: dict[str, Any] = {}
        for f, types in sorted(by_field.items()):
            if f == DELETED:
                continue
            if len(types) == 1:
                out[f] = self.field_value(f, types[0])
            else:
                for t in sorted(types):
                    out[f"{f}:{t}"] = self.field_value(f, t)
        return out

    def encode(self) -> dict[str, Any]:
        """Encode as JSON (for persistence in materialized rows)."""
        return {
            "fields": [[f, t, get_type(t).encode_state(s)] for (f, t), s in sorted(self.fields.items())],
            "first": None if self.first is None else [list(self.first[0]), self.first[1]],
            "last": None if self.last is None else [list(self.last[0]), self.last[1]],
        }

    @classmethod
    def decode(cls, j: dict[str, Any]) -> EntityState:
        """Rebuild from :meth:`encode` output."""
        state = cls()
        for f, t, s in j["fields"]:
            state.fields[(f, t)] = get_type(t).decode_state(s)
        if j["first"] is not None:
            state.first = (Stamp(*j["first"][0]), j["first"][1])
        if j["last"] is not None:
            state.last = (Stamp(*j["last"][0]), j["last"][1])
        return state


class DocState:
    """The state of a scope as a fold over valid events (used for time travel and tests)."""

    def __init__(self) -> None:
        self.entities: dict[EntityKey, EntityState] = {}
        # The same states by type then id: a reader of one type (a job's nodes among a room's many
        # documents) must not scan every entity. Entities are only ever added, never removed.
        self._by_type: dict[str, dict[str, EntityState]] = {}

    def _add(self, key: EntityKey, st: EntityState) -> None:
        self.entities[key] = st
        self._by_type.setdefault(key[0], {})[key[1]] = st

    @classmethod
    def of(cls, entities: Iterable[tuple[EntityKey, EntityState]]) -> DocState:
        """A state holding ``entities`` (shared, not copied): a view of a few entities of a larger
        state, for a reader of those alone."""
        doc = cls()
        for key, st in entities:
            doc._add(key, st)
        return doc

    def of_type(self, entity_type: str) -> list[tuple[str, EntityState]]:
        """Return ``(id, state)`` of every entity of one type (soft-deleted ones too), by id."""
        return sorted(self._by_type.get(entity_type, {}).items())

    def apply(self, event: Event) -> set[EntityKey]:
        """Apply an ``ops`` event's ops; return the entities it touched."""
        return self.apply_ops(entity_ops(event), event.time)

    def apply_ops(self, ops: Iterable[DecodedOp], time_ms: int) -> set[EntityKey]:
        """Apply decoded ops (see :func:`decode_ops`); return the entities they touched."""
        touched: set[EntityKey] = set()
        for key, f, t, kop, stamp in ops:
            st = self.entities.get(key)
            if st is None:
                st = EntityState()
                self._add(key, st)
            st.apply(f, t, kop, stamp, time_ms)
            touched.add(key)
        return touched

    def copy(self, only: Iterable[EntityKey] | None = None) -> DocState:
        """Return an independent copy (kernel states are copied through their types); ``only``: of
        those entities alone (what applying a few ops to a large state needs)."""
        doc = DocState()
        keys = self.entities.keys() if only is None else [k for k in only if k in self.entities]
        for key in keys:
            st = self.entities[key]
            clone = EntityState(first=st.first, last=st.last)
            clone.fields = {(f, t): get_type(t).copy(s) for (f, t), s in st.fields.items()}
            doc._add(key, clone)
        return doc

    @classmethod
    def fold(cls, events: Iterable[Event]) -> DocState:
        """Fold events given in a causal order."""
        doc = cls()
        for e in events:
            doc.apply(e)
        return doc

    def value(self, entity: str, entity_id: str) -> dict[str, Any] | None:
        """Return an entity's field values, or None if it does not exist or is soft-deleted."""
        st = self.entities.get((entity, entity_id))
        if st is None or st.deleted:
            return None
        return st.values()

    def snapshot(self) -> dict[str, dict[str, Any]]:
        """Return every live entity's values as ``{"Type/id": {...}}``: handy to compare replicas."""
        return {f"{t}/{i}": st.values() for (t, i), st in sorted(self.entities.items()) if not st.deleted}
