"""Placement alone, with no store: events in any order come out in causal chunks with their verdicts."""

from __future__ import annotations

import random

from hypothesis import given, settings
from hypothesis import strategies as st

from agentcrdt.capabilities.policy import CapabilityPolicy
from agentcrdt.log.dag import CausalDAG, Node
from agentcrdt.log.event import Event
from agentcrdt.log.keys import Identity
from agentcrdt.log.pending import PendingBuffer
from agentcrdt.ops.state import op
from agentcrdt.replica import Replica
from agentcrdt.replica.judge import Judge
from agentcrdt.replica.placement import Placement
from agentcrdt.store.memory import MemoryStore


def history(owner: Identity, n: int) -> tuple[Event, list[Event]]:
    room = Replica.create(MemoryStore(), owner, "room", nonce="n")
    events = [room.commit("ops", {"ops": [op("Doc", f"d{i}", "title", "lww", {"set": i})]}) for i in range(n)]
    return room.genesis, events


def placement_of(genesis: Event) -> Placement:
    dag = CausalDAG()
    dag.add(Node(genesis.id, genesis.deps, genesis.lamport, genesis.author, genesis.seq, genesis.local))
    placing: dict[str, Event] = {}
    judge = Judge(genesis, CapabilityPolicy(), lambda: dag, placing.get)
    judge.note_seq(genesis.author, genesis.seq, genesis.id, genesis.local)
    return Placement(genesis.id, dag, PendingBuffer(), judge, lambda _: None, placing)


@settings(max_examples=60, deadline=None)
@given(st.integers(1, 12), st.randoms(use_true_random=False), st.text("abc", min_size=1, max_size=3))
def test_any_arrival_order_places_every_event_once_in_a_causal_order(
    n: int, rng: random.Random, name: str
) -> None:
    genesis, events = history(Identity.from_name(f"owner-{name}"), n)
    arriving = events + rng.sample(events, k=min(3, n))  # shuffled, with duplicates
    rng.shuffle(arriving)
    placement = placement_of(genesis)
    chunks = []
    for event in arriving:
        placement.offer(event)
        if placement.ready >= 4:
            chunks.append(placement.take())
    chunks.append(placement.take())
    placed = [e for c in chunks for e in c.events]
    assert sorted(e.id for e in placed) == sorted(e.id for e in events)  # each once, none left pending
    position = {e.id: i for i, e in enumerate(placed)}
    assert all(position[d] < position[e.id] for e in placed for d in e.deps if d in position)
    assert {i for c in chunks for i in c.verdicts} == {e.id for e in events}
    assert all(v[0] == "valid" for c in chunks for v in c.verdicts.values())
    report = placement.report
    assert report.duplicates == len(arriving) - n and not report.rejected and report.ok


def test_another_scope_and_local_events_are_rejected_with_their_reason() -> None:
    genesis, _ = history(Identity.from_name("owner"), 1)
    other_genesis, theirs = history(Identity.from_name("other"), 1)
    placement = placement_of(genesis)
    placement.offer(theirs[0])
    chunk = placement.take()
    assert chunk.events == [] and [r[1] for r in chunk.rejections] == ["wrong_scope"]
    assert chunk.rejections[0][0] == theirs[0].raw and placement.report.rejected[0][0] == theirs[0].id
    assert other_genesis.id != genesis.id
