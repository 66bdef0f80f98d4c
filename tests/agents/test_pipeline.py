"""The five dataroom agents end to end on a reduced Falcon sample with the offline model."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from agentcrdt.dataroom import ENTITIES, Dataroom, Document, Finding, Link
from agentcrdt.llm.base import Model
from agentcrdt.log.audit import verify_log
from agentcrdt.log.keys import Identity
from agentcrdt.proposals.status import ProposalInfo
from agentcrdt.replica import Replica
from agentcrdt.retrieval import FakeEmbedder
from agentcrdt.rooms.local import open_local
from agentcrdt.rooms.workflow import list_proposals, review
from agentcrdt.runtime import build_model

pytestmark = pytest.mark.anyio


def by_slot(replica: Replica, slot: str, status: str | None = None) -> list[ProposalInfo]:
    return [p for p in list_proposals(replica, status) if p.event.payload["slot"] == slot]


def version_text(replica: Replica, version: str) -> str:
    values = replica.state_at().value("DocumentVersion", version)
    assert values is not None
    return str(values["text"])


def assert_evidence_verbatim(replica: Replica, proposals: list[ProposalInfo]) -> None:
    for p in proposals:
        evidence = p.event.payload["evidence"]
        assert evidence, p.event.payload["rationale"]
        for e in evidence:
            assert e["entity"] == "DocumentVersion"
            assert version_text(replica, e["id"])[e["start"] : e["end"]] == e["quote"]


def doc(replica: Replica, doc_id: str) -> Document:
    state = replica.state_at().entities[("Document", doc_id)]
    return Document.from_state(doc_id, state)


def offline() -> Model:
    return build_model("offline", FakeEmbedder())


async def test_agents_propose_apply_review_and_rerun(
    room_path: Path, owner: Identity, run_agent: Callable[..., Any]
) -> None:
    model = offline()
    for name in ("tagger", "extractor", "summarizer", "linker"):
        progress = await run_agent(room_path, name, model)
        assert progress.proposals > 0, progress.line()
        assert progress.errors == 0 and progress.unsupported == 0 and progress.evidence_dropped == 0

    room = Dataroom.open(room_path, identity=owner)
    replica = room.replica
    try:
        for slot in ("tagger", "extractor", "summarizer", "linker"):
            assert_evidence_verbatim(replica, by_slot(replica, slot))

        # tagger: auto-accepted classifications are applied, with labels from the vocabulary
        tagged = by_slot(replica, "tagger", "auto_accepted")
        assert tagged
        for p in tagged:
            d = doc(replica, p.event.payload["ops"][0]["id"])
            assert d.kind and d.tags
        assert doc(replica, "04-msa-meridian").kind == "msa"

        # extractor: auto-accepted fields applied, each quoting its source version exactly
        assert by_slot(replica, "extractor", "auto_accepted") and by_slot(replica, "extractor", "pending")
        msa = doc(replica, "04-msa-meridian")
        assert msa.fields["governing_law"].value == "New York"
        for d in (doc(replica, i) for i in ("01-mutual-nda", "04-msa-meridian", "06-msa-amendment-2")):
            for fv in d.fields.values():
                assert fv.start is not None and fv.end is not None
                assert version_text(replica, fv.source_version)[fv.start : fv.end] == fv.quote

        # linker: everything pending; accept one, reject one
        links = by_slot(replica, "linker", "pending")
        assert len(links) >= 2 and not by_slot(replica, "linker", "auto_accepted")
        targets = {tuple(sorted({o["id"] for o in p.event.payload["ops"]})) for p in links}
        assert ("02-mutual-nda-copy>duplicates>01-mutual-nda",) in targets
        accepted, rejected = links[0], links[1]
        review(replica, accepted.id, "accept")
        review(replica, rejected.id, "reject")
        acc_id, rej_id = accepted.event.payload["ops"][0]["id"], rejected.event.payload["ops"][0]["id"]
        state = replica.state_at()
        link = Link.from_state(acc_id, state.entities[("Link", acc_id)])
        assert link.source and link.target and link.evidence
        assert ("Link", rej_id) not in state.entities

        # the extractor's pending fields accepted by a reviewer: the contradiction finder sees them
        for p in by_slot(replica, "extractor", "pending"):
            review(replica, p.id, "accept")
    finally:
        room.close()

    progress = await run_agent(room_path, "contradictions", model)
    assert progress.proposals > 0 and progress.errors == 0
    replica = open_local(room_path, entities=ENTITIES)
    try:
        findings = by_slot(replica, "contradictions")
        assert findings and all(p.status == "pending" for p in findings)
        assert_evidence_verbatim(replica, findings)
        ids = {p.event.payload["ops"][0]["id"] for p in findings}
        assert "contradiction:governing_law:04-msa-meridian:06-msa-amendment-2" in ids  # C4
        assert "contradiction:notice_period:04-msa-meridian:05-msa-amendment-1" in ids  # C3
        for p in findings:
            docs = {e["id"].partition("@")[0] for e in p.event.payload["evidence"]}
            assert len(docs) == 2  # evidence on both sides
        # amendment changes (term, fee extended/raised by Amendment No. 1) are not contradictions
        assert not any(":term:04-msa-meridian:05-msa-amendment-1" in i for i in ids)
        assert not any(":fees:04-msa-meridian:05-msa-amendment-1" in i for i in ids)
        before = len(list_proposals(replica))
    finally:
        replica.store.close()

    with Dataroom.open(room_path, identity=owner) as room:
        c4_id = "contradiction:governing_law:04-msa-meridian:06-msa-amendment-2"
        c4 = next(
            p for p in by_slot(room.replica, "contradictions") if p.event.payload["ops"][0]["id"] == c4_id
        )
        review(room.replica, c4.id, "accept")
        fid = c4.event.payload["ops"][0]["id"]
        finding = Finding.from_state(fid, room.replica.state_at().entities[("Finding", fid)])
        assert finding.kind == "contradiction" and {s.document for s in finding.evidence} == {
            "04-msa-meridian",
            "06-msa-amendment-2",
        }
        before = len(list_proposals(room.replica))

    # re-running every worker (fresh processes' view: new workers) proposes nothing new
    for name in ("tagger", "extractor", "summarizer", "linker", "contradictions"):
        progress = await run_agent(room_path, name, model)
        assert progress.proposals == 0, progress.line()

    replica = open_local(room_path, entities=ENTITIES)
    try:
        assert len(list_proposals(replica)) == before
        assert all(p.status != "quarantined" for p in list_proposals(replica))
        report = verify_log(replica.store.since(0), stored_heads=replica.store.heads())
        assert report.intact, report.failure
        links = [k for k in replica.state_at().entities if k[0] == "Link"]
        assert len(links) == len(set(links))
    finally:
        replica.store.close()
