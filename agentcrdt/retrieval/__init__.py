"""Retrieval: chunking, embeddings with a persistent cache, a vector index in the room's SQLite file.

Importing this package is cheap: torch and sentence-transformers load when a vector is first computed,
sqlite-vec when an index is first opened. See ``docs/retrieval.md``.
"""

from __future__ import annotations

from agentcrdt.retrieval.cache import CachedEmbedder, CacheStats, EmbeddingCache, normalize, text_hash
from agentcrdt.retrieval.chunking import Chunk, chunk_text
from agentcrdt.retrieval.embedder import (
    Embedder,
    FakeEmbedder,
    SentenceTransformerEmbedder,
    get_embedder,
    register_embedder,
)
from agentcrdt.retrieval.index import Hit, IndexItem, VectorIndex
from agentcrdt.retrieval.indexer import IndexStats, RetrievalIndexer, field_text

__all__ = [
    "CacheStats",
    "CachedEmbedder",
    "Chunk",
    "Embedder",
    "EmbeddingCache",
    "FakeEmbedder",
    "Hit",
    "IndexItem",
    "IndexStats",
    "RetrievalIndexer",
    "SentenceTransformerEmbedder",
    "VectorIndex",
    "chunk_text",
    "field_text",
    "get_embedder",
    "normalize",
    "register_embedder",
    "text_hash",
]
