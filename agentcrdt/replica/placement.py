"""Placement: where each verified event of one ingest call goes. No store, no I/O.

An event is a duplicate, a rejection (another scope, a local-only event, a causality the DAG refuses),
an orphan parked in the pending buffer until its deps arrive, or placed: added to the causal DAG with
the verdict the judge gives it (which may change an earlier verdict: an equivocation). Placing an
event releases the orphans it completes. The replica's driver (:meth:`Replica.ingest`) offers events as
their signatures verify and writes each :class:`Chunk` it takes (events, changed verdicts, rejections)
in one transaction, then feeds its followers.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field

from agentcrdt.errors import UsageError
from agentcrdt.log.dag import CausalDAG, Node
from agentcrdt.log.event import Event
from agentcrdt.log.pending import PendingBuffer
from agentcrdt.replica.judge import VALID, Judge, VerdictRow, grant_of

__all__ = ["Chunk", "IngestReport", "Placement", "Verdicts"]


@dataclass
class IngestReport:
    """What one call to :meth:`Replica.ingest` did."""

    accepted: list[str] = field(default_factory=list)
    duplicates: int = 0
    pending: int = 0
    quarantined: list[tuple[str, str, str]] = field(default_factory=list)  # (id, reason, detail)
    rejected: list[tuple[str | None, str, str]] = field(default_factory=list)  # (id or None, reason, detail)
    evicted: int = 0

    @property
    def ok(self) -> bool:
        """Tell whether nothing was rejected or quarantined."""
        return not self.rejected and not self.quarantined


class Verdicts(dict[str, VerdictRow]):
    """One call's verdicts, remembering which were set since they were last taken.

    A verdict can change after it was written: an equivocation found later in the call quarantines an
    event an earlier chunk stored. The judge sets verdicts with ``d[key] = value`` only.
    """

    def __init__(self) -> None:
        super().__init__()
        self.dirty: set[str] = set()

    def __setitem__(self, key: str, value: VerdictRow) -> None:
        self.dirty.add(key)
        super().__setitem__(key, value)

    def take_dirty(self) -> dict[str, VerdictRow]:
        """Return the verdicts set since the last call, and forget that they were."""
        out = {k: self[k] for k in self.dirty}
        self.dirty.clear()
        return out


@dataclass(frozen=True)
class Chunk:
    """What to write next: events placed since the last chunk (causal order), the verdicts set since
    (of these events, or earlier ones an equivocation changed), and input to keep as rejected."""

    events: list[Event]
    verdicts: dict[str, VerdictRow]
    rejections: list[tuple[bytes, str, str, str | None]]  # (raw, reason, detail, event id)


class Placement:
    """The placement of one ingest call, over the replica's DAG, pending buffer and judge.

    ``stored_verdict`` reads a verdict the store holds (the judge needs the earlier event's when it
    finds an equivocation); ``placing`` is where placed events wait until they are stored (the policy
    index reads proposals from it).
    """

    def __init__(
        self,
        scope: str,
        dag: CausalDAG,
        pending: PendingBuffer[Event],
        judge: Judge,
        stored_verdict: Callable[[str], VerdictRow | None],
        placing: dict[str, Event],
    ) -> None:
        self.scope = scope
        self.dag = dag
        self.pending = pending
        self.judge = judge
        self.stored_verdict = stored_verdict
        self.placing = placing
        self.report = IngestReport()
        self.events: list[Event] = []  # every event placed in this call, in causal order
        self.verdicts = Verdicts()
        #: An authority event arrived (or an earlier verdict changed): every verdict must be derived again.
        self.retro = False
        self._taken = 0
        self._rejections: list[tuple[bytes, str, str, str | None]] = []

    @property
    def ready(self) -> int:
        """Return how many placed events the next chunk holds."""
        return len(self.events) - self._taken

    def reject(self, event_id: str | None, raw: bytes, reason: str, detail: str) -> None:
        """Keep ``raw`` as rejected input (bad bytes, a bad signature...), with the reason."""
        self._rejections.append((raw, reason, detail, event_id))
        self.report.rejected.append((event_id, reason, detail))

    def offer(self, event: Event, source: str = "") -> None:
        """Place a verified event (or park it as an orphan, or reject it), then release the orphans it
        completes."""
        if event.id in self.dag or event.id in self.pending:
            self.report.duplicates += 1
            return
        if event.scope_id != self.scope:
            detail = f"event belongs to scope {event.scope_id}, not {self.scope}"
            self.reject(event.id, event.raw, "wrong_scope", detail)
            return
        if event.local:
            detail = "local-only events are never synced; a peer sent one"
            self.reject(event.id, event.raw, "local_event", detail)
            return
        queue: deque[Event] | None = None
        while True:
            if self._place_one(event, source) and len(self.pending):
                released = self.pending.release(event.id, self.dag.__contains__)
                if released:
                    queue = queue if queue is not None else deque()
                    queue.extend(entry.item for entry in released)
            if not queue:
                return
            event = queue.popleft()

    def take(self) -> Chunk:
        """Return what was placed, judged and rejected since the last chunk."""
        chunk = Chunk(self.events[self._taken :], self.verdicts.take_dirty(), self._rejections)
        self._taken, self._rejections = len(self.events), []
        return chunk

    def _place_one(self, event: Event, source: str) -> bool:
        """Place and judge one event whose turn has come; return whether it entered the DAG."""
        report = self.report
        if event.id in self.dag:
            report.duplicates += 1
            return False
        for d in event.deps:
            if d not in self.dag:
                report.evicted += len(self.pending.add(event.id, event.deps, event, len(event.raw), source))
                report.pending += 1
                return False
        try:
            self.dag.add(Node(event.id, event.deps, event.lamport, event.author, event.seq, event.local))
        except UsageError as e:
            self.reject(event.id, event.raw, "bad_causality", str(e))
            return False
        self.events.append(event)
        self.placing[event.id] = event
        verdict, retro = self.judge.judge(event, self.verdicts, self.stored_verdict)
        self.retro = self.retro or retro
        self.verdicts[event.id] = verdict
        if verdict[0] == VALID:
            self.retro = self.judge.index_valid(event, grant_of(verdict[1])) or self.retro
            report.accepted.append(event.id)
        else:
            report.quarantined.append((event.id, *verdict))
        return True
