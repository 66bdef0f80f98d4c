"""The ``proposal`` and ``review`` event kinds: payload shapes and their validation.

A proposal carries the ops an agent wants applied, the heads it read (``base``), a rationale, evidence
(exact quoted spans of entity fields), a confidence (decimal string), the slot it uses, the id of the
input it processed (so a restarted worker never proposes the same thing twice) and provenance (model
id, prompt template hash, token usage).
"""

from __future__ import annotations

import re
from typing import Any

from agentcrdt.capabilities.spec import parse_confidence
from agentcrdt.errors import EncodingError
from agentcrdt.log.event import register_kind
from agentcrdt.log.keys import is_digest
from agentcrdt.ops.state import check_ops_payload

__all__ = ["PROPOSAL", "REVIEW", "check_proposal", "check_review"]

PROPOSAL, REVIEW = "proposal", "review"
_NAME = re.compile(r"[a-z][a-z0-9_-]{0,62}")
_ENTITY = re.compile(r"[A-Za-z_][A-Za-z0-9_]{0,62}")
_PROPOSAL_KEYS = frozenset(
    {"slot", "kind", "ops", "base", "rationale", "evidence", "confidence", "provenance", "input"}
)
_EVIDENCE_KEYS = frozenset({"entity", "id", "field", "start", "end", "quote"})
MAX_EVIDENCE = 32
MAX_TEXT = 8000


def _str(value: Any, what: str, limit: int = MAX_TEXT) -> str:
    if type(value) is not str or len(value) > limit:
        raise EncodingError(f"{what} must be a string of at most {limit} characters")
    return value


def _check_evidence(items: Any) -> None:
    if type(items) is not list or len(items) > MAX_EVIDENCE:
        raise EncodingError(f"evidence must be a list of at most {MAX_EVIDENCE} quoted spans")
    for ev in items:
        if type(ev) is not dict or ev.keys() != _EVIDENCE_KEYS:
            raise EncodingError(f"each evidence item has exactly {sorted(_EVIDENCE_KEYS)}")
        if type(ev["entity"]) is not str or not _ENTITY.fullmatch(ev["entity"]):
            raise EncodingError("evidence entity must be an entity type name")
        if type(ev["field"]) is not str or not _ENTITY.fullmatch(ev["field"]):
            raise EncodingError("evidence field must be a field name")
        _str(ev["id"], "evidence id", 200)
        start, end = ev["start"], ev["end"]
        if type(start) is not int or type(end) is not int or not 0 <= start <= end:
            raise EncodingError("evidence start/end must be integers with 0 <= start <= end")
        quote = _str(ev["quote"], "evidence quote")
        if len(quote) != end - start:
            raise EncodingError("evidence quote length must equal end - start")


def _check_provenance(p: Any) -> None:
    if type(p) is not dict or p.keys() != {"model", "prompt_hash", "usage"}:
        raise EncodingError("provenance is {'model': id, 'prompt_hash': 'sha256:…', 'usage': {...}}")
    _str(p["model"], "provenance model", 200)
    if not is_digest(p["prompt_hash"]):
        raise EncodingError("provenance prompt_hash must be a 'sha256:<hex>' digest")
    usage = p["usage"]
    if type(usage) is not dict or not usage.keys() <= {"input_tokens", "output_tokens", "cost_usd"}:
        raise EncodingError("usage has input_tokens, output_tokens and optionally cost_usd")
    for k in ("input_tokens", "output_tokens"):
        if type(usage.get(k, 0)) is not int or usage.get(k, 0) < 0:
            raise EncodingError(f"usage {k} must be a non-negative integer")
    if usage.get("cost_usd") is not None:
        _str(usage["cost_usd"], "usage cost_usd (a decimal string)", 32)


def check_proposal(payload: Any) -> None:
    """Validate a proposal payload structurally."""
    if type(payload) is not dict or payload.keys() != _PROPOSAL_KEYS:
        raise EncodingError(f"a proposal payload has exactly {sorted(_PROPOSAL_KEYS)}")
    for key in ("slot", "kind"):
        if type(payload[key]) is not str or not _NAME.fullmatch(payload[key]):
            raise EncodingError(f"proposal {key} must be a lowercase name")
    check_ops_payload({"ops": payload["ops"]})
    base = payload["base"]
    if type(base) is not list or not all(is_digest(b) for b in base) or base != sorted(set(base)):
        raise EncodingError("base must be the sorted list of head ids the agent read")
    _str(payload["rationale"], "rationale")
    _check_evidence(payload["evidence"])
    parse_confidence(payload["confidence"])
    _check_provenance(payload["provenance"])
    if not is_digest(payload["input"]):
        raise EncodingError("input must be the 'sha256:<hex>' digest of what the agent processed")


def check_review(payload: Any) -> None:
    """Validate a review payload: ``{"proposal": id, "decision": "accept"|"reject", "note": str}``."""
    if type(payload) is not dict or payload.keys() != {"proposal", "decision", "note"}:
        raise EncodingError(
            "a review payload is {'proposal': id, 'decision': 'accept'|'reject', 'note': str}"
        )
    if not is_digest(payload["proposal"]):
        raise EncodingError("'proposal' must be the id of a proposal event")
    if payload["decision"] not in ("accept", "reject"):
        raise EncodingError("decision must be 'accept' or 'reject'")
    _str(payload["note"], "note", 4000)


register_kind(PROPOSAL, check_proposal)
register_kind(REVIEW, check_review)
