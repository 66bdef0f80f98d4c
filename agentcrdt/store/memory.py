"""In-memory reference implementation of the store contract; also the test double."""

from __future__ import annotations

import threading
from collections.abc import Iterable, Mapping, Sequence

from agentcrdt.store.base import (
    EventRecord,
    EventStore,
    Rejection,
    StoredEvent,
    check_cursor,
    check_since,
    check_verdicts,
    heads_delta,
    plan_append,
    unknown_verdict_ids,
)

__all__ = ["MemoryStore"]


class MemoryStore(EventStore):
    """Keeps everything in dicts and lists; nothing survives the process."""

    def __init__(self) -> None:
        self._lock = threading.RLock()
        self._log: list[StoredEvent] = []  # position p is self._log[p - 1]
        self._by_id: dict[str, StoredEvent] = {}
        self._by_author_seq: dict[tuple[str, int], list[str]] = {}
        self._heads: set[str] = set()
        self._cursors: dict[str, int] = {}
        self._rejections: list[Rejection] = []
        self._verdicts: dict[str, tuple[str, str]] = {}
        self._meta: dict[str, str] = {}

    def append(self, events: Sequence[EventRecord]) -> list[int]:
        with self._lock:
            new = [_record(e) for e in plan_append(events, lambda ids: ids & self._by_id.keys())]
            for event in new:
                self._stage(event)  # everything that can fail happens before the first mutation
            start = len(self._log) + 1
            for event in new:
                self._log.append(event)
                self._by_id[event.id] = event
                self._by_author_seq.setdefault((event.author, event.seq), []).append(event.id)
            added, removed = heads_delta(new)
            self._heads -= removed
            self._heads |= added
            return list(range(start, start + len(new)))

    def append_judged(
        self, events: Sequence[EventRecord], verdicts: Mapping[str, tuple[str, str]]
    ) -> list[int]:
        check_verdicts(verdicts)
        with self._lock:
            # Everything that can fail is checked before anything is written: no partial batch.
            unknown = verdicts.keys() - self._by_id.keys() - {e.id for e in events}
            if unknown:
                raise unknown_verdict_ids(unknown)
            positions = self.append(events)
            self._verdicts.update(verdicts)
            return positions

    def _stage(self, event: StoredEvent) -> None:
        """Per-event hook run before any mutation (the contract suite patches it to inject failures)."""

    def get_many(self, ids: Iterable[str]) -> dict[str, StoredEvent]:
        with self._lock:
            return {i: self._by_id[i] for i in ids if i in self._by_id}

    def heads(self) -> frozenset[str]:
        with self._lock:
            return frozenset(self._heads)

    def since(self, cursor: int, limit: int | None = None) -> list[tuple[int, StoredEvent]]:
        check_since(cursor, limit)
        with self._lock:
            end = len(self._log) if limit is None else min(len(self._log), cursor + limit)
            return [(p + 1, self._log[p]) for p in range(cursor, end)]

    def by_author_seq(self, author: str, seq: int) -> list[StoredEvent]:
        with self._lock:
            return [self._by_id[i] for i in self._by_author_seq.get((author, seq), [])]

    def last_position(self) -> int:
        return len(self._log)

    def get_cursor(self, name: str) -> int:
        with self._lock:
            return self._cursors.get(name, 0)

    def set_cursor(self, name: str, position: int) -> None:
        check_cursor(name, position)
        with self._lock:
            self._cursors[name] = position

    def record_rejection(self, raw: bytes, reason: str, detail: str, event_id: str | None) -> None:
        with self._lock:
            position = len(self._rejections) + 1
            self._rejections.append(Rejection(position, reason, detail, bytes(raw), event_id))

    def rejections(self) -> list[Rejection]:
        with self._lock:
            return list(self._rejections)

    def set_verdicts(self, verdicts: Mapping[str, tuple[str, str]]) -> None:
        check_verdicts(verdicts)
        with self._lock:
            unknown = verdicts.keys() - self._by_id.keys()
            if unknown:
                raise unknown_verdict_ids(unknown)
            self._verdicts.update({k: (v, r) for k, (v, r) in verdicts.items()})

    def verdicts(self, ids: Iterable[str] | None = None) -> dict[str, tuple[str, str]]:
        with self._lock:
            if ids is None:
                return dict(self._verdicts)
            return {i: self._verdicts[i] for i in ids if i in self._verdicts}

    def get_meta(self, key: str) -> str | None:
        with self._lock:
            return self._meta.get(key)

    def set_meta(self, key: str, value: str) -> None:
        with self._lock:
            self._meta[key] = value


def _record(event: EventRecord) -> StoredEvent:
    """Keep a StoredEvent whatever was appended: get_many() and since() hand out StoredEvents."""
    if isinstance(event, StoredEvent):
        return event
    e = event
    return StoredEvent(e.id, e.scope, e.author, e.seq, e.lamport, e.kind, e.deps, e.local, e.raw)
