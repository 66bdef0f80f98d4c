"""Incremental indexing of entity text fields from the log: only new or changed chunks are embedded.

:class:`RetrievalIndexer` is fed :class:`~agentcrdt.replica.Applied` batches like any follower
(``replica.feed(indexer)``: valid events with their effects), folds the ops that touch its source
fields into per-entity states,
re-chunks each touched field and compares content hashes with the stored chunks: unchanged chunks keep
their vectors, changed ones get vectors through the :class:`EmbeddingCache` (so a text seen before, in
any entity, is never embedded again) and removed ones are deleted.

Why its own entity states rather than the ``entities`` projection: the projection may be behind or ahead
of this indexer's cursor (it is another follower, possibly on another connection), it may not exist (a
MemoryStore replica), and reading it would tie retrieval to ``materialize``. So the indexer keeps the
states of its source fields only (plus the soft-delete flag) in ``_retrieval_entities``, in the same file
and the same transaction as its cursor and its index rows: a crash leaves the old cursor with the old
rows and states, or the new ones, never a mix. The price is a second copy of the indexed fields' CRDT
state.

It is deliberately **not** in ``replica.followers``: those are fed inside ``commit``/``ingest``, and
embedding a batch takes seconds. The worker feeds it when it chooses (``replica.feed(indexer)``).
Embedding happens *before* the write transaction opens, so the write lock on the room's file is held
only for the row writes, never while the model runs. When verdicts change retroactively (a revocation),
``replica.feed(indexer, reset=True)`` indexes the log again; with the cache it re-embeds nothing that
was embedded before. One indexer owns one index table.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

import orjson

from agentcrdt.errors import StoreError
from agentcrdt.materialize.follower import add_epoch_column
from agentcrdt.ops.state import DELETED, EntityKey, EntityState
from agentcrdt.retrieval.cache import EmbeddingCache
from agentcrdt.retrieval.chunking import DEFAULT_MAX_CHARS, DEFAULT_MIN_CHARS, DEFAULT_OVERLAP, chunk_text
from agentcrdt.retrieval.embedder import Vectors
from agentcrdt.retrieval.index import IndexItem, VectorIndex

if TYPE_CHECKING:
    from agentcrdt.replica import Applied

__all__ = ["IndexStats", "RetrievalIndexer", "field_text"]

Source = tuple[str, str]  # (entity type, field)
_TYPE_PREFERENCE = ("rga", "lww")


@dataclass
class IndexStats:
    """What indexing one or more batches did."""

    events: int = 0
    entities: int = 0
    chunks_embedded: int = 0  # texts the model actually embedded
    chunks_reused: int = 0  # chunks that kept their vector or found it in the cache
    chunks_deleted: int = 0

    def add(self, other: IndexStats) -> None:
        """Accumulate ``other`` into this one."""
        for name in self.__dataclass_fields__:
            setattr(self, name, getattr(self, name) + getattr(other, name))


def field_text(state: EntityState, field_name: str) -> str | None:
    """Return a field's text: an RGA of characters joined, or an LWW string; None if not text."""
    types = sorted((t for f, t in state.fields if f == field_name), key=_type_rank)
    for t in types:
        value = state.field_value(field_name, t)
        if isinstance(value, str):
            return value
        if isinstance(value, list) and all(isinstance(x, str) for x in value):
            return "".join(value)
    return None


def _type_rank(t: str) -> tuple[int, str]:
    return (_TYPE_PREFERENCE.index(t) if t in _TYPE_PREFERENCE else len(_TYPE_PREFERENCE), t)


class _CursorMoved(Exception):
    """Another indexer on the same table advanced the cursor while this one was embedding."""


class RetrievalIndexer:
    """Keep a :class:`VectorIndex` in step with the text fields ``sources`` of a replica's entities."""

    def __init__(
        self,
        index: VectorIndex,
        cache: EmbeddingCache,
        sources: Sequence[Source],
        *,
        name: str = "retrieval",
        max_chars: int = DEFAULT_MAX_CHARS,
        overlap: int = DEFAULT_OVERLAP,
        min_chars: int = DEFAULT_MIN_CHARS,
        batch: int = 500,
    ) -> None:
        self.index, self.cache, self.name, self.batch = index, cache, name, batch
        self.sources: dict[str, tuple[str, ...]] = {}
        for etype, field_name in sources:
            self.sources[etype] = (*self.sources.get(etype, ()), field_name)
        self.chunking = {"max_chars": max_chars, "overlap": overlap, "min_chars": min_chars}
        self.db = index.db
        #: What every batch applied so far did, added up (``Retrieval.catch_up`` reports the difference).
        self.totals = IndexStats()
        self._setup()

    def _config(self) -> str:
        sources = {k: sorted(v) for k, v in sorted(self.sources.items())}
        return json.dumps({"sources": sources, "chunking": self.chunking, "table": self.index.table})

    def _setup(self) -> None:
        with self.index.transaction():
            self.db.execute(
                "CREATE TABLE IF NOT EXISTS _retrieval_cursors (name TEXT PRIMARY KEY,"
                " cursor INTEGER NOT NULL, config TEXT NOT NULL, epoch INTEGER NOT NULL DEFAULT 0)"
            )
            add_epoch_column(self.db, "_retrieval_cursors")
            self.db.execute(
                "CREATE TABLE IF NOT EXISTS _retrieval_entities (name TEXT NOT NULL, etype TEXT NOT NULL,"
                " eid TEXT NOT NULL, state TEXT NOT NULL, PRIMARY KEY (name, etype, eid)) WITHOUT ROWID"
            )
            row = self.db.execute(
                "SELECT config FROM _retrieval_cursors WHERE name = ?", (self.name,)
            ).fetchone()
            if row is None or row[0] != self._config():
                # New sources or chunking: derive everything again (the cache makes that cheap).
                self._reset()

    def _reset(self, epoch: int = 0) -> None:
        self.db.execute("DELETE FROM _retrieval_entities WHERE name = ?", (self.name,))
        self.db.execute(
            "INSERT OR REPLACE INTO _retrieval_cursors (name, cursor, config, epoch) VALUES (?, 0, ?, ?)",
            (self.name, self._config(), epoch),
        )
        self.index.delete(where={})

    @property
    def cursor(self) -> int:
        """Return the store position of the last indexed event."""
        row = self.db.execute("SELECT cursor FROM _retrieval_cursors WHERE name = ?", (self.name,)).fetchone()
        return int(row[0]) if row else 0

    def position(self) -> int:
        """Return the store position through which the index holds the log (see Follower)."""
        return self.cursor

    def epoch(self) -> int:
        """Return the verdict epoch the index was derived under (see Follower)."""
        row = self.db.execute("SELECT epoch FROM _retrieval_cursors WHERE name = ?", (self.name,)).fetchone()
        return int(row[0]) if row else 0

    def apply(self, batch: Applied) -> IndexStats:
        """Index one :class:`~agentcrdt.replica.Applied` batch; return what was embedded, reused and
        deleted (also added to :attr:`totals`). A batch that no longer continues the cursor (another
        indexer on this table moved it) is ignored: the replica feeds it again from the new cursor."""
        if batch.reset:
            with self.index.transaction():
                self._reset(batch.epoch)
        try:
            stats = self._process(batch)
        except _CursorMoved:
            return IndexStats()
        self.totals.add(stats)
        return stats

    def _load(self, key: EntityKey) -> EntityState | None:
        row = self.db.execute(
            "SELECT state FROM _retrieval_entities WHERE name = ? AND etype = ? AND eid = ?",
            (self.name, *key),
        ).fetchone()
        return None if row is None else EntityState.decode(orjson.loads(row[0]))

    def _process(self, batch: Applied) -> IndexStats:
        stats = IndexStats()
        cursor = batch.start
        if self.cursor != cursor:
            raise _CursorMoved
        states: dict[EntityKey, EntityState] = {}
        for applied in batch.events:
            # Effects, not the event's own ops: a proposal accepted by a review changes text too.
            stats.events += 1
            for key, f, t, kop, stamp in applied.effects:
                fields = self.sources.get(key[0])
                if fields is None or (f not in fields and f != DELETED):
                    continue
                st = states.get(key)
                if st is None:
                    st = states[key] = self._load(key) or EntityState()
                st.apply(f, t, kop, stamp, applied.event.time)
        stats.entities = len(states)
        items: list[IndexItem] = []
        keep: list[bool] = []  # True: the stored vector stays
        removed: list[str] = []
        for (etype, eid), st in sorted(states.items()):
            for field_name in self.sources[etype]:
                text = None if st.deleted else field_text(st, field_name)
                stored = self.index.spans(etype, eid, field_name)
                current = set()
                for c in chunk_text(text or "", **self.chunking):
                    chunk_id = f"{etype}/{eid}/{field_name}/{c.index}"
                    current.add(chunk_id)
                    item = IndexItem(chunk_id, etype, eid, field_name, c.index, c.start, c.end, c.text)
                    old = stored.get(chunk_id)
                    if old == (item.content_hash, c.start, c.end):
                        stats.chunks_reused += 1  # unchanged: no write at all
                        continue
                    items.append(item)
                    keep.append(old is not None and old[0] == item.content_hash)
                removed += [cid for cid in stored if cid not in current]
        # Embed before the write transaction: the model may run for seconds, the lock must not.
        todo = [it.text for it, k in zip(items, keep, strict=True) if not k]
        before = self.cache.stats.embedded
        fresh = iter(self.cache.embed(self.index.embedder, todo)) if todo else iter(())
        stats.chunks_embedded = self.cache.stats.embedded - before
        stats.chunks_reused += len(items) - stats.chunks_embedded
        vectors: list[Vectors | None] = [None if k else next(fresh) for k in keep]
        with self.index.transaction():
            if self.cursor != cursor:
                raise _CursorMoved
            self.index.upsert(items, vectors)
            if removed:
                stats.chunks_deleted = self.index.delete(chunk_ids=removed)
            self.db.executemany(
                "INSERT OR REPLACE INTO _retrieval_entities VALUES (?, ?, ?, ?)",
                [(self.name, *key, orjson.dumps(st.encode()).decode()) for key, st in states.items()],
            )
            cur = self.db.execute(
                "UPDATE _retrieval_cursors SET cursor = ?, epoch = ? WHERE name = ?",
                (batch.end, batch.epoch, self.name),
            )
            if cur.rowcount != 1:
                raise StoreError(f"retrieval indexer {self.name!r} lost its cursor row")
        return stats
