"""Revocation against concurrency, delegation and re-grants, with fresh identities every time.

Fixed identities fix the order of authors and event ids, and with it which of two concurrent events
sorts first (Lamport ties break by id): a bug that depends on that order passes half the time. Each
test here therefore runs over many freshly generated identities and every delivery order.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterable
from typing import Any

import pytest

from agentcrdt.capabilities import Capability
from agentcrdt.capabilities.kinds import grant_payload, revoke_payload
from agentcrdt.log.event import Event, create_event
from agentcrdt.log.keys import Identity
from agentcrdt.ops.state import op
from agentcrdt.replica import Replica, new_genesis
from agentcrdt.store.memory import MemoryStore

WRITER = Capability("writer", writes=("Doc.a",), mode="direct")
DELEGATOR = Capability("writer", writes=("Doc.a",), mode="direct", can_grant=True)
ROUNDS = 25


class Forge:
    """Signs events for fresh identities with deps chosen by the test (what peers do on the wire).

    The scope has two owners, so that two owners' grants can be concurrent.
    """

    def __init__(self) -> None:
        self.owner, self.co_owner = Identity.generate(), Identity.generate()
        self.genesis = new_genesis(self.owner, "room", owners=[self.co_owner.author], time_ms=0)
        self.by_id = {self.genesis.id: self.genesis}
        self.seq = {self.owner.author: 1}

    def emit(self, who: Identity, kind: str, payload: dict[str, Any], deps: Iterable[Event]) -> Event:
        dep_ids = sorted({d.id for d in deps})
        seq = self.seq.get(who.author, 0) + 1
        self.seq[who.author] = seq
        event = create_event(
            who,
            scope=self.genesis.id,
            seq=seq,
            deps=dep_ids,
            lamport=1 + max(self.by_id[d].lamport for d in dep_ids),
            time_ms=0,
            kind=kind,
            payload=payload,
        )
        self.by_id[event.id] = event
        return event

    def grant(self, who: Identity, to: Identity, cap: Capability, deps: Iterable[Event]) -> Event:
        return self.emit(who, "grant", grant_payload(to.author, cap), deps)

    def revoke(self, who: Identity, grant: Event, deps: Iterable[Event]) -> Event:
        return self.emit(who, "revoke", revoke_payload(grant.id), deps)

    def write(self, who: Identity, deps: Iterable[Event], value: int = 1) -> Event:
        return self.emit(who, "ops", {"ops": [op("Doc", "d", "a", "lww", {"set": value})]}, deps)

    def verdicts(self, first: list[Event], racing: list[Event]) -> dict[str, tuple[str, str]]:
        """Deliver ``first``, then ``racing`` in every order, one event per ingest, each to a fresh
        replica; assert every replica reached the same verdicts and return them."""
        seen = []
        for order in itertools.permutations(racing):
            r = Replica.join(MemoryStore(), self.genesis.raw)
            r.ingest([e.raw for e in first])
            for e in order:
                r.ingest([e.raw])
            seen.append(r.store.verdicts())
        assert all(v == seen[0] for v in seen), "delivery order changed a verdict"
        return seen[0]


@pytest.mark.parametrize("backdated", [False, True])
def test_a_write_concurrent_with_its_revocation_is_quarantined_in_every_order(backdated: bool) -> None:
    for _ in range(ROUNDS):
        f = Forge()
        agent = Identity.generate()
        g = f.grant(f.owner, agent, WRITER, [f.genesis])
        before = f.write(agent, [g])
        r = f.revoke(f.owner, g, [before])
        if backdated:
            # The agent has seen the revocation, but points its deps before it.
            sneaky = f.write(agent, [before], value=2)
            v = f.verdicts([g, before], [r, sneaky])
        else:
            # Concurrent with the revocation, at the same Lamport time: the ids decide which sorts first.
            sneaky = f.write(agent, [before], value=2)
            after = f.write(agent, [sneaky, r], value=3)
            v = f.verdicts([g, before], [r, sneaky, after])
            assert v[after.id][0] == "quarantined"
        assert v[before.id] == ("valid", f"grant:{g.id}")
        assert v[sneaky.id][0] == "quarantined"


def test_revoking_a_delegator_voids_what_it_passed_on_concurrently_too() -> None:
    for _ in range(ROUNDS):
        f = Forge()
        delegator, agent = Identity.generate(), Identity.generate()
        g1 = f.grant(f.owner, delegator, DELEGATOR, [f.genesis])
        g2 = f.grant(delegator, agent, WRITER, [g1])
        before = f.write(agent, [g2])
        r = f.revoke(f.owner, g1, [before])
        concurrent = f.write(agent, [before], value=2)
        after = f.write(agent, [concurrent, r], value=3)
        v = f.verdicts([g1, g2, before], [r, concurrent, after])
        assert v[g2.id] == ("valid", f"grant:{g1.id}")
        assert v[before.id] == ("valid", f"grant:{g2.id}")  # it came before the revocation: it stays
        assert v[concurrent.id][0] == "quarantined"
        assert v[after.id][0] == "quarantined"


def test_a_delegation_concurrent_with_the_delegators_revocation_is_void() -> None:
    for _ in range(ROUNDS):
        f = Forge()
        delegator, agent = Identity.generate(), Identity.generate()
        g1 = f.grant(f.owner, delegator, DELEGATOR, [f.genesis])
        r = f.revoke(f.owner, g1, [g1])
        g2 = f.grant(delegator, agent, WRITER, [g1])  # concurrent with r
        w = f.write(agent, [g2])
        v = f.verdicts([g1], [r, g2, w])
        assert v[g2.id][0] == "quarantined" and v[w.id][0] == "quarantined"


def test_a_revocation_by_a_revoked_delegator_does_not_count() -> None:
    for _ in range(ROUNDS):
        f = Forge()
        delegator, agent = Identity.generate(), Identity.generate()
        g1 = f.grant(f.owner, delegator, DELEGATOR, [f.genesis])
        g2 = f.grant(delegator, agent, WRITER, [g1])
        g3 = f.grant(f.co_owner, agent, WRITER, [g2])  # the agent also holds a grant from an owner
        r1 = f.revoke(f.owner, g1, [g3])
        r2 = f.revoke(delegator, g2, [g3])  # concurrent with r1, which voids the delegator's right
        w = f.write(agent, [r1, r2])
        v = f.verdicts([g1, g2, g3], [r1, r2, w])
        assert v[r1.id][0] == "valid" and v[r2.id][0] == "quarantined"
        assert v[w.id] == ("valid", f"grant:{g3.id}")


def test_a_re_grant_after_a_revocation_restores_the_right() -> None:
    for _ in range(ROUNDS):
        f = Forge()
        agent = Identity.generate()
        g1 = f.grant(f.owner, agent, WRITER, [f.genesis])
        r = f.revoke(f.owner, g1, [g1])
        g2 = f.grant(f.owner, agent, WRITER, [r])
        w = f.write(agent, [g2])
        v = f.verdicts([g1], [r, g2, w])
        assert v[w.id] == ("valid", f"grant:{g2.id}")


def test_the_grant_named_in_a_reason_does_not_depend_on_arrival_order() -> None:
    for _ in range(ROUNDS):
        f = Forge()
        agent = Identity.generate()
        # Two owners grant concurrently (equal Lamport times); both grants allow the write.
        ga = f.grant(f.owner, agent, WRITER, [f.genesis])
        gb = f.grant(f.co_owner, agent, DELEGATOR, [f.genesis])
        w = f.write(agent, [ga, gb])
        v = f.verdicts([], [ga, gb, w])
        first = min((ga, gb), key=lambda e: (e.lamport, e.id))
        assert v[w.id] == ("valid", f"grant:{first.id}")
