"""A vector index of text chunks in the dataroom's SQLite file: sqlite-vec, or numpy without it.

Tables (``table`` defaults to ``chunks``):

* ``chunks``: one row per chunk (``chunk_id`` unique, entity type/id, field, content hash, chunk index,
  exact ``start``/``end`` offsets, text, extra JSON) **and its vector** as a float32 blob. The blob is the
  source of truth: the numpy backend reads it, and the sqlite-vec table is rebuilt from it without
  re-embedding (after a numpy-only writer, or on demand).
* ``chunks_vec``: a ``vec0`` virtual table (rowid = the chunk row's rowid, ``distance_metric=cosine``)
  whose metadata columns ``etype``, ``eid``, ``field`` are filtered *inside* the KNN (sqlite-vec >=
  0.1.6), so a filter that excludes most rows still returns the true top ``k`` of what it keeps, with
  no over-fetching.
* ``chunks_meta``: the model id and dimension the vectors were made with. Opening the index with an
  embedder of another model id raises :class:`UsageError`, or with ``on_model_change="rebuild"``
  re-embeds every stored chunk (through the cache, if one is given).

The connection is separate from the event store's and the projections' (stdlib sqlite3) connections;
all use WAL and a busy timeout, so they share the file. See :mod:`agentcrdt.retrieval._sqlite` for how
the sqlite3 module is chosen.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from dataclasses import field as _field
from pathlib import Path
from typing import Any, Literal

import numpy as np

from agentcrdt.errors import UsageError
from agentcrdt.retrieval._sqlite import Connection, Driver, connect, driver, transaction
from agentcrdt.retrieval.cache import EmbeddingCache, text_hash
from agentcrdt.retrieval.embedder import Embedder, Vectors

__all__ = ["Hit", "IndexItem", "VectorIndex"]

log = logging.getLogger("agentcrdt.retrieval")

FILTER_KEYS = ("etype", "eid", "field")
Backend = Literal["auto", "sqlite-vec", "numpy"]
Where = Mapping[str, str | Sequence[str]]


@dataclass(frozen=True)
class IndexItem:
    """A chunk to index: where it comes from, its exact span and text, and free-form ``extra``."""

    chunk_id: str
    etype: str
    eid: str
    field: str
    index: int
    start: int
    end: int
    text: str
    chash: str = ""  # content hash; "" means text_hash(text)
    extra: Mapping[str, Any] = _field(default_factory=dict)

    @property
    def content_hash(self) -> str:
        """Return ``chash`` or the hash of the normalized text."""
        return self.chash or text_hash(self.text)


@dataclass(frozen=True)
class Hit:
    """A search result: ``score`` is the cosine similarity (1 = same direction)."""

    chunk_id: str
    score: float
    text: str
    start: int
    end: int
    metadata: dict[str, Any]


def _ident(name: str) -> str:
    if not name.isidentifier():
        raise UsageError(f"table name {name!r} must be a plain identifier")
    return name


def _clause(where: Where | None, prefix: str = "") -> tuple[str, list[str]]:
    """Return ``AND col = ? AND col IN (...)`` for the filter, with its parameters."""
    sql, params = "", []
    for key, value in (where or {}).items():
        if key not in FILTER_KEYS:
            raise UsageError(f"cannot filter on {key!r}; filter keys are {', '.join(FILTER_KEYS)}")
        values = [value] if isinstance(value, str) else list(value)
        if not values:
            return " AND 0", []
        sql += f" AND {prefix}{key} IN ({','.join('?' * len(values))})"
        params.extend(values)
    return sql, params


class VectorIndex:
    """KNN over chunk vectors with metadata filters; ``backend`` "auto" prefers sqlite-vec."""

    def __init__(
        self,
        path: str | Path,
        embedder: Embedder,
        *,
        table: str = "chunks",
        backend: Backend = "auto",
        on_model_change: Literal["error", "rebuild"] = "error",
        cache: EmbeddingCache | None = None,
    ) -> None:
        drv: Driver = driver()
        if backend == "numpy":
            drv = Driver(drv.name, drv.module, False)
        elif backend == "sqlite-vec" and not drv.vec:
            raise UsageError("sqlite-vec cannot be loaded here; pip install 'agentcrdt[embeddings]'")
        self.path = str(path)
        self.db: Connection = connect(path, drv)
        self.backend: str = "sqlite-vec" if drv.vec else "numpy"
        log.info("retrieval index %s:%s uses the %s backend (%s)", path, table, self.backend, drv.name)
        self.embedder = embedder
        self.cache = cache
        self.table = _ident(table)
        self._matrix: tuple[int, np.ndarray[Any, Any], Vectors, dict[str, np.ndarray[Any, Any]]] | None = None
        self._setup(on_model_change)

    # -- schema -------------------------------------------------------------------------------------

    def _setup(self, on_model_change: str) -> None:
        t = self.table
        with transaction(self.db):
            self.db.execute(
                f"CREATE TABLE IF NOT EXISTS {t} (rowid INTEGER PRIMARY KEY, chunk_id TEXT NOT NULL UNIQUE,"
                " etype TEXT NOT NULL, eid TEXT NOT NULL, field TEXT NOT NULL, chash TEXT NOT NULL,"
                ' idx INTEGER NOT NULL, start INTEGER NOT NULL, "end" INTEGER NOT NULL, text TEXT NOT NULL,'
                " extra TEXT NOT NULL, vector BLOB NOT NULL)"
            )
            self.db.execute(f"CREATE INDEX IF NOT EXISTS {t}_entity ON {t} (etype, eid, field)")
            self.db.execute(
                f"CREATE TABLE IF NOT EXISTS {t}_meta (key TEXT PRIMARY KEY, value TEXT NOT NULL)"
                " WITHOUT ROWID"
            )
            meta = dict(self.db.execute(f"SELECT key, value FROM {t}_meta").fetchall())
            model_id, dim = self.embedder.model_id, self.embedder.dim
            changed = "model_id" in meta and (meta["model_id"], int(meta["dim"])) != (model_id, dim)
            if changed and on_model_change != "rebuild":
                raise UsageError(
                    f"index {t!r} in {self.path} holds vectors of {meta['model_id']} (dim {meta['dim']}),"
                    f" not {model_id} (dim {dim}); open it with on_model_change='rebuild' to re-embed,"
                    " or use another table name"
                )
            if not changed:
                self._sync(force_vec=False, vec_synced=meta.get("vec_synced"))
        if changed:
            self._reembed_all()

    def _sync(self, *, force_vec: bool, vec_synced: str | None) -> None:
        """Record the model id and dim; (re)build the vec0 table if needed. Runs inside a transaction."""
        t, dim = self.table, self.embedder.dim
        self._set_meta("model_id", self.embedder.model_id)
        self._set_meta("dim", str(dim))
        has_vec = self._has_vec_table()
        if self.backend == "numpy":
            if has_vec:  # cannot maintain it without the extension: mark it for a rebuild
                self._set_meta("vec_synced", "0")
            return
        if force_vec or vec_synced == "0" or not has_vec:
            self.db.execute(f"DROP TABLE IF EXISTS {t}_vec")
            self.db.execute(
                f"CREATE VIRTUAL TABLE {t}_vec USING vec0(embedding float[{dim}] distance_metric=cosine,"
                " etype text, eid text, field text)"
            )
            self._copy_vectors_to_vec()
            self._set_meta("vec_synced", "1")

    def _has_vec_table(self) -> bool:
        sql = "SELECT 1 FROM sqlite_master WHERE name = ?"
        return self.db.execute(sql, (f"{self.table}_vec",)).fetchone() is not None

    def _set_meta(self, key: str, value: str) -> None:
        self.db.execute(f"INSERT OR REPLACE INTO {self.table}_meta VALUES (?, ?)", (key, value))

    def _copy_vectors_to_vec(self) -> None:
        t = self.table
        self.db.execute(
            f"INSERT INTO {t}_vec (rowid, embedding, etype, eid, field)"
            f" SELECT rowid, vector, etype, eid, field FROM {t}"
        )

    def _reembed_all(self) -> None:
        # Embed first (slow, no lock held); the new model id is recorded only with the new vectors.
        rows = self.db.execute(f"SELECT rowid, text FROM {self.table} ORDER BY rowid").fetchall()
        vectors = self._embed([r[1] for r in rows])
        with transaction(self.db):
            for (rowid, _), v in zip(rows, vectors, strict=True):
                self.db.execute(f"UPDATE {self.table} SET vector = ? WHERE rowid = ?", (v.tobytes(), rowid))
            self._sync(force_vec=True, vec_synced=None)
        log.info("retrieval index %s: re-embedded %d chunks with %s", self.table, len(rows), self.model_id)

    @property
    def model_id(self) -> str:
        """Return the model id of the stored vectors."""
        return self.embedder.model_id

    def _embed(self, texts: Sequence[str]) -> Vectors:
        if self.cache is not None:
            return self.cache.embed(self.embedder, texts)
        return self.embedder.embed(texts)

    # -- writing ------------------------------------------------------------------------------------

    @contextmanager
    def transaction(self) -> Iterator[Connection]:
        """Group writes (and the caller's own rows, e.g. a cursor) in one transaction."""
        if getattr(self.db, "in_transaction", False):
            yield self.db
            return
        with transaction(self.db) as conn:
            yield conn

    def spans(self, etype: str, eid: str, field_name: str) -> dict[str, tuple[str, int, int]]:
        """Return ``{chunk_id: (content hash, start, end)}`` of the chunks stored for one entity field."""
        sql = (
            f'SELECT chunk_id, chash, start, "end" FROM {self.table}'
            " WHERE etype = ? AND eid = ? AND field = ?"
        )
        return {r[0]: (r[1], r[2], r[3]) for r in self.db.execute(sql, (etype, eid, field_name)).fetchall()}

    def upsert(self, items: Sequence[IndexItem], vectors: Sequence[Vectors | None] | None = None) -> int:
        """Insert or update chunks; return how many got a new vector.

        ``vectors`` gives one row per item; a ``None`` row keeps the stored vector, which must exist
        for an item of the same content hash. Without ``vectors``, the items whose content hash changed
        are embedded (through the cache if the index has one) before the transaction starts.
        """
        if vectors is None:
            known = self._stored_hashes([it.chunk_id for it in items])
            todo = [i for i, it in enumerate(items) if known.get(it.chunk_id) != it.content_hash]
            fresh = self._embed([items[i].text for i in todo]) if todo else None
            rows: list[Vectors | None] = [None] * len(items)
            for j, i in enumerate(todo):
                assert fresh is not None
                rows[i] = fresh[j]
            vectors = rows
        if len(vectors) != len(items):
            raise UsageError(f"upsert got {len(items)} items but {len(vectors)} vectors")
        written = 0
        with self.transaction():
            known = self._stored_hashes([it.chunk_id for it in items], with_rowid=True)
            for it, vec in zip(items, vectors, strict=True):
                written += self._write(it, vec, known.get(it.chunk_id))
        self._matrix = None
        return written

    def _stored_hashes(self, chunk_ids: Sequence[str], *, with_rowid: bool = False) -> dict[str, Any]:
        found: dict[str, Any] = {}
        for i in range(0, len(chunk_ids), 500):
            part = chunk_ids[i : i + 500]
            marks = ",".join("?" * len(part))
            sql = f"SELECT chunk_id, chash, rowid FROM {self.table} WHERE chunk_id IN ({marks})"
            for cid, chash, rowid in self.db.execute(sql, tuple(part)).fetchall():
                found[cid] = (chash, rowid) if with_rowid else chash
        return found

    def _write(self, it: IndexItem, vec: Vectors | None, stored: tuple[str, int] | None) -> int:
        t, chash = self.table, it.content_hash
        cols = (it.etype, it.eid, it.field, chash, it.index, it.start, it.end, it.text, json.dumps(it.extra))
        if vec is None:
            if stored is None or stored[0] != chash:
                raise UsageError(f"chunk {it.chunk_id!r} has new content but no vector was given")
            self.db.execute(
                f'UPDATE {t} SET etype=?, eid=?, field=?, chash=?, idx=?, start=?, "end"=?, text=?, extra=?'
                " WHERE rowid = ?",
                (*cols, stored[1]),
            )
            return 0
        blob = np.ascontiguousarray(vec, dtype=np.float32).tobytes()
        if len(blob) != 4 * self.embedder.dim:
            raise UsageError(
                f"vector for {it.chunk_id!r} has {len(blob) // 4} dims, expected {self.embedder.dim}"
            )
        if stored is not None:
            rowid = stored[1]
            self.db.execute(
                f'UPDATE {t} SET etype=?, eid=?, field=?, chash=?, idx=?, start=?, "end"=?, text=?, extra=?,'
                " vector=? WHERE rowid = ?",
                (*cols, blob, rowid),
            )
        else:
            cur = self.db.execute(
                f'INSERT INTO {t} (chunk_id, etype, eid, field, chash, idx, start, "end", text, extra,'
                " vector) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (it.chunk_id, *cols, blob),
            )
            rowid = int(cur.lastrowid)
        if self.backend == "sqlite-vec":
            # vec0 rejects INSERT OR REPLACE: delete, then insert.
            self.db.execute(f"DELETE FROM {t}_vec WHERE rowid = ?", (rowid,))
            self.db.execute(
                f"INSERT INTO {t}_vec (rowid, embedding, etype, eid, field) VALUES (?, ?, ?, ?, ?)",
                (rowid, blob, it.etype, it.eid, it.field),
            )
        return 1

    def delete(self, where: Where | None = None, *, chunk_ids: Sequence[str] = ()) -> int:
        """Delete the chunks matching ``where`` (etype/eid/field) or named in ``chunk_ids``; count them."""
        if where is None and not chunk_ids:
            raise UsageError("delete needs a filter or chunk ids; to empty the index use delete(where={})")
        with self.transaction():
            rowids: list[int] = []
            if where is not None:
                clause, params = _clause(where)
                rowids += [
                    r[0] for r in self.db.execute(f"SELECT rowid FROM {self.table} WHERE 1{clause}", params)
                ]
            for i in range(0, len(chunk_ids), 500):
                part = tuple(chunk_ids[i : i + 500])
                sql = f"SELECT rowid FROM {self.table} WHERE chunk_id IN ({','.join('?' * len(part))})"
                rowids += [r[0] for r in self.db.execute(sql, part)]
            rowids = sorted(set(rowids))
            for rowid in rowids:
                self.db.execute(f"DELETE FROM {self.table} WHERE rowid = ?", (rowid,))
                if self.backend == "sqlite-vec":
                    self.db.execute(f"DELETE FROM {self.table}_vec WHERE rowid = ?", (rowid,))
        self._matrix = None
        return len(rowids)

    # -- reading ------------------------------------------------------------------------------------

    def __len__(self) -> int:
        return int(self.db.execute(f"SELECT count(*) FROM {self.table}").fetchone()[0])

    def search(self, query: str | Vectors, k: int = 10, *, where: Where | None = None) -> list[Hit]:
        """Return the ``k`` chunks nearest to ``query`` (text or vector) among those matching ``where``."""
        if k <= 0:
            return []
        q = self.embedder.embed([query])[0] if isinstance(query, str) else np.asarray(query, np.float32)
        q = np.ascontiguousarray(q.reshape(-1), dtype=np.float32)
        if q.shape[0] != self.embedder.dim:
            raise UsageError(f"query vector has {q.shape[0]} dims, the index holds {self.embedder.dim}")
        scored = self._knn_vec(q, k, where) if self.backend == "sqlite-vec" else self._knn_numpy(q, k, where)
        return self._hits(scored)

    def _knn_vec(self, q: Vectors, k: int, where: Where | None) -> list[tuple[int, float]]:
        clause, params = _clause(where)
        rows = self.db.execute(
            f"SELECT rowid, distance FROM {self.table}_vec WHERE embedding MATCH ? AND k = ?{clause}"
            " ORDER BY distance",
            (q.tobytes(), k, *params),
        ).fetchall()
        return [(int(r), 1.0 - float(d)) for r, d in rows]

    def _load_matrix(self) -> tuple[np.ndarray[Any, Any], Vectors, dict[str, np.ndarray[Any, Any]]]:
        version = int(self.db.execute("PRAGMA data_version").fetchone()[0])
        if self._matrix is None or self._matrix[0] != version:
            rows = self.db.execute(f"SELECT rowid, etype, eid, field, vector FROM {self.table}").fetchall()
            dim = self.embedder.dim
            ids = np.array([r[0] for r in rows], dtype=np.int64)
            matrix = np.frombuffer(b"".join(r[4] for r in rows), dtype=np.float32).reshape(len(rows), dim)
            cols = {
                key: np.array([r[i + 1] for r in rows], dtype=object) for i, key in enumerate(FILTER_KEYS)
            }
            self._matrix = (version, ids, matrix, cols)
        return self._matrix[1], self._matrix[2], self._matrix[3]

    def _knn_numpy(self, q: Vectors, k: int, where: Where | None) -> list[tuple[int, float]]:
        _clause(where)  # validate keys
        ids, matrix, cols = self._load_matrix()
        scores = matrix @ q
        mask = np.ones(len(ids), dtype=bool)
        for key, value in (where or {}).items():
            mask &= np.isin(cols[key], [value] if isinstance(value, str) else list(value))
        candidates = np.flatnonzero(mask)
        if len(candidates) > k:
            part = np.argpartition(-scores[candidates], k - 1)[:k]
            candidates = candidates[part]
        order = candidates[np.argsort(-scores[candidates], kind="stable")]
        return [(int(ids[i]), float(scores[i])) for i in order]

    def _hits(self, scored: list[tuple[int, float]]) -> list[Hit]:
        if not scored:
            return []
        marks = ",".join("?" * len(scored))
        rows = self.db.execute(
            f'SELECT rowid, chunk_id, etype, eid, field, chash, idx, start, "end", text, extra'
            f" FROM {self.table} WHERE rowid IN ({marks})",
            [r for r, _ in scored],
        ).fetchall()
        by_id = {r[0]: r for r in rows}
        hits = []
        for rowid, score in scored:
            r = by_id.get(rowid)
            if r is None:  # a row deleted between the KNN and this read
                continue
            meta = {
                "etype": r[2],
                "eid": r[3],
                "field": r[4],
                "chash": r[5],
                "index": r[6],
                **json.loads(r[10]),
            }
            hits.append(Hit(r[1], score, r[9], r[7], r[8], meta))
        return hits

    def close(self) -> None:
        """Close the index's connection."""
        self.db.close()
