"""The agents benchmark runs at a tiny size and ends with its JSON line; models are built for the worker."""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys
from pathlib import Path

import pytest

from agentcrdt.errors import UsageError
from agentcrdt.retrieval import FakeEmbedder
from agentcrdt.runtime import build_model

BENCH = Path(__file__).resolve().parents[2] / "benchmarks" / "agents.py"


def test_agents_benchmark_smoke(tmp_path: Path) -> None:
    env = {**os.environ, "AGENTCRDT_BENCH_QUICK": "1", "TMPDIR": str(tmp_path)}
    proc = subprocess.run(
        [sys.executable, str(BENCH), "--quick"],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr
    lines = proc.stdout.strip().splitlines()
    summary = json.loads(lines[-1])
    assert summary["benchmark"] == "agents" and len(lines) > 1
    assert set(summary["figures"]) == {
        "proposals_per_s",
        "overhead_ms_per_proposal",
        "throughput_c1_per_s",
        "throughput_c8_per_s",
        "throughput_c32_per_s",
    }
    assert set(summary["ratios"]) == {"concurrency32_vs_ideal", "overhead_target_ratio"}
    for value in [*summary["figures"].values(), *summary["ratios"].values()]:
        assert isinstance(value, int | float) and math.isfinite(value) and value > 0


def test_build_model_injects_the_embedder_into_the_offline_model() -> None:
    pytest.importorskip("agentcrdt.llm.offline")
    model = build_model("offline", FakeEmbedder())
    assert model.model_id.startswith("offline:rules+")
    assert build_model("offline").model_id.startswith("offline:")
    assert build_model("test").model_id == "test"
    with pytest.raises(UsageError, match="unknown model"):
        build_model("nosuch:model")
