"""Authorization as a pure function of an event's causal past: capability slots, grants, revocations."""

from __future__ import annotations

from agentcrdt.capabilities import kinds as _kinds  # registers grant / revoke
from agentcrdt.capabilities.kinds import grant_payload, revoke_payload
from agentcrdt.capabilities.policy import (
    Allowed,
    CapabilityPolicy,
    Denied,
    GrantRecord,
    Policy,
    PolicyView,
    Verdict,
)
from agentcrdt.capabilities.spec import AutoAccept, Capability, Limits

del _kinds

__all__ = [
    "Allowed",
    "AutoAccept",
    "Capability",
    "CapabilityPolicy",
    "Denied",
    "GrantRecord",
    "Limits",
    "Policy",
    "PolicyView",
    "Verdict",
    "grant_payload",
    "revoke_payload",
]
