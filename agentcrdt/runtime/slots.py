"""What an author may propose under a slot, and which inputs it already proposed from (idempotence).

Both read the replica's authority index. A worker checks the grant before any model call and skips every
work item whose ``input_id`` already has a valid proposal by its author: the same input never yields a
second proposal, after a restart or a lost cursor.
"""

from __future__ import annotations

import sys

from agentcrdt.replica import Replica

__all__ = ["proposed_inputs", "slot_problem"]


def proposed_inputs(replica: Replica, author: str, slot: str) -> set[str]:
    """Return the ``input`` ids of ``author``'s valid proposals under ``slot``."""
    replica.dag  # noqa: B018  (loads the authority index)
    return {e.payload["input"] for e in replica.policy_index.earlier_proposals(author, sys.maxsize, slot)}


def slot_problem(replica: Replica, author: str, slot: str) -> str | None:
    """Explain why ``author`` cannot propose under ``slot`` now (None when an active grant allows it)."""
    replica.dag  # noqa: B018
    if author in replica.genesis.payload["owners"]:
        return None
    grants = replica.policy_index.grants_to(author)
    if any(g.capability.slot == slot and not replica.policy_index.revocations_of(g.event.id) for g in grants):
        return None
    held = sorted({g.capability.slot for g in grants if not replica.policy_index.revocations_of(g.event.id)})
    has = f" (its active grants: {', '.join(held)})" if held else ""
    return (
        f"{author} holds no active grant for slot {slot!r} in this room{has}; nothing was proposed. "
        f"An owner must grant it that slot first (agentcrdt grant, or workflow.grant(replica, author, cap))."
    )
