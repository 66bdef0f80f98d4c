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
* map: an update is undone inside its key, by the rules above for the child's type; when the key was
  absent before E and E's update is still the newest there, by removing the key; nothing is done when the
  key has been removed since. A remove is undone, when the key is still hidden, by writing back what it
  held (lww and mv values, set elements, counters, nested maps of those); the same when E replaced the
  key's child with one of another type. A grow-only counter, a sequence, or an empty set or map cannot
  be made visible again without changing it (a revived child keeps its merged state), so that undo is
  refused with a UsageError.
"""

from __future__ import annotations

from typing import Any

from agentcrdt.errors import UsageError
from agentcrdt.kernel import LWW, LWWSET, MAP, MV, ORSET, PNCOUNTER, MapRemove, MapUpdate, Stamp, get_type
from agentcrdt.kernel.counters import Inc
from agentcrdt.kernel.registers import MVSet, SetValue
from agentcrdt.kernel.sequence import SeqDelete, SeqInsert
from agentcrdt.kernel.sets import SetAdd, SetRemove
from agentcrdt.log.event import Event
from agentcrdt.ops.state import DocState, entity_ops, op

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
            written = op(etype, eid, field, crdt, inverse)
            if "remove" in inverse and written in out:  # two ops of E at one key: remove it once
                continue
            out.append(written)
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
    if crdt == "map":
        if isinstance(kop, MapUpdate):
            return _invert_map_update(kop, stamp, old, cur)
        assert isinstance(kop, MapRemove)
        return _restore_key(kop.key, old, cur)
    raise UsageError(f"undo of {crdt!r} ops is not supported; write the previous value explicitly instead")


def _invert_map_update(kop: MapUpdate, stamp: Stamp, old: Any, cur: Any) -> list[Any]:
    key = kop.key
    if cur is None or not MAP.present(cur, key):
        return []  # removed since: reverting inside it would bring it back
    last = MAP.newest(cur, key)
    newest = last is not None and last.event == stamp.event  # nobody wrote there since E
    if old is None or not MAP.present(old, key):
        if newest:
            return [MAP.remove(cur, key)]
    else:
        old_type, was = MAP.visible_child(old, key)
        if old_type != kop.type:  # E replaced the key's child with one of another type
            if not newest:
                return []
            cur_was = MAP.child(cur, key, old_type)
            return [
                MAP.update(key, old_type, w)
                for w in _writes(key, old_type, was, cur_was, MAP.value(old)[key])
            ]
    old_child = None if old is None else MAP.child(old, key, kop.type)
    cur_child = MAP.child(cur, key, kop.type)
    return [MAP.update(key, kop.type, j) for j in _invert(kop.type, kop.op, stamp, old_child, cur_child)]


def _restore_key(key: str, old: Any, cur: Any) -> list[Any]:
    """Return the ops that write back what ``key`` held in ``old``, unless it is visible in ``cur``."""
    if old is None or not MAP.present(old, key) or (cur is not None and MAP.present(cur, key)):
        return []
    tname, child = MAP.visible_child(old, key)
    cur_child = None if cur is None else MAP.child(cur, key, tname)
    return [MAP.update(key, tname, w) for w in _writes(key, tname, child, cur_child, MAP.value(old)[key])]


def _writes(key: str, tname: str, child: Any, cur_child: Any, shown: Any) -> list[Any]:
    """Return the child ops that make a revived ``tname`` child show ``shown`` again."""
    if tname == "lww":
        return [LWW.set(shown)]
    if tname == "mv":
        return [MV.set(cur_child or MV.empty(), shown[0] if len(shown) == 1 else shown)]
    if tname == "pncounter":  # a net-zero pair: newer updates bring the counter back, its value as it was
        return [PNCOUNTER.inc(1), PNCOUNTER.inc(-1)]
    if tname in ("orset", "lwwset", "map") and not shown:
        raise UsageError(
            f"cannot bring back map key {key!r}: it held an empty {tname}, which only a write inside it "
            "brings back; write the value you want explicitly"
        )
    if tname in ("orset", "lwwset"):
        t = ORSET if tname == "orset" else LWWSET
        return [t.add(e) for e in shown]
    if tname == "map":
        out = []
        for k in sorted(shown):
            nt, nc = MAP.visible_child(child, k)
            ncur = None if cur_child is None else MAP.child(cur_child, k, nt)
            out += [MAP.update(k, nt, w) for w in _writes(f"{key}.{k}", nt, nc, ncur, shown[k])]
        return out
    raise UsageError(
        f"cannot bring back map key {key!r}: it held a {tname!r}, which no write can make visible again "
        "without changing it; write the value you want explicitly"
    )


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
