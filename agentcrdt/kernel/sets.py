"""Sets: add-wins observed-remove (OR-Set) and last-writer-wins element set (LWW-Element-Set).

Elements are JSON values identified by their canonical JSON text, so ``1`` and ``true`` (equal in
Python) stay distinct and dicts/lists may be elements. ``value`` returns the elements as a list sorted by
that canonical text, a deterministic order every replica agrees on.
"""

from __future__ import annotations

from typing import NamedTuple

from agentcrdt.errors import UsageError
from agentcrdt.kernel.base import (
    CRDTType,
    Stable,
    canonical,
    check_json,
    min_tag,
    op_dict,
    tags_from_json,
    tags_to_json,
)
from agentcrdt.kernel.clock import JSON, Stamp, Tag, stamp_from_json, stamp_to_json, tag_from_json

__all__ = ["LWWSET", "ORSET", "LWWElementSet", "LWWSetState", "ORSet", "ORSetState", "SetAdd", "SetRemove"]


class SetAdd(NamedTuple):
    """Add ``elem``. JSON: ``{"add": elem}``."""

    stamp: Stamp
    elem: JSON


class SetRemove(NamedTuple):
    """Remove ``elem``. OR-Set JSON: ``{"remove": elem, "seen": [[event, index], ...]}`` (the add tags
    the remover observed); LWW-Element-Set JSON: ``{"remove": elem}`` (``seen`` stays empty)."""

    stamp: Stamp
    elem: JSON
    seen: frozenset[Tag] = frozenset()


class ORSetState(NamedTuple):
    """Per element (by canonical key): the element and its live add tags, and its removed add tags
    (each mapped to the least remove tag that cancelled it, for ``collect``)."""

    elems: dict[str, tuple[JSON, set[Tag]]]
    removed: dict[str, dict[Tag, Tag]]


class ORSet(CRDTType[ORSetState, SetAdd | SetRemove, list[JSON]]):
    """Add-wins set: a remove only cancels the adds it observed, so a concurrent add survives.

    Removed tags are kept per element: a remove names its element, so a bogus tag in ``seen`` can only
    affect that element, whatever order ops and merges happen in.
    """

    name = "orset"

    def empty(self) -> ORSetState:
        return ORSetState({}, {})

    def remove_op(self, state: ORSetState, stamp: Stamp, elem: JSON) -> SetRemove:
        """Build a remove of ``elem`` that cancels every add ``state`` has observed."""
        entry = state.elems.get(canonical(elem))
        return SetRemove(stamp, elem, frozenset(entry[1]) if entry else frozenset())

    def add(self, elem: JSON) -> JSON:
        """Return the wire op that adds ``elem``."""
        return self.checked({"add": elem})

    def remove(self, state: ORSetState, elem: JSON) -> JSON:
        """Return the wire op that removes ``elem``, cancelling every add ``state`` has observed."""
        entry = state.elems.get(canonical(elem))
        return self.checked({"remove": elem, "seen": tags_to_json(entry[1] if entry else ())})

    def apply(self, state: ORSetState, op: SetAdd | SetRemove) -> ORSetState:
        key = canonical(op.elem)
        gone = state.removed.get(key)
        if type(op) is SetAdd:
            tag = op.stamp.tag
            if gone is None or tag not in gone:
                state.elems.setdefault(key, (op.elem, set()))[1].add(tag)
            return state
        assert isinstance(op, SetRemove)
        if not op.seen:
            return state
        by = op.stamp.tag
        if gone is None:
            gone = state.removed[key] = {}
        entry = state.elems.get(key)
        for t in op.seen:
            min_tag(gone, t, by)
            if entry is not None:
                entry[1].discard(t)
        if entry is not None and not entry[1]:
            del state.elems[key]
        return state

    def merge(self, a: ORSetState, b: ORSetState) -> ORSetState:
        removed = {k: dict(g) for k, g in a.removed.items()}
        for k, g in b.removed.items():
            into = removed.setdefault(k, {})
            for t, by in g.items():
                min_tag(into, t, by)
        elems: dict[str, tuple[JSON, set[Tag]]] = {}
        for src in (a.elems, b.elems):
            for key, (elem, tags) in src.items():
                gone = removed.get(key, {})
                live = {t for t in tags if t not in gone}
                if live:
                    elems.setdefault(key, (elem, set()))[1].update(live)
        return ORSetState(elems, removed)

    def value(self, state: ORSetState) -> list[JSON]:
        return [state.elems[k][0] for k in sorted(state.elems)]

    def copy(self, state: ORSetState) -> ORSetState:
        return ORSetState(
            {k: (e, set(ts)) for k, (e, ts) in state.elems.items()},
            {k: dict(g) for k, g in state.removed.items()},
        )

    def collect(self, state: ORSetState, stable: Stable) -> ORSetState:
        for key in list(state.removed):
            gone = state.removed[key]
            for t in [t for t, by in gone.items() if stable(by)]:
                del gone[t]
            if not gone:
                del state.removed[key]
        return state

    def encode_op(self, op: SetAdd | SetRemove) -> JSON:
        if type(op) is SetAdd:
            return {"add": op.elem}
        assert isinstance(op, SetRemove)
        return {"remove": op.elem, "seen": tags_to_json(op.seen)}

    def decode_op(self, j: JSON, stamp: Stamp) -> SetAdd | SetRemove:
        d = op_dict(j, self.name, (frozenset({"add"}), frozenset({"remove", "seen"})))
        if "add" in d:
            return SetAdd(stamp, check_json(d["add"], "orset element"))
        return SetRemove(stamp, check_json(d["remove"], "orset element"), tags_from_json(d["seen"], "seen"))

    def encode_state(self, state: ORSetState) -> JSON:
        return {
            "elems": [[state.elems[k][0], tags_to_json(state.elems[k][1])] for k in sorted(state.elems)],
            "removed": {
                k: [[[t[0], t[1]], [by[0], by[1]]] for t, by in sorted(g.items())]
                for k, g in sorted(state.removed.items())
                if g
            },
        }

    def decode_state(self, j: JSON) -> ORSetState:
        if not (isinstance(j, dict) and set(j) == {"elems", "removed"} and isinstance(j["removed"], dict)):
            raise UsageError(f"an 'orset' state is {{'elems': [...], 'removed': {{...}}}}, got {j!r}")
        state = self.empty()
        for item in _pairs(j["elems"], "an 'orset' element entry"):
            elem = check_json(item[0], "orset element")
            state.elems[canonical(elem)] = (elem, set(tags_from_json(item[1], "orset add tags")))
        for key, pairs in j["removed"].items():
            state.removed[key] = {
                tag_from_json(t): tag_from_json(by) for t, by in _pairs(pairs, "an 'orset' removed entry")
            }
        return state


def _pairs(j: JSON, what: str) -> list[list[JSON]]:
    if not isinstance(j, list) or not all(isinstance(x, list) and len(x) == 2 for x in j):
        raise UsageError(f"{what} list holds [a, b] pairs, got {j!r}")
    return j


class LWWSetState(NamedTuple):
    """Per element (by canonical key): the latest op's stamp, whether it was an add, and the element."""

    elems: dict[str, tuple[Stamp, bool, JSON]]


class LWWElementSet(CRDTType[LWWSetState, SetAdd | SetRemove, list[JSON]]):
    """LWW-Element-Set: the op with the greatest stamp decides membership.

    Stamps are unique (event id + index), so an add and a remove never tie and no bias rule is needed;
    unlike the OR-Set, a remove with a higher stamp beats a concurrent add.
    """

    name = "lwwset"

    def empty(self) -> LWWSetState:
        return LWWSetState({})

    def apply(self, state: LWWSetState, op: SetAdd | SetRemove) -> LWWSetState:
        key = canonical(op.elem)
        cur = state.elems.get(key)
        if cur is None or op.stamp > cur[0]:
            state.elems[key] = (op.stamp, type(op) is SetAdd, op.elem)
        return state

    def merge(self, a: LWWSetState, b: LWWSetState) -> LWWSetState:
        out = dict(a.elems)
        for k, e in b.elems.items():
            cur = out.get(k)
            if cur is None or e[0] > cur[0]:
                out[k] = e
        return LWWSetState(out)

    def value(self, state: LWWSetState) -> list[JSON]:
        return [state.elems[k][2] for k in sorted(state.elems) if state.elems[k][1]]

    def copy(self, state: LWWSetState) -> LWWSetState:
        return LWWSetState(dict(state.elems))

    def collect(self, state: LWWSetState, stable: Stable) -> LWWSetState:
        # A stable remove has no concurrent add left to lose to, so its entry carries no information.
        for k in [k for k, (s, present, _) in state.elems.items() if not present and stable(s.tag)]:
            del state.elems[k]
        return state

    def add(self, elem: JSON) -> JSON:
        """Return the wire op that adds ``elem``."""
        return self.checked({"add": elem})

    def remove(self, elem: JSON) -> JSON:
        """Return the wire op that removes ``elem`` (it wins over the ops whose stamps are lower)."""
        return self.checked({"remove": elem})

    def encode_op(self, op: SetAdd | SetRemove) -> JSON:
        return {"add": op.elem} if type(op) is SetAdd else {"remove": op.elem}

    def decode_op(self, j: JSON, stamp: Stamp) -> SetAdd | SetRemove:
        d = op_dict(j, self.name, (frozenset({"add"}), frozenset({"remove"})))
        if "add" in d:
            return SetAdd(stamp, check_json(d["add"], "lwwset element"))
        return SetRemove(stamp, check_json(d["remove"], "lwwset element"))

    def encode_state(self, state: LWWSetState) -> JSON:
        return [[stamp_to_json(s), present, e] for _, (s, present, e) in sorted(state.elems.items())]

    def decode_state(self, j: JSON) -> LWWSetState:
        if not isinstance(j, list) or not all(isinstance(x, list) and len(x) == 3 for x in j):
            raise UsageError(f"an 'lwwset' state is a list of [stamp, present, elem], got {j!r}")
        out: dict[str, tuple[Stamp, bool, JSON]] = {}
        for s, present, e in j:
            if type(present) is not bool:
                raise UsageError(f"an 'lwwset' entry's presence flag is a bool, got {present!r}")
            check_json(e, "lwwset element")
            out[canonical(e)] = (stamp_from_json(s), present, e)
        return LWWSetState(out)


ORSET = ORSet()
LWWSET = LWWElementSet()
