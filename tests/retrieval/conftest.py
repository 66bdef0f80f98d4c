"""Fixtures for the retrieval tests: a fake embedder, a room file, the CUAD contracts if present."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from agentcrdt.retrieval import EmbeddingCache, FakeEmbedder

CUAD = Path(__file__).resolve().parents[3] / "shared" / "datasets" / "cuad" / "contracts"


@pytest.fixture
def fake() -> FakeEmbedder:
    return FakeEmbedder(dim=64)


@pytest.fixture
def room(tmp_path: Path) -> Path:
    return tmp_path / "room.db"


@pytest.fixture
def cache(room: Path) -> Iterator[EmbeddingCache]:
    c = EmbeddingCache(room)
    yield c
    c.close()


@pytest.fixture
def cuad_texts() -> Callable[[int], list[str]]:
    """Return a loader of the first ``n`` CUAD contracts (by name); skip the test if they are absent."""
    if not CUAD.is_dir():
        pytest.skip(f"CUAD contracts not found at {CUAD} (the shared dataset is not mounted here)")

    def load(n: int) -> list[str]:
        files = sorted(CUAD.glob("*.txt"))[:n]
        return [f.read_text(encoding="utf-8", errors="replace") for f in files]

    return load
