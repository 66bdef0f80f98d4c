"""The signed event envelope: creation, strict decoding and verification.

Wire form (canonical JSON, see codec): ``{"core": CORE, "sig": "<128 hex>"}`` where CORE is::

    {"v": 1, "scope": <scope id or null for genesis>, "author": "ed25519:<hex>", "seq": n >= 1,
     "deps": [sorted unique ids], "lamport": 1 + max(lamport of deps), "time": <unix ms, informational>,
     "kind": <registered kind>, "payload": <JSON>, "local": <bool>}

``id = sha256(canonical(CORE))`` and ``sig = Ed25519(author, SIGNING_CONTEXT + id)``. Signing the
domain-separated id (not the raw core) keeps signatures small-message and unambiguous across versions.
The lamport rule against the deps' clocks is checked by the DAG, which knows them.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from itertools import pairwise
from typing import Any, NamedTuple

import orjson

from agentcrdt.errors import BadSignature, EncodingError, RejectedEvent, UsageError
from agentcrdt.log.codec import MAX_DEPTH, MAX_INT, decode_canonical, encode_validated, validate_value
from agentcrdt.log.keys import _DIGEST_RE, Identity, digest, is_digest, parse_author, verify

__all__ = [
    "FORMAT_VERSION",
    "MAX_EVENT_BYTES",
    "SIGNING_CONTEXT",
    "Event",
    "UnsignedEvent",
    "create_event",
    "decode_event",
    "decode_sealed",
    "prepare_chain",
    "prepare_event",
    "register_kind",
    "registered_kinds",
    "signature_check",
]

FORMAT_VERSION = 1
SIGNING_CONTEXT = b"agentcrdt/event/v1:"
MAX_EVENT_BYTES = 1 << 20  # 1 MiB; larger documents are chunked into several events by the domain layer
_CORE_KEYS = frozenset({"v", "scope", "author", "seq", "deps", "lamport", "time", "kind", "payload", "local"})
_WIRE_KEYS = frozenset({"core", "sig"})
_WIRE_HEAD = b'{"core":'
_WIRE_TAIL_LEN = len(b',"sig":"') + 128 + len(b'"}')
_GENESIS_RULE = "a genesis event has scope null, no deps, seq 1 and is not local"

JSON = Any
PayloadCheck = Callable[[JSON], None]

# The closed registry of event kinds. Kinds are registered by agentcrdt's own modules at import time;
# nothing received from a peer can add one, and an unknown kind is rejected, never guessed at.
_KINDS: dict[str, PayloadCheck] = {}


def register_kind(kind: str, check: PayloadCheck) -> None:
    """Register an event kind and the function that validates its payload (raises EncodingError)."""
    if kind in _KINDS and _KINDS[kind] is not check:
        raise UsageError(f"event kind {kind!r} is already registered with another validator")
    _KINDS[kind] = check


def registered_kinds() -> frozenset[str]:
    """Return the names of every registered event kind."""
    return frozenset(_KINDS)


@dataclass(frozen=True, slots=True)
class Event:
    """A verified, immutable event. Build with :func:`create_event` or :func:`decode_event` only."""

    id: str
    scope: str | None
    author: str
    seq: int
    deps: tuple[str, ...]
    lamport: int
    time: int
    kind: str
    payload: JSON
    local: bool
    sig: bytes
    raw: bytes

    @property
    def scope_id(self) -> str:
        """Return the scope this event belongs to (a genesis event is its own scope)."""
        return self.id if self.scope is None else self.scope


(_ID, _SCOPE, _AUTHOR, _SEQ, _DEPS, _LAMPORT, _TIME, _KIND, _PAYLOAD, _LOCAL, _SIG, _RAW) = (
    Event.__dict__[name].__set__ for name in Event.__slots__
)
_new_object = object.__new__


def _new_event(
    event_id: str,
    scope: str | None,
    author: str,
    seq: int,
    deps: tuple[str, ...],
    lamport: int,
    time: int,
    kind: str,
    payload: JSON,
    local: bool,
    sig: bytes,
    raw: bytes,
) -> Event:
    """Build an Event from values already checked (create_event and decode_event only).

    Perf: a frozen dataclass's __init__ goes through object.__setattr__ once per field; setting the
    slots directly builds the same immutable object in about half the time, once per event.
    """
    e = _new_object(Event)
    _ID(e, event_id)
    _SCOPE(e, scope)
    _AUTHOR(e, author)
    _SEQ(e, seq)
    _DEPS(e, deps)
    _LAMPORT(e, lamport)
    _TIME(e, time)
    _KIND(e, kind)
    _PAYLOAD(e, payload)
    _LOCAL(e, local)
    _SIG(e, sig)
    _RAW(e, raw)
    return e


def _core(
    scope: str | None,
    author: str,
    seq: int,
    deps: tuple[str, ...],
    lamport: int,
    time: int,
    kind: str,
    payload: JSON,
    local: bool,
) -> dict[str, JSON]:
    return {
        "v": FORMAT_VERSION,
        "scope": scope,
        "author": author,
        "seq": seq,
        "deps": list(deps),
        "lamport": lamport,
        "time": time,
        "kind": kind,
        "payload": payload,
        "local": local,
    }


class UnsignedEvent(NamedTuple):
    """An event whose id is fixed but which is not signed yet (see :func:`prepare_event`).

    A NamedTuple, not a frozen dataclass: one is built per event on the append hot path, and a tuple
    is built several times faster.
    """

    id: str
    core_bytes: bytes
    scope: str | None
    author: str
    seq: int
    deps: tuple[str, ...]
    lamport: int
    time: int
    kind: str
    payload: JSON
    local: bool

    @property
    def signing_message(self) -> bytes:
        """Return the bytes the author signs: the domain-separated id."""
        return SIGNING_CONTEXT + self.id.encode("ascii")

    def seal(self, sig: bytes) -> Event:
        """Return the finished event carrying ``sig`` (the author's signature of :attr:`signing_message`)."""
        raw = _WIRE_HEAD + self.core_bytes + b',"sig":"' + sig.hex().encode("ascii") + b'"}'
        return _new_event(
            self.id,
            self.scope,
            self.author,
            self.seq,
            self.deps,
            self.lamport,
            self.time,
            self.kind,
            self.payload,
            self.local,
            sig,
            raw,
        )


def _check_size(core_bytes: bytes) -> None:
    # The wire form is the core plus a fixed-size signature field: check the limit before anyone signs.
    if len(core_bytes) + len(_WIRE_HEAD) + _WIRE_TAIL_LEN > MAX_EVENT_BYTES:
        raise UsageError(
            f"event is {len(core_bytes) + len(_WIRE_HEAD) + _WIRE_TAIL_LEN} bytes, over the "
            f"{MAX_EVENT_BYTES}-byte limit; split the change"
        )


def prepare_event(
    author: str,
    *,
    scope: str | None,
    seq: int,
    deps: Iterable[str],
    lamport: int,
    time_ms: int,
    kind: str,
    payload: JSON,
    local: bool = False,
) -> UnsignedEvent:
    """Build and validate a new event up to its id; sign it with :meth:`UnsignedEvent.seal`.

    Separate from signing because an event's id does not depend on its signature: a writer can chain
    a batch of events (each naming the previous id) and have them signed in parallel.
    """
    dep_tuple = tuple(sorted(set(deps)))
    return _unsigned(_check_core, scope, author, seq, dep_tuple, lamport, time_ms, kind, payload, local)


def _unsigned(
    check: Callable[[dict[str, JSON]], None],
    scope: str | None,
    author: str,
    seq: int,
    deps: tuple[str, ...],
    lamport: int,
    time_ms: int,
    kind: str,
    payload: JSON,
    local: bool,
) -> UnsignedEvent:
    """Build the core, ``check`` it, then encode and hash it: the common end of both ways to prepare."""
    core = _core(scope, author, seq, deps, lamport, time_ms, kind, payload, local)
    try:
        check(core)
        # The envelope fields are pinned to ASCII ids, in-range ints, a bool and a registered kind
        # (checked here, or true by construction in a chain), so only the payload can hold a value
        # outside the canonical domain: walk it alone (the wire and the core wrap it two levels deep).
        validate_value(payload, max_depth=MAX_DEPTH - 2)
        core_bytes = encode_validated(core)
    except EncodingError as e:
        raise UsageError(f"cannot create {kind!r} event: {e}") from e
    _check_size(core_bytes)
    return UnsignedEvent(
        digest(core_bytes), core_bytes, scope, author, seq, deps, lamport, time_ms, kind, payload, local
    )


def _check_kind_and_payload(core: dict[str, JSON]) -> None:
    _check_payload(core["kind"], core["payload"])


def prepare_chain(
    author: str,
    changes: Iterable[tuple[str, JSON]],
    *,
    scope: str | None,
    seq: int,
    deps: Iterable[str],
    lamport: int,
    clock: Callable[[], int],
    local: bool = False,
) -> Iterator[UnsignedEvent]:
    """Prepare a chain of new events by one author, each depending on the one before it.

    Yields what :func:`prepare_event` would for each ``(kind, payload)`` change, with ``seq`` and
    ``lamport`` counting up from the given ones, the first event on ``deps`` and every later one on the
    event before it, and each event's time read from ``clock``. Cheaper per event: the envelope is
    checked in full for the first event only, as every later one differs from it by construction (the
    next seq and clock, the previous id as its only dep); kinds, payloads, times and sizes are checked
    for every event.
    """
    prev: UnsignedEvent | None = None
    for kind, payload in changes:
        if prev is None:
            prev = prepare_event(
                author,
                scope=scope,
                seq=seq,
                deps=deps,
                lamport=lamport,
                time_ms=clock(),
                kind=kind,
                payload=payload,
                local=local,
            )
        else:
            prev = _prepare_next(prev, kind, payload, clock())
        yield prev


def _prepare_next(prev: UnsignedEvent, kind: str, payload: JSON, time_ms: int) -> UnsignedEvent:
    """The event after ``prev`` in its author's chain (see :func:`prepare_chain`)."""
    seq, lamport = prev.seq + 1, prev.lamport + 1
    # The same checks, in the same order and with the same words, as _check_core's on these fields.
    for key, value, minimum in (("seq", seq, 1), ("lamport", lamport, 1), ("time", time_ms, 0)):
        if type(value) is not int or not minimum <= value <= MAX_INT:
            raise UsageError(
                f"cannot create {kind!r} event: core field {key!r} must be an integer >= {minimum}, "
                f"got {value!r}"
            )
    if kind == "genesis":
        raise UsageError(f"cannot create 'genesis' event: {_GENESIS_RULE}")
    return _unsigned(
        _check_kind_and_payload,
        prev.scope,
        prev.author,
        seq,
        (prev.id,),
        lamport,
        time_ms,
        kind,
        payload,
        prev.local,
    )


def create_event(
    identity: Identity,
    *,
    scope: str | None,
    seq: int,
    deps: Iterable[str],
    lamport: int,
    time_ms: int,
    kind: str,
    payload: JSON,
    local: bool = False,
) -> Event:
    """Build, validate and sign a new event."""
    unsigned = prepare_event(
        identity.author,
        scope=scope,
        seq=seq,
        deps=deps,
        lamport=lamport,
        time_ms=time_ms,
        kind=kind,
        payload=payload,
        local=local,
    )
    return unsigned.seal(identity.sign(unsigned.signing_message))


def decode_event(raw: bytes, *, expected_id: str | None = None, verify_signature: bool = True) -> Event:
    """Decode and verify wire bytes; raise :class:`RejectedEvent` with a reason code on any defect.

    Reason codes: ``malformed``, ``non_canonical``, ``oversized``, ``unknown_kind``, ``bad_payload``,
    ``hash_mismatch``, ``bad_signature``.
    """
    try:
        wire = decode_canonical(raw, max_size=MAX_EVENT_BYTES)
    except EncodingError as e:
        msg = str(e)
        reason = (
            "oversized"
            if "exceeds the limit" in msg
            else ("non_canonical" if "canonical form" in msg else "malformed")
        )
        raise RejectedEvent(reason, msg, expected_id) from e
    if type(wire) is not dict or wire.keys() != _WIRE_KEYS:
        raise RejectedEvent(
            "malformed", "wire form must be an object with exactly 'core' and 'sig'", expected_id
        )
    core, sig_hex = wire["core"], wire["sig"]
    try:
        _check_core(core)
        sig = _parse_sig(sig_hex)
        # The wire bytes are canonical, so the core's canonical bytes sit at a fixed offset: slicing
        # avoids encoding the core a second time on the ingest hot path.
        event_id = digest(raw[len(_WIRE_HEAD) : -_WIRE_TAIL_LEN])
    except EncodingError as e:
        reason = (
            "unknown_kind"
            if isinstance(e, _UnknownKind)
            else ("bad_payload" if isinstance(e, _BadPayload) else "malformed")
        )
        raise RejectedEvent(reason, str(e), expected_id) from e
    if expected_id is not None and event_id != expected_id:
        raise RejectedEvent("hash_mismatch", f"content hashes to {event_id}", expected_id)
    if verify_signature:
        try:
            verify(core["author"], SIGNING_CONTEXT + event_id.encode("ascii"), sig)
        except BadSignature as e:
            raise RejectedEvent("bad_signature", str(e), event_id) from e
    return _new_event(
        event_id,
        core["scope"],
        core["author"],
        core["seq"],
        tuple(core["deps"]),
        core["lamport"],
        core["time"],
        core["kind"],
        core["payload"],
        core["local"],
        sig,
        raw,
    )


def decode_sealed(raw: bytes, event_id: str) -> Event:
    """Decode bytes this installation verified before and vouches for, without checking them again.

    For rows a replica has just matched against its own seal (the seal's digest covers the bytes, see
    :mod:`agentcrdt.store.seal`): they passed :func:`decode_event` when first stored, so only parsing
    is left. Never call it on bytes from anywhere else.
    """
    # The wire bytes are canonical: the core's bytes and the signature's hex sit at fixed offsets.
    core = orjson.loads(raw[len(_WIRE_HEAD) : -_WIRE_TAIL_LEN])
    return _new_event(
        event_id,
        core["scope"],
        core["author"],
        core["seq"],
        tuple(core["deps"]),
        core["lamport"],
        core["time"],
        core["kind"],
        core["payload"],
        core["local"],
        bytes.fromhex(raw[-130:-2].decode("ascii")),
        raw,
    )


def signature_check(event: Event) -> tuple[bytes, bytes, bytes]:
    """Return ``(public key, message, signature)``: what verifying ``event``'s signature takes.

    For a :class:`agentcrdt.signing.Verifier`, after ``decode_event(raw, verify_signature=False)``.
    """
    return parse_author(event.author), SIGNING_CONTEXT + event.id.encode("ascii"), event.sig


class _UnknownKind(EncodingError):
    pass


class _BadPayload(EncodingError):
    pass


def _parse_sig(sig_hex: JSON) -> bytes:
    if type(sig_hex) is not str or len(sig_hex) != 128:
        raise EncodingError("sig must be 128 lowercase hex digits")
    try:
        sig = bytes.fromhex(sig_hex)
    except ValueError as e:
        raise EncodingError("sig must be 128 lowercase hex digits") from e
    if sig.hex() != sig_hex:
        raise EncodingError("sig must be lowercase hex")
    return sig


def _pos_int(core: dict[str, JSON], key: str, minimum: int) -> None:
    v = core[key]
    if type(v) is not int or not minimum <= v <= MAX_INT:
        raise EncodingError(f"core field {key!r} must be an integer >= {minimum}, got {v!r}")


_is_digest = _DIGEST_RE.fullmatch
_GOOD_SCOPES: set[str] = set()


def _check_core(core: JSON) -> None:
    if type(core) is not dict or core.keys() != _CORE_KEYS:
        got = sorted(core) if type(core) is dict else type(core).__name__
        raise EncodingError(f"core must have exactly the fields {sorted(_CORE_KEYS)}, got {got}")
    if type(core["v"]) is not int or core["v"] != FORMAT_VERSION:
        raise EncodingError(
            f"unsupported event format version {core['v']!r} (this build reads {FORMAT_VERSION})"
        )
    parse_author(core["author"])
    _pos_int(core, "seq", 1)
    _pos_int(core, "lamport", 1)
    _pos_int(core, "time", 0)
    deps = core["deps"]
    if type(deps) is not list:
        raise EncodingError("deps must be a list of 'sha256:<hex>' ids")
    for d in deps:  # perf: a loop, not all(<generator>): this runs for every event received
        if type(d) is not str or _is_digest(d) is None:
            raise EncodingError("deps must be a list of 'sha256:<hex>' ids")
    if len(deps) > 1 and any(a >= b for a, b in pairwise(deps)):
        raise EncodingError("deps must be sorted and without duplicates")
    if not deps and core["lamport"] != 1:
        raise EncodingError("an event without deps must have lamport 1")
    if type(core["local"]) is not bool:
        raise EncodingError("local must be true or false")
    kind = core["kind"]
    if type(kind) is not str or kind not in _KINDS:
        raise _UnknownKind(f"unknown event kind {kind!r}; known kinds: {sorted(_KINDS)}")
    scope = core["scope"]
    if kind == "genesis":
        if scope is not None or deps or core["seq"] != 1 or core["local"]:
            raise EncodingError(_GENESIS_RULE)
    elif type(scope) is not str or scope not in _GOOD_SCOPES:
        if not is_digest(scope):
            raise EncodingError("scope must be the 'sha256:<hex>' id of the scope's genesis event")
        if len(_GOOD_SCOPES) < 1024:  # a process serves a few scopes; every event names one
            _GOOD_SCOPES.add(scope)
    _check_payload(kind, core["payload"])


def _check_payload(kind: str, payload: JSON) -> None:
    check = _KINDS.get(kind) if type(kind) is str else None
    if check is None:
        raise _UnknownKind(f"unknown event kind {kind!r}; known kinds: {sorted(_KINDS)}")
    try:
        check(payload)
    except EncodingError as e:
        raise _BadPayload(f"invalid {kind!r} payload: {e}") from e
