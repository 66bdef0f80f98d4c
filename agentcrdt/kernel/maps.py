"""Nested map: string keys, each holding child CRDTs, with add-wins presence.

Presence (why the state looks like this)
----------------------------------------
A key is present iff it has an update not covered by a remove, so a remove concurrent with an update
inside the key keeps the update (as Automerge and Yjs keep concurrent work). Storing every update tag
would cost one tag per op (50,000 sets → 50,000 tags), so each typed child keeps only the newest update
stamp *per author* (``upd``), and a remove carries, per author, the ``(lamport, index)`` of the newest
update to the key that its writer had observed (``seen``). An update ``u`` by author ``A`` is covered iff
``(u.lamport, u.index) <= seen[A]``. This is exact, not an approximation, because an author's events form
a chain (each depends on the author's previous event, enforced by the log's per-author ``seq``) and Lamport
clocks grow along it: if the remover observed A's update at (7, 0) it observed every earlier update by A,
and an update by A it had not observed has a greater (lamport, index). Ops inside one event share a
lamport and are ordered by index, which keeps "update; remove; update" inside one event right. (An
equivocating author, who forks their chain, can make the summary cover a fork it never saw; the log
detects equivocation and keeps the proof.)

Revived keys
------------
When an update revives a removed key, a *map* child is reset: removal summaries are inherited by nested
keys, so nested keys whose updates the remove covered stay hidden and only concurrent/later work shows.
Any other child keeps its whole merged state (an LWW register shows its newest write, which is the
reviving one if it came after the remove; a counter keeps its old contributions). This is the one place
where our map differs from Riak's reset-remove map; generic reset would need every type to subtract
covered effects.

Type conflicts
--------------
Concurrent updates may give one key children of different types; each type keeps its own child and the
value shows the present one with the newest update, so nothing is lost and every replica picks the same.
"""

from __future__ import annotations

from typing import Any, NamedTuple, TypeAlias

from agentcrdt.errors import UsageError
from agentcrdt.kernel.base import CRDTType, Stable, get_type, op_dict, tags_from_json, tags_to_json
from agentcrdt.kernel.clock import JSON, Stamp, Tag, stamp_from_json, stamp_to_json
from agentcrdt.kernel.registers import SetValue

__all__ = ["MAP", "MapRemove", "MapState", "MapType", "MapUpdate", "Seen"]

#: Per author, the (lamport, index) of the newest observed update.
Seen: TypeAlias = dict[str, tuple[int, int]]

_NONE = (-1, -1)
_new = tuple.__new__
# Children whose revival after a stable remove looks the same with or without the old state, so a fully
# removed key holding only these may be collected (see ``MapType.collect``).
_COLLECTABLE_TYPES = frozenset({"map", "lww"})


class MapUpdate(NamedTuple):
    """Apply ``op`` (an op of type ``type``, same stamp) to the child at ``key``.

    JSON: ``{"key": key, "type": type_name, "op": child_op_json}``.
    """

    stamp: Stamp
    key: str
    type: str
    op: Any


class MapRemove(NamedTuple):
    """Remove ``key``, covering the updates its writer observed (see the module docstring).

    JSON: ``{"remove": key, "seen": {author: [lamport, index], ...}}``.
    """

    stamp: Stamp
    key: str
    seen: Seen


class _Entry:
    """One typed child: its type object, state, and newest update stamp per author."""

    __slots__ = ("child", "t", "upd")

    def __init__(self, t: CRDTType[Any, Any, Any], child: Any, upd: dict[str, Stamp]) -> None:
        self.t = t
        self.child = child
        self.upd = upd


class _Slot:
    """One key: removal summary, tags of the removes (for ``collect``), typed children.

    ``rm`` and ``rm_tags`` are never mutated, only replaced (removes are rare), so copies of a state
    share them and copying a 10,000-key map allocates only what updates mutate.
    """

    __slots__ = ("rm", "rm_tags", "types")

    def __init__(self, rm: Seen, rm_tags: frozenset[Tag], types: dict[str, _Entry]) -> None:
        self.rm = rm
        self.rm_tags = rm_tags
        self.types = types


MapState: TypeAlias = dict[str, _Slot]

_NO_RM: Seen = {}  # shared, never mutated (see _Slot)
_NO_TAGS: frozenset[Tag] = frozenset()


def _covered(s: Stamp, eff: Seen) -> bool:
    c = eff.get(s.author)
    return c is not None and (s.lamport, s.index) <= c


def _max_seen(a: Seen, b: Seen) -> Seen:
    if not a:
        return b
    if not b:
        return a
    out = dict(a)
    for k, v in b.items():
        if v > out.get(k, _NONE):
            out[k] = v
    return out


def _observed(state: MapState, key: str) -> Seen:
    """Return, per author, the newest update at ``key`` that ``state`` holds (what a remove covers)."""
    seen: Seen = {}
    slot = state.get(key)
    for e in slot.types.values() if slot else ():
        for a, s in e.upd.items():
            if (s.lamport, s.index) > seen.get(a, _NONE):
                seen[a] = (s.lamport, s.index)
    return seen


class MapType(CRDTType[MapState, MapUpdate | MapRemove, dict[str, Any]]):
    """Nested map CRDT (``"map"``); ``value`` is a plain dict of child values."""

    name = "map"

    def empty(self) -> MapState:
        return {}

    # -- op builders ------------------------------------------------------------------------------
    def set_op(self, stamp: Stamp, key: str, value: JSON) -> MapUpdate:
        """Build an LWW write of ``value`` at ``key``."""
        # tuple.__new__ skips the NamedTuple constructor's Python frame: this is the hottest op builder
        return _new(MapUpdate, (stamp, key, "lww", _new(SetValue, (stamp, value))))

    def path_op(self, stamp: Stamp, path: list[str], type_name: str, child_op: Any) -> MapUpdate:
        """Build an update of the child of type ``type_name`` at ``path`` through nested maps."""
        if not path:
            raise UsageError("a map path needs at least one key")
        op = MapUpdate(stamp, path[-1], type_name, child_op)
        for key in reversed(path[:-1]):
            op = MapUpdate(stamp, key, "map", op)
        return op

    def remove_op(self, state: MapState, stamp: Stamp, key: str) -> MapRemove:
        """Build a remove of ``key`` covering every update ``state`` has seen there."""
        return MapRemove(stamp, key, _observed(state, key))

    def set(self, key: str, value: JSON) -> JSON:
        """Return the wire op that writes ``value`` at ``key`` (an LWW child)."""
        return self.checked({"key": key, "type": "lww", "op": {"set": value}})

    def update(self, path: str | list[str], type_name: str, child_op: JSON) -> JSON:
        """Return the wire op that applies the wire op ``child_op`` to the ``type_name`` child at ``path``.

        ``path`` is a key or a list of keys through nested maps: ``MAP.update(["a", "b"], "orset",
        ORSET.add(1))``.
        """
        keys = [path] if isinstance(path, str) else list(path)
        if not keys:
            raise UsageError("a map path needs at least one key")
        j: JSON = {"key": keys[-1], "type": type_name, "op": child_op}
        for key in reversed(keys[:-1]):
            j = {"key": key, "type": "map", "op": j}
        return self.checked(j)

    def remove(self, state: MapState, key: str) -> JSON:
        """Return the wire op that removes ``key``, covering every update ``state`` has seen there."""
        seen = _observed(state, key)
        return self.checked({"remove": key, "seen": {a: [li[0], li[1]] for a, li in sorted(seen.items())}})

    def child(self, state: MapState, key: str, type_name: str) -> Any:
        """Return the child state of type ``type_name`` at ``key`` (present or not), or None."""
        slot = state.get(key)
        e = slot.types.get(type_name) if slot else None
        return None if e is None else e.child

    # -- lattice ------------------------------------------------------------------------------------
    def apply(self, state: MapState, op: MapUpdate | MapRemove) -> MapState:
        slot = state.get(op.key)
        if type(op) is MapUpdate:
            if slot is None:
                slot = state[op.key] = _Slot(_NO_RM, _NO_TAGS, {})
            e = slot.types.get(op.type)
            if e is None:
                t = get_type(op.type)
                e = slot.types[op.type] = _Entry(t, t.empty(), {})
            e.child = e.t.apply(e.child, op.op)
            s = op.stamp
            cur = e.upd.get(s.author)
            if cur is None or s > cur:
                e.upd[s.author] = s
            return state
        assert isinstance(op, MapRemove)
        if not op.seen:
            return state  # covers nothing
        if slot is None:
            slot = state[op.key] = _Slot(_NO_RM, _NO_TAGS, {})
        slot.rm = _max_seen(slot.rm, dict(op.seen))  # our own copy: the op stays the caller's
        slot.rm_tags = slot.rm_tags | {op.stamp.tag}
        return state

    def merge(self, a: MapState, b: MapState) -> MapState:
        out: MapState = {}
        for key, sa in a.items():
            sb = b.get(key)
            out[key] = _copy_slot(sa) if sb is None else _merge_slots(sa, sb)
        for key, sb in b.items():
            if key not in out:
                out[key] = _copy_slot(sb)
        return out

    def copy(self, state: MapState) -> MapState:
        return {k: _copy_slot(s) for k, s in state.items()}

    def value(self, state: MapState) -> dict[str, Any]:
        return self._value(state, {})

    def _value(self, state: MapState, inherited: Seen) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for key, slot in state.items():
            eff = _max_seen(inherited, slot.rm)
            best = self._visible(slot, eff)
            if best is not None:
                out[key] = (
                    self._value(best.child, eff) if isinstance(best.t, MapType) else best.t.value(best.child)
                )
        return out

    @staticmethod
    def _visible(slot: _Slot, eff: Seen) -> _Entry | None:
        best: _Entry | None = None
        best_stamp: Stamp | None = None
        for e in slot.types.values():
            live = [s for s in e.upd.values() if not _covered(s, eff)] if eff else list(e.upd.values())
            if live:
                newest = max(live)
                if best_stamp is None or newest > best_stamp:
                    best, best_stamp = e, newest
        return best

    def newest(self, state: MapState, key: str) -> Stamp | None:
        """Return the newest update stamp at ``key`` (of any child type, hidden or not), or None."""
        slot = state.get(key)
        return max((s for e in slot.types.values() for s in e.upd.values()), default=None) if slot else None

    def visible_child(self, state: MapState, key: str) -> tuple[str, Any]:
        """Return ``(type name, child state)`` of the child ``key`` shows; UsageError if it is hidden."""
        slot = state.get(key)
        e = None if slot is None else self._visible(slot, slot.rm)
        if e is None:
            raise UsageError(f"map key {key!r} is not present")
        return e.t.name, e.child

    def present(self, state: MapState, key: str) -> bool:
        """Return True when ``key`` is visible at the top level of ``state``."""
        slot = state.get(key)
        return slot is not None and self._visible(slot, slot.rm) is not None

    def collect(self, state: MapState, stable: Stable) -> MapState:
        """Drop keys whose removal is stable and which hold only map/LWW children; recurse into others.

        Other children (counters, sets, MV) keep their removed slot: a later revival shows their old
        state on replicas that kept it, so dropping it here would make replicas disagree.
        """
        self._collect(state, stable, {}, True)
        return state

    def _collect(self, state: MapState, stable: Stable, inherited: Seen, anc_stable: bool) -> None:
        for key in list(state):
            slot = state[key]
            eff = _max_seen(inherited, slot.rm)
            rm_stable = anc_stable and all(stable(t) for t in slot.rm_tags)
            if (
                eff
                and rm_stable
                and self._visible(slot, eff) is None
                and all(name in _COLLECTABLE_TYPES for name in slot.types)
            ):
                del state[key]
                continue
            for e in slot.types.values():
                if isinstance(e.t, MapType):
                    self._collect(e.child, stable, eff, rm_stable)
                else:
                    e.child = e.t.collect(e.child, stable)

    # -- codecs -------------------------------------------------------------------------------------
    def encode_op(self, op: MapUpdate | MapRemove) -> JSON:
        if type(op) is MapUpdate:
            return {"key": op.key, "type": op.type, "op": get_type(op.type).encode_op(op.op)}
        assert isinstance(op, MapRemove)
        return {"remove": op.key, "seen": {a: [li[0], li[1]] for a, li in sorted(op.seen.items())}}

    def decode_op(self, j: JSON, stamp: Stamp) -> MapUpdate | MapRemove:
        d = op_dict(j, self.name, (frozenset({"key", "type", "op"}), frozenset({"remove", "seen"})))
        if "remove" in d:
            return MapRemove(stamp, _key(d["remove"]), _seen_from_json(d["seen"]))
        t = get_type(d["type"])
        return MapUpdate(stamp, _key(d["key"]), t.name, t.decode_op(d["op"], stamp))

    def encode_state(self, state: MapState) -> JSON:
        return {
            key: {
                "rm": {a: [li[0], li[1]] for a, li in sorted(slot.rm.items())},
                "rm_tags": tags_to_json(slot.rm_tags),
                "types": {
                    tname: {
                        "upd": {a: stamp_to_json(s) for a, s in sorted(e.upd.items())},
                        "state": e.t.encode_state(e.child),
                    }
                    for tname, e in sorted(slot.types.items())
                },
            }
            for key, slot in sorted(state.items())
        }

    def decode_state(self, j: JSON) -> MapState:
        if not isinstance(j, dict):
            raise UsageError(f"a 'map' state is an object {{key: slot}}, got {j!r}")
        out: MapState = {}
        for key, sj in j.items():
            if not (isinstance(sj, dict) and set(sj) == {"rm", "rm_tags", "types"}):
                raise UsageError(f"a 'map' slot is {{'rm', 'rm_tags', 'types'}}, got {sj!r}")
            if not isinstance(sj["types"], dict):
                raise UsageError(f"a 'map' slot's 'types' is an object, got {sj['types']!r}")
            types: dict[str, _Entry] = {}
            for tname, ej in sj["types"].items():
                if not (isinstance(ej, dict) and set(ej) == {"upd", "state"} and isinstance(ej["upd"], dict)):
                    raise UsageError(f"a 'map' child is {{'upd': {{...}}, 'state': ...}}, got {ej!r}")
                t = get_type(tname)
                upd = {a: stamp_from_json(s) for a, s in ej["upd"].items()}
                if any(s.author != a for a, s in upd.items()):
                    raise UsageError(
                        f"a 'map' child's 'upd' maps each author to its own stamp: {ej['upd']!r}"
                    )
                types[tname] = _Entry(t, t.decode_state(ej["state"]), upd)
            out[_key(key)] = _Slot(_seen_from_json(sj["rm"]), tags_from_json(sj["rm_tags"], "rm_tags"), types)
        return out


def _copy_entry(e: _Entry) -> _Entry:
    return _Entry(e.t, e.t.copy(e.child), e.upd.copy())


def _copy_slot(s: _Slot) -> _Slot:
    return _Slot(s.rm, s.rm_tags, {n: _copy_entry(e) for n, e in s.types.items()})


def _merge_slots(sa: _Slot, sb: _Slot) -> _Slot:
    types: dict[str, _Entry] = {}
    for n, ea in sa.types.items():
        eb = sb.types.get(n)
        if eb is None:
            types[n] = _copy_entry(ea)
            continue
        upd = ea.upd.copy()
        for au, st in eb.upd.items():
            cur = upd.get(au)
            if cur is None or st > cur:
                upd[au] = st
        types[n] = _Entry(ea.t, ea.t.merge(ea.child, eb.child), upd)
    for n, eb in sb.types.items():
        if n not in types:
            types[n] = _copy_entry(eb)
    tags = sa.rm_tags if sb.rm_tags <= sa.rm_tags else sa.rm_tags | sb.rm_tags
    return _Slot(_max_seen(sa.rm, sb.rm), tags, types)


def _key(k: JSON) -> str:
    if not isinstance(k, str):
        raise UsageError(f"map keys are strings, got {k!r}")
    return k


def _seen_from_json(j: JSON) -> Seen:
    ok = isinstance(j, dict) and all(
        isinstance(a, str)
        and isinstance(v, list)
        and len(v) == 2
        and type(v[0]) is int
        and type(v[1]) is int
        and v[1] >= 0
        for a, v in j.items()
    )
    if not ok:
        raise UsageError(f"a map remove's 'seen' is {{author: [lamport, index]}}, got {j!r}")
    return {a: (v[0], v[1]) for a, v in j.items()}


MAP = MapType()
