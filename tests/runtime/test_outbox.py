"""How the worker runs its items and appends its proposals: bounded calls, evidence, shared projections."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import anyio
import pytest
from anyio import wait_all_tasks_blocked
from runtime_helpers import DOCS, agent, doc_ops, proposals_by

from agentcrdt.llm import get_model
from agentcrdt.llm.base import Completion, Message, Model, ModelSettings, Usage
from agentcrdt.llm.testing import FunctionModel
from agentcrdt.log.keys import Identity
from agentcrdt.materialize.atoms import Reader
from agentcrdt.materialize.follower import SQLiteFollower
from agentcrdt.ops.state import op
from agentcrdt.replica import Replica
from agentcrdt.rooms.local import create_local, open_local
from agentcrdt.rooms.workflow import Evidence, grant
from agentcrdt.runtime import ProposalDraft, Worker, WorkItem

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


def _follower(replica: Replica) -> SQLiteFollower:
    return next(f for f in replica.followers if isinstance(f, SQLiteFollower))


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


async def test_workers_in_one_process_keep_the_shared_projections_exact(
    tmp_path: Path, owner: Identity
) -> None:
    # Two taggers with their own keys append auto-accepted proposals to one room at once. Projections are
    # shared: each worker's follower also projects the other's events, and must apply their effects.
    path = tmp_path / "busy.db"
    room = create_local(path, owner, "busy room")
    texts = [
        "The customer shall pay each invoice within 30 days.",
        "Either party may terminate on notice; all information is confidential.",
    ]
    for i in range(40):
        room.commit("ops", {"ops": doc_ops(f"d{i:02}", f"doc {i}", f"{texts[i % 2]} Number {i}.")})
    keys = [Identity.from_name(f"tagger-{n}") for n in range(2)]
    for key in keys:
        grant(room, key.author, agent("Tagger").capability)
    room.store.close()
    workers = [
        Worker(path, agent("Tagger"), get_model("fake-tagger"), identity=k, concurrency=8) for k in keys
    ]
    try:
        async with anyio.create_task_group() as tg:
            for w in workers:
                tg.start_soon(w.run_once)
    finally:
        for w in workers:
            w.close()
    assert all(w.progress.auto_accepted == 40 for w in workers)
    fresh = open_local(path)
    projected = Reader(_follower(fresh).db).entities("Document")
    state = fresh.state_at()
    assert len(projected) == 40
    for doc_id, values in projected.items():
        expected = state.value("Document", doc_id) or {}
        assert set(values.get("tags", ())) == set(expected.get("tags", ())), doc_id
    fresh.store.close()
