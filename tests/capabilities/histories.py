"""Random authority histories for property tests: grants, delegation, revocations, writes, reviews.

Every example draws fresh identities (so the order of authors, event ids and Lamport ties is random
too), and actors that each see only part of the history: they write on top of what they have heard,
sometimes backdate (point their deps at an old event they know), and gossip with each other. Nothing
here checks the rules: invalid events (writes outside a slot, revocations by the wrong peer, grants
wider than the granter holds) are part of the mix, so verdicts of every kind are compared.
"""

from __future__ import annotations

import random
from collections.abc import Iterable
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from agentcrdt.capabilities import AutoAccept, Capability
from agentcrdt.capabilities.kinds import grant_payload, revoke_payload
from agentcrdt.log.event import Event, create_event
from agentcrdt.log.keys import Identity, digest
from agentcrdt.ops.state import op
from agentcrdt.replica import new_genesis

FIELDS = ("a", "b")
# The capabilities actors are granted: direct writers (delegable or not), proposers whose proposals
# auto-accept above a confidence, and reviewers.
CAPABILITIES = (
    Capability("writer", writes=("Doc.a", "Doc.b"), mode="direct", can_grant=True),
    Capability("writer", writes=("Doc.a",), mode="direct"),
    Capability("narrow", writes=("Doc.a",), mode="direct", can_grant=True),
    Capability(
        "tagger",
        writes=("Doc.a", "Doc.b"),
        auto_accept=AutoAccept(Decimal("0.5"), ("Doc.a",)),
        can_grant=True,
    ),
    Capability("tagger", writes=("Doc.a", "Doc.b")),
    Capability("reviewer", review=("*",)),
)


@dataclass
class Actor:
    """One signer and the part of the history it has heard of (always causally closed)."""

    identity: Identity
    seen: set[str] = field(default_factory=set)
    last: str | None = None  # its own latest event
    seq: int = 0


@dataclass
class History:
    """A generated history: the genesis and every other event, in creation (a causal) order."""

    genesis: Event
    events: list[Event]
    owner: Identity

    def raws(self) -> list[bytes]:
        return [e.raw for e in self.events]


class _Builder:
    def __init__(self, rng: random.Random, n_agents: int) -> None:
        self.rng = rng
        self.owner = Identity.generate()
        self.genesis = new_genesis(self.owner, "room", nonce=rng.randbytes(4).hex(), time_ms=1)
        self.by_id: dict[str, Event] = {self.genesis.id: self.genesis}
        self.events: list[Event] = []
        self.actors = [Actor(self.owner)] + [Actor(Identity.generate()) for _ in range(n_agents)]
        for a in self.actors:
            a.seen.add(self.genesis.id)
        self.actors[0].last = self.genesis.id
        self.actors[0].seq = 1

    # -- event construction ---------------------------------------------------------------------

    def heads(self, ids: Iterable[str]) -> list[str]:
        ids = set(ids)
        covered = {d for i in ids for d in self.by_id[i].deps}
        return sorted(ids - covered)

    def emit(self, actor: Actor, kind: str, payload: Any, *, backdate: bool = False) -> Event:
        if backdate and actor.last is not None:
            # Deps chosen to look older than what the actor knows: its own last event (the chain rule
            # requires it) and maybe one other event it has seen.
            deps = {actor.last}
            if self.rng.random() < 0.5:
                deps.add(self.rng.choice(sorted(actor.seen)))
            deps_list = self.heads(self._closure(deps))
        else:
            deps_list = self.heads(actor.seen)
        lamport = 1 + max(self.by_id[d].lamport for d in deps_list)
        actor.seq += 1
        event = create_event(
            actor.identity,
            scope=self.genesis.id,
            seq=actor.seq,
            deps=deps_list,
            lamport=lamport,
            time_ms=1_000 + len(self.events),
            kind=kind,
            payload=payload,
        )
        self.by_id[event.id] = event
        self.events.append(event)
        actor.seen.add(event.id)
        actor.last = event.id
        return event

    def _closure(self, ids: Iterable[str]) -> set[str]:
        out: set[str] = set()
        stack = list(ids)
        while stack:
            i = stack.pop()
            if i not in out:
                out.add(i)
                stack.extend(self.by_id[i].deps)
        return out

    def known(self, actor: Actor, kind: str) -> list[Event]:
        return [self.by_id[i] for i in sorted(actor.seen) if self.by_id[i].kind == kind]

    # -- steps ----------------------------------------------------------------------------------

    def setup(self) -> None:
        """The owner grants every agent something, and everyone hears of it: rights to lose."""
        owner = self.actors[0]
        for agent in self.actors[1:]:
            for cap in self.rng.sample(CAPABILITIES, self.rng.randint(1, 2)):
                self.emit(owner, "grant", grant_payload(agent.identity.author, cap))
        for agent in self.actors[1:]:
            agent.seen |= owner.seen

    def step(self) -> None:
        rng = self.rng
        roll = rng.random()
        backdate = rng.random() < 0.25
        # Mostly the agents act; the owner (or a delegator) grants and revokes.
        actor = self.actors[0] if roll < 0.3 and rng.random() < 0.6 else rng.choice(self.actors)
        if roll < 0.12:
            grantee = rng.choice(self.actors[1:])
            cap = rng.choice(CAPABILITIES)
            self.emit(actor, "grant", grant_payload(grantee.identity.author, cap), backdate=backdate)
        elif roll < 0.3:
            grants = self.known(actor, "grant")
            if grants:
                target = rng.choice(grants)
                self.emit(actor, "revoke", revoke_payload(target.id, "test"), backdate=backdate)
        elif roll < 0.62:
            ops = [op("Doc", "d", rng.choice(FIELDS), "lww", {"set": rng.randint(0, 9)})]
            if rng.random() < 0.3:
                ops.append(op("Doc", "d", "tags", "orset", {"add": rng.choice("xyz")}))
            self.emit(actor, "ops", {"ops": ops}, backdate=backdate)
        elif roll < 0.78:
            slot = rng.choice(["tagger", "tagger", "writer", "nobody"])
            ops = [op("Doc", "d", rng.choice(FIELDS), "lww", {"set": rng.randint(10, 19)})]
            self.emit(actor, "proposal", _proposal(slot, ops, rng), backdate=backdate)
        elif roll < 0.88:
            proposals = self.known(actor, "proposal")
            if proposals:
                target = rng.choice(proposals)
                decision = rng.choice(["accept", "accept", "reject"])
                payload = {"proposal": target.id, "decision": decision, "note": ""}
                self.emit(actor, "review", payload, backdate=backdate)
        else:
            # Gossip: the actor hears everything another actor has heard.
            other = rng.choice(self.actors)
            actor.seen |= other.seen


def _proposal(slot: str, ops: list[dict[str, Any]], rng: random.Random) -> dict[str, Any]:
    return {
        "slot": slot,
        "kind": "edit",
        "ops": ops,
        "base": [],
        "rationale": "test",
        "evidence": [],
        "confidence": rng.choice(["0.2", "0.9"]),
        "provenance": {
            "model": "test:scripted",
            "prompt_hash": digest(b"prompt"),
            "usage": {"input_tokens": 1, "output_tokens": 1},
        },
        "input": digest(rng.randbytes(8)),
    }


def random_history(rng: random.Random, *, steps: int | None = None) -> History:
    """Return a random history of one scope (see the module docstring)."""
    b = _Builder(rng, rng.randint(1, 3))
    b.setup()
    for _ in range(steps if steps is not None else rng.randint(6, 28)):
        b.step()
    return History(b.genesis, b.events, b.owner)
