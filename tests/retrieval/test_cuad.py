"""Real contract text (CUAD, read in place, never copied): chunking and caching at realistic scale."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from agentcrdt.retrieval import EmbeddingCache, FakeEmbedder, chunk_text, text_hash


def test_contracts_chunk_exactly_and_duplicates_are_embedded_once(
    tmp_path: Path, cuad_texts: Callable[[int], list[str]]
) -> None:
    texts = cuad_texts(25)
    chunks = [c for t in texts for c in chunk_text(t)]
    for t in texts:
        for c in chunk_text(t):
            assert t[c.start : c.end] == c.text and len(c.text) <= 1000
    unique = {text_hash(c.text) for c in chunks}
    assert len(unique) < len(chunks)  # contracts repeat boilerplate
    fake = FakeEmbedder(64)
    cache = EmbeddingCache(tmp_path / "cache.db")
    cache.embed(fake, [c.text for c in chunks])
    assert fake.embedded == len(unique)
    cache.embed(fake, [c.text for c in chunks])
    assert fake.embedded == len(unique) and cache.stats.hits == len(chunks)
