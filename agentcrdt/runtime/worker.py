"""The worker: an anyio service that runs one agent against one room and appends its proposals.

Each round: take in what other processes appended (``replica.refresh()`` and the projections' catch-up),
bring the retrieval index up to date, run the agent's ``select`` against a :class:`Reader` (recording what
it read), skip every item whose ``input_id`` already has a proposal by this author, and process the rest
with at most ``concurrency`` model calls in flight. Checked proposals are queued and appended in batches
(every ``flush_interval`` seconds, every ``batch_size`` proposals, and at the end of a round), each by
:func:`agentcrdt.workflow.propose` inside one outer transaction: one fsync per batch. Commits are
synchronous, so cancellation only lands on an ``await`` (a model call), never inside a write: a stopped
worker never leaves half a proposal; queued ones are flushed even when the round is cancelled.

Processing is at-least-once: the durable cursor ``worker:<agent>:<author>`` (in the store) moves to the
position a round started from only once every item of that round was handled; the ``input_id`` makes a
repeated round propose nothing twice. Between rounds the worker waits for a change the agent's reads
depend on (its "lazy atom": a follower listener checking the recorded reads) or for the log to move,
polling ``refresh()`` every ``poll_interval`` seconds to see other processes' appends.
"""

from __future__ import annotations

import logging
import signal
import sys
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Any

import anyio
import anyio.abc

from agentcrdt.errors import EncodingError, InvalidEntityValue, ModelError, UsageError
from agentcrdt.llm.base import Model, ModelResponse, ModelSettings, Usage
from agentcrdt.local import open_local
from agentcrdt.log.event import Event
from agentcrdt.log.keys import Identity
from agentcrdt.materialize.atoms import Reader
from agentcrdt.materialize.follower import SQLiteFollower, Touched
from agentcrdt.replica import Replica
from agentcrdt.retrieval import Embedder
from agentcrdt.runtime.agent import Agent, ProposalDraft, TextKey, WorkItem, check_evidence
from agentcrdt.runtime.context import Retrieval, open_retrieval
from agentcrdt.runtime.progress import Progress
from agentcrdt.runtime.prompts import PromptTemplate, default_prompt_dirs, load_prompt
from agentcrdt.workflow import Evidence, Provenance, propose

__all__ = ["ProgressCallback", "Worker", "proposed_inputs", "slot_problem"]

log = logging.getLogger("agentcrdt.runtime")

ProgressCallback = Callable[[Progress, bool], None]
RoomSource = str | Path | Replica | Callable[[], Replica]
_MAX_RATIONALE = 8000
_COST_QUANTUM = Decimal("1e-12")


def proposed_inputs(replica: Replica, author: str, slot: str) -> set[str]:
    """Return the ``input`` ids of ``author``'s valid proposals under ``slot``."""
    replica.dag  # noqa: B018  (loads the authority index)
    return {e.payload["input"] for e in replica.authority.earlier_proposals(author, sys.maxsize, slot)}


def slot_problem(replica: Replica, author: str, slot: str) -> str | None:
    """Explain why ``author`` cannot propose under ``slot`` now (None when an active grant allows it)."""
    replica.dag  # noqa: B018
    if author in replica.genesis.payload["owners"]:
        return None
    grants = replica.authority.grants_to(author)
    if any(g.capability.slot == slot and not replica.authority.revocations_of(g.event.id) for g in grants):
        return None
    held = sorted({g.capability.slot for g in grants if not replica.authority.revocations_of(g.event.id)})
    has = f" (its active grants: {', '.join(held)})" if held else ""
    return (
        f"{author} holds no active grant for slot {slot!r} in this room{has}; nothing was proposed. "
        f"An owner must grant it that slot first (agentcrdt grant, or workflow.grant(replica, author, cap))."
    )


class _LazyAtom:
    """An atom that re-runs its query on demand: the follower only marks it dirty.

    :class:`~agentcrdt.materialize.Atom` re-runs at once on every relevant change; a worker needs the
    result only when it starts a round, and its own commits would otherwise re-run the query per proposal.
    """

    def __init__(self, follower: SQLiteFollower, query: Callable[[Reader], list[WorkItem]]) -> None:
        self.follower = follower
        self.query = query
        self.reader: Reader | None = None
        self.dirty = True
        self.on_change: Callable[[], None] | None = None
        follower.listeners.append(self._touched)

    def run(self) -> list[WorkItem]:
        reader = Reader(self.follower.db)
        self.dirty = False
        try:
            items = self.query(reader)
        except BaseException:
            self.dirty = True
            raise
        self.reader = reader
        return items

    def _touched(self, touched: Touched) -> None:
        if self.reader is None or self.reader.depends_on(touched):
            self.dirty = True
            if self.on_change is not None:
                self.on_change()

    def close(self) -> None:
        if self._touched in self.follower.listeners:
            self.follower.listeners.remove(self._touched)


@dataclass(frozen=True)
class _Pending:
    """A proposal checked and built, waiting for the next batch commit."""

    key: str
    input_id: str
    draft: ProposalDraft
    evidence: tuple[Evidence, ...]
    provenance: Provenance
    base: tuple[str, ...]


def _cost(usage: Usage) -> Decimal | None:
    if usage.cost_usd is None:
        return None
    if usage.cost_usd == 0:
        return Decimal(0)
    return usage.cost_usd.quantize(_COST_QUANTUM).normalize()


class Worker:
    """Run ``agent`` with ``model`` against a room; see the module docstring.

    ``room`` is the room's SQLite file (opened with ``identity``), an open :class:`Replica` with an
    identity, or a function returning one. ``embedder`` enables retrieval for agents that declare
    ``retrieval_sources``. ``on_progress(progress, force)`` is called as work advances.
    """

    def __init__(
        self,
        room: RoomSource,
        agent: Agent,
        model: Model,
        *,
        identity: Identity | None = None,
        embedder: Embedder | None = None,
        concurrency: int = 4,
        poll_interval: float = 0.5,
        shutdown_grace: float = 10.0,
        max_rounds: int = 8,
        batch_size: int = 64,
        flush_interval: float = 0.05,
        prompt_dirs: Sequence[Path] | None = None,
        settings: ModelSettings | None = None,
        on_progress: ProgressCallback | None = None,
    ) -> None:
        agent.check_definition()
        if concurrency < 1:
            raise UsageError(f"concurrency must be at least 1, got {concurrency}")
        self.agent = agent
        self.model = model
        self.identity = identity
        self.embedder = embedder
        self.concurrency = concurrency
        self.poll_interval = poll_interval
        self.shutdown_grace = shutdown_grace
        self.max_rounds = max_rounds
        self.batch_size = batch_size
        self.flush_interval = flush_interval
        self._outbox: list[_Pending] = []
        self.settings = settings or agent.settings
        self.on_progress = on_progress
        dirs = prompt_dirs if prompt_dirs is not None else default_prompt_dirs(agent.source_path)
        self.prompt: PromptTemplate = load_prompt(agent.prompt, dirs)
        self.progress = Progress(agent.name)
        self.limiter = anyio.CapacityLimiter(concurrency)
        self._room = room
        self._replica: Replica | None = None
        self._owns_replica = False
        self._atom: _LazyAtom | None = None
        self.retrieval: Retrieval | None = None
        self._cursor = 0  # durable: every event up to here was considered
        self._seen = 0  # in memory: the position the last round started from
        self._handled: set[str] = set()  # input ids processed by this process (proposed, empty, failed)
        self._proposed: set[str] = set()
        self._blocked: str | None = None
        self._stopping = False
        self._idle = False
        self._wake = anyio.Event()
        self._stop_event = anyio.Event()
        self._changed = anyio.Event()
        self._scope: anyio.CancelScope | None = None

    # -- opening ------------------------------------------------------------------------------------

    @property
    def replica(self) -> Replica:
        """Return the replica, opening the room on first use."""
        if self._replica is None:
            self._open()
        assert self._replica is not None
        return self._replica

    @property
    def author(self) -> str:
        """Return the author string the worker signs with."""
        identity = self.replica.identity
        assert identity is not None
        return identity.author

    @property
    def cursor_name(self) -> str:
        """Return the name of the durable cursor in the store."""
        return f"worker:{self.agent.name}:{self.author}"

    @property
    def cursor(self) -> int:
        """Return the durable cursor: the store position through which every event was considered."""
        return self._cursor

    def _open(self) -> None:
        if self._replica is not None:
            return
        room = self._room
        if isinstance(room, Replica):
            replica = room
        elif isinstance(room, str | Path):
            replica = open_local(room, identity=self.identity, entities=self.agent.entities)
            self._owns_replica = True
        else:
            replica = room()
        if replica.identity is None:
            raise UsageError("the worker's replica has no identity: pass identity=Identity.load(key_path)")
        follower = next((f for f in replica.followers if isinstance(f, SQLiteFollower)), None)
        if follower is None:
            raise UsageError("the worker needs a replica with SQLite projections: open it with open_local()")
        self._replica = replica
        self._atom = _LazyAtom(follower, self.agent.select)
        self._atom.on_change = self._wake_up
        if self.embedder is not None and self.agent.retrieval_sources:
            path = getattr(replica.store, "path", None)
            if not isinstance(path, str):
                raise UsageError("retrieval needs the room's SQLite file; open the room with open_local()")
            self.retrieval = open_retrieval(path, self.embedder, self.agent.retrieval_sources)
        store = replica.store
        meta_key = f"{self.cursor_name}:prompt"
        # The cursor says "everything up to here was handled with this prompt"; a new prompt re-reads all.
        same_prompt = store.get_meta(meta_key) == self.prompt.hash
        self._cursor = store.get_cursor(self.cursor_name) if same_prompt else 0
        if not same_prompt:
            store.set_meta(meta_key, self.prompt.hash)
        self._seen = self._cursor
        # Nothing new since the cursor (and the same prompt): no need to run select() before a change.
        self._atom.dirty = self._cursor < store.last_position()

    def close(self) -> None:
        """Release what the worker opened (the replica only if it opened it from a path)."""
        if self._atom is not None:
            self._atom.close()
            self._atom = None
        if self.retrieval is not None:
            self.retrieval.close()
            self.retrieval = None
        if self._replica is not None and self._owns_replica:
            for f in self._replica.followers:
                if isinstance(f, SQLiteFollower):
                    f.close()
            self._replica.store.close()
        self._replica = None

    # -- state and waiting --------------------------------------------------------------------------

    def _wake_up(self) -> None:
        self._wake.set()

    def _signal_change(self) -> None:
        self._changed.set()
        self._changed = anyio.Event()

    def _report(self, force: bool = False) -> None:
        if self.on_progress is not None:
            self.on_progress(self.progress, force)

    @property
    def idle(self) -> bool:
        """Tell whether the worker is waiting for changes (no round in progress)."""
        return self._idle

    async def wait_idle(self, position: int | None = None) -> None:
        """Wait until the worker is idle having considered the log through ``position`` (default: now)."""
        target = self.replica.store.last_position() if position is None else position
        while not (self._idle and self._seen >= target) and not self._stopping:
            await self._changed.wait()

    def stop(self) -> None:
        """Ask the worker to stop: no new model calls; in-flight ones get ``shutdown_grace`` seconds."""
        self._stopping = True
        self._stop_event.set()
        self._wake.set()
        self._signal_change()

    def _sync(self) -> int:
        replica = self.replica
        replica.dag  # noqa: B018
        replica.refresh()
        for follower in replica.followers:
            follower.catch_up(replica)
        return replica.store.last_position()

    # -- running ------------------------------------------------------------------------------------

    async def run_once(self) -> Progress:
        """Process what the room holds now, then return; UsageError if the slot is not granted."""
        self._open()
        self._sync()
        problem = slot_problem(self.replica, self.author, self.agent.capability.slot)
        if problem is not None:
            raise UsageError(f"{self.agent.name}: {problem}")
        # Rounds until nothing new: our own auto-accepted proposals may touch what select() read, and
        # only a round that finds nothing to do can move the cursor past them.
        for _ in range(self.max_rounds):
            if await self._round() == 0 and not self._dirty():
                break
        self._report(force=True)
        return self.progress

    async def run(
        self,
        *,
        task_status: anyio.abc.TaskStatus[None] = anyio.TASK_STATUS_IGNORED,
        handle_signals: bool = True,
    ) -> Progress:
        """Follow the room until :meth:`stop` (or SIGINT/SIGTERM when ``handle_signals``)."""
        self._open()
        async with anyio.create_task_group() as tg:
            self._scope = tg.cancel_scope
            if handle_signals:
                await tg.start(self._signals)
            tg.start_soon(self._poll)
            tg.start_soon(self._reaper, tg.cancel_scope)
            task_status.started()
            while not self._stopping:
                self._idle = False
                await self._round()
                self._idle = True
                self._report(force=True)
                self._signal_change()
                await self._wake.wait()  # stop() sets it too
                self._wake = anyio.Event()
            tg.cancel_scope.cancel()
        self._idle = True
        self._signal_change()
        self._report(force=True)
        return self.progress

    async def _signals(self, *, task_status: anyio.abc.TaskStatus[None] = anyio.TASK_STATUS_IGNORED) -> None:
        with anyio.open_signal_receiver(signal.SIGINT, signal.SIGTERM) as signals:
            task_status.started()
            async for signum in signals:
                if self._stopping and self._scope is not None:
                    log.warning("%s: second signal: cancelling in-flight model calls", self.agent.name)
                    self._scope.cancel()
                    return
                log.warning("%s: %s: finishing in-flight calls, then stopping", self.agent.name, signum.name)
                self.stop()

    async def _reaper(self, scope: anyio.CancelScope) -> None:
        await self._stop_event.wait()
        with anyio.move_on_after(self.shutdown_grace):
            while self._idle is False:  # the round in progress ends by itself, or is cancelled below
                await self._changed.wait()
            return
        scope.cancel()

    async def _poll(self) -> None:
        while True:
            await anyio.sleep(self.poll_interval)
            if self._sync() > self._seen:
                self._wake.set()

    def _dirty(self) -> bool:
        return self._atom is not None and self._atom.dirty

    async def _round(self) -> int:
        """Run one round; return how many items it took up."""
        replica = self.replica
        position = self._sync()
        problem = slot_problem(replica, self.author, self.agent.capability.slot)
        if problem is not None:
            if problem != self._blocked:
                log.error("%s: %s", self.agent.name, problem)
                self.progress.last_errors.append(problem)
            self._blocked = problem
            self._seen = position  # wait for the log to move (a grant) before checking again
            return 0
        self._blocked = None
        if self.retrieval is not None:
            self.retrieval.catch_up(replica)
        self.progress.rounds += 1
        assert self._atom is not None
        taken, complete = 0, True
        if self._atom.dirty or position > self._cursor:
            taken, complete = await self._process_selected(sorted(replica.heads))
        self._seen = max(self._seen, position)
        if complete and not self._stopping and position > self._cursor:
            replica.store.set_cursor(self.cursor_name, position)
            self._cursor = position
        return taken

    async def _process_selected(self, heads: list[str]) -> tuple[int, bool]:
        assert self._atom is not None
        try:
            items = self._atom.run()
        except Exception as e:
            log.exception("%s: select() failed", self.agent.name)
            self.progress.note_error(f"select() failed: {e}")
            return 0, False
        self._proposed |= proposed_inputs(self.replica, self.author, self.agent.capability.slot)
        todo: dict[str, WorkItem] = {}
        for item in items:
            input_id = item.input_id(self.agent.name, self.prompt.hash)
            if input_id in self._handled or input_id in todo:
                continue
            if input_id in self._proposed:
                self.progress.skipped += 1
                self._handled.add(input_id)
                continue
            todo[input_id] = item
        if not todo:
            return 0, True
        self.progress.items_total += len(todo)
        done: list[str] = []
        try:
            async with anyio.create_task_group() as outer:
                outer.start_soon(self._flusher)
                async with anyio.create_task_group() as tg:
                    for input_id, item in todo.items():
                        tg.start_soon(self._process, item, input_id, heads, done)
                outer.cancel_scope.cancel()
        finally:
            self._flush()  # synchronous: runs even when cancelled, and never writes half a proposal
        return len(todo), len(done) == len(todo)

    async def _flusher(self) -> None:
        while True:
            await anyio.sleep(self.flush_interval)
            self._flush()

    async def _process(self, item: WorkItem, input_id: str, heads: list[str], done: list[str]) -> None:
        async with self.limiter:
            if self._stopping:
                return
            try:
                variables = self.agent.context(item, self.retrieval)
                messages = self.prompt.render({"agent": self.agent.name, "item": item, **variables})
                context = self.agent.model_context(item, variables)
            except Exception as e:
                self._failed(item, input_id, f"preparing the prompt failed: {e}", done)
                return
            try:
                if context is None:
                    response: ModelResponse[Any] = await self.model.request(
                        messages, self.agent.output, self.settings
                    )
                else:
                    response = await self.model.request(
                        messages, self.agent.output, self.settings, context=context
                    )
            except ModelError as e:
                self._failed(item, input_id, f"model error: {e}", done)
                return
            except Exception as e:  # a bug in a model or adapter: one item fails, the worker goes on
                log.exception("%s: %s: unexpected model failure", self.agent.name, item.key)
                self._failed(item, input_id, f"unexpected model failure: {e!r}", done)
                return
        self._account(response.usage)
        try:
            drafts = self.agent.proposals(item, response.output)
        except Exception as e:
            self._failed(item, input_id, f"proposals() failed: {e}", done)
            return
        self._emit(item, input_id, heads, drafts, response)
        self._handled.add(input_id)
        done.append(input_id)
        self.progress.items_done += 1
        self._report()

    def _failed(self, item: WorkItem, input_id: str, message: str, done: list[str]) -> None:
        log.warning("%s: %s: %s", self.agent.name, item.key, message)
        self.progress.note_error(f"{item.key}: {message}")
        # Not retried by this process until the input changes; a restart retries it.
        self._handled.add(input_id)
        done.append(input_id)
        self.progress.items_done += 1
        self._report()

    def _account(self, usage: Usage) -> None:
        p = self.progress
        p.input_tokens += usage.input_tokens
        p.output_tokens += usage.output_tokens
        p.cost_usd = None if p.cost_usd is None or usage.cost_usd is None else p.cost_usd + usage.cost_usd

    def _texts(self, item: WorkItem, keys: set[TextKey]) -> dict[TextKey, str]:
        texts = dict(item.texts)
        assert self._atom is not None
        reader = Reader(self._atom.follower.db)
        for key in keys - texts.keys():
            values = reader.entity(key[0], key[1])
            value = None if values is None else values.get(key[2])
            if isinstance(value, str):
                texts[key] = value
        return texts

    def _emit(
        self,
        item: WorkItem,
        input_id: str,
        heads: list[str],
        drafts: Sequence[ProposalDraft],
        response: ModelResponse[Any],
    ) -> None:
        version = response.model_version
        model = (
            response.model_id
            if not version or version in response.model_id
            else f"{response.model_id}@{version}"
        )
        provenance = Provenance(
            model=model[:200],
            prompt_hash=self.prompt.hash,
            input_tokens=response.usage.input_tokens,
            output_tokens=response.usage.output_tokens,
            cost_usd=_cost(response.usage),
        )
        for draft in drafts:
            keys = {(e.entity, e.entity_id, e.field) for e in draft.evidence}
            evidence, dropped = check_evidence(draft.evidence, self._texts(item, keys))
            self.progress.evidence_dropped += dropped
            if draft.evidence and not evidence:
                self.progress.unsupported += 1
                log.warning(
                    "%s: %s: no quote of the draft is in the text; not proposed", self.agent.name, item.key
                )
                continue
            self._queue(_Pending(item.key, input_id, draft, tuple(evidence), provenance, tuple(heads)))

    def _queue(self, pending: _Pending) -> None:
        self._outbox.append(pending)
        if len(self._outbox) >= self.batch_size:
            self._flush()

    def _flush(self) -> None:
        """Sign and append the queued proposals in one transaction: one fsync, one projection pass.

        Each proposal is still committed by :func:`~agentcrdt.workflow.propose` (checked by the policy
        before it is written; a refused one leaves the others alone), inside an outer transaction. The
        projections run after it commits: their connection cannot see, and must not wait on, the open
        transaction.
        """
        batch, self._outbox = self._outbox, []
        if not batch:
            return
        replica = self.replica
        followers, replica.followers = replica.followers, []
        try:
            with replica.store.atomic():
                for p in batch:
                    self._commit_one(p)
        finally:
            replica.followers = followers
        for follower in followers:
            follower.catch_up(replica)

    def _commit_one(self, p: _Pending) -> None:
        draft = p.draft
        try:
            event = propose(
                self.replica,
                slot=self.agent.capability.slot,
                kind=draft.kind,
                ops=draft.ops,
                rationale=draft.rationale[:_MAX_RATIONALE],
                confidence=draft.confidence,
                provenance=p.provenance,
                evidence=p.evidence,
                input_id=p.input_id,
                base=p.base,
            )
        except UsageError as e:
            if "may not write" not in str(e):
                self.progress.note_error(f"{p.key}: invalid proposal: {e}")
                return
            # The replica's policy refused it before anything was written (outside the slot, limits).
            log.error("%s: %s: proposal refused: %s", self.agent.name, p.key, e)
            self.progress.refused += 1
            self.progress.last_errors = [*self.progress.last_errors[-9:], f"{p.key}: refused: {e}"]
            return
        except (EncodingError, InvalidEntityValue) as e:
            log.warning("%s: %s: invalid proposal: %s", self.agent.name, p.key, e)
            self.progress.note_error(f"{p.key}: invalid proposal: {e}")
            return
        self._committed(p, event)

    def _committed(self, p: _Pending, event: Event) -> None:
        self._proposed.add(p.input_id)
        self.progress.proposals += 1
        if self.replica.authority.auto_accepted(event):
            self.progress.auto_accepted += 1
        self._report()

    def describe(self) -> Mapping[str, Any]:
        """Return what the worker runs, for a startup line."""
        return {
            "agent": self.agent.name,
            "slot": self.agent.capability.slot,
            "model": self.model.model_id,
            "prompt": self.prompt.name,
            "prompt_hash": self.prompt.hash,
            "author": self.author,
        }
