"""agentcrdt: LLM agents and humans as peers of one signed, convergent event log.

The names a user needs, in one place::

    from agentcrdt import Identity, create_memory, op

    me = Identity.generate()
    with create_memory(me, "Project Falcon") as room:
        room.commit("ops", {"ops": [op("Document", "nda", "title", "lww", {"set": "Mutual NDA"})]})
        print(room.query("SELECT id, value FROM entities"))

Every name is imported on first use (PEP 562), not with the package: ``agentcrdt --help`` and a worker
that needs only the log must not pay for pydantic models, the runtime or the dataroom.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"

# name -> the module that defines it. Kept flat and explicit: tests/test_public_api.py holds the list.
_EXPORTS: dict[str, str] = {
    # rooms and replicas
    "create_local": "agentcrdt.rooms.local",
    "open_local": "agentcrdt.rooms.local",
    "create_memory": "agentcrdt.rooms.local",
    "join_memory": "agentcrdt.rooms.local",
    "join_local": "agentcrdt.rooms.local",
    "Replica": "agentcrdt.replica",
    "IngestReport": "agentcrdt.replica",
    "Dataroom": "agentcrdt.dataroom",
    # identities and events
    "Identity": "agentcrdt.log.keys",
    "Event": "agentcrdt.log.event",
    # ops and state
    "op": "agentcrdt.ops.state",
    "DocState": "agentcrdt.ops.state",
    # typed entities and their CRDT field markers
    "Entity": "agentcrdt.schema",
    "LWW": "agentcrdt.schema",
    "MultiValue": "agentcrdt.schema",
    "Counter": "agentcrdt.schema",
    "GrowCounter": "agentcrdt.schema",
    "AddWinsSet": "agentcrdt.schema",
    "LWWSet": "agentcrdt.schema",
    "Map": "agentcrdt.schema",
    "Text": "agentcrdt.schema",
    # reactive reads
    "Atom": "agentcrdt.materialize",
    "Reader": "agentcrdt.materialize",
    # capabilities, proposals, reviews
    "Capability": "agentcrdt.capabilities",
    "AutoAccept": "agentcrdt.capabilities",
    "Limits": "agentcrdt.capabilities",
    "grant": "agentcrdt.rooms.workflow",
    "revoke": "agentcrdt.rooms.workflow",
    "propose": "agentcrdt.rooms.workflow",
    "review": "agentcrdt.rooms.workflow",
    "list_proposals": "agentcrdt.rooms.workflow",
    "Evidence": "agentcrdt.rooms.workflow",
    # agents and workers
    "Agent": "agentcrdt.runtime",
    "WorkItem": "agentcrdt.runtime",
    "ProposalDraft": "agentcrdt.runtime",
    "Retrieval": "agentcrdt.runtime",
    "Worker": "agentcrdt.runtime",
    "load_agent": "agentcrdt.runtime",
    "Model": "agentcrdt.llm",
    "ModelSettings": "agentcrdt.llm",
    "get_model": "agentcrdt.llm",
    # errors: one tree under AgentCRDTError
    "AgentCRDTError": "agentcrdt.errors",
    "UsageError": "agentcrdt.errors",
    "SchemaError": "agentcrdt.errors",
    "InvalidEntityValue": "agentcrdt.errors",
    "EncodingError": "agentcrdt.errors",
    "IntegrityError": "agentcrdt.errors",
    "HashMismatch": "agentcrdt.errors",
    "BadSignature": "agentcrdt.errors",
    "Equivocation": "agentcrdt.errors",
    "RejectedEvent": "agentcrdt.errors",
    "CapabilityDenied": "agentcrdt.errors",
    "StoreError": "agentcrdt.errors",
    "MigrationError": "agentcrdt.errors",
    "NotFound": "agentcrdt.errors",
    "SyncError": "agentcrdt.errors",
    "MissingAPIKey": "agentcrdt.errors",
    "ModelError": "agentcrdt.errors",
    "TransientError": "agentcrdt.errors",
    "ModelOutputError": "agentcrdt.errors",
    "CannotAnswer": "agentcrdt.errors",
}

# Literal, so linters and `import *` see it; a test checks it equals the keys of _EXPORTS.
__all__ = [
    "LWW",
    "AddWinsSet",
    "Agent",
    "AgentCRDTError",
    "Atom",
    "AutoAccept",
    "BadSignature",
    "CannotAnswer",
    "Capability",
    "CapabilityDenied",
    "Counter",
    "Dataroom",
    "DocState",
    "EncodingError",
    "Entity",
    "Equivocation",
    "Event",
    "Evidence",
    "GrowCounter",
    "HashMismatch",
    "Identity",
    "IngestReport",
    "IntegrityError",
    "InvalidEntityValue",
    "LWWSet",
    "Limits",
    "Map",
    "MigrationError",
    "MissingAPIKey",
    "Model",
    "ModelError",
    "ModelOutputError",
    "ModelSettings",
    "MultiValue",
    "NotFound",
    "ProposalDraft",
    "Reader",
    "RejectedEvent",
    "Replica",
    "Retrieval",
    "SchemaError",
    "StoreError",
    "SyncError",
    "Text",
    "TransientError",
    "UsageError",
    "WorkItem",
    "Worker",
    "create_local",
    "create_memory",
    "get_model",
    "grant",
    "join_local",
    "join_memory",
    "list_proposals",
    "load_agent",
    "op",
    "open_local",
    "propose",
    "review",
    "revoke",
]

if TYPE_CHECKING:  # the same names, for type checkers and editors
    from agentcrdt.capabilities import AutoAccept, Capability, Limits
    from agentcrdt.dataroom import Dataroom
    from agentcrdt.errors import (
        AgentCRDTError,
        BadSignature,
        CannotAnswer,
        CapabilityDenied,
        EncodingError,
        Equivocation,
        HashMismatch,
        IntegrityError,
        InvalidEntityValue,
        MigrationError,
        MissingAPIKey,
        ModelError,
        ModelOutputError,
        NotFound,
        RejectedEvent,
        SchemaError,
        StoreError,
        SyncError,
        TransientError,
        UsageError,
    )
    from agentcrdt.llm import Model, ModelSettings, get_model
    from agentcrdt.log.event import Event
    from agentcrdt.log.keys import Identity
    from agentcrdt.materialize import Atom, Reader
    from agentcrdt.ops.state import DocState, op
    from agentcrdt.replica import IngestReport, Replica
    from agentcrdt.rooms.local import create_local, create_memory, join_local, join_memory, open_local
    from agentcrdt.rooms.workflow import Evidence, grant, list_proposals, propose, review, revoke
    from agentcrdt.runtime import Agent, ProposalDraft, Retrieval, Worker, WorkItem, load_agent
    from agentcrdt.schema import LWW, AddWinsSet, Counter, Entity, GrowCounter, LWWSet, Map, MultiValue, Text


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'agentcrdt' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value  # the next lookup is a plain module attribute
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *__all__})
