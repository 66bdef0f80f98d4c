"""Event kinds owned by the log layer itself: ``genesis``.

A scope (a dataroom, a channel) is created by a genesis event; the scope id is that event's id, so the
scope's name, owners and nonce are fixed by content and every right in the scope traces back to it.
``access`` records one read of a document version; it is always local-only (never synced).
Other layers register their own kinds (``ops`` in :mod:`agentcrdt.ops.state`) with
:func:`agentcrdt.log.event.register_kind`.
"""

from __future__ import annotations

from typing import Any

from agentcrdt.errors import EncodingError
from agentcrdt.log.event import register_kind
from agentcrdt.log.keys import is_digest, parse_author

__all__ = ["ACCESS", "GENESIS", "check_access_payload", "check_genesis"]

GENESIS = "genesis"
ACCESS = "access"
_ACCESS_KEYS = frozenset({"document", "version", "content_hash", "via"})
_GENESIS_KEYS = frozenset({"name", "owners", "nonce"})
MAX_OWNERS = 64


def check_genesis(payload: Any) -> None:
    """Validate a genesis payload: ``{"name": str, "owners": [author, ...], "nonce": str}``."""
    if type(payload) is not dict or payload.keys() != _GENESIS_KEYS:
        raise EncodingError(f"genesis payload must have exactly {sorted(_GENESIS_KEYS)}")
    name, owners, nonce = payload["name"], payload["owners"], payload["nonce"]
    if type(name) is not str or not 0 < len(name) <= 200:
        raise EncodingError("genesis name must be a non-empty string of at most 200 characters")
    if type(nonce) is not str or len(nonce) > 64:
        raise EncodingError("genesis nonce must be a string of at most 64 characters")
    if type(owners) is not list or not 0 < len(owners) <= MAX_OWNERS:
        raise EncodingError(f"genesis owners must be a list of 1..{MAX_OWNERS} authors")
    for owner in owners:
        parse_author(owner)
    if owners != sorted(set(owners)):
        raise EncodingError("genesis owners must be sorted and unique")


def check_access_payload(payload: Any) -> None:
    """Validate an ``access`` payload: one logged read of a document version (a local-only event).

    It lives here, in the log layer, so every process can decode a room whose owner logged reads.
    """
    if type(payload) is not dict or payload.keys() != _ACCESS_KEYS:
        raise EncodingError(f"an access payload has exactly the keys {sorted(_ACCESS_KEYS)}")
    for key in ("document", "version"):
        value = payload[key]
        if type(value) is not str or not 0 < len(value) <= 200:
            raise EncodingError(f"access {key} must be a non-empty string of at most 200 characters")
    if not is_digest(payload["content_hash"]):
        raise EncodingError("access content_hash must be a 'sha256:<hex>' digest")
    via = payload["via"]
    if type(via) is not str or len(via) > 64:
        raise EncodingError("access via must be a string of at most 64 characters")


register_kind(GENESIS, check_genesis)
register_kind(ACCESS, check_access_payload)
