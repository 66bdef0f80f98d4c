"""Sync between replicas of a scope: a pure protocol (:mod:`.wire` messages, :class:`SyncSession`) and
drivers that carry it (in process here; WebSocket and SSE in the server)."""

from agentcrdt.sync.session import SyncSession, SyncStats
from agentcrdt.sync.wire import Events, Have, Hello, Need, decode, encode

__all__ = ["Events", "Have", "Hello", "Need", "SyncSession", "SyncStats", "decode", "encode"]
