"""Rabbithole: exploration jobs that send an agent recursively through a dataroom.

A job starts from a question or a document; at each node (a document) the explorer reflects on what is
there, what it connects to and what conflicts with what the job has seen, proposes what it found
(links, named entities, findings quoted on every side) for review like any proposal, and adds the
documents it was led to to the frontier. The job's own state (frontier, claims, spending) is CRDT state
in the room's log (:mod:`.state`), so a job resumes after a crash and several workers share it
(:mod:`.job`).
"""

from __future__ import annotations

from agentcrdt.rabbithole.job import (
    Explorer,
    JobRunner,
    NodeResult,
    RunSummary,
    create_job,
    read_job,
    request_stop,
    seen_facts,
)
from agentcrdt.rabbithole.state import ENTITIES, STOP_REASONS, JobView, RabbitholeJob, RabbitholeNode

__all__ = [
    "ENTITIES",
    "STOP_REASONS",
    "Explorer",
    "JobRunner",
    "JobView",
    "NodeResult",
    "RabbitholeJob",
    "RabbitholeNode",
    "RunSummary",
    "create_job",
    "read_job",
    "request_stop",
    "seen_facts",
]
