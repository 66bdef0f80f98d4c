"""PendingBuffer: out-of-order arrival, bounds, per-source quotas, deterministic eviction."""

from __future__ import annotations

import hashlib
import random

import pytest
from hypothesis import given
from hypothesis import strategies as st

from agentcrdt.errors import UsageError
from agentcrdt.log.dag import CausalDAG, Node
from agentcrdt.log.pending import PendingBuffer, PendingEntry


def nid(i: int) -> str:
    return "sha256:" + hashlib.sha256(str(i).encode()).hexdigest()


def chain(n: int) -> list[Node]:
    nodes = [Node(nid(0), (), 1, "ed25519:a", 1)]
    for i in range(1, n):
        nodes.append(Node(nid(i), (nodes[-1].id,), i + 1, "ed25519:a", i + 1))
    return nodes


@st.composite
def dags(draw: st.DrawFn, max_nodes: int = 30) -> list[Node]:
    """Random DAG in creation order (test_dag.py has the same generator, with local nodes)."""
    nodes: list[Node] = []
    for i in range(draw(st.integers(0, max_nodes))):
        deps = draw(st.lists(st.sampled_from(nodes), max_size=3, unique_by=lambda x: x.id)) if nodes else []
        lamport = 1 + max((d.lamport for d in deps), default=0)
        nodes.append(Node(nid(i), tuple(sorted(d.id for d in deps)), lamport, "ed25519:a", i + 1))
    return nodes


class Driver:
    """The replica's ingest loop in miniature: only orphans touch the buffer."""

    def __init__(self, buffer: PendingBuffer[Node]) -> None:
        self.dag = CausalDAG()
        self.buffer = buffer
        self.appended: list[str] = []
        self.buffered: list[str] = []
        self.dropped: list[PendingEntry[Node]] = []

    def receive(self, node: Node, source: str = "", size: int = 100) -> None:
        if node.id in self.dag or node.id in self.buffer:
            return
        if not all(d in self.dag for d in node.deps):
            self.buffered.append(node.id)
            self.dropped.extend(self.buffer.add(node.id, node.deps, node, size, source))
            return
        self._append(node)
        for entry in self.buffer.release(node.id, self.dag.__contains__):
            self._append(entry.item)

    def _append(self, node: Node) -> None:
        self.dag.add(node)  # raises if the buffer ever released something before its deps
        self.appended.append(node.id)


@given(dags(max_nodes=30), st.randoms(use_true_random=False), st.integers(0, 10))
def test_any_arrival_order_releases_everything_in_causal_order(
    nodes: list[Node], rnd: random.Random, duplicates: int
) -> None:
    arrivals = list(nodes) + [rnd.choice(nodes) for _ in range(duplicates if nodes else 0)]
    rnd.shuffle(arrivals)
    driver = Driver(PendingBuffer())
    for node in arrivals:
        driver.receive(node, source=rnd.choice("ab"))
    assert len(driver.buffer) == 0 and driver.buffer.bytes_used == 0
    assert sorted(driver.appended) == sorted(x.id for x in nodes)  # each exactly once
    position = {i: k for k, i in enumerate(driver.appended)}
    assert all(position[d] < position[x.id] for x in nodes for d in x.deps)
    assert driver.dropped == [] and driver.buffer.evicted == 0


def test_chain_released_in_order_when_root_arrives() -> None:
    a, b, c = chain(3)
    buf: PendingBuffer[Node] = PendingBuffer()
    present: set[str] = set()
    buf.add(c.id, c.deps, c, 10)
    buf.add(b.id, b.deps, b, 10)
    assert buf.missing_deps(present.__contains__) == {a.id}
    present.add(a.id)
    assert [e.item for e in buf.release(a.id, present.__contains__)] == [b, c]
    assert len(buf) == 0 and buf.missing_deps(present.__contains__) == set()


def test_entry_waits_for_all_deps() -> None:
    x, y = nid(1), nid(2)
    buf: PendingBuffer[str] = PendingBuffer()
    buf.add(nid(3), (x, y), "z", 1)
    present = {x}
    assert buf.release(x, present.__contains__) == []
    assert buf.missing_deps(present.__contains__) == {y}
    present.add(y)
    assert [e.item for e in buf.release(y, present.__contains__)] == ["z"]


def test_release_ready_sweeps_after_missed_release() -> None:
    buf: PendingBuffer[str] = PendingBuffer()
    buf.add("b", ("a",), "B", 1)
    buf.add("c", ("b",), "C", 1)
    buf.add("e", ("d",), "E", 1)
    assert [e.item for e in buf.release_ready({"a"}.__contains__)] == ["B", "C"]
    assert list(buf.missing_deps(set[str]().__contains__)) == ["d"]


def test_release_drops_a_buffered_copy_of_the_present_event() -> None:
    buf: PendingBuffer[str] = PendingBuffer()
    buf.add("b", ("a",), "B", 5)
    buf.add("c", ("b",), "C", 5)
    present = {"a", "b"}  # b was appended through another path
    assert [e.item for e in buf.release("b", present.__contains__)] == ["C"]
    assert len(buf) == 0 and buf.bytes_used == 0


def test_duplicate_add_is_a_noop_and_bad_input_is_refused() -> None:
    buf: PendingBuffer[str] = PendingBuffer()
    assert buf.add("b", ("a",), "B", 5) == []
    assert buf.add("b", ("a",), "B", 5) == []
    assert len(buf) == 1 and buf.bytes_used == 5
    with pytest.raises(UsageError, match="itself"):
        buf.add("c", ("c",), "C", 1)
    with pytest.raises(UsageError, match="size"):
        buf.add("c", ("a",), "C", -1)
    assert buf.add("c", ("a",), "C", 0) == []


@pytest.mark.parametrize(
    "kwargs",
    [
        {"max_entries": 0},
        {"max_bytes": 0},
        {"max_entries": 10, "max_entries_per_source": 11},
        {"max_bytes": 10, "max_bytes_per_source": 11},
        {"max_entries_per_source": 0},
    ],
)
def test_bad_limits_refused(kwargs: dict[str, int]) -> None:
    with pytest.raises(UsageError):
        PendingBuffer[str](**kwargs)


def test_defaults() -> None:
    buf: PendingBuffer[str] = PendingBuffer()
    assert (buf.max_entries, buf.max_bytes) == (10_000, 64 * 1024 * 1024)
    assert (buf.max_entries_per_source, buf.max_bytes_per_source) == (2_500, 16 * 1024 * 1024)


# -- bounds and eviction ---------------------------------------------------------------------------


def test_per_source_quota_evicts_that_sources_oldest() -> None:
    buf: PendingBuffer[int] = PendingBuffer(max_entries=10, max_entries_per_source=3)
    buf.add("other", ("x",), 0, 1, source="good")
    for i in range(3):
        assert buf.add(f"e{i}", ("x",), i, 1, source="evil") == []
    dropped = buf.add("e3", ("x",), 3, 1, source="evil")
    assert [e.id for e in dropped] == ["e0"] and buf.evicted == 1
    assert buf.usage("evil") == (3, 3) and "other" in buf


def test_byte_quota_evicts_until_the_newcomer_fits() -> None:
    buf: PendingBuffer[int] = PendingBuffer(max_bytes=100, max_bytes_per_source=50)
    for i in range(5):
        buf.add(f"e{i}", ("x",), i, 10, source="s")
    dropped = buf.add("big", ("x",), 9, 35, source="s")
    assert [e.id for e in dropped] == ["e0", "e1", "e2", "e3"]
    assert buf.usage("s") == (2, 45)


def test_entry_larger_than_quota_is_refused_and_reported() -> None:
    buf: PendingBuffer[int] = PendingBuffer(max_bytes=100, max_bytes_per_source=50)
    buf.add("keep", ("x",), 0, 10, source="s")
    dropped = buf.add("huge", ("x",), 1, 51, source="s")
    assert [e.id for e in dropped] == ["huge"] and "huge" not in buf and "keep" in buf
    assert buf.evicted == 1
    assert buf.add("fits", ("x",), 2, 40, source="s") == []


def test_global_limit_evicts_from_the_heaviest_source() -> None:
    buf: PendingBuffer[int] = PendingBuffer(max_entries=6, max_entries_per_source=3)
    for src, n in (("a", 1), ("b", 3), ("c", 2)):
        for i in range(n):
            buf.add(f"{src}{i}", ("x",), i, 1, source=src)
    assert [e.id for e in buf.add("d0", ("x",), 0, 1, source="d")] == ["b0"]
    # Now b and c tie at 2; the newcomer's own source wins the tie when it is among the heaviest.
    assert [e.id for e in buf.add("c2", ("x",), 2, 1, source="c")] == ["c0"]
    assert sorted(buf.usage(s)[0] for s in "abcd") == [1, 1, 2, 2]


def test_eviction_is_deterministic() -> None:
    def run() -> tuple[list[str], list[str]]:
        buf: PendingBuffer[int] = PendingBuffer(max_entries=20, max_bytes=500, max_entries_per_source=8)
        rnd = random.Random(7)
        dropped: list[str] = []
        for i in range(500):
            src = rnd.choice("abcde")
            entry_id = f"{src}{i}"
            dropped += [e.id for e in buf.add(entry_id, (nid(rnd.randrange(50)),), i, rnd.randrange(60), src)]
        kept = [f"{s}{k}" for k in range(500) for s in "abcde" if f"{s}{k}" in buf]
        return dropped, kept

    first = run()
    assert first == run()
    assert len(first[0]) > 400 and len(first[1]) <= 20


def test_orphan_flood_stays_bounded_and_never_blocks_valid_events() -> None:
    driver = Driver(PendingBuffer(max_entries=64, max_bytes=6_400, max_entries_per_source=16))
    buf = driver.buffer
    good = chain(12)
    # Reverse order: everything but the root is an orphan, buffered under source "good".
    late = list(reversed(good[1:]))
    for i in range(100_000):
        orphan = Node(f"sha256:flood{i:08d}", (f"sha256:never{i:08d}",), 2, "ed25519:evil", i + 1)
        driver.receive(orphan, source="evil", size=100)
        if i % 5_000 == 0 and late:
            driver.receive(late.pop(0), source="good")
        assert len(buf) <= 64 and buf.bytes_used <= 6_400 and buf.usage("evil")[0] <= 16
    while late:
        driver.receive(late.pop(0), source="good")
    assert buf.usage("good") == (11, 1_100)
    assert buf.evicted == 100_000 - 16
    assert all(e.source == "evil" for e in driver.dropped)
    # An in-order valid event from a third peer is appended at once, flood or not.
    other = Node(nid(-1), (), 1, "ed25519:c", 1)
    driver.receive(other, source="c")
    assert driver.appended == [other.id]
    # The root arrives: the whole buffered chain is released in order.
    driver.receive(good[0], source="good")
    assert driver.appended == [other.id] + [x.id for x in good]
    assert buf.usage("good") == (0, 0) and len(buf) == 16


def test_evicted_dep_becomes_missing_again() -> None:
    buf: PendingBuffer[str] = PendingBuffer(max_entries=4, max_entries_per_source=2)
    buf.add("b", ("a",), "B", 1, source="s")
    buf.add("c", ("b",), "C", 1, source="s")
    none = set[str]().__contains__
    assert buf.missing_deps(none) == {"a"}
    assert [e.id for e in buf.add("z", ("y",), "Z", 1, source="s")] == ["b"]
    assert buf.missing_deps(none) == {"b", "y"}


def test_drop_and_expire() -> None:
    buf: PendingBuffer[int] = PendingBuffer()
    for i in range(6):
        buf.add(f"e{i}", ("x",), i, 10, source="s")
    assert [e.id for e in buf.drop(["e1", "nope", "e1"])] == ["e1"]
    old = buf.expire(lambda e: e.arrival < 3)
    assert [e.id for e in old] == ["e0", "e2"]
    assert len(buf) == 3 and buf.bytes_used == 30 and buf.evicted == 0
    assert buf.expire(lambda e: True) and len(buf) == 0 and buf.usage("s") == (0, 0)
    assert buf.missing_deps(set[str]().__contains__) == set()
