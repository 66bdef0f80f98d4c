"""Audit: re-derive every id and signature of a stored log and check the DAG.

``verify`` walks the events in store order (which is causal order) and stops at the first event that
does not verify, naming it. Equivocations (one author, one seq, two events) are not tampering: both
events are legitimately kept as proof, so they are reported as findings of an intact log.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Protocol

from agentcrdt.errors import RejectedEvent
from agentcrdt.log.event import decode_event

__all__ = ["AuditFailure", "AuditReport", "LogVerifier", "StoredLike", "verify_log"]


class StoredLike(Protocol):
    """What audit needs of a stored event: the raw bytes and the index columns kept beside them."""

    @property
    def id(self) -> str: ...
    @property
    def scope(self) -> str | None: ...
    @property
    def author(self) -> str: ...
    @property
    def seq(self) -> int: ...
    @property
    def lamport(self) -> int: ...
    @property
    def kind(self) -> str: ...
    @property
    def deps(self) -> Sequence[str]: ...
    @property
    def local(self) -> bool: ...
    @property
    def raw(self) -> bytes: ...


@dataclass(frozen=True, slots=True)
class AuditFailure:
    """The first event that does not verify."""

    position: int
    event_id: str
    reason: str
    detail: str


@dataclass
class AuditReport:
    """The outcome of an audit."""

    events: int = 0
    authors: set[str] = field(default_factory=set)
    kinds: dict[str, int] = field(default_factory=dict)
    heads: frozenset[str] = frozenset()
    scope: str | None = None
    equivocations: list[tuple[str, str]] = field(default_factory=list)
    failure: AuditFailure | None = None

    @property
    def intact(self) -> bool:
        """Tell whether every event verified and the DAG is consistent."""
        return self.failure is None


class LogVerifier:
    """A resumable audit: feed it the log in store order, as it grows; it verifies each event once.

    What it knows of the log so far (each event's Lamport time, the shared events' children, the
    sequence numbers seen) is what the next events are checked against, so feeding the events after
    position ``p`` continues exactly where a full :func:`verify_log` run would be at ``p``. It trusts
    that rows it already verified did not change since: run a fresh one to check that.
    """

    def __init__(self) -> None:
        self.report = AuditReport()
        self.position = 0  # the last store position verified
        self._lamports: dict[str, int] = {}
        self._children: set[str] = set()
        self._seqs: dict[tuple[str, int], str] = {}
        self._local: set[str] = set()

    def feed(self, events: Iterable[tuple[int, StoredLike]]) -> AuditReport:
        """Verify ``(position, event)`` pairs following the last one fed; stop at the first bad event
        (after a failure, nothing more is verified: the report names it)."""
        report = self.report
        if report.failure is not None:
            return report
        for position, stored in events:
            failure = self._check(position, stored)
            if failure is not None:
                report.failure = failure
                break
            self.position = position
        report.heads = frozenset(
            i for i in self._lamports if i not in self._children and i not in self._local
        )
        return report

    def check_heads(self, stored_heads: frozenset[str]) -> AuditFailure | None:
        """Compare the heads the store keeps with those the verified events imply."""
        if self.report.failure is None and stored_heads != self.report.heads:
            return AuditFailure(
                0, "-", "heads_mismatch", "the store's heads differ from the heads the events imply"
            )
        return None

    def _check(self, position: int, stored: StoredLike) -> AuditFailure | None:
        report, lamports = self.report, self._lamports
        try:
            event = decode_event(stored.raw, expected_id=stored.id)
        except RejectedEvent as e:
            return AuditFailure(position, stored.id, e.reason, e.detail)
        mismatch = [
            name
            for name, a, b in (
                ("scope", stored.scope, event.scope),
                ("author", stored.author, event.author),
                ("seq", stored.seq, event.seq),
                ("lamport", stored.lamport, event.lamport),
                ("kind", stored.kind, event.kind),
                ("deps", tuple(stored.deps), event.deps),
                ("local", stored.local, event.local),
            )
            if a != b
        ]
        if mismatch:
            detail = f"stored columns differ from the signed core: {mismatch}"
            return AuditFailure(position, stored.id, "index_mismatch", detail)
        if report.scope is None:
            if event.kind != "genesis":
                return AuditFailure(
                    position, event.id, "no_genesis", "the first stored event is not a genesis event"
                )
            report.scope = event.id
        elif event.scope_id != report.scope:
            return AuditFailure(position, event.id, "wrong_scope", f"event belongs to scope {event.scope_id}")
        absent = [d for d in event.deps if d not in lamports]
        if absent:
            return AuditFailure(
                position, event.id, "missing_deps", f"deps not stored before it: {absent[:3]}"
            )
        expected = 1 + max((lamports[d] for d in event.deps), default=0)
        if event.lamport != expected:
            return AuditFailure(
                position, event.id, "bad_lamport", f"lamport {event.lamport}, deps imply {expected}"
            )
        if not event.local and any(d in self._local for d in event.deps):
            return AuditFailure(
                position, event.id, "local_dep", "a shared event depends on a local-only event"
            )
        lamports[event.id] = event.lamport
        if event.local:
            self._local.add(event.id)
        else:
            self._children.update(event.deps)
        # Local-only events number their own sequence (peers never see them), so only shared ones count.
        prior = event.id if event.local else self._seqs.setdefault((event.author, event.seq), event.id)
        if prior != event.id:
            report.equivocations.append((prior, event.id))
        report.events += 1
        report.authors.add(event.author)
        report.kinds[event.kind] = report.kinds.get(event.kind, 0) + 1
        return None


def verify_log(
    events: Iterable[tuple[int, StoredLike]], *, stored_heads: frozenset[str] | None = None
) -> AuditReport:
    """Verify ``(position, event)`` pairs in store order; stop at the first bad event."""
    verifier = LogVerifier()
    report = verifier.feed(events)
    if stored_heads is not None:
        report.failure = report.failure or verifier.check_heads(stored_heads)
    return report
