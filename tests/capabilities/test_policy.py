"""Capability slots enforced by every replica: grants, proposals, reviews, revocation, delegation."""

from __future__ import annotations

import itertools
import random
from decimal import Decimal

import pytest

from agentcrdt.capabilities import AutoAccept, Capability, Limits
from agentcrdt.capabilities.kinds import grant_payload
from agentcrdt.errors import CapabilityDenied, UsageError
from agentcrdt.log.event import Event, create_event
from agentcrdt.log.keys import Identity, digest
from agentcrdt.ops.state import op
from agentcrdt.replica import Replica
from agentcrdt.rooms.workflow import (
    Provenance,
    grant,
    list_proposals,
    proposal,
    propose,
    review,
    revoke,
    three_way_view,
)
from agentcrdt.store.memory import MemoryStore

OWNER, AGENT, HUMAN, OTHER = (Identity.from_name(n) for n in ("owner", "agent", "human", "other"))
PROV = Provenance("test:scripted", digest(b"prompt v1"), 10, 5)
TAGGER = Capability(
    "tagger",
    writes=("Document.tags", "Document.kind"),
    reads=("Document.*",),
    auto_accept=AutoAccept(Decimal("0.8"), ("Document.tags",)),
)
LINKER = Capability("linker", writes=("Link.*",))


def tags(doc: str, tag: str) -> list[dict[str, object]]:
    return [op("Document", doc, "tags", "orset", {"add": tag})]


class Room:
    """An owner's replica plus peers' replicas of the same scope."""

    def __init__(self) -> None:
        clock = itertools.count(1_000_000)
        self.owner = Replica.create(
            MemoryStore(), OWNER, "room", owners=[HUMAN.author], nonce="n", clock=lambda: next(clock)
        )
        genesis = self.owner.store.get(self.owner.scope)
        assert genesis is not None
        self.genesis = genesis.raw
        self.agent = self.join(AGENT)
        self.human = self.join(HUMAN)

    def join(self, who: Identity | None) -> Replica:
        clock = itertools.count(2_000_000)
        return Replica.join(MemoryStore(), self.genesis, identity=who, clock=lambda: next(clock))

    def sync(self, *replicas: Replica) -> None:
        rs = replicas or (self.owner, self.agent, self.human)
        for _ in range(2):
            for a, b in itertools.combinations(rs, 2):
                a.sync_with(b)

    def doc(self, r: Replica, doc: str = "d1") -> dict[str, object] | None:
        return r.state_at().value("Document", doc)


@pytest.fixture
def room() -> Room:
    return Room()


def test_auto_accepted_proposal_applies_everywhere(room: Room) -> None:
    grant(room.owner, AGENT.author, TAGGER)
    room.sync()
    p = propose(
        room.agent,
        slot="tagger",
        kind="tag",
        ops=tags("d1", "nda"),
        rationale="r",
        confidence=0.9,
        provenance=PROV,
    )
    room.sync()
    for r in (room.owner, room.agent, room.human):
        assert proposal(r, p.id).status == "auto_accepted"
        assert room.doc(r) == {"tags": ["nda"]}


def test_low_confidence_waits_for_review_then_applies_at_the_review(room: Room) -> None:
    grant(room.owner, AGENT.author, TAGGER)
    room.sync()
    p = propose(
        room.agent,
        slot="tagger",
        kind="tag",
        ops=tags("d1", "msa"),
        rationale="r",
        confidence="0.5",
        provenance=PROV,
    )
    room.sync()
    assert proposal(room.human, p.id).status == "pending" and room.doc(room.human) is None
    decision = review(room.human, p.id, "accept", "looks right")
    room.sync()
    for r in (room.owner, room.agent, room.human):
        info = proposal(r, p.id)
        assert info.status == "accepted" and info.reviewer == HUMAN.author and info.agent == AGENT.author
        assert info.decided_by is not None and info.decided_by.id == decision.id
        assert room.doc(r) == {"tags": ["msa"]}


def test_rejected_proposal_never_applies(room: Room) -> None:
    grant(room.owner, AGENT.author, TAGGER)
    room.sync()
    p = propose(
        room.agent,
        slot="tagger",
        kind="tag",
        ops=tags("d1", "x"),
        rationale="r",
        confidence="0.1",
        provenance=PROV,
    )
    room.sync()
    review(room.owner, p.id, "reject", "wrong")
    room.sync()
    assert proposal(room.agent, p.id).status == "rejected" and room.doc(room.agent) is None
    with pytest.raises(UsageError, match="already rejected"):
        review(room.owner, p.id, "accept")


def test_concurrent_reviews_resolve_the_same_everywhere(room: Room) -> None:
    grant(room.owner, AGENT.author, TAGGER)
    room.sync()
    p = propose(
        room.agent,
        slot="tagger",
        kind="tag",
        ops=tags("d1", "y"),
        rationale="r",
        confidence="0.2",
        provenance=PROV,
    )
    room.sync()
    accept = review(room.owner, p.id, "accept")
    reject = review(room.human, p.id, "reject")  # concurrent: neither saw the other
    room.sync()
    winner = min((accept, reject), key=lambda e: (e.lamport, e.author, e.id))
    expected = "accepted" if winner is accept else "rejected"
    for r in (room.owner, room.agent, room.human):
        assert proposal(r, p.id).status == expected
    assert {repr(room.doc(r)) for r in (room.owner, room.agent, room.human)} == {
        repr({"tags": ["y"]} if expected == "accepted" else None)
    }


def test_writes_outside_the_slot_are_quarantined_on_every_replica(room: Room) -> None:
    grant(room.owner, AGENT.author, TAGGER)
    room.sync()
    with pytest.raises(CapabilityDenied, match="outside slot"):
        propose(
            room.agent,
            slot="tagger",
            kind="tag",
            ops=[op("Document", "d1", "title", "lww", {"set": "x"})],
            rationale="r",
            confidence=1,
            provenance=PROV,
        )
    with pytest.raises(CapabilityDenied, match="only proposes"):
        room.agent.commit("ops", {"ops": tags("d1", "direct")})
    # A hostile agent bypasses its own checks and signs the events anyway.
    forged = _forge(room.agent, AGENT, "ops", {"ops": tags("d1", "direct")})
    room.owner.ingest([forged.raw])
    room.human.ingest([forged.raw])
    for r in (room.owner, room.human):
        assert r.verdict(forged.id)[0] == "quarantined" and "outside_slot" in r.verdict(forged.id)[1]
        assert room.doc(r) is None


def test_an_agent_cannot_widen_its_own_grant(room: Room) -> None:
    delegator = Capability("tagger", writes=("Document.tags",), can_grant=True)
    grant(room.owner, AGENT.author, delegator)
    room.sync()
    with pytest.raises(CapabilityDenied, match="holds less"):
        grant(room.agent, AGENT.author, Capability("tagger", writes=("Document.*",), mode="direct"))
    forged = _forge(
        room.agent, AGENT, "grant", grant_payload(AGENT.author, Capability("x", writes=("*",), mode="direct"))
    )
    room.owner.ingest([forged.raw])
    room.agent.ingest([forged.raw])  # the agent's own replica keeps its chain (and quarantines it too)
    assert "grant_exceeds_holding" in room.owner.verdict(forged.id)[1]
    # The twin: passing on a narrower right is allowed.
    ok = grant(room.agent, OTHER.author, Capability("tagger", writes=("Document.tags",)))
    room.sync()
    assert room.owner.verdict(ok.id)[0] == "valid"


def test_without_can_grant_no_delegation(room: Room) -> None:
    grant(room.owner, AGENT.author, TAGGER)
    room.sync()
    with pytest.raises(CapabilityDenied, match="holds less"):
        grant(room.agent, OTHER.author, TAGGER)


def test_revocation_wins_over_concurrent_writes_in_any_arrival_order(room: Room) -> None:
    g = grant(room.owner, AGENT.author, Capability("tagger", writes=("Document.tags",), mode="direct"))
    room.sync()
    before = room.agent.commit("ops", {"ops": tags("d1", "before")})
    room.sync()
    concurrent = room.agent.commit("ops", {"ops": tags("d1", "concurrent")})  # the agent has not seen R
    r = revoke(room.owner, g.id, "compromised key")
    raws = [before.raw, concurrent.raw, r.raw]
    observers = []
    for order in itertools.permutations([concurrent.raw, r.raw]):
        obs = room.join(None)
        obs.ingest([room.owner.store.get(g.id).raw, before.raw])  # type: ignore[union-attr]
        for raw in order:
            obs.ingest([raw])
        observers.append(obs)
    room.sync()
    for obs in [*observers, room.owner, room.agent, room.human]:
        assert obs.verdict(before.id)[0] == "valid"
        assert obs.verdict(concurrent.id)[0] == "quarantined", obs.verdict(concurrent.id)
        assert room.doc(obs) == {"tags": ["before"]}
    assert raws  # all three were delivered above
    # After seeing the revocation the agent cannot write at all.
    with pytest.raises(CapabilityDenied):
        room.agent.commit("ops", {"ops": tags("d1", "after")})


def test_revoked_peer_cannot_backdate_by_choosing_old_deps(room: Room) -> None:
    g = grant(room.owner, AGENT.author, Capability("tagger", writes=("Document.tags",), mode="direct"))
    room.sync()
    r = revoke(room.owner, g.id)
    room.sync()
    # The agent signs an event whose deps point before the revocation (it pretends not to have seen it).
    old_heads = [g.id]
    backdated = create_event(
        AGENT,
        scope=room.owner.scope,
        seq=1,
        deps=old_heads,
        lamport=room.owner.dag.lamport(g.id) + 1,
        time_ms=0,
        kind="ops",
        payload={"ops": tags("d1", "sneaky")},
    )
    room.owner.ingest([backdated.raw])
    assert room.owner.verdict(backdated.id)[0] == "quarantined"
    assert r.id in room.owner.store


def test_limits_are_enforced_by_every_replica(room: Room) -> None:
    tight = Capability(
        "tagger", writes=("Document.tags",), limits=Limits(max_ops_per_proposal=2, token_budget=40)
    )
    grant(room.owner, AGENT.author, tight)
    room.sync()
    with pytest.raises(CapabilityDenied, match="exceed"):
        propose(
            room.agent,
            slot="tagger",
            kind="tag",
            ops=tags("d1", "a") + tags("d1", "b") + tags("d1", "c"),
            rationale="r",
            confidence="0.3",
            provenance=PROV,
        )
    propose(
        room.agent,
        slot="tagger",
        kind="tag",
        ops=tags("d1", "a"),
        rationale="r",
        confidence="0.3",
        provenance=PROV,
    )
    propose(
        room.agent,
        slot="tagger",
        kind="tag",
        ops=tags("d2", "a"),
        rationale="r",
        confidence="0.3",
        provenance=PROV,
    )
    with pytest.raises(CapabilityDenied, match="token budget"):
        propose(
            room.agent,
            slot="tagger",
            kind="tag",
            ops=tags("d3", "a"),
            rationale="r",
            confidence="0.3",
            provenance=PROV,
        )


def test_hourly_rate_limit_uses_the_events_own_clocks(room: Room) -> None:
    grant(
        room.owner,
        AGENT.author,
        Capability("tagger", writes=("Document.tags",), limits=Limits(max_proposals_per_hour=2)),
    )
    room.sync()
    for i in range(2):
        propose(
            room.agent,
            slot="tagger",
            kind="tag",
            ops=tags(f"d{i}", "a"),
            rationale="r",
            confidence="0.3",
            provenance=PROV,
        )
    with pytest.raises(CapabilityDenied, match="within an hour"):
        propose(
            room.agent,
            slot="tagger",
            kind="tag",
            ops=tags("d9", "a"),
            rationale="r",
            confidence="0.3",
            provenance=PROV,
        )


def test_stale_proposal_shows_base_proposed_current(room: Room) -> None:
    grant(room.owner, AGENT.author, Capability("extractor", writes=("Document.governing_law",)))
    room.owner.commit("ops", {"ops": [op("Document", "d1", "governing_law", "lww", {"set": "Delaware"})]})
    room.sync()
    p = propose(
        room.agent,
        slot="extractor",
        kind="extract",
        ops=[op("Document", "d1", "governing_law", "lww", {"set": "New York"})],
        rationale="clause 12",
        confidence="0.6",
        provenance=PROV,
    )
    room.human.commit("ops", {"ops": [op("Document", "d1", "governing_law", "lww", {"set": "California"})]})
    room.sync()
    [view] = three_way_view(room.owner, p.id)
    assert (view.base, view.proposed, view.current, view.stale) == (
        "Delaware",
        "New York",
        "California",
        True,
    )


def test_human_edit_concurrent_with_proposal_converges(room: Room) -> None:
    grant(room.owner, AGENT.author, TAGGER)
    room.sync()
    rng = random.Random(3)
    p = propose(
        room.agent,
        slot="tagger",
        kind="tag",
        ops=[op("Document", "d1", "kind", "lww", {"set": "NDA"})],
        rationale="r",
        confidence="0.4",
        provenance=PROV,
    )
    room.human.commit("ops", {"ops": [op("Document", "d1", "kind", "lww", {"set": "MSA"})]})
    room.sync()
    review(room.owner, p.id, "accept")
    replicas = [room.owner, room.agent, room.human, room.join(None)]
    raws = room.owner.missing_for(set())
    rng.shuffle(raws)
    replicas[-1].ingest(raws)
    room.sync(*replicas)
    values = {repr(room.doc(r)) for r in replicas}
    assert values == {repr({"kind": "NDA"})}  # the acceptance came after the human edit: it wins as LWW


def test_listing_includes_quarantined_proposals(room: Room) -> None:
    grant(room.owner, AGENT.author, TAGGER)
    room.sync()
    good = propose(
        room.agent,
        slot="tagger",
        kind="tag",
        ops=tags("d1", "a"),
        rationale="r",
        confidence="0.3",
        provenance=PROV,
    )
    bad = _forge(room.agent, AGENT, "proposal", {**good.payload, "slot": "linker", "input": digest(b"x")})
    room.owner.ingest([good.raw, bad.raw])
    statuses = {p.id: p.status for p in list_proposals(room.owner)}
    assert statuses == {good.id: "pending", bad.id: "quarantined"}


def _forge(r: Replica, who: Identity, kind: str, payload: dict[str, object]) -> Event:
    """Sign an event on top of ``r``'s heads without asking ``r``'s policy (what a hostile peer does)."""
    heads = r.heads
    lamport = 1 + max(r.dag.lamport(h) for h in heads)
    seq = r.judge.next_seq(who.author, False)
    return create_event(
        who, scope=r.scope, seq=seq, deps=heads, lamport=lamport, time_ms=0, kind=kind, payload=payload
    )


def test_reads_are_logged_locally_by_any_grant_holder(room: Room) -> None:
    read = {"document": "d1", "version": "d1@1", "content_hash": digest(b"text"), "via": "test"}
    with pytest.raises(CapabilityDenied, match=r"not_authorized|no active grant"):
        room.agent.commit("access", read, local=True)
    grant(room.owner, AGENT.author, TAGGER)
    room.sync()
    logged = room.agent.commit("access", read, local=True)
    assert room.agent.verdict(logged.id)[0] == "valid" and logged.id not in room.agent.heads
    with pytest.raises(CapabilityDenied, match="local-only"):
        room.owner.commit("access", read)  # the twin: a shared access event is refused, even for owners


def test_a_grantee_can_commit_a_chain_and_a_refused_chain_writes_nothing(room: Room) -> None:
    grant(room.owner, AGENT.author, Capability("tagger", writes=("Document.tags",), mode="direct"))
    room.sync()
    chain = room.agent.commit_many([("ops", {"ops": tags(f"d{i}", "t")}) for i in range(3)])
    assert [room.agent.verdict(e.id)[0] for e in chain] == ["valid"] * 3
    before = (room.agent.store.count(), room.agent.heads)
    bad = [
        ("ops", {"ops": tags("d9", "t")}),
        ("ops", {"ops": [op("Document", "d9", "title", "lww", {"set": "x"})]}),
    ]
    with pytest.raises(CapabilityDenied, match=r"outside_slot|not allowed"):
        room.agent.commit_many(bad)
    assert (room.agent.store.count(), room.agent.heads) == before
    again = room.agent.commit("ops", {"ops": tags("d9", "t")})  # the replica still works after the refusal
    assert room.agent.verdict(again.id)[0] == "valid" and again.seq == chain[-1].seq + 1


def test_evidence_is_rechecked_against_what_the_agent_read(room: Room) -> None:
    from agentcrdt.rooms.workflow import Evidence, check_evidence

    grant(room.owner, AGENT.author, TAGGER)
    room.owner.commit(
        "ops", {"ops": [op("DocumentVersion", "v1", "text", "lww", {"set": "Governed by Delaware law."})]}
    )
    room.sync()
    good = Evidence("DocumentVersion", "v1", "text", 12, 20, "Delaware")
    fake = Evidence("DocumentVersion", "v1", "text", 12, 20, "New York")
    p = propose(
        room.agent,
        slot="tagger",
        kind="tag",
        ops=tags("d1", "x"),
        rationale="r",
        confidence="0.3",
        provenance=PROV,
        evidence=[good, fake],
    )
    room.sync()
    assert [ok for _, ok in check_evidence(room.human, p.id)] == [True, False]


def test_a_denial_is_a_capability_error_naming_slot_op_and_reason(room: Room) -> None:
    grant(room.owner, AGENT.author, Capability("tagger", writes=("Document.tags",), mode="direct"))
    room.sync()
    with pytest.raises(CapabilityDenied) as caught:
        room.agent.commit("ops", {"ops": [op("Document", "d1", "title", "lww", {"set": "x"})]})
    e = caught.value
    assert (e.kind, e.reason, e.op) == ("ops", "outside_slot", "Document.title")
    assert not isinstance(e, UsageError)  # a refusal by the policy, not a malformed call
    with pytest.raises(CapabilityDenied) as caught:
        propose(
            room.agent,
            slot="tagger",
            kind="edit",
            ops=[op("Document", "d1", "title", "lww", {"set": "x"})],
            rationale="r",
            confidence=0.9,
            provenance=PROV,
        )
    assert (caught.value.slot, caught.value.op) == ("tagger", "Document.title")
    assert "slot 'tagger', Document.title" in str(caught.value)
