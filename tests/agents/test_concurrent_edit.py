"""A human editing a field while the extractor proposes a different value converges on every replica."""

from __future__ import annotations

import random
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from agentcrdt.capabilities import Capability
from agentcrdt.dataroom.domain import Document, FieldValue
from agentcrdt.log.keys import Identity
from agentcrdt.replica import Replica
from agentcrdt.retrieval import FakeEmbedder
from agentcrdt.rooms.local import open_local
from agentcrdt.rooms.workflow import grant, list_proposals, review
from agentcrdt.runtime import build_model
from agentcrdt.store.memory import MemoryStore

pytestmark = pytest.mark.anyio
DOC = "04-msa-meridian"


def _fields(r: Replica) -> Any:
    value = r.state_at().value("Document", DOC)
    return None if value is None else value.get("fields")


async def test_human_edit_and_extractor_proposal_converge(
    room_path: Path, owner: Identity, run_agent: Callable[..., Any]
) -> None:
    human = Identity.from_name("human-editor")
    owner_room = open_local(room_path, identity=owner)
    grant(owner_room, human.author, Capability("editor", writes=("Document.*",), mode="direct"))
    genesis = owner_room.store.get(owner_room.scope)
    assert genesis is not None
    laptop = Replica.join(MemoryStore(), genesis.raw, identity=human)  # the human works offline
    laptop.ingest(owner_room.missing_for(set()))

    # Offline, the human corrects the governing law by hand...
    current = laptop.state_at().entities[("Document", DOC)]
    edit = FieldValue(value="California", quote="")
    laptop.commit("ops", {"ops": Document.update_ops(DOC, current, fields={"governing_law": edit})})
    # ...while the extractor, on the room file, proposes what the text says.
    await run_agent(room_path, "extractor", build_model("offline", FakeEmbedder()))
    owner_room.refresh()
    extracted = [p for p in list_proposals(owner_room) if p.event.payload["slot"] == "extractor"]
    touches_law = [
        p
        for p in extracted
        if any(o["id"] == DOC and "governing_law" in str(o["op"]) for o in p.event.payload["ops"])
    ]
    assert touches_law, "the extractor must have proposed the governing law concurrently with the human"
    for p in list_proposals(owner_room, "pending"):
        if p.event.payload["slot"] == "extractor":
            review(owner_room, p.id, "accept", "checked")

    # Everyone exchanges everything, in any order: one outcome everywhere.
    owner_room.sync_with(laptop)
    third = Replica.join(MemoryStore(), genesis.raw)
    raws = owner_room.missing_for(set())
    random.Random(5).shuffle(raws)
    third.ingest(raws)
    third.sync_with(laptop)
    results = [_fields(r) for r in (owner_room, laptop, third)]
    assert results[0] is not None and results[0] == results[1] == results[2]
    law = results[0]["governing_law"]["value"]
    assert law in ("California", "New York")  # last writer wins, the same on every replica
    projected = owner_room.followers[0].query(  # type: ignore[attr-defined]
        "SELECT fields FROM document WHERE id = ?", (DOC,)
    )
    assert law in str(projected[0][0])
