"""Verdicts on events, computed from the scope's genesis and the event's causal past.

The foundation ships one policy, :class:`OwnersPolicy`: the owners named in the genesis event may write
anything. Capability slots (grants and revocations as events) extend this seam; whatever the policy,
it must be a pure function of (scope root, causal past, event) so every replica reaches the same verdict.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

from agentcrdt.log.event import Event

__all__ = ["Allowed", "Authorizer", "Denied", "OwnersPolicy", "Verdict"]


@dataclass(frozen=True, slots=True)
class Allowed:
    """The event may apply."""


@dataclass(frozen=True, slots=True)
class Denied:
    """The event is quarantined; ``reason`` is a stable code, ``detail`` explains it to a human."""

    reason: str
    detail: str


Verdict = Allowed | Denied
ALLOWED = Allowed()


class Authorizer(Protocol):
    """Decide whether an event may apply, given the genesis of its scope."""

    def authorize(self, genesis: Event, event: Event) -> Verdict:
        """Return the verdict for ``event``; must be deterministic."""
        ...


class OwnersPolicy:
    """Let the genesis owners write; deny everyone else."""

    def authorize(self, genesis: Event, event: Event) -> Verdict:
        if event.id == genesis.id:
            owners = genesis.payload["owners"]
            if event.author not in owners:
                return Denied("genesis_not_owner", "the genesis event must be signed by one of its owners")
            return ALLOWED
        if event.author in genesis.payload["owners"]:
            return ALLOWED
        return Denied("not_authorized", f"{event.author} is not an owner of this scope and holds no grant")
