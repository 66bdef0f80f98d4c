"""Open SQLite connections with sqlite-vec loaded, through the process's one SQLite library.

The module is the one room files are opened with (:mod:`agentcrdt.store.driver`: the standard library
when it can load extensions, else ``sqlean`` or ``pysqlite3``), so the vector index can live in the room's
own file next to the log and the projections. When no module here can load sqlite-vec,
:class:`~agentcrdt.retrieval.index.VectorIndex` uses its pure numpy backend.

``apsw`` is deliberately not in the list: its API is not DB-API (no ``Connection.execute`` returning a
cursor with ``fetchone``/``fetchall`` semantics identical to ``sqlite3``), so supporting it would mean a
second code path for every query.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path
from typing import Any, Protocol

from agentcrdt.errors import StoreError
from agentcrdt.store.driver import DRIVER_ORDER, Driver, choose_driver, load_vec
from agentcrdt.store.driver import driver as _room_driver

__all__ = ["Connection", "Driver", "choose_driver", "connect", "driver", "transaction"]

log = logging.getLogger("agentcrdt.retrieval")

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


_logged = False


def driver() -> Driver:
    """Return the process-wide driver: the room files' one (see :mod:`agentcrdt.store.driver`)."""
    global _logged
    chosen = _room_driver()
    if not _logged:
        _logged = True
        if chosen.vec:
            log.info("retrieval: sqlite-vec loaded through the %s module", chosen.name)
        else:
            log.warning(
                "retrieval: no sqlite3 module here can load sqlite-vec (tried %s); using the numpy index."
                " Install it with: pip install 'agentcrdt[embeddings]'",
                ", ".join(DRIVER_ORDER),
            )
    return chosen


def connect(path: str | Path, drv: Driver | None = None) -> Connection:
    """Open ``path`` in autocommit mode with WAL and a busy timeout; load sqlite-vec if the driver can."""
    d = drv or driver()
    try:
        conn: Any = d.module.connect(str(path), isolation_level=None, check_same_thread=False)
        conn.execute(f"PRAGMA busy_timeout={BUSY_TIMEOUT_MS}")
        if str(path) != ":memory:":
            conn.execute("PRAGMA journal_mode=WAL")
        if d.vec:
            load_vec(conn)
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
