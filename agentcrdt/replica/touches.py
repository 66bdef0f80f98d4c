"""Which stored events may change an entity: what folding a few entities as of past heads reads.

Folding the whole causal past decodes every event of the room (seconds on a large one) to show one
proposal's base or to check its evidence. An entity's state is a function of its own ops alone, so
folding only the events that name it, in a causal order, gives the same state for it.

The index is a superset of what changes an entity, independent of verdicts: an ``ops`` event names
the entities of its ops, a proposal those of its ops (whether or not it is accepted), a review those
of the proposal it decides. The fold applies each candidate's real effects (valid events only,
decoded and checked as any fold's), so a candidate that changes nothing costs a lookup.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Protocol

from agentcrdt.log.event import decode_sealed
from agentcrdt.ops.state import OPS, EntityKey
from agentcrdt.proposals.kinds import PROPOSAL, REVIEW

__all__ = ["TouchIndex"]


class _Row(Protocol):
    @property
    def id(self) -> str: ...
    @property
    def kind(self) -> str: ...
    @property
    def raw(self) -> bytes: ...
    @property
    def local(self) -> bool: ...


class TouchIndex:
    """Entity -> ``(store position, event id)`` of the stored events that may change it."""

    def __init__(self) -> None:
        self.position = 0  # the last store position taken in
        self._by_entity: dict[EntityKey, list[tuple[int, str, bool]]] = {}  # (position, id, local)
        self._proposal_keys: dict[str, frozenset[EntityKey]] = {}  # for the reviews that follow

    def add(self, position: int, row: _Row) -> None:
        """Take in the row stored at ``position`` (rows come in store order)."""
        kind = row.kind
        if kind in (OPS, PROPOSAL, REVIEW):
            # Only the payload's entity names are read here, to choose candidates: the bytes were
            # checked when stored, and each candidate is decoded in full before it is applied.
            try:
                payload = decode_sealed(row.raw, row.id).payload
                if kind == REVIEW:
                    keys = self._proposal_keys.get(str(payload["proposal"]), frozenset())
                else:
                    keys = frozenset((str(o["e"]), str(o["id"])) for o in payload["ops"])
            except (ValueError, KeyError, TypeError, IndexError):
                keys = frozenset()  # bytes changed behind our back: judged tampered, never applied
            if kind == PROPOSAL:
                self._proposal_keys[row.id] = keys
            for key in keys:
                self._by_entity.setdefault(key, []).append((position, row.id, row.local))
        self.position = position

    def candidates(self, keys: Iterable[EntityKey], within: set[str] | frozenset[str] | None) -> list[str]:
        """The ids of the events in ``within`` (None: every shared event, the state now) that may
        change any of ``keys``, in store order."""
        found = {
            t
            for k in keys
            for t in self._by_entity.get(k, ())
            if (not t[2] if within is None else t[1] in within)
        }
        return [event_id for _, event_id, _ in sorted(found)]
