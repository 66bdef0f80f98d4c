"""Replica: commit, ingest, pending buffer, quarantine, equivocation, local events, sync."""

from __future__ import annotations

import itertools
import random
from pathlib import Path

import pytest

from agentcrdt.capabilities.policy import ALLOWED, Denied, PolicyView, Verdict
from agentcrdt.errors import CapabilityDenied, NotFound, UsageError
from agentcrdt.log.event import Event, create_event
from agentcrdt.log.keys import Identity
from agentcrdt.log.pending import PendingBuffer
from agentcrdt.ops.state import DocState, op
from agentcrdt.replica import Replica
from agentcrdt.signing import CHUNK
from agentcrdt.store.memory import MemoryStore
from agentcrdt.store.sqlite import SQLiteStore


def title(value: str, entity_id: str = "d1") -> dict[str, object]:
    return {"ops": [op("Doc", entity_id, "title", "lww", {"set": value})]}


def snapshot(r: Replica) -> dict[str, dict[str, object]]:
    valid = {i for i, (v, _) in r.store.verdicts().items() if v == "valid"}
    return DocState.fold(e for e in r.events() if e.id in valid).snapshot()


def test_commit_chains_seq_lamport_and_deps(pair: tuple[Replica, Replica]) -> None:
    a, _ = pair
    e1 = a.commit("ops", title("one"))
    e2 = a.commit("ops", title("two"))
    assert (e1.seq, e2.seq) == (2, 3)  # the genesis is alice's seq 1
    assert e2.deps == (e1.id,) and e2.lamport == e1.lamport + 1
    assert a.heads == {e2.id}


def test_concurrent_writes_converge_lww(pair: tuple[Replica, Replica]) -> None:
    a, b = pair
    a.commit("ops", title("from alice"))
    b.commit("ops", title("from bob"))
    a.sync_with(b)
    assert a.heads == b.heads and len(a.heads) == 2
    assert snapshot(a) == snapshot(b)
    # Equal lamports: the tie breaks on the author string, the same on every replica.
    winner = max((a.identity, b.identity), key=lambda i: i.author if i else "")
    expected = "from alice" if winner is a.identity else "from bob"
    assert snapshot(a)["Doc/d1"]["title"] == expected


def test_out_of_order_arrival_waits_then_applies(pair: tuple[Replica, Replica]) -> None:
    a, b = pair
    events = [a.commit("ops", title(f"v{i}")) for i in range(5)]
    report = b.ingest([e.raw for e in reversed(events)])
    assert report.pending == 4 and sorted(report.accepted) == sorted(e.id for e in events)
    assert b.heads == a.heads and snapshot(b) == snapshot(a)


def test_duplicate_ingest_changes_nothing(pair: tuple[Replica, Replica]) -> None:
    a, b = pair
    e = a.commit("ops", title("x"))
    assert b.ingest([e.raw]).accepted == [e.id]
    before = b.store.count()
    again = b.ingest([e.raw, e.raw])
    assert again.duplicates == 2 and not again.accepted and b.store.count() == before


def test_orphan_flood_does_not_block_valid_events(alice: Identity, bob: Identity) -> None:
    a = Replica.create(MemoryStore(), alice, "room", owners=[bob.author])
    genesis = a.store.get(a.scope)
    assert genesis is not None
    small = PendingBuffer[object](max_entries=50, max_bytes=1 << 20)
    b = Replica.join(MemoryStore(), genesis.raw, identity=bob, pending=small)  # type: ignore[arg-type]
    ghost = "sha256:" + "ab" * 32
    flood = [
        create_event(
            alice,
            scope=a.scope,
            seq=100 + i,
            deps=[ghost],
            lamport=2,
            time_ms=0,
            kind="ops",
            payload=title(str(i)),
        ).raw
        for i in range(500)
    ]
    report = b.ingest(flood, source="flooder")
    assert report.pending == 500 and report.evicted >= 450 and len(small) <= 50
    real = a.commit("ops", title("real"))
    good = b.ingest([real.raw], source="honest")
    assert good.accepted == [real.id] and snapshot(b)["Doc/d1"]["title"] == "real"


def test_wrong_scope_is_rejected_and_recorded(pair: tuple[Replica, Replica], alice: Identity) -> None:
    a, b = pair
    other = Replica.create(MemoryStore(), alice, "another room")
    foreign = other.commit("ops", title("elsewhere"))
    report = b.ingest([foreign.raw])
    assert [r[1] for r in report.rejected] == ["wrong_scope"]
    assert b.store.rejections()[-1].reason == "wrong_scope"
    ours = a.commit("ops", title("here"))  # the passing twin
    assert b.ingest([ours.raw]).accepted == [ours.id]


def test_non_owner_is_quarantined_owner_is_not(pair: tuple[Replica, Replica], mallory: Identity) -> None:
    a, b = pair
    head = max(a.heads)
    forged = create_event(
        mallory, scope=a.scope, seq=1, deps=[head], lamport=2, time_ms=0, kind="ops", payload=title("pwned")
    )
    report = b.ingest([forged.raw])
    assert report.quarantined and report.quarantined[0][0] == forged.id
    assert b.verdict(forged.id)[0] == "quarantined" and "not_authorized" in b.verdict(forged.id)[1]
    assert snapshot(b) == {}
    honest = a.commit("ops", title("fine"))
    assert b.ingest([honest.raw]).accepted == [honest.id]


def test_commit_refuses_when_not_authorized(pair: tuple[Replica, Replica], mallory: Identity) -> None:
    a, _ = pair
    stranger = Replica.open(a.store, identity=mallory)
    with pytest.raises(CapabilityDenied, match="may not write"):
        stranger.commit("ops", title("nope"))
    readonly = Replica.open(a.store)
    with pytest.raises(UsageError, match="no identity"):
        readonly.commit("ops", title("nope"))


def test_equivocation_quarantines_both_whatever_the_order(
    pair: tuple[Replica, Replica], bob: Identity
) -> None:
    a, _ = pair
    head = max(a.heads)
    one = create_event(
        bob, scope=a.scope, seq=1, deps=[head], lamport=2, time_ms=0, kind="ops", payload=title("1")
    )
    two = create_event(
        bob, scope=a.scope, seq=1, deps=[head], lamport=2, time_ms=1, kind="ops", payload=title("2")
    )
    for first, second in ((one, two), (two, one)):
        r = Replica.join(MemoryStore(), a.store.get(a.scope).raw)  # type: ignore[union-attr]
        r.ingest([first.raw])
        assert r.verdict(first.id)[0] == "valid"
        r.ingest([second.raw])
        assert r.verdict(one.id)[0] == r.verdict(two.id)[0] == "quarantined"
        assert "equivocation" in r.verdict(second.id)[1]
        assert snapshot(r) == {}


def test_local_events_stay_local(pair: tuple[Replica, Replica]) -> None:
    a, b = pair
    shared = a.commit("ops", title("shared"))
    note = a.commit("ops", title("private", "n1"), local=True)
    assert a.heads == {shared.id}
    a.sync_with(b)
    assert note.id not in b.store and shared.id in b.store
    after = a.commit("ops", title("later"))
    assert note.id not in after.deps
    raw_local = note.raw
    assert [r[1] for r in b.ingest([raw_local]).rejected] == ["local_event"]


def test_random_delivery_converges(pair: tuple[Replica, Replica]) -> None:
    a, b = pair
    rng = random.Random(7)
    for i in range(30):
        (a if rng.random() < 0.5 else b).commit("ops", title(f"v{i}", rng.choice(["d1", "d2", "d3"])))
    c = Replica.join(MemoryStore(), a.store.get(a.scope).raw)  # type: ignore[union-attr]
    raws = a.missing_for(set()) + b.missing_for(set())
    rng.shuffle(raws)
    for i in range(0, len(raws), 7):
        c.ingest(raws[i : i + 7] + raws[i : i + 2])  # duplicates on purpose
    a.sync_with(b)
    assert a.heads == b.heads == c.heads
    assert snapshot(a) == snapshot(b) == snapshot(c)


def test_open_requires_a_scope() -> None:
    with pytest.raises(NotFound, match=r"Replica\.create"):
        Replica.open(MemoryStore())


def test_time_travel_shows_the_state_as_of_any_heads(pair: tuple[Replica, Replica]) -> None:
    a, b = pair
    first = a.commit("ops", title("draft"))
    second = a.commit("ops", title("final"))
    theirs = b.commit("ops", title("bob's", "d2"))
    a.sync_with(b)
    assert a.state_at([first.id]).snapshot() == {"Doc/d1": {"title": "draft"}}
    assert a.state_at([second.id]).snapshot() == {"Doc/d1": {"title": "final"}}
    assert a.state_at([first.id, theirs.id]).snapshot() == {
        "Doc/d1": {"title": "draft"},
        "Doc/d2": {"title": "bob's"},
    }
    assert a.state_at().snapshot() == b.state_at().snapshot() == snapshot(a)


def test_undo_writes_a_new_event_and_restores_values(pair: tuple[Replica, Replica]) -> None:
    a, b = pair
    a.commit("ops", title("keep me"))
    counter = {
        "ops": [op("Doc", "d1", "n", "pncounter", {"inc": 5}), op("Doc", "d1", "tags", "orset", {"add": "x"})]
    }
    change = a.commit("ops", {"ops": [op("Doc", "d1", "title", "lww", {"set": "oops"}), *counter["ops"]]})
    b.commit("ops", {"ops": [op("Doc", "d1", "tags", "orset", {"add": "x"})]})  # concurrent add survives
    a.sync_with(b)
    undo = a.undo(change.id)
    assert undo.payload["undoes"] == change.id and change.id in a.store  # history kept
    a.sync_with(b)
    assert snapshot(a) == snapshot(b) == {"Doc/d1": {"title": "keep me", "n": 0, "tags": ["x"]}}


def test_undo_leaves_fields_others_changed_since(pair: tuple[Replica, Replica]) -> None:
    a, b = pair
    change = a.commit(
        "ops",
        {
            "ops": [
                op("Doc", "d1", "title", "lww", {"set": "a"}),
                op("Doc", "d1", "body", "lww", {"set": "a"}),
            ]
        },
    )
    a.sync_with(b)
    b.commit("ops", title("bob wrote later"))
    a.sync_with(b)
    a.undo(change.id)
    a.sync_with(b)
    assert snapshot(b) == {"Doc/d1": {"title": "bob wrote later", "body": None}}


def test_undo_refuses_someone_elses_event(pair: tuple[Replica, Replica]) -> None:
    a, b = pair
    theirs = b.commit("ops", title("bob's"))
    a.sync_with(b)
    with pytest.raises(UsageError, match="only undo its own"):
        a.undo(theirs.id)
    mine = a.commit("ops", title("alice's"))  # the passing twin
    assert a.undo(mine.id).payload["undoes"] == mine.id


def test_commit_many_chains_events_in_one_append(pair: tuple[Replica, Replica]) -> None:
    a, b = pair
    events = a.commit_many([("ops", title(f"v{i}")) for i in range(4)])
    assert [e.seq for e in events] == [2, 3, 4, 5]
    assert all(later.deps == (earlier.id,) for earlier, later in itertools.pairwise(events))
    assert a.heads == {events[-1].id}
    assert sorted(b.ingest([e.raw for e in events]).accepted) == sorted(e.id for e in events)


def test_an_authors_events_must_form_a_chain(pair: tuple[Replica, Replica], bob: Identity) -> None:
    a, _b = pair
    genesis = max(a.heads)
    first = create_event(
        bob, scope=a.scope, seq=1, deps=[genesis], lamport=2, time_ms=0, kind="ops", payload=title("1")
    )
    # seq 2 that does not see seq 1 (a fork of bob's own history): quarantined on every replica.
    fork = create_event(
        bob, scope=a.scope, seq=2, deps=[genesis], lamport=2, time_ms=0, kind="ops", payload=title("2")
    )
    # The twin: seq 2 on top of seq 1 is fine.
    chained = create_event(
        bob, scope=a.scope, seq=2, deps=[first.id], lamport=3, time_ms=0, kind="ops", payload=title("3")
    )
    report = a.ingest([first.raw, fork.raw])
    assert report.accepted == [first.id] and "broken_chain" in a.verdict(fork.id)[1]
    gap = create_event(
        bob, scope=a.scope, seq=7, deps=[first.id], lamport=3, time_ms=0, kind="ops", payload=title("7")
    )
    assert "broken_chain" in a.ingest([gap.raw]).quarantined[0][2] or "broken_chain" in a.verdict(gap.id)[1]
    c = Replica.join(MemoryStore(), a.store.get(a.scope).raw)  # type: ignore[union-attr]
    assert c.ingest([first.raw, chained.raw]).accepted == [first.id, chained.id]


class FailingStore(MemoryStore):
    """A memory store whose next append fails, as a full disk would."""

    fail_next = False

    def append(self, events):  # type: ignore[no-untyped-def]
        if self.fail_next:
            self.fail_next = False
            raise OSError("disk full")
        return super().append(events)


def test_a_failed_ingest_stores_nothing_and_leaves_the_replica_usable(alice: Identity) -> None:
    a = Replica.create(MemoryStore(), alice, "room")
    events = a.commit_many([("ops", {"ops": [op("Doc", "d1", "n", "pncounter", {"inc": 1})]})] * 5)
    store = FailingStore()
    b = Replica.join(store, a.genesis.raw)
    store.fail_next = True
    with pytest.raises(OSError):
        b.ingest([e.raw for e in events])
    assert b.store.last_position() == 1 and b.heads == {a.genesis.id}  # only the genesis
    report = b.ingest([e.raw for e in events])  # the same events again: nothing is a "duplicate"
    assert report.ok and len(report.accepted) == 5 and report.duplicates == 0
    assert b.state_at().value("Doc", "d1") == {"n": 5}


def test_a_dropped_replica_is_freed_without_a_garbage_collection(alice: Identity) -> None:
    # No reference cycle through the judge: a long-running process dropping replicas must not keep
    # their DAGs and indexes until the next full collection (a stall of tens of ms when it comes).
    import gc
    import weakref

    replica = Replica.create(MemoryStore(), alice, "room")
    replica.commit("ops", {"ops": [op("Doc", "d1", "n", "pncounter", {"inc": 1})]})
    replica.dag  # noqa: B018
    ref = weakref.ref(replica)
    gc.disable()
    try:
        del replica
        assert ref() is None
    finally:
        gc.enable()


class _RefuseMarked:
    """A deterministic policy that refuses any event setting the ``forbidden`` field."""

    def authorize(self, view: PolicyView, event: Event) -> Verdict:
        if any(o["f"] == "forbidden" for o in event.payload.get("ops", ())):
            return Denied("not_authorized", "the forbidden field")
        return ALLOWED


@pytest.mark.parametrize("backend", ["memory", "sqlite"])
def test_a_chain_refused_after_some_chunks_were_written_leaves_nothing(
    alice: Identity, tmp_path: Path, backend: str
) -> None:
    # commit_many writes a long chain chunk by chunk inside one atomic block: an event refused after
    # several chunks went to the store must take the whole chain with it, on every backend.
    store = MemoryStore() if backend == "memory" else SQLiteStore(tmp_path / "room.db")
    Replica.create(store, alice, "room")
    replica = Replica.open(store, identity=alice, policy=_RefuseMarked())
    good = [("ops", title(f"t{i}", f"d{i}")) for i in range(3 * CHUNK)]
    bad = ("ops", {"ops": [op("Doc", "d0", "forbidden", "lww", {"set": 1})]})
    before = (store.last_position(), store.heads(), store.verdicts())
    with pytest.raises(CapabilityDenied, match="may not write"):
        replica.commit_many([*good, bad, *good[:5]])
    assert (store.last_position(), store.heads(), store.verdicts()) == before
    events = replica.commit_many(good)  # the good twin: the replica is usable, positions have no gap
    assert store.last_position() == before[0] + len(good)
    assert store.heads() == {events[-1].id}
    assert replica.state_at().value("Doc", f"d{3 * CHUNK - 1}") == {"title": f"t{3 * CHUNK - 1}"}


@pytest.mark.parametrize("backend", ["memory", "sqlite"])
def test_an_equivocation_found_chunks_after_its_twin_was_written_is_stored(
    pair: tuple[Replica, Replica], bob: Identity, tmp_path: Path, backend: str
) -> None:
    # Ingest writes chunk by chunk: the twin of an event stored in an earlier chunk must still quarantine
    # it in the store, and the stored verdicts must be those of ingesting the events one at a time.
    a, _ = pair
    head = max(a.heads)
    chain = []
    deps, lamport = [head], 2
    for seq in range(1, 3 * CHUNK + 1):
        event = create_event(
            bob,
            scope=a.scope,
            seq=seq,
            deps=deps,
            lamport=lamport,
            time_ms=seq,
            kind="ops",
            payload=title(f"{seq}"),
        )
        chain.append(event)
        deps, lamport = [event.id], lamport + 1
    twin = create_event(
        bob, scope=a.scope, seq=3, deps=[chain[1].id], lamport=4, time_ms=0, kind="ops", payload=title("twin")
    )
    # A pair whose first is quarantined already (a gap in bob's chain): its twin changes only the reason.
    far = [
        create_event(
            bob, scope=a.scope, seq=999, deps=[head], lamport=2, time_ms=t, kind="ops", payload=title("far")
        )
        for t in (1, 2)
    ]
    batch = [far[0], *chain, twin, far[1]]
    genesis = a.store.get(a.scope).raw  # type: ignore[union-attr]
    store = MemoryStore() if backend == "memory" else SQLiteStore(tmp_path / "room.db")
    batched = Replica.join(store, genesis)
    report = batched.ingest([e.raw for e in batch])
    assert twin.id in {q[0] for q in report.quarantined}
    one_by_one = Replica.join(MemoryStore(), genesis)
    for e in batch:
        one_by_one.ingest([e.raw])
    ids = [e.id for e in batch]
    assert store.verdicts(ids) == one_by_one.store.verdicts(ids)
    assert "equivocation" in store.verdicts([far[0].id])[far[0].id][1]
    assert store.verdicts([chain[2].id])[chain[2].id][0] == "quarantined"


def test_state_hash_is_equal_exactly_when_replicas_converged(pair: tuple[Replica, Replica]) -> None:
    a, b = pair
    assert a.state_hash() == b.state_hash()
    a.commit("ops", title("from a"))
    b.commit("ops", title("from b"))
    assert a.state_hash() != b.state_hash()
    a.sync_with(b)
    assert a.state_hash() == b.state_hash() and a.state_hash().startswith("sha256:")


def test_a_replica_is_a_context_manager_that_closes_its_store(tmp_path: Path, alice: Identity) -> None:
    from agentcrdt.errors import StoreError
    from agentcrdt.rooms.local import create_local

    with create_local(tmp_path / "room.db", alice, "room") as r:
        r.commit("ops", title("x"))
    with pytest.raises(StoreError):
        r.store.count()
    r.close()  # closing twice is harmless
