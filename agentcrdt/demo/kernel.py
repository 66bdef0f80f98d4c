"""Two peers edit one room offline, sync, converge, and the audit chain verifies (`agentcrdt demo --kernel`).

Runs entirely on the embedded defaults (SQLite files, no network, no API key).
"""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Annotated

from agentcrdt.log.audit import verify_log
from agentcrdt.log.keys import Identity
from agentcrdt.replica import Replica
from agentcrdt.rooms.local import create_local, open_local
from agentcrdt.schema import AddWinsSet, Counter, Entity, Text
from agentcrdt.store.sqlite import SQLiteStore


class Document(Entity):
    """A data-room document as the demo edits it: one field per CRDT flavour."""

    title: str = ""
    body: Annotated[str, Text()] = ""
    tags: Annotated[frozenset[str], AddWinsSet()] = frozenset()
    reviews: Annotated[int, Counter()] = 0


def _say(text: str = "") -> None:
    print(text, flush=True)


def _doc(replica: Replica, doc_id: str) -> Document:
    return Document.from_state(doc_id, replica.state_at().entities[("Document", doc_id)])


def _edit(replica: Replica, doc_id: str, **changes: object) -> None:
    current = replica.state_at().entities.get(("Document", doc_id))
    replica.commit("ops", {"ops": Document.update_ops(doc_id, current, **changes)})


def _show(who: str, d: Document) -> None:
    _say(f"   {who:<6} title={d.title!r} tags={sorted(d.tags)} reviews={d.reviews}")
    _say(f"   {'':<6} body={d.body!r}")


def _fresh(path: Path) -> None:
    for suffix in ("", "-wal", "-shm"):
        Path(str(path) + suffix).unlink(missing_ok=True)


def run(directory: str | None) -> int:
    """Run the demo; return 0 when both replicas converge and both audits pass."""
    workdir = Path(directory) if directory else Path(tempfile.mkdtemp(prefix="agentcrdt-demo-"))
    workdir.mkdir(parents=True, exist_ok=True)
    alice_path, bob_path = workdir / "alice.db", workdir / "bob.db"
    _fresh(alice_path)
    _fresh(bob_path)
    alice, bob = Identity.generate(), Identity.generate()

    _say("agentcrdt demo: two peers, one room, no server")
    _say(f"  room files in {workdir}")
    a = create_local(alice_path, alice, "Project Falcon data room", owners=(bob.author,), entities=[Document])
    genesis = a.store.get(a.scope)
    assert genesis is not None
    with SQLiteStore(bob_path) as bob_store:  # bob receives the room's genesis out of band
        Replica.join(bob_store, genesis.raw)
    b = open_local(bob_path, identity=bob, entities=[Document])
    _say(f"  room {a.scope[:23]}…  alice {alice.author[:20]}…  bob {bob.author[:20]}…")

    _say("\n1. Alice drafts the NDA while both are online; they sync")
    a.commit(
        "ops",
        {"ops": Document.create_ops(id="nda", title="Mutual NDA", body="Term: 2 years.", tags={"legal"})},
    )
    a.sync_with(b)

    _say("2. Offline, both edit the same document concurrently")
    _edit(a, "nda", title="Mutual NDA (Falcon)", tags={"legal", "signed"}, reviews=1)
    _edit(
        b,
        "nda",
        title="NDA - Project Falcon",
        tags=set(),
        reviews=2,
        body="Term: 2 years. Governed by Delaware law.",
    )
    _edit(a, "nda", body="Term: 3 years.")
    _show("alice", _doc(a, "nda"))
    _show("bob", _doc(b, "nda"))

    _say("3. They reconnect and exchange exactly what the other lacks")
    to_b, to_a = a.sync_with(b)
    _say(f"   bob accepted {len(to_b.accepted)} event(s), alice accepted {len(to_a.accepted)}")
    da, db = _doc(a, "nda"), _doc(b, "nda")
    _show("alice", da)
    _show("bob", db)
    rows_a = a.followers[0].query("SELECT id, title, reviews, tags FROM document")  # type: ignore[attr-defined]
    rows_b = b.followers[0].query("SELECT id, title, reviews, tags FROM document")  # type: ignore[attr-defined]
    converged = da == db and a.heads == b.heads and rows_a == rows_b
    _say("   converged: " + ("yes: same heads, same values, same SQL rows" if converged else "NO"))
    _say("   why: the title is last-writer-wins (Lamport clock, then author); the counters add up;")
    _say(
        "        bob removed 'legal' (he had seen it) while alice's concurrent 'signed' survives (add-wins);"
    )
    _say("        text edits merge by position")

    _say("4. Time travel and undo")
    for head in sorted(a.heads):
        past = Document.from_state("nda", a.state_at([head]).entities[("Document", "nda")])
        _say(f"   as of head {head[7:19]}…: title={past.title!r} reviews={past.reviews}")
    mine = [e for e in a.events() if e.author == alice.author and e.kind == "ops"][-1]
    a.undo(mine.id)
    a.sync_with(b)
    _say(f"   alice undid her last edit (a new event, history kept): body={_doc(b, 'nda').body!r}")

    _say("5. Audit: re-derive every id and signature, check the DAG")
    ok = True
    for name, r in (("alice", a), ("bob", b)):
        report = verify_log(r.store.since(0), stored_heads=r.store.heads())
        ok = ok and report.intact
        state = "intact" if report.intact else "TAMPERED"
        _say(f"   {name}: {state}, {report.events} events by {len(report.authors)} authors")
    _say(f"\nCheck it yourself:\n  agentcrdt audit verify {alice_path}\n  agentcrdt log show {bob_path}")
    return 0 if converged and ok else 1
