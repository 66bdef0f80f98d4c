"""Event stores: a ladder of small contracts, an in-memory reference, SQLite (default) and PostgreSQL.

Backends are leaves reached by URL scheme through ``open_store``; the PostgreSQL module (and psycopg)
is imported only when a ``postgresql://`` URL is opened.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qsl

from agentcrdt.errors import UsageError
from agentcrdt.store.base import (
    EventStore,
    IndexedRecorder,
    JudgedRecorder,
    Recorder,
    Rejection,
    StoredEvent,
    TrackingRecorder,
)
from agentcrdt.store.memory import MemoryStore
from agentcrdt.store.sqlite import SQLiteStore

if TYPE_CHECKING:
    from agentcrdt.store.postgres import PostgresStore

__all__ = [
    "EventStore",
    "IndexedRecorder",
    "JudgedRecorder",
    "MemoryStore",
    "PostgresStore",
    "Recorder",
    "Rejection",
    "SQLiteStore",
    "StoredEvent",
    "TrackingRecorder",
    "open_store",
]


def __getattr__(name: str) -> Any:
    # Lazy so that importing agentcrdt.store never imports psycopg.
    if name == "PostgresStore":
        return importlib.import_module("agentcrdt.store.postgres").PostgresStore
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def _open_memory(rest: str, scope: str | None, options: dict[str, Any]) -> EventStore:
    if rest.strip("/"):
        raise UsageError(f"'memory:' takes no path, got 'memory:{rest}'")
    return MemoryStore(**options)


def _open_sqlite(rest: str, scope: str | None, options: dict[str, Any]) -> EventStore:
    # SQLAlchemy convention: sqlite:///relative.db, sqlite:////absolute/path.db, sqlite:///:memory:.
    if not rest.startswith("//"):
        raise UsageError("write SQLite URLs as 'sqlite:///relative/room.db' or 'sqlite:////abs/room.db'")
    path, _, query = rest[3:].partition("?") if rest.startswith("///") else ("", "", "")
    if not path:
        raise UsageError(f"SQLite URL 'sqlite:{rest}' has no path")
    params: dict[str, Any] = dict(parse_qsl(query))
    if "busy_timeout" in params:
        params["busy_timeout"] = float(params["busy_timeout"])
    return SQLiteStore(path, **{**params, **options})


def _open_postgres(rest: str, scope: str | None, options: dict[str, Any]) -> EventStore:
    url, _, fragment = rest.partition("#")
    params = dict(parse_qsl(fragment))
    url_scope = params.pop("scope", None)
    if url_scope and scope and url_scope != scope:
        raise UsageError(f"conflicting scopes: {url_scope!r} in the URL and {scope!r} as argument")
    scope = scope or url_scope
    if not scope:
        raise UsageError("a PostgreSQL store needs a scope: append '#scope=<genesis id>' or pass scope=")
    try:
        module = importlib.import_module("agentcrdt.store.postgres")
    except ImportError as e:
        raise UsageError("PostgreSQL stores need psycopg: pip install 'agentcrdt[postgres]'") from e
    store: EventStore = module.PostgresStore("postgresql:" + url, scope, **{**params, **options})
    return store


_Opener = Callable[[str, str | None, dict[str, Any]], EventStore]
_OPENERS: dict[str, _Opener] = {
    "memory": _open_memory,
    "sqlite": _open_sqlite,
    "postgresql": _open_postgres,
    "postgres": _open_postgres,
}


def open_store(url: str, *, scope: str | None = None, **options: Any) -> EventStore:
    """Open a store by URL: ``memory:``, ``sqlite:///room.db`` or a plain path, ``postgresql://...``.

    PostgreSQL needs the scope id, as ``#scope=<id>`` in the URL or the ``scope`` argument (an optional
    ``schema=<name>`` may also go in the fragment). Extra keyword options go to the backend's constructor.
    """
    scheme, sep, rest = url.partition(":")
    if not sep or "/" in scheme or "\\" in scheme or len(scheme) == 1:
        # No scheme (or a Windows drive letter): a plain filesystem path to an SQLite file.
        return SQLiteStore(url, **options)
    opener = _OPENERS.get(scheme.lower())
    if opener is None:
        supported = ", ".join(f"'{s}:'" for s in _OPENERS)
        raise UsageError(
            f"unknown store URL scheme {scheme!r} in {url!r}; supported: {supported} or a file path"
        )
    return opener(rest, scope, options)
