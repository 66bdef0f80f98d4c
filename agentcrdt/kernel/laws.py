"""Property checks of the CRDT laws for any type, built-in or user-defined (λ-CRDTs).

Hypothesis is a test-time dependency: it is imported inside :func:`check_laws`, never by the kernel.

Example, a user-defined max-register::

    from hypothesis import strategies as st
    from agentcrdt.kernel import LatticeCRDT, Stamp, check_laws, register_type

    class MaxRegister(LatticeCRDT[int, tuple[Stamp, int], int]):
        name = "max"

        def empty(self) -> int:
            return 0

        def join(self, a: int, b: int) -> int:
            return max(a, b)

        def apply(self, state: int, op: tuple[Stamp, int]) -> int:
            return max(state, op[1])  # inflationary

        def encode_op(self, op):
            return {"max": op[1]}

        def decode_op(self, j, stamp):
            return (stamp, j["max"])

        def encode_state(self, state):
            return state

        def decode_state(self, j):
            return j

    check_laws(MaxRegister(), st.integers(0, 100).map(lambda n: {"max": n}))
    register_type(MaxRegister())
"""

from __future__ import annotations

from typing import Any

from agentcrdt.kernel.base import CRDTType, canonical
from agentcrdt.kernel.clock import JSON, Stamp

__all__ = ["LAWS", "check_laws"]

#: The laws checked, in order; an AssertionError names the one that failed.
LAWS = (
    "codec round trip",
    "merge commutative",
    "merge associative",
    "merge idempotent",
    "empty is the identity of merge",
    "merge leaves its inputs untouched",
    "apply is inflationary",
    "concurrent ops commute",
    "merge of replicas equals applying the union of their ops",
)

_History = list[tuple[Stamp, Any]]


def _history(t: CRDTType[Any, Any, Any], raw: list[tuple[str, JSON]]) -> _History:
    # One stamp per op, unique across every state of an example; Lamport grows along the history so
    # it grows along each author's chain, as the log guarantees.
    out: _History = []
    for i, (author, j) in enumerate(raw):
        stamp = Stamp(i + 1, author, f"e{i}", 0)
        out.append((stamp, t.decode_op(j, stamp)))
    return out


def _run(t: CRDTType[Any, Any, Any], ops: list[Any]) -> Any:
    s = t.empty()
    for op in ops:
        s = t.apply(s, op)
    return s


def check_laws(
    crdt_type: CRDTType[Any, Any, Any],
    ops_strategy: Any,
    *,
    states_strategy: Any = None,
    max_examples: int = 100,
    authors: tuple[str, ...] = ("a", "b", "c"),
    max_ops: int = 8,
) -> None:
    """Property-check the CRDT laws of ``crdt_type``; raise AssertionError naming the broken law.

    ``ops_strategy`` draws op JSON (as ``encode_op`` makes it); each drawn op gets a unique stamp
    ``Stamp(i + 1, author, f"e{i}", 0)`` for its position ``i`` in a history, so strategies may refer to
    earlier ops by tag ``["e3", 0]``. States are built by applying subsets of one history, or drawn from
    ``states_strategy`` for the merge laws when given. States are compared by ``value`` and by the
    canonical JSON of ``encode_state``.
    """
    from hypothesis import HealthCheck, given, settings
    from hypothesis import strategies as st

    t = crdt_type
    name = getattr(t, "name", type(t).__name__)
    cfg = settings(
        max_examples=max_examples,
        deadline=None,
        database=None,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large, HealthCheck.filter_too_much],
    )
    raw_ops = st.lists(st.tuples(st.sampled_from(authors), ops_strategy), max_size=max_ops)

    def enc(s: Any) -> str:
        return canonical(t.encode_state(s))

    def same(law: str, x: Any, y: Any, **ctx: Any) -> None:
        ex, ey = enc(x), enc(y)
        vx, vy = t.value(x), t.value(y)
        if ex != ey or vx != vy:
            detail = "; ".join(f"{k}={v!r}" for k, v in ctx.items())
            raise AssertionError(
                f"law {law!r} failed for CRDT type {name!r}: {vx!r} != {vy!r} (states {ex} != {ey}); {detail}"
            )

    def subset(data: Any, hist: _History) -> list[Any]:
        mask = data.draw(st.lists(st.booleans(), min_size=len(hist), max_size=len(hist)))
        return [op for (_, op), keep in zip(hist, mask, strict=True) if keep]

    def states(data: Any, hist: _History, n: int) -> list[Any]:
        if states_strategy is not None:
            return [data.draw(states_strategy) for _ in range(n)]
        return [_run(t, subset(data, hist)) for _ in range(n)]

    @cfg
    @given(raw_ops, st.data())
    def codec(raw: list[tuple[str, JSON]], data: Any) -> None:
        hist = _history(t, raw)
        for stamp, op in hist:
            j = t.encode_op(op)
            again = t.encode_op(t.decode_op(j, stamp))
            if canonical(j) != canonical(again):
                raise AssertionError(f"law 'codec round trip' failed for {name!r}: op {j} -> {again}")
        (s,) = states(data, hist, 1)
        same("codec round trip", t.decode_state(t.encode_state(s)), s)

    @cfg
    @given(raw_ops, st.data())
    def merge_laws(raw: list[tuple[str, JSON]], data: Any) -> None:
        a, b, c = states(data, _history(t, raw), 3)
        before = [enc(a), enc(b), enc(c)]
        same("merge commutative", t.merge(a, b), t.merge(b, a), a=enc(a), b=enc(b))
        same(
            "merge associative",
            t.merge(t.merge(a, b), c),
            t.merge(a, t.merge(b, c)),
            a=enc(a),
            b=enc(b),
            c=enc(c),
        )
        same("merge idempotent", t.merge(a, a), a, a=enc(a))
        same("empty is the identity of merge", t.merge(a, t.empty()), a, a=enc(a))
        if [enc(a), enc(b), enc(c)] != before:
            raise AssertionError(f"law 'merge leaves its inputs untouched' failed for {name!r}: {before}")

    @cfg
    @given(raw_ops, st.data())
    def op_laws(raw: list[tuple[str, JSON]], data: Any) -> None:
        hist = _history(t, raw)
        if len(hist) < 2:
            return
        s = _run(t, subset(data, hist))
        i = data.draw(st.integers(0, len(hist) - 1))
        j = data.draw(st.integers(0, len(hist) - 1).filter(lambda k: k != i))
        x, y = hist[i][1], hist[j][1]
        sx = t.apply(t.copy(s), x)
        same("apply is inflationary", t.merge(s, sx), sx, state=enc(s), op=t.encode_op(x))
        xy = t.apply(t.apply(t.copy(s), x), y)
        yx = t.apply(t.apply(t.copy(s), y), x)
        same("concurrent ops commute", xy, yx, state=enc(s), op_x=t.encode_op(x), op_y=t.encode_op(y))

    @cfg
    @given(raw_ops, st.data())
    def union(raw: list[tuple[str, JSON]], data: Any) -> None:
        # Each replica holds, per author, a prefix of that author's ops: what the log's per-author chain
        # delivers. Disjoint sets are the special case where each author reached only one replica.
        hist = _history(t, raw)
        cut_x = {a: data.draw(st.integers(0, max_ops)) for a in authors}
        cut_y = {a: data.draw(st.integers(0, max_ops)) for a in authors}
        seen: dict[str, int] = {}
        xs, ys, both = [], [], []
        for stamp, op in hist:
            k = seen[stamp.author] = seen.get(stamp.author, 0) + 1
            if k <= cut_x[stamp.author]:
                xs.append(op)
            if k <= cut_y[stamp.author]:
                ys.append(op)
            if k <= max(cut_x[stamp.author], cut_y[stamp.author]):
                both.append(op)
        same(
            "merge of replicas equals applying the union of their ops",
            t.merge(_run(t, xs), _run(t, ys)),
            _run(t, both),
            x_ops=[t.encode_op(o) for o in xs],
            y_ops=[t.encode_op(o) for o in ys],
        )

    for check in (codec, merge_laws, op_laws, union):
        check()
