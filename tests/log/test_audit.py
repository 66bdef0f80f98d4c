"""Audit: ``verify_log`` and ``agentcrdt audit verify`` over a real room file, tampered with in SQLite.

Every tampering test names the exact first bad event (position and id); the intact room is the twin.
"""

from __future__ import annotations

import itertools
import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from agentcrdt.cli import main
from agentcrdt.log.audit import AuditReport, LogVerifier, verify_log
from agentcrdt.log.event import Event, create_event
from agentcrdt.log.keys import Identity, digest
from agentcrdt.ops.state import op
from agentcrdt.replica import Replica
from agentcrdt.rooms.local import create_local
from agentcrdt.store.base import EventStore, StoredEvent
from agentcrdt.store.driver import driver
from agentcrdt.store.memory import MemoryStore
from agentcrdt.store.sqlite import SQLiteStore

ALICE = Identity.from_name("alice")
BOB = Identity.from_name("bob")
MALLORY = Identity.from_name("mallory")


def set_title(value: str, entity_id: str = "d1") -> dict[str, Any]:
    return {"ops": [op("Doc", entity_id, "title", "lww", {"set": value})]}


@dataclass
class Room:
    path: Path
    alice: Replica
    bob: Replica
    local_id: str

    def rows(self) -> list[tuple[int, str, tuple[str, ...], bytes]]:
        """(position, id, deps, raw) of every stored event, in position order."""
        # The room is open in this process: tamper through the same SQLite library (store.driver).
        with driver().module.connect(self.path) as db:
            out = db.execute("SELECT position, id, deps, raw FROM events ORDER BY position").fetchall()
        db.close()
        return [(p, i, tuple(d.split()), bytes(r)) for p, i, d, r in out]

    def shared(self, index: int) -> tuple[int, str, tuple[str, ...], bytes]:
        """The first non-local row at or after ``index``."""
        return next(r for r in self.rows()[index:] if r[1] != self.local_id)

    def sql(self, statement: str, *params: Any) -> None:
        db = driver().module.connect(self.path)
        with db:
            db.execute(statement, params)
        db.close()

    def insert(self, event: Event) -> int:
        position = self.rows()[-1][0] + 1
        self.sql(
            "INSERT INTO events (position, id, scope, author, seq, lamport, kind, deps, local, raw) "
            "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            position,
            event.id,
            event.scope,
            event.author,
            event.seq,
            event.lamport,
            event.kind,
            " ".join(event.deps),
            int(event.local),
            event.raw,
        )
        return position


def _all(store: EventStore) -> Iterator[tuple[int, StoredEvent]]:
    cursor = 0
    while batch := store.since(cursor, limit=4):  # small pages: exercise paging
        yield from batch
        cursor = batch[-1][0]


def audit(path: Path) -> AuditReport:
    """The whole log's audit; and, checked equal to it, the incremental one fed the log in pieces of
    every size (as the UI does while the log grows), so every tampering below is caught alike."""
    with SQLiteStore(path) as store:
        whole = verify_log(_all(store), stored_heads=store.heads())
        rows = list(_all(store))
        for size in range(1, len(rows) + 1):
            verifier = LogVerifier()
            for start in range(0, len(rows), size):
                verifier.feed(rows[start : start + size])
                assert (
                    verifier.report.failure is not None
                    or verifier.position == rows[min(start + size, len(rows)) - 1][0]
                )
            incremental = verifier.report
            incremental.failure = incremental.failure or verifier.check_heads(store.heads())
            assert incremental == whole, f"fed {size} at a time"
        return whole


@pytest.fixture
def room(tmp_path: Path) -> Room:
    """Alice's SQLite room, Bob's in-memory replica, concurrent commits, syncs and one local-only event."""
    path = tmp_path / "room.db"
    ticks = itertools.count(1_700_000_000_000, 1000)  # a deterministic wall clock: the room is reproducible
    alice = create_local(
        path, ALICE, "audit room", owners=(BOB.author,), nonce="audit", clock=lambda: next(ticks)
    )
    bob = Replica.join(MemoryStore(), alice.genesis.raw, identity=BOB, clock=lambda: next(ticks))
    alice.commit("ops", set_title("a1"))
    alice.commit("ops", set_title("a2"))
    bob.commit("ops", set_title("b1", "d2"))
    alice.sync_with(bob)
    bob.commit("ops", set_title("b2"))
    alice.commit("ops", set_title("a3"))  # concurrent with b2
    local = alice.commit("ops", set_title("draft", "scratch"), local=True)
    alice.sync_with(bob)
    alice.commit("ops", set_title("merge"))  # depends on both a3 and b2
    bob.commit("ops", set_title("b3"))
    alice.sync_with(bob)
    return Room(path, alice, bob, local.id)


def test_the_incremental_audit_trusts_rows_it_verified_and_a_fresh_one_does_not(room: Room) -> None:
    # What LogVerifier promises and what it does not: rows after its position are verified as they
    # come; a row it verified earlier and someone changed since is caught only by a fresh verifier.
    with SQLiteStore(room.path) as store:
        verifier = LogVerifier()
        verifier.feed(_all(store))
        assert verifier.report.intact
    position, event_id, _, raw = room.shared(3)
    room.sql("UPDATE events SET raw = ? WHERE position = ?", raw.replace(b"b1", b"B1"), position)
    room.alice.commit("ops", set_title("later"))
    with SQLiteStore(room.path) as store:
        assert verifier.feed(store.since(verifier.position)).intact  # only the new row was verified
        fresh = verify_log(_all(store))
    assert fresh.failure is not None and fresh.failure.event_id == event_id


def test_room_fixture_shape(room: Room) -> None:
    rows = room.rows()
    assert len(rows) == 9
    assert sorted(room.alice.heads) == sorted(room.bob.heads)
    assert any(len(deps) == 2 for _, _, deps, _ in rows), "the fixture must hold a merge event"


def test_intact_room_verifies(room: Room) -> None:
    report = audit(room.path)
    assert report.intact, report.failure
    assert report.events == 9
    assert report.scope == room.alice.scope
    assert report.authors == {ALICE.author, BOB.author}
    assert report.kinds == {"genesis": 1, "ops": 8}
    assert report.heads == room.alice.heads
    assert room.local_id not in report.heads
    assert report.equivocations == []


def test_memory_replica_verifies_too(room: Room) -> None:
    store = room.bob.store
    report = verify_log(_all(store), stored_heads=store.heads())
    assert report.intact and report.events == 8  # everything but alice's local-only event
    assert report.heads == room.alice.heads


# -- raw bytes -------------------------------------------------------------------------------------


def test_every_sampled_byte_change_in_raw_names_that_event(room: Room) -> None:
    rows = room.rows()
    position, event_id, _, raw = rows[4]
    reasons = set()
    for offset in range(0, len(raw), 17):
        mutated = bytearray(raw)
        mutated[offset] ^= 0x01
        room.sql("UPDATE events SET raw = ? WHERE position = ?", bytes(mutated), position)
        report = audit(room.path)
        assert report.failure is not None, offset
        assert (report.failure.position, report.failure.event_id) == (position, event_id), offset
        assert report.events == 4
        reasons.add(report.failure.reason)
    assert reasons <= {"malformed", "non_canonical", "hash_mismatch", "bad_signature"}
    assert "hash_mismatch" in reasons
    room.sql("UPDATE events SET raw = ? WHERE position = ?", raw, position)
    assert audit(room.path).intact  # twin: restored bytes verify again


def test_payload_byte_change_is_a_hash_mismatch(room: Room) -> None:
    position, event_id, _, raw = room.rows()[2]
    assert b'"set":"a2"' in raw
    room.sql(
        "UPDATE events SET raw = ? WHERE position = ?", raw.replace(b'"set":"a2"', b'"set":"a9"'), position
    )
    failure = audit(room.path).failure
    assert failure is not None
    assert (failure.position, failure.event_id, failure.reason) == (position, event_id, "hash_mismatch")


def test_swapped_raw_between_rows_names_the_first(room: Room) -> None:
    rows = room.rows()
    (p1, id1, _, raw1), (p2, _, _, raw2) = rows[3], rows[6]
    room.sql("UPDATE events SET raw = ? WHERE position = ?", raw2, p1)
    room.sql("UPDATE events SET raw = ? WHERE position = ?", raw1, p2)
    failure = audit(room.path).failure
    assert failure is not None
    assert (failure.position, failure.event_id, failure.reason) == (p1, id1, "hash_mismatch")


def test_forged_replacement_with_matching_id_is_a_bad_signature(room: Room) -> None:
    # The attacker rewrites a whole row consistently (raw, id, columns) but cannot sign as alice.
    position, old_id, _, _ = room.rows()[2]
    original = next(e for e in room.alice.events() if e.id == old_id)
    forged = create_event(
        MALLORY,
        scope=original.scope,
        seq=original.seq,
        deps=original.deps,
        lamport=original.lamport,
        time_ms=original.time,
        kind="ops",
        payload=set_title("forged"),
    )
    raw = forged.raw.replace(MALLORY.author.encode(), ALICE.author.encode())
    core = raw[len(b'{"core":') : -len(b',"sig":"') - 128 - len(b'"}')]
    new_id = digest(core)
    room.sql("UPDATE events SET raw = ?, id = ? WHERE position = ?", raw, new_id, position)
    failure = audit(room.path).failure
    assert failure is not None
    assert (failure.position, failure.event_id, failure.reason) == (position, new_id, "bad_signature")


# -- index columns ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("column", "value"),
    [
        ("lamport", 99),
        ("seq", 42),
        ("author", MALLORY.author),
        ("kind", "genesis"),
        ("deps", ""),
        ("local", 1),
        ("scope", "sha256:" + "0" * 64),
    ],
)
def test_changed_index_column_is_an_index_mismatch(room: Room, column: str, value: Any) -> None:
    position, event_id, _, _ = room.shared(5)
    room.sql(f"UPDATE events SET {column} = ? WHERE position = ?", value, position)
    failure = audit(room.path).failure
    assert failure is not None
    assert (failure.position, failure.event_id, failure.reason) == (position, event_id, "index_mismatch")
    assert column in failure.detail


def test_local_flag_cleared_on_a_local_event(room: Room) -> None:
    position = next(p for p, i, _, _ in room.rows() if i == room.local_id)
    room.sql("UPDATE events SET local = 0 WHERE position = ?", position)
    failure = audit(room.path).failure
    assert failure is not None
    assert (failure.position, failure.event_id, failure.reason) == (position, room.local_id, "index_mismatch")


def test_changed_id_column_is_a_hash_mismatch(room: Room) -> None:
    position, _, _, _ = room.rows()[5]
    fake = "sha256:" + "f" * 64
    room.sql("UPDATE events SET id = ? WHERE position = ?", fake, position)
    failure = audit(room.path).failure
    assert failure is not None
    assert (failure.position, failure.event_id, failure.reason) == (position, fake, "hash_mismatch")


# -- structure -------------------------------------------------------------------------------------


def test_deleted_dependency_names_its_first_dependent(room: Room) -> None:
    rows = room.rows()
    victim = rows[2][1]
    first_dependent = next((p, i) for p, i, deps, _ in rows if victim in deps)
    room.sql("DELETE FROM events WHERE id = ?", victim)
    report = audit(room.path)
    assert report.failure is not None
    assert (report.failure.position, report.failure.event_id) == first_dependent
    assert report.failure.reason == "missing_deps"
    assert victim in report.failure.detail


def test_deleted_head_is_a_heads_mismatch(room: Room) -> None:
    head = sorted(room.alice.heads)[0]
    dependents = [i for _, i, deps, _ in room.rows() if head in deps]
    assert dependents == [room.local_id] or dependents == []  # only a local event may build on a head
    room.sql("DELETE FROM events WHERE id = ? ", room.local_id)
    room.sql("DELETE FROM events WHERE id = ?", head)
    failure = audit(room.path).failure
    assert failure is not None and failure.reason == "heads_mismatch"


def test_deleted_genesis(room: Room) -> None:
    rows = room.rows()
    room.sql("DELETE FROM events WHERE position = ?", rows[0][0])
    failure = audit(room.path).failure
    assert failure is not None
    assert (failure.position, failure.event_id, failure.reason) == (rows[1][0], rows[1][1], "no_genesis")


def test_reordered_rows_name_the_early_dependent(room: Room) -> None:
    rows = room.rows()
    p_dep, dep_id, _, _ = rows[1]
    p_child, child_id = next((p, i) for p, i, deps, _ in rows if dep_id in deps)
    room.sql("UPDATE events SET position = -1 WHERE position = ?", p_dep)
    room.sql("UPDATE events SET position = ? WHERE position = ?", p_dep, p_child)
    room.sql("UPDATE events SET position = ? WHERE position = -1", p_child)
    failure = audit(room.path).failure
    assert failure is not None
    assert (failure.position, failure.event_id, failure.reason) == (p_dep, child_id, "missing_deps")


def _valid_extra(room: Room, identity: Identity, **overrides: Any) -> Event:
    heads = sorted(room.alice.heads)
    lamport = 1 + max(room.alice.dag.lamport(h) for h in heads)
    kwargs: dict[str, Any] = {
        "scope": room.alice.scope,
        "seq": 100,
        "deps": heads,
        "lamport": lamport,
        "time_ms": 1,
        "kind": "ops",
        "payload": set_title("extra"),
    }
    return create_event(identity, **{**kwargs, **overrides})


def test_appended_valid_event_twin(room: Room) -> None:
    extra = _valid_extra(room, BOB)
    room.sql("DELETE FROM heads")
    room.sql("INSERT INTO heads (id) VALUES (?)", extra.id)
    room.insert(extra)
    report = audit(room.path)
    assert report.intact, report.failure
    assert report.heads == {extra.id}


def test_event_from_another_scope(room: Room) -> None:
    other = create_local(room.path.with_name("other.db"), ALICE, "other room")
    foreign = other.commit("ops", set_title("elsewhere"))
    position = room.insert(foreign)
    failure = audit(room.path).failure
    assert failure is not None
    assert (failure.position, failure.event_id, failure.reason) == (position, foreign.id, "wrong_scope")


def test_second_genesis(room: Room) -> None:
    genesis = create_event(
        ALICE,
        scope=None,
        seq=1,
        deps=(),
        lamport=1,
        time_ms=0,
        kind="genesis",
        payload={"name": "again", "owners": [ALICE.author], "nonce": ""},
    )
    position = room.insert(genesis)
    failure = audit(room.path).failure
    assert failure is not None
    assert (failure.position, failure.event_id, failure.reason) == (position, genesis.id, "wrong_scope")


def test_wrong_lamport(room: Room) -> None:
    extra = _valid_extra(room, BOB)
    bad = _valid_extra(room, BOB, lamport=extra.lamport + 1)
    position = room.insert(bad)
    failure = audit(room.path).failure
    assert failure is not None
    assert (failure.position, failure.event_id, failure.reason) == (position, bad.id, "bad_lamport")


def test_shared_event_on_local_dep(room: Room) -> None:
    local = room.alice.dag.get(room.local_id)
    assert local is not None
    bad = _valid_extra(room, BOB, deps=[room.local_id], lamport=local.lamport + 1)
    position = room.insert(bad)
    failure = audit(room.path).failure
    assert failure is not None
    assert (failure.position, failure.event_id, failure.reason) == (position, bad.id, "local_dep")
    # Twin: a local event may build on a local event.
    room.sql("DELETE FROM events WHERE position = ?", position)
    ok = _valid_extra(room, BOB, deps=[room.local_id], lamport=local.lamport + 1, local=True)
    room.insert(ok)
    assert audit(room.path).intact


def test_tampered_heads_table(room: Room) -> None:
    head = sorted(room.alice.heads)[0]
    room.sql("DELETE FROM heads WHERE id = ?", head)
    failure = audit(room.path).failure
    assert failure is not None and failure.reason == "heads_mismatch"


# -- equivocation ----------------------------------------------------------------------------------


def _equivocate(room: Room) -> tuple[Event, Event]:
    a = _valid_extra(room, BOB, seq=50, payload=set_title("one"))
    b = _valid_extra(room, BOB, seq=50, payload=set_title("two"))
    report = room.alice.ingest([a.raw, b.raw], source="bob")
    assert report.rejected == []
    return a, b


def test_equivocation_is_reported_and_the_log_stays_intact(room: Room) -> None:
    a, b = _equivocate(room)
    report = audit(room.path)
    assert report.intact, report.failure
    assert report.equivocations == [(a.id, b.id)]
    assert report.events == 11
    assert room.alice.verdict(a.id)[0] == room.alice.verdict(b.id)[0] == "quarantined"
    assert "equivocation" in room.alice.verdict(b.id)[1]


def test_no_equivocation_twin(room: Room) -> None:
    a = _valid_extra(room, BOB, seq=50, payload=set_title("one"))
    b = _valid_extra(room, BOB, seq=51, payload=set_title("two"))
    assert room.alice.ingest([a.raw, b.raw]).rejected == []
    report = audit(room.path)
    assert report.intact and report.equivocations == []


# -- the CLI ---------------------------------------------------------------------------------------


def test_cli_intact(room: Room, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["audit", "verify", str(room.path)]) == 0
    out = capsys.readouterr().out
    assert "intact: 9 events by 2 authors" in out
    assert room.alice.scope in out


def test_cli_tampered(room: Room, capsys: pytest.CaptureFixture[str]) -> None:
    position, event_id, _, _ = room.rows()[3]
    room.sql("UPDATE events SET lamport = lamport + 1 WHERE position = ?", position)
    assert main(["audit", "verify", str(room.path)]) == 1
    out = capsys.readouterr().out
    assert "TAMPERED" in out and event_id in out and f"#{position}" in out


def test_cli_json(room: Room, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["audit", "verify", "--json", str(room.path)]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["intact"] is True and report["events"] == 9 and report["failure"] is None
    position, event_id, _, raw = room.rows()[7]
    flipped = raw[:-3] + (b"01" if raw[-3:-1] == b"00" else b"00") + raw[-1:]  # last signature byte
    room.sql("UPDATE events SET raw = ? WHERE position = ?", flipped, position)
    assert main(["audit", "verify", "--json", str(room.path)]) == 1
    failure = json.loads(capsys.readouterr().out)["failure"]
    assert (failure["position"], failure["event_id"]) == (position, event_id)


def test_cli_reports_equivocation_as_intact(room: Room, capsys: pytest.CaptureFixture[str]) -> None:
    a, b = _equivocate(room)
    assert main(["audit", "verify", str(room.path)]) == 0
    out = capsys.readouterr().out
    assert f"equivocation kept as proof: {a.id} vs {b.id}" in out


def test_cli_missing_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["audit", "verify", str(tmp_path / "nope.db")]) == 2
    assert "no room file" in capsys.readouterr().err


# -- verdicts --------------------------------------------------------------------------------------


def _forged(room: Room) -> Event:
    """An event signed by a peer without any grant, on top of the room's heads."""
    heads = sorted(room.alice.heads)
    lamport = 1 + max(room.alice.dag.lamport(h) for h in heads)
    return create_event(
        MALLORY,
        scope=room.alice.scope,
        seq=1,
        deps=heads,
        lamport=lamport,
        time_ms=0,
        kind="ops",
        payload=set_title("forged"),
    )


def test_audit_names_a_forged_event_with_a_valid_verdict_row(
    room: Room, capsys: pytest.CaptureFixture[str]
) -> None:
    forged = _forged(room)
    position = room.insert(forged)
    room.sql("UPDATE events SET verdict = 'valid', reason = '' WHERE id = ?", forged.id)
    room.sql("DELETE FROM heads")
    room.sql("INSERT INTO heads (id) VALUES (?)", forged.id)
    assert audit(room.path).intact  # integrity alone cannot see it: the event is properly signed
    assert main(["audit", "verify", str(room.path)]) == 1
    out = capsys.readouterr().out
    assert f"event #{position} {forged.id} fails: verdict_mismatch" in out
    assert "not_authorized" in out


def test_audit_names_the_first_flipped_verdict(room: Room, capsys: pytest.CaptureFixture[str]) -> None:
    forged = _forged(room)
    room.alice.ingest([forged.raw])
    assert room.alice.verdict(forged.id)[0] == "quarantined"
    assert main(["audit", "verify", str(room.path)]) == 0  # the twin: derived and stored agree
    capsys.readouterr()
    room.sql("UPDATE events SET verdict = 'valid', reason = '' WHERE id = ?", forged.id)
    assert main(["audit", "verify", str(room.path), "--json"]) == 1
    failure = json.loads(capsys.readouterr().out)["failure"]
    assert (failure["event_id"], failure["reason"]) == (forged.id, "verdict_mismatch")
