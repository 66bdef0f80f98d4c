"""Signatures over version content hashes: they verify anywhere, and tampering or forgery is reported."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from agentcrdt.dataroom import (
    SIGNATURE_CONTEXT,
    Dataroom,
    DocumentVersion,
    Signature,
    signature_id,
    signature_message,
)
from agentcrdt.errors import CapabilityDenied, UsageError
from agentcrdt.log.keys import Identity, verify
from agentcrdt.ops.state import OPS
from agentcrdt.replica import Replica
from agentcrdt.store.memory import MemoryStore


def _state(room: Dataroom, etype: str, entity_id: str):  # type: ignore[no-untyped-def]
    return room._states(etype, entity_id)[entity_id]


def _failures(room: Dataroom, doc: str | None = None) -> list[str]:
    return [f"{r.what}:{r.reason}" for r in room.verify(doc) if not r.ok]


@pytest.fixture
def signed(room: Dataroom, write: Callable[..., Path]) -> Dataroom:
    path = write("msa.txt", "Term: 12 months.")
    room.add([path])
    path.write_text("Term: 24 months.")
    room.add([path, write("nda.txt", "NDA")])
    room.sign("msa", 1, statement="received")
    room.sign("msa", statement="approved")
    return room


def test_sign_and_verify(signed: Dataroom) -> None:
    results = signed.verify()
    assert all(r.ok for r in results)
    assert sorted((r.what, r.document, r.number) for r in results) == [
        ("signature", "msa", 1),
        ("signature", "msa", 2),
        ("text", "msa", 1),
        ("text", "msa", 2),
        ("text", "nda", 1),
    ]
    sig = signed.signatures("msa")[0]
    assert sig.signer == signed.replica.identity.author  # type: ignore[union-attr]
    # The signature is over the domain-separated content hash and statement, checkable by anyone.
    message = SIGNATURE_CONTEXT + sig.content_hash.encode() + b"\n" + sig.statement.encode()
    assert signature_message(sig.content_hash, sig.statement) == message
    verify(sig.signer, message, bytes.fromhex(sig.signature))


def test_signatures_verify_on_a_peer(signed: Dataroom) -> None:
    genesis = signed.replica.store.get(signed.replica.scope)
    assert genesis is not None
    peer = Replica.join(MemoryStore(), genesis.raw)
    assert peer.ingest(signed.replica.missing_for(peer.heads)).ok
    results = Dataroom(peer).verify()  # a replica with no projection: reads fold the log
    assert len(results) == 5 and all(r.ok for r in results)


def test_tampered_text_is_reported(signed: Dataroom) -> None:
    v1 = signed.version("msa", 1)
    ops = DocumentVersion.update_ops(v1.id, _state(signed, "DocumentVersion", v1.id), text="Term: 99 months.")
    signed.replica.commit(OPS, {"ops": ops})
    failures = _failures(signed)
    assert len(failures) == 1 and failures[0].startswith("text:text hashes to")


def test_tampered_hash_breaks_the_signature(signed: Dataroom) -> None:
    from agentcrdt.log.keys import digest

    v1 = signed.version("msa", 1)
    forged = "Term: 99 months."
    ops = DocumentVersion.update_ops(
        v1.id, _state(signed, "DocumentVersion", v1.id), text=forged, content_hash=digest(forged.encode())
    )
    signed.replica.commit(OPS, {"ops": ops})
    failures = _failures(signed, "msa")
    assert "text:version id msa@" in failures[0] and "does not match its content hash" in failures[0]
    assert any(f.startswith("signature:signed hash") for f in failures)


def test_forged_signature_is_reported(signed: Dataroom) -> None:
    victim, forger = Identity.from_name("victim"), Identity.from_name("forger")
    v = signed.version("nda")
    ops = Signature.create_ops(
        id=signature_id(v.id, victim.author),
        signer=victim.author,
        document="nda",
        version=v.id,
        content_hash=v.content_hash,
        signature=forger.sign(signature_message(v.content_hash, "approved")).hex(),
        statement="approved",
    )
    signed.replica.commit(OPS, {"ops": ops})
    assert _failures(signed, "nda") == [
        f"signature:bad signature: signature does not verify for author {victim.author}"
    ]


def test_changed_statement_is_reported(signed: Dataroom) -> None:
    sig = signed.signatures("msa")[0]
    ops = Signature.update_ops(sig.id, _state(signed, "Signature", sig.id), statement="rejected")
    signed.replica.commit(OPS, {"ops": ops})
    assert [f.split(":")[0] for f in _failures(signed)] == ["signature"]


def test_signature_replayed_on_another_version_is_reported(signed: Dataroom) -> None:
    sig = signed.signatures("msa")[0]
    other = next(v for v in signed.versions("msa") if v.id != sig.version)
    ops = Signature.update_ops(sig.id, _state(signed, "Signature", sig.id), version=other.id)
    signed.replica.commit(OPS, {"ops": ops})
    assert any("is not the version's" in f for f in _failures(signed))


def test_only_a_peer_with_rights_can_record_a_signature(tmp_path: Path, signed: Dataroom) -> None:
    with Dataroom.open(tmp_path / "room.db", identity=Identity.from_name("outsider")) as outsider:
        count = outsider.replica.store.count()
        with pytest.raises(CapabilityDenied, match="may not write"):
            outsider.sign("nda")
        assert outsider.replica.store.count() == count


def test_a_tampered_version_cannot_be_signed(signed: Dataroom) -> None:
    v = signed.version("nda")
    ops = DocumentVersion.update_ops(v.id, _state(signed, "DocumentVersion", v.id), text="changed")
    signed.replica.commit(OPS, {"ops": ops})
    with pytest.raises(UsageError, match="refusing to sign"):
        signed.sign("nda")
