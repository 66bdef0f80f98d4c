"""Retrieved context for agents: a small facade over the room's vector index and its indexer.

The worker keeps the index current by calling :meth:`RetrievalIndexer.catch_up` before each round
(embedding is slow, so it is not a replica follower). Agents with the same ``retrieval_sources`` share
one index table, named after a digest of the sources, so a text is chunked and stored once per room.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from agentcrdt.log.keys import digest
from agentcrdt.replica import Replica
from agentcrdt.retrieval import Embedder, EmbeddingCache, Hit, IndexStats, RetrievalIndexer, VectorIndex
from agentcrdt.retrieval.index import Where

__all__ = ["Retrieval", "index_path", "open_retrieval"]


class Retrieval:
    """Search what an agent may cite: chunks of the indexed text fields, with exact spans."""

    def __init__(self, index: VectorIndex, indexer: RetrievalIndexer) -> None:
        self.index = index
        self.indexer = indexer

    def search(
        self, query: str, k: int = 5, *, where: Where | None = None, exclude: Sequence[str] = ()
    ) -> list[Hit]:
        """Return the ``k`` chunks most similar to ``query``, skipping chunks of entities ``exclude``."""
        if not exclude:
            return self.index.search(query, k, where=where)
        hits = self.index.search(query, k + 8 * len(exclude), where=where)
        return [h for h in hits if h.metadata.get("eid") not in exclude][:k]

    def catch_up(self, replica: Replica) -> IndexStats:
        """Index what the log added since the last call; return what that did."""
        self.indexer.totals = IndexStats()
        replica.feed(self.indexer)
        return self.indexer.totals

    def close(self) -> None:
        """Close the index's connection."""
        self.index.close()


def index_path(room: str | Path) -> Path:
    """Return where the vectors of the room at ``room`` live: the room's own file."""
    return Path(room)


def open_retrieval(path: str | Path, embedder: Embedder, sources: Sequence[tuple[str, str]]) -> Retrieval:
    """Open (or create) the index of ``sources`` in the room file at ``path``.

    The index's connection comes from the same SQLite library as the room's store and projections
    (:mod:`agentcrdt.store.driver`), which is what makes sharing the file safe: two library copies in
    one process must never open the same file (their POSIX lock bookkeeping undoes each other's).
    """
    key = sorted({(e, f) for e, f in sources})
    tag = digest(repr(key).encode())[7:19]
    index = VectorIndex(index_path(path), embedder, table=f"chunks_{tag}")
    cache = EmbeddingCache(index.db)
    indexer = RetrievalIndexer(index, cache, key, name=f"retrieval_{tag}")
    return Retrieval(index, indexer)
