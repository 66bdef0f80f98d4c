"""Strong eventual consistency: N replicas, random ops of every type, random delivery.

Delivery drops, duplicates, reorders and partitions (a replica only hears from the peers a step picks);
now and then a faulty peer equivocates (signs two events with one seq). After a full exchange every
replica must hold the same heads, the same values, the same materialized SQL rows, the same state hash
and the same verdicts, reasons included.
"""

from __future__ import annotations

import hashlib
import random
import sqlite3
from typing import Any

from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, precondition, rule

from agentcrdt.kernel import Stamp, get_type
from agentcrdt.log.codec import canonical
from agentcrdt.log.event import create_event
from agentcrdt.log.keys import Identity
from agentcrdt.materialize import EntityProjection, SQLiteFollower
from agentcrdt.ops.state import DocState, EntityState, op
from agentcrdt.replica import Replica
from agentcrdt.store.memory import MemoryStore

PROBE = Stamp(0, "", "", 0)  # builders need a stamp to shape an op; the event supplies the real one
IDS = [Identity.from_name(f"peer{i}") for i in range(5)]
ENTITIES = ["d1", "d2", "d3"]
VALUES: list[Any] = [None, 0, 1, "a", "b", "ü", [1, "x"], {"k": "v"}, True]
FIELD_TYPES = ["lww", "mv", "gcounter", "pncounter", "orset", "lwwset", "rga", "map"]


def random_kernel_op(rng: random.Random, crdt: str, state: Any) -> Any:
    """Return the JSON of a random op of type ``crdt`` that makes sense on ``state`` (may be None)."""
    t = get_type(crdt)
    s = t.empty() if state is None else state
    if crdt == "lww":
        return {"set": rng.choice(VALUES)}
    if crdt == "mv":
        return t.encode_op(t.set_op(s, PROBE, rng.choice(VALUES)))  # type: ignore[attr-defined]
    if crdt == "gcounter":
        return {"inc": rng.randint(1, 5)}
    if crdt == "pncounter":
        return {"inc": rng.choice([-3, -1, 1, 2, 5])}
    if crdt in ("orset", "lwwset"):
        elem = rng.choice(["x", "y", "z", 1])
        if rng.random() < 0.6:
            return {"add": elem}
        if crdt == "lwwset":
            return {"remove": elem}
        return t.encode_op(t.remove_op(s, PROBE, elem))  # type: ignore[attr-defined]
    if crdt == "rga":
        size = len(t.value(s))
        if size and rng.random() < 0.35:
            pos = rng.randrange(size)
            return t.encode_op(t.delete_op(s, PROBE, pos, rng.randint(1, size - pos)))  # type: ignore[attr-defined]
        items = [rng.choice("abcdef") for _ in range(rng.randint(1, 3))]
        return t.encode_op(t.insert_op(s, PROBE, rng.randint(0, size), items))  # type: ignore[attr-defined]
    assert crdt == "map"
    key = rng.choice(["k1", "k2"])
    roll = rng.random()
    if roll < 0.25:
        return t.encode_op(t.remove_op(s, PROBE, key))  # type: ignore[attr-defined]
    if roll < 0.5:
        return t.encode_op(
            t.path_op(PROBE, [key, "inner"], "pncounter", get_type("pncounter").decode_op({"inc": 1}, PROBE))
        )  # type: ignore[attr-defined]
    return t.encode_op(t.set_op(PROBE, key, rng.choice(VALUES)))  # type: ignore[attr-defined]


class Net:
    """N replicas of one scope, each with an in-memory store and a SQLite projection."""

    def __init__(self, n: int) -> None:
        self.followers = [
            SQLiteFollower(sqlite3.connect(":memory:", isolation_level=None), [EntityProjection()])
            for _ in range(n)
        ]
        owners = [i.author for i in IDS[1:n]]
        first = Replica.create(MemoryStore(), IDS[0], "room", owners=owners, nonce="x", clock=lambda: 1)
        first.followers.append(self.followers[0])
        genesis = first.store.get(first.scope)
        assert genesis is not None
        self.replicas = [first] + [
            Replica.join(
                MemoryStore(), genesis.raw, identity=IDS[i], followers=[self.followers[i]], clock=lambda: 2
            )
            for i in range(1, n)
        ]

    def edit(self, rng: random.Random, who: int) -> None:
        r, f = self.replicas[who], self.followers[who]
        ops = []
        for _ in range(rng.randint(1, 3)):
            entity = rng.choice(ENTITIES)
            if rng.random() < 0.08:
                ops.append(op("Doc", entity, "_deleted", "lww", {"set": rng.random() < 0.5}))
                continue
            crdt = rng.choice(FIELD_TYPES)
            current = EntityProjection().load(f.db, ("Doc", entity)) or EntityState()
            ops.append(
                op(
                    "Doc",
                    entity,
                    f"f_{crdt}",
                    crdt,
                    random_kernel_op(rng, crdt, current.fields.get((f"f_{crdt}", crdt))),
                )
            )
        r.commit("ops", {"ops": ops})

    def equivocate(self, rng: random.Random, who: int) -> None:
        """A faulty peer signs a second event with the seq of its last one and sends it to another peer."""
        r = self.replicas[who]
        mine = [e for e in r.events() if e.author == IDS[who].author and e.kind == "ops"]
        if not mine:
            return
        last = mine[-1]
        twin = create_event(
            IDS[who],
            scope=r.scope,
            seq=last.seq,
            deps=last.deps,
            lamport=last.lamport,
            time_ms=last.time + 1,
            kind="ops",
            payload={"ops": [op("Doc", rng.choice(ENTITIES), "f_lww", "lww", {"set": "forked"})]},
        )
        others = [i for i in range(len(self.replicas)) if i != who]
        self.replicas[rng.choice(others)].ingest([twin.raw], source=f"peer{who}")

    def deliver(self, rng: random.Random, src: int, dst: int) -> None:
        raws = self.replicas[src].missing_for(self.replicas[dst].heads)
        if not raws:
            return
        picked = rng.sample(raws, rng.randint(1, len(raws)))  # a partial, reordered delivery
        picked += rng.sample(picked, rng.randint(0, len(picked)))  # with duplicates
        rng.shuffle(picked)
        self.replicas[dst].ingest(picked, source=f"peer{src}")

    def exchange_all(self) -> None:
        for _ in range(2):
            for i, a in enumerate(self.replicas):
                for b in self.replicas[i + 1 :]:
                    a.sync_with(b)

    def check_converged(self) -> None:
        heads = {r.heads for r in self.replicas}
        assert len(heads) == 1, "replicas hold different heads after a full exchange"
        rows = {
            tuple(
                f.query(
                    "SELECT etype, id, value, deleted, created_at, updated_at"
                    " FROM entities ORDER BY etype, id"
                )
            )
            for f in self.followers
        }
        assert len(rows) == 1, "materialized SQL tables differ"
        hashes = {state_hash(r) for r in self.replicas}
        assert len(hashes) == 1, "state hashes differ"
        verdicts = [r.store.verdicts() for r in self.replicas]
        assert all(v == verdicts[0] for v in verdicts), "replicas reached different verdicts"
        for r in self.replicas:  # the by-type index agrees with a fold of the valid events
            folded = fold_valid(r).entities
            by_type = [(eid, st.values(), st.deleted) for eid, st in r.entity_states("Doc")]
            want = sorted((eid, st.values(), st.deleted) for (t, eid), st in folded.items() if t == "Doc")
            assert by_type == want, "entity_states differs from the entities of a fold"
            copied = [(eid, st.values(), st.deleted) for eid, st in r.state_at().of_type("Doc")]
            assert copied == want, "a copy of the state lost its by-type index"


def fold_valid(r: Replica) -> DocState:
    valid = {i for i, (v, _) in r.store.verdicts().items() if v == "valid"}
    events = [e for e in r.events() if e.id in valid]
    events.sort(key=lambda e: (e.lamport, e.id))  # any causal order gives the same state; pick one
    return DocState.fold(events)


def state_hash(r: Replica) -> str:
    return hashlib.sha256(canonical(fold_valid(r).snapshot())).hexdigest()


def run_history(seed: int) -> None:
    rng = random.Random(seed)
    net = Net(rng.randint(2, 5))
    n = len(net.replicas)
    for _ in range(rng.randint(4, 14)):
        roll = rng.random()
        if roll < 0.05:
            net.equivocate(rng, rng.randrange(n))
        elif roll < 0.55:
            net.edit(rng, rng.randrange(n))
        else:
            src, dst = rng.sample(range(n), 2)
            net.deliver(rng, src, dst)
    net.exchange_all()
    net.check_converged()


def test_thousands_of_random_histories_converge() -> None:
    for seed in range(1200):
        try:
            run_history(seed)
        except AssertionError as e:
            raise AssertionError(f"history with seed {seed} diverged: {e}") from e


class ConvergenceMachine(RuleBasedStateMachine):
    """Hypothesis drives the schedule (and shrinks a failing one)."""

    net: Net

    @initialize(n=st.integers(2, 5), seed=st.integers(0, 2**32))
    def start(self, n: int, seed: int) -> None:
        self.net = Net(n)
        self.rng = random.Random(seed)

    @rule(who=st.integers(0, 4))
    def edit(self, who: int) -> None:
        self.net.edit(self.rng, who % len(self.net.replicas))

    @rule(who=st.integers(0, 4))
    def equivocate(self, who: int) -> None:
        self.net.equivocate(self.rng, who % len(self.net.replicas))

    @rule(src=st.integers(0, 4), dst=st.integers(0, 4))
    def deliver(self, src: int, dst: int) -> None:
        n = len(self.net.replicas)
        if src % n != dst % n:
            self.net.deliver(self.rng, src % n, dst % n)

    @precondition(lambda self: hasattr(self, "net"))
    @invariant()
    def heads_are_known(self) -> None:
        for r in self.net.replicas:
            assert all(h in r.dag for h in r.heads)

    def teardown(self) -> None:
        if hasattr(self, "net"):
            self.net.exchange_all()
            self.net.check_converged()


TestConvergenceMachine = ConvergenceMachine.TestCase
TestConvergenceMachine.settings = settings(
    max_examples=60, stateful_step_count=25, deadline=None, suppress_health_check=[HealthCheck.too_slow]
)
