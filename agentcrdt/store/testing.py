"""The shipped store contract suite: every backend subclasses ``StoreContract`` in a few lines.

    class TestMyStore(StoreContract):
        durable = True
        def make_store(self) -> EventStore: ...          # a fresh, empty store (self.tmp_path, self.scope)
        def reopen(self, store) -> EventStore: ...       # a new instance on the same backing data
        def inject_failure(self, store, event_id): ...   # make inserting event_id fail mid-batch

Each test gets a fresh scope (``self.scope``, the id of ``self.genesis``), so backends that share tables
across scopes isolate tests for free. Test events carry well-formed but fake ids: ``"sha256:" +
sha256(raw)``; stores never verify them. Requires pytest (a dev dependency); never imported by the library.
"""

from __future__ import annotations

import hashlib
import random
import uuid
from collections.abc import Iterator, Sequence
from contextlib import AbstractContextManager
from pathlib import Path
from typing import ClassVar

import pytest

from agentcrdt.errors import AgentCRDTError, UsageError
from agentcrdt.log.event import create_event
from agentcrdt.log.keys import Identity
from agentcrdt.ops.state import OPS, op
from agentcrdt.store.base import EventStore, StoredEvent

__all__ = ["StoreContract", "expected_heads", "make_author", "make_event"]


def make_author(name: str) -> str:
    """Return a well-formed (fake) author key for ``name``."""
    return "ed25519:" + hashlib.sha256(name.encode()).hexdigest()


def make_event(
    label: str,
    *,
    scope: str | None,
    deps: Sequence[str] = (),
    author: str = make_author("alice"),
    seq: int = 1,
    lamport: int = 1,
    kind: str = "test",
    local: bool = False,
    size: int = 200,
) -> StoredEvent:
    """Build a StoredEvent whose id is the sha256 of its (padded) raw bytes."""
    head = f"{scope}|{label}|{author}|{seq}|{','.join(sorted(deps))}|".encode()
    raw = head + b"x" * max(0, size - len(head))
    event_id = "sha256:" + hashlib.sha256(raw).hexdigest()
    return StoredEvent(event_id, scope, author, seq, lamport, kind, tuple(sorted(deps)), local, raw)


def expected_heads(events: Sequence[StoredEvent]) -> frozenset[str]:
    """Recompute heads from scratch (what the store must maintain incrementally)."""
    nonlocal_events = [e for e in events if not e.local]
    covered = {d for e in nonlocal_events for d in e.deps}
    return frozenset(e.id for e in nonlocal_events if e.id not in covered)


class StoreContract:
    """Behaviour every EventStore must have. Subclass as ``Test<Backend>`` and fill in the hooks."""

    #: False for stores whose data dies with the instance (then ``reopen`` must raise NotImplementedError).
    durable: ClassVar[bool] = True

    tmp_path: Path
    scope: str
    genesis: StoredEvent

    # -- hooks --------------------------------------------------------------------------------------

    def make_store(self) -> EventStore:
        raise NotImplementedError("StoreContract subclasses must implement make_store()")

    def reopen(self, store: EventStore) -> EventStore:
        """Return a new instance over the same backing data as ``store`` (close ``store`` first if needed)."""
        raise NotImplementedError("this store is not durable")

    def inject_failure(self, store: EventStore, event_id: str) -> AbstractContextManager[None]:
        """Within the context, storing ``event_id`` must fail inside the backend's write (mid-batch)."""
        raise NotImplementedError("StoreContract subclasses must implement inject_failure()")

    # -- fixtures and helpers -------------------------------------------------------------------------

    @pytest.fixture(autouse=True)
    def _contract_env(self, tmp_path: Path) -> Iterator[None]:
        self.tmp_path = tmp_path
        founder = make_author("founder")
        self.genesis = make_event(f"genesis-{uuid.uuid4()}", scope=None, author=founder, kind="genesis")
        self.scope = self.genesis.id
        self._seqs: dict[str, int] = {founder: 1}
        self._opened: list[EventStore] = []
        yield
        for store in self._opened:
            store.close()

    def store(self) -> EventStore:
        """Open a fresh store holding only the genesis event."""
        store = self.make_store()
        self._opened.append(store)
        assert store.append([self.genesis]) == [1]
        return store

    def ev(
        self, *deps: StoredEvent | str, author: str = make_author("alice"), local: bool = False, **kw: object
    ) -> StoredEvent:
        """A new event in this test's scope with the next seq of ``author``."""
        seq = self._seqs.get(author, 0) + 1
        self._seqs[author] = seq
        dep_ids = [d if isinstance(d, str) else d.id for d in deps]
        label = f"{uuid.uuid4()}"
        kind = str(kw.get("kind", "test"))
        return make_event(
            label, scope=self.scope, deps=dep_ids, author=author, seq=seq, kind=kind, local=local
        )

    def chain(self, n: int, start: StoredEvent | None = None) -> list[StoredEvent]:
        events: list[StoredEvent] = []
        prev = start or self.genesis
        for _ in range(n):
            prev = self.ev(prev)
            events.append(prev)
        return events

    # -- basics -----------------------------------------------------------------------------------------

    def test_empty_store(self) -> None:
        store = self.make_store()
        self._opened.append(store)
        assert store.count() == 0 and store.last_position() == 0
        assert store.heads() == frozenset()
        assert store.since(0) == []
        assert store.get(self.genesis.id) is None
        assert store.has([self.genesis.id]) == set()
        assert self.genesis.id not in store
        assert store.get_cursor("x") == 0
        assert store.rejections() == [] and store.verdicts() == {} and store.get_meta("k") is None

    def test_round_trip_is_exact(self) -> None:
        store = self.store()
        a = self.ev(self.genesis, kind="k.one")
        b = make_event("odd", scope=self.scope, deps=[a.id], seq=7, lamport=42, size=1000)
        local = self.ev(b, local=True)
        store.append([a, b, local])
        for event in (self.genesis, a, b, local):
            assert store.get(event.id) == event
        assert store.get(self.genesis.id).scope is None  # type: ignore[union-attr]
        assert store.get_many([a.id, b.id, "sha256:missing"]) == {a.id: a, b.id: b}
        assert isinstance(store.get(b.id).raw, bytes)  # type: ignore[union-attr]

    def test_positions_start_at_one_and_increase(self) -> None:
        store = self.store()
        events = self.chain(5)
        assert store.append(events[:2]) == [2, 3]
        assert store.append(events[2:]) == [4, 5, 6]
        assert store.count() == 6 and store.last_position() == 6
        assert [p for p, _ in store.since(0)] == [1, 2, 3, 4, 5, 6]

    def test_append_empty_batch(self) -> None:
        store = self.store()
        assert store.append([]) == []
        assert store.count() == 1

    def test_has_and_contains(self) -> None:
        store = self.store()
        (a,) = self.chain(1)
        store.append([a])
        assert store.has([a.id, self.genesis.id, "sha256:nope"]) == {a.id, self.genesis.id}
        assert a.id in store and "sha256:nope" not in store
        assert store.has([]) == set()

    # -- idempotency and atomicity ------------------------------------------------------------------

    def test_reappend_is_a_no_op(self) -> None:
        store = self.store()
        events = self.chain(3)
        store.append(events)
        before = (store.since(0), store.heads(), store.count())
        assert store.append(events) == []
        assert store.append([self.genesis]) == []
        assert (store.since(0), store.heads(), store.count()) == before

    def test_duplicates_inside_one_batch_are_stored_once(self) -> None:
        store = self.store()
        a, b = self.chain(2)
        assert store.append([a, a, b, a, b]) == [2, 3]
        assert store.count() == 3

    def test_partly_known_batch_stores_only_the_new_events(self) -> None:
        store = self.store()
        a, b, c = self.chain(3)
        store.append([a])
        assert store.append([a, b, c]) == [3, 4]
        assert [e.id for _, e in store.since(0)] == [self.genesis.id, a.id, b.id, c.id]

    def test_stored_event_later_in_the_batch_satisfies_an_earlier_dep(self) -> None:
        store = self.store()
        a, b = self.chain(2)
        store.append([a])
        assert store.append([b, a]) == [3]  # a is stored: b may come first
        assert [e.id for _, e in store.since(1)] == [a.id, b.id]

    def test_random_batches_of_new_stored_and_repeated_events(self) -> None:
        # Reference model: skip what is stored or already taken from this batch; refuse the whole batch
        # (writing nothing) when an event's dep is neither stored nor taken earlier in it.
        rng = random.Random(99)
        store = self.store()
        stored: list[StoredEvent] = [self.genesis]
        ids = {self.genesis.id}
        fresh: list[StoredEvent] = []
        for _ in range(60):
            while len(fresh) < 6:
                pool = stored + fresh
                fresh.append(self.ev(*rng.sample(pool, k=min(len(pool), rng.randint(1, 2)))))
            batch = fresh[: rng.randint(0, 4)] + rng.sample(stored, k=min(len(stored), rng.randint(0, 2)))
            batch += rng.sample(batch, k=min(len(batch), rng.randint(0, 2)))  # repeats
            if rng.random() < 0.5:
                rng.shuffle(batch)
            taken: list[StoredEvent] = []
            refused = False
            for e in batch:
                if e.id in ids or e in taken:
                    continue
                if any(d not in ids and d not in {t.id for t in taken} for d in e.deps):
                    refused = True
                    break
                taken.append(e)
            before = store.count()
            if refused:
                with pytest.raises(UsageError, match="depends on"):
                    store.append(batch)
                assert store.count() == before
                continue
            assert store.append(batch) == list(range(before + 1, before + 1 + len(taken)))
            stored += taken
            ids.update(e.id for e in taken)
            fresh = [e for e in fresh if e.id not in ids]
        assert [e.id for _, e in store.since(0)] == [e.id for e in stored]
        assert store.heads() == expected_heads(stored)

    def test_missing_dependency_is_refused_and_nothing_is_written(self) -> None:
        store = self.store()
        a, b = self.chain(2)
        orphan = self.ev("sha256:" + "0" * 64)
        with pytest.raises(UsageError, match="depends on"):
            store.append([a, b, orphan])
        assert store.count() == 1 and store.heads() == {self.genesis.id}
        assert store.append([a, b]) == [2, 3]  # the good twin goes through

    def test_dependency_later_in_the_batch_is_refused(self) -> None:
        store = self.store()
        a, b = self.chain(2)
        with pytest.raises(UsageError):
            store.append([b, a])
        assert store.count() == 1
        assert store.append([a, b]) == [2, 3]

    def test_failure_mid_batch_leaves_nothing(self) -> None:
        store = self.store()
        events = self.chain(6)
        with self.inject_failure(store, events[3].id), pytest.raises(AgentCRDTError):
            store.append(events)
        assert store.count() == 1 and store.last_position() == 1
        assert store.has([e.id for e in events]) == set()
        assert store.heads() == {self.genesis.id}
        assert store.by_author_seq(events[0].author, events[0].seq) == []
        # The store is still usable and positions continue without a gap.
        assert store.append(events) == [2, 3, 4, 5, 6, 7]
        assert store.heads() == {events[-1].id}

    def _snapshot(self, store: EventStore) -> tuple[object, ...]:
        ids = [e.id for _, e in store.since(0)]
        return (
            ids,
            store.heads(),
            store.verdicts(),
            store.get_cursor("c"),
            store.get_meta("k"),
            [(r.reason, r.raw) for r in store.rejections()],
            [e.id for e in store.by_author_seq(make_author("alice"), 2)],
        )

    def test_atomic_block_that_raises_writes_nothing(self) -> None:
        store = self.store()
        a, b, c, d = self.chain(4)
        store.append_judged([a], {a.id: ("valid", "")})
        store.set_cursor("c", 1)
        store.set_meta("k", "before")
        before = self._snapshot(store)
        with pytest.raises(RuntimeError, match="refused half-way"), store.atomic():
            store.append_judged([b, c], {b.id: ("valid", ""), a.id: ("quarantined", "x")})
            store.append([d])
            store.set_verdicts({c.id: ("pending", "")})
            store.set_cursor("c", 4)
            store.set_cursor("new", 2)
            store.set_meta("k", "after")
            store.set_meta("k2", "v")
            store.record_rejection(b"junk", "malformed", "x", None)
            raise RuntimeError("refused half-way")
        assert self._snapshot(store) == before
        assert store.get_cursor("new") == 0 and store.get_meta("k2") is None
        assert store.has([b.id, c.id, d.id]) == set()
        # Nothing is left half-done: the same writes go through afterwards, positions without a gap.
        assert store.append([b, c, d]) == [3, 4, 5]
        assert store.heads() == {d.id}

    def test_atomic_blocks_nest_like_savepoints(self) -> None:
        store = self.store()
        a, b = self.chain(2)
        with store.atomic():
            store.append([a])
            store.set_meta("k", "outer")
            with pytest.raises(RuntimeError), store.atomic():
                store.append([b])
                store.set_meta("k", "inner")
                store.set_meta("k2", "inner")
                raise RuntimeError("inner only")
        assert [e.id for _, e in store.since(1)] == [a.id]
        assert (store.get_meta("k"), store.get_meta("k2")) == ("outer", None)
        assert store.heads() == {a.id}
        assert store.append([b]) == [3]

    def test_chunks_written_in_one_atomic_block_match_one_append(self) -> None:
        store = self.store()
        events = self.chain(10)
        with store.atomic():
            positions = [p for i in range(0, 10, 3) for p in store.append(events[i : i + 3])]
        assert positions == list(range(2, 12))
        assert store.heads() == {events[-1].id}

    def test_non_event_input_is_refused(self) -> None:
        store = self.store()
        a = self.ev(self.genesis)
        bad = StoredEvent(a.id, a.scope, a.author, a.seq, a.lamport, a.kind, a.deps, a.local, "text")  # type: ignore[arg-type]
        with pytest.raises(UsageError):
            store.append([bad])
        with pytest.raises(UsageError):
            store.append([a, object()])  # type: ignore[list-item]
        assert store.count() == 1

    # -- heads ----------------------------------------------------------------------------------------

    def test_heads_linear(self) -> None:
        store = self.store()
        assert store.heads() == {self.genesis.id}
        for event in self.chain(3):
            store.append([event])
            assert store.heads() == {event.id}

    def test_heads_fork_and_merge(self) -> None:
        store = self.store()
        left = self.ev(self.genesis, author=make_author("left"))
        right = self.ev(self.genesis, author=make_author("right"))
        store.append([left, right])
        assert store.heads() == {left.id, right.id}
        merge = self.ev(left, right)
        store.append([merge])
        assert store.heads() == {merge.id}

    def test_heads_exclude_local_events(self) -> None:
        store = self.store()
        (a,) = self.chain(1)
        note = self.ev(a, local=True)
        note2 = self.ev(note, local=True)
        store.append([a, note, note2])
        assert store.heads() == {a.id}
        b = self.ev(a)
        store.append([b])
        assert store.heads() == {b.id}

    def test_heads_match_a_full_recompute_on_random_dags(self) -> None:
        rng = random.Random(1234)
        store = self.store()
        stored: list[StoredEvent] = [self.genesis]
        authors = [make_author(f"peer{i}") for i in range(4)]
        for _ in range(25):
            batch: list[StoredEvent] = []
            for _ in range(rng.randint(1, 8)):
                pool = stored + batch
                shared = [e for e in pool if not e.local]
                local = rng.random() < 0.2
                deps = rng.sample(
                    pool if local else shared, k=min(len(pool if local else shared), rng.randint(1, 3))
                )
                batch.append(self.ev(*deps, author=rng.choice(authors), local=local))
            store.append(batch)
            stored.extend(batch)
            assert store.heads() == expected_heads(stored)
        assert [e.id for _, e in store.since(0)] == [e.id for e in stored]

    # -- since and cursors ----------------------------------------------------------------------------

    def test_since_orders_and_limits(self) -> None:
        store = self.store()
        events = [self.genesis, *self.chain(9)]
        store.append(events[1:])
        assert [e for _, e in store.since(0)] == events
        assert [p for p, _ in store.since(4)] == [5, 6, 7, 8, 9, 10]
        assert [p for p, _ in store.since(4, limit=2)] == [5, 6]
        assert store.since(3, limit=0) == []
        assert store.since(10) == [] and store.since(99) == []
        with pytest.raises(UsageError):
            store.since(-1)

    def test_since_pages_cover_everything_once(self) -> None:
        store = self.store()
        store.append(self.chain(23))
        seen: list[int] = []
        cursor = 0
        while page := store.since(cursor, limit=5):
            seen.extend(p for p, _ in page)
            cursor = page[-1][0]
        assert seen == list(range(1, 25))

    def test_cursors(self) -> None:
        store = self.store()
        assert store.get_cursor("search") == 0
        store.set_cursor("search", 5)
        store.set_cursor("tables", 2)
        assert (store.get_cursor("search"), store.get_cursor("tables")) == (5, 2)
        store.set_cursor("search", 1)  # may move backwards (recompute after a revocation)
        assert store.get_cursor("search") == 1
        with pytest.raises(UsageError):
            store.set_cursor("search", -1)
        assert store.get_cursor("search") == 1

    # -- side tables ------------------------------------------------------------------------------------

    def test_rejections_are_kept_outside_the_events(self) -> None:
        store = self.store()
        store.record_rejection(b"\xff\x00garbage", "decode", "not canonical JSON", None)
        store.record_rejection(b"{}", "hash_mismatch", "claimed id differs", "sha256:" + "1" * 64)
        got = store.rejections()
        assert [(r.reason, r.detail, r.raw, r.event_id) for r in got] == [
            ("decode", "not canonical JSON", b"\xff\x00garbage", None),
            ("hash_mismatch", "claimed id differs", b"{}", "sha256:" + "1" * 64),
        ]
        assert got[0].position < got[1].position
        assert store.count() == 1 and "sha256:" + "1" * 64 not in store

    def test_verdicts_of_events_the_store_does_not_hold_are_refused(self) -> None:
        store = self.store()
        (a,) = self.chain(1)
        store.append([a])
        stranger = "sha256:" + "9" * 64
        with pytest.raises(UsageError, match="does not hold"):
            store.set_verdicts({a.id: ("valid", ""), stranger: ("valid", "")})
        with pytest.raises(UsageError, match="does not hold"):
            store.append_judged([], {stranger: ("valid", "")})
        assert store.verdicts() == {}  # not even the known one

    def test_append_judged_writes_events_and_verdicts_together(self) -> None:
        store = self.store()
        a, b, c = self.chain(3)
        assert store.append_judged([a, b], {a.id: ("valid", ""), b.id: ("quarantined", "no grant")}) == [2, 3]
        assert store.verdicts([a.id, b.id]) == {a.id: ("valid", ""), b.id: ("quarantined", "no grant")}
        # A batch may also change verdicts of events stored earlier (and re-send stored events).
        assert store.append_judged([b, c], {c.id: ("valid", ""), a.id: ("quarantined", "revoked")}) == [4]
        assert store.verdicts() == {
            a.id: ("quarantined", "revoked"),
            b.id: ("quarantined", "no grant"),
            c.id: ("valid", ""),
        }
        # A bad batch stores neither its events nor its verdicts.
        d = self.ev(c)
        orphan = self.ev("sha256:" + "0" * 64)
        with pytest.raises(UsageError):
            store.append_judged([d, orphan], {d.id: ("valid", ""), a.id: ("valid", "")})
        assert store.count() == 4 and d.id not in store
        assert store.verdicts([a.id, d.id]) == {a.id: ("quarantined", "revoked")}

    def test_append_takes_verified_events_as_they_are(self) -> None:
        store = self.store()
        event = create_event(
            Identity.from_name("alice"),
            scope=self.scope,
            seq=1,
            deps=[self.genesis.id],
            lamport=2,
            time_ms=0,
            kind=OPS,
            payload={"ops": [op("Doc", "d1", "title", "lww", {"set": "hello"})]},
        )
        assert store.append_judged([event], {event.id: ("valid", "")}) == [2]
        e = event
        record = StoredEvent(e.id, e.scope, e.author, e.seq, e.lamport, e.kind, e.deps, False, e.raw)
        assert store.get(e.id) == record
        assert store.since(1) == [(2, store.get(e.id))] and store.heads() == {e.id}
        assert store.verdicts() == {e.id: ("valid", "")}

    def test_verdicts(self) -> None:
        store = self.store()
        a, b = self.chain(2)
        store.append([a, b])
        store.set_verdicts({a.id: ("valid", ""), b.id: ("pending", "grant not yet seen")})
        store.set_verdicts({b.id: ("quarantined", "revoked")})
        assert store.verdicts() == {a.id: ("valid", ""), b.id: ("quarantined", "revoked")}
        assert store.verdicts([b.id, "sha256:none"]) == {b.id: ("quarantined", "revoked")}
        with pytest.raises(UsageError):
            store.set_verdicts({a.id: ("maybe", "")})
        assert store.verdicts([a.id]) == {a.id: ("valid", "")}

    def test_meta(self) -> None:
        store = self.store()
        assert store.get_meta("scope") is None
        store.set_meta("scope", self.scope)
        store.set_meta("snapshot", "é✓" * 1000)
        store.set_meta("scope", "changed")
        assert store.get_meta("scope") == "changed"
        assert store.get_meta("snapshot") == "é✓" * 1000

    def test_by_author_seq_keeps_equivocating_events(self) -> None:
        store = self.store()
        mallory = make_author("mallory")
        one = make_event("one", scope=self.scope, deps=[self.genesis.id], author=mallory, seq=1)
        two = make_event("two", scope=self.scope, deps=[self.genesis.id], author=mallory, seq=1)
        other = self.ev(self.genesis)
        store.append([one, other])
        store.append([two])
        assert [e.id for e in store.by_author_seq(mallory, 1)] == [one.id, two.id]
        assert store.by_author_seq(mallory, 2) == []
        assert store.by_author_seq(other.author, other.seq) == [other]
        assert store.heads() == {one.id, two.id, other.id}

    # -- scale and persistence --------------------------------------------------------------------------

    def test_large_batch(self) -> None:
        store = self.store()
        events = self.chain(3000)
        positions = store.append(events)
        assert positions == list(range(2, 3002))
        assert store.heads() == {events[-1].id}
        assert store.count() == 3001
        assert store.get(events[1500].id) == events[1500]
        assert len(store.get_many(e.id for e in events)) == 3000
        assert store.has([e.id for e in events]) == {e.id for e in events}

    def test_context_manager_returns_the_store(self) -> None:
        store = self.make_store()
        self._opened.append(store)
        with store as entered:
            assert entered is store
            entered.append([self.genesis])

    def test_reopen_keeps_everything(self) -> None:
        if not self.durable:
            # Not durable: the class must say so honestly, i.e. it really cannot reopen.
            with pytest.raises(NotImplementedError):
                self.reopen(self.store())
            return
        store = self.store()
        events = self.chain(4)
        store.append(events[:2])
        store.append([*events[2:], self.ev(events[-1], local=True)])
        store.set_cursor("c", 3)
        store.record_rejection(b"bad", "decode", "d", None)
        store.set_verdicts({events[0].id: ("valid", "ok")})
        store.set_meta("k", "v")
        before = (store.since(0), store.heads(), store.count(), store.rejections())
        again = self.reopen(store)
        self._opened.append(again)
        assert (again.since(0), again.heads(), again.count(), again.rejections()) == before
        assert again.get_cursor("c") == 3 and again.get_meta("k") == "v"
        assert again.verdicts() == {events[0].id: ("valid", "ok")}
        assert again.append(events) == []
        assert again.append(self.chain(1, start=events[-1])) == [7]
