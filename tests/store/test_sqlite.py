from __future__ import annotations

import os
import sqlite3
import subprocess
import sys
import textwrap
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from agentcrdt.errors import MigrationError, StoreError, UsageError
from agentcrdt.store import EventStore, MemoryStore, SQLiteStore, StoredEvent, open_store
from agentcrdt.store.migrations import SQLITE_MIGRATIONS
from agentcrdt.store.testing import StoreContract, expected_heads, make_event


class TestSQLiteStore(StoreContract):
    durable = True

    def make_store(self) -> EventStore:
        return SQLiteStore(self.tmp_path / "room.db")

    def reopen(self, store: EventStore) -> EventStore:
        assert isinstance(store, SQLiteStore)
        store.close()
        return SQLiteStore(store.path)

    @contextmanager
    def inject_failure(self, store: EventStore, event_id: str) -> Iterator[None]:
        # A TEMP trigger lives only on this connection: a genuine failure inside the INSERT batch.
        assert isinstance(store, SQLiteStore)
        store.connection.execute(
            "CREATE TEMP TRIGGER inject_failure BEFORE INSERT ON events WHEN NEW.id = "
            f"'{event_id}' BEGIN SELECT RAISE(ABORT, 'injected failure'); END"
        )
        try:
            yield
        finally:
            store.connection.execute("DROP TRIGGER inject_failure")


# -- SQLite-specific behaviour ------------------------------------------------------------------------


def _chain(scope: str, n: int, start: str, size: int = 200) -> list[StoredEvent]:
    events, prev = [], start
    for i in range(n):
        e = make_event(f"e{i}", scope=scope, deps=[prev], seq=i + 1, size=size)
        events.append(e)
        prev = e.id
    return events


@pytest.fixture
def genesis() -> StoredEvent:
    return make_event("genesis", scope=None)


def test_pragmas_and_durability(tmp_path: Path) -> None:
    with (
        SQLiteStore(tmp_path / "full.db") as full,
        SQLiteStore(tmp_path / "n.db", durability="normal") as normal,
    ):
        assert full.connection.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        assert full.connection.execute("PRAGMA synchronous").fetchone()[0] == 2  # FULL
        assert normal.connection.execute("PRAGMA synchronous").fetchone()[0] == 1  # NORMAL
        assert full.connection.execute("PRAGMA busy_timeout").fetchone()[0] == 30000
    with pytest.raises(UsageError, match="durability"):
        SQLiteStore(tmp_path / "x.db", durability="fast")  # type: ignore[arg-type]


def test_transaction_commits_rows_cursor_and_events_together(tmp_path: Path, genesis: StoredEvent) -> None:
    store = SQLiteStore(tmp_path / "room.db")
    store.connection.execute("CREATE TABLE docs (id TEXT PRIMARY KEY)")
    with store.transaction() as conn:
        store.append([genesis])
        conn.execute("INSERT INTO docs VALUES ('d1')")
        store.set_cursor("docs", 1)
    with pytest.raises(RuntimeError), store.transaction() as conn:
        store.append(_chain(genesis.id, 2, genesis.id))
        conn.execute("INSERT INTO docs VALUES ('d2')")
        store.set_cursor("docs", 3)
        raise RuntimeError("materializer crashed")
    store.close()
    again = SQLiteStore(tmp_path / "room.db")
    assert again.get_cursor("docs") == 1 and again.count() == 1
    assert [r[0] for r in again.connection.execute("SELECT id FROM docs")] == ["d1"]
    again.set_cursor("docs", 2)  # standalone, outside any transaction
    assert again.get_cursor("docs") == 2
    again.close()


def test_failed_append_inside_transaction_rolls_back_only_itself(
    tmp_path: Path, genesis: StoredEvent
) -> None:
    with SQLiteStore(tmp_path / "room.db") as store:
        with store.transaction():
            store.set_cursor("c", 5)
            with pytest.raises(UsageError):
                store.append([make_event("orphan", scope=genesis.id, deps=["sha256:" + "0" * 64])])
            store.append([genesis])
        assert store.get_cursor("c") == 5 and store.count() == 1


def test_store_from_a_newer_version_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "room.db"
    SQLiteStore(path).close()
    with sqlite3.connect(path) as conn:
        names = [r[0] for r in conn.execute("SELECT name FROM schema_migrations")]
        assert names == ["0001_events", "0002_verdicts_in_event_rows"]
        conn.execute("INSERT INTO schema_migrations VALUES ('9999_from_the_future', 'now')")
    conn.close()
    with pytest.raises(MigrationError, match="newer version"):
        SQLiteStore(path)


def test_not_a_database_is_a_usage_error(tmp_path: Path) -> None:
    path = tmp_path / "junk.db"
    path.write_bytes(b"this is not sqlite" * 100)
    with pytest.raises(UsageError, match="not an SQLite database"):
        SQLiteStore(path)


def test_closed_store_raises_store_error(tmp_path: Path) -> None:
    store = SQLiteStore(tmp_path / "room.db")
    store.close()
    store.close()  # idempotent
    with pytest.raises(StoreError):
        store.count()


def test_open_is_cheap_on_a_large_file(tmp_path: Path, genesis: StoredEvent) -> None:
    path = tmp_path / "big.db"
    with SQLiteStore(path, durability="normal") as store:
        store.append([genesis])
        events = _chain(genesis.id, 60_000, genesis.id)
        for i in range(0, len(events), 10_000):
            store.append(events[i : i + 10_000])
    t0 = time.perf_counter()
    with SQLiteStore(path) as store:
        opened = time.perf_counter() - t0
        steps = [0]

        def count_steps() -> int:
            steps[0] += 1
            return 0

        # Count SQLite VM steps (deterministic, unlike wall time): a scan of 60k rows takes >> 60k.
        store.connection.set_progress_handler(count_steps, 1)
        assert store.count() == 60_001 and store.last_position() == 60_001
        assert store.heads() == {events[-1].id}
        assert store.get_cursor("x") == 0 and store.since(60_000)[0][0] == 60_001
        assert steps[0] < 2_000, steps[0]
    assert opened < 0.5  # generous (shared runners); the step count above is the real check


def test_batched_append_throughput(tmp_path: Path, genesis: StoredEvent) -> None:
    events = _chain(genesis.id, 20_000, genesis.id, size=500)
    with SQLiteStore(tmp_path / "bench.db") as store:
        store.append([genesis])
        t0, c0 = time.perf_counter(), time.process_time()
        for i in range(0, len(events), 500):
            store.append(events[i : i + 500])
        wall, cpu = time.perf_counter() - t0, time.process_time() - c0
    print(f"sqlite batched append: {len(events) / wall:,.0f} events/s wall, {len(events) / cpu:,.0f} cpu")
    # A regression guard (per-event commits or quadratic work would fall far below), not the benchmark
    # (~35k/s wall on a quiet machine): CPU time, because shared CI runners make wall time meaningless.
    assert len(events) / cpu > 10_000


_WRITER = textwrap.dedent(
    """
    import sys
    from agentcrdt.store import SQLiteStore
    from agentcrdt.store.testing import make_event
    path, name, genesis_id = sys.argv[1:4]
    with SQLiteStore(path) as store:
        prev = genesis_id
        for i in range(300):
            e = make_event(f"{name}{i}", scope=genesis_id, deps=[prev], author=name, seq=i + 1, size=300)
            store.append([e])
            prev = e.id
    """
)


def test_concurrent_writer_processes(tmp_path: Path, genesis: StoredEvent) -> None:
    path = tmp_path / "shared.db"
    with SQLiteStore(path) as store:
        store.append([genesis])
    procs = [
        subprocess.Popen([sys.executable, "-c", _WRITER, str(path), name, genesis.id])
        for name in ("w1", "w2", "w3")
    ]
    assert [p.wait(timeout=60) for p in procs] == [0, 0, 0]
    with SQLiteStore(path) as store:
        stored = [e for _, e in store.since(0)]
        assert [p for p, _ in store.since(0)] == list(range(1, 902))
        assert store.heads() == expected_heads(stored) and len(store.heads()) == 3


def test_open_store_urls(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    assert isinstance(open_store("memory:"), MemoryStore)
    for url, expected in [
        ("sqlite:///rel.db", tmp_path / "rel.db"),
        (f"sqlite:///{tmp_path}/abs.db", tmp_path / "abs.db"),
        (str(tmp_path / "plain.db"), tmp_path / "plain.db"),
        ("sqlite:///opts.db?durability=normal&busy_timeout=2", tmp_path / "opts.db"),
    ]:
        store = open_store(url)
        assert isinstance(store, SQLiteStore)
        store.close()
        assert expected.exists(), url
    with pytest.raises(UsageError, match="supported: 'memory:', 'sqlite:'"):
        open_store("mongodb://localhost/x")
    with pytest.raises(UsageError, match="scope"):
        open_store("postgresql://postgres@127.0.0.1/test")
    with pytest.raises(UsageError, match="conflicting"):
        open_store("postgresql://h/db#scope=a", scope="b")


def test_importing_the_store_does_not_import_psycopg() -> None:
    code = "import sys, agentcrdt.store; assert 'psycopg' not in sys.modules, 'psycopg imported'"
    subprocess.run([sys.executable, "-c", code], check=True)


def test_a_foreign_file_is_refused_untouched(tmp_path: Path) -> None:
    import hashlib

    other = tmp_path / "app.db"
    conn = sqlite3.connect(other)
    conn.execute("CREATE TABLE customers (id INTEGER PRIMARY KEY, name TEXT)")
    conn.execute("INSERT INTO customers VALUES (1, 'Ada')")
    conn.commit()
    conn.close()
    pdf = tmp_path / "contract.pdf"
    pdf.write_bytes(b"%PDF-1.4\n" + bytes(range(256)) * 8)
    for path, why in ((other, "not an agentcrdt room"), (pdf, "not an SQLite database")):
        before = hashlib.sha256(path.read_bytes()).hexdigest()
        with pytest.raises(UsageError, match=why):
            SQLiteStore(path)
        assert hashlib.sha256(path.read_bytes()).hexdigest() == before
    room = tmp_path / "room.db"  # the twins: a new path, then reopening our own file, both work
    SQLiteStore(room).close()
    SQLiteStore(room).close()


def test_a_room_of_the_first_schema_keeps_its_verdicts_when_migrated(tmp_path: Path) -> None:
    # A file as agentcrdt 0.1 wrote it: migration 0001 only, verdicts in their own table.
    path = tmp_path / "old.db"
    genesis = make_event("genesis", scope=None, kind="genesis")
    with sqlite3.connect(path) as conn:
        conn.execute("CREATE TABLE schema_migrations (name TEXT PRIMARY KEY, applied_at TEXT NOT NULL)")
        for statement in SQLITE_MIGRATIONS[0].statements:
            conn.execute(statement)
        conn.execute("INSERT INTO schema_migrations VALUES ('0001_events', 'then')")
        conn.execute(
            "INSERT INTO events VALUES (1, ?, NULL, ?, 1, 1, 'genesis', '', 0, ?)",
            (genesis.id, genesis.author, genesis.raw),
        )
        conn.execute("INSERT INTO verdicts VALUES (?, 'quarantined', 'revoked')", (genesis.id,))
        conn.execute("INSERT INTO verdicts VALUES ('sha256:gone', 'valid', '')")  # names no stored event
    conn.close()
    with SQLiteStore(path) as store:
        assert store.verdicts() == {genesis.id: ("quarantined", "revoked")}
        assert store.get(genesis.id) == genesis


def test_processes_on_different_sqlite_libraries_share_a_room(tmp_path: Path) -> None:
    # This process opens rooms through store.driver's choice (sqlean where the stdlib cannot load
    # extensions); another process may use the standard library: separate processes, separate locks.
    from agentcrdt.log.keys import Identity
    from agentcrdt.ops.state import op
    from agentcrdt.rooms.local import create_local, open_local
    from agentcrdt.store.driver import driver

    path = tmp_path / "room.db"
    owner = Identity.from_name("owner")
    room = create_local(path, owner, "room")
    room.commit("ops", {"ops": [op("Doc", "d1", "n", "pncounter", {"inc": 1})]})
    script = textwrap.dedent(
        f"""
        from agentcrdt.rooms.local import open_local
        from agentcrdt.log.keys import Identity
        from agentcrdt.ops.state import op
        from agentcrdt.store.driver import driver
        assert driver().name == "sqlite3", driver()
        room = open_local({str(path)!r}, identity=Identity.from_name("owner"))
        room.commit("ops", {{"ops": [op("Doc", "d1", "n", "pncounter", {{"inc": 10}})]}})
        """
    )
    env = {**os.environ, "AGENTCRDT_SQLITE": "sqlite3"}
    subprocess.run([sys.executable, "-c", script], check=True, env=env, timeout=60)
    room.commit("ops", {"ops": [op("Doc", "d1", "n", "pncounter", {"inc": 100})]})
    assert open_local(path).state_at().value("Doc", "d1") == {"n": 111}
    assert driver().module.__name__ in ("sqlite3", "sqlean", "pysqlite3.dbapi2")
