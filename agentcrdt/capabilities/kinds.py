"""The ``grant`` and ``revoke`` event kinds (payload validation; the rules live in check.py)."""

from __future__ import annotations

from typing import Any

from agentcrdt.capabilities.spec import Capability
from agentcrdt.errors import EncodingError
from agentcrdt.log.event import register_kind
from agentcrdt.log.keys import is_digest, parse_author

__all__ = ["GRANT", "REVOKE", "grant_payload", "revoke_payload"]

GRANT, REVOKE = "grant", "revoke"


def grant_payload(grantee: str, capability: Capability) -> dict[str, Any]:
    """Build the payload of a grant of ``capability`` to ``grantee``."""
    return {"grantee": grantee, "capability": capability.to_json()}


def revoke_payload(grant_id: str, reason: str = "") -> dict[str, Any]:
    """Build the payload of a revocation of the grant event ``grant_id``."""
    return {"grant": grant_id, "reason": reason}


def _check_grant(payload: Any) -> None:
    if type(payload) is not dict or payload.keys() != {"grantee", "capability"}:
        raise EncodingError("a grant payload is {'grantee': author, 'capability': {...}}")
    parse_author(payload["grantee"])
    Capability.from_json(payload["capability"])


def _check_revoke(payload: Any) -> None:
    if type(payload) is not dict or payload.keys() != {"grant", "reason"}:
        raise EncodingError("a revoke payload is {'grant': grant event id, 'reason': str}")
    if not is_digest(payload["grant"]):
        raise EncodingError("'grant' must be the 'sha256:<hex>' id of a grant event")
    if type(payload["reason"]) is not str or len(payload["reason"]) > 1000:
        raise EncodingError("'reason' must be a string of at most 1000 characters")


register_kind(GRANT, _check_grant)
register_kind(REVOKE, _check_revoke)
