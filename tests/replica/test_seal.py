"""Stored verdicts are believed only under this installation's seal.

A hostile writer of the room file adds a signed but unauthorized event with a ``valid`` verdict row and
the matching heads, or flips a stored verdict: the replica must judge such rows itself, on open and
when another process appends. A room file from another installation is judged again in full, with
progress, and its projections rebuilt. The twins: a room of our own opens without loading its DAG, and
rows another process of ours wrote are trusted without a second verification.
"""

from __future__ import annotations

import json
import os
import sqlite3
from collections.abc import Iterator
from pathlib import Path

import pytest

from agentcrdt.capabilities import Capability
from agentcrdt.log.event import create_event
from agentcrdt.log.keys import Identity
from agentcrdt.ops.state import op
from agentcrdt.replica import Replica
from agentcrdt.rooms.local import create_local, open_local
from agentcrdt.rooms.workflow import grant
from agentcrdt.store.driver import driver
from agentcrdt.store.seal import seal_key
from agentcrdt.store.sqlite import SQLiteStore

OWNER = Identity.from_name("seal-owner")
MALLORY = Identity.from_name("seal-mallory")


def title(value: str) -> dict[str, object]:
    return {"ops": [op("Doc", "d1", "title", "lww", {"set": value})]}


@pytest.fixture
def room(tmp_path: Path) -> Path:
    path = tmp_path / "room.db"
    r = create_local(path, OWNER, "room")
    r.commit("ops", title("by the owner"))
    r.store.close()
    return path


def sql(path: Path, statement: str, *params: object) -> None:
    db = driver().module.connect(str(path))
    with db:
        db.execute(statement, params)
    db.close()


def forge_row(path: Path) -> str:
    """Append, straight into the file, an event signed by a peer holding no grant, marked valid, and
    make it the head: what someone who can write the file can do."""
    store = SQLiteStore(path)
    r = Replica(store)  # read the heads and clocks only; nothing is judged through it
    heads = sorted(r.heads)
    lamport = 1 + max(r.dag.lamport(h) for h in heads)
    forged = create_event(
        MALLORY,
        scope=r.scope,
        seq=1,
        deps=heads,
        lamport=lamport,
        time_ms=0,
        kind="ops",
        payload=title("forged"),
    )
    store.close()
    sql(
        path,
        "INSERT INTO events (id, scope, author, seq, lamport, kind, deps, local, raw, verdict, reason)"
        " VALUES (?, ?, ?, ?, ?, ?, ?, 0, ?, 'valid', '')",
        forged.id,
        forged.scope,
        forged.author,
        forged.seq,
        forged.lamport,
        forged.kind,
        " ".join(forged.deps),
        forged.raw,
    )
    sql(path, "DELETE FROM heads")
    sql(path, "INSERT INTO heads (id) VALUES (?)", forged.id)
    return forged.id


def doc_title(r: Replica) -> object:
    db: sqlite3.Connection = r.followers[0].db  # type: ignore[attr-defined]
    row = db.execute("SELECT value FROM entities WHERE etype = 'Doc' AND id = 'd1'").fetchone()
    return None if row is None else json.loads(row[0]).get("title")


def test_a_forged_valid_row_appended_to_the_file_is_judged_on_open(room: Path) -> None:
    forged = forge_row(room)
    r = open_local(room)
    assert r.verdict(forged)[0] == "quarantined"
    assert r.state_at().value("Doc", "d1") == {"title": "by the owner"}
    assert doc_title(r) == "by the owner"  # the projection never applied it
    r.store.close()
    again = open_local(room)  # sealed now: the corrected verdict is ours and holds
    assert again._dag is None and again.verdict(forged)[0] == "quarantined"


def test_a_flipped_verdict_inside_the_sealed_rows_is_caught(room: Path) -> None:
    r = open_local(room, identity=OWNER)
    bad = create_event(
        MALLORY,
        scope=r.scope,
        seq=1,
        deps=sorted(r.heads),
        lamport=1 + max(r.dag.lamport(h) for h in r.heads),
        time_ms=0,
        kind="ops",
        payload=title("sneaky"),
    )
    r.ingest([bad.raw])
    assert r.verdict(bad.id)[0] == "quarantined"
    r.commit("ops", title("later, by the owner"))
    r.store.close()
    sql(room, "UPDATE events SET verdict = 'valid', reason = '' WHERE id = ?", bad.id)
    again = open_local(room)
    assert again.verdict(bad.id)[0] == "quarantined"  # the seal no longer matched: judged again
    assert again.state_at().value("Doc", "d1") == {"title": "later, by the owner"}


def test_a_room_of_our_own_opens_without_loading_its_dag(room: Path) -> None:
    r = open_local(room)
    assert r._dag is None
    assert doc_title(r) == "by the owner"


def test_a_room_from_another_installation_is_judged_again_with_progress(
    room: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    r = open_local(room, identity=OWNER)
    grant(r, MALLORY.author, Capability("writer", writes=("Doc.title",), mode="direct"))
    r.store.close()
    mine = seal_key()
    monkeypatch.setenv("AGENTCRDT_HOME", str(tmp_path / "elsewhere"))
    assert seal_key() != mine  # a different installation: a different key
    seen: list[tuple[int, int]] = []
    other = open_local(room, progress=lambda done, total: seen.append((done, total)))
    assert seen and seen[-1][0] == seen[-1][1] == other.store.last_position()
    assert doc_title(other) == "by the owner"
    assert all(v[0] == "valid" for v in other.store.verdicts().values())


def test_rows_another_process_of_ours_appended_are_taken_in(room: Path) -> None:
    a = open_local(room, identity=OWNER)
    a.dag  # noqa: B018
    b = open_local(room, identity=OWNER)
    e = b.commit("ops", title("from b"))
    assert a.refresh() == 1 and a.verdict(e.id)[0] == "valid"
    forged = forge_row(room)  # appended behind both replicas' backs
    a.refresh()
    assert a.verdict(forged)[0] == "quarantined"
    a.commit("ops", title("from a"))
    assert a.state_at().value("Doc", "d1") == {"title": "from a"}


@pytest.fixture(autouse=True)
def _no_stray_env() -> Iterator[None]:
    before = os.environ.get("AGENTCRDT_HOME")
    yield
    assert os.environ.get("AGENTCRDT_HOME") == before


def test_a_batch_of_commits_is_sealed_once_and_opens_vouched(room: Path) -> None:
    r = open_local(room, identity=OWNER)
    writes: list[str] = []
    set_meta = r.store.set_meta
    r.store.set_meta = lambda key, value: (writes.append(key), set_meta(key, value))[1]  # type: ignore[method-assign]
    with r.batch():
        for i in range(3):
            r.commit("ops", title(f"batched {i}"))
        with r.batch():  # nested: joins the outer batch
            r.commit("ops", title("nested"))
    assert writes.count("verdict_seal") == 1
    r.store.close()
    again = open_local(room)
    assert again._dag is None and doc_title(again) == "nested"  # the one seal covers every row
    writer = open_local(room, identity=OWNER)
    with pytest.raises(RuntimeError), writer.batch():  # a failing batch writes nothing, seal included
        writer.commit("ops", title("rolled back"))
        raise RuntimeError("boom")
    assert writer.state_at().value("Doc", "d1") == {"title": "nested"}  # forgot what was rolled back
    assert doc_title(writer) == doc_title(open_local(room)) == "nested"
    assert writer.commit("ops", title("after")).deps != ()
