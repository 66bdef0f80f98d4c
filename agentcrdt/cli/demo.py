"""``agentcrdt demo``: two peers edit one room offline, sync, converge, and the audit chain verifies.

Runs entirely on the embedded defaults (SQLite files, no network, no API key).
"""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Any

from agentcrdt.kernel import get_type
from agentcrdt.local import create_local, open_local
from agentcrdt.log.audit import verify_log
from agentcrdt.log.keys import Identity
from agentcrdt.materialize.entities import EntityProjection
from agentcrdt.replica import Replica
from agentcrdt.state import op
from agentcrdt.store.sqlite import SQLiteStore


def _say(text: str = "") -> None:
    print(text, flush=True)


def _doc(replica: Replica, follower_db: Any, entity_id: str) -> dict[str, Any]:
    row = follower_db.execute(
        "SELECT value FROM entities WHERE etype='Document' AND id=?", (entity_id,)
    ).fetchone()
    import json

    return dict(json.loads(row[0])) if row else {}


def _state(replica: Replica, entity_id: str) -> Any:
    follower = replica.followers[0]
    db = follower.db  # type: ignore[attr-defined]
    return EntityProjection().load(db, ("Document", entity_id))


def demo_command(directory: str | None) -> int:
    """Run the demo; return 0 when both replicas converge and both audits pass."""
    workdir = Path(directory) if directory else Path(tempfile.mkdtemp(prefix="agentcrdt-demo-"))
    workdir.mkdir(parents=True, exist_ok=True)
    alice_path, bob_path = workdir / "alice.db", workdir / "bob.db"
    for p in (alice_path, bob_path):
        for suffix in ("", "-wal", "-shm"):
            Path(str(p) + suffix).unlink(missing_ok=True)
    alice, bob = Identity.generate(), Identity.generate()

    _say("agentcrdt demo: two peers, one room, no server")
    _say(f"  room files in {workdir}")
    a = create_local(alice_path, alice, "Project Falcon data room", owners=(bob.author,))
    genesis = a.store.get(a.scope)
    assert genesis is not None
    bob_store = SQLiteStore(bob_path)
    Replica.join(bob_store, genesis.raw)
    bob_store.close()
    b = open_local(bob_path, identity=bob)
    _say(f"  scope {a.scope[:23]}…  alice {alice.author[:20]}…  bob {bob.author[:20]}…")

    _say("\n1. Alice drafts a document while both are online")
    a.commit(
        "ops",
        {
            "ops": [
                op("Document", "nda", "title", "lww", {"set": "Mutual NDA"}),
                op("Document", "nda", "tags", "orset", {"add": "legal"}),
                op("Document", "nda", "body", "rga", {"insert": list("Term: 2 years."), "after": None}),
            ]
        },
    )
    a.sync_with(b)

    _say("2. Offline: both edit the same document concurrently")
    a.commit(
        "ops",
        {
            "ops": [
                op("Document", "nda", "title", "lww", {"set": "Mutual NDA (Falcon)"}),
                op("Document", "nda", "reviews", "pncounter", {"inc": 1}),
                op("Document", "nda", "tags", "orset", {"add": "signed"}),
            ]
        },
    )
    rga = get_type("rga")
    b_body = _state(b, "nda").fields[("body", "rga")]
    insert_at_end = rga.insert_op(
        b_body, _probe(), len(rga.value(b_body)), list(" Governed by Delaware law.")
    )  # type: ignore[attr-defined]
    orset = get_type("orset")
    b_tags = _state(b, "nda").fields[("tags", "orset")]
    b.commit(
        "ops",
        {
            "ops": [
                op("Document", "nda", "title", "lww", {"set": "NDA - Project Falcon"}),
                op("Document", "nda", "reviews", "pncounter", {"inc": 2}),
                op(
                    "Document",
                    "nda",
                    "tags",
                    "orset",
                    orset.encode_op(orset.remove_op(b_tags, _probe(), "legal")),
                ),  # type: ignore[attr-defined]
                op("Document", "nda", "body", "rga", rga.encode_op(insert_at_end)),
            ]
        },
    )
    _say(f"   alice sees: {_doc(a, a.followers[0].db, 'nda')}")  # type: ignore[attr-defined]
    _say(f"   bob sees:   {_doc(b, b.followers[0].db, 'nda')}")  # type: ignore[attr-defined]

    _say("3. They reconnect and exchange what the other lacks")
    to_b, to_a = a.sync_with(b)
    _say(f"   bob accepted {len(to_b.accepted)} event(s), alice accepted {len(to_a.accepted)}")
    va, vb = _doc(a, a.followers[0].db, "nda"), _doc(b, b.followers[0].db, "nda")  # type: ignore[attr-defined]
    _say(f"   alice: {va}")
    _say(f"   bob:   {vb}")
    converged = va == vb and a.heads == b.heads
    _say("   converged: " + ("yes, same heads and same rows" if converged else "NO"))

    _say("4. Audit: re-derive every id and signature, check the DAG")
    ok = True
    for name, r in (("alice", a), ("bob", b)):
        report = verify_log(r.store.since(0), stored_heads=r.store.heads())
        ok = ok and report.intact
        _say(
            f"   {name}: {'intact' if report.intact else 'TAMPERED'}, {report.events} events, "
            f"{len(report.authors)} authors"
        )
    _say(f"\nVerify it yourself: agentcrdt audit verify {alice_path}")
    return 0 if converged and ok else 1


def _probe() -> Any:
    from agentcrdt.kernel import Stamp

    # Builders need a stamp only to shape the op; the JSON never carries it (the event supplies it).
    return Stamp(0, "", "", 0)
