"""Choosing the sqlite3 module that can load sqlite-vec, and the fallback when none can."""

from __future__ import annotations

import sqlite3
import types

import pytest

from agentcrdt.retrieval import _sqlite


def _module(name: str, loads: bool) -> types.ModuleType:
    m = types.ModuleType(name)

    class Connection:
        if loads:

            def enable_load_extension(self, flag: bool) -> None: ...

    m.Connection = Connection  # type: ignore[attr-defined]
    return m


def test_stdlib_is_preferred_when_it_can_load_extensions() -> None:
    mods = {"sqlite3": _module("sqlite3", True), "sqlean": _module("sqlean", True)}
    d = _sqlite.choose_driver(importer=mods.get, can_load=lambda m: True)
    assert (d.name, d.vec) == ("sqlite3", True)


def test_falls_back_to_sqlean_when_stdlib_cannot() -> None:
    mods = {"sqlite3": _module("sqlite3", False), "sqlean": _module("sqlean", True)}
    d = _sqlite.choose_driver(importer=mods.get, can_load=lambda m: True)
    assert (d.name, d.vec) == ("sqlean", True)


def test_skips_a_module_whose_load_fails_then_gives_numpy() -> None:
    mods = {"sqlite3": _module("sqlite3", True), "pysqlite3.dbapi2": _module("p", True)}
    d = _sqlite.choose_driver(importer=mods.get, can_load=lambda m: m is mods["pysqlite3.dbapi2"])
    assert d.name == "pysqlite3.dbapi2"
    none = _sqlite.choose_driver(importer=mods.get, can_load=lambda m: False)
    assert (none.name, none.vec, none.module) == ("sqlite3", False, sqlite3)


def test_this_machine() -> None:
    """The real choice: stdlib if it can load extensions (not on this Python), else sqlean."""
    d = _sqlite.choose_driver()
    assert d.vec
    if hasattr(sqlite3.Connection, "enable_load_extension"):
        assert d.name == "sqlite3"
    else:
        assert d.name == "sqlean"  # the fallback path is what runs here
    conn = _sqlite.connect(":memory:", d)
    assert conn.execute("SELECT vec_version()").fetchone()[0].startswith("v")


def test_transaction_rolls_back_on_error() -> None:
    conn = _sqlite.connect(":memory:", _sqlite.choose_driver())
    conn.execute("CREATE TABLE t (x)")
    with pytest.raises(ZeroDivisionError), _sqlite.transaction(conn):
        conn.execute("INSERT INTO t VALUES (1)")
        1 / 0  # noqa: B018
    assert conn.execute("SELECT count(*) FROM t").fetchone()[0] == 0
