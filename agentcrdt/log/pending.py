"""A bounded buffer for events that arrived before their dependencies.

Only orphans come here: the caller appends an event whose deps are all present straight to the DAG, so
no flood of orphans can delay a valid event. When an event becomes present the caller asks the buffer
what that unblocks and appends the answer in order::

    if all(d in dag for d in deps):
        dag.add(node)
        for entry in pending.release(node.id, dag.__contains__):
            dag.add(entry.item)            # causal order: each entry's deps come before it
    else:
        record(pending.add(node.id, deps, node, size, source=peer))   # what was evicted

The buffer does not know the DAG; presence is asked through the ``is_present`` predicate, so it stays a
pure data structure over values.

Bounds: total entries, total bytes, and a per-source quota (entries and bytes) so one peer's flood
cannot push out everyone else's orphans. Eviction is deterministic and never silent: ``add`` returns
the entries it dropped and ``evicted`` counts them.
"""

from __future__ import annotations

import heapq
from collections import OrderedDict
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Generic, TypeVar

from agentcrdt.errors import UsageError

__all__ = ["PendingBuffer", "PendingEntry"]

T = TypeVar("T")

DEFAULT_MAX_ENTRIES = 10_000
DEFAULT_MAX_BYTES = 64 * 1024 * 1024


@dataclass(frozen=True, slots=True)
class PendingEntry(Generic[T]):
    """A buffered orphan. ``arrival`` increases by one per accepted ``add`` (the buffer has no clock)."""

    id: str
    deps: tuple[str, ...]
    item: T
    size: int
    source: str
    arrival: int


class PendingBuffer(Generic[T]):
    """Orphans keyed by id, bounded in entries and bytes, globally and per source.

    Per-source limits default to a quarter of the global ones.
    """

    def __init__(
        self,
        max_entries: int = DEFAULT_MAX_ENTRIES,
        max_bytes: int = DEFAULT_MAX_BYTES,
        max_entries_per_source: int | None = None,
        max_bytes_per_source: int | None = None,
    ) -> None:
        per_entries = max(1, max_entries // 4) if max_entries_per_source is None else max_entries_per_source
        per_bytes = max(1, max_bytes // 4) if max_bytes_per_source is None else max_bytes_per_source
        if min(max_entries, max_bytes, per_entries, per_bytes) < 1:
            raise UsageError("pending buffer limits must be positive integers")
        if per_entries > max_entries or per_bytes > max_bytes:
            raise UsageError("per-source pending limits must not exceed the global ones")
        self.max_entries = max_entries
        self.max_bytes = max_bytes
        self.max_entries_per_source = per_entries
        self.max_bytes_per_source = per_bytes
        self.evicted = 0  # entries dropped (or refused) because of a limit, since creation
        self._entries: dict[str, PendingEntry[T]] = {}
        self._bytes = 0
        # Per source, ids oldest first: OrderedDict pops its front in O(1), a plain dict does not.
        self._by_source: dict[str, OrderedDict[str, None]] = {}
        self._source_bytes: dict[str, int] = {}
        self._waiting: dict[str, set[str]] = {}  # dep id -> ids of entries that list it
        self._arrivals = 0

    # -- inspection -------------------------------------------------------------------------------

    def __len__(self) -> int:
        return len(self._entries)

    def __contains__(self, entry_id: object) -> bool:
        return entry_id in self._entries

    def ids(self) -> list[str]:
        """Return the ids of the buffered entries, oldest first."""
        return list(self._entries)

    def get(self, entry_id: str) -> PendingEntry[T] | None:
        """Return the buffered entry, or None."""
        return self._entries.get(entry_id)

    @property
    def bytes_used(self) -> int:
        """Return the sum of the sizes of buffered entries."""
        return self._bytes

    def usage(self, source: str) -> tuple[int, int]:
        """Return ``(entries, bytes)`` buffered for ``source``."""
        ids = self._by_source.get(source)
        return (0, 0) if ids is None else (len(ids), self._source_bytes[source])

    def missing_deps(self, is_present: Callable[[str], bool]) -> set[str]:
        """Return deps that are neither present nor buffered: the ids to ask peers for."""
        entries = self._entries
        return {d for d, ws in self._waiting.items() if ws and d not in entries and not is_present(d)}

    # -- adding and evicting ----------------------------------------------------------------------

    def add(
        self, entry_id: str, deps: Iterable[str], item: T, size_bytes: int, source: str = ""
    ) -> list[PendingEntry[T]]:
        """Buffer an orphan; return the entries dropped for room (the newcomer itself if it can never fit).

        A duplicate id is a no-op. Eviction policy, deterministic:

        1. An entry bigger than the per-source byte quota is refused outright.
        2. If the source is over its quota, its own oldest entries go first: a flooding peer only
           displaces itself. Oldest rather than the newcomer because an orphan that waited longest is
           the likeliest to be junk (its deps may never come), and refusing newcomers would let a stale
           backlog block a peer's fresh, resolvable events.
        3. If the buffer as a whole is full, the oldest entry of the heaviest source (in the exhausted
           dimension; ties: the newcomer's source, then the greatest name) goes: the biggest user pays,
           so a flooder never displaces a source lighter than itself.
        """
        if entry_id in self._entries:
            return []
        deps_t = tuple(deps)
        if entry_id in deps_t:
            raise UsageError(f"entry {entry_id} lists itself as a dep; it could never be released")
        if size_bytes < 0:
            raise UsageError("size_bytes must be >= 0")
        entry = PendingEntry(entry_id, deps_t, item, size_bytes, source, self._arrivals)
        if size_bytes > self.max_bytes_per_source:
            self.evicted += 1
            return [entry]
        dropped: list[PendingEntry[T]] = []
        count, used = self.usage(source)
        while count >= self.max_entries_per_source or used + size_bytes > self.max_bytes_per_source:
            dropped.append(self._evict_oldest(source))
            count, used = self.usage(source)
        while len(self._entries) >= self.max_entries or self._bytes + size_bytes > self.max_bytes:
            by_entries = len(self._entries) >= self.max_entries
            dropped.append(self._evict_oldest(self._heaviest(source, by_entries)))
        self._arrivals += 1
        self._entries[entry_id] = entry
        self._bytes += size_bytes
        self._by_source.setdefault(source, OrderedDict())[entry_id] = None
        self._source_bytes[source] = self._source_bytes.get(source, 0) + size_bytes
        for dep in deps_t:
            self._waiting.setdefault(dep, set()).add(entry_id)
        return dropped

    def _heaviest(self, newcomer_source: str, by_entries: bool) -> str:
        def weight(src: str) -> tuple[int, bool, str]:
            amount = len(self._by_source[src]) if by_entries else self._source_bytes[src]
            return (amount, src == newcomer_source, src)

        return max(self._by_source, key=weight)

    def _evict_oldest(self, source: str) -> PendingEntry[T]:
        oldest = next(iter(self._by_source[source]))
        self.evicted += 1
        return self._remove(oldest)

    def _remove(self, entry_id: str) -> PendingEntry[T]:
        entry = self._entries.pop(entry_id)
        self._bytes -= entry.size
        ids = self._by_source[entry.source]
        del ids[entry_id]
        if ids:
            self._source_bytes[entry.source] -= entry.size
        else:  # forget empty sources so the heaviest-source scan stays proportional to live ones
            del self._by_source[entry.source]
            del self._source_bytes[entry.source]
        for dep in entry.deps:
            waiters = self._waiting.get(dep)
            if waiters is not None:
                waiters.discard(entry_id)
                if not waiters:
                    del self._waiting[dep]
        return entry

    def drop(self, ids: Iterable[str]) -> list[PendingEntry[T]]:
        """Remove the given entries (unknown ids are ignored) and return them. Not counted as evictions."""
        return [self._remove(i) for i in dict.fromkeys(ids) if i in self._entries]

    def expire(self, predicate: Callable[[PendingEntry[T]], bool]) -> list[PendingEntry[T]]:
        """Remove and return, oldest first, the entries for which ``predicate`` holds."""
        doomed = [e.id for e in sorted(self._entries.values(), key=lambda e: e.arrival) if predicate(e)]
        return self.drop(doomed)

    # -- releasing --------------------------------------------------------------------------------

    def release(self, present_id: str, is_present: Callable[[str], bool]) -> list[PendingEntry[T]]:
        """Report that ``present_id`` is now present; remove and return what that unblocks, transitively.

        The result is in causal order (each entry after every buffered entry it depends on; among
        entries ready together, smallest id first). The caller must append them in that order; an entry
        it then fails to append leaves its dependents in the result unappendable too (add them back).
        """
        if present_id in self._entries:  # it was appended by another path; the copy is moot
            self._remove(present_id)
        released = {present_id}
        seeds = [w for w in self._waiting.get(present_id, ()) if self._ready(w, released, is_present)]
        return self._drain(seeds, released, is_present)

    def release_ready(self, is_present: Callable[[str], bool]) -> list[PendingEntry[T]]:
        """Remove and return every entry whose deps are present (or released here), in causal order.

        A full sweep, O(buffer): for recovery after deps were appended without calling ``release``.
        """
        released: set[str] = set()
        seeds = [i for i in self._entries if self._ready(i, released, is_present)]
        return self._drain(seeds, released, is_present)

    def _ready(self, entry_id: str, released: set[str], is_present: Callable[[str], bool]) -> bool:
        return all(d in released or is_present(d) for d in self._entries[entry_id].deps)

    def _drain(
        self, seeds: list[str], released: set[str], is_present: Callable[[str], bool]
    ) -> list[PendingEntry[T]]:
        # A heap of ids makes the order a function of the buffer's contents, not of set iteration.
        heap = sorted(seeds)
        queued = set(seeds)
        out: list[PendingEntry[T]] = []
        while heap:
            entry_id = heapq.heappop(heap)
            out.append(self._remove(entry_id))
            released.add(entry_id)
            for waiter in sorted(self._waiting.get(entry_id, ())):
                if waiter not in queued and self._ready(waiter, released, is_present):
                    queued.add(waiter)
                    heapq.heappush(heap, waiter)
        return out
