"""The signed envelope: golden vectors, one rejection twin per reason code, corruption probes, forgeries.

Regenerate the golden file (only when the format version changes on purpose)::

    AGENTCRDT_REGEN_GOLDEN=1 .venv/bin/pytest tests/log/test_event.py -k regenerate
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
from pathlib import Path
from typing import Any

import orjson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import agentcrdt.ops.state  # noqa: F401  (registers the "ops" kind)
from agentcrdt.errors import RejectedEvent, UsageError
from agentcrdt.log import kinds as _kinds  # noqa: F401  (registers "genesis")
from agentcrdt.log.codec import MAX_DEPTH, MAX_INT, canonical
from agentcrdt.log.event import (
    MAX_EVENT_BYTES,
    SIGNING_CONTEXT,
    Event,
    UnsignedEvent,
    create_event,
    decode_event,
    decode_sealed,
    prepare_chain,
    prepare_event,
    registered_kinds,
)
from agentcrdt.log.keys import Identity, digest, verify
from agentcrdt.ops.state import MAX_OPS_PER_EVENT, op
from agentcrdt.replica import Replica
from agentcrdt.store.memory import MemoryStore
from tests.log.test_codec import json_values

GOLDEN = Path(__file__).parent / "golden" / "v1.json"
REGEN = os.environ.get("AGENTCRDT_REGEN_GOLDEN") == "1"

ALICE = Identity.from_name("alice")
BOB = Identity.from_name("bob")
MALLORY = Identity.from_name("mallory")
T0 = 1_700_000_000_000
REASONS = (
    "malformed",
    "non_canonical",
    "oversized",
    "unknown_kind",
    "bad_payload",
    "hash_mismatch",
    "bad_signature",
)


# -- builders --------------------------------------------------------------------------------------


def make_genesis(identity: Identity = ALICE, nonce: str = "n1", owners: tuple[str, ...] = ()) -> Event:
    payload = {"name": "room", "owners": sorted({identity.author, *owners}), "nonce": nonce}
    return create_event(
        identity, scope=None, seq=1, deps=(), lamport=1, time_ms=T0, kind="genesis", payload=payload
    )


GENESIS = make_genesis(owners=(BOB.author,))


def ops_payload(value: Any = "x", n: int = 1) -> dict[str, Any]:
    return {"ops": [op("Doc", "d1", "title", "lww", {"set": value}) for _ in range(n)]}


def make_ops(
    identity: Identity = ALICE,
    *,
    scope: str | None = None,
    seq: int = 2,
    deps: tuple[str, ...] | None = None,
    lamport: int = 2,
    payload: Any = ...,
    local: bool = False,
) -> Event:
    return create_event(
        identity,
        scope=GENESIS.id if scope is None else scope,
        seq=seq,
        deps=(GENESIS.id,) if deps is None else deps,
        lamport=lamport,
        time_ms=T0 + 1,
        kind="ops",
        payload=ops_payload() if payload is ... else payload,
        local=local,
    )


VALID = make_ops()


def core_of(event: Event) -> dict[str, Any]:
    core: dict[str, Any] = orjson.loads(event.raw)["core"]
    return core


def seal(core_bytes: bytes, signer: Identity) -> bytes:
    """Wrap arbitrary core bytes (canonical or not) in a wire envelope with a genuine signature."""
    event_id = digest(core_bytes)
    sig = signer.sign(SIGNING_CONTEXT + event_id.encode())
    return b'{"core":' + core_bytes + b',"sig":"' + sig.hex().encode() + b'"}'


def forge(core: dict[str, Any], signer: Identity = ALICE) -> bytes:
    return seal(canonical(core), signer)


def patched(event: Event = VALID, signer: Identity = ALICE, **changes: Any) -> bytes:
    """Re-sign ``event``'s core with some fields changed (a validly signed, possibly invalid event)."""
    return forge({**core_of(event), **changes}, signer)


def flip_last_bit(sig: bytes) -> bytes:
    return sig[:-1] + bytes([sig[-1] ^ 1])


def reason(raw: bytes, **kwargs: Any) -> str:
    try:
        decode_event(raw, **kwargs)
    except RejectedEvent as e:
        return e.reason
    return "accepted"


# -- golden vectors --------------------------------------------------------------------------------

UNICODE_TEXT = (
    'nul\x00 bs\b tab\t nl\n ff\f cr\r us\x1f del\x7f ls\u2028 ps\u2029 é 日本 😀 \U0010ffff q" bs\\ /'
)


def _golden_specs() -> list[tuple[str, str, dict[str, Any]]]:
    """(name, identity name, create_event kwargs); later specs refer to earlier events' ids."""
    specs: list[tuple[str, str, dict[str, Any]]] = []
    ids: dict[str, str] = {}

    def add(name: str, who: str, **kw: Any) -> None:
        specs.append((name, who, kw))
        ev = create_event(Identity.from_name(who), **kw)
        ids[name] = ev.id

    alice, bob = Identity.from_name("alice").author, Identity.from_name("bob").author
    add(
        "genesis",
        "alice",
        scope=None,
        seq=1,
        deps=[],
        lamport=1,
        time_ms=T0,
        kind="genesis",
        payload={"name": "golden room", "owners": sorted([alice, bob]), "nonce": "0123456789abcdef"},
        local=False,
    )
    g = ids["genesis"]
    add(
        "ops_with_deps",
        "alice",
        scope=g,
        seq=2,
        deps=[g],
        lamport=2,
        time_ms=T0 + 1000,
        kind="ops",
        payload={"ops": [op("Doc", "d1", "title", "lww", {"set": "x"})]},
        local=False,
    )
    add(
        "ops_concurrent",
        "bob",
        scope=g,
        seq=1,
        deps=[g],
        lamport=2,
        time_ms=T0 + 1001,
        kind="ops",
        payload={"ops": [op("Doc", "d1", "views", "pncounter", {"inc": -3})]},
        local=False,
    )
    add(
        "ops_merge_two_deps",
        "alice",
        scope=g,
        seq=3,
        deps=sorted([ids["ops_with_deps"], ids["ops_concurrent"]]),
        lamport=3,
        time_ms=T0 + 2000,
        kind="ops",
        payload={"ops": [op("Doc", "d1", "title", "lww", {"set": "merged"})], "undoes": ids["ops_with_deps"]},
        local=False,
    )
    add(
        "local_only",
        "alice",
        scope=g,
        seq=4,
        deps=[ids["ops_merge_two_deps"]],
        lamport=4,
        time_ms=T0 + 3000,
        kind="ops",
        payload={"ops": [op("Draft", "scratch", "body", "lww", {"set": "not synced"})]},
        local=True,
    )
    add(
        "unicode_payload",
        "alice",
        scope=g,
        seq=5,
        deps=[ids["ops_merge_two_deps"]],
        lamport=4,
        time_ms=T0 + 4000,
        kind="ops",
        payload={"ops": [op("Doc", "dé/😀\u2028", "title", "lww", {"set": UNICODE_TEXT})]},
        local=False,
    )
    add(
        "nested_payload",
        "bob",
        scope=g,
        seq=2,
        deps=sorted([ids["unicode_payload"], ids["ops_concurrent"]]),
        lamport=5,
        time_ms=T0 + 5000,
        kind="ops",
        payload={
            "ops": [
                op(
                    "Doc",
                    "d2",
                    "meta",
                    "lww",
                    {
                        "set": {
                            "z": [1, -2, 9007199254740991, -9007199254740991, 0],
                            "a": {"nested": [[[], {}], [True, False, None]], "": ""},
                            "é": {"😀": "astral key", "\uffff": "bmp key", "B": "upper"},
                            "deep": [[[[[[[[["eight"]]]]]]]]],
                        }
                    },
                ),
                op("Doc", "d2", "title", "lww", {"set": None}),
            ]
        },
        local=False,
    )
    return specs


def _build_vectors() -> dict[str, Any]:
    vectors = []
    for name, who, kw in _golden_specs():
        ev = create_event(Identity.from_name(who), **kw)
        vectors.append(
            {
                "name": name,
                "identity": who,
                "author": ev.author,
                "fields": {**kw, "deps": list(kw["deps"])},
                "id": ev.id,
                "sig": ev.sig.hex(),
                "raw": ev.raw.decode("utf-8"),
                "raw_b64": base64.b64encode(ev.raw).decode("ascii"),
            }
        )
    return {
        "format": "agentcrdt event v1",
        "identity_derivation": (
            "Identity.from_name(name): Ed25519 seed = sha256(b'agentcrdt-test-identity:' + name)"
        ),
        "signing_context": SIGNING_CONTEXT.decode(),
        "events": vectors,
    }


def _write_golden() -> None:
    GOLDEN.parent.mkdir(exist_ok=True)
    text = json.dumps(_build_vectors(), indent=2, ensure_ascii=True) + "\n"
    GOLDEN.write_text(text, encoding="ascii")


if REGEN:  # regenerate on purpose only: changing the vectors changes the format contract

    def test_regenerate_golden() -> None:
        _write_golden()


def _golden() -> list[dict[str, Any]]:
    events: list[dict[str, Any]] = json.loads(GOLDEN.read_text(encoding="ascii"))["events"]
    return events


def _golden_ids() -> list[str]:
    return [v["name"] for v in _golden()] if GOLDEN.exists() else []


@pytest.mark.parametrize("vector", _golden() if GOLDEN.exists() else [], ids=_golden_ids())
def test_golden_vector(vector: dict[str, Any]) -> None:
    identity = Identity.from_name(vector["identity"])
    assert identity.author == vector["author"]
    fields = vector["fields"]
    event = create_event(identity, **fields)
    raw = base64.b64decode(vector["raw_b64"])
    assert raw == vector["raw"].encode("utf-8")
    assert event.raw == raw
    assert event.id == vector["id"] == digest(canonical(core_of(event)))
    assert event.sig.hex() == vector["sig"]
    verify(identity.author, SIGNING_CONTEXT + event.id.encode(), event.sig)
    # Independent derivation with the stdlib encoder and hashlib: the format, not orjson, is the contract.
    core = json.loads(raw)["core"]
    core_bytes = json.dumps(core, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()
    assert raw == b'{"core":' + core_bytes + b',"sig":"' + vector["sig"].encode() + b'"}'
    assert vector["id"] == "sha256:" + hashlib.sha256(core_bytes).hexdigest()
    decoded = decode_event(raw, expected_id=vector["id"])
    assert decoded == event
    assert decode_sealed(raw, vector["id"]) == decoded  # the trusted path parses the same bytes alike
    for key, value in fields.items():
        attr = "time" if key == "time_ms" else key
        got = getattr(decoded, attr)
        assert (list(got) if key == "deps" else got) == value


@settings(max_examples=200, deadline=None)
@given(
    value=json_values,
    seq=st.integers(2, MAX_INT),
    lamport=st.integers(2, MAX_INT),
    local=st.booleans(),
    signer=st.sampled_from([ALICE, BOB]),
)
def test_sealed_decoding_equals_full_decoding(
    value: Any, seq: int, lamport: int, local: bool, signer: Identity
) -> None:
    # A replica decodes the rows its own seal vouches for without re-checking them: whatever the
    # payload's values (Unicode, escapes, nesting, big ints), the author and the chain fields, it must
    # build exactly the event full decoding builds.
    event = make_ops(signer, seq=seq, lamport=lamport, local=local, payload=ops_payload(value))
    sealed = decode_sealed(event.raw, event.id)
    assert sealed == decode_event(event.raw) == event
    assert (sealed.sig, sealed.raw, sealed.deps) == (event.sig, event.raw, event.deps)


def test_golden_file_matches_generator() -> None:
    assert GOLDEN.exists(), "run with AGENTCRDT_REGEN_GOLDEN=1 to create tests/log/golden/v1.json"
    assert json.loads(GOLDEN.read_text(encoding="ascii")) == _build_vectors()
    names = [v["name"] for v in _golden()]
    assert {"genesis", "ops_with_deps", "local_only", "unicode_payload", "nested_payload"} <= set(names)


def test_golden_unicode_vector_is_raw_utf8() -> None:
    vector = next(v for v in _golden() if v["name"] == "unicode_payload")
    raw = vector["raw"].encode("utf-8")
    for needle in (b"\\u0000", b"\\b", b"\\u001f", b"\x7f", "\u2028".encode(), "😀".encode(), b'q\\"'):
        assert needle in raw
    assert b"\\u00e9" not in raw and b"\\ud83d" not in raw


# -- every reason code has a producing test and an untouched twin ----------------------------------


def test_twin_valid_event_decodes() -> None:
    decoded = decode_event(VALID.raw, expected_id=VALID.id)
    assert decoded == VALID
    assert decoded.scope_id == GENESIS.id and GENESIS.scope_id == GENESIS.id


def _oversized() -> bytes:
    return VALID.raw[:-1] + b" " * (MAX_EVENT_BYTES - len(VALID.raw) + 1) + b"}"


REASON_CASES: list[tuple[str, Any]] = [
    ("malformed", lambda: b"not json"),
    ("malformed", lambda: VALID.raw[:-2]),
    ("malformed", lambda: canonical({"core": core_of(VALID)})),
    ("malformed", lambda: canonical({"core": core_of(VALID), "sig": VALID.sig.hex(), "x": 1})),
    ("malformed", lambda: canonical([core_of(VALID), VALID.sig.hex()])),
    ("malformed", lambda: patched(seq=0)),
    ("non_canonical", lambda: VALID.raw.replace(b'{"core":', b'{"core": ', 1)),
    (
        "non_canonical",
        lambda: b'{"sig":"' + VALID.sig.hex().encode() + b'","core":' + canonical(core_of(VALID)) + b"}",
    ),
    ("non_canonical", lambda: VALID.raw + b"\n"),
    ("oversized", _oversized),
    ("unknown_kind", lambda: patched(kind="frobnicate")),
    ("unknown_kind", lambda: patched(kind="agentcrdt.ops.state.op")),
    ("bad_payload", lambda: patched(payload={"ops": []})),
    ("bad_payload", lambda: patched(payload={"ops": [op("Doc", "d1", "title", "nosuch", {"set": 1})]})),
    ("hash_mismatch", lambda: (VALID.raw, GENESIS.id)),
    ("hash_mismatch", lambda: (VALID.raw, "sha256:" + "0" * 64)),
    (
        "bad_signature",
        lambda: VALID.raw.replace(VALID.sig.hex().encode(), flip_last_bit(VALID.sig).hex().encode()),
    ),
    ("bad_signature", lambda: patched(signer=MALLORY)),
]


@pytest.mark.parametrize(
    ("expected", "make"), REASON_CASES, ids=[f"{c[0]}-{i}" for i, c in enumerate(REASON_CASES)]
)
def test_reason_code(expected: str, make: Any) -> None:
    produced = make()
    raw, expected_id = produced if isinstance(produced, tuple) else (produced, None)
    with pytest.raises(RejectedEvent) as info:
        decode_event(raw, expected_id=expected_id)
    assert info.value.reason == expected
    assert isinstance(info.value.detail, str) and info.value.detail
    # Twin: the untouched event decodes under the same call.
    assert decode_event(VALID.raw, expected_id=None if expected_id is None else VALID.id) == VALID


def test_every_reason_code_is_covered() -> None:
    assert {c[0] for c in REASON_CASES} == set(REASONS)


def test_oversized_boundary() -> None:
    # Build an event whose wire form is exactly the limit (decodes) and one byte over (create refuses).
    probe = make_ops(payload=ops_payload(""))
    room = MAX_EVENT_BYTES - len(probe.raw)
    at_limit = make_ops(payload=ops_payload("a" * room))
    assert len(at_limit.raw) == MAX_EVENT_BYTES
    assert decode_event(at_limit.raw) == at_limit
    with pytest.raises(UsageError, match="limit"):
        make_ops(payload=ops_payload("a" * (room + 1)))
    assert (
        reason(seal(canonical(core_of(at_limit)).replace(b'"set":"', b'"set":"a', 1), ALICE)) == "oversized"
    )


def test_hash_mismatch_twin_with_own_id() -> None:
    assert decode_event(VALID.raw, expected_id=VALID.id).id == VALID.id
    assert reason(VALID.raw, expected_id=GENESIS.id) == "hash_mismatch"


def test_signature_check_can_be_skipped_only_explicitly() -> None:
    forged = patched(signer=MALLORY)
    assert reason(forged) == "bad_signature"
    assert decode_event(forged, verify_signature=False).author == ALICE.author


# -- systematic corruption probes ------------------------------------------------------------------


def test_every_bit_flip_is_rejected() -> None:
    raw = VALID.raw
    assert 300 <= len(raw) <= 700
    for i in range(len(raw)):
        for bit in range(8):
            mutated = bytearray(raw)
            mutated[i] ^= 1 << bit
            with pytest.raises(RejectedEvent):
                decode_event(bytes(mutated))
    assert decode_event(raw) == VALID


def test_every_byte_replacement_is_rejected() -> None:
    raw = GENESIS.raw
    for i in range(len(raw)):
        for replacement in {0x00, 0x20, 0x22, 0x30, 0x31, 0x5C, 0x61, 0x66, 0x7B, 0x7D, 0xFF} - {raw[i]}:
            mutated = bytearray(raw)
            mutated[i] = replacement
            with pytest.raises(RejectedEvent):
                decode_event(bytes(mutated))
    assert decode_event(raw) == GENESIS


@settings(max_examples=300, deadline=None)
@given(st.data())
def test_random_multi_byte_corruption_never_yields_another_valid_event(data: st.DataObject) -> None:
    raw = bytearray(VALID.raw)
    for _ in range(data.draw(st.integers(1, 6))):
        action = data.draw(st.sampled_from(["set", "insert", "delete"]))
        pos = data.draw(st.integers(0, len(raw) - 1))
        if action == "set":
            raw[pos] = data.draw(st.integers(0, 255))
        elif action == "insert":
            raw[pos:pos] = bytes([data.draw(st.integers(0, 255))])
        else:
            del raw[pos]
    mutated = bytes(raw)
    try:
        got = decode_event(mutated)
    except RejectedEvent:
        return
    assert mutated == VALID.raw and got == VALID  # only the identity mutation may decode


def test_truncations_are_rejected() -> None:
    for n in range(len(VALID.raw)):
        with pytest.raises(RejectedEvent):
            decode_event(VALID.raw[:n])


# -- field-level forgeries -------------------------------------------------------------------------


def test_claimed_author_signed_by_another_key() -> None:
    assert reason(patched(signer=MALLORY)) == "bad_signature"
    assert reason(patched(signer=ALICE)) == "accepted"  # twin: the right key


def test_author_swapped_keeping_signature() -> None:
    core = {**core_of(VALID), "author": BOB.author}
    swapped = b'{"core":' + canonical(core) + b',"sig":"' + VALID.sig.hex().encode() + b'"}'
    assert reason(swapped) == "bad_signature"
    assert reason(forge(core, BOB)) == "accepted"


def test_author_that_is_not_a_curve_point_or_malformed() -> None:
    assert reason(patched(author="ed25519:" + "ff" * 32)) == "bad_signature"
    assert reason(patched(author="ed25519:" + "AB" * 32)) == "malformed"
    assert reason(patched(author="ed25519:" + "ab" * 31)) == "malformed"
    assert reason(patched(author=ALICE.author.removeprefix("ed25519:"))) == "malformed"
    assert reason(patched(author=ALICE.author)) == "accepted"


def test_signature_from_a_different_event() -> None:
    other = make_ops(payload=ops_payload("y"))
    spliced = VALID.raw.replace(VALID.sig.hex().encode(), other.sig.hex().encode())
    assert reason(spliced) == "bad_signature"
    assert reason(other.raw) == "accepted"


def test_signature_without_domain_separation_is_rejected() -> None:
    core_bytes = canonical(core_of(VALID))
    for message in (core_bytes, VALID.id.encode(), bytes.fromhex(VALID.id[7:])):
        sig = ALICE.sign(message)
        raw = b'{"core":' + core_bytes + b',"sig":"' + sig.hex().encode() + b'"}'
        assert reason(raw) == "bad_signature"
    assert reason(seal(core_bytes, ALICE)) == "accepted"


@pytest.mark.parametrize(
    "sig",
    ["", "00" * 63, "00" * 65, "AB" * 64, "zz" * 64, 7, None],
    ids=["empty", "short", "long", "upper", "nonhex", "int", "null"],
)
def test_malformed_signature_field(sig: Any) -> None:
    raw = canonical({"core": core_of(VALID), "sig": sig})
    assert reason(raw) == "malformed"
    assert reason(canonical({"core": core_of(VALID), "sig": VALID.sig.hex()})) == "accepted"


def _scoped_replica(genesis: Event) -> Replica:
    return Replica.join(MemoryStore(), genesis.raw)


def test_spliced_scope_is_rejected_by_the_replica() -> None:
    other_genesis = make_genesis(nonce="other", owners=(BOB.author,))
    assert other_genesis.id != GENESIS.id
    spliced = patched(scope=other_genesis.id)  # re-signed by the right key: a valid event elsewhere
    moved = decode_event(spliced)
    assert moved.id != VALID.id and moved.scope == other_genesis.id

    ours = _scoped_replica(GENESIS)
    report = ours.ingest([spliced])
    assert [r[1] for r in report.rejected] == ["wrong_scope"]
    assert report.accepted == [] and moved.id not in ours.dag
    assert [r.reason for r in ours.store.rejections()] == ["wrong_scope"]

    # A replayed event from another scope is refused the same way.
    foreign = make_ops(scope=other_genesis.id, deps=(other_genesis.id,), payload=ops_payload("z"))
    assert [r[1] for r in ours.ingest([foreign.raw]).rejected] == ["wrong_scope"]
    assert [r[1] for r in ours.ingest([other_genesis.raw]).rejected] == ["wrong_scope"]

    # Twin: the unspliced event is accepted in its own scope.
    twin = ours.ingest([VALID.raw])
    assert twin.accepted == [VALID.id] and twin.ok


def test_replica_refuses_local_only_events_from_peers() -> None:
    ours = _scoped_replica(GENESIS)
    local = make_ops(local=True)
    assert [r[1] for r in ours.ingest([local.raw]).rejected] == ["local_event"]
    assert ours.ingest([VALID.raw]).accepted == [VALID.id]


def test_replica_records_decode_rejections() -> None:
    ours = _scoped_replica(GENESIS)
    report = ours.ingest([patched(signer=MALLORY)])
    assert [r[1] for r in report.rejected] == ["bad_signature"]
    assert not report.ok


# -- genesis constraints ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("changes", "expected"),
    [
        ({"scope": "sha256:" + "1" * 64}, "malformed"),
        ({"deps": ["sha256:" + "1" * 64], "lamport": 2}, "malformed"),
        ({"seq": 2}, "malformed"),
        ({"payload": {"name": "room", "owners": [ALICE.author]}}, "bad_payload"),
        ({"payload": {"name": "", "owners": [ALICE.author], "nonce": ""}}, "bad_payload"),
        ({"payload": {"name": "x" * 201, "owners": [ALICE.author], "nonce": ""}}, "bad_payload"),
        ({"payload": {"name": "room", "owners": [], "nonce": ""}}, "bad_payload"),
        (
            {"payload": {"name": "room", "owners": sorted([ALICE.author, BOB.author])[::-1], "nonce": ""}},
            "bad_payload",
        ),
        ({"payload": {"name": "room", "owners": [ALICE.author, ALICE.author], "nonce": ""}}, "bad_payload"),
        ({"payload": {"name": "room", "owners": ["alice"], "nonce": ""}}, "bad_payload"),
        ({"payload": {"name": "room", "owners": [ALICE.author], "nonce": "n" * 65}}, "bad_payload"),
        ({"payload": {"name": "room", "owners": [ALICE.author], "nonce": "", "extra": 1}}, "bad_payload"),
    ],
    ids=[
        "with_scope",
        "with_deps",
        "seq_2",
        "no_nonce",
        "empty_name",
        "long_name",
        "no_owners",
        "owners_unsorted",
        "owners_duplicate",
        "owner_not_a_key",
        "long_nonce",
        "extra_key",
    ],
)
def test_genesis_constraints(changes: dict[str, Any], expected: str) -> None:
    assert reason(patched(GENESIS, **changes)) == expected
    assert reason(patched(GENESIS)) == "accepted"  # twin
    assert (
        reason(patched(GENESIS, payload={"name": "r", "owners": [ALICE.author], "nonce": "n" * 64}))
        == "accepted"
    )


def test_non_genesis_needs_a_scope() -> None:
    assert reason(patched(scope=None)) == "malformed"
    assert reason(patched(scope="b2:" + "0" * 64)) == "malformed"
    assert reason(patched(scope=GENESIS.id)) == "accepted"


# -- core field rules ------------------------------------------------------------------------------

D1, D2 = sorted(["sha256:" + "1" * 64, "sha256:" + "2" * 64])


@pytest.mark.parametrize(
    ("changes", "expected"),
    [
        ({"deps": [D2, D1]}, "malformed"),
        ({"deps": [D1, D1]}, "malformed"),
        ({"deps": ["sha256:" + "A" * 64]}, "malformed"),
        ({"deps": ["b2:" + "1" * 64]}, "malformed"),
        ({"deps": ["sha256:" + "1" * 63]}, "malformed"),
        ({"deps": [7]}, "malformed"),
        ({"deps": D1}, "malformed"),
        ({"seq": 0}, "malformed"),
        ({"seq": -1}, "malformed"),
        ({"seq": True}, "malformed"),
        ({"seq": "2"}, "malformed"),
        ({"lamport": 0}, "malformed"),
        ({"deps": [], "lamport": 2}, "malformed"),
        ({"time": -1}, "malformed"),
        ({"local": 0}, "malformed"),
        ({"local": None}, "malformed"),
        ({"v": 2}, "malformed"),
        ({"v": "1"}, "malformed"),
        ({"kind": 1}, "unknown_kind"),
        ({"kind": None}, "unknown_kind"),
    ],
    ids=lambda x: json.dumps(x) if isinstance(x, dict) else str(x),
)
def test_core_field_rules(changes: dict[str, Any], expected: str) -> None:
    assert reason(patched(**changes)) == expected


@pytest.mark.parametrize(
    "changes",
    [
        {"deps": [D1, D2], "lamport": 9},  # the lamport rule against deps' clocks is the DAG's job
        {"deps": [], "lamport": 1},
        {"seq": 9007199254740991},
        {"time": 0},
        {"local": True},
    ],
)
def test_core_field_twins(changes: dict[str, Any]) -> None:
    assert reason(patched(**changes)) == "accepted"


def test_missing_and_extra_core_fields() -> None:
    core = core_of(VALID)
    for key in list(core):
        smaller = {k: v for k, v in core.items() if k != key}
        assert reason(forge(smaller)) == "malformed", key
    assert reason(forge({**core, "extra": 1})) == "malformed"
    assert reason(forge(core)) == "accepted"


def test_version_must_be_the_integer_one() -> None:
    assert reason(patched(v=True)) == "malformed"


def _resealed_with(old: bytes, new: bytes) -> bytes:
    core_bytes = canonical(core_of(VALID))
    assert old in core_bytes
    return seal(core_bytes.replace(old, new, 1), ALICE)


@pytest.mark.parametrize(
    "spelling",
    [b'{"set":1.0}', b'{"set":1.5}', b'{"set":[0.5]}', b'{"set":{"a":-0.0}}', b'{"set":1e2}', b'{"set":NaN}'],
)
def test_float_anywhere_in_payload_is_rejected(spelling: bytes) -> None:
    assert reason(_resealed_with(b'{"set":"x"}', spelling)) == "malformed"
    assert reason(_resealed_with(b'{"set":"x"}', b'{"set":1}')) == "accepted"


def test_float_in_core_field_is_rejected() -> None:
    assert reason(_resealed_with(b'"seq":2', b'"seq":2.0')) == "malformed"
    assert reason(_resealed_with(b'"seq":2', b'"seq":3')) == "accepted"


def test_non_canonical_core_with_valid_signature() -> None:
    # A correctly signed core in a non-canonical spelling is still refused: one event, one byte form.
    assert reason(_resealed_with(b'"seq":2', b'"seq": 2')) == "non_canonical"
    assert reason(_resealed_with(b'"title"', b'"\\u0074itle"')) == "non_canonical"
    assert reason(_resealed_with(b'"seq":2', b'"seq":2,"seq":2')) == "non_canonical"


def _nest(levels: int, leaf: Any = "leaf") -> Any:
    """``levels`` nested lists around ``leaf`` (no leaf: the innermost list is empty)."""
    v: Any = [leaf] if leaf is not None else []
    for _ in range(levels - 1):
        v = [v]
    return v


def test_deeply_nested_payload() -> None:
    # Container depth counted from the wire object: wire 1, core 2, payload 3, ops 4, op 5, kernel op 6.
    assert reason(_resealed_with(b'"x"', canonical(_nest(MAX_DEPTH - 6)))) == "accepted"
    assert reason(_resealed_with(b'"x"', canonical(_nest(MAX_DEPTH - 5)))) == "malformed"
    hostile = b"[" * 100_000 + b'"x"' + b"]" * 100_000
    assert reason(_resealed_with(b'"x"', hostile)) == "malformed"


def test_create_event_output_always_decodes_at_depth_boundary() -> None:
    # create_event validates the core with MAX_DEPTH, but the wire wraps the core in one more object.
    for levels in range(MAX_DEPTH - 8, MAX_DEPTH):
        try:
            event = make_ops(payload=ops_payload(_nest(levels, leaf=None)))
        except UsageError:
            continue
        assert decode_event(event.raw) == event, levels


# -- the ops payload -------------------------------------------------------------------------------


def _ops_with(**fields: Any) -> dict[str, Any]:
    return {"ops": [{**op("Doc", "d1", "title", "lww", {"set": "x"}), **fields}]}


@pytest.mark.parametrize(
    "payload",
    [
        _ops_with(t="nosuch"),
        _ops_with(t="agentcrdt.kernel.registers.LWW"),
        _ops_with(e="1Doc"),
        _ops_with(e="Doc-x"),
        _ops_with(e="D" * 64),
        _ops_with(e=""),
        _ops_with(f="bad field"),
        _ops_with(f="f" * 64),
        _ops_with(id=""),
        _ops_with(id="i" * 201),
        _ops_with(id=1),
        _ops_with(op={"set": "x", "extra": 1}),
        _ops_with(op={"inc": 1}),
        {"ops": [{"e": "Doc", "id": "d1", "f": "title", "t": "lww"}]},
        {"ops": [{**op("Doc", "d1", "title", "lww", {"set": "x"}), "x": 1}]},
        {"ops": []},
        {"ops": {}},
        {"ops": ["op"]},
        {"ops": ops_payload()["ops"], "undoes": "x", "extra": 1},
        {"op": ops_payload()["ops"]},
        [],
        None,
        {"ops": ops_payload()["ops"] * (MAX_OPS_PER_EVENT + 1)},
    ],
    ids=[
        "unknown_type",
        "dotted_type",
        "entity_digit",
        "entity_dash",
        "entity_too_long",
        "entity_empty",
        "field_space",
        "field_too_long",
        "id_empty",
        "id_too_long",
        "id_int",
        "kernel_op_extra",
        "kernel_op_wrong",
        "op_missing_key",
        "op_extra_key",
        "no_ops",
        "ops_object",
        "op_not_object",
        "payload_extra_key",
        "payload_wrong_key",
        "payload_list",
        "payload_null",
        "too_many_ops",
    ],
)
def test_ops_payload_rejected(payload: Any) -> None:
    assert reason(patched(payload=payload)) == "bad_payload"
    with pytest.raises(UsageError):
        make_ops(payload=payload)


@pytest.mark.parametrize(
    "payload",
    [
        _ops_with(e="D" * 63, f="_" + "f" * 62, id="i" * 200),
        _ops_with(t="pncounter", op={"inc": -1}),
        {"ops": ops_payload()["ops"], "undoes": VALID.id},
        {"ops": ops_payload()["ops"] * MAX_OPS_PER_EVENT},
    ],
    ids=["name_limits", "pncounter", "undoes", "max_ops"],
)
def test_ops_payload_twins(payload: Any) -> None:
    assert reason(patched(payload=payload)) == "accepted"
    assert decode_event(make_ops(payload=payload).raw).payload == payload


# -- create_event refuses invalid input ------------------------------------------------------------


@pytest.mark.parametrize(
    "changes",
    [
        {"seq": 0},
        {"lamport": 0},
        {"deps": (), "lamport": 3},
        {"deps": ("not-a-digest",)},
        {"scope": None},
        {"scope": "room"},
        {"kind": "nosuch"},
        {"payload": {"ops": [op("Doc", "d1", "t", "lww", {"set": 1.5})]}},
        {"payload": {"ops": [op("Doc", "d1", "t", "lww", {"set": 2**53})]}},
        {"payload": {"ops": [op("Doc", "d1", "t", "lww", {"set": "\ud800"})]}},
        {"payload": {"ops": [op("Doc", "d1", "t", "lww", {"set": _nest(100)})]}},
        {"time_ms": -5},
        {"local": 1},
    ],
    ids=lambda c: next(iter(c)),
)
def test_create_event_refuses_invalid_input(changes: dict[str, Any]) -> None:
    kwargs: dict[str, Any] = {
        "scope": GENESIS.id,
        "seq": 2,
        "deps": (GENESIS.id,),
        "lamport": 2,
        "time_ms": T0,
        "kind": "ops",
        "payload": ops_payload(),
        "local": False,
    }
    with pytest.raises(UsageError):
        create_event(ALICE, **{**kwargs, **changes})
    assert decode_event(create_event(ALICE, **kwargs).raw).author == ALICE.author  # twin


def test_create_event_normalizes_deps() -> None:
    a = make_ops(deps=(D2, D1, D2), lamport=3)
    assert a.deps == (D1, D2)
    assert decode_event(a.raw).deps == (D1, D2)


def test_kind_registry_is_closed() -> None:
    assert {"genesis", "ops"} <= registered_kinds()
    assert reason(patched(kind="Ops")) == "unknown_kind"


@pytest.mark.parametrize("bad", [[], {}, 7, "sha256:short", ["sha256:" + "a" * 64]])
def test_a_scope_or_dep_of_the_wrong_shape_is_malformed_not_a_crash(bad: Any) -> None:
    assert reason(patched(scope=bad)) == "malformed"
    assert reason(patched(deps=[bad])) == "malformed"


_GOOD_PAYLOAD = st.builds(
    lambda e, v: {"ops": [op("Doc", e, "title", "lww", {"set": v})]},
    st.sampled_from(["d1", "d2"]),
    st.one_of(st.text(max_size=5), st.integers(-5, 5), st.none()),
)
_BAD_PAYLOAD = st.sampled_from(
    [
        {"ops": [op("Doc", "d1", "title", "lww", {"set": 1.5})]},  # a float
        {"ops": []},  # no ops
        {"ops": [op("Doc", "d1", "title", "lww", {"set": 2**60})]},  # an int out of range
        {"ops": [op("Doc", "\ud800", "title", "lww", {"set": 1})]},  # a lone surrogate
        {"nope": 1},
    ]
)
_CHANGE = st.one_of(
    st.tuples(st.just("ops"), _GOOD_PAYLOAD),
    st.tuples(st.sampled_from(["ops", "no-such-kind", "genesis"]), _BAD_PAYLOAD),
)
_TIME = st.one_of(st.integers(0, 10**13), st.sampled_from([-1, 1.5, 2**60, "1"]))


def _outcome(make: Any) -> tuple[str, Any]:
    try:
        return "ok", list(make())
    except UsageError as e:
        return "error", str(e)


@settings(max_examples=300, deadline=None)
@given(
    changes=st.lists(_CHANGE, min_size=1, max_size=6),
    times=st.lists(_TIME, min_size=6, max_size=6),
    start=st.sampled_from([3, MAX_INT - 2]),
)
def test_prepare_chain_is_prepare_event_in_a_loop(
    changes: list[tuple[str, Any]], times: list[Any], start: int
) -> None:
    # The chain checks the envelope of its first event only: it must still yield exactly the events, or
    # raise exactly the error, of preparing each event on its own with seq, lamport and deps advanced.
    author = Identity.from_name("alice").author
    scope = "sha256:" + "ab" * 32
    deps = ["sha256:" + "cd" * 32]

    def one_by_one() -> list[UnsignedEvent]:
        out, d = [], list(deps)
        for i, (kind, payload) in enumerate(changes):
            u = prepare_event(
                author,
                scope=scope,
                seq=start + i,
                deps=d,
                lamport=7 + i,
                time_ms=times[i],
                kind=kind,
                payload=payload,
            )
            out.append(u)
            d = [u.id]
        return out

    def chained() -> list[UnsignedEvent]:
        clock = iter(times)
        return list(
            prepare_chain(
                author, changes, scope=scope, seq=start, deps=deps, lamport=7, clock=lambda: next(clock)
            )
        )

    assert _outcome(chained) == _outcome(one_by_one)
