"""The sync protocol's messages and their bytes.

A message is one frame::

    b"ACS" | version (1 byte) | type (1 byte) | header length (4 bytes, big endian) | header | body

The header is canonical JSON (the log's codec: strict, depth-limited); the body is binary, so events
travel as their own raw bytes (no base64: a sync costs little more than the events it carries):

``hello``  header ``{"scope", "heads", "samples"}``: what I hold, as my heads and a few ids of my past
           at exponentially spaced positions (the peer finds among them what we both hold);
``have``   header ``{"base", "k", "bits"}``, body a Bloom filter: the ids I hold beyond the ancestors
           of ``base`` (ids we both hold), for the peer to send what the filter lacks;
``events`` body a batch of raw events, each prefixed by its length (4 bytes); header ``{"more": true}``
           when more batches answer the same request;
``need``   header ``{"ids"}``: events I lack (the deps of orphans I was sent).

Decoding fails closed with :class:`~agentcrdt.errors.SyncError`: a wrong magic or version, an unknown
type, a frame or header over its limit, trailing bytes, a malformed header or event length.
"""

from __future__ import annotations

import re
import struct
from dataclasses import dataclass, field
from typing import Any, Literal

from agentcrdt.errors import EncodingError, SyncError
from agentcrdt.log.codec import canonical, decode_canonical
from agentcrdt.log.event import MAX_EVENT_BYTES

__all__ = [
    "MAX_FRAME_BYTES",
    "MAX_IDS",
    "Events",
    "Have",
    "Hello",
    "Message",
    "Need",
    "decode",
    "encode",
]

MAGIC = b"ACS"
VERSION = 1
MAX_FRAME_BYTES = 16 * 1024 * 1024  # a batch of events; a sender splits larger ones
MAX_HEADER_BYTES = 2 * 1024 * 1024
MAX_IDS = 20_000  # heads, samples, base or needed ids in one message
MAX_BLOOM_BYTES = 8 * 1024 * 1024
_ID = re.compile(r"[a-z0-9]{1,16}:[0-9a-f]{16,128}")
_LEN = struct.Struct(">I")


@dataclass(frozen=True)
class Hello:
    scope: str
    heads: tuple[str, ...]
    samples: tuple[str, ...] = ()
    type: Literal["hello"] = "hello"


@dataclass(frozen=True)
class Have:
    base: tuple[str, ...]
    k: int
    bits: bytes
    held: tuple[str, ...] = ()  # orphans the sender holds, waiting for their deps (not in the filter)
    type: Literal["have"] = "have"


@dataclass(frozen=True)
class Events:
    raws: tuple[bytes, ...] = ()
    more: bool = False  # more batches follow in answer to the same request
    type: Literal["events"] = "events"


@dataclass(frozen=True)
class Need:
    ids: tuple[str, ...] = field(default_factory=tuple)
    type: Literal["need"] = "need"


Message = Hello | Have | Events | Need
_TYPES = {"hello": 1, "have": 2, "events": 3, "need": 4}
_NAMES = {v: k for k, v in _TYPES.items()}


def encode(msg: Message) -> bytes:
    """Return the frame of ``msg``."""
    body = b""
    if isinstance(msg, Hello):
        header: dict[str, Any] = {"scope": msg.scope, "heads": list(msg.heads), "samples": list(msg.samples)}
    elif isinstance(msg, Have):
        header = {"base": list(msg.base), "k": msg.k, "bits": len(msg.bits) * 8}
        if msg.held:
            header["held"] = list(msg.held)
        body = msg.bits
    elif isinstance(msg, Events):
        header = {"more": True} if msg.more else {}
        body = b"".join(_LEN.pack(len(r)) + r for r in msg.raws)
    else:
        header = {"ids": list(msg.ids)}
    head = canonical(header)
    frame = MAGIC + bytes((VERSION, _TYPES[msg.type])) + _LEN.pack(len(head)) + head + body
    if len(frame) > MAX_FRAME_BYTES:
        raise SyncError(f"a {msg.type} message of {len(frame)} bytes is over {MAX_FRAME_BYTES}: split it")
    return frame


def _ids(header: dict[str, Any], key: str) -> tuple[str, ...]:
    value = header.get(key, [])
    if not isinstance(value, list) or len(value) > MAX_IDS:
        raise SyncError(f"{key}: expected a list of at most {MAX_IDS} event ids")
    if not all(isinstance(i, str) and _ID.fullmatch(i) for i in value):
        raise SyncError(f"{key}: not an event id (expected <algorithm>:<hex digest>)")
    return tuple(value)


def decode(frame: bytes) -> Message:
    """Return the message in ``frame``; SyncError if it is not a well-formed frame."""
    if len(frame) > MAX_FRAME_BYTES:
        raise SyncError(f"a message of {len(frame)} bytes is over the {MAX_FRAME_BYTES}-byte limit")
    if len(frame) < 9 or frame[:3] != MAGIC:
        raise SyncError("not an agentcrdt sync message (bad magic)")
    if frame[3] != VERSION:
        raise SyncError(f"sync protocol version {frame[3]} is not supported (this peer speaks {VERSION})")
    name = _NAMES.get(frame[4])
    if name is None:
        raise SyncError(f"unknown sync message type {frame[4]}")
    (size,) = _LEN.unpack_from(frame, 5)
    if size > MAX_HEADER_BYTES or 9 + size > len(frame):
        raise SyncError("sync message header is over its limit or cut short")
    try:
        header = decode_canonical(frame[9 : 9 + size], max_size=MAX_HEADER_BYTES, max_depth=3)
    except EncodingError as e:
        raise SyncError(f"sync message header is not canonical JSON: {e}") from e
    if not isinstance(header, dict):
        raise SyncError("sync message header is not an object")
    body = frame[9 + size :]
    if name == "hello":
        scope = header.get("scope")
        if not isinstance(scope, str) or not scope:
            raise SyncError("hello without a scope")
        return Hello(scope, _ids(header, "heads"), _ids(header, "samples"))
    if name == "have":
        k, bits = header.get("k"), header.get("bits")
        if not isinstance(k, int) or not 1 <= k <= 32 or bits != len(body) * 8 or not body:
            raise SyncError("have: the Bloom filter's k or size does not match its body")
        if len(body) > MAX_BLOOM_BYTES:
            raise SyncError(f"have: a Bloom filter over {MAX_BLOOM_BYTES} bytes")
        return Have(_ids(header, "base"), k, bytes(body), _ids(header, "held"))
    if name == "need":
        return Need(_ids(header, "ids"))
    if set(header) - {"more"} or header.get("more", True) is not True:
        raise SyncError("events: unexpected header")
    raws: list[bytes] = []
    at = 0
    while at < len(body):
        if at + 4 > len(body):
            raise SyncError("events: an event length cut short")
        (n,) = _LEN.unpack_from(body, at)
        if n == 0 or n > MAX_EVENT_BYTES or at + 4 + n > len(body):
            raise SyncError(f"events: an event of {n} bytes is empty, over {MAX_EVENT_BYTES} or cut short")
        raws.append(bytes(body[at + 4 : at + 4 + n]))
        at += 4 + n
    return Events(tuple(raws), more=bool(header))
