"""A backend that implements only the ladder's abstract methods passes the whole store contract."""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping, Sequence
from contextlib import AbstractContextManager, contextmanager
from unittest import mock

from agentcrdt.errors import StoreError
from agentcrdt.store import EventStore, MemoryStore, Rejection, StoredEvent
from agentcrdt.store.base import EventRecord
from agentcrdt.store.testing import StoreContract


class AbstractOnly(EventStore):
    """Forwards the abstract methods to a MemoryStore; every derived method runs the ladder's default."""

    def __init__(self) -> None:
        self.inner = MemoryStore()

    def append(self, events: Sequence[EventRecord]) -> list[int]:
        return self.inner.append(events)

    def since(self, cursor: int, limit: int | None = None) -> list[tuple[int, StoredEvent]]:
        return self.inner.since(cursor, limit)

    def atomic(self) -> AbstractContextManager[None]:
        return self.inner.atomic()

    def get_many(self, ids: Iterable[str]) -> dict[str, StoredEvent]:
        return self.inner.get_many(ids)

    def heads(self) -> frozenset[str]:
        return self.inner.heads()

    def by_author_seq(self, author: str, seq: int) -> list[StoredEvent]:
        return self.inner.by_author_seq(author, seq)

    def set_verdicts(self, verdicts: Mapping[str, tuple[str, str]]) -> None:
        self.inner.set_verdicts(verdicts)

    def verdicts(self, ids: Iterable[str] | None = None) -> dict[str, tuple[str, str]]:
        return self.inner.verdicts(ids)

    def get_meta(self, key: str) -> str | None:
        return self.inner.get_meta(key)

    def set_meta(self, key: str, value: str) -> None:
        self.inner.set_meta(key, value)

    def record_rejection(self, raw: bytes, reason: str, detail: str, event_id: str | None) -> None:
        self.inner.record_rejection(raw, reason, detail, event_id)

    def rejections(self) -> list[Rejection]:
        return self.inner.rejections()


def test_each_rung_adds_two_or_three_abstract_methods() -> None:
    from agentcrdt.store.base import IndexedRecorder, JudgedRecorder, Recorder, TrackingRecorder

    rungs = [Recorder, IndexedRecorder, JudgedRecorder, TrackingRecorder, EventStore]
    below: frozenset[str] = frozenset()
    for rung in rungs:
        own = rung.__abstractmethods__ - below
        assert 2 <= len(own) <= 3, (rung.__name__, sorted(own))
        below = rung.__abstractmethods__
    assert AbstractOnly.__abstractmethods__ == frozenset()


class TestAbstractOnly(StoreContract):
    durable = False

    def make_store(self) -> EventStore:
        return AbstractOnly()

    @contextmanager
    def inject_failure(self, store: EventStore, event_id: str) -> Iterator[None]:
        assert isinstance(store, AbstractOnly)

        def stage(event: StoredEvent) -> None:
            if event.id == event_id:
                raise StoreError("injected failure")

        with mock.patch.object(store.inner, "_stage", stage):
            yield
