"""The sample room the UI tests open: part of the Falcon sample, real agent proposals from the offline
model, a second version of one document, signatures, a read, a reviewer limited to one slot, a
read-only viewer, and a quarantined event from a peer nobody granted anything."""

from __future__ import annotations

import shutil
from dataclasses import dataclass
from pathlib import Path

import anyio

from agentcrdt.capabilities.spec import Capability
from agentcrdt.dataroom import Dataroom
from agentcrdt.log.event import create_event
from agentcrdt.log.keys import Identity
from agentcrdt.replica import Replica
from agentcrdt.retrieval import FakeEmbedder
from agentcrdt.rooms.local import open_local
from agentcrdt.rooms.workflow import Provenance, grant
from agentcrdt.runtime import Worker, build_model, load_agent

REPO = Path(__file__).resolve().parents[2]
SAMPLE = REPO / "examples" / "falcon" / "documents"
FILES = (
    "01-mutual-nda.txt",
    "04-msa-meridian.txt",
    "05-msa-amendment-1.txt",
    "12-data-processing-agreement.txt",
)
AGENTS = ("tagger", "extractor", "linker")


@dataclass(frozen=True)
class Sample:
    path: Path
    owner: Identity
    reviewer: Identity  # may review the tagger's proposals only
    viewer: Identity  # reads everything, may review nothing
    stranger: Identity  # holds no grant: its proposal is quarantined
    agents: dict[str, Identity]


def build_sample(directory: Path) -> Sample:
    docs = directory / "docs"
    docs.mkdir(parents=True)
    for name in FILES:
        shutil.copy(SAMPLE / name, docs / name)
    owner = Identity.from_name("ui-owner")
    keys = {n: Identity.from_name(f"ui-agent-{n}") for n in AGENTS}
    reviewer, viewer, stranger = (Identity.from_name(f"ui-{n}") for n in ("reviewer", "viewer", "stranger"))
    path = directory / "room.db"
    with Dataroom.create(path, owner, name="Falcon sample") as room:
        room.add(sorted(docs.iterdir()))
        for name, key in keys.items():
            grant(room.replica, key.author, load_agent(REPO / "agents" / f"{name}.py").capability)
        grant(room.replica, reviewer.author, Capability("review-tags", reads=("*",), review=("tagger",)))
        grant(room.replica, viewer.author, Capability("viewer", reads=("*",)))
        # A second version of the NDA, and a signature on the first.
        room.sign("01-mutual-nda", statement="approved for the data room")
        nda = docs / "01-mutual-nda.txt"
        nda.write_text(
            nda.read_text(encoding="utf-8").replace("two (2) years", "three (3) years"), encoding="utf-8"
        )
        room.add([nda])
    model = build_model("offline", FakeEmbedder())

    async def run_agents() -> None:
        for name, key in keys.items():
            agent = load_agent(REPO / "agents" / f"{name}.py")
            worker = Worker(path, agent, model, identity=key, embedder=FakeEmbedder(), poll_interval=0.01)
            try:
                await worker.run_once()
            finally:
                worker.close()

    anyio.run(run_agents)
    replica = open_local(path)
    try:
        _quarantined(replica, stranger)
    finally:
        replica.close()
    return Sample(path, owner, reviewer, viewer, stranger, keys)


def _quarantined(replica: Replica, stranger: Identity) -> None:
    """A proposal by a key with no grant, as a peer would sync it in: stored, and quarantined."""
    heads = sorted(replica.heads)
    lamport = max(replica.store.get(h).lamport for h in heads)  # type: ignore[union-attr]
    payload = {
        "slot": "tagger",
        "kind": "tags",
        "ops": [{"e": "Document", "id": "01-mutual-nda", "f": "tags", "t": "orset", "op": {"add": "forged"}}],
        "base": heads,
        "rationale": "a proposal from a peer nobody granted anything",
        "evidence": [],
        "confidence": "0.99",
        "provenance": Provenance("none", "sha256:" + "0" * 64).to_json(),
        "input": "sha256:" + "1" * 64,
    }
    event = create_event(
        stranger, scope=replica.scope, seq=1, deps=heads, lamport=lamport + 1, time_ms=1_700_000_000_000,
        kind="proposal", payload=payload,
    )  # fmt: skip
    replica.ingest([event.raw])
