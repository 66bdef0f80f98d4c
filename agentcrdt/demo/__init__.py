"""The demos, as library code the CLI only calls: ``agentcrdt demo`` runs :func:`run`.

* :mod:`agentcrdt.demo.falcon`: the main job on its embedded defaults (a dataroom from the bundled
  Project Falcon sample, the five agents, the offline model, a report and a score);
* :mod:`agentcrdt.demo.kernel`: two peers edit offline, sync and converge.
"""

from __future__ import annotations

__all__ = ["run"]


def run(directory: str | None, *, model: str | None = None, kernel: bool = False) -> int:
    """Run a demo; return the process exit status (0 when it ran and the audit chain verifies)."""
    if kernel:
        from agentcrdt.demo.kernel import run as run_kernel

        return run_kernel(directory)
    from agentcrdt.demo.falcon import run as run_falcon

    return run_falcon(directory, model=model)
