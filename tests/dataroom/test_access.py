"""The access log: reads are local-only signed events, never synced, refused when they cannot be logged."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from agentcrdt.dataroom import ACCESS, Dataroom
from agentcrdt.dataroom.access import check_access_payload
from agentcrdt.errors import CapabilityDenied, EncodingError, UsageError
from agentcrdt.log.audit import verify_log
from agentcrdt.log.keys import Identity
from agentcrdt.replica import Replica
from agentcrdt.store.memory import MemoryStore


def test_read_is_logged_locally(room: Dataroom, write: Callable[..., Path]) -> None:
    room.add([write("nda.txt", "secret terms")])
    heads, count = room.replica.heads, room.replica.store.count()
    reading = room.read("nda")
    assert reading.text == "secret terms"
    assert room.replica.store.count() == count + 1
    assert room.replica.heads == heads  # local events are not shared heads
    [record] = room.access_log()
    assert record.event_id == reading.access_event
    assert (record.reader, record.document, record.version) == (
        room.replica.identity.author,  # type: ignore[union-attr]
        "nda",
        reading.version.id,
    )
    assert record.local and record.via == "api:read" and record.content_hash == reading.version.content_hash
    stored = room.replica.store.get(record.event_id)
    assert stored is not None and stored.local and stored.kind == ACCESS


def test_every_read_and_version_is_recorded(room: Dataroom, write: Callable[..., Path]) -> None:
    path = write("msa.txt", "v1")
    room.add([path, write("nda.txt", "n")])
    path.write_text("v2")
    room.add([path])
    room.read("msa")
    room.read("msa", 1)
    room.read("nda", via="cli:show")
    log = room.access_log()
    assert [(r.document, r.via) for r in log] == [
        ("msa", "api:read"),
        ("msa", "api:read"),
        ("nda", "cli:show"),
    ]
    assert log[0].version != log[1].version
    assert [r.document for r in room.access_log("msa")] == ["msa", "msa"]


def test_access_events_are_never_synced(room: Dataroom, write: Callable[..., Path]) -> None:
    room.add([write("nda.txt", "secret terms")])
    room.read("nda")
    room.read("nda")
    genesis = room.replica.store.get(room.replica.scope)
    assert genesis is not None
    peer = Replica.join(MemoryStore(), genesis.raw, identity=Identity.from_name("peer"))
    outgoing = room.replica.missing_for(peer.heads)
    kinds = {s.kind for s in room.replica.store.get_many(room.replica.dag.topo_order()).values()}
    assert ACCESS in kinds
    report = peer.ingest(outgoing)
    assert report.ok
    assert all(peer.store.get(r.event_id) is None for r in room.access_log())
    peer_room = Dataroom(peer)
    assert peer_room.access_log() == []
    assert [d.id for d in peer_room.documents()] == ["nda"]  # the document itself did sync


def test_read_without_a_key_is_refused(tmp_path: Path, room: Dataroom, write: Callable[..., Path]) -> None:
    room.add([write("nda.txt", "secret")])
    with Dataroom.open(tmp_path / "room.db") as anonymous:
        count = anonymous.replica.store.count()
        with pytest.raises(UsageError, match="every read is logged"):
            anonymous.read("nda")
        assert anonymous.replica.store.count() == count
        assert anonymous.document("nda").id == "nda"  # metadata stays readable


def test_read_that_cannot_be_logged_is_refused(
    tmp_path: Path, room: Dataroom, write: Callable[..., Path]
) -> None:
    room.add([write("nda.txt", "secret")])
    with Dataroom.open(tmp_path / "room.db", identity=Identity.from_name("stranger")) as stranger:
        count = stranger.replica.store.count()
        with pytest.raises(CapabilityDenied, match="cannot be logged, so it is refused"):
            stranger.read("nda")
        assert stranger.replica.store.count() == count


def test_access_events_pass_the_audit(room: Dataroom, write: Callable[..., Path]) -> None:
    room.add([write("nda.txt", "secret")])
    room.read("nda")
    events = room.replica.store.since(0)
    report = verify_log(events, stored_heads=room.replica.store.heads())
    assert report.intact and report.kinds.get(ACCESS) == 1


def test_access_payload_validation() -> None:
    good = {
        "document": "nda",
        "version": "nda@0123456789abcdef",
        "content_hash": "sha256:" + "a" * 64,
        "via": "x",
    }
    check_access_payload(good)
    for bad in (
        {**good, "extra": 1},
        {**good, "document": ""},
        {**good, "version": 7},
        {**good, "content_hash": "md5:abc"},
        {**good, "via": "v" * 65},
        [],
    ):
        with pytest.raises(EncodingError):
            check_access_payload(bad)
