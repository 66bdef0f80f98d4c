"""Per-CRDT reads and minimal diffs: a field's kernel state <-> its value, and old -> new as kernel ops.

Ops are built with the kernel's wire builders (``LWW.set``, ``ORSET.remove``...), so the JSON shapes stay
owned by the kernel; the replica stamps each op from the event that carries it.
"""

from __future__ import annotations

from difflib import SequenceMatcher
from typing import Any

from agentcrdt.kernel import (
    GCOUNTER,
    JSON,
    LWW,
    LWWSET,
    MAP,
    MV,
    ORSET,
    PNCOUNTER,
    RGA,
    ElemId,
)
from agentcrdt.schema import fields as F
from agentcrdt.schema.values import MAX_SAFE_INT, decode_value, encode_value, wire_key

__all__ = ["MISSING", "diff", "read"]


class _Missing:
    def __repr__(self) -> str:
        return "MISSING"


#: The field was never written: the model's default applies.
MISSING: Any = _Missing()


# -- reads --------------------------------------------------------------------------------------------


def _text_units(state: Any) -> tuple[list[ElemId], list[str]]:
    # Items that are not strings (a peer may write anything into an rga) are skipped by every replica
    # alike, so the text stays deterministic and the rest of it readable.
    ids: list[ElemId] = []
    units: list[str] = []
    for eid, v in zip(RGA.visible_ids(state), RGA.value(state), strict=True):
        if isinstance(v, str):
            ids.append(eid)
            units.append(v)
    return ids, units


def read(spec: F.FieldSpec, state: Any | None) -> tuple[Any, list[Any]]:
    """Return ``(value before validation, concurrent MV values or [])``; MISSING if never written."""
    m = spec.marker
    if isinstance(m, F.MultiValue):
        live = [] if state is None else MV.value(state)
        if not live:
            return MISSING, []
        values = [decode_value(v) for v in live]
        return values[-1], values if len(values) > 1 else []  # newest write (stamp order) shows
    if state is None:
        # A collection or counter nobody wrote is empty; an LWW register nobody wrote has no value.
        if isinstance(m, F.Counter):
            return 0, []
        if isinstance(m, F.Text):
            return "", []
        if isinstance(m, F.AddWinsSet | F.Sequence):
            return [], []
        if isinstance(m, F.Map):
            return {}, []
        return MISSING, []
    if isinstance(m, F.Text):
        return "".join(_text_units(state)[1]), []
    if isinstance(m, F.Map):
        return decode_value(MAP.value(state)), []
    if isinstance(m, F.Counter):
        return (GCOUNTER if isinstance(m, F.GrowCounter) else PNCOUNTER).value(state), []
    if isinstance(m, F.LWWSet):
        return decode_value(LWWSET.value(state)), []
    if isinstance(m, F.AddWinsSet):
        return decode_value(ORSET.value(state)), []
    if isinstance(m, F.Sequence):
        return decode_value(RGA.value(state)), []
    return decode_value(LWW.value(state)), []


# -- diffs --------------------------------------------------------------------------------------------


def diff(spec: F.FieldSpec, state: Any | None, value: Any, owner: str) -> list[JSON]:
    """Return the kernel ops (JSON) that take the field from ``state`` to the validated ``value``."""
    m = spec.marker
    if isinstance(m, F.Counter):
        return _counter(spec, state, value, owner)
    if isinstance(m, F.Text):
        ids, units = ([], []) if state is None else _text_units(state)
        return _sequence(ids, units, list(value), list(value))
    new = encode_value(spec.adapter, value)
    if isinstance(m, F.MultiValue):
        live = [] if state is None else MV.value(state)
        if len(live) == 1 and wire_key(live[0]) == wire_key(new):
            return []
        return [MV.set(MV.empty() if state is None else state, new)]
    if isinstance(m, F.AddWinsSet):
        return _set(m, state, new)
    if isinstance(m, F.Sequence):
        ids = [] if state is None else RGA.visible_ids(state)
        old = [] if state is None else RGA.value(state)
        return _sequence(ids, [wire_key(x) for x in old], [wire_key(x) for x in new], new)
    if isinstance(m, F.Map):
        return _map(state, new)
    if state is not None and wire_key(LWW.value(state)) == wire_key(new):
        return []
    return [LWW.set(new)]


def _counter(spec: F.FieldSpec, state: Any | None, value: int, owner: str) -> list[JSON]:
    grow = isinstance(spec.marker, F.GrowCounter)
    t = GCOUNTER if grow else PNCOUNTER
    delta = value - (0 if state is None else t.value(state))
    if delta == 0:
        return []
    if grow and delta < 0:
        raise F.InvalidEntityValue(
            f"{owner}.{spec.name}: a GrowCounter() only grows, cannot go from {value - delta} to {value}; "
            "declare it with Counter() to allow decrements",
            owner,
            spec.name,
        )
    if abs(delta) > MAX_SAFE_INT:
        raise F.InvalidEntityValue(
            f"{owner}.{spec.name}: a counter moves by at most {MAX_SAFE_INT} per update, got {delta}",
            owner,
            spec.name,
        )
    return [t.inc(delta)]


def _set(m: F.AddWinsSet, state: Any | None, new: JSON) -> list[JSON]:
    add_wins = not isinstance(m, F.LWWSet)
    t = ORSET if add_wins else LWWSET
    old = {wire_key(e): e for e in ([] if state is None else t.value(state))}
    want = {wire_key(e): e for e in new}
    ops: list[JSON] = []
    for k in sorted(old.keys() - want.keys()):
        # OR-Set removes name the add tags they observed, so a concurrent re-add survives (add wins).
        assert state is not None  # old is empty without a state
        ops.append(ORSET.remove(state, old[k]) if add_wins else LWWSET.remove(old[k]))
    ops.extend(t.add(want[k]) for k in sorted(want.keys() - old.keys()))
    return ops


def _map(state: Any | None, new: dict[str, JSON]) -> list[JSON]:
    if state is None:
        state = MAP.empty()
    old = MAP.value(state)
    ops: list[JSON] = [MAP.remove(state, k) for k in sorted(old.keys() - new.keys())]
    for k in sorted(new):
        if k not in old or wire_key(old[k]) != wire_key(new[k]):
            ops.append(MAP.set(k, new[k]))
    return ops


def _sequence(ids: list[ElemId], old: list[str], new: list[str], items: list[JSON]) -> list[JSON]:
    """Diff ``old`` -> ``new`` (comparison keys) into RGA ops inserting ``items`` at the right ids.

    Each insert hangs off the element just before it in the old sequence; the writer's stamp is above
    every stamp it has seen, so the insert lands right after that element, before older siblings.
    """
    lo = 0
    while lo < len(old) and lo < len(new) and old[lo] == new[lo]:
        lo += 1
    hi = 0  # common suffix: a typical edit touches one place, so SequenceMatcher sees a short middle
    while hi < len(old) - lo and hi < len(new) - lo and old[-1 - hi] == new[-1 - hi]:
        hi += 1
    matcher = SequenceMatcher(None, old[lo : len(old) - hi], new[lo : len(new) - hi], autojunk=False)
    deleted: list[ElemId] = []
    inserts: list[JSON] = []
    for tag, i1, i2, j1, j2 in matcher.get_opcodes():
        i1, i2, j1, j2 = i1 + lo, i2 + lo, j1 + lo, j2 + lo
        if tag in ("delete", "replace"):
            deleted.extend(ids[i1:i2])
        if tag in ("insert", "replace"):
            after = ids[i1 - 1] if i1 else None
            inserts.append(RGA.insert_after(after, items[j1:j2]))
    if deleted:
        inserts.insert(0, RGA.delete_ids(deleted))
    return inserts
