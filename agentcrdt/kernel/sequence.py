"""Sequence CRDT (RGA, the replicated growable array) for ordered lists and text.

Why RGA rather than Fugue: RGA is the simplest sequence CRDT with a well-understood proof, its state is
a tree we can keep incrementally (sibling lists sorted by stamp), and runs typed forwards never
interleave with concurrent runs because a run is a chain of right-children. Fugue additionally avoids
interleaving of text typed *backwards* (each character inserted before the previous one); that case is
rare for chat messages and list fields, so the simpler algorithm wins for now.

Model. Each element hangs off the element it was inserted after (``None`` = the head). Siblings are
visited newest first (greatest stamp first), so an insert lands right after its reference, before
elements inserted there earlier; the document is the pre-order walk of that tree. An insert of a run of
N values gives its items ids ``(event, index, 0..N-1)`` and chains them (item i+1 hangs off item i), so one
op carries a whole pasted string. A delete marks ids as tombstones; the element stays as an anchor.

Ops never have to arrive in order: an insert whose reference is unknown waits, invisible, until the
reference arrives (the walk starts at the head), and a delete of an unknown id is remembered. So the
state is a join-semilattice (union of elements, union of tombstones) under any delivery.
"""

from __future__ import annotations

from bisect import insort
from collections.abc import Sequence
from typing import NamedTuple, TypeAlias

from agentcrdt.errors import UsageError
from agentcrdt.kernel.base import CRDTType, Stable, check_json, min_tag, op_dict
from agentcrdt.kernel.clock import JSON, Stamp, Tag, tag_from_json

__all__ = ["RGA", "ElemId", "RGAType", "SeqDelete", "SeqInsert", "SeqState"]

#: An element id: (event id, op index, offset in the inserted run).
ElemId: TypeAlias = tuple[str, int, int]
# Sibling order key: the element's stamp extended by its offset in the run.
_Key: TypeAlias = tuple[int, str, str, int, int]


class SeqInsert(NamedTuple):
    """Insert ``values`` (in order) right after element ``after`` (None = at the start).

    JSON: ``{"insert": [value, ...], "after": [event, index, offset] | null}``.
    """

    stamp: Stamp
    after: ElemId | None
    values: tuple[JSON, ...]


class SeqDelete(NamedTuple):
    """Delete elements ``ids``, leaving tombstones. JSON: ``{"delete": [[event, index, offset], ...]}``."""

    stamp: Stamp
    ids: tuple[ElemId, ...]


class SeqState:
    """Elements by id ``(key, parent, value)``, sibling keys per parent (ascending), tombstones.

    ``deleted`` maps each tombstoned id to the least delete tag that hit it (what ``collect`` asks
    about).
    """

    __slots__ = ("children", "deleted", "nodes")

    def __init__(
        self,
        nodes: dict[ElemId, tuple[_Key, ElemId | None, JSON]],
        children: dict[ElemId | None, list[_Key]],
        deleted: dict[ElemId, Tag],
    ) -> None:
        self.nodes = nodes
        self.children = children
        self.deleted = deleted


def _id(key: _Key) -> ElemId:
    return (key[2], key[3], key[4])


def _add_node(st: SeqState, key: _Key, parent: ElemId | None, value: JSON) -> None:
    st.nodes[_id(key)] = (key, parent, value)
    sib = st.children.get(parent)
    if sib is None:
        st.children[parent] = [key]
    else:
        insort(sib, key)


class RGAType(CRDTType[SeqState, SeqInsert | SeqDelete, list[JSON]]):
    """RGA sequence (``"rga"``); ``value`` is the list of live items, ``text`` joins string items."""

    name = "rga"

    def empty(self) -> SeqState:
        return SeqState({}, {}, {})

    def apply(self, state: SeqState, op: SeqInsert | SeqDelete) -> SeqState:
        s = op.stamp
        if type(op) is SeqInsert:
            parent = op.after
            for i, v in enumerate(op.values):
                key = (s.lamport, s.author, s.event, s.index, i)
                if _id(key) not in state.nodes:  # a re-applied op changes nothing
                    _add_node(state, key, parent, v)
                parent = _id(key)
            return state
        assert isinstance(op, SeqDelete)
        for eid in op.ids:
            min_tag(state.deleted, eid, s.tag)
        return state

    def merge(self, a: SeqState, b: SeqState) -> SeqState:
        out = self.copy(a)
        for eid, (key, parent, v) in b.nodes.items():
            if eid not in out.nodes:
                _add_node(out, key, parent, v)
        for eid, tag in b.deleted.items():
            min_tag(out.deleted, eid, tag)
        return out

    def copy(self, state: SeqState) -> SeqState:
        return SeqState(
            dict(state.nodes), {p: list(ks) for p, ks in state.children.items()}, dict(state.deleted)
        )

    def visible_ids(self, state: SeqState) -> list[ElemId]:
        """Return the ids of the live elements in document order."""
        return [eid for eid, _ in self._walk(state)]

    def value(self, state: SeqState) -> list[JSON]:
        return [v for _, v in self._walk(state)]

    def text(self, state: SeqState) -> str:
        """Return the live items joined as a string; UsageError if any item is not a str."""
        items = self.value(state)
        if not all(isinstance(x, str) for x in items):
            raise UsageError("text() needs every item of the sequence to be a str")
        return "".join(items)

    def _walk(self, state: SeqState) -> list[tuple[ElemId, JSON]]:
        nodes, children, deleted = state.nodes, state.children, state.deleted
        out: list[tuple[ElemId, JSON]] = []
        stack = list(children.get(None, ()))  # ascending, so pop() yields the newest sibling first
        while stack:
            key = stack.pop()
            eid = (key[2], key[3], key[4])
            if eid not in deleted:
                out.append((eid, nodes[eid][2]))
            kids = children.get(eid)
            if kids:
                stack.extend(kids)
        return out

    # -- op builders (O(n): they walk the document) ------------------------------------------------
    def insert_op(self, state: SeqState, stamp: Stamp, pos: int, values: list[JSON]) -> SeqInsert:
        """Build an insert of ``values`` so they start at visible position ``pos``."""
        return SeqInsert(stamp, self._anchor(state, pos, values), tuple(values))

    def delete_op(self, state: SeqState, stamp: Stamp, pos: int, count: int = 1) -> SeqDelete:
        """Build a delete of ``count`` visible items starting at position ``pos``."""
        return SeqDelete(stamp, self._span(state, pos, count))

    def insert(self, state: SeqState, pos: int, values: list[JSON]) -> JSON:
        """Return the wire op that inserts ``values`` so they start at visible position ``pos``."""
        return self.insert_after(self._anchor(state, pos, values), values)

    def delete(self, state: SeqState, pos: int, count: int = 1) -> JSON:
        """Return the wire op that deletes ``count`` visible items starting at position ``pos``."""
        return self.delete_ids(self._span(state, pos, count))

    def insert_after(self, after: ElemId | None, values: list[JSON]) -> JSON:
        """Return the wire op that inserts ``values`` right after the item ``after`` (None: at the start)."""
        return self.checked({"insert": list(values), "after": None if after is None else list(after)})

    def delete_ids(self, ids: Sequence[ElemId]) -> JSON:
        """Return the wire op that deletes the items ``ids`` (visible or not: deleting twice is a no-op)."""
        return self.checked({"delete": [list(eid) for eid in ids]})

    def _anchor(self, state: SeqState, pos: int, values: list[JSON]) -> ElemId | None:
        ids = self.visible_ids(state)
        if not 0 <= pos <= len(ids) or not values:
            raise UsageError(f"insert position must be in 0..{len(ids)} with at least one value")
        return ids[pos - 1] if pos else None

    def _span(self, state: SeqState, pos: int, count: int) -> tuple[ElemId, ...]:
        ids = self.visible_ids(state)
        if count < 1 or not 0 <= pos <= len(ids) - count:
            raise UsageError(f"cannot delete {count} item(s) at {pos} from a sequence of {len(ids)}")
        return tuple(ids[pos : pos + count])

    def collect(self, state: SeqState, stable: Stable) -> SeqState:
        """Drop stable tombstones that are leaves (repeatedly: a parent may become a leaf).

        A tombstone with children stays: it anchors them, and removing it would reorder its subtree.
        """
        work = [eid for eid in state.deleted if eid in state.nodes]
        while work:
            eid = work.pop()
            tag = state.deleted.get(eid)
            if tag is None or eid not in state.nodes or state.children.get(eid) or not stable(tag):
                continue
            key, parent, _ = state.nodes.pop(eid)
            del state.deleted[eid]
            sib = state.children[parent]
            sib.remove(key)
            if not sib:
                del state.children[parent]
                if parent is not None and parent in state.deleted:
                    work.append(parent)
        return state

    # -- codecs ---------------------------------------------------------------------------------------
    def encode_op(self, op: SeqInsert | SeqDelete) -> JSON:
        if type(op) is SeqInsert:
            return {"insert": list(op.values), "after": None if op.after is None else list(op.after)}
        assert isinstance(op, SeqDelete)
        return {"delete": [list(eid) for eid in op.ids]}

    def decode_op(self, j: JSON, stamp: Stamp) -> SeqInsert | SeqDelete:
        d = op_dict(j, self.name, (frozenset({"insert", "after"}), frozenset({"delete"})))
        if "delete" in d:
            ids = d["delete"]
            if not isinstance(ids, list) or not ids:
                raise UsageError(
                    f"an 'rga' delete is a non-empty list of [event, index, offset], got {ids!r}"
                )
            return SeqDelete(stamp, tuple(_elem_id(x) for x in ids))
        values = d["insert"]
        if not isinstance(values, list) or not values:
            raise UsageError(f"an 'rga' insert carries a non-empty list of values, got {values!r}")
        after = None if d["after"] is None else _elem_id(d["after"])
        return SeqInsert(stamp, after, tuple(check_json(v, "rga item") for v in values))

    def encode_state(self, state: SeqState) -> JSON:
        return {
            "nodes": [
                [list(key), None if parent is None else list(parent), v]
                for key, parent, v in sorted(state.nodes.values(), key=lambda n: n[0])
            ],
            "deleted": [[list(eid), [t[0], t[1]]] for eid, t in sorted(state.deleted.items())],
        }

    def decode_state(self, j: JSON) -> SeqState:
        if not (isinstance(j, dict) and set(j) == {"nodes", "deleted"}):
            raise UsageError(f"an 'rga' state is {{'nodes': [...], 'deleted': [...]}}, got {j!r}")
        st = self.empty()
        for n in _rows(j["nodes"], 3, "an 'rga' node"):
            k = n[0]
            ok = isinstance(k, list) and len(k) == 5 and type(k[0]) is int and isinstance(k[1], str)
            if not ok:
                raise UsageError(f"an 'rga' node key is [lamport, author, event, index, offset], got {k!r}")
            key: _Key = (k[0], k[1], *_elem_id(k[2:]))
            _add_node(st, key, None if n[1] is None else _elem_id(n[1]), check_json(n[2], "rga item"))
        for eid, t in _rows(j["deleted"], 2, "an 'rga' tombstone"):
            st.deleted[_elem_id(eid)] = tag_from_json(t)
        return st


def _rows(j: JSON, width: int, what: str) -> list[list[JSON]]:
    if not isinstance(j, list) or not all(isinstance(x, list) and len(x) == width for x in j):
        raise UsageError(f"{what} list holds rows of {width}, got {j!r}")
    return j


def _elem_id(j: JSON) -> ElemId:
    ok = (
        isinstance(j, list)
        and len(j) == 3
        and isinstance(j[0], str)
        and type(j[1]) is int
        and type(j[2]) is int
        and j[1] >= 0
        and j[2] >= 0
    )
    if not ok:
        raise UsageError(f"an 'rga' element id is [event, index, offset], got {j!r}")
    return (j[0], j[1], j[2])


RGA = RGAType()
