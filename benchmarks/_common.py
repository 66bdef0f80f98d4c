"""Helpers shared by the benchmarks: quick mode, timing, peak memory and the final JSON line.

Every benchmark prints human-readable lines and, as its LAST line, one JSON object
``{"benchmark": NAME, "figures": {...}, "ratios": {...}}`` with each ratio oriented so that higher is
better for agentcrdt. ``--quick`` (or ``AGENTCRDT_BENCH_QUICK=1``) shrinks every size so the smoke test
can run all scripts in seconds; quick figures are meaningless as measurements.
"""

from __future__ import annotations

import json
import os
import resource
import sys
import time
from collections.abc import Callable
from typing import Any

QUICK_ENV = "AGENTCRDT_BENCH_QUICK"


def quick(argv: list[str] | None = None) -> bool:
    """Tell whether to run with tiny sizes (``--quick`` flag or the environment variable)."""
    args = sys.argv[1:] if argv is None else argv
    return "--quick" in args or os.environ.get(QUICK_ENV, "") not in ("", "0")


def best_of(runs: int, fn: Callable[[], Any]) -> float:
    """Run ``fn`` ``runs`` times; return the fastest wall time in seconds (the least disturbed run)."""
    best = float("inf")
    for _ in range(runs):
        t0 = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - t0)
    return best


def peak_rss_mb() -> float:
    """Return this process's peak resident set size in MiB.

    On Linux ``ru_maxrss`` of a child started by subprocess inherits the parent's RSS at fork/exec time
    (a parent holding 300 MiB makes every child report >= 300 MiB), so read the address space's own
    high-water mark, ``VmHWM``, instead; fall back to ``ru_maxrss`` elsewhere.
    """
    try:
        with open("/proc/self/status") as f:
            for row in f:
                if row.startswith("VmHWM:"):
                    return int(row.split()[1]) / 1024
    except OSError:
        pass
    kib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return kib / 1024 if sys.platform != "darwin" else kib / (1024 * 1024)


def load_line() -> str:
    """Describe the machine load, so a noisy figure can be judged (the machine is shared)."""
    one, five, fifteen = os.getloadavg()
    return f"load average {one:.2f} {five:.2f} {fifteen:.2f} on {os.cpu_count()} CPUs"


def line(label: str, value: float, unit: str) -> None:
    """Print one human-readable figure."""
    print(f"  {label:<44} {value:>14,.1f} {unit}")


def emit(benchmark: str, figures: dict[str, float], ratios: dict[str, float]) -> None:
    """Print the final JSON line (must be the last thing the script prints)."""
    rounded = {k: round(v, 3) for k, v in figures.items()}
    print(
        json.dumps(
            {
                "benchmark": benchmark,
                "figures": rounded,
                "ratios": {k: round(v, 3) for k, v in ratios.items()},
            }
        )
    )
