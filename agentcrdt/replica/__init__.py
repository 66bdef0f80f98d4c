"""A replica: one peer's view of one scope, and the modules it is made of.

* :mod:`~agentcrdt.replica.core`: :class:`Replica`, the driver: it verifies, places, judges and stores
  events (its own through ``commit``, a peer's through ``ingest``) and feeds its followers
  :class:`Applied` batches;
* :mod:`~agentcrdt.replica.placement`: where each verified event of an ingest goes (the DAG with a
  verdict, the pending buffer, or a rejection), with no store and no I/O; the driver writes the chunks;
* :mod:`~agentcrdt.replica.judge`: verdicts as a function of the events alone (equivocation, the chain
  rule, the policy, settled as a fixpoint under revocations);
* :mod:`~agentcrdt.replica.policy_index`: the :class:`~agentcrdt.capabilities.PolicyView` the policy
  reads (grants, revocations, proposals, reviews) and what each valid event applies (its effects).
"""

from __future__ import annotations

from agentcrdt.replica.core import (
    FEED_BATCH,
    SCOPE_META,
    Applied,
    AppliedEvent,
    EntityClass,
    Follower,
    IngestReport,
    Replica,
    new_genesis,
)

__all__ = [
    "FEED_BATCH",
    "SCOPE_META",
    "Applied",
    "AppliedEvent",
    "EntityClass",
    "Follower",
    "IngestReport",
    "Replica",
    "new_genesis",
]
