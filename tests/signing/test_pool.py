"""Batch signing and verification in helper processes give exactly the one-at-a-time answers, in order."""

from __future__ import annotations

import os
import threading

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from agentcrdt.log.event import decode_event, signature_check
from agentcrdt.log.keys import Identity, parse_author
from agentcrdt.ops.state import OPS, op
from agentcrdt.replica import Replica
from agentcrdt.signing import PoolSigner
from agentcrdt.signing import pool as parallel
from agentcrdt.signing.pool import CHUNK, VerifyBatch
from agentcrdt.store.memory import MemoryStore

ALICE = Identity.from_name("alice")
# Around the chunk size: all inline, exactly one chunk, one chunk plus a tail, several chunks.
COUNTS = (0, 1, CHUNK - 1, CHUNK, CHUNK + 1, 3 * CHUNK + 5)


@pytest.mark.parametrize("n", COUNTS)
def test_sign_batch_matches_single_signatures_in_order(n: int) -> None:
    messages = [f"message {i}".encode() for i in range(n)]
    batch = PoolSigner(ALICE).signing()
    for m in messages:
        batch.add(m)
    assert batch.signatures() == [ALICE.sign(m) for m in messages]


@settings(max_examples=25, deadline=None)
@given(n=st.integers(1, 3 * CHUNK), data=st.data())
def test_verify_batch_flags_exactly_the_bad_signatures(n: int, data: st.DataObject) -> None:
    public = parse_author(ALICE.author)
    messages = [f"message {i}".encode() for i in range(n)]
    signatures = [ALICE.sign(m) for m in messages]
    bad = data.draw(st.sets(st.integers(0, n - 1), max_size=4))
    for i in bad:
        signatures[i] = bytes([signatures[i][0] ^ 1]) + signatures[i][1:]
    batch = VerifyBatch()
    for m, s in zip(messages, signatures, strict=True):
        batch.add(public, m, s)
    assert batch.results() == [i not in bad for i in range(n)]


def test_verify_batch_rejects_a_key_that_is_not_a_curve_point() -> None:
    batch = VerifyBatch()
    batch.add(b"\xff" * 32, b"m", ALICE.sign(b"m"))
    batch.add(b"short", b"m", ALICE.sign(b"m"))
    assert batch.results() == [False, False]


def changes(n: int) -> list[tuple[str, object]]:
    return [(OPS, {"ops": [op("Doc", f"d{i % 7}", "title", "lww", {"set": f"t{i}"})]}) for i in range(n)]


def test_a_long_chain_is_signed_correctly_and_ingests_elsewhere() -> None:
    a = Replica.create(MemoryStore(), ALICE, "room")
    events = a.commit_many(changes(3 * CHUNK + 5))
    for e in events:
        assert decode_event(e.raw, expected_id=e.id) == e  # each signature verifies on its own
    b = Replica.join(MemoryStore(), a.genesis.raw)
    report = b.ingest([e.raw for e in events])
    assert report.ok and len(report.accepted) == len(events)


def test_a_forged_signature_inside_a_large_batch_is_the_only_rejection() -> None:
    a = Replica.create(MemoryStore(), ALICE, "room")
    mallory = Identity.from_name("mallory")
    events = a.commit_many(changes(2 * CHUNK + 3))
    raws = [e.raw for e in events]
    forged = CHUNK + 7
    # Same core, signed by someone else: the id still matches, only the signature is wrong.
    sig = mallory.sign(signature_check(events[forged])[1])
    raws[forged] = raws[forged][: -len(b'"}') - 128] + sig.hex().encode() + b'"}'
    b = Replica.join(MemoryStore(), a.genesis.raw)
    report = b.ingest(raws)
    assert report.rejected == [(events[forged].id, "bad_signature", report.rejected[0][2])]
    # Everything before the forgery applies; everything after depends on it and waits.
    assert report.accepted == [e.id for e in events[:forged]]
    assert report.pending == len(events) - forged - 1
    # The genuine event releases the rest.
    again = b.ingest([events[forged].raw])
    assert again.ok and len(again.accepted) == len(events) - forged


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs os.fork")
def test_the_pool_works_again_in_a_forked_child() -> None:
    batch = PoolSigner(ALICE).signing()
    for i in range(2 * CHUNK):
        batch.add(b"%d" % i)
    expected = batch.signatures()  # the parent's pool is running now
    pid = os.fork()
    if pid == 0:  # pragma: no cover - runs in the child
        child = PoolSigner(ALICE).signing()
        for i in range(2 * CHUNK):
            child.add(b"%d" % i)
        os._exit(0 if child.signatures() == expected else 1)
    _, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 0


def _messages(n: int) -> list[bytes]:
    return [b"message %d" % i for i in range(n)]


def test_many_chunks_in_flight_keep_their_order() -> None:
    # More chunks than the helpers hold in flight: answers must be read while sending, in order.
    messages = _messages(40 * CHUNK + 3)
    with PoolSigner(ALICE).signing() as batch:
        for m in messages:
            batch.add(m)
        assert batch.signatures() == [ALICE.sign(m) for m in messages]


def test_a_helper_that_dies_mid_batch_changes_nothing_but_speed() -> None:
    messages = _messages(6 * CHUNK)
    with PoolSigner(ALICE).signing() as batch:
        for m in messages[: 3 * CHUNK]:
            batch.add(m)
        for helper in parallel._HELPERS.helpers:  # the helpers working for this batch
            helper.proc.kill()
            helper.proc.wait()
        for m in messages[3 * CHUNK :]:
            batch.add(m)
        assert batch.signatures() == [ALICE.sign(m) for m in messages]
    # The next batch starts fresh helpers and uses them.
    with PoolSigner(ALICE).signing() as batch:
        for m in messages:
            batch.add(m)
        assert batch.signatures() == [ALICE.sign(m) for m in messages]
        assert parallel._HELPERS.helpers and all(h.proc.poll() is None for h in parallel._HELPERS.helpers)


def test_a_batch_abandoned_with_answers_unread_leaves_no_stale_answers() -> None:
    with PoolSigner(ALICE).signing() as batch:
        for m in _messages(4 * CHUNK):
            batch.add(m)
        # Left without asking for the signatures (an exception in the caller, say).
    messages = [b"other %d" % i for i in range(4 * CHUNK)]
    with PoolSigner(ALICE).signing() as batch:
        for m in messages:
            batch.add(m)
        assert batch.signatures() == [ALICE.sign(m) for m in messages]


def test_two_threads_batching_at_once_both_get_their_own_answers() -> None:
    identities = [Identity.from_name(f"peer{i}") for i in range(2)]
    results: dict[int, bool] = {}

    def work(i: int) -> None:
        messages = [b"%d-%d" % (i, j) for j in range(10 * CHUNK)]
        with PoolSigner(identities[i]).signing() as batch:
            for m in messages:
                batch.add(m)
            results[i] = batch.signatures() == [identities[i].sign(m) for m in messages]

    threads = [threading.Thread(target=work, args=(i,)) for i in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert results == {0: True, 1: True}


def test_without_helper_processes_the_work_is_done_in_the_calling_thread(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.setattr(parallel, "_HELPERS", parallel._Helpers())
    monkeypatch.setattr(parallel.sys, "executable", "/nonexistent/python")
    messages = _messages(3 * CHUNK)
    with PoolSigner(ALICE).signing() as batch:
        for m in messages:
            batch.add(m)
        assert batch.signatures() == [ALICE.sign(m) for m in messages]
    assert "signature helpers unavailable" in caplog.text


def test_helpers_that_keep_dying_are_given_up(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    # A child that starts but cannot work (here: exits at once) must not be respawned for every batch.
    helpers = parallel._Helpers()
    monkeypatch.setattr(parallel, "_HELPERS", helpers)
    monkeypatch.setattr(parallel, "_HELPER", "raise SystemExit(3)")
    messages = _messages(2 * CHUNK)
    for _ in range(parallel._MAX_FAILURES):
        with PoolSigner(ALICE).signing() as batch:
            for m in messages:
                batch.add(m)
            assert batch.signatures() == [ALICE.sign(m) for m in messages]
    assert helpers.disabled and "keep failing" in caplog.text
    assert helpers.acquire() is None
