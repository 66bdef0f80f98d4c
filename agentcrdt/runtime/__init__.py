"""The agent runtime: agents defined in Python, reflection prompts, and workers that run them.

See ``docs/runtime.md``. An agent file under ``agents/`` subclasses :class:`Agent`; a :class:`Worker`
follows a room, renders the agent's prompt for each new input, asks a model for a validated output and
appends the agent's proposals, signed, under its capability slot.
"""

from __future__ import annotations

from agentcrdt.runtime.agent import (
    Agent,
    ProposalDraft,
    TextKey,
    WorkItem,
    check_evidence,
    content_hash,
    find_evidence,
    load_agent,
    load_sibling,
)
from agentcrdt.runtime.context import Retrieval, open_retrieval
from agentcrdt.runtime.models import build_model
from agentcrdt.runtime.progress import Progress, ProgressPrinter
from agentcrdt.runtime.prompts import PromptTemplate, default_prompt_dirs, load_prompt
from agentcrdt.runtime.slots import proposed_inputs, slot_problem
from agentcrdt.runtime.worker import ProgressCallback, Worker

__all__ = [
    "Agent",
    "Progress",
    "ProgressCallback",
    "ProgressPrinter",
    "PromptTemplate",
    "ProposalDraft",
    "Retrieval",
    "TextKey",
    "WorkItem",
    "Worker",
    "build_model",
    "check_evidence",
    "content_hash",
    "default_prompt_dirs",
    "find_evidence",
    "load_agent",
    "load_prompt",
    "load_sibling",
    "open_retrieval",
    "proposed_inputs",
    "slot_problem",
]
