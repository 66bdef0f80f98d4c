"""Reviews made from the UI: who may decide which proposal, and deciding one or a filtered set.

The policy would quarantine a review by someone without review rights, but a quarantined review is
still an event in everyone's log: the UI refuses before anything is signed, so a viewer's crafted
request writes nothing at all. The rule is the policy's own (``capabilities.policy``): an owner may
review anything; anyone else needs an unrevoked grant whose ``review`` names the proposal's slot.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Literal

from agentcrdt.errors import CapabilityDenied, UsageError
from agentcrdt.proposals.status import ProposalInfo
from agentcrdt.replica import Replica
from agentcrdt.rooms.workflow import check_evidence, proposal, review

__all__ = [
    "Decision",
    "ReviewResult",
    "check_decision",
    "decide",
    "decide_many",
    "may_review",
    "review_slots",
]

Decision = Literal["accept", "reject"]
MAX_BULK = 5_000  # proposals one bulk review may decide (each is one signed event)


@dataclass(frozen=True, slots=True)
class ReviewResult:
    """What one decision did."""

    proposal: str
    status: str
    review: str | None = None
    error: str = ""

    def to_json(self) -> dict[str, Any]:
        return {"proposal": self.proposal, "status": self.status, "review": self.review, "error": self.error}


def review_slots(replica: Replica, author: str) -> tuple[str, ...] | None:
    """The slots ``author`` may review: None for an owner (every slot), else what its grants name."""
    replica.dag  # noqa: B018  (loads the grants)
    if author in replica.genesis.payload["owners"]:
        return None
    index = replica.policy_index
    slots: list[str] = []
    for g in index.grants_to(author):
        if not index.revocations_of(g.event.id):
            slots += g.capability.review
    return tuple(dict.fromkeys(slots))


def may_review(replica: Replica, author: str | None, slot: str) -> bool:
    """Whether ``author`` may decide a proposal of ``slot`` (never without an identity)."""
    if author is None:
        return False
    slots = review_slots(replica, author)
    return slots is None or "*" in slots or slot in slots


def check_decision(
    replica: Replica, author: str | None, info: ProposalInfo, decision: Decision, *, force: bool = False
) -> None:
    """Refuse a decision ``author`` may not make (CapabilityDenied) or should not (UsageError): one
    already decided, one of a slot it may not review, or an accept whose evidence does not verify
    (as ``agentcrdt proposals accept`` re-checks it) unless ``force``. The local UI and the server's
    apply this one rule before anything is signed."""
    if decision not in ("accept", "reject"):
        raise UsageError(f"a decision is 'accept' or 'reject', not {decision!r}")
    if info.status != "pending":
        raise UsageError(f"proposal {info.id[:19]}… is already {info.status}; nothing to review")
    slot = info.event.payload["slot"]
    if not may_review(replica, author, slot):
        who = "this UI holds no key (start it with --key)" if author is None else f"{author[:24]}… holds"
        raise CapabilityDenied(
            "review",
            f"{who} no right to review proposals of slot {slot!r}",
            "nothing was signed; an owner grants review rights with a capability whose review names the slot",
            slot=slot,
        )
    if decision == "accept" and not force and not all(ok for _, ok in check_evidence(replica, info.id)):
        raise UsageError(
            "an evidence quote of this proposal is not in the text the agent read; nothing was written. "
            "Reject it, or accept with force if you checked it yourself"
        )


def decide(
    replica: Replica, proposal_id: str, decision: Decision, note: str = "", *, force: bool = False
) -> ReviewResult:
    """Decide one proposal as ``replica``'s identity, after :func:`check_decision`."""
    info = proposal(replica, proposal_id)
    check_decision(
        replica, None if replica.identity is None else replica.identity.author, info, decision, force=force
    )
    event = review(replica, info.id, decision, note)
    after = proposal(replica, info.id)
    return ReviewResult(info.id, after.status, event.id)


def decide_many(
    replica: Replica, ids: Sequence[str], decision: Decision, note: str = ""
) -> list[ReviewResult]:
    """Decide every pending proposal of ``ids`` (one signed review each, one transaction); a proposal
    already decided, or whose evidence does not verify, is reported and left alone."""
    if len(ids) > MAX_BULK:
        raise UsageError(f"a bulk review decides at most {MAX_BULK} proposals; narrow the filter")
    results: list[ReviewResult] = []
    with replica.batch():
        for pid in ids:
            info = proposal(replica, pid)
            if info.status != "pending":
                results.append(ReviewResult(info.id, info.status, error=f"already {info.status}"))
                continue
            try:
                results.append(decide(replica, info.id, decision, note))
            except (UsageError, CapabilityDenied) as e:  # one the reviewer may not decide, or bad evidence
                results.append(ReviewResult(info.id, info.status, error=str(e)))
    return results
