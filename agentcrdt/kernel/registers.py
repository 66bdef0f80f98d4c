"""Registers: last-writer-wins (LWW) and multi-value (MV)."""

from __future__ import annotations

from typing import NamedTuple, TypeAlias

from agentcrdt.errors import UsageError
from agentcrdt.kernel.base import (
    CRDTType,
    Stable,
    check_json,
    min_tag,
    op_dict,
    tags_from_json,
    tags_to_json,
)
from agentcrdt.kernel.clock import JSON, Stamp, Tag, stamp_from_json, stamp_to_json, tag_from_json

__all__ = ["LWW", "MV", "LWWRegister", "LWWState", "MVRegister", "MVSet", "MVState", "SetValue"]


class SetValue(NamedTuple):
    """Set the register to ``value``. JSON: ``{"set": value}``."""

    stamp: Stamp
    value: JSON


#: The winning op itself (no per-op allocation), or None before any write.
LWWState: TypeAlias = SetValue | None


def _decode_stamped(j: JSON, what: str) -> SetValue:
    if not (isinstance(j, dict) and set(j) == {"stamp", "value"}):
        raise UsageError(f"{what} is {{'stamp': [...], 'value': ...}}, got {j!r}")
    return SetValue(stamp_from_json(j["stamp"]), check_json(j["value"], what))


class LWWRegister(CRDTType[LWWState, SetValue, JSON]):
    """Last writer wins: the write with the greatest stamp ``(lamport, author, event, index)``."""

    name = "lww"

    def empty(self) -> LWWState:
        return None

    def apply(self, state: LWWState, op: SetValue) -> LWWState:
        if state is None or op.stamp > state.stamp:
            return op
        return state

    def merge(self, a: LWWState, b: LWWState) -> LWWState:
        if a is None:
            return b
        if b is None or a.stamp > b.stamp:
            return a
        return b

    def value(self, state: LWWState) -> JSON:
        return None if state is None else state.value

    def copy(self, state: LWWState) -> LWWState:
        return state  # immutable: values are treated as frozen JSON

    def set(self, value: JSON) -> JSON:
        """Return the wire op that writes ``value``."""
        return self.checked({"set": value})

    def encode_op(self, op: SetValue) -> JSON:
        return {"set": op.value}

    def decode_op(self, j: JSON, stamp: Stamp) -> SetValue:
        return SetValue(stamp, check_json(op_dict(j, self.name, (frozenset({"set"}),))["set"], "lww value"))

    def encode_state(self, state: LWWState) -> JSON:
        return None if state is None else {"stamp": stamp_to_json(state.stamp), "value": state.value}

    def decode_state(self, j: JSON) -> LWWState:
        return None if j is None else _decode_stamped(j, "an 'lww' state")


class MVSet(NamedTuple):
    """Write ``value``, superseding the writes tagged in ``seen`` (those the writer observed).

    JSON: ``{"set": value, "seen": [[event, index], ...]}``.
    """

    stamp: Stamp
    value: JSON
    seen: frozenset[Tag]


class MVState(NamedTuple):
    """Live writes by tag, and superseded tags (each mapped to the least tag that superseded it)."""

    live: dict[Tag, SetValue]
    dead: dict[Tag, Tag]


class MVRegister(CRDTType[MVState, MVSet, list[JSON]]):
    """Multi-value register: keeps every concurrent write; value sorted by stamp (oldest first).

    Superseded tags are kept (``dead``) so a merge with a replica that still holds them cannot revive
    them; ``collect`` drops them once the superseding write is causally stable.
    """

    name = "mv"

    def empty(self) -> MVState:
        return MVState({}, {})

    def set_op(self, state: MVState, stamp: Stamp, value: JSON) -> MVSet:
        """Build a write that supersedes everything ``state`` shows."""
        return MVSet(stamp, value, frozenset(state.live))

    def set(self, state: MVState, value: JSON) -> JSON:
        """Return the wire op that writes ``value`` over everything ``state`` shows."""
        return self.checked({"set": value, "seen": tags_to_json(state.live)})

    def conflict(self, state: MVState) -> bool:
        """Return True when concurrent writes are being kept."""
        return len(state.live) > 1

    def apply(self, state: MVState, op: MVSet) -> MVState:
        tag = op.stamp.tag
        for t in op.seen:
            if t != tag:
                min_tag(state.dead, t, tag)
                state.live.pop(t, None)
        if tag not in state.dead:
            state.live[tag] = SetValue(op.stamp, op.value)
        return state

    def merge(self, a: MVState, b: MVState) -> MVState:
        dead = dict(a.dead)
        for t, by in b.dead.items():
            min_tag(dead, t, by)
        live = {t: w for t, w in a.live.items() if t not in dead}
        live.update((t, w) for t, w in b.live.items() if t not in dead)
        return MVState(live, dead)

    def value(self, state: MVState) -> list[JSON]:
        return [w.value for w in sorted(state.live.values(), key=lambda w: w.stamp)]

    def copy(self, state: MVState) -> MVState:
        return MVState(dict(state.live), dict(state.dead))

    def collect(self, state: MVState, stable: Stable) -> MVState:
        for t in [t for t, by in state.dead.items() if stable(by)]:
            del state.dead[t]
        return state

    def encode_op(self, op: MVSet) -> JSON:
        return {"set": op.value, "seen": tags_to_json(op.seen)}

    def decode_op(self, j: JSON, stamp: Stamp) -> MVSet:
        d = op_dict(j, self.name, (frozenset({"set", "seen"}),))
        return MVSet(stamp, check_json(d["set"], "mv value"), tags_from_json(d["seen"], "mv 'seen'"))

    def encode_state(self, state: MVState) -> JSON:
        return {
            "live": [
                {"stamp": stamp_to_json(w.stamp), "value": w.value}
                for w in sorted(state.live.values(), key=lambda w: w.stamp)
            ],
            "dead": [[[t[0], t[1]], [by[0], by[1]]] for t, by in sorted(state.dead.items())],
        }

    def decode_state(self, j: JSON) -> MVState:
        if not (isinstance(j, dict) and set(j) == {"live", "dead"}):
            raise UsageError(f"an 'mv' state is {{'live': [...], 'dead': [...]}}, got {j!r}")
        if not isinstance(j["live"], list) or not isinstance(j["dead"], list):
            raise UsageError("an 'mv' state has lists under 'live' and 'dead'")
        live = {w.stamp.tag: w for w in (_decode_stamped(x, "an 'mv' write") for x in j["live"])}
        dead: dict[Tag, Tag] = {}
        for pair in j["dead"]:
            if not (isinstance(pair, list) and len(pair) == 2):
                raise UsageError(f"an 'mv' dead entry is [tag, superseding tag], got {pair!r}")
            dead[tag_from_json(pair[0])] = tag_from_json(pair[1])
        return MVState(live, dead)


LWW = LWWRegister()
MV = MVRegister()
