"""The embedding cache: (model id, hash of the normalized text) -> vector, in a SQLite table.

Embedding is the cost of retrieval (MiniLM: ~70 contract passages/s on two cores) and ~9% of contract
passages are exact duplicates, so a text is embedded at most once per model id, ever: within a batch
(duplicates are embedded once) and across runs (the table persists). The model id carries the model's
version, so vectors of different models or checkpoints never mix.

``normalize(text)`` = Unicode NFC, every run of whitespace collapsed to one space, stripped. The
*normalized* text is what gets embedded, so the vector is a function of the key. The cache table can
live in the dataroom's file (pass the index's connection) or in a file of its own; any sqlite3-like
connection works, sqlite-vec is not needed.
"""

from __future__ import annotations

import hashlib
import re
import sqlite3
import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from agentcrdt.errors import UsageError
from agentcrdt.retrieval._sqlite import Connection, transaction
from agentcrdt.retrieval.embedder import Embedder, Vectors

__all__ = ["CacheStats", "EmbeddingCache", "normalize", "text_hash"]

_WS = re.compile(r"\s+")
_LOOKUP_BATCH = 500  # stays under SQLite's bound-parameter limit with room for the model id


def normalize(text: str) -> str:
    """Return NFC text with whitespace runs collapsed to one space and the ends stripped."""
    return _WS.sub(" ", unicodedata.normalize("NFC", text)).strip()


def text_hash(text: str) -> str:
    """Return the hex SHA-256 of ``normalize(text)`` in UTF-8 (the cache key and the chunk hash)."""
    return hashlib.sha256(normalize(text).encode()).hexdigest()


@dataclass
class CacheStats:
    """Counters since the cache was opened: texts found, texts missing, texts actually embedded."""

    hits: int = 0
    misses: int = 0
    embedded: int = 0


class EmbeddingCache:
    """Vectors keyed by ``(model_id, text_hash)``; :meth:`embed` computes only the misses."""

    table = "embedding_cache"

    def __init__(self, db: Connection | str | Path) -> None:
        if isinstance(db, str | Path):
            conn = sqlite3.connect(str(db), isolation_level=None, check_same_thread=False)
            conn.execute("PRAGMA busy_timeout=10000")
            if str(db) != ":memory:":
                conn.execute("PRAGMA journal_mode=WAL")
            self.db: Connection = conn
            self._owned = True
        else:
            self.db, self._owned = db, False
        self.db.execute(
            f"CREATE TABLE IF NOT EXISTS {self.table} (model_id TEXT NOT NULL, text_hash TEXT NOT NULL,"
            " dim INTEGER NOT NULL, vector BLOB NOT NULL, PRIMARY KEY (model_id, text_hash)) WITHOUT ROWID"
        )
        self.stats = CacheStats()

    def get_many(self, model_id: str, hashes: Sequence[str]) -> dict[str, Vectors]:
        """Return the cached vectors among ``hashes`` for ``model_id``."""
        found: dict[str, Vectors] = {}
        unique = list(dict.fromkeys(hashes))
        for i in range(0, len(unique), _LOOKUP_BATCH):
            part = unique[i : i + _LOOKUP_BATCH]
            marks = ",".join("?" * len(part))
            rows = self.db.execute(
                f"SELECT text_hash, vector FROM {self.table} WHERE model_id = ? AND text_hash IN ({marks})",
                (model_id, *part),
            ).fetchall()
            for h, blob in rows:
                found[h] = np.frombuffer(blob, dtype=np.float32)
        return found

    def embed(self, embedder: Embedder, texts: Sequence[str]) -> Vectors:
        """Return one vector per text in input order, embedding only texts never seen for this model."""
        model_id, dim = embedder.model_id, embedder.dim
        normalized = [normalize(t) for t in texts]
        hashes = [hashlib.sha256(t.encode()).hexdigest() for t in normalized]
        found = self.get_many(model_id, hashes)
        missing: dict[str, str] = {}
        for h, t in zip(hashes, normalized, strict=True):
            if h not in found and h not in missing:
                missing[h] = t
        hits = sum(1 for h in hashes if h in found)
        self.stats.hits += hits
        self.stats.misses += len(texts) - hits
        if missing:
            vectors = embedder.embed(list(missing.values()))
            if vectors.shape != (len(missing), dim):
                raise UsageError(
                    f"embedder {model_id} returned shape {vectors.shape}, expected {(len(missing), dim)}"
                )
            vectors = np.ascontiguousarray(vectors, dtype=np.float32)
            rows = [(model_id, h, dim, v.tobytes()) for h, v in zip(missing, vectors, strict=True)]
            sql = f"INSERT OR IGNORE INTO {self.table} VALUES (?, ?, ?, ?)"
            if getattr(self.db, "in_transaction", False):  # the caller's transaction decides
                self.db.executemany(sql, rows)
            else:
                with transaction(self.db):
                    self.db.executemany(sql, rows)
            self.stats.embedded += len(missing)
            found.update(zip(missing, vectors, strict=True))
        out = np.empty((len(texts), dim), dtype=np.float32)
        for row, h in enumerate(hashes):
            out[row] = found[h]
        return out

    def count(self, model_id: str | None = None) -> int:
        """Return how many vectors are cached (for one model id, or all)."""
        if model_id is None:
            return int(self.db.execute(f"SELECT count(*) FROM {self.table}").fetchone()[0])
        sql = f"SELECT count(*) FROM {self.table} WHERE model_id = ?"
        return int(self.db.execute(sql, (model_id,)).fetchone()[0])

    def close(self) -> None:
        """Close the connection if this cache opened it."""
        if self._owned:
            self.db.close()


class CachedEmbedder:
    """An :class:`Embedder` whose ``embed`` goes through an :class:`EmbeddingCache`.

    Hand it to everything that embeds (the retrieval index, the offline model) so a text is embedded
    once per model version, across processes and runs that share the cache file.
    """

    def __init__(self, inner: Embedder, cache: EmbeddingCache) -> None:
        self.inner = inner
        self.cache = cache
        self.model_id = inner.model_id
        self.dim = inner.dim

    def embed(self, texts: Sequence[str]) -> Vectors:
        """Return the vectors of ``texts``, embedding only those the cache lacks."""
        return self.cache.embed(self.inner, texts)
