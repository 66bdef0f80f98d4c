"""A response cache for replay and cost control: the exact request in, the validated response out.

Key (format ``agentcrdt.llm.cache/v1``): ``sha256:`` + SHA-256 of the canonical JSON
(:func:`agentcrdt.log.codec.canonical`) of the model id, its pinned version (if the model knows one before
calling), the messages, the output schema and its name, and the settings that change the output
(temperature, max_tokens, seed; floats as strings). Timeouts and retry knobs are not part of the key.

Only validated responses are stored; errors and invalid outputs never are. Modes:

* ``read_write`` (default): serve hits, call the model on a miss and store the result.
* ``replay``: serve hits; a miss raises :class:`ModelError` (runs are reproducible offline).
* ``record``: always call the model and overwrite the stored response.

A hit returns the usage recorded with the original call (so a replayed run reproduces the same provenance)
with ``cached=True`` and ``attempts=0``: nothing was spent this time.
"""

from __future__ import annotations

import hashlib
import sqlite3
import threading
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from types import TracebackType
from typing import Any, Literal, TypeVar

from pydantic import BaseModel, ValidationError

from agentcrdt.errors import ModelError, UsageError
from agentcrdt.llm.base import (
    Completion,
    Message,
    Model,
    ModelResponse,
    ModelSettings,
    Usage,
    output_schema,
    schema_name_for,
    validate_output,
)
from agentcrdt.log.codec import MAX_INT, canonical

__all__ = ["CacheEntry", "CacheMode", "CacheStats", "CachedModel", "ResponseCache", "cache_key"]

T = TypeVar("T", bound=BaseModel)
CacheMode = Literal["read_write", "replay", "record"]
KEY_FORMAT = "agentcrdt.llm.cache/v1"
_MODES: tuple[CacheMode, ...] = ("read_write", "replay", "record")


def _json_safe(value: Any) -> Any:
    # The canonical codec rejects floats and big ints (schemas can hold both, e.g. minimum: 0.5).
    if isinstance(value, bool) or value is None or isinstance(value, str):
        return value
    if isinstance(value, float):
        return {"$float": repr(value)}
    if isinstance(value, int):
        return value if -MAX_INT <= value <= MAX_INT else {"$int": str(value)}
    if isinstance(value, dict):
        return {str(k): _json_safe(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_json_safe(v) for v in value]
    return {"$repr": repr(value)}


def cache_key(
    model_id: str,
    pinned_version: str | None,
    messages: Sequence[Message],
    schema: dict[str, Any],
    schema_name: str,
    settings: ModelSettings,
) -> str:
    """Return the cache key of one request (see the module docstring for the format)."""
    core = {
        "format": KEY_FORMAT,
        "model_id": model_id,
        "model_version": pinned_version,
        "messages": [{"role": m.role, "content": m.content} for m in messages],
        "schema": _json_safe(schema),
        "schema_name": schema_name,
        "settings": settings.output_affecting(),
    }
    return "sha256:" + hashlib.sha256(canonical(core, max_depth=256)).hexdigest()


@dataclass(frozen=True)
class CacheEntry:
    """A stored validated response."""

    raw_text: str
    model_version: str
    usage: Usage


@dataclass
class CacheStats:
    hits: int = 0
    misses: int = 0
    writes: int = 0


_SCHEMA = """
CREATE TABLE IF NOT EXISTS llm_responses (
    key TEXT PRIMARY KEY,
    model_id TEXT NOT NULL,
    raw_text TEXT NOT NULL,
    model_version TEXT NOT NULL,
    input_tokens INTEGER NOT NULL,
    output_tokens INTEGER NOT NULL,
    cost_usd TEXT,
    created_at REAL NOT NULL
)
"""


class ResponseCache:
    """Validated model responses in a SQLite file (WAL), keyed by :func:`cache_key`."""

    def __init__(self, path: str | Path = ":memory:", *, mode: CacheMode = "read_write") -> None:
        if mode not in _MODES:
            raise UsageError(f"unknown cache mode {mode!r}; use one of {', '.join(_MODES)}")
        self.mode: CacheMode = mode
        self.stats = CacheStats()
        self._lock = threading.Lock()
        self._db = sqlite3.connect(str(path), check_same_thread=False, isolation_level=None)
        self._db.execute("PRAGMA busy_timeout = 5000")
        if str(path) != ":memory:":
            self._db.execute("PRAGMA journal_mode = WAL")
        self._db.execute(_SCHEMA)

    def get(self, key: str) -> CacheEntry | None:
        """Return the entry stored under ``key`` (counting a hit or a miss)."""
        with self._lock:
            row = self._db.execute(
                "SELECT raw_text, model_version, input_tokens, output_tokens, cost_usd "
                "FROM llm_responses WHERE key = ?",
                (key,),
            ).fetchone()
            if row is None:
                self.stats.misses += 1
                return None
            self.stats.hits += 1
        raw, version, tin, tout, cost = row
        usage = Usage(input_tokens=tin, output_tokens=tout, cost_usd=None if cost is None else Decimal(cost))
        return CacheEntry(raw_text=raw, model_version=version, usage=usage)

    def put(self, key: str, model_id: str, entry: CacheEntry) -> None:
        """Store (or overwrite) the entry under ``key``."""
        cost = None if entry.usage.cost_usd is None else str(entry.usage.cost_usd)
        with self._lock:
            self._db.execute(
                "INSERT OR REPLACE INTO llm_responses VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    key,
                    model_id,
                    entry.raw_text,
                    entry.model_version,
                    entry.usage.input_tokens,
                    entry.usage.output_tokens,
                    cost,
                    time.time(),
                ),
            )
            self.stats.writes += 1

    def __len__(self) -> int:
        with self._lock:
            (n,) = self._db.execute("SELECT count(*) FROM llm_responses").fetchone()
        return int(n)

    def close(self) -> None:
        self._db.close()

    def __enter__(self) -> ResponseCache:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()


class CachedModel(Model):
    """Wrap ``inner`` so identical requests are answered from ``cache`` (see the module docstring)."""

    def __init__(self, inner: Model, cache: ResponseCache) -> None:
        super().__init__(inner.model_id, clock=inner.clock)
        self.inner = inner
        self.cache = cache

    @property
    def pinned_version(self) -> str | None:
        return self.inner.pinned_version

    async def aclose(self) -> None:
        await self.inner.aclose()

    async def complete(
        self, messages: list[Message], schema: dict[str, Any], schema_name: str, settings: ModelSettings
    ) -> Completion:
        # Raw completions are not cached: only validated responses are (see request).
        return await self.inner.complete(messages, schema, schema_name, settings)

    async def request(
        self,
        messages: Sequence[Message],
        output_type: type[T],
        settings: ModelSettings | None = None,
        *,
        context: Mapping[str, Any] | None = None,
    ) -> ModelResponse[T]:
        # ``context`` repeats what the messages say (for the offline model), so it is not in the key.
        settings = settings or ModelSettings()
        key = cache_key(
            self.model_id,
            self.pinned_version,
            messages,
            output_schema(output_type),
            schema_name_for(output_type),
            settings,
        )
        if self.cache.mode != "record":
            hit = self._lookup(key, output_type)
            if hit is not None:
                return hit
            if self.cache.mode == "replay":
                raise ModelError(
                    f"no recorded response for this {self.model_id} request (key {key}) in replay mode; "
                    "record it first with cache mode 'record' or 'read_write'",
                    provider=self.model_id.split(":", 1)[0],
                )
        response = await self.inner.request(messages, output_type, settings, context=context)
        entry = CacheEntry(
            raw_text=response.raw_text, model_version=response.model_version, usage=response.usage
        )
        self.cache.put(key, self.model_id, entry)
        return response

    def _lookup(self, key: str, output_type: type[T]) -> ModelResponse[T] | None:
        entry = self.cache.get(key)
        if entry is None:
            return None
        try:
            output = validate_output(output_type, entry.raw_text)
        except ValidationError:
            # Same schema, stricter validators (or a hand-edited row): treat as a miss, never serve it.
            return None
        return ModelResponse(
            output=output,
            usage=entry.usage,
            model_id=self.model_id,
            model_version=entry.model_version,
            raw_text=entry.raw_text,
            cached=True,
            attempts=0,
        )
