"""Merge proposals and reviews: payloads, status rules and the stale three-way view."""

from __future__ import annotations

from agentcrdt.proposals import kinds as _kinds  # registers proposal / review
from agentcrdt.proposals.status import FieldView, ProposalInfo, Status, decisive_review, three_way

del _kinds

__all__ = ["FieldView", "ProposalInfo", "Status", "decisive_review", "three_way"]
