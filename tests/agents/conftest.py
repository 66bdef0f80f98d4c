"""Fixtures for the dataroom agents: a room built from a reduced Falcon sample, agent keys with grants."""

from __future__ import annotations

import shutil
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from agentcrdt.dataroom import Dataroom
from agentcrdt.log.keys import Identity
from agentcrdt.retrieval import FakeEmbedder
from agentcrdt.rooms.workflow import grant
from agentcrdt.runtime import Agent, Worker, load_agent

REPO = Path(__file__).resolve().parents[2]
SAMPLE = REPO / "examples" / "falcon" / "documents"
AGENTS = ("tagger", "extractor", "summarizer", "linker", "contradictions")
#: The NDA and its copy (a duplicate), the MSA, its two amendments and its DPA (C3, C4 contradictions).
REDUCED = (
    "01-mutual-nda.txt",
    "02-mutual-nda-copy.txt",
    "04-msa-meridian.txt",
    "05-msa-amendment-1.txt",
    "06-msa-amendment-2.txt",
    "12-data-processing-agreement.txt",
)


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


def agent(name: str) -> Agent:
    """Load an agent by path, as the CLI does."""
    return load_agent(REPO / "agents" / f"{name}.py")


@pytest.fixture
def owner() -> Identity:
    return Identity.from_name("falcon-owner")


@pytest.fixture
def keys() -> dict[str, Identity]:
    return {n: Identity.from_name(f"agent-{n}") for n in AGENTS}


def build_room(tmp_path: Path, owner: Identity, keys: dict[str, Identity], files: tuple[str, ...]) -> Path:
    """Copy ``files`` of the sample into ``tmp_path``, ingest them, grant each agent key its slot."""
    docs = tmp_path / "docs"
    docs.mkdir()
    for name in files:
        shutil.copy(SAMPLE / name, docs / name)
    path = tmp_path / "room.db"
    with Dataroom.create(path, owner) as room:
        room.add(sorted(docs.iterdir()))
        for name, key in keys.items():
            grant(room.replica, key.author, agent(name).capability)
    return path


@pytest.fixture
def make_room(
    tmp_path: Path, owner: Identity, keys: dict[str, Identity]
) -> Callable[[tuple[str, ...]], Path]:
    """Build a room from some files of the sample (see :func:`build_room`)."""
    return lambda files: build_room(tmp_path, owner, keys, files)


@pytest.fixture
def room_path(make_room: Callable[[tuple[str, ...]], Path]) -> Path:
    return make_room(REDUCED)


@pytest.fixture
def run_agent(keys: dict[str, Identity]) -> Iterator[Callable[..., Any]]:
    """Run one agent's worker once on a room (FakeEmbedder retrieval) and return its progress."""
    made: list[Worker] = []

    async def _run(path: Path, name: str, model: Any) -> Any:
        w = Worker(path, agent(name), model, identity=keys[name], embedder=FakeEmbedder(), poll_interval=0.01)
        made.append(w)
        try:
            return await w.run_once()
        finally:
            w.close()

    yield _run
    for w in made:
        w.close()
