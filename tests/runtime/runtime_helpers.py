"""Plain helpers shared by the runtime tests (imported by name: conftest puts this directory on sys.path)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from agentcrdt.ops.state import op
from agentcrdt.proposals.status import ProposalInfo
from agentcrdt.replica import Replica
from agentcrdt.rooms.workflow import list_proposals
from agentcrdt.runtime import Agent, load_agent

HERE = Path(__file__).resolve().parent
AGENTS = HERE / "agents" / "tagger.py"

DOCS = {
    "d1": (
        "Master services agreement",
        "The customer shall pay each invoice within 30 days. Either party may terminate on notice.",
    ),
    "d2": (
        "NDA",
        "All information exchanged is confidential. This agreement is governed by the laws of Delaware.",
    ),
    "d3": ("Memo", "Minutes of the kickoff meeting. Nothing contractual here."),
}


def agent(name: str) -> Agent:
    """Load one of the test agents by path, as the CLI does."""
    return load_agent(f"{AGENTS}:{name}")


def doc_ops(doc_id: str, title: str, text: str) -> list[dict[str, Any]]:
    """Ops creating a Document (LWW title and text)."""
    return [
        op("Document", doc_id, "_deleted", "lww", {"set": False}),
        *edit_ops(doc_id, title=title, text=text),
    ]


def edit_ops(doc_id: str, **changes: Any) -> list[dict[str, Any]]:
    """LWW writes to Document fields."""
    return [op("Document", doc_id, k, "lww", {"set": v}) for k, v in changes.items()]


def proposals_by(replica: Replica, author: str) -> list[ProposalInfo]:
    """Every proposal (any status) signed by ``author``, oldest first."""
    return [p for p in list_proposals(replica) if p.event.author == author]


def inputs_of(replica: Replica, author: str) -> list[str]:
    return [p.event.payload["input"] for p in proposals_by(replica, author)]


def doc_value(replica: Replica, doc_id: str) -> dict[str, Any]:
    return dict(replica.state_at().value("Document", doc_id) or {})
