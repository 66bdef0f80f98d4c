"""agentcrdt: LLM agents and humans as peers of one signed, convergent event log."""

from __future__ import annotations

__version__ = "0.1.0"
