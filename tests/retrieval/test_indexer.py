"""RetrievalIndexer: incremental from the log, only changed chunks embedded, crash-safe cursor."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from agentcrdt.log.event import create_event
from agentcrdt.log.keys import Identity
from agentcrdt.ops.state import OPS, op
from agentcrdt.replica import Replica
from agentcrdt.retrieval import EmbeddingCache, FakeEmbedder, RetrievalIndexer, VectorIndex, chunk_text
from agentcrdt.retrieval.index import IndexItem
from agentcrdt.retrieval.indexer import IndexStats
from agentcrdt.rooms.local import create_local
from agentcrdt.store.memory import MemoryStore

SOURCES = [("DocumentVersion", "text"), ("Note", "body")]
CHUNKING: dict[str, Any] = {"max_chars": 200, "min_chars": 50}


def catch_up(indexer: RetrievalIndexer, replica: Replica, *, reset: bool = False) -> IndexStats:
    """Feed ``indexer`` what it lacks (everything, with ``reset``); return what that did."""
    indexer.totals = IndexStats()
    replica.feed(indexer, reset=reset)
    return indexer.totals


def para(doc: str, i: int) -> str:
    return f"Section {i} of {doc}. " + " ".join(f"{doc}-word{i}-{j}" for j in range(12)) + "."


def doc_text(doc: str, n: int = 4) -> str:
    return "\n\n".join(para(doc, i) for i in range(n))


def set_text(doc: str, text: str) -> dict[str, Any]:
    return {"ops": [op("DocumentVersion", doc, "text", "lww", {"set": text})]}


class Setup:
    def __init__(self, replica: Replica, room: Path) -> None:
        self.replica = replica
        self.fake = FakeEmbedder(64)
        self.index = VectorIndex(room, self.fake)
        self.cache = EmbeddingCache(self.index.db)
        self.indexer = RetrievalIndexer(self.index, self.cache, SOURCES, **CHUNKING)

    def rows(self) -> list[tuple[Any, ...]]:
        rows: list[tuple[Any, ...]] = self.index.db.execute(
            "SELECT chunk_id, chash, start, text FROM chunks ORDER BY chunk_id"
        ).fetchall()
        return rows

    def states(self) -> list[tuple[Any, ...]]:
        rows: list[tuple[Any, ...]] = self.index.db.execute(
            "SELECT * FROM _retrieval_entities ORDER BY etype, eid"
        ).fetchall()
        return rows


@pytest.fixture
def local(tmp_path: Path, alice: Identity, tick: Callable[[], int]) -> Setup:
    room = tmp_path / "room.db"
    replica = create_local(room, alice, "room", clock=tick)
    return Setup(replica, room)


def test_only_changed_chunks_are_embedded(local: Setup) -> None:
    r, fake, indexer = local.replica, local.fake, local.indexer
    for d in ("d1", "d2", "d3"):
        r.commit(OPS, set_text(d, doc_text(d)))
    r.commit(OPS, {"ops": [op("Other", "x", "text", "lww", {"set": "not indexed " * 30})]})
    first = catch_up(indexer, r)
    n = len(local.rows())
    assert n >= 6 and first.chunks_embedded == n == fake.embedded and first.entities == 3
    assert indexer.cursor == r.store.since(0)[-1][0]
    assert catch_up(indexer, r).events == 0  # nothing new

    edited = doc_text("d2").replace("Section 2 of d2.", "Section 2 of d2 was amended.")
    r.commit(OPS, set_text("d2", edited))
    second = catch_up(indexer, r)
    assert (second.chunks_embedded, second.chunks_deleted, second.entities) == (1, 0, 1)
    assert fake.embedded == n + 1
    hit = local.index.search("amended", k=1, where={"eid": "d2"})[0]
    assert "amended" in hit.text and edited[hit.start : hit.end] == hit.text

    # a paragraph removed shifts later chunks: their vectors come from the cache, one chunk goes away
    shorter = "\n\n".join(para("d1", i) for i in (0, 2, 3))
    r.commit(OPS, set_text("d1", shorter))
    third = catch_up(indexer, r)
    assert third.chunks_embedded == 0 and third.chunks_deleted >= 1
    expected = {c.text for c in chunk_text(shorter, **CHUNKING)}
    assert {h.text for h in local.index.search("d1", k=50, where={"eid": "d1"})} == expected

    r.commit(OPS, {"ops": [op("DocumentVersion", "d3", "_deleted", "lww", {"set": True})]})
    fourth = catch_up(indexer, r)
    assert fourth.chunks_deleted > 0 and local.index.search("d3", where={"eid": "d3"}) == []


def test_rga_text_fields_are_joined(local: Setup) -> None:
    r = local.replica
    body = doc_text("note", 3)
    ev = r.commit(OPS, {"ops": [op("Note", "n1", "body", "rga", {"insert": list(body), "after": None})]})
    catch_up(local.indexer, r)
    before = local.fake.embedded
    # insert "NEW " right after the first character of the last paragraph
    at = body.index("Section 2")
    r.commit(
        OPS, {"ops": [op("Note", "n1", "body", "rga", {"insert": list("NEW "), "after": [ev.id, 0, at]})]}
    )
    stats = catch_up(local.indexer, r)
    assert stats.chunks_embedded == 1 and local.fake.embedded == before + 1
    hit = local.index.search("NEW", k=1, where={"etype": "Note"})[0]
    assert hit.text.startswith("SNEW ection 2")


def test_a_failure_mid_batch_leaves_cursor_rows_and_states_unchanged(
    local: Setup, monkeypatch: pytest.MonkeyPatch
) -> None:
    r, indexer = local.replica, local.indexer
    r.commit(OPS, set_text("d1", doc_text("d1")))
    catch_up(indexer, r)
    cursor, rows, states = indexer.cursor, local.rows(), local.states()
    r.commit(OPS, set_text("d1", doc_text("d1").replace("Section 1", "Changed 1")))
    r.commit(OPS, set_text("d2", doc_text("d2")))

    local.fake.fail_on = lambda texts: True  # the model fails before any write
    with pytest.raises(RuntimeError):
        catch_up(indexer, r)
    assert (indexer.cursor, local.rows(), local.states()) == (cursor, rows, states)
    local.fake.fail_on = None

    real_write = local.index._write
    calls = []

    def failing_write(it: IndexItem, vec: Any, stored: Any) -> int:
        calls.append(it.chunk_id)
        if len(calls) == 3:
            raise OSError("disk on fire")
        return real_write(it, vec, stored)

    monkeypatch.setattr(local.index, "_write", failing_write)
    with pytest.raises(OSError):
        catch_up(indexer, r)
    assert len(calls) == 3
    assert (indexer.cursor, local.rows(), local.states()) == (cursor, rows, states)
    monkeypatch.undo()
    embedded = local.fake.embedded
    catch_up(indexer, r)
    assert local.fake.embedded == embedded  # the failed runs' embeddings were kept by the cache
    assert indexer.cursor > cursor and any("Changed 1" in row[3] for row in local.rows())


def test_rebuild_and_config_change_reembed_nothing(local: Setup) -> None:
    r = local.replica
    for d in ("d1", "d2"):
        r.commit(OPS, set_text(d, doc_text(d)))
    catch_up(local.indexer, r)
    rows, embedded = local.rows(), local.fake.embedded
    stats = catch_up(local.indexer, r, reset=True)
    assert stats.chunks_embedded == 0 and local.rows() == rows and local.fake.embedded == embedded
    # another chunking: a fresh derivation on open, still only new texts embedded
    other = RetrievalIndexer(local.index, local.cache, SOURCES, max_chars=300, min_chars=50)
    assert other.cursor == 0 and len(local.index) == 0
    catch_up(other, r)
    assert len(local.index) > 0


def test_memory_replica_skips_quarantined_events(
    tmp_path: Path, alice: Identity, mallory: Identity, tick: Callable[[], int]
) -> None:
    a = Replica.create(MemoryStore(), alice, "room", nonce="n", clock=tick)
    first = a.commit(OPS, set_text("d1", doc_text("d1")))
    # mallory holds no grant: her signed write is quarantined on ingest and must never be indexed
    forged = create_event(
        mallory, scope=a.scope, seq=1, deps=[first.id], lamport=first.lamport + 1, time_ms=0, kind=OPS,
        payload=set_text("evil", "injected text that must never be indexed " * 5),
    )  # fmt: skip
    report = a.ingest([forged.raw])
    assert [q[0] for q in report.quarantined] == [forged.id]
    setup = Setup(a, tmp_path / "index.db")
    catch_up(setup.indexer, a)
    assert {row[0].split("/")[1] for row in setup.rows()} == {"d1"}


def test_not_a_follower_by_default(local: Setup) -> None:
    assert all(not isinstance(f, RetrievalIndexer) for f in local.replica.followers)
    local.replica.commit(OPS, set_text("d1", doc_text("d1")))
    assert len(local.index) == 0 and local.fake.calls == 0  # nothing happens until catch_up


def test_text_from_an_accepted_proposal_is_indexed(local: Setup, bob: Identity) -> None:
    from agentcrdt.capabilities import Capability
    from agentcrdt.rooms.local import join_memory
    from agentcrdt.rooms.workflow import Provenance, grant, propose, review

    r = local.replica
    grant(r, bob.author, Capability("writer", writes=("Note.body",), proposal_kinds=("draft",)))
    agent = join_memory(r, bob)
    text = "The agent drafted this note about the escrow account and the closing date. " * 2
    made = propose(
        agent,
        slot="writer",
        kind="draft",
        ops=[op("Note", "n1", "body", "lww", {"set": text})],
        rationale="a draft",
        confidence="0.9",
        provenance=Provenance(model="fake", prompt_hash="sha256:" + "0" * 64),
    )
    r.sync_with(agent)
    assert catch_up(local.indexer, r).chunks_embedded == 0  # pending: not the note's text yet
    review(r, made.id, "accept")
    assert catch_up(local.indexer, r).chunks_embedded > 0  # the review applies the proposal's ops
    assert any(row[0].startswith("Note/n1/body/") for row in local.rows())


def test_an_index_built_before_another_process_quarantined_its_text_is_derived_again(
    tmp_path: Path, alice: Identity, bob: Identity
) -> None:
    from agentcrdt.store.sqlite import SQLiteStore

    room = tmp_path / "room.db"
    here = create_local(room, alice, "room", owners=(bob.author,))
    b = Replica.join(MemoryStore(), here.genesis.raw, identity=bob)
    fork = Replica.join(MemoryStore(), here.genesis.raw, identity=bob)  # bob's key, signing a second branch
    b.commit(OPS, set_text("d1", doc_text("d1")))
    fork.commit(OPS, set_text("d2", doc_text("d2")))
    here.ingest(b.missing_for(here.heads))
    setup = Setup(here, room)
    catch_up(setup.indexer, here)
    assert {row[0].split("/")[1] for row in setup.rows()} == {"d1"}
    # Another process, with no indexer, learns that bob equivocated: both branches are quarantined.
    elsewhere = Replica.open(SQLiteStore(room), identity=alice)
    elsewhere.ingest(fork.missing_for(elsewhere.heads))
    assert elsewhere.state_at().value("DocumentVersion", "d1") is None
    catch_up(setup.indexer, here)
    assert setup.rows() == []  # derived again: the quarantined text is gone
    assert setup.indexer.epoch() == elsewhere.verdict_epoch() == 1
