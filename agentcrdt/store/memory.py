"""In-memory reference implementation of the store contract; also the test double."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from typing import Any

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

_MISSING: Any = object()  # journal marker: the key had no value before the write


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
        # Inside atomic(): how to undo each write made so far, in order (None outside any block).
        self._undo: list[Callable[[], None]] | None = None

    @contextmanager
    def atomic(self) -> Iterator[None]:
        """Group writes: an exception inside the block undoes every write made in it, then propagates.

        Nested blocks behave like savepoints: a failing inner block undoes its own writes only.
        """
        with self._lock:
            outer = self._undo is None
            if outer:
                self._undo = []
            assert self._undo is not None
            mark = len(self._undo)
            try:
                yield
            except BaseException:
                while len(self._undo) > mark:
                    self._undo.pop()()
                raise
            finally:
                if outer:
                    self._undo = None

    def _journal(self, undo: Callable[[], None]) -> None:
        if self._undo is not None:
            self._undo.append(undo)

    def _truncate(self, length: int, heads: set[str]) -> None:
        """Undo appends: forget the events after position ``length`` and restore ``heads``."""
        for event in self._log[length:]:
            del self._by_id[event.id]
            ids = self._by_author_seq[(event.author, event.seq)]
            ids.remove(event.id)
            if not ids:
                del self._by_author_seq[(event.author, event.seq)]
        del self._log[length:]
        self._heads = heads

    def _drop_rejections(self, length: int) -> None:
        del self._rejections[length:]

    def _restore(self, table: dict[str, Any], old: dict[str, Any]) -> None:
        """Undo updates of ``table``: put back the ``old`` values (``_MISSING``: the key was absent)."""
        for key, value in old.items():
            if value is _MISSING:
                table.pop(key, None)
            else:
                table[key] = value

    def _journal_updates(self, table: dict[str, Any], keys: Iterable[str]) -> None:
        if self._undo is not None:
            old = {k: table.get(k, _MISSING) for k in keys}
            self._undo.append(lambda: self._restore(table, old))

    def append(self, events: Sequence[EventRecord]) -> list[int]:
        with self._lock:
            new = [_record(e) for e in plan_append(events, lambda ids: ids & self._by_id.keys())]
            for event in new:
                self._stage(event)  # everything that can fail happens before the first mutation
            start = len(self._log) + 1
            if new and self._undo is not None:
                heads = set(self._heads)
                self._undo.append(lambda: self._truncate(start - 1, heads))
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
            self._journal_updates(self._verdicts, verdicts)
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
            self._journal_updates(self._cursors, [name])
            self._cursors[name] = position

    def record_rejection(self, raw: bytes, reason: str, detail: str, event_id: str | None) -> None:
        with self._lock:
            position = len(self._rejections) + 1
            self._journal(lambda: self._drop_rejections(position - 1))
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
            self._journal_updates(self._verdicts, verdicts)
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
            self._journal_updates(self._meta, [key])
            self._meta[key] = value


def _record(event: EventRecord) -> StoredEvent:
    """Keep a StoredEvent whatever was appended: get_many() and since() hand out StoredEvents."""
    if isinstance(event, StoredEvent):
        return event
    e = event
    return StoredEvent(e.id, e.scope, e.author, e.seq, e.lamport, e.kind, e.deps, e.local, e.raw)
