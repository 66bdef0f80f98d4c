"""The sync protocol between two replicas: random divergent histories converge in a few rounds for little
more than the missing events' bytes; an interrupted sync restarts without duplicates or gaps; hostile
peers (liars, withholders, orphan floods, oversized or nested frames, another scope) corrupt nothing
and do not stop an honest peer from syncing."""

from __future__ import annotations

import contextlib
import random
import struct

import anyio
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from agentcrdt.capabilities import Capability
from agentcrdt.errors import SyncError
from agentcrdt.log.event import create_event, decode_event
from agentcrdt.log.keys import Identity
from agentcrdt.replica import Replica
from agentcrdt.rooms.local import create_memory, join_memory
from agentcrdt.rooms.workflow import grant
from agentcrdt.sync import Events, Hello, SyncSession, decode, encode
from agentcrdt.sync.memory import pump, sync_in_memory
from agentcrdt.sync.wire import MAGIC, MAX_FRAME_BYTES, Have

WRITE = Capability("writer", writes=("Doc.*",), mode="direct")
KEYS = ["a", "b", "c"]


def _room(rng: random.Random, writers: int) -> tuple[list[Replica], Replica]:
    """An owner's room, ``writers`` peers with random names (so author order is random too), each
    granted the writer slot and holding the grants."""
    tag = rng.getrandbits(32)
    owner = create_memory(Identity.from_name(f"owner-{tag}"), "room")
    ids = [Identity.from_name(f"w{i}-{tag}-{rng.random()}") for i in range(writers)]
    for ident in ids:
        grant(owner, ident.author, WRITE)
    return [join_memory(owner, ident) for ident in ids], owner


def _edit(rng: random.Random, r: Replica, n: int) -> None:
    for _ in range(n):
        ops = [
            {"e": "Doc", "id": rng.choice(KEYS), "f": rng.choice(["t", "u"]), "t": "lww",
             "op": {"set": rng.choice([1, "x", None, rng.random().hex()])}}
            for _ in range(rng.randint(1, 3))
        ]  # fmt: skip
        r.commit("ops", {"ops": ops})


def _diverge(rng: random.Random) -> tuple[Replica, Replica, dict[str, bytes]]:
    """Two replicas with a shared past and random, partly shared, divergent histories by several
    authors (some events reach both sides, some one, some as orphans); and every event made."""
    writers, _ = _room(rng, rng.randint(2, 4))
    for _ in range(rng.randint(2, 8)):
        w = rng.choice(writers)
        _edit(rng, w, rng.randint(1, 6))
        other = rng.choice(writers)
        if other is not w and rng.random() < 0.5:
            raws = w.missing_for(other.heads)
            other.ingest(rng.sample(raws, rng.randint(0, len(raws))), source="w")  # partial, reordered
    a, b = rng.sample(writers, 2)
    return a, b, {e.id: e.raw for w in writers for e in w.events()}


def _lacking(a: Replica, b: Replica, every: dict[str, bytes]) -> dict[int, set[str]]:
    """What each side lacks before syncing: neither placed nor buffered as an orphan (an orphan it
    holds need not travel again, and one the other holds must travel, though neither has it placed)."""
    return {id(r): {i for i in every if not r.holds(i)} for r in (a, b)}


def _minimum(a: Replica, b: Replica, every: dict[str, bytes], lacking: dict[int, set[str]]) -> int:
    """The encoded size of the events each side lacked and holds after the sync (call it after)."""
    return sum(len(every[i]) for r in (a, b) for i in lacking[id(r)] if r.holds(i))


def _converged(a: Replica, b: Replica) -> None:
    assert a.heads == b.heads
    assert a.state_hash() == b.state_hash()


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(seed=st.integers(0, 2**32 - 1))
def test_random_divergent_histories_converge_in_few_rounds_for_little_more_than_the_missing_bytes(
    seed: int,
) -> None:
    rng = random.Random(seed)
    a, b, every = _diverge(rng)
    lacking = _lacking(a, b, every)
    sa, sb = SyncSession(a, peer="b"), SyncSession(b, peer="a")
    result = pump(sa, sb)
    _converged(a, b)
    need = _minimum(a, b, every, lacking)
    assert sa.synced and sb.synced
    assert result.rounds <= 12
    assert result.bytes <= 1.1 * need + 8192  # hellos (heads, samples) and filters: a few KiB at most
    a2, b2 = SyncSession(a), SyncSession(b)
    again = pump(a2, b2)  # in sync: hellos, empty answers (and a need for orphans neither can place)
    assert again.rounds <= 4 and again.bytes < 4096
    assert a2.stats.events_sent == b2.stats.events_sent == 0


def test_ten_thousand_events_each_way_cost_at_most_a_tenth_more_than_the_events() -> None:
    rng = random.Random(7)
    (a, b), _ = _room(rng, 2)
    _edit(rng, a, 200)
    b.ingest(a.missing_for(b.heads))
    _edit(rng, a, 10_000)
    _edit(rng, b, 10_000)
    every = {e.id: e.raw for r in (a, b) for e in r.events()}
    lacking = _lacking(a, b, every)
    sa, sb = SyncSession(a), SyncSession(b)
    result = pump(sa, sb)
    _converged(a, b)
    need = _minimum(a, b, every, lacking)
    assert result.bytes <= 1.1 * need and result.rounds <= 10
    assert sa.stats.accepted == sb.stats.accepted == 10_000


def test_an_interrupted_sync_restarts_without_duplicates_or_gaps() -> None:
    rng = random.Random(3)
    (a, b), _ = _room(rng, 2)
    _edit(rng, a, 300)
    _edit(rng, b, 300)
    before = {id(r): {e.id for e in r.events()} for r in (a, b)}
    sent = 0

    def cut(frame: bytes) -> list[bytes]:  # the connection dies after five frames
        nonlocal sent
        sent += 1
        return [frame] if sent <= 5 else []

    first_a, first_b = SyncSession(a, batch_bytes=20_000), SyncSession(b, batch_bytes=20_000)
    pump(first_a, first_b, a_to_b=cut, b_to_a=cut)
    assert a.heads != b.heads  # part of it arrived
    again_a, again_b = SyncSession(a), SyncSession(b)
    pump(again_a, again_b)
    _converged(a, b)
    accepted = sum(s.stats.accepted for s in (first_a, first_b, again_a, again_b))
    new = sum(len({e.id for e in r.events()} - before[id(r)]) for r in (a, b))
    assert accepted == new > 0  # every missing event stored once: no gap, no duplicate
    assert again_a.stats.duplicates + again_b.stats.duplicates == 0  # the restart asked only for the rest
    for r in (a, b):
        ids = [e.id for e in r.events()]
        assert len(ids) == len(set(ids))


def test_duplicated_and_reordered_frames_still_converge() -> None:
    rng = random.Random(5)
    a, b, _ = _diverge(rng)

    def noisy(frame: bytes) -> list[bytes]:
        return [frame, frame] if rng.random() < 0.5 else [frame]

    pump(SyncSession(a), SyncSession(b), a_to_b=noisy, b_to_a=noisy, shuffle=rng.shuffle)
    _converged(a, b)


@settings(max_examples=20, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(seed=st.integers(0, 2**32 - 1))
def test_any_reordering_and_duplication_of_frames_converges(seed: int) -> None:
    rng = random.Random(seed)
    a, b, _ = _diverge(rng)

    def noisy(frame: bytes) -> list[bytes]:
        return [frame] * rng.randint(1, 3)

    pump(SyncSession(a, batch_bytes=2000), SyncSession(b, batch_bytes=2000), a_to_b=noisy, b_to_a=noisy,
         shuffle=rng.shuffle, max_rounds=200)  # fmt: skip
    _converged(a, b)  # in one session, however the frames were reordered and repeated


def test_the_anyio_driver_syncs_over_memory_streams() -> None:
    rng = random.Random(11)
    a, b, _ = _diverge(rng)
    sa, sb = SyncSession(a), SyncSession(b)
    anyio.run(sync_in_memory, sa, sb)
    _converged(a, b)


# -- hostile twins: each beside an honest peer -------------------------------------------------------


def _trio(seed: int) -> tuple[Replica, Replica, Replica]:
    """``victim`` lacks what ``honest`` and ``hostile`` (a twin holding the same events) hold."""
    rng = random.Random(seed)
    (victim, honest), _ = _room(rng, 2)
    _edit(rng, honest, 120)
    hostile = join_memory(honest)
    return victim, honest, hostile


def _events_filter(change: object) -> object:
    def channel(frame: bytes) -> list[bytes]:
        msg = decode(frame)
        if isinstance(msg, Events) and msg.raws:
            return [encode(Events(tuple(change(list(msg.raws))), more=msg.more))]  # type: ignore[operator]
        return [frame]

    return channel


def _flip(raw: bytes) -> bytes:
    at = len(raw) // 2
    return raw[:at] + bytes([raw[at] ^ 1]) + raw[at + 1 :]


def test_a_liar_sending_other_bytes_for_its_events_is_cut_off_and_the_honest_peer_still_syncs() -> None:
    victim, honest, hostile = _trio(1)
    before = victim.state_hash()
    liar = _events_filter(lambda raws: [_flip(r) for r in raws])
    with pytest.raises(SyncError, match="invalid events"):
        pump(SyncSession(victim, peer="liar", max_rejected=20), SyncSession(hostile), b_to_a=liar)  # type: ignore[arg-type]
    assert victim.state_hash() == before  # nothing it sent was applied
    pump(SyncSession(victim, peer="honest"), SyncSession(honest))
    _converged(victim, honest)


def test_a_peer_withholding_deps_leaves_orphans_waiting_and_the_honest_peer_fills_them() -> None:
    victim, honest, hostile = _trio(2)
    withhold = _events_filter(lambda raws: raws[len(raws) // 2 :])  # the later half: all orphans
    sv = SyncSession(victim, peer="withholder")
    pump(sv, SyncSession(hostile), b_to_a=withhold)  # type: ignore[arg-type]
    assert not sv.synced and victim.missing_deps()  # it asked, got nothing, and stopped asking
    pump(SyncSession(victim, peer="honest"), SyncSession(honest))
    _converged(victim, honest)
    assert not victim.missing_deps()


def test_an_orphan_flood_is_bounded_per_peer_and_does_not_stop_an_honest_sync() -> None:
    victim, honest, _ = _trio(3)
    rng = random.Random(3)
    flooder = Identity.from_name("flooder")
    fake_deps = ["sha256:" + rng.randbytes(32).hex() for _ in range(50)]
    orphans = [
        create_event(
            flooder, scope=victim.scope, seq=i + 1, deps=[rng.choice(fake_deps)], lamport=5, time_ms=0,
            kind="ops", payload={"ops": [{"e": "Doc", "id": "a", "f": "t", "t": "lww", "op": {"set": i}}]},
        ).raw
        for i in range(3000)
    ]  # fmt: skip
    session = SyncSession(victim, peer="flooder")
    session.start()
    for i in range(0, len(orphans), 500):
        session.handle(encode(Events(tuple(orphans[i : i + 500]))))
    held, _ = victim._pending.usage("flooder")
    assert held <= victim._pending.max_entries // 4
    pump(SyncSession(victim, peer="honest"), SyncSession(honest))
    _converged(victim, honest)


def test_another_scopes_hello_and_events_are_refused() -> None:
    victim, _, _ = _trio(4)
    (elsewhere, _), _ = _room(random.Random(9), 2)
    _edit(random.Random(9), elsewhere, 5)
    session = SyncSession(victim)
    session.start()
    with pytest.raises(SyncError, match="syncs scope"):
        session.handle(encode(Hello(elsewhere.scope, tuple(elsewhere.heads))))
    before = victim.state_hash()
    replay = SyncSession(victim, max_rejected=1000)
    replay.start()
    replay.handle(encode(Events(tuple(elsewhere.missing_for([])))))
    assert replay.stats.accepted == 0 and replay.stats.rejected > 0
    assert victim.state_hash() == before


@pytest.mark.parametrize(
    ("frame", "match"),
    [
        (b"XYZ\x01\x01\x00\x00\x00\x02{}", "bad magic"),
        (MAGIC + b"\x09\x01\x00\x00\x00\x02{}", "version 9"),
        (MAGIC + b"\x01\x07\x00\x00\x00\x02{}", "unknown sync message type"),
        (MAGIC + b"\x01\x01\x00\x00\x00\x40{}", "cut short"),
        (MAGIC + b"\x01\x01" + struct.pack(">I", 8) + b'{"a": 1}', "not canonical"),
        (MAGIC + b"\x01\x04" + struct.pack(">I", 11) + b'{"ids":[1]}', "not an event id"),
        (MAGIC + b"\x01\x03\x00\x00\x00\x02{}" + struct.pack(">I", 5) + b"ab", "cut short"),
        (MAGIC + b"\x01\x03\x00\x00\x00\x02{}" + struct.pack(">I", 2 << 20), "over"),
        (b"x" * (MAX_FRAME_BYTES + 1), "over the"),
    ],
)
def test_malformed_frames_are_refused_with_what_is_wrong(frame: bytes, match: str) -> None:
    with pytest.raises(SyncError, match=match):
        decode(frame)


def test_a_deeply_nested_header_is_refused() -> None:
    nested = b'{"ids":' + b"[" * 40 + b"]" * 40 + b"}"
    with pytest.raises(SyncError, match="canonical"):
        decode(MAGIC + b"\x01\x04" + struct.pack(">I", len(nested)) + nested)


@settings(max_examples=200, deadline=None)
@given(st.binary(max_size=200))
def test_any_bytes_decode_to_a_message_or_a_sync_error(data: bytes) -> None:
    for frame in (data, MAGIC + b"\x01" + data):
        with contextlib.suppress(SyncError):
            decode(frame)


@settings(max_examples=100, deadline=None)
@given(
    heads=st.lists(st.binary(min_size=32, max_size=32).map(lambda b: "sha256:" + b.hex()), max_size=5),
    raws=st.lists(st.binary(min_size=1, max_size=64), max_size=5),
    more=st.booleans(),
)
def test_messages_round_trip(heads: list[str], raws: list[bytes], more: bool) -> None:
    for msg in (Hello("sha256:" + "0" * 64, tuple(heads), tuple(heads[:2])), Events(tuple(raws), more)):
        assert decode(encode(msg)) == msg


def test_a_peer_holding_orphans_is_not_sent_them_again() -> None:
    """A Have names the orphans its sender holds (they are in no filter): the answer skips them, and
    sends their descendants, which the peer cannot have placed."""
    rng = random.Random(11)
    (a, b), _ = _room(rng, 2)
    _edit(rng, a, 5)
    b.ingest(a.missing_for(b.heads))
    _edit(rng, a, 12)
    chain = a.missing_for(b.heads)
    b.ingest(chain[4:8])  # orphans at b: their deps, chain[:4], are missing
    assert len(b.buffered()) == 4
    have = decode(SyncSession(b).handle(encode(Hello(a.scope, tuple(a.heads))))[0])
    assert isinstance(have, Have) and set(have.held) == set(b.buffered())
    assert decode(encode(have)) == have
    sa = SyncSession(a)
    sa.start()
    [answer] = [decode(f) for f in sa.handle(encode(have))]
    assert isinstance(answer, Events)
    sent = [decode_event(r).id for r in answer.raws]
    held = set(have.held)
    assert not held & set(sent)
    assert set(sent) == {decode_event(r).id for r in chain} - held
