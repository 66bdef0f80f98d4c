"""Open SQLite connections with sqlite-vec loaded, whichever sqlite3 module can load it.

Fallback order (first that works wins, decided once per process):

1. the standard library ``sqlite3``, when this Python was built with ``enable_load_extension``;
2. ``sqlean`` (sqlean.py: a drop-in ``sqlite3`` with extension loading, installed by the ``embeddings``
   extra);
3. ``pysqlite3`` (another drop-in build, if the user has it);
4. none: :class:`~agentcrdt.retrieval.index.VectorIndex` then uses its pure numpy backend.

``apsw`` is deliberately not in the list: its API is not DB-API (no ``Connection.execute`` returning a
cursor with ``fetchone``/``fetchall`` semantics identical to ``sqlite3``), so supporting it would mean a
second code path for every query. All these modules read and write the same file format, so the vector
connection coexists with the stdlib connections of the event store and the projections (WAL mode,
``busy_timeout``).
"""

from __future__ import annotations

import importlib
import logging
import sqlite3
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import Any, Protocol

from agentcrdt.errors import StoreError

__all__ = ["Connection", "Driver", "choose_driver", "connect", "driver", "transaction"]

log = logging.getLogger("agentcrdt.retrieval")

DRIVER_ORDER = ("sqlite3", "sqlean", "pysqlite3.dbapi2")
BUSY_TIMEOUT_MS = 10_000


class Cursor(Protocol):
    """The part of a DB-API cursor we use."""

    def fetchone(self) -> Any: ...

    def fetchall(self) -> list[Any]: ...

    def __iter__(self) -> Iterator[Any]: ...


class Connection(Protocol):
    """The part of a ``sqlite3.Connection`` (or a drop-in module's) that we use."""

    def execute(self, sql: str, parameters: Sequence[Any] = ..., /) -> Any: ...

    def executemany(self, sql: str, parameters: Iterable[Sequence[Any]], /) -> Any: ...

    def close(self) -> None: ...


@dataclass(frozen=True)
class Driver:
    """A sqlite3-compatible module and whether it loaded sqlite-vec (``vec`` False: numpy backend)."""

    name: str
    module: ModuleType
    vec: bool


def _load_vec(conn: Any) -> None:
    import sqlite_vec  # type: ignore[import-untyped]

    conn.enable_load_extension(True)
    sqlite_vec.load(conn)
    conn.enable_load_extension(False)


def _can_load(module: ModuleType) -> bool:
    """Tell whether ``module`` can load sqlite-vec into a connection."""
    try:
        conn = module.connect(":memory:")
        try:
            _load_vec(conn)
            conn.execute("SELECT vec_version()").fetchone()
        finally:
            conn.close()
        return True
    except Exception:  # any failure means "this module cannot serve sqlite-vec"
        return False


def _import(name: str) -> ModuleType | None:
    try:
        return importlib.import_module(name)
    except ImportError:
        return None


def choose_driver(
    order: Sequence[str] = DRIVER_ORDER,
    *,
    importer: Callable[[str], ModuleType | None] = _import,
    can_load: Callable[[ModuleType], bool] = _can_load,
) -> Driver:
    """Pick the first module in ``order`` that imports and loads sqlite-vec; else stdlib without vec.

    ``importer`` and ``can_load`` are seams for tests (a fake "stdlib can load extensions" flag).
    """
    for name in order:
        module = importer(name)
        if module is not None and hasattr(module.Connection, "enable_load_extension") and can_load(module):
            return Driver(name, module, True)
    return Driver("sqlite3", sqlite3, False)


_chosen: Driver | None = None


def driver() -> Driver:
    """Return the process-wide driver choice (decided once, logged once)."""
    global _chosen
    if _chosen is None:
        _chosen = choose_driver()
        if _chosen.vec:
            log.info("retrieval: sqlite-vec loaded through the %s module", _chosen.name)
        else:
            log.warning(
                "retrieval: no sqlite3 module here can load sqlite-vec (tried %s); using the numpy index."
                " Install it with: pip install 'agentcrdt[embeddings]'",
                ", ".join(DRIVER_ORDER),
            )
    return _chosen


def connect(path: str | Path, drv: Driver | None = None) -> Connection:
    """Open ``path`` in autocommit mode with WAL and a busy timeout; load sqlite-vec if the driver can."""
    d = drv or driver()
    try:
        conn: Any = d.module.connect(str(path), isolation_level=None, check_same_thread=False)
        conn.execute(f"PRAGMA busy_timeout={BUSY_TIMEOUT_MS}")
        if str(path) != ":memory:":
            conn.execute("PRAGMA journal_mode=WAL")
        if d.vec:
            _load_vec(conn)
    except Exception as e:
        raise StoreError(f"cannot open the retrieval index at {path} with {d.name}: {e}") from e
    c: Connection = conn
    return c


class transaction:
    """BEGIN IMMEDIATE ... COMMIT on an autocommit connection; ROLLBACK on any error."""

    def __init__(self, conn: Connection) -> None:
        self.conn = conn

    def __enter__(self) -> Connection:
        try:
            self.conn.execute("BEGIN IMMEDIATE")
        except Exception as e:
            raise StoreError(f"cannot start a retrieval transaction: {e}") from e
        return self.conn

    def __exit__(self, exc_type: object, exc: object, tb: object) -> None:
        if exc_type is None:
            try:
                self.conn.execute("COMMIT")
                return
            except Exception as e:
                self.conn.execute("ROLLBACK")
                raise StoreError(f"cannot commit retrieval rows: {e}") from e
        self.conn.execute("ROLLBACK")
