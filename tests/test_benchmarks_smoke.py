"""Smoke test: every benchmark runs at a tiny size and ends with its JSON summary line, so none can rot.

Only the shape is checked (tiny runs measure nothing): the last stdout line is one JSON object naming
the benchmark, with the expected figures and ratios, all finite positive numbers.
"""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys
from pathlib import Path

import pytest

BENCHMARKS = Path(__file__).resolve().parent.parent / "benchmarks"

EXPECTED = {
    "log": (
        {
            "sign_per_s",
            "verify_per_s",
            "append_batched_per_s",
            "append_projected_per_s",
            "append_single_per_s",
            "ingest_per_s",
            "ingest_projected_per_s",
            "event_bytes",
        },
        {"append_vs_sign", "ingest_vs_verify", "append_projected_vs_sign", "ingest_projected_vs_verify"},
    ),
    "open": (
        {
            "events",
            "db_mb",
            "first_query_ms",
            "raw_first_query_ms",
            "peak_rss_mb",
            "raw_peak_rss_mb",
            "import_ms",
        },
        {"vs_raw_sqlite"},
    ),
    "server": (
        {
            "events",
            "subscribers",
            "ingest_per_s",
            "deliveries_per_s",
            "latency_p50_ms",
            "latency_p99_ms",
            "echo_round_trips_per_s",
            "echo_p50_ms",
            "echo_p99_ms",
            "peak_rss_mb",
        },
        {"deliveries_vs_echo", "echo_p99_vs_p99"},
    ),
    "sync": (
        {
            "events",
            "missing_bytes",
            "protocol_bytes",
            "protocol_rounds",
            "protocol_s",
            "raw_s",
            "protocol_events_per_s",
            "peak_rss_mb",
        },
        {"minimum_vs_protocol_bytes", "raw_vs_protocol_time", "whole_logs_vs_protocol_bytes"},
    ),
    "ui": (
        {
            "documents",
            "proposals",
            "events",
            "db_mb",
            "build_s",
            "open_ms",
            "first_paint_ms",
            "launch_paint_ms",
            "ready_ms",
            "first_paint_ready_ms",
            "raw_first_paint_ms",
            "raw_page_ms",
            "raw_deep_page_ms",
            "raw_documents_page_ms",
            "peak_rss_mb",
            *(
                f"{n}_{w}_ms"
                for n in (
                    "overview",
                    "pending_page",
                    "deep_page",
                    "agent_filter",
                    "documents_page",
                    "documents_search",
                    "document",
                    "proposal",
                    "audit_page",
                    "audit_flagged",
                )
                for w in ("cold", "warm")
            ),
        },
        {
            "first_paint_vs_budget",
            "first_paint_ready_vs_budget",
            "launch_paint_vs_budget",
            "slowest_warm_vs_budget",
            "first_paint_vs_raw_sqlite",
            "page_vs_raw_sqlite",
            "deep_page_vs_raw_sqlite",
            "documents_page_vs_raw_sqlite",
        },
    ),
}


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_benchmark_prints_its_json_summary_last(name: str, tmp_path: Path) -> None:
    env = {**os.environ, "AGENTCRDT_BENCH_QUICK": "1", "TMPDIR": str(tmp_path)}
    proc = subprocess.run(
        [sys.executable, str(BENCHMARKS / f"{name}.py"), "--quick"],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr
    lines = proc.stdout.strip().splitlines()
    assert len(lines) > 1, "a benchmark prints human-readable lines before its JSON summary"
    summary = json.loads(lines[-1])
    figures, ratios = EXPECTED[name]
    assert summary.keys() == {"benchmark", "figures", "ratios"}
    assert summary["benchmark"] == name
    assert set(summary["figures"]) == figures
    assert set(summary["ratios"]) == ratios
    for value in [*summary["figures"].values(), *summary["ratios"].values()]:
        assert isinstance(value, int | float) and math.isfinite(value) and value > 0, summary
