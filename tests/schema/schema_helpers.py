"""Test helpers for the schema tests: apply ops payloads to an EntityState with made-up stamps."""

from __future__ import annotations

from typing import Any

from agentcrdt.kernel import Stamp, get_type
from agentcrdt.log.codec import canonical
from agentcrdt.ops.state import EntityState, check_ops_payload


class Writer:
    """A fake peer: stamps each batch of ops like the replica does for one event of its own."""

    def __init__(self, author: str) -> None:
        self.author = "ed25519:" + author.encode().hex().ljust(64, "0")[:64]
        self.events = 0

    def apply(self, state: EntityState, ops: list[dict[str, Any]], lamport: int) -> EntityState:
        """Apply one event's ops at ``lamport``; checks the payload passes the signed codec first."""
        if not ops:
            return state
        check_ops_payload({"ops": ops})
        canonical({"ops": ops})  # raises on floats / big ints: the ops must be signable
        self.events += 1
        event = f"sha256:{self.author[8:40]}{self.events:032x}"
        for index, o in enumerate(ops):
            stamp = Stamp(lamport, self.author, event, index)
            state.apply(o["f"], o["t"], get_type(o["t"]).decode_op(o["op"], stamp), stamp, lamport * 1000)
        return state


def copy_state(state: EntityState) -> EntityState:
    """Return an independent copy (through the persistence codec, which is also under test here)."""
    return EntityState.decode(state.encode())
