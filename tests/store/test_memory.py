from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from unittest import mock

from agentcrdt.errors import StoreError
from agentcrdt.store import EventStore, MemoryStore, StoredEvent
from agentcrdt.store.testing import StoreContract


class TestMemoryStore(StoreContract):
    durable = False

    def make_store(self) -> EventStore:
        return MemoryStore()

    @contextmanager
    def inject_failure(self, store: EventStore, event_id: str) -> Iterator[None]:
        def stage(event: StoredEvent) -> None:
            if event.id == event_id:
                raise StoreError("injected failure")

        with mock.patch.object(store, "_stage", stage):
            yield
