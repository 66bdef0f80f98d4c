"""Which sqlite3-compatible module this process opens room files with, decided once.

A room file holds the log, the projections and the vector index (sqlite-vec), so everything in one
process must open it through **one** SQLite library: POSIX record locks do not exclude each other within
a process and each library copy keeps its own lock bookkeeping, so two copies on one file can undo each
other's locks (observed: pages read back wrong). Other processes may use another library: they are
separate lock owners, as SQLite expects.

Order (the first that imports and can load extensions wins; else the standard library without them):

1. the standard library ``sqlite3``, when this Python was built with ``enable_load_extension``;
2. ``sqlean`` (sqlean.py, a drop-in ``sqlite3`` that can load extensions; the ``embeddings`` extra);
3. ``pysqlite3`` (another drop-in build, if the user has it).

Whether sqlite-vec actually loads is probed only when a vector index is first opened (:func:`driver`).

All of them read and write the same file format. ``AGENTCRDT_SQLITE=sqlite3`` forces the standard library.
"""

from __future__ import annotations

import importlib
import os
import sqlite3
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from types import ModuleType
from typing import Any

__all__ = [
    "DRIVER_ORDER",
    "Driver",
    "choose_driver",
    "driver",
    "errors",
    "integrity_errors",
    "load_vec",
    "module",
    "operational_errors",
]

DRIVER_ORDER = ("sqlite3", "sqlean", "pysqlite3.dbapi2")


@dataclass(frozen=True)
class Driver:
    """A sqlite3-compatible module and whether it loads sqlite-vec (``vec`` False: no vector tables)."""

    name: str
    module: ModuleType
    vec: bool


def load_vec(conn: Any) -> None:
    """Load sqlite-vec into a connection of a module that can load extensions."""
    import sqlite_vec  # type: ignore[import-untyped]

    conn.enable_load_extension(True)
    sqlite_vec.load(conn)
    conn.enable_load_extension(False)


def _can_load(module: ModuleType) -> bool:
    """Tell whether ``module`` can load sqlite-vec into a connection."""
    try:
        conn = module.connect(":memory:")
        try:
            load_vec(conn)
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


_module: tuple[str, ModuleType] | None = None
_chosen: Driver | None = None


def module() -> ModuleType:
    """Return the sqlite3-compatible module room files are opened with (decided on first use).

    Cheap: it only looks for a module that *can* load extensions, without loading sqlite-vec (that
    costs ~30 ms and ~18 MB, paid by :func:`driver` when a vector index is first opened).
    """
    global _module
    if _module is None:
        if os.environ.get("AGENTCRDT_SQLITE") == "sqlite3":
            _module = ("sqlite3", sqlite3)
        else:
            # The same order as choose_driver, without loading sqlite-vec to decide.
            cheap = choose_driver(can_load=lambda _: True)
            _module = (cheap.name, cheap.module)
    return _module[1]


def driver() -> Driver:
    """Return the process's module and whether it loads sqlite-vec (probed once, on first use)."""
    global _chosen
    if _chosen is None:
        m = module()
        assert _module is not None
        _chosen = Driver(_module[0], m, hasattr(m.Connection, "enable_load_extension") and _can_load(m))
    return _chosen


def errors() -> tuple[type[BaseException], ...]:
    """The ``Error`` classes of the standard module and the chosen one (for ``except`` clauses)."""
    return (sqlite3.Error, module().Error)


def operational_errors() -> tuple[type[BaseException], ...]:
    """The ``OperationalError`` classes of the standard module and the chosen one."""
    return (sqlite3.OperationalError, module().OperationalError)


def integrity_errors() -> tuple[type[BaseException], ...]:
    """The ``IntegrityError`` classes of the standard module and the chosen one (a constraint fired)."""
    return (sqlite3.IntegrityError, module().IntegrityError)
