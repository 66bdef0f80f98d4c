"""The event-store contract: records, and a ladder of small interfaces up to the ``EventStore`` every
backend implements (see :class:`Recorder`).

A store keeps already-verified events (it never decodes ``raw``, never checks hashes or signatures),
assigns them contiguous cursor positions 1, 2, 3... in append order, and maintains the set of heads
incrementally. Everything else (rejections, verdicts, cursors, meta) is plain key-value bookkeeping
that the replica and materializers need to persist next to the events.
"""

from __future__ import annotations

import abc
import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass
from types import TracebackType
from typing import Self

from agentcrdt.errors import UsageError
from agentcrdt.log.event import Event

__all__ = [
    "VERDICTS",
    "EventRecord",
    "EventStore",
    "IndexedRecorder",
    "JudgedRecorder",
    "Recorder",
    "Rejection",
    "StoredEvent",
    "TrackingRecorder",
    "heads_delta",
    "plan_append",
]

# Non-empty, no whitespace (deps are stored space-joined). A regex: this runs per event on the hot path.
_ID = re.compile(r"\S+")

#: Allowed authorization verdicts (see ``EventStore.set_verdicts``).
VERDICTS = frozenset({"valid", "quarantined", "pending"})


@dataclass(frozen=True, slots=True)
class StoredEvent:
    """One event as a store sees it: routing columns plus the opaque canonical bytes."""

    id: str  # "sha256:<64 hex>"
    scope: str | None  # None only for the genesis event (whose id IS the scope id)
    author: str  # "ed25519:<64 hex>"
    seq: int  # per-author sequence, 1, 2, 3...
    lamport: int
    kind: str
    deps: tuple[str, ...]  # sorted ids
    local: bool  # local-only events are never synced (excluded from heads())
    raw: bytes  # canonical wire bytes; the store never decodes them


# What append() takes: a StoredEvent, or a verified Event (which has the same fields and is stored
# as is, without building a second record per event on the hot path).
EventRecord = StoredEvent | Event


@dataclass(frozen=True, slots=True)
class Rejection:
    """Structurally bad input kept in quarantine; it never enters the events table."""

    position: int  # increasing per store, in recording order
    reason: str  # stable machine-readable code
    detail: str
    raw: bytes
    event_id: str | None


class Recorder(abc.ABC):
    """Rung 1, the log: append events atomically and read them back in position order.

    The ladder (each rung adds two or three methods; consumers ask for the lowest rung they need):
    :class:`Recorder` → :class:`IndexedRecorder` (lookups, heads) → :class:`JudgedRecorder`
    (verdicts) → :class:`TrackingRecorder` (cursors, metadata) → :class:`EventStore` (quarantine: a
    room's whole store, what backends implement).
    """

    @abc.abstractmethod
    def append(self, events: Sequence[EventRecord]) -> list[int]:
        """Store the events not yet stored, atomically; return their new positions in append order.

        ``events`` are :class:`StoredEvent` records or verified :class:`~agentcrdt.log.event.Event`
        objects (they carry the same fields). Raises ``UsageError`` (and stores nothing) if an event's
        dep is neither stored nor earlier in the batch: the replica guarantees causal closure, so this
        only fires on a caller bug.
        """

    @abc.abstractmethod
    def since(self, cursor: int, limit: int | None = None) -> list[tuple[int, StoredEvent]]:
        """Return ``(position, event)`` for positions > ``cursor`` in position (hence causal) order."""

    @abc.abstractmethod
    def atomic(self) -> AbstractContextManager[None]:
        """Group writes into one transaction: all of them, or none if the block raises.

        The replica relies on it: a chain of events is written chunk by chunk inside one block, and an
        event refused half-way must leave none of the chain behind. Nested blocks act as savepoints (a
        failing inner block undoes its own writes only). Other processes never see a half-done block.
        """

    # -- lifecycle --------------------------------------------------------------------------------

    def close(self) -> None:  # noqa: B027 - optional hook: stores without resources need no close
        """Release resources; idempotent."""

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()


class IndexedRecorder(Recorder):
    """Rung 2, lookups: events by id, the heads, and an author's events by sequence number."""

    @abc.abstractmethod
    def get_many(self, ids: Iterable[str]) -> dict[str, StoredEvent]:
        """Return the stored events among ``ids``, keyed by id (missing ids are absent)."""

    @abc.abstractmethod
    def heads(self) -> frozenset[str]:
        """Return ids of non-local events that no stored non-local event lists in its deps."""

    @abc.abstractmethod
    def by_author_seq(self, author: str, seq: int) -> list[StoredEvent]:
        """Return every stored event by ``author`` with ``seq`` (two or more means equivocation)."""

    def last_position(self) -> int:
        """Return the position of the last stored event (0 when empty); backends answer it directly."""
        last = 0
        while batch := self.since(last, limit=10_000):
            last = batch[-1][0]
        return last

    def get(self, event_id: str) -> StoredEvent | None:
        return self.get_many([event_id]).get(event_id)

    def has(self, ids: Iterable[str]) -> set[str]:
        """Return the subset of ``ids`` that is stored."""
        return set(self.get_many(ids))

    def __contains__(self, event_id: object) -> bool:
        return isinstance(event_id, str) and bool(self.has([event_id]))

    def count(self) -> int:
        # Positions are contiguous from 1 and events are never deleted, so the last position is the count.
        return self.last_position()


class JudgedRecorder(IndexedRecorder):
    """Rung 3, verdicts: each stored event's authorization verdict, written with it."""

    @abc.abstractmethod
    def set_verdicts(self, verdicts: Mapping[str, tuple[str, str]]) -> None:
        """Upsert ``event_id -> (verdict, reason)``; verdict is one of ``VERDICTS``.

        Every id must name a stored event (``UsageError`` otherwise, and nothing is written).
        """

    @abc.abstractmethod
    def verdicts(self, ids: Iterable[str] | None = None) -> dict[str, tuple[str, str]]:
        """Return the verdicts of ``ids`` (all of them when ``ids`` is None)."""

    def append_judged(
        self, events: Sequence[EventRecord], verdicts: Mapping[str, tuple[str, str]]
    ) -> list[int]:
        """Append ``events`` and set ``verdicts`` (of these or stored events) in one transaction.

        What the replica calls: an event is never stored without its verdict. Backends that keep the
        verdict in the event's row override this to write both at once.
        """
        with self.atomic():
            positions = self.append(events)
            self.set_verdicts(verdicts)
        return positions

    def since_judged(
        self, cursor: int, limit: int | None = None
    ) -> list[tuple[int, StoredEvent, tuple[str, str] | None]]:
        """Return ``(position, event, verdict)`` like :meth:`since`, with each event's stored verdict.

        Derived from ``since`` and ``verdicts``; backends keeping verdicts in the event row read both
        in one query.
        """
        batch = self.since(cursor, limit)
        verdicts = self.verdicts([s.id for _, s in batch])
        return [(p, s, verdicts.get(s.id)) for p, s in batch]


class TrackingRecorder(JudgedRecorder):
    """Rung 4, tracking: small metadata, and named cursors (how far a consumer of the log got).

    Cursors and metadata are written only through this rung (workers, the replica's scope and seal);
    cursors default to metadata entries, and backends with a cursor table override them.
    """

    @abc.abstractmethod
    def get_meta(self, key: str) -> str | None:
        """Return the metadata value at ``key`` (None if never set)."""

    @abc.abstractmethod
    def set_meta(self, key: str, value: str) -> None:
        """Set the metadata value at ``key``."""

    def get_cursor(self, name: str) -> int:
        """Return the named cursor (0 if never set)."""
        return int(self.get_meta(f"cursor:{name}") or 0)

    def set_cursor(self, name: str, position: int) -> None:
        """Set the named cursor (may move backwards, e.g. to recompute after a revocation)."""
        check_cursor(name, position)
        self.set_meta(f"cursor:{name}", str(position))


class EventStore(TrackingRecorder):
    """Rung 5, a room's whole store: append-only, idempotent, atomic event storage for one scope, with
    the quarantine of structurally bad input beside it. What every backend implements."""

    @abc.abstractmethod
    def record_rejection(self, raw: bytes, reason: str, detail: str, event_id: str | None) -> None:
        """Keep bad input as evidence, outside the events table."""

    @abc.abstractmethod
    def rejections(self) -> list[Rejection]:
        """Return every recorded rejection in recording order."""


# -- helpers shared by the backends ---------------------------------------------------------------


def _check_event(event: object) -> EventRecord:
    # Cheap structural checks only: a wrong type would otherwise surface as an opaque driver error, or
    # (memory store) be stored silently. Ids must be whitespace-free because deps are stored joined.
    if type(event) is Event:
        return event  # built by create_event or decode_event: already checked, field by field
    if not isinstance(event, StoredEvent):
        raise UsageError(f"append() takes StoredEvent records or Events, got {type(event).__name__}")
    if not isinstance(event.id, str) or not _ID.fullmatch(event.id):
        raise UsageError(f"event id must be a non-empty string without whitespace, got {event.id!r}")
    if not isinstance(event.raw, bytes):
        raise UsageError(f"event {event.id}: raw must be bytes, got {type(event.raw).__name__}")
    if not isinstance(event.deps, tuple) or not all(isinstance(d, str) for d in event.deps):
        raise UsageError(f"event {event.id}: deps must be a tuple of id strings")
    if not isinstance(event.seq, int) or not isinstance(event.lamport, int):
        raise UsageError(f"event {event.id}: seq and lamport must be ints")
    return event


def plan_append(
    events: Sequence[EventRecord],
    present: Callable[[set[str]], set[str]],
    bound_scope: str | None = None,
    *,
    assume_new: bool = False,
) -> list[EventRecord]:
    """Validate a batch and return the events to insert, in order, without duplicates.

    ``present(ids)`` returns which of ``ids`` are already stored; backends call this inside their write
    transaction so the answer cannot go stale. Raises ``UsageError`` on a causal-closure violation, or
    when ``bound_scope`` is given and an event belongs elsewhere (the genesis event, whose scope is
    None, belongs to the scope named by its own id).

    ``assume_new``: ask ``present`` only about the deps outside the batch, and take every event of the
    batch to be new (a batch that repeats an id is still planned the careful way). Only for a backend
    that inserts under a uniqueness constraint on ids and, when it fires, rolls back and plans again
    without ``assume_new``. Fresh events, the common case, then cost one index probe each (in the
    insert) instead of two.
    """
    ids: set[str] = set()
    deps: set[str] = set()
    for event in events:
        _check_event(event)
        genesis = event.scope is None and event.id == bound_scope
        if bound_scope is not None and event.scope != bound_scope and not genesis:
            raise UsageError(
                f"event {event.id} belongs to scope {event.scope!r}, but this store is bound to "
                f"{bound_scope}; open a store for that scope"
            )
        ids.add(event.id)
        deps.update(event.deps)
    assume_new = assume_new and len(ids) == len(events)
    wanted = deps - ids if assume_new else ids | deps
    stored = present(wanted) if wanted else set()
    new: list[EventRecord] = []
    seen: set[str] = set()
    for event in events:
        if event.id in stored or event.id in seen:
            continue
        for dep in event.deps:
            if dep not in stored and dep not in seen:
                if assume_new:  # the dep may be a later event of the batch that is stored already
                    return plan_append(events, present, bound_scope)
                raise UsageError(
                    f"event {event.id} depends on {dep}, which is neither stored nor earlier in the "
                    "batch; append events in causal order (dependencies first)"
                )
        seen.add(event.id)
        new.append(event)
    return new


def heads_delta(new: Sequence[EventRecord]) -> tuple[set[str], set[str]]:
    """Return ``(added, removed)`` head ids for newly stored events.

    Causal closure means no stored event can name a newly stored one in its deps, so every new
    non-local event is a head unless a later event of the same batch covers it.
    """
    removed: set[str] = set()
    added: set[str] = set()
    for event in new:
        if not event.local:
            removed.update(event.deps)
            added.add(event.id)
    return added - removed, removed


def check_cursor(name: str, position: int) -> None:
    if not isinstance(name, str) or not name:
        raise UsageError(f"cursor name must be a non-empty string, got {name!r}")
    if not isinstance(position, int) or position < 0:
        raise UsageError(f"cursor position must be an int >= 0, got {position!r}")


def check_verdicts(verdicts: Mapping[str, tuple[str, str]]) -> None:
    for event_id, (verdict, _reason) in verdicts.items():
        if verdict not in VERDICTS:
            raise UsageError(f"verdict for {event_id} must be one of {sorted(VERDICTS)}, got {verdict!r}")


def unknown_verdict_ids(unknown: Iterable[str]) -> UsageError:
    """Return the error for verdicts naming events the store does not hold."""
    shown = sorted(unknown)
    return UsageError(
        f"cannot set verdicts of {len(shown)} event(s) this store does not hold (first: {shown[0]}); "
        "append the events first (append_judged does both in one transaction)"
    )


def check_since(cursor: int, limit: int | None) -> None:
    if not isinstance(cursor, int) or cursor < 0:
        raise UsageError(f"since() cursor must be an int >= 0, got {cursor!r}")
    if limit is not None and (not isinstance(limit, int) or limit < 0):
        raise UsageError(f"since() limit must be None or an int >= 0, got {limit!r}")
