"""The replica's authority index: grants, revocations, proposals and reviews, and what events do.

It answers the policy's questions (:class:`~agentcrdt.capabilities.policy.PolicyView`) from indexes kept
over *valid* events, derives proposal status, and turns an event into the ops it applies (its
*effects*): an ``ops`` event applies its own ops, an auto-accepted proposal applies its ops at its own
position, and the decisive accepting review applies the proposal's ops stamped at the review.
"""

from __future__ import annotations

import bisect
from collections.abc import Callable, Sequence
from decimal import Decimal

from agentcrdt.capabilities.kinds import GRANT, REVOKE
from agentcrdt.capabilities.policy import GrantRecord
from agentcrdt.capabilities.spec import Capability
from agentcrdt.log.dag import CausalDAG
from agentcrdt.log.event import Event
from agentcrdt.ops.state import OPS, DecodedOp, decode_ops
from agentcrdt.proposals.kinds import PROPOSAL, REVIEW
from agentcrdt.proposals.status import ProposalInfo, decisive_review

__all__ = ["AUTHORITY_KINDS", "PolicyIndex"]

AUTHORITY_KINDS = frozenset({GRANT, REVOKE})
INDEXED_KINDS = frozenset({GRANT, REVOKE, PROPOSAL, REVIEW})
GRANT_PREFIX = "grant:"


def _seq(event: Event) -> int:
    return event.seq


def _grant_order(record: GrantRecord) -> tuple[int, str]:
    return (record.event.lamport, record.event.id)


class PolicyIndex:
    """Indexes over valid authority-bearing events, for one replica."""

    def __init__(
        self, genesis: Event, dag: Callable[[], CausalDAG], fetch: Callable[[str], Event | None]
    ) -> None:
        self.genesis = genesis
        self._dag = dag
        self._fetch = fetch
        # Authors seen signing two events with one seq: their chains fork, so "an earlier event of the
        # author saw it" no longer implies "this event saw it". Monotone: never cleared.
        self._forked: set[str] = set()
        self.reset()

    def reset(self) -> None:
        """Forget every index (before a full recomputation)."""
        self._grants: dict[str, list[GrantRecord]] = {}
        self._revokes: dict[str, list[Event]] = {}
        self._proposals: dict[tuple[str, str], list[Event]] = {}
        self._reviews: dict[str, list[Event]] = {}
        self._allowed_by: dict[str, str] = {}  # valid event id -> the grant that allowed it
        self._events: dict[str, Event] = {}  # indexed events by id (grants, proposals, reviews...)
        self._seen: dict[tuple[str, str], int] = {}  # (author, event id) -> seq known to follow it
        self._capabilities: dict[str, Capability] = {}  # grant id -> its parsed capability

    # -- PolicyView -------------------------------------------------------------------------------

    def is_ancestor(self, a: str, b: str) -> bool:
        """Tell whether ``a`` is in the causal past of ``b`` (or is ``b``); unknown ids are in no past."""
        dag = self._dag()
        return a in dag and b in dag and dag.is_ancestor(a, b)

    def grants_to(self, author: str) -> Sequence[GrantRecord]:
        """Return the valid grants naming ``author``."""
        return self._grants.get(author, ())

    def grantees(self) -> list[str]:
        """Return every author a valid grant names, sorted."""
        return sorted(self._grants)

    def revocations_of(self, grant_id: str) -> Sequence[Event]:
        """Return the valid revocations of a grant."""
        return self._revokes.get(grant_id, ())

    def get(self, event_id: str) -> Event | None:
        """Return a stored event (indexed ones from memory)."""
        return self._events.get(event_id) or self._fetch(event_id)

    def seen_at(self, author: str, event_id: str) -> int | None:
        """Return the lowest shared seq of ``author`` known to have ``event_id`` in its causal past."""
        if author in self._forked:
            return None
        return self._seen.get((author, event_id))

    def mark_forked(self, author: str) -> None:
        """Stop using the chain shortcut for an author who equivocated."""
        self._forked.add(author)

    def note_seen(self, author: str, event_id: str, seq: int) -> None:
        """Record that ``author``'s shared event ``seq`` has ``event_id`` in its causal past."""
        known = self._seen.get((author, event_id))
        if known is None or seq < known:
            self._seen[(author, event_id)] = seq

    def earlier_proposals(self, author: str, seq: int, slot: str) -> Sequence[Event]:
        """Return ``author``'s valid proposals under ``slot`` with a lower sequence number."""
        found = self._proposals.get((author, slot), [])
        # Kept sorted by seq (see note_valid): the earlier ones are a prefix, found by bisection.
        return found[: bisect.bisect_left(found, seq, key=_seq)]

    # -- maintenance ------------------------------------------------------------------------------

    def note_valid(self, event: Event, grant: str | None) -> None:
        """Index a valid event (``grant``: the grant that allowed it, if any)."""
        if grant is not None:
            self._allowed_by[event.id] = grant
        if event.kind not in INDEXED_KINDS:
            return
        self._events[event.id] = event
        p = event.payload
        if event.kind == GRANT:
            capability = self._capabilities[event.id] = Capability.from_json(p["capability"])
            record = GrantRecord(event, p["grantee"], capability)
            # Sorted by (lamport, id), not by arrival: the policy takes the first grant that fits, and
            # the grant named in a verdict's reason must be the same on every replica.
            bisect.insort_right(self._grants.setdefault(p["grantee"], []), record, key=_grant_order)
        elif event.kind == REVOKE:
            self._revokes.setdefault(p["grant"], []).append(event)
        elif event.kind == PROPOSAL:
            # Sorted by seq (ties: arrival order): an author's chain arrives in order, so this appends.
            bisect.insort_right(self._proposals.setdefault((event.author, p["slot"]), []), event, key=_seq)
        else:
            self._reviews.setdefault(p["proposal"], []).append(event)

    def decisive(self, proposal_id: str) -> Event | None:
        """Return the review that decides a proposal, if any."""
        return decisive_review(self._reviews.get(proposal_id, ()), self.is_ancestor)

    def auto_accepted(self, proposal: Event) -> bool:
        """Tell whether the grant that allowed a valid proposal auto-accepts it."""
        grant_id = self._allowed_by.get(proposal.id)
        capability = None if grant_id is None else self._capabilities.get(grant_id)
        if capability is None:
            return False
        auto = capability.auto_accept  # parsed once per grant: this runs for every proposal's status
        p = proposal.payload
        targets = [f"{o['e']}.{o['f']}" for o in p["ops"]]
        return auto is not None and auto.admits(Decimal(p["confidence"]), targets)

    # -- effects and status -----------------------------------------------------------------------

    def effects(self, event: Event) -> list[DecodedOp]:
        """Return the ops a valid event applies (see the module docstring)."""
        if event.kind == OPS:
            return decode_ops(event.payload["ops"], event.lamport, event.author, event.id)
        if event.kind == PROPOSAL and self.auto_accepted(event):
            return decode_ops(event.payload["ops"], event.lamport, event.author, event.id)
        if event.kind == REVIEW and event.payload["decision"] == "accept":
            proposal_id = event.payload["proposal"]
            decisive = self.decisive(proposal_id)
            proposal = self._events.get(proposal_id)
            decides = decisive is not None and decisive.id == event.id
            if decides and proposal is not None and not self.auto_accepted(proposal):
                return decode_ops(proposal.payload["ops"], event.lamport, event.author, event.id)
        return []

    def status(self, proposal: Event, verdict: tuple[str, str]) -> ProposalInfo:
        """Derive a proposal's status from its verdict, its grant and its reviews."""
        if verdict[0] != "valid":
            return ProposalInfo(proposal, "quarantined", verdict[1], None)
        if self.auto_accepted(proposal):
            return ProposalInfo(proposal, "auto_accepted", "the slot's auto-accept policy admits it", None)
        decisive = self.decisive(proposal.id)
        if decisive is None:
            return ProposalInfo(proposal, "pending", "awaiting review", None)
        decision = decisive.payload["decision"]
        note = decisive.payload["note"]
        return ProposalInfo(proposal, "accepted" if decision == "accept" else "rejected", note, decisive)

    def proposals(self) -> list[Event]:
        """Return every valid proposal, oldest first."""
        found = [e for events in self._proposals.values() for e in events]
        return sorted(found, key=lambda e: (e.lamport, e.id))
