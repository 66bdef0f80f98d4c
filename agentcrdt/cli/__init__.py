"""Command-line interface (thin: parse arguments, call the library, print)."""

from __future__ import annotations


def main(argv: list[str] | None = None) -> int:
    from agentcrdt.cli._main import run

    return run(argv)
