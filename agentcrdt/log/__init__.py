"""The event log: canonical encoding, signed events, the causal DAG and audit."""

from __future__ import annotations

from agentcrdt.log import kinds as _kinds  # registers the genesis kind
from agentcrdt.log.codec import canonical, decode_canonical
from agentcrdt.log.event import Event, create_event, decode_event, register_kind, registered_kinds
from agentcrdt.log.keys import Identity, digest, verify

del _kinds

__all__ = [
    "Event",
    "Identity",
    "canonical",
    "create_event",
    "decode_canonical",
    "decode_event",
    "digest",
    "register_kind",
    "registered_kinds",
    "verify",
]
