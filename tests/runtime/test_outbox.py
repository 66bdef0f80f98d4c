"""How the worker runs its items and appends its proposals: bounded calls, batches in a thread, evidence."""

from __future__ import annotations

import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

import anyio
import pytest
from anyio import wait_all_tasks_blocked
from runtime_helpers import DOCS, agent, edit_ops, proposals_by

from agentcrdt.llm import get_model
from agentcrdt.llm.base import Completion, Message, Model, ModelSettings, Usage
from agentcrdt.llm.testing import FunctionModel
from agentcrdt.local import open_local
from agentcrdt.log.keys import Identity
from agentcrdt.materialize.follower import SQLiteFollower, Touched
from agentcrdt.replica import Replica
from agentcrdt.runtime import ProposalDraft, Worker, WorkItem
from agentcrdt.runtime._atom import LazyAtom
from agentcrdt.state import op
from agentcrdt.workflow import Evidence

pytestmark = pytest.mark.anyio


class HeldModel(Model):
    """Answers "no tags" once ``release`` is set; counts the calls in flight."""

    def __init__(self) -> None:
        super().__init__("held")
        self.release = anyio.Event()
        self.in_flight = 0
        self.peak = 0

    async def complete(
        self, messages: list[Message], schema: dict[str, Any], schema_name: str, settings: ModelSettings
    ) -> Completion:
        self.in_flight += 1
        self.peak = max(self.peak, self.in_flight)
        await self.release.wait()
        self.in_flight -= 1
        return Completion({"tags": [], "confidence": 0.5}, Usage(), "v1")


async def test_at_most_concurrency_model_calls_are_in_flight(
    make_worker: Callable[..., Worker], tagger_key: Identity
) -> None:
    model = HeldModel()
    worker = make_worker("Tagger", model, tagger_key, concurrency=2)
    async with anyio.create_task_group() as tg:
        tg.start_soon(worker.run_once)
        await wait_all_tasks_blocked()
        assert model.in_flight == 2  # three documents, two slots
        model.release.set()
    assert model.peak == 2 and worker.progress.items_done == len(DOCS)


def _listener_threads(follower: SQLiteFollower) -> set[int]:
    seen: set[int] = set()

    def record(touched: Touched) -> None:
        seen.add(threading.get_ident())

    follower.listeners.append(record)
    return seen


def _follower(replica: Replica) -> SQLiteFollower:
    return next(f for f in replica.followers if isinstance(f, SQLiteFollower))


async def test_a_worker_that_opened_the_room_appends_its_batches_in_a_worker_thread(
    make_worker: Callable[..., Worker], tagger_key: Identity
) -> None:
    worker = make_worker("Tagger", get_model("fake-tagger"), tagger_key)
    threads = _listener_threads(_follower(worker.replica))  # the projections catch up after each batch
    progress = await worker.run_once()
    assert progress.proposals == 2
    assert threads - {threading.get_ident()}


async def test_a_replica_passed_in_is_written_on_the_event_loop_thread_only(
    room_path: Path, tagger_key: Identity
) -> None:
    replica = open_local(room_path, identity=tagger_key)
    threads = _listener_threads(_follower(replica))
    worker = Worker(replica, agent("Tagger"), get_model("fake-tagger"))
    try:
        assert (await worker.run_once()).proposals == 2
    finally:
        worker.close()
        replica.store.close()
    assert threads == {threading.get_ident()}


async def test_quotes_of_fields_outside_the_item_are_checked_against_the_projections(
    room_path: Path, open_room: Callable[..., Replica], tagger_key: Identity
) -> None:
    tagger = agent("Tagger")

    class TitleQuoter(type(tagger)):  # type: ignore[misc]
        """Quotes the document's title, which the work item carries as an input, not as a text."""

        def proposals(self, item: WorkItem, output: Any) -> list[ProposalDraft]:
            title = item.inputs["title"]
            quotes = [Evidence("Document", item.entity_id, "title", 5, 5 + len(title), title)]
            quotes.append(Evidence("Document", item.entity_id, "title", 0, 7, "made up"))
            ops = [op("Document", item.entity_id, "tags", "orset", {"add": "payment"})]
            draft = ProposalDraft(ops=ops, rationale="title", confidence="0.5", kind="tag", evidence=quotes)
            return [draft] if item.entity_id == "d2" else []

    quoter = TitleQuoter()
    quoter.source_path = tagger.source_path
    worker = Worker(
        room_path, quoter, FunctionModel(lambda m, s: {"tags": [], "confidence": 0.5}), identity=tagger_key
    )
    try:
        progress = await worker.run_once()
    finally:
        worker.close()
    assert (progress.proposals, progress.evidence_dropped, progress.unsupported) == (1, 1, 0)
    (p,) = proposals_by(open_room(), tagger_key.author)
    assert p.event.payload["evidence"] == [
        {"entity": "Document", "id": "d2", "field": "title", "start": 0, "end": 3, "quote": "NDA"}
    ]


def test_holding_delivers_one_change_at_the_end_in_the_callers_thread(
    open_room: Callable[..., Replica], owner: Identity
) -> None:
    replica = open_room(owner)
    atom = LazyAtom(_follower(replica), lambda reader: reader.entities("Document"))
    calls: list[int] = []
    atom.on_change = lambda: calls.append(threading.get_ident())
    atom.run()
    with atom.holding():
        for text in ("first", "second"):  # committed (and projected) in another thread
            writer = threading.Thread(target=replica.commit, args=("ops", {"ops": edit_ops("d1", text=text)}))
            writer.start()
            writer.join()
        assert calls == [] and atom.dirty
    assert calls == [threading.get_ident()]
    atom.run()
    replica.commit("ops", {"ops": edit_ops("d2", text="third")})
    assert len(calls) == 2  # not holding: at once
    atom.close()
