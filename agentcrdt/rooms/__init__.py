"""Working with rooms: open or create one with its default follower, join a second peer, and the
workflow of capabilities and proposals on top of a replica.

* :mod:`~agentcrdt.rooms.local`: ``create_local`` / ``open_local`` (one SQLite file), ``create_memory``,
  ``join_memory`` / ``join_local`` (another peer of the same scope, in this process);
* :mod:`~agentcrdt.rooms.workflow`: ``grant``, ``revoke``, ``propose``, ``review``, proposal listing
  and the three-way view.
"""

from __future__ import annotations

from agentcrdt.rooms.local import create_local, create_memory, join_local, join_memory, open_local
from agentcrdt.rooms.workflow import (
    Evidence,
    Provenance,
    grant,
    list_proposals,
    proposal,
    propose,
    review,
    revoke,
)

__all__ = [
    "Evidence",
    "Provenance",
    "create_local",
    "create_memory",
    "grant",
    "join_local",
    "join_memory",
    "list_proposals",
    "open_local",
    "proposal",
    "propose",
    "review",
    "revoke",
]
