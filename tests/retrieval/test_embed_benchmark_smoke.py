"""Smoke test: ``benchmarks/embed.py --quick`` runs and ends with its JSON summary line."""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys
from pathlib import Path

import pytest

BENCH = Path(__file__).resolve().parents[2] / "benchmarks" / "embed.py"


@pytest.mark.slow
def test_embed_benchmark_quick(tmp_path: Path) -> None:
    env = {**os.environ, "AGENTCRDT_BENCH_QUICK": "1", "TMPDIR": str(tmp_path)}
    proc = subprocess.run(
        [sys.executable, str(BENCH), "--quick"], capture_output=True, text=True, env=env, timeout=300
    )
    assert proc.returncode == 0, proc.stderr
    last = json.loads(proc.stdout.strip().splitlines()[-1])
    assert last["benchmark"] == "embed"
    assert set(last["figures"]) >= {
        "raw_chunks_per_s",
        "cached_first_chunks_per_s",
        "rerun_chunks_per_s",
        "duplicate_fraction",
    }
    assert set(last["ratios"]) == {"cache_vs_raw_encode", "rerun_speedup"}
    for value in [*last["figures"].values(), *last["ratios"].values()]:
        assert math.isfinite(value) and value >= 0
