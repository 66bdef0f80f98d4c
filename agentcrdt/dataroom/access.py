"""The access log: every read of a document version through the API or CLI is an ``access`` event.

Access events are *local-only* (``local=True``): signed by the reader, hash-linked into this replica's
log and covered by ``agentcrdt audit verify``, but never synced. An access log is a record of what one
replica's users read; sending it to every peer would leak who looked at what, and a peer's claim about
its own reads proves nothing to us anyway. A read that cannot be logged (no key, no right to write) is
refused rather than served unlogged.

Payload: ``{"document": id, "version": version id, "content_hash": "sha256:…", "via": "cli:show"}``.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from agentcrdt.log.event import decode_event
from agentcrdt.log.kinds import ACCESS, check_access_payload
from agentcrdt.replica import Replica
from agentcrdt.store.base import StoredEvent

__all__ = [
    "ACCESS",
    "AccessRecord",
    "access_payload",
    "access_record",
    "access_records",
    "check_access_payload",
]

_KEYS = frozenset({"document", "version", "content_hash", "via"})


@dataclass(frozen=True, slots=True)
class AccessRecord:
    """One logged read."""

    event_id: str
    reader: str
    time_ms: int
    document: str
    version: str
    content_hash: str
    via: str
    local: bool
    position: int = 0  # in the store that holds it

    def to_json(self) -> dict[str, Any]:
        """Return a JSON-ready dict."""
        return {
            "event": self.event_id,
            "reader": self.reader,
            "time_ms": self.time_ms,
            "document": self.document,
            "version": self.version,
            "content_hash": self.content_hash,
            "via": self.via,
            "local": self.local,
        }


def access_payload(document: str, version: str, content_hash: str, via: str) -> dict[str, str]:
    """Build (and check) the payload of an ``access`` event."""
    payload = {"document": document, "version": version, "content_hash": content_hash, "via": via}
    check_access_payload(payload)
    return payload


def access_record(position: int, stored: StoredEvent) -> AccessRecord | None:
    """The logged read a stored record holds (None for any other kind, which is not decoded)."""
    if stored.kind != ACCESS:
        return None  # decode only what we show: chunk events can be large
    event = decode_event(stored.raw, verify_signature=False)
    p = event.payload
    return AccessRecord(
        event.id, event.author, event.time, p["document"], p["version"], p["content_hash"], p["via"],
        event.local, position,
    )  # fmt: skip


def access_records(replica: Replica, document: str | None = None) -> Iterator[AccessRecord]:
    """Yield the logged reads in store order, optionally those of one document."""
    cursor = 0
    while batch := replica.store.since(cursor, limit=5_000):
        for position, stored in batch:
            cursor = position
            record = access_record(position, stored)
            if record is not None and (document is None or record.document == document):
                yield record
