"""The worker's outbox: checked drafts wait here and are appended in batches, one transaction each.

A batch is committed by :func:`commit_batch`: evidence re-checked against the texts read, each proposal
appended by :func:`~agentcrdt.rooms.workflow.propose` (checked by the policy before it is written; a refused
one leaves the others alone) inside one outer transaction, so one fsync per batch; the projections catch
up after it commits (their connection cannot see, and must not wait on, the open transaction).

Batches are committed on the event loop's thread, synchronously: cancellation only lands on an
``await``, never inside a write, and no other code in the process runs between a batch's commit and its
projections' catch-up. That second point matters: projections are shared by every replica of the room,
and a replica that projects another's auto-accepted proposal before indexing it applies none of its ops
(a worker thread committing batches left tags out of the demo's projections that way). Running batches
in a thread did not speed up the agents benchmark either, once items were taken by ``concurrency`` tasks.
"""

from __future__ import annotations

import logging
import sqlite3
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

import anyio

from agentcrdt.errors import CapabilityDenied, EncodingError, InvalidEntityValue, UsageError
from agentcrdt.llm.base import ModelResponse, Usage
from agentcrdt.materialize.atoms import Reader
from agentcrdt.replica import Replica
from agentcrdt.rooms.workflow import Evidence, Provenance, propose
from agentcrdt.runtime.agent import ProposalDraft, TextKey, check_evidence
from agentcrdt.runtime.progress import Progress

__all__ = ["Outbox", "Pending", "commit_batch", "provenance_of"]

log = logging.getLogger("agentcrdt.runtime")

_MAX_RATIONALE = 8000
_COST_QUANTUM = Decimal("1e-12")


def provenance_of(response: ModelResponse[Any], prompt_hash: str) -> Provenance:
    """Return the provenance of proposals built from ``response``: model id[@version], prompt, usage."""
    version = response.model_version
    model = (
        response.model_id if not version or version in response.model_id else f"{response.model_id}@{version}"
    )
    return Provenance(
        model=model[:200],
        prompt_hash=prompt_hash,
        input_tokens=response.usage.input_tokens,
        output_tokens=response.usage.output_tokens,
        cost_usd=_cost(response.usage),
    )


def _cost(usage: Usage) -> Decimal | None:
    if usage.cost_usd is None:
        return None
    if usage.cost_usd == 0:
        return Decimal(0)
    return usage.cost_usd.quantize(_COST_QUANTUM).normalize()


@dataclass(frozen=True)
class Pending:
    """A draft waiting for the next batch, with what its evidence is checked against."""

    key: str  # the work item's key, for messages
    input_id: str
    draft: ProposalDraft
    texts: Mapping[TextKey, str]  # the texts the agent read; other quoted fields come from the projections
    provenance: Provenance
    base: tuple[str, ...]


@dataclass
class Outcome:
    """What committing one pending draft did (applied to the worker's counters on the event loop)."""

    pending: Pending
    evidence: tuple[Evidence, ...] = ()
    evidence_dropped: int = 0
    unsupported: bool = False  # it claimed evidence and none of it is verbatim: not proposed
    proposed: bool = False
    auto_accepted: bool = False
    refused: str | None = None  # the policy refused it (nothing written)
    invalid: str | None = None  # the draft itself is invalid (nothing written)
    event_id: str | None = None  # the proposal event written


def commit_batch(
    replica: Replica, slot: str, batch: Sequence[Pending], projections: sqlite3.Connection
) -> list[Outcome]:
    """Check the drafts' evidence and append them in one transaction; see the module docstring."""
    outcomes = [_checked(p, projections) for p in batch]
    with replica.batch():  # one transaction and one seal; the followers are fed once it committed
        for outcome in outcomes:
            if not outcome.unsupported:
                _append(replica, slot, outcome)
    return outcomes


def _checked(p: Pending, projections: sqlite3.Connection) -> Outcome:
    keys = {(e.entity, e.entity_id, e.field) for e in p.draft.evidence}
    texts = dict(p.texts)
    missing = keys - texts.keys()
    if missing:
        reader = Reader(projections)
        for key in missing:
            values = reader.entity(key[0], key[1])
            value = None if values is None else values.get(key[2])
            if isinstance(value, str):
                texts[key] = value
    evidence, dropped = check_evidence(p.draft.evidence, texts)
    unsupported = bool(p.draft.evidence) and not evidence
    return Outcome(p, tuple(evidence), dropped, unsupported)


def _append(replica: Replica, slot: str, outcome: Outcome) -> None:
    p = outcome.pending
    draft = p.draft
    try:
        event = propose(
            replica,
            slot=slot,
            kind=draft.kind,
            ops=draft.ops,
            rationale=draft.rationale[:_MAX_RATIONALE],
            confidence=draft.confidence,
            provenance=p.provenance,
            evidence=outcome.evidence,
            input_id=p.input_id,
            base=p.base,
        )
    except CapabilityDenied as e:
        outcome.refused = str(e)  # the replica's policy refused it before anything was written (slot, limits)
        return
    except UsageError as e:
        outcome.invalid = str(e)
        return
    except (EncodingError, InvalidEntityValue) as e:
        outcome.invalid = str(e)
        return
    outcome.proposed = True
    outcome.event_id = event.id
    outcome.auto_accepted = replica.policy_index.auto_accepted(event)


class Outbox:
    """Drafts waiting to be appended, flushed every ``flush_interval`` s or at ``batch_size`` drafts."""

    def __init__(
        self,
        replica: Replica,
        projections: sqlite3.Connection,
        *,
        slot: str,
        agent: str,
        progress: Progress,
        proposed: set[str],
        report: Callable[[], None],
        batch_size: int,
        flush_interval: float,
    ) -> None:
        self.replica = replica
        self.projections = projections
        self.slot = slot
        self.agent = agent
        self.progress = progress
        self.proposed = proposed
        self.report = report
        self.batch_size = batch_size
        self.flush_interval = flush_interval
        self._waiting: list[Pending] = []
        self._due = anyio.Event()

    def put(self, pending: Pending) -> None:
        """Queue a draft; a full batch is flushed at once (by :meth:`run`)."""
        self._waiting.append(pending)
        if len(self._waiting) >= self.batch_size:
            self._due.set()

    async def run(self) -> None:
        """Flush every ``flush_interval`` seconds, or as soon as a batch is full; until cancelled."""
        while True:
            with anyio.move_on_after(self.flush_interval):
                await self._due.wait()
            self.flush()

    def flush(self) -> None:
        """Append every queued draft in one batch (synchronous: never interrupted half way)."""
        batch, self._waiting = self._waiting, []
        self._due = anyio.Event()
        if batch:
            for outcome in commit_batch(self.replica, self.slot, batch, self.projections):
                self._count(outcome)

    def _count(self, o: Outcome) -> None:
        progress, key = self.progress, o.pending.key
        progress.evidence_dropped += o.evidence_dropped
        if o.unsupported:
            progress.unsupported += 1
            log.warning("%s: %s: no quote of the draft is in the text; not proposed", self.agent, key)
        elif o.refused is not None:
            log.error("%s: %s: proposal refused: %s", self.agent, key, o.refused)
            progress.refused += 1
            progress.last_errors = [*progress.last_errors[-9:], f"{key}: refused: {o.refused}"]
        elif o.invalid is not None:
            log.warning("%s: %s: invalid proposal: %s", self.agent, key, o.invalid)
            progress.note_error(f"{key}: invalid proposal: {o.invalid}")
        elif o.proposed:
            self.proposed.add(o.pending.input_id)
            progress.proposals += 1
            if o.auto_accepted:
                progress.auto_accepted += 1
            self.report()
