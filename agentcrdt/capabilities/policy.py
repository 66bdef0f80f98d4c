"""Verdicts on events as a pure function of the scope's genesis and each event's causal past.

Rules (the same on every replica, see ARCHITECTURE §3):

* The genesis owners may do anything. Everyone else needs an *active* grant: a valid ``grant`` event
  naming them that is in the event's causal past, with no valid ``revoke`` of it in the event's causal
  past **or concurrent with it** (so a revoked peer cannot backdate writes by choosing old deps).
* ``ops`` need a ``direct`` slot covering every op's ``Type.field``; ``proposal`` events need the named
  slot (either mode), ops within it, and its limits (ops per proposal, proposals per hour by the events'
  own clocks, token budget from the proposals' provenance) counted over the author's earlier events —
  which the per-author chain rule puts in the causal past; ``review`` needs review rights over the
  proposal's slot and the proposal in the causal past.
* ``grant`` needs ownership or an active grant with ``can_grant`` holding at least what it passes on, so a
  peer can never grant more than it holds (itself included); ``revoke`` needs ownership or being the
  revoked grant's granter.
* Delegation is transitive both ways: a delegated grant is active for an event only while the
  granter's own grant (some grant to it that could pass it on) is active for that event too, so
  revoking a delegator voids what it passed on, for events concurrent with the revocation as well.
* Where several active grants allow an event, the first by (Lamport time, id) is the one named in its
  verdict (``grant:<id>``): the same on every replica, whatever order the grants arrived in.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Any, Protocol

from agentcrdt.capabilities.spec import Capability
from agentcrdt.log.event import Event

__all__ = [
    "ALLOWED",
    "Allowed",
    "CapabilityPolicy",
    "Denied",
    "GrantRecord",
    "Policy",
    "PolicyView",
    "Verdict",
]

HOUR_MS = 3_600_000


@dataclass(frozen=True, slots=True)
class Allowed:
    """The event may apply; ``grant`` names the grant that allowed it (None for owners)."""

    grant: str | None = None


@dataclass(frozen=True, slots=True)
class Denied:
    """The event is quarantined; ``reason`` is a stable code, ``detail`` explains it to a human, and
    ``slot`` and ``op`` (``Type.field``) name what was refused when the policy knows."""

    reason: str
    detail: str
    slot: str | None = None
    op: str | None = None


Verdict = Allowed | Denied
ALLOWED = Allowed()


@dataclass(frozen=True, slots=True)
class GrantRecord:
    """A valid grant event, decoded."""

    event: Event
    grantee: str
    capability: Capability


class PolicyView(Protocol):
    """What the policy may ask of a replica: all of it is a function of the stored events."""

    @property
    def genesis(self) -> Event: ...

    def is_ancestor(self, a: str, b: str) -> bool:
        """Tell whether event ``a`` is in the causal past of event ``b`` (or is ``b``)."""
        ...

    def grants_to(self, author: str) -> Sequence[GrantRecord]:
        """Return the valid grants naming ``author`` (wherever they sit causally)."""
        ...

    def revocations_of(self, grant_id: str) -> Sequence[Event]:
        """Return the valid revoke events of a grant."""
        ...

    def get(self, event_id: str) -> Event | None:
        """Return a stored event."""
        ...

    def earlier_proposals(self, author: str, seq: int, slot: str) -> Sequence[Event]:
        """Return ``author``'s valid proposals under ``slot`` with a sequence number below ``seq``."""
        ...

    def seen_at(self, author: str, event_id: str) -> int | None:
        """Return the lowest shared seq of ``author`` known to have ``event_id`` in its causal past."""
        ...

    def note_seen(self, author: str, event_id: str, seq: int) -> None:
        """Record that ``author``'s shared event ``seq`` has ``event_id`` in its causal past."""
        ...


class Policy(Protocol):
    """Decide whether an event may apply; must be deterministic."""

    def authorize(self, view: PolicyView, event: Event) -> Verdict:
        """Return the verdict for ``event``."""
        ...


class CapabilityPolicy:
    """The default policy: genesis owners plus capability grants, as described in the module docstring."""

    def authorize(self, view: PolicyView, event: Event) -> Verdict:
        owners: list[str] = view.genesis.payload["owners"]
        if event.kind == "genesis":
            return ALLOWED if event.author in owners else Denied("genesis_not_owner", "signed by a non-owner")
        if event.kind == "access" and not event.local:
            return Denied("access_not_local", "a read is recorded as a local-only event, never synced")
        if event.author in owners:
            return ALLOWED
        active = _active(view, event)
        if not active:
            return Denied("not_authorized", f"{event.author} holds no active grant in this scope")
        check = _CHECKS.get(event.kind)
        if check is None:
            return Denied("not_authorized", f"only owners may write {event.kind!r} events")
        return check(view, event, active)


def _in_past(view: PolicyView, a: str, event: Event) -> bool:
    # Through the deps, so it also works for an event not yet added to the DAG (our own, being signed).
    return a in event.deps or any(view.is_ancestor(a, d) for d in event.deps)


def _grant_in_past(view: PolicyView, grant_id: str, event: Event) -> bool:
    # The per-author chain rule puts every earlier shared event of the author in this event's past, so
    # once a grant is known to precede one of them it precedes this one: no walk down the DAG per event.
    if not event.local:
        seen = view.seen_at(event.author, grant_id)
        if seen is not None and seen < event.seq:
            return True
    if not _in_past(view, grant_id, event):
        return False
    if not event.local:
        view.note_seen(event.author, grant_id, event.seq)
    return True


def _active(view: PolicyView, event: Event) -> list[GrantRecord]:
    owners: list[str] = view.genesis.payload["owners"]
    out = []
    for g in view.grants_to(event.author):
        if g.event.id == event.id or not _grant_in_past(view, g.event.id, event):
            continue
        if _holds(view, g, event, owners):
            out.append(g)
    return out


def _revoked(view: PolicyView, grant_id: str, event: Event) -> bool:
    # A revocation counts unless it came after the event (the event is in its causal past): in the
    # event's past or concurrent with it, it wins. An event not in the DAG yet (ours, being signed)
    # is in nobody's past, so every known revocation counts.
    revocations = view.revocations_of(grant_id)
    return any(_in_past(view, r.id, event) or not view.is_ancestor(event.id, r.id) for r in revocations)


def _holds(view: PolicyView, g: GrantRecord, event: Event, owners: list[str]) -> bool:
    """Tell whether grant ``g`` (in the event's past) is still in force for ``event``.

    It is unless a revocation of it counts for the event, or the granter's own right to pass it on
    does not hold for the event either (revoking a delegator voids what it passed on, also for events
    concurrent with that revocation): some grant to the granter, in the grant's past, that can grant
    and holds at least ``g``'s capability, must itself hold for the event — up to an owner.
    """
    if _revoked(view, g.event.id, event):
        return False
    granter = g.event.author
    if granter in owners:
        return True
    # Each parent is in the causal past of the grant it allowed, so the recursion goes strictly back.
    return any(
        parent.event.id != g.event.id
        and parent.capability.can_grant
        and g.capability.within(parent.capability)
        and _in_past(view, parent.event.id, g.event)
        and _holds(view, parent, event, owners)
        for parent in view.grants_to(granter)
    )


def _targets(ops: list[dict[str, Any]]) -> list[str]:
    return [f"{o['e']}.{o['f']}" for o in ops]


def _check_ops(view: PolicyView, event: Event, active: list[GrantRecord]) -> Verdict:
    direct = [g for g in active if g.capability.mode == "direct"]
    for o in event.payload["ops"]:
        granted = next((g for g in direct if g.capability.may_write(o["e"], o["f"])), None)
        if granted is None:
            how = "its slot only proposes: emit a proposal" if active else "no slot covers it"
            target = f"{o['e']}.{o['f']}"
            return Denied("outside_slot", f"write to {target} is not allowed ({how})", op=target)
    return Allowed(direct[0].event.id if direct else None)


def _check_proposal(view: PolicyView, event: Event, active: list[GrantRecord]) -> Verdict:
    p = event.payload
    slot_grants = [g for g in active if g.capability.slot == p["slot"]]
    slot = p["slot"]
    if not slot_grants:
        return Denied("outside_slot", f"{event.author} holds no active grant for slot {slot!r}", slot=slot)
    reasons = []
    for g in slot_grants:
        why = _proposal_fits(view, event, g.capability)
        if why is None:
            return Allowed(g.event.id)
        reasons.append(why)
    outside = [t for t in _targets(p["ops"]) if not slot_grants[0].capability.may_write(*t.split(".", 1))]
    return Denied("outside_slot", reasons[0], slot=slot, op=outside[0] if outside else None)


def _proposal_fits(view: PolicyView, event: Event, cap: Capability) -> str | None:
    p = event.payload
    ops = p["ops"]
    outside = [t for t in _targets(ops) if not cap.may_write(*t.split(".", 1))]
    if outside:
        return f"proposal writes {outside[0]}, outside slot {cap.slot!r}"
    if cap.proposal_kinds and p["kind"] not in cap.proposal_kinds:
        return f"proposal kind {p['kind']!r} is not one of {list(cap.proposal_kinds)}"
    if len(ops) > cap.limits.max_ops_per_proposal:
        return f"{len(ops)} ops exceed the slot's limit of {cap.limits.max_ops_per_proposal} per proposal"
    hourly = cap.limits.max_proposals_per_hour
    budget = cap.limits.token_budget
    if hourly is None and budget is None:
        return None  # perf: without limits the agent's earlier proposals do not matter
    earlier = view.earlier_proposals(event.author, event.seq, cap.slot)
    if hourly is not None:
        recent = sum(1 for e in earlier if e.time > event.time - HOUR_MS)
        if recent + 1 > hourly:
            return f"more than {hourly} proposals within an hour for slot {cap.slot!r}"
    if budget is not None:
        spent = sum(_tokens(e.payload) for e in earlier) + _tokens(p)
        if spent > budget:
            return f"token budget of {budget} exhausted for slot {cap.slot!r} ({spent} used)"
    return None


def _tokens(payload: dict[str, Any]) -> int:
    usage = payload["provenance"]["usage"]
    return int(usage.get("input_tokens", 0)) + int(usage.get("output_tokens", 0))


def _check_review(view: PolicyView, event: Event, active: list[GrantRecord]) -> Verdict:
    proposal = view.get(event.payload["proposal"])
    if proposal is None or proposal.kind != "proposal" or not _in_past(view, proposal.id, event):
        return Denied("bad_review", "a review must follow the proposal it decides in the causal past")
    slot = proposal.payload["slot"]
    granted = next((g for g in active if g.capability.may_review(slot)), None)
    if granted is None:
        return Denied("not_reviewer", f"{event.author} may not review proposals of slot {slot!r}", slot=slot)
    return Allowed(granted.event.id)


def _check_grant(view: PolicyView, event: Event, active: list[GrantRecord]) -> Verdict:
    wanted = Capability.from_json(event.payload["capability"])
    for g in active:
        if g.capability.can_grant and wanted.within(g.capability):
            return Allowed(g.event.id)
    return Denied(
        "grant_exceeds_holding",
        f"{event.author} cannot grant slot {wanted.slot!r}: it holds less",
        slot=wanted.slot,
    )


def _check_revoke(view: PolicyView, event: Event, active: list[GrantRecord]) -> Verdict:
    target = view.get(event.payload["grant"])
    if target is None or target.kind != "grant" or not _in_past(view, target.id, event):
        return Denied("bad_revoke", "a revoke must follow the grant it revokes in the causal past")
    if target.author != event.author:
        return Denied("not_granter", "only an owner or the granter may revoke a grant")
    return ALLOWED


def _check_access(view: PolicyView, event: Event, active: list[GrantRecord]) -> Verdict:
    return Allowed(active[0].event.id)  # any holder of an active grant may log its own reads


_CHECKS = {
    "access": _check_access,
    "ops": _check_ops,
    "proposal": _check_proposal,
    "review": _check_review,
    "grant": _check_grant,
    "revoke": _check_revoke,
}


def confidence(payload: dict[str, Any]) -> Decimal:
    """Return a proposal payload's confidence."""
    return Decimal(payload["confidence"])
