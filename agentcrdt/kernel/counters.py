"""G-Counter and PN-Counter: per-author totals.

Ops are applied exactly once (the log dedups events), so applying an increment adds it to its author's
total. Merge takes the pointwise max, which is the join because an author's ops reach every replica in
the author's own order (per-author seq chain): of two replicas' totals for one author, the larger one
includes every op the smaller one has.
"""

from __future__ import annotations

from typing import NamedTuple

from agentcrdt.errors import UsageError
from agentcrdt.kernel.base import CRDTType, op_dict
from agentcrdt.kernel.clock import JSON, Stamp

__all__ = ["GCOUNTER", "PNCOUNTER", "GCounter", "Inc", "PNCounter", "PNState"]

_INC = (frozenset({"inc"}),)


class Inc(NamedTuple):
    """Add ``amount`` to the counter on behalf of ``stamp.author``. JSON: ``{"inc": amount}``."""

    stamp: Stamp
    amount: int


def _totals_from_json(j: JSON, what: str, positive: bool) -> dict[str, int]:
    if not isinstance(j, dict) or not all(
        isinstance(k, str) and type(v) is int and (v > 0 or (not positive and v >= 0)) for k, v in j.items()
    ):
        raise UsageError(f"{what} state is an object {{author: int >= 0}}, got {j!r}")
    return dict(j)


def _max_into(out: dict[str, int], other: dict[str, int]) -> None:
    for k, v in other.items():
        if v > out.get(k, 0):
            out[k] = v


class GCounter(CRDTType[dict[str, int], Inc, int]):
    """Grow-only counter; state ``{author: total}``."""

    name = "gcounter"

    def empty(self) -> dict[str, int]:
        return {}

    def apply(self, state: dict[str, int], op: Inc) -> dict[str, int]:
        a = op.stamp.author
        state[a] = state.get(a, 0) + op.amount
        return state

    def merge(self, a: dict[str, int], b: dict[str, int]) -> dict[str, int]:
        out = dict(a)
        _max_into(out, b)
        return out

    def value(self, state: dict[str, int]) -> int:
        return sum(state.values())

    def copy(self, state: dict[str, int]) -> dict[str, int]:
        return dict(state)

    def inc(self, amount: int = 1) -> JSON:
        """Return the wire op that adds ``amount``."""
        return self.checked({"inc": amount})

    def encode_op(self, op: Inc) -> JSON:
        return {"inc": op.amount}

    def decode_op(self, j: JSON, stamp: Stamp) -> Inc:
        n = op_dict(j, self.name, _INC)["inc"]
        if type(n) is not int or n <= 0:
            raise UsageError(f"a 'gcounter' increment is an int > 0, got {n!r}; use 'pncounter' to decrement")
        return Inc(stamp, n)

    def encode_state(self, state: dict[str, int]) -> JSON:
        return dict(sorted(state.items()))

    def decode_state(self, j: JSON) -> dict[str, int]:
        return _totals_from_json(j, self.name, positive=True)


class PNState(NamedTuple):
    """Per-author totals of increments (``p``) and of decrements as positive numbers (``n``)."""

    p: dict[str, int]
    n: dict[str, int]


class PNCounter(CRDTType[PNState, Inc, int]):
    """Counter that goes both ways: two G-Counters, value ``sum(p) - sum(n)``."""

    name = "pncounter"

    def empty(self) -> PNState:
        return PNState({}, {})

    def apply(self, state: PNState, op: Inc) -> PNState:
        a, n = op.stamp.author, op.amount
        if n > 0:
            state.p[a] = state.p.get(a, 0) + n
        else:
            state.n[a] = state.n.get(a, 0) - n
        return state

    def merge(self, a: PNState, b: PNState) -> PNState:
        out = self.copy(a)
        _max_into(out.p, b.p)
        _max_into(out.n, b.n)
        return out

    def value(self, state: PNState) -> int:
        return sum(state.p.values()) - sum(state.n.values())

    def copy(self, state: PNState) -> PNState:
        return PNState(dict(state.p), dict(state.n))

    def inc(self, amount: int = 1) -> JSON:
        """Return the wire op that adds ``amount``."""
        return self.checked({"inc": amount})

    def encode_op(self, op: Inc) -> JSON:
        return {"inc": op.amount}

    def decode_op(self, j: JSON, stamp: Stamp) -> Inc:
        n = op_dict(j, self.name, _INC)["inc"]
        if type(n) is not int or n == 0:
            raise UsageError(f"a 'pncounter' increment is a non-zero int, got {n!r}")
        return Inc(stamp, n)

    def encode_state(self, state: PNState) -> JSON:
        return {"p": dict(sorted(state.p.items())), "n": dict(sorted(state.n.items()))}

    def decode_state(self, j: JSON) -> PNState:
        if not isinstance(j, dict) or set(j) != {"p", "n"}:
            raise UsageError(f"a 'pncounter' state is {{'p': {{...}}, 'n': {{...}}}}, got {j!r}")
        return PNState(
            _totals_from_json(j["p"], self.name, positive=True), _totals_from_json(j["n"], self.name, True)
        )


GCOUNTER = GCounter()
PNCOUNTER = PNCounter()
