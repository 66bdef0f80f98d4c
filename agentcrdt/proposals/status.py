"""Proposal status, the decisive review, and the stale three-way view. Pure over values.

Status rules (every replica derives the same from the same events):

* A proposal quarantined by the policy is ``quarantined`` and never applies.
* A valid proposal whose grant carries an auto-accept policy that admits it (confidence and targets) is
  ``auto_accepted`` at its own causal position.
* Otherwise reviews decide. A review that already has another review of the same proposal in its causal
  past is void (its author saw a decision). Among the remaining "first" decisions — concurrent with each
  other — the least ``(lamport, author, id)`` wins, like every other tie in agentcrdt. Accepting applies
  the proposal's ops at the review's causal position, stamped by the review (attributed to the agent
  through the proposal and to the reviewer through the review).
* No decision yet: ``pending``.

A proposal is *stale* when a field it touches has a different value now than in the state it read
(``base``); the three-way view shows base / proposed / current for each touched field.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Any, Literal

from agentcrdt.log.event import Event
from agentcrdt.ops.state import DocState, decode_ops

__all__ = ["FieldView", "ProposalInfo", "Status", "decisive_review", "three_way"]

Status = Literal["pending", "accepted", "auto_accepted", "rejected", "quarantined"]


def decisive_review(reviews: Sequence[Event], is_ancestor: Callable[[str, str], bool]) -> Event | None:
    """Return the review that decides a proposal, or None (``reviews`` are its valid reviews)."""
    first = [r for r in reviews if not any(o.id != r.id and is_ancestor(o.id, r.id) for o in reviews)]
    return min(first, key=lambda r: (r.lamport, r.author, r.id), default=None)


@dataclass(frozen=True, slots=True)
class ProposalInfo:
    """A proposal as a reader sees it."""

    event: Event
    status: Status
    reason: str
    decided_by: Event | None

    @property
    def id(self) -> str:
        """Return the proposal event id."""
        return self.event.id

    @property
    def agent(self) -> str:
        """Return the proposing peer."""
        return self.event.author

    @property
    def reviewer(self) -> str | None:
        """Return who decided, if a review did."""
        return None if self.decided_by is None else self.decided_by.author

    @property
    def confidence(self) -> Decimal:
        """Return the proposal's confidence."""
        return Decimal(self.event.payload["confidence"])

    def to_json(self) -> dict[str, Any]:
        """Return a JSON-able summary (for ``--json`` output)."""
        p = self.event.payload
        return {
            "id": self.id,
            "status": self.status,
            "reason": self.reason,
            "agent": self.agent,
            "slot": p["slot"],
            "kind": p["kind"],
            "confidence": p["confidence"],
            "rationale": p["rationale"],
            "evidence": p["evidence"],
            "ops": p["ops"],
            "base": p["base"],
            "provenance": p["provenance"],
            "decided_by": None if self.decided_by is None else self.decided_by.id,
            "reviewer": self.reviewer,
            "time": self.event.time,
        }


@dataclass(frozen=True, slots=True)
class FieldView:
    """One touched field: its value in the base state, after the proposal, and now."""

    entity: str
    entity_id: str
    field: str
    base: Any
    proposed: Any
    current: Any

    @property
    def stale(self) -> bool:
        """Tell whether someone changed this field since the proposal's base."""
        return bool(self.current != self.base)


def three_way(proposal: Event, base: DocState, current: DocState) -> list[FieldView]:
    """Return base / proposed / current for every field the proposal touches."""
    ops = decode_ops(proposal.payload["ops"], proposal.lamport, proposal.author, proposal.id)
    proposed = base.copy(only={key for key, *_ in ops})  # the touched entities: a room can be large
    proposed.apply_ops(ops, proposal.time)
    out: list[FieldView] = []
    seen: set[tuple[str, str, str, str]] = set()
    for (etype, eid), field, crdt, _op, _stamp in ops:
        if (etype, eid, field, crdt) in seen:
            continue
        seen.add((etype, eid, field, crdt))

        def read(
            doc: DocState, etype: str = etype, eid: str = eid, field: str = field, crdt: str = crdt
        ) -> Any:
            st = doc.entities.get((etype, eid))
            return None if st is None else st.field_value(field, crdt)

        out.append(FieldView(etype, eid, field, read(base), read(proposed), read(current)))
    return out
