"""The worker's checkpoint: a cursor valid for one prompt, kept in the store's tracking rung."""

from __future__ import annotations

from pathlib import Path

import pytest

from agentcrdt.runtime._checkpoint import Checkpoint
from agentcrdt.store.base import TrackingRecorder
from agentcrdt.store.memory import MemoryStore
from agentcrdt.store.sqlite import SQLiteStore


@pytest.fixture(params=["memory", "sqlite"])
def tracking(request: pytest.FixtureRequest, tmp_path: Path) -> TrackingRecorder:
    return MemoryStore() if request.param == "memory" else SQLiteStore(tmp_path / "room.db")


def test_a_cursor_resumes_under_its_prompt_and_restarts_under_a_new_one(tracking: TrackingRecorder) -> None:
    old = Checkpoint(tracking, "worker:tagger:me", "sha256:old")
    assert old.load() == 0
    old.save(40)
    assert Checkpoint(tracking, "worker:tagger:me", "sha256:old").load() == 40
    assert Checkpoint(tracking, "worker:other:me", "sha256:old").load() == 0  # cursors are by name
    new = Checkpoint(tracking, "worker:tagger:me", "sha256:new")
    assert new.load() == 0
    # Stopped before its first round under the new prompt: it must not resume at the old prompt's 40.
    assert Checkpoint(tracking, "worker:tagger:me", "sha256:new").load() == 0
    new.save(7)
    assert Checkpoint(tracking, "worker:tagger:me", "sha256:new").load() == 7
