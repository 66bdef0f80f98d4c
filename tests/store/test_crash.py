"""Crash test: SIGKILL a writer at random points; every acknowledged event must survive, intact.

The writer appends to a SQLiteStore one event or a small batch at a time and prints the ids of each
batch after ``append`` returns (the acknowledgement). The parent kills it after a random number of
acknowledgements (sometimes before the first: during start-up and migrations), restarts it many times,
then checks the chain structurally: ids are sha256(raw), positions contiguous, deps stored earlier, heads
equal a full recompute, per-author seqs gap-free, and no batch is partially stored.
"""

from __future__ import annotations

import hashlib
import json
import os
import random
import signal
import subprocess
import sys
import textwrap
import time
from collections import defaultdict
from pathlib import Path

import pytest

from agentcrdt.store import SQLiteStore, StoredEvent
from agentcrdt.store.testing import expected_heads

WRITER = textwrap.dedent(
    """
    import hashlib, json, random, sys
    from agentcrdt.store import SQLiteStore, StoredEvent

    path, scope, seed = sys.argv[1], sys.argv[2], int(sys.argv[3])
    rng = random.Random(seed)
    author = "ed25519:" + hashlib.sha256(str(seed).encode()).hexdigest()
    store = SQLiteStore(path)
    heads, seq, n = sorted(store.heads()), 0, 0
    while True:
        n += 1
        size = rng.choice([1, 1, 1, 2, 3, 8])
        batch = []
        for _ in range(size):
            seq += 1
            local = rng.random() < 0.1
            core = {"batch": f"{seed}-{n}", "size": size, "seq": seq, "deps": heads, "local": local,
                    "pad": "x" * rng.randint(50, 600)}
            raw = json.dumps(core, sort_keys=True).encode()
            event_id = "sha256:" + hashlib.sha256(raw).hexdigest()
            batch.append(StoredEvent(event_id, scope, author, seq, seq, "test", tuple(heads), local, raw))
            if not local:
                heads = [event_id]
        store.append(batch)
        print(" ".join(e.id for e in batch), flush=True)
    """
)


def _genesis() -> StoredEvent:
    raw = json.dumps({"genesis": True, "owner": "crash-test"}).encode()
    return StoredEvent(
        "sha256:" + hashlib.sha256(raw).hexdigest(),
        None,
        "ed25519:" + "0" * 64,
        1,
        1,
        "genesis",
        (),
        False,
        raw,
    )


def _run_and_kill(path: Path, scope: str, seed: int, acks_before_kill: int) -> list[str]:
    proc = subprocess.Popen(
        [sys.executable, "-c", WRITER, str(path), scope, str(seed)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert proc.stdout is not None
    acked: list[str] = []
    for _ in range(acks_before_kill):  # synchronize on the writer's own acknowledgements, not on sleeps
        line = proc.stdout.readline()
        if not line:
            break
        acked.extend(line.split())
    proc.send_signal(signal.SIGKILL)
    out, err = proc.communicate(timeout=30)
    assert proc.returncode == -signal.SIGKILL, f"writer died on its own:\n{err}"
    # Lines completed before the kill are acknowledgements too; a torn last line is not.
    for line in out.split("\n")[:-1]:
        acked.extend(line.split())
    return acked


@pytest.mark.slow
def test_sigkill_never_loses_an_acknowledged_event(tmp_path: Path) -> None:
    seed = int(os.environ.get("AGENTCRDT_CRASH_SEED", time.time_ns() % 1_000_000))
    rng = random.Random(seed)
    path = tmp_path / "crash.db"
    genesis = _genesis()
    acked: set[str] = {genesis.id}
    with SQLiteStore(path) as store:
        store.append([genesis])
    kills, deadline = 0, time.monotonic() + 20
    while kills < 40 and time.monotonic() < deadline:
        acks = 0 if rng.random() < 0.15 else rng.randint(1, 60)
        acked.update(_run_and_kill(path, genesis.id, seed * 1000 + kills, acks))
        kills += 1
    assert kills >= 10, f"only {kills} kills in the time budget (seed {seed})"
    print(f"crash test: {kills} kills")
    _check_store(path, acked, seed)


def _check_store(path: Path, acked: set[str], seed: int) -> None:
    with SQLiteStore(path) as store:
        assert store.connection.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
        rows = store.since(0)
        events = [e for _, e in rows]
        position = {e.id: p for p, e in rows}
        assert [p for p, _ in rows] == list(range(1, len(rows) + 1)), (
            f"positions not contiguous (seed {seed})"
        )
        assert store.count() == len(rows)
        missing = acked - position.keys()
        assert not missing, f"{len(missing)} acknowledged events lost (seed {seed})"
        batches: dict[str, list[int]] = defaultdict(list)
        seqs: dict[str, list[int]] = defaultdict(list)
        for p, e in rows:
            assert "sha256:" + hashlib.sha256(e.raw).hexdigest() == e.id, f"torn event at {p} (seed {seed})"
            assert all(position.get(d, p) < p for d in e.deps), f"dep missing or later at {p} (seed {seed})"
            core = json.loads(e.raw)
            if "batch" in core:
                batches[core["batch"]].append(core["size"])
                seqs[e.author].append(e.seq)
        assert all(len(sizes) == sizes[0] for sizes in batches.values()), f"partial batch (seed {seed})"
        assert all(s == list(range(1, len(s) + 1)) for s in seqs.values()), f"seq gap (seed {seed})"
        assert store.heads() == expected_heads(events), f"heads inconsistent (seed {seed})"
        assert len(rows) > 100, "the writers barely wrote anything; the test proves little"
        print(f"crash test: seed {seed}, {len(rows)} events, {len(acked)} acked, {len(batches)} batches")
