"""The replica signs and verifies through what it is given: any signer or verifier, same bytes."""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from agentcrdt.errors import UsageError
from agentcrdt.log.keys import Identity
from agentcrdt.ops.state import op
from agentcrdt.replica import Replica
from agentcrdt.signing import CHUNK, InlineSigner, InlineVerifier, PoolSigner, PoolVerifier, VerifySession
from agentcrdt.store.memory import MemoryStore

ALICE, BOB = Identity.from_name("alice"), Identity.from_name("bob")


@settings(max_examples=25, deadline=None)
@given(st.lists(st.binary(max_size=64), max_size=3 * CHUNK + 5))
def test_inline_and_pool_signers_give_the_same_signatures_in_order(messages: list[bytes]) -> None:
    with PoolSigner(ALICE).signing() as pool, InlineSigner(ALICE).signing() as inline:
        for m in messages:
            pool.add(m)
            inline.add(m)
        assert (
            list(pool.iter_signatures())
            == list(inline.iter_signatures())
            == [ALICE.sign(m) for m in messages]
        )


def _room(**kwargs: Any) -> Replica:
    ticks = itertools.count(1000)
    return Replica.create(MemoryStore(), ALICE, "room", nonce="n", clock=lambda: next(ticks), **kwargs)


def _changes(n: int) -> list[tuple[str, object]]:
    return [("ops", {"ops": [op("Doc", f"d{i}", "title", "lww", {"set": f"v{i}"})]}) for i in range(n)]


def test_a_replica_with_inline_seams_writes_exactly_the_default_bytes() -> None:
    default, inline = _room(), _room(signer=InlineSigner(ALICE), verifier=InlineVerifier())
    made = [e.raw for e in default.commit_many(_changes(2 * CHUNK + 3))]
    assert [e.raw for e in inline.commit_many(_changes(2 * CHUNK + 3))] == made
    peer = Replica.join(MemoryStore(), default.genesis.raw, verifier=InlineVerifier())
    assert peer.ingest(made).ok and peer.state_hash() == default.state_hash()


class _Refuses:
    """A verifier that believes no signature: what the replica does with its answers is what we test."""

    def __init__(self) -> None:
        self.checked = 0

    def verifying(self) -> VerifySession:
        outer = self

        class Session:
            def __init__(self) -> None:
                self.n = 0

            def add(self, public: bytes, message: bytes, signature: bytes) -> None:
                self.n += 1
                outer.checked += 1

            def iter_results(self) -> Iterator[bool]:
                return iter([False] * self.n)

            def __enter__(self) -> Session:
                return self

            def __exit__(self, *exc: object) -> None:
                return None

        return Session()


def test_ingest_believes_the_injected_verifier() -> None:
    source = _room()
    raws = [e.raw for e in source.commit_many(_changes(5))]
    refuses = _Refuses()
    peer = Replica.join(MemoryStore(), source.genesis.raw, verifier=refuses)
    report = peer.ingest(raws)
    assert refuses.checked == 5
    assert [r[1] for r in report.rejected] == ["bad_signature"] * 5 and not report.accepted
    assert peer.store.count() == 1  # the genesis only


def test_a_signer_must_sign_for_the_replicas_identity() -> None:
    with pytest.raises(UsageError, match="same author"):
        _room(signer=InlineSigner(BOB))
    assert PoolVerifier().verifying() is not None
