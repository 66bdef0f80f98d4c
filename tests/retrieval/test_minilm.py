"""The real bundled all-MiniLM-L6-v2: loads offline, embeds, ranks sensibly, caches, stable id.

Marked ``slow`` (importing torch and loading the model takes several seconds) but part of the default
suite.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from agentcrdt.retrieval import EmbeddingCache, IndexItem, SentenceTransformerEmbedder, VectorIndex

pytestmark = pytest.mark.slow

CLAUSES = {
    "law": "This Agreement shall be governed by and construed in accordance with the laws of the State of"
    " New York, without regard to its conflict of laws principles.",
    "pay": "Customer shall pay all invoices within thirty (30) days of receipt by wire transfer.",
    "conf": "Each party shall keep the other party's Confidential Information in strict confidence.",
    "term": "Either party may terminate this Agreement upon ninety days' prior written notice.",
}


@pytest.fixture(scope="module")
def minilm() -> Iterator[SentenceTransformerEmbedder]:
    yield SentenceTransformerEmbedder()


def test_loads_offline_and_embeds(minilm: SentenceTransformerEmbedder) -> None:
    v = minilm.embed(list(CLAUSES.values()))
    assert os.environ.get("HF_HUB_OFFLINE") == "1"
    assert v.shape == (4, 384) and v.dtype == np.float32 and minilm.dim == 384
    assert np.allclose(np.linalg.norm(v, axis=1), 1.0, atol=1e-5)


def test_governing_law_query_ranks_the_governing_law_clause_first(
    minilm: SentenceTransformerEmbedder, tmp_path: Path
) -> None:
    index = VectorIndex(tmp_path / "room.db", minilm)
    items = [IndexItem(k, "Clause", k, "text", 0, 0, len(t), t) for k, t in CLAUSES.items()]
    index.upsert(items)
    hits = index.search("Which jurisdiction's governing law applies?", k=4)
    assert hits[0].chunk_id == "law"
    assert hits[0].score > hits[1].score + 0.1
    assert index.search("when is payment due", k=1)[0].chunk_id == "pay"


def test_cache_hits_on_the_second_call(minilm: SentenceTransformerEmbedder, tmp_path: Path) -> None:
    cache = EmbeddingCache(tmp_path / "cache.db")
    first = cache.embed(minilm, list(CLAUSES.values()))
    second = cache.embed(minilm, list(CLAUSES.values()))
    assert np.array_equal(first, second)
    assert (cache.stats.hits, cache.stats.embedded) == (4, 4)


def test_model_id_is_stable_across_loads(minilm: SentenceTransformerEmbedder) -> None:
    again = SentenceTransformerEmbedder()
    assert again.model_id == minilm.model_id
    assert minilm.model_id.startswith("sentence-transformers:all-MiniLM-L6-v2@")
    path_based = SentenceTransformerEmbedder(minilm.model_path)
    assert path_based.model_id.split("@")[1] == minilm.model_id.split("@")[1]
