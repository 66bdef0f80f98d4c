"""Fixtures for the runtime tests: a SQLite room with documents, agent keys with grants, fake models."""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

sys.path.insert(0, str(Path(__file__).parent))

from runtime_helpers import DOCS, agent, doc_ops

from agentcrdt.log.keys import Identity
from agentcrdt.replica import Replica
from agentcrdt.retrieval import FakeEmbedder
from agentcrdt.rooms.local import create_local, open_local
from agentcrdt.rooms.workflow import grant
from agentcrdt.runtime import Worker


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture
def owner() -> Identity:
    return Identity.from_name("owner")


@pytest.fixture
def tagger_key() -> Identity:
    return Identity.from_name("tagger-agent")


@pytest.fixture
def summarizer_key() -> Identity:
    return Identity.from_name("summarizer-agent")


@pytest.fixture
def room_path(tmp_path: Path, owner: Identity, tagger_key: Identity, summarizer_key: Identity) -> Path:
    """A room with three documents; the tagger and summarizer keys hold their slots."""
    path = tmp_path / "room.db"
    room = create_local(path, owner, "deal room")
    for doc_id, (title, text) in DOCS.items():
        room.commit("ops", {"ops": doc_ops(doc_id, title, text)})
    grant(room, tagger_key.author, agent("Tagger").capability)
    grant(room, summarizer_key.author, agent("Summarizer").capability)
    room.store.close()
    return path


@pytest.fixture
def open_room(room_path: Path) -> Iterator[Callable[..., Replica]]:
    """Open the room (as another process would: its own connections)."""
    opened: list[Replica] = []

    def _open(identity: Identity | None = None) -> Replica:
        r = open_local(room_path, identity=identity)
        opened.append(r)
        return r

    yield _open
    for r in opened:
        r.store.close()


@pytest.fixture
def make_worker(room_path: Path) -> Iterator[Callable[..., Worker]]:
    """Build a worker on the room for one of the test agents (FakeEmbedder retrieval, fast polling)."""
    made: list[Worker] = []

    def _make(agent_name: str, model: Any, identity: Identity, **kwargs: Any) -> Worker:
        kwargs.setdefault("embedder", FakeEmbedder())
        kwargs.setdefault("poll_interval", 0.01)
        w = Worker(room_path, agent(agent_name), model, identity=identity, **kwargs)
        made.append(w)
        return w

    yield _make
    for w in made:
        w.close()
