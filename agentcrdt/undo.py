"""Undo as a new event: the inverse of one event's ops, computed from states. Pure.

History is never rewritten. Undoing event E writes ops that put back what E changed, where E's change
is still what a reader sees; a field that someone else changed since (a later LWW write, say) is left
alone, because reverting it would silently discard their work. Per type:

* lww: if E's write still wins, write back the value before E (None if the field was unset);
* mv: if E's write is still among the live values, write back the value(s) before E (one if there was one);
* pncounter: add the opposite amount; gcounter cannot go down, so undoing it is refused;
* orset: an add is undone by removing exactly E's add tag (concurrent adds survive); a remove by re-adding;
* lwwset: add <-> remove (the undo is a newer write, so it wins over writes E had not seen);
* rga: inserts are undone by deleting E's elements still visible; deletes by re-inserting the deleted
  values right after their own tombstones, so they come back where they were;
* map: not supported (write the old values explicitly).
"""

from __future__ import annotations

from typing import Any

from agentcrdt.errors import UsageError
from agentcrdt.kernel import Stamp, get_type
from agentcrdt.kernel.counters import Inc
from agentcrdt.kernel.registers import MVSet, SetValue
from agentcrdt.kernel.sequence import SeqDelete, SeqInsert
from agentcrdt.kernel.sets import SetAdd, SetRemove
from agentcrdt.log.event import Event
from agentcrdt.state import DocState, entity_ops, op

__all__ = ["inverse_ops"]


def inverse_ops(event: Event, before: DocState, now: DocState) -> list[dict[str, Any]]:
    """Return the ops that undo ``event``, given the state at its deps and the current state."""
    out: list[dict[str, Any]] = []
    for (etype, eid), field, crdt, kop, stamp in entity_ops(event):
        old = before.entities.get((etype, eid))
        cur = now.entities.get((etype, eid))
        old_state = None if old is None else old.fields.get((field, crdt))
        cur_state = None if cur is None else cur.fields.get((field, crdt))
        for inverse in _invert(crdt, kop, stamp, old_state, cur_state):
            out.append(op(etype, eid, field, crdt, inverse))
    return out


def _invert(crdt: str, kop: Any, stamp: Stamp, old: Any, cur: Any) -> list[Any]:
    t = get_type(crdt)
    if crdt == "lww":
        assert isinstance(kop, SetValue)
        still_wins = cur is not None and cur.stamp == stamp
        return [{"set": t.value(old)}] if still_wins else []
    if crdt == "mv":
        assert isinstance(kop, MVSet)
        if cur is None or stamp.tag not in cur.live:
            return []
        previous = t.value(old) if old is not None else []
        return [
            {
                "set": previous[0] if len(previous) == 1 else (previous or None),
                "seen": [list(x) for x in cur.live],
            }
        ]
    if crdt == "pncounter":
        assert isinstance(kop, Inc)
        return [{"inc": -kop.amount}]
    if crdt in ("orset", "lwwset"):
        return _invert_set(crdt, kop, stamp, old)
    if crdt == "rga":
        return _invert_seq(kop, stamp, old, cur)
    raise UsageError(f"undo of {crdt!r} ops is not supported; write the previous value explicitly instead")


def _invert_set(crdt: str, kop: Any, stamp: Stamp, old: Any) -> list[Any]:
    was_there = old is not None and kop.elem in get_type(crdt).value(old)
    if isinstance(kop, SetAdd):
        if was_there:
            return []
        # OR-Set: cancel exactly this event's add tag, so a concurrent add of the same element survives.
        return (
            [{"remove": kop.elem, "seen": [list(stamp.tag)]}] if crdt == "orset" else [{"remove": kop.elem}]
        )
    assert isinstance(kop, SetRemove)
    return [{"add": kop.elem}] if was_there else []


def _invert_seq(kop: Any, stamp: Stamp, old: Any, cur: Any) -> list[Any]:
    rga = get_type("rga")
    if isinstance(kop, SeqInsert):
        mine = {(stamp.event, stamp.index, k) for k in range(len(kop.values))}
        visible = set(rga.visible_ids(cur)) if cur is not None else set()  # type: ignore[attr-defined]
        gone = sorted(mine & visible)
        return [{"delete": [list(i) for i in gone]}] if gone else []
    assert isinstance(kop, SeqDelete)
    if old is None:
        return []
    out = []
    for elem in kop.ids:
        node = old.nodes.get(elem)
        if node is not None and elem not in old.deleted:
            out.append({"insert": [node[2]], "after": list(elem)})
    return out
