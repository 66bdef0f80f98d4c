"""Authorization as a pure function of an event's causal past."""

from __future__ import annotations

from agentcrdt.capabilities.check import Allowed, Authorizer, Denied, OwnersPolicy, Verdict

__all__ = ["Allowed", "Authorizer", "Denied", "OwnersPolicy", "Verdict"]
