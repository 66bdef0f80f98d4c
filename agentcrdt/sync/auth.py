"""Peer authentication for a sync server: a challenge signed with the peer's key (no passwords).

The server sends a random nonce; the peer signs ``agentcrdt-sync-auth/1 \\0 scope \\0 nonce`` with its
Ed25519 key. The scope is in the signed message, so a signature for one scope is worthless for another,
and the nonce is fresh per connection, so a recorded one cannot be replayed.
"""

from __future__ import annotations

import secrets

from agentcrdt.errors import AgentCRDTError
from agentcrdt.log.keys import Identity, verify

__all__ = ["auth_message", "check_signature", "new_nonce", "sign_challenge"]

DOMAIN = b"agentcrdt-sync-auth/1"


def new_nonce() -> str:
    return secrets.token_hex(16)


def auth_message(scope: str, nonce: str) -> bytes:
    return b"\0".join((DOMAIN, scope.encode(), nonce.encode()))


def sign_challenge(identity: Identity, scope: str, nonce: str) -> str:
    """Return the hex signature answering ``nonce`` for ``scope``."""
    return identity.sign(auth_message(scope, nonce)).hex()


def check_signature(author: str, signature: str, scope: str, nonce: str) -> bool:
    """Whether ``signature`` (hex) is ``author``'s answer to ``nonce`` for ``scope``."""
    try:
        verify(author, auth_message(scope, nonce), bytes.fromhex(signature))
    except (AgentCRDTError, ValueError):
        return False
    return True
