"""PostgreSQL store: the shared contract plus scope isolation, migrations and concurrent writers.

Runs against $AGENTCRDT_TEST_POSTGRES_URL (default postgresql://postgres@127.0.0.1:5432/test) in a
schema private to the session; skips when no server answers unless AGENTCRDT_REQUIRE_POSTGRES=1.
"""

from __future__ import annotations

import threading
import uuid
from collections.abc import Iterator
from contextlib import contextmanager

import pytest

from agentcrdt.errors import MigrationError, StoreError, UsageError
from agentcrdt.store import EventStore, open_store
from agentcrdt.store.testing import StoreContract, expected_heads, make_event

pytestmark = pytest.mark.postgres


class TestPostgresStore(StoreContract):
    durable = True

    @pytest.fixture(autouse=True)
    def _postgres(self, postgres_url: str, postgres_schema: str) -> None:
        self.url = postgres_url
        self.schema = postgres_schema

    def make_store(self) -> EventStore:
        from agentcrdt.store.postgres import PostgresStore

        return PostgresStore(self.url, self.scope, schema=self.schema)

    def reopen(self, store: EventStore) -> EventStore:
        store.close()
        return self.make_store()

    @contextmanager
    def inject_failure(self, store: EventStore, event_id: str) -> Iterator[None]:
        # A real error raised by the server in the middle of the INSERT batch. The schema is private to
        # this session, so the trigger cannot disturb other workers.
        from agentcrdt.store.postgres import PostgresStore

        assert isinstance(store, PostgresStore)
        conn = store.connection
        conn.execute(
            "CREATE OR REPLACE FUNCTION agentcrdt_inject_failure() RETURNS trigger LANGUAGE plpgsql AS $$ "
            f"BEGIN IF NEW.id = '{event_id}' THEN RAISE EXCEPTION 'injected failure'; END IF; "
            "RETURN NEW; END $$"
        )
        conn.execute(
            "CREATE TRIGGER inject_failure BEFORE INSERT ON agentcrdt_events "
            "FOR EACH ROW EXECUTE FUNCTION agentcrdt_inject_failure()"
        )
        try:
            yield
        finally:
            conn.execute("DROP TRIGGER inject_failure ON agentcrdt_events")

    # -- PostgreSQL-specific ----------------------------------------------------------------------

    def test_scopes_share_tables_but_not_data(self) -> None:
        store = self.store()
        store.append(self.chain(2))
        store.set_cursor("c", 2)
        store.set_meta("k", "v")
        other_genesis = make_event(f"other-{uuid.uuid4()}", scope=None)
        from agentcrdt.store.postgres import PostgresStore

        with PostgresStore(self.url, other_genesis.id, schema=self.schema) as other:
            assert other.count() == 0 and other.heads() == frozenset() and other.get_cursor("c") == 0
            assert other.append([other_genesis]) == [1]
            assert other.get_meta("k") is None and self.genesis.id not in other
        assert store.count() == 3

    def test_event_of_another_scope_is_refused(self) -> None:
        store = self.store()
        stranger = make_event("x", scope="sha256:" + "f" * 64, deps=[self.genesis.id])
        with pytest.raises(UsageError, match="bound to"):
            store.append([stranger])
        foreign_genesis = make_event("other-genesis", scope=None)
        with pytest.raises(UsageError):
            store.append([foreign_genesis])

    def test_open_store_url_with_scope_fragment(self) -> None:
        store = open_store(f"{self.url}#scope={self.scope}&schema={self.schema}")
        self._opened.append(store)
        assert store.append([self.genesis]) == [1]
        assert open_store(self.url, scope=self.scope, schema=self.schema).count() == 1

    def test_concurrent_writers_get_contiguous_positions(self) -> None:
        self.store()
        authors = [f"ed25519:{i}" for i in range(4)]
        errors: list[BaseException] = []

        def write(author: str) -> None:
            try:
                with self.make_store() as store:
                    prev = self.genesis.id
                    for i in range(25):
                        e = make_event(
                            f"{author}{i}", scope=self.scope, deps=[prev], author=author, seq=i + 1
                        )
                        store.append([e])
                        prev = e.id
            except BaseException as e:  # surfaced below; a thread cannot fail the test itself
                errors.append(e)

        threads = [threading.Thread(target=write, args=(a,)) for a in authors]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert errors == []
        store = self.make_store()
        self._opened.append(store)
        rows = store.since(0)
        assert [p for p, _ in rows] == list(range(1, 102))
        assert store.heads() == expected_heads([e for _, e in rows]) and len(store.heads()) == 4

    def test_newer_schema_is_refused(self, postgres_url: str) -> None:
        import psycopg
        from psycopg import sql

        from agentcrdt.store.postgres import PostgresStore

        schema = f"agentcrdt_mig_{uuid.uuid4().hex[:10]}"
        try:
            PostgresStore(postgres_url, self.scope, schema=schema).close()
            with psycopg.connect(postgres_url, autocommit=True) as conn:
                table = sql.Identifier(schema, "agentcrdt_schema_migrations")
                names = [r[0] for r in conn.execute(sql.SQL("SELECT name FROM {}").format(table))]
                assert names == ["0001_events"]
                conn.execute(sql.SQL("INSERT INTO {} (name) VALUES ('9999_future')").format(table))
            with pytest.raises(MigrationError, match="newer version"):
                PostgresStore(postgres_url, self.scope, schema=schema)
        finally:
            with psycopg.connect(postgres_url, autocommit=True) as conn:
                conn.execute(sql.SQL("DROP SCHEMA IF EXISTS {} CASCADE").format(sql.Identifier(schema)))

    def test_unreachable_server_is_a_store_error(self) -> None:
        from agentcrdt.store.postgres import PostgresStore

        with pytest.raises(StoreError):
            PostgresStore("postgresql://nobody@127.0.0.1:1/none", self.scope, connect_timeout=2)
