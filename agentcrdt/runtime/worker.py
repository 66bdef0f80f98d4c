"""The worker: an anyio service that runs one agent against one room and appends its proposals.

Each round: take in what other processes appended (``replica.refresh()`` and the projections' catch-up),
bring the retrieval index up to date, run the agent's ``select`` against a :class:`Reader` (recording what
it read), skip every item whose ``input_id`` already has a proposal by this author, and process the rest
with ``concurrency`` tasks, each taking the next item when its model call is done. Checked drafts go to
the :class:`~agentcrdt.runtime._outbox.Outbox`, appended in batches (every ``flush_interval`` seconds,
every ``batch_size`` drafts, and at the end of a round), one transaction each, synchronously: cancellation
only lands on an ``await`` (a model call), never inside a write, so a stopped worker never leaves half a
proposal; queued ones are appended even when the round is cancelled.

Processing is at-least-once: the durable cursor ``worker:<agent>:<author>`` (in the store) moves to the
position a round started from only once every item of that round was handled; the ``input_id`` makes a
repeated round propose nothing twice. Between rounds the worker waits for a change the agent's reads
depend on (its "lazy atom": a follower listener checking the recorded reads) or for the log to move,
polling ``refresh()`` every ``poll_interval`` seconds to see other processes' appends.
"""

from __future__ import annotations

import logging
import signal
from collections.abc import Callable, Collection, Mapping, Sequence
from pathlib import Path
from typing import Any

import anyio
import anyio.abc

from agentcrdt.errors import UsageError
from agentcrdt.llm.base import Model, ModelSettings
from agentcrdt.log.keys import Identity
from agentcrdt.materialize.follower import SQLiteFollower
from agentcrdt.replica import Replica
from agentcrdt.retrieval import Embedder
from agentcrdt.rooms.local import open_local
from agentcrdt.runtime._atom import LazyAtom
from agentcrdt.runtime._checkpoint import Checkpoint
from agentcrdt.runtime._items import ItemPipeline
from agentcrdt.runtime._outbox import Outbox
from agentcrdt.runtime.agent import Agent, WorkItem
from agentcrdt.runtime.context import Retrieval, open_retrieval
from agentcrdt.runtime.progress import Progress
from agentcrdt.runtime.prompts import PromptTemplate, agent_prompt
from agentcrdt.runtime.slots import proposed_inputs, slot_problem

__all__ = ["ProgressCallback", "Worker", "proposed_inputs", "slot_problem"]  # the last two: from .slots

log = logging.getLogger("agentcrdt.runtime")

ProgressCallback = Callable[[Progress, bool], None]
RoomSource = str | Path | Replica | Callable[[], Replica]


class Worker:
    """Run ``agent`` with ``model`` against a room; see the module docstring.

    ``room`` is the room's SQLite file (opened with ``identity``), an open :class:`Replica` with an
    identity, or a function returning one. ``embedder`` enables retrieval for agents that declare
    ``retrieval_sources``. ``on_progress(progress, force)`` is called as work advances.
    """

    def __init__(
        self,
        room: RoomSource,
        agent: Agent[Any],
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
        self.settings = settings or agent.settings
        self.on_progress = on_progress
        self.prompt: PromptTemplate = agent_prompt(agent, prompt_dirs)
        self.progress = Progress(agent.name)
        self._room = room
        self._replica: Replica | None = None
        self._owns_replica = False
        self._atom: LazyAtom[list[WorkItem]] | None = None
        self._outbox: Outbox | None = None
        self.retrieval: Retrieval | None = None
        self._cursor = 0  # durable: every event up to here was considered
        self._checkpoint: Checkpoint | None = None  # where the cursor is kept, once the room is open
        self._seen = 0  # in memory: the position the last round started from
        self._handled: set[str] = set()  # input ids processed by this process (proposed, empty, failed)
        self._only: frozenset[str] | None = None  # run_once(only=...): the entity ids to process
        self._proposed: set[str] = set()
        self._blocked: str | None = None
        self._stopping = False
        self._idle = False
        self._wake = anyio.Event()
        self._stop_event = anyio.Event()
        self._changed = anyio.Event()
        self._scope: anyio.CancelScope | None = None
        self._items = ItemPipeline(
            agent,
            model,
            self.prompt,
            self.settings,
            self.progress,
            self._handled,
            self._report,
            stopping=lambda: self._stopping,
        )

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
        self._atom = LazyAtom(follower, self.agent.select)
        self._atom.on_change = self._wake_up
        self._outbox = Outbox(
            replica,
            follower.db,
            slot=self.agent.capability.slot,
            agent=self.agent.name,
            progress=self.progress,
            proposed=self._proposed,
            report=self._report,
            batch_size=self.batch_size,
            flush_interval=self.flush_interval,
        )
        if self.embedder is not None and self.agent.retrieval_sources:
            path = getattr(replica.store, "path", None)
            if not isinstance(path, str):
                raise UsageError("retrieval needs the room's SQLite file; open the room with open_local()")
            self.retrieval = open_retrieval(path, self.embedder, self.agent.retrieval_sources)
        self._checkpoint = Checkpoint(replica.store, self.cursor_name, self.prompt.hash)
        self._cursor = self._checkpoint.load()
        self._seen = self._cursor
        # Nothing new since the cursor (and the same prompt): no need to run select() before a change.
        self._atom.dirty = self._cursor < replica.store.last_position()

    def __enter__(self) -> Worker:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        """Release what the worker opened (the replica only if it opened it from a path)."""
        if self._atom is not None:
            self._atom.close()
            self._atom = None
        self._outbox = None
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
        replica.catch_up()
        return replica.store.last_position()

    # -- running ------------------------------------------------------------------------------------

    async def run_once(self, only: Collection[str] | None = None) -> Progress:
        """Process what the room holds now, then return; UsageError if the slot is not granted.
        ``only``: process just the items of these entity ids (a work queue's share of the room); the
        rest is left for later, so the cursor stays where it was."""
        self._only = None if only is None else frozenset(only)
        try:
            return await self._run_once()
        finally:
            self._only = None

    async def _run_once(self) -> Progress:
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
        # Not only when the atom is dirty: another process's follower may have projected the changes
        # into the shared tables first, and then ours reports nothing touched.
        if self._atom.dirty or position > self._cursor:
            taken, complete = await self._process_selected(sorted(replica.heads))
        self._seen = max(self._seen, position)
        if complete and not self._stopping and position > self._cursor and self._only is None:
            assert self._checkpoint is not None  # set when the room was opened
            self._checkpoint.save(position)
            self._cursor = position
        return taken

    async def _process_selected(self, heads: list[str]) -> tuple[int, bool]:
        assert self._atom is not None and self._outbox is not None
        try:
            items = self._atom.run()
        except Exception as e:
            log.exception("%s: select() failed", self.agent.name)
            self.progress.note_error(f"select() failed: {e}")
            return 0, False
        self._proposed |= proposed_inputs(self.replica, self.author, self.agent.capability.slot)
        todo: dict[str, WorkItem] = {}
        for item in items:
            if self._only is not None and item.entity_id not in self._only:
                continue
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
        outbox = self._outbox
        try:
            async with anyio.create_task_group() as outer:
                outer.start_soon(outbox.run)
                handled = await self._items.run(todo, tuple(heads), outbox, self.retrieval, self.concurrency)
                outer.cancel_scope.cancel()
        finally:
            outbox.flush()  # synchronous: runs even when cancelled, and never writes half a proposal
        return len(todo), handled == len(todo)

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
