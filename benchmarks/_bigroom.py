"""Build a big review room for the UI benchmark: documents, two agents' proposals, reviews, a forgery.

The room is what the review UI is asked to stay fast on: ``docs`` small text documents written as
files and ingested as ``Dataroom.add`` does (``read_sources`` + ``plan_add``, 1,000 files per
transaction), two granted agents (slots ``tagger`` and ``classifier``) whose ``proposals`` each quote a
span of the document's current version as evidence, the owner's reviews of about one proposal in ten,
and one quarantined proposal by a key nobody granted (what ``/api/audit?only=flagged`` shows).
Proposals are committed through ``Replica.commit_many`` (one signed chain per batch, signed on the
helper cores, each event judged by the policy like any other); the payloads are the ones
``rooms.workflow.propose`` builds, minus its per-call heads lookup.
"""

from __future__ import annotations

import os
import random
import tempfile
import time
from decimal import Decimal
from pathlib import Path
from typing import Any

from agentcrdt.capabilities.spec import AutoAccept, Capability
from agentcrdt.dataroom import Dataroom
from agentcrdt.dataroom.ingest import plan_add, read_sources
from agentcrdt.log.event import create_event
from agentcrdt.log.keys import Identity, digest
from agentcrdt.ops.state import op
from agentcrdt.proposals.kinds import PROPOSAL, REVIEW
from agentcrdt.rooms.local import open_local
from agentcrdt.rooms.workflow import Evidence, Provenance, grant

__all__ = ["AGENTS", "OWNER", "build", "room_path"]

GENERATOR = "v1"  # bump when the generated room changes, so stale cached rooms are not reused
OWNER = Identity.from_name("ui-bench-owner")
AGENTS = {slot: Identity.from_name(f"ui-bench-agent-{slot}") for slot in ("tagger", "classifier")}
STRANGER = Identity.from_name("ui-bench-stranger")
ADD_BATCH = 1_000  # files per Dataroom.add (its limit)
AUTO_ACCEPT = Decimal("0.95")  # the tagger's proposals at or above it apply without review
PROPOSAL_BATCH = 2_500  # proposals per signed chain (one transaction)
KINDS = ("nda", "msa", "lease", "license", "dpa", "employment", "amendment", "reseller")
TAGS = ("confidentiality", "termination", "governing_law", "indemnity", "liability_cap", "assignment")
CLAUSES = {
    "confidentiality": "Each party shall keep the other's Confidential Information strictly confidential.",
    "termination": "Either party may terminate this Agreement on ninety (90) days' written notice.",
    "governing_law": "This Agreement is governed by the laws of the State of Delaware.",
    "indemnity": "Supplier shall indemnify Customer against third-party claims arising from a breach.",
    "liability_cap": "Neither party's aggregate liability shall exceed the fees paid in the prior year.",
    "assignment": "Neither party may assign this Agreement without the other's prior written consent.",
}


def room_path(docs: int, proposals: int) -> Path:
    """Return where the room of this size is cached (under the temp dir, keyed by size)."""
    return Path(tempfile.gettempdir()) / f"agentcrdt-bench-ui-{GENERATOR}-{docs}-{proposals}.db"


def _text(n: int, kind: str) -> str:
    head = f"{kind.upper()} agreement {n:05d} between Acme Corp and Supplier {n % 977}\n\n"
    body = "\n".join(f"{i}. {CLAUSES[t]}" for i, t in enumerate(TAGS, start=1))
    return f"{head}Effective date: 2024-{1 + n % 12:02d}-{1 + n % 28:02d}. Reference R-{n:05d}.\n{body}\n"


def _add_documents(room: Dataroom, folder: Path, docs: int, rng: random.Random) -> dict[str, Any]:
    """Write the files, add them in batches; return each document's (version id, text)."""
    out: dict[str, Any] = {}
    for start in range(0, docs, ADD_BATCH):
        paths = []
        for n in range(start, min(docs, start + ADD_BATCH)):
            doc = f"doc-{n:05d}"
            text = _text(n, rng.choice(KINDS))
            path = folder / f"{doc}.txt"
            path.write_text(text, encoding="utf-8")
            paths.append(path)
            out[doc] = text
        # What ``room.add(paths)`` does, minus its per-file lookups of the room (a prefix scan of the
        # entities table each, so adding 10k files one batch after another is quadratic): every
        # document here is new, which the empty view says; the planned events are the same.
        results, changes = plan_add(read_sources(paths), _NewDocuments(), OWNER.author)
        room.replica.commit_many(changes)
        for result in results:
            out[result.document] = (result.version, out[result.document])
    return out


class _NewDocuments:
    """The room as ``plan_add`` sees it when none of the files' documents exists yet."""

    def document_state(self, document: str) -> None:
        return None

    def versions(self, document: str) -> list[Any]:
        return []

    def has_folder(self, folder: str) -> bool:
        return False


def _proposal(slot: str, i: int, doc: str, vid: str, text: str, base: list[str], rng: random.Random) -> Any:
    if slot == "tagger":
        tag = rng.choice(TAGS)
        ops = [op("Document", doc, "tags", "orset", {"add": tag})]
        quote, kind = CLAUSES[tag], "tags"
    else:
        value = text.split(" ", 1)[0].lower()
        ops = [op("Document", doc, "kind", "lww", {"set": value})]
        quote, kind = text.split("\n", 1)[0], "kind"
    start = text.index(quote)
    evidence = Evidence("DocumentVersion", vid, "text", start, start + len(quote), quote)
    confidence = f"{rng.randrange(5000, 10000) / 10000:.4f}".rstrip("0").rstrip(".")
    payload = {
        "slot": slot,
        "kind": kind,
        "ops": ops,
        "base": base,
        "rationale": f"the {kind} clause quoted below supports it (item {i})",
        "evidence": [evidence.to_json()],
        "confidence": confidence,
        "provenance": Provenance("offline", digest(b"ui-bench-prompt"), 420, 12).to_json(),
        "input": digest(f"{slot}:{i}".encode()),
    }
    return PROPOSAL, payload


def _forged(replica: Any, doc: str) -> None:
    """A proposal by a key with no grant, as a peer would sync it in: stored, and quarantined."""
    heads = sorted(replica.heads)
    lamport = max(replica.store.get(h).lamport for h in heads)
    payload = {
        "slot": "tagger",
        "kind": "tags",
        "ops": [op("Document", doc, "tags", "orset", {"add": "forged"})],
        "base": heads,
        "rationale": "a proposal from a peer nobody granted anything",
        "evidence": [],
        "confidence": "0.99",
        "provenance": Provenance("none", "sha256:" + "0" * 64).to_json(),
        "input": "sha256:" + "1" * 64,
    }
    event = create_event(
        STRANGER, scope=replica.scope, seq=1, deps=heads, lamport=lamport + 1, time_ms=1_700_000_000_000,
        kind=PROPOSAL, payload=payload,
    )  # fmt: skip
    replica.ingest([event.raw])


def build(path: Path, docs: int, proposals: int, *, log: bool = False) -> dict[str, float]:
    """Write the room to ``path`` (atomically: a partial build never looks cached); return the seconds
    each stage took."""
    rng = random.Random(20240917)
    partial = path.with_name(path.name + ".building")
    for leftover in path.parent.glob(partial.name + "*"):
        leftover.unlink()
    times: dict[str, float] = {}
    t0 = time.perf_counter()
    with (
        tempfile.TemporaryDirectory(prefix="agentcrdt-bench-ui-files-") as tmp,
        Dataroom.create(partial, OWNER, name="UI benchmark room") as room,
    ):
        texts = _add_documents(room, Path(tmp), docs, rng)
        for slot, key in AGENTS.items():
            auto = AutoAccept(min_confidence=AUTO_ACCEPT)
            cap = Capability(slot, writes=("Document.tags", "Document.kind"), reads=("*",),
                             auto_accept=auto if slot == "tagger" else None)  # fmt: skip
            grant(room.replica, key.author, cap)
    times["documents_s"] = time.perf_counter() - t0
    t1 = time.perf_counter()
    names = sorted(texts)
    done = 0
    pending: list[str] = []  # what the owner may review: not auto-accepted
    for slot, key in AGENTS.items():
        replica = open_local(partial, identity=key)
        try:
            base = sorted(replica.heads)
            share = proposals // len(AGENTS) + (1 if slot == "tagger" and proposals % 2 else 0)
            for start in range(0, share, PROPOSAL_BATCH):
                changes = []
                for i in range(start, min(share, start + PROPOSAL_BATCH)):
                    doc = names[rng.randrange(len(names))]
                    vid, text = texts[doc]
                    changes.append(_proposal(slot, i, doc, vid, text, base, rng))
                for event in replica.commit_many(changes):
                    if slot != "tagger" or Decimal(event.payload["confidence"]) < AUTO_ACCEPT:
                        pending.append(event.id)
                done += len(changes)
                if log and (start // PROPOSAL_BATCH) % 4 == 3:
                    print(f"  proposed {done:,} / {proposals:,} ({done / (time.perf_counter() - t1):,.0f}/s)",
                          flush=True)  # fmt: skip
        finally:
            replica.close()
    times["proposals_s"] = time.perf_counter() - t1
    t2 = time.perf_counter()
    replica = open_local(partial, identity=OWNER)
    try:
        reviewed = rng.sample(pending, proposals // 10)
        with replica.batch():
            for start in range(0, len(reviewed), PROPOSAL_BATCH):
                chunk = reviewed[start : start + PROPOSAL_BATCH]
                replica.commit_many(
                    [(REVIEW, {"proposal": p, "decision": rng.choice(("accept", "accept", "reject")),
                               "note": "checked against the quoted clause"}) for p in chunk]
                )  # fmt: skip
        _forged(replica, names[0])
    finally:
        replica.close()
    times["reviews_s"] = time.perf_counter() - t2
    os.replace(partial, path)
    times["total_s"] = time.perf_counter() - t0
    return times


if __name__ == "__main__":  # run by ui.py in a child process, so building does not count in its RSS
    import json
    import sys

    target, n_docs, n_proposals = Path(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3])
    seconds = build(target, n_docs, n_proposals, log=n_proposals >= 10_000)
    target.with_suffix(".json").write_text(json.dumps(seconds))
