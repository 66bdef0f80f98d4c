"""Several processes, each a peer with its own key, writing one SQLite room at once."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from pathlib import Path

from agentcrdt.log.audit import verify_log
from agentcrdt.log.keys import Identity
from agentcrdt.rooms.local import create_local, open_local

WRITER = textwrap.dedent(
    """
    import sys
    from agentcrdt.rooms.local import open_local
    from agentcrdt.log.keys import Identity
    from agentcrdt.ops.state import op

    path, name, n = sys.argv[1], sys.argv[2], int(sys.argv[3])
    room = open_local(path, identity=Identity.from_name(name))
    for i in range(n):
        room.commit("ops", {"ops": [
            op("Doc", "shared", "hits", "pncounter", {"inc": 1}),
            op("Doc", name, "last", "lww", {"set": i}),
        ]})
    print("done", flush=True)
    """
)


def test_concurrent_processes_on_one_file_converge(tmp_path: Path) -> None:
    path = tmp_path / "room.db"
    names = ["w1", "w2", "w3"]
    owner = Identity.from_name("owner")
    room = create_local(path, owner, "shared room", owners=tuple(Identity.from_name(n).author for n in names))
    room.store.close()
    n = 40
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", WRITER, str(path), name, str(n)], stdout=subprocess.PIPE, text=True
        )
        for name in names
    ]
    for p in procs:
        out, _ = p.communicate(timeout=120)
        assert p.returncode == 0 and "done" in out
    reopened = open_local(path)
    follower = reopened.followers[0]
    rows = dict(follower.query("SELECT id, value FROM entities"))  # type: ignore[attr-defined]
    assert json.loads(rows["shared"])["hits"] == n * len(names)  # every increment applied exactly once
    for name in names:
        assert json.loads(rows[name])["last"] == n - 1
    report = verify_log(reopened.store.since(0), stored_heads=reopened.store.heads())
    assert report.intact and report.events == 1 + n * len(names)
    assert reopened.state_at().value("Doc", "shared") == {"hits": n * len(names)}


def test_a_follower_applies_what_another_process_wrote_even_before_its_replica_saw_it(
    tmp_path: Path,
) -> None:
    # Another process's agent appends a grant-gated, auto-accepted proposal and a review; this process's
    # follower projects them before its replica has indexed them. Their effects depend on the grant
    # and the review being indexed, so the follower must have the replica index first.
    from decimal import Decimal

    from agentcrdt.capabilities import AutoAccept, Capability
    from agentcrdt.ops.state import op
    from agentcrdt.replica import Replica
    from agentcrdt.rooms.workflow import Provenance, grant, propose, review
    from agentcrdt.store.sqlite import SQLiteStore

    path = tmp_path / "room.db"
    owner, agent = Identity.from_name("owner"), Identity.from_name("agent")
    here = create_local(path, owner, "room")
    here.dag  # noqa: B018  (this process's replica is loaded, then the other process writes)
    elsewhere = Replica.open(SQLiteStore(path), identity=owner)  # another process: no follower
    slot = Capability("tagger", writes=("Document.tags",), auto_accept=AutoAccept(Decimal("0.9")))
    grant(elsewhere, agent.author, slot)
    other_agent = Replica.open(SQLiteStore(path), identity=agent)
    provenance = Provenance("test", "sha256:" + "0" * 64)

    def tag(name: str, confidence: str) -> str:
        ops = [op("Document", "d1", "tags", "orset", {"add": name})]
        event = propose(
            other_agent,
            slot="tagger",
            kind="tag",
            ops=ops,
            rationale="r",
            confidence=confidence,
            provenance=provenance,
        )
        return event.id

    tag("auto", "0.95")  # auto-accepted under the grant
    pending = tag("reviewed", "0.1")
    elsewhere.refresh()
    review(elsewhere, pending, "accept", "ok")
    here.feed(here.followers[0])
    rows = here.followers[0].query("SELECT value FROM entities WHERE id = 'd1'")
    assert rows == [('{"tags":["auto","reviewed"]}',)]
    assert json.loads(str(rows[0][0])) == here.state_at().value("Document", "d1")


def test_a_follower_replays_the_log_after_another_process_changed_verdicts_while_it_was_closed(
    tmp_path: Path,
) -> None:
    # The follower's process projects bob's write and stops. Another process, with no follower, then
    # learns that bob equivocated: the write it projected is quarantined there. When the follower's
    # process opens the room again, its rows must not keep the quarantined write.
    from agentcrdt.ops.state import op
    from agentcrdt.replica import Replica
    from agentcrdt.store.memory import MemoryStore
    from agentcrdt.store.sqlite import SQLiteStore

    path = tmp_path / "room.db"
    alice, bob = Identity.from_name("alice-epoch"), Identity.from_name("bob-epoch")
    here = create_local(path, alice, "room", owners=(bob.author,))
    b = Replica.join(MemoryStore(), here.genesis.raw, identity=bob)
    fork = Replica.join(MemoryStore(), here.genesis.raw, identity=bob)
    b.commit("ops", {"ops": [op("Doc", "x", "title", "lww", {"set": "one branch"})]})
    fork.commit("ops", {"ops": [op("Doc", "x", "title", "lww", {"set": "the other"})]})
    here.ingest(b.missing_for(here.heads))

    def rows(room: Replica) -> list[tuple[object, ...]]:
        return room.followers[0].query("SELECT id FROM entities WHERE id = 'x'")  # type: ignore[attr-defined,no-any-return]

    assert rows(here) == [("x",)]
    epoch = here.verdict_epoch()
    here.store.close()

    elsewhere = Replica.open(SQLiteStore(path), identity=alice)
    assert not elsewhere.followers
    elsewhere.ingest(fork.missing_for(elsewhere.heads))
    assert elsewhere.state_at().value("Doc", "x") is None and elsewhere.verdict_epoch() == epoch + 1
    elsewhere.store.close()

    reopened = open_local(path, identity=alice)
    assert rows(reopened) == []
    assert reopened.followers[0].epoch() == epoch + 1  # type: ignore[attr-defined]
