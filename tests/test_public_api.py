"""The public surface: what `import agentcrdt` offers is deliberate, complete and cheap to import."""

from __future__ import annotations

import importlib
import subprocess
import sys

import pytest

import agentcrdt

# The list users build on. Changing it is an API change: say so in the changelog and docs.
PUBLIC = {
    # rooms
    "create_local", "open_local", "create_memory", "join_memory", "join_local",
    "Replica", "IngestReport", "Dataroom",
    # identities, events, ops, state
    "Identity", "Event", "op", "DocState",
    # entities
    "Entity", "LWW", "MultiValue", "Counter", "GrowCounter", "AddWinsSet", "LWWSet", "Map", "Text",
    # atoms
    "Atom", "Reader",
    # capabilities and the workflow
    "Capability", "AutoAccept", "Limits", "grant", "revoke", "propose", "review", "list_proposals",
    "Evidence",
    # agents, workers, models
    "Agent", "WorkItem", "ProposalDraft", "Retrieval", "Worker", "load_agent",
    "Model", "ModelSettings", "get_model",
    # errors
    "AgentCRDTError", "UsageError", "SchemaError", "InvalidEntityValue", "EncodingError",
    "IntegrityError", "HashMismatch", "BadSignature", "Equivocation", "RejectedEvent",
    "CapabilityDenied", "StoreError", "MigrationError", "NotFound", "MissingAPIKey", "ModelError",
    "TransientError", "ModelOutputError", "CannotAnswer", "SyncError",
}  # fmt: skip


def test_all_is_the_public_list() -> None:
    assert len(agentcrdt.__all__) == len(set(agentcrdt.__all__))
    assert set(agentcrdt.__all__) == PUBLIC
    assert set(agentcrdt._EXPORTS) == PUBLIC


@pytest.mark.parametrize("name", sorted(PUBLIC))
def test_every_public_name_is_the_defining_modules_object(name: str) -> None:
    module = importlib.import_module(agentcrdt._EXPORTS[name])
    assert getattr(agentcrdt, name) is getattr(module, name)
    assert name in dir(agentcrdt)


def test_errors_form_one_tree() -> None:
    errors = [getattr(agentcrdt, n) for n in PUBLIC if n.endswith(("Error", "Denied", "Found", "Key"))]
    errors += [agentcrdt.HashMismatch, agentcrdt.BadSignature, agentcrdt.Equivocation]
    assert all(issubclass(e, agentcrdt.AgentCRDTError) for e in errors)


def test_an_unknown_name_is_an_attribute_error_naming_it() -> None:
    with pytest.raises(AttributeError, match="no attribute 'Replika'"):
        agentcrdt.Replika  # noqa: B018


def test_importing_the_package_imports_nothing_else() -> None:
    # `agentcrdt --help` and light workers must not pay for the runtime, pydantic or the dataroom.
    code = (
        "import sys, agentcrdt; print(sorted(m for m in sys.modules if m.startswith(('agentcrdt', 'pyd'))))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "['agentcrdt']"
