"""Kernel benchmark: 2 replicas x 50,000 LWW map sets on 10,000 keys, one op per change, then exchange.

The agentcrdt kernel alone (no signing, no storage) side by side with pycrdt (one transaction per op,
``get_update``/``apply_update``) and loro (commit per op, export/import of updates) in one process. Ops
are counted as the 100,000 sets; the time includes the exchange and the merge in both directions. Best
of 3 runs. The last line printed is one JSON object with the figures and ratios.
"""

from __future__ import annotations

import json
import random
import time
from collections.abc import Callable
from typing import Any

from agentcrdt.kernel import MAP, Stamp

REPLICAS = 2
OPS_PER_REPLICA = 50_000
KEYS = 10_000
RUNS = 3
SEED = 20240601
TOTAL_OPS = REPLICAS * OPS_PER_REPLICA


def workload(replica: int) -> list[tuple[str, int]]:
    """Return the (key, value) sets replica ``replica`` makes (deterministic, seeded)."""
    rng = random.Random(SEED + replica)
    keys = [f"key{i}" for i in range(KEYS)]
    return [(keys[rng.randrange(KEYS)], rng.randrange(1_000_000)) for _ in range(OPS_PER_REPLICA)]


def run_agentcrdt(work: list[list[tuple[str, int]]]) -> tuple[float, Any]:
    t0 = time.perf_counter()
    states = []
    for r, sets in enumerate(work):
        author = f"ed25519:{r:064x}"
        state = MAP.empty()
        apply, set_op = MAP.apply, MAP.set_op
        for i, (key, value) in enumerate(sets):
            # one op per change: each set is its own event, with its own stamp
            apply(state, set_op(Stamp(i + 1, author, f"sha256:{r}-{i}", 0), key, value))
        states.append(state)
    a, b = states
    a2, b2 = MAP.merge(a, b), MAP.merge(b, a)
    elapsed = time.perf_counter() - t0
    va, vb = MAP.value(a2), MAP.value(b2)
    assert va == vb, "agentcrdt replicas diverged"
    return elapsed, va


def run_pycrdt(work: list[list[tuple[str, int]]]) -> tuple[float, Any]:
    from pycrdt import Doc, Map

    t0 = time.perf_counter()
    docs, maps = [], []
    for r, sets in enumerate(work):
        doc = Doc(client_id=r + 1)
        m = doc.get("m", type=Map)
        for key, value in sets:
            with doc.transaction():
                m[key] = value
        docs.append(doc)
        maps.append(m)
    a, b = docs
    ua, ub = a.get_update(), b.get_update()
    a.apply_update(ub)
    b.apply_update(ua)
    elapsed = time.perf_counter() - t0
    va, vb = maps[0].to_py(), maps[1].to_py()
    assert va == vb, "pycrdt replicas diverged"
    return elapsed, va


def run_loro(work: list[list[tuple[str, int]]]) -> tuple[float, Any]:
    from loro import ExportMode, LoroDoc

    t0 = time.perf_counter()
    docs = []
    for r, sets in enumerate(work):
        doc = LoroDoc()
        doc.peer_id = r + 1
        m = doc.get_map("m")
        for key, value in sets:
            m.insert(key, value)
            doc.commit()
        docs.append(doc)
    a, b = docs
    ua, ub = a.export(ExportMode.Updates(b.oplog_vv)), b.export(ExportMode.Updates(a.oplog_vv))
    a.import_(ub)
    b.import_(ua)
    elapsed = time.perf_counter() - t0
    va, vb = a.get_map("m").get_deep_value(), b.get_map("m").get_deep_value()
    assert va == vb, "loro replicas diverged"
    return elapsed, va


RUNNERS: dict[str, Callable[[list[list[tuple[str, int]]]], tuple[float, Any]]] = {
    "agentcrdt": run_agentcrdt,
    "pycrdt": run_pycrdt,
    "loro": run_loro,
}


def best_rates(work: list[list[tuple[str, int]]]) -> dict[str, float | None]:
    """Return ops/s per library, best of RUNS; rounds are interleaved so load drift hits all alike."""
    times: dict[str, list[float]] = {name: [] for name in RUNNERS}
    skipped: set[str] = set()
    for _ in range(RUNS):
        for name, fn in RUNNERS.items():
            if name in skipped:
                continue
            try:
                times[name].append(fn(work)[0])
            except ImportError as e:
                print(f"{name:>10}: skipped ({e.name or e} is not importable)")
                skipped.add(name)
    rates: dict[str, float | None] = {}
    for name, ts in times.items():
        rates[name] = TOTAL_OPS / min(ts) if ts else None
        if ts:
            print(
                f"{name:>10}: {TOTAL_OPS / min(ts):>12,.0f} ops/s (best of {RUNS}: {min(ts) * 1000:.0f} ms)"
            )
    return rates


def main() -> None:
    work = [workload(r) for r in range(REPLICAS)]
    print(
        f"kernel: {REPLICAS} replicas x {OPS_PER_REPLICA:,} LWW map sets on {KEYS:,} keys, one op per change"
    )
    rates = best_rates(work)
    ours, pyc, lor = rates["agentcrdt"], rates["pycrdt"], rates["loro"]
    assert ours is not None
    figures = {"agentcrdt_ops_per_s": round(ours), "pycrdt_ops_per_s": pyc and round(pyc)}
    figures["loro_ops_per_s"] = lor and round(lor)
    ratios = {
        "vs_pycrdt": round(ours / pyc, 3) if pyc else None,
        "vs_loro": round(ours / lor, 3) if lor else None,
    }
    print(json.dumps({"benchmark": "kernel", "figures": figures, "ratios": ratios}))


if __name__ == "__main__":
    main()
