"""Fixtures for the store tests: a reachable PostgreSQL (or a clear skip/fail) and a throwaway schema."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from typing import NoReturn

import pytest

# Same default as agentcrdt.store.postgres.DEFAULT_TEST_URL; repeated here so collecting the SQLite
# tests never needs psycopg.
DEFAULT_TEST_URL = "postgresql://postgres@127.0.0.1:5432/test"


def _unavailable(message: str) -> NoReturn:
    if os.environ.get("AGENTCRDT_REQUIRE_POSTGRES") == "1":
        pytest.fail(
            f"{message} (AGENTCRDT_REQUIRE_POSTGRES=1, so this is a failure, not a skip)", pytrace=False
        )
    pytest.skip(f"{message}; set AGENTCRDT_TEST_POSTGRES_URL to run the PostgreSQL store tests")


@pytest.fixture(scope="session")
def postgres_url() -> str:
    """URL of a reachable server: $AGENTCRDT_TEST_POSTGRES_URL or the documented default."""
    url = os.environ.get("AGENTCRDT_TEST_POSTGRES_URL") or DEFAULT_TEST_URL
    try:
        import psycopg
    except ImportError as e:
        _unavailable(f"psycopg is not installed ({e})")
    try:
        with psycopg.connect(url, connect_timeout=3) as conn:
            conn.execute("SELECT 1")
    except psycopg.Error as e:
        _unavailable(f"no PostgreSQL server reachable at {url} ({str(e).strip()})")
    return url


@pytest.fixture(scope="session")
def postgres_schema(postgres_url: str) -> Iterator[str]:
    """A schema private to this test session (one per xdist worker), dropped afterwards."""
    import psycopg
    from psycopg import sql

    name = f"agentcrdt_test_{uuid.uuid4().hex[:12]}"
    yield name
    with psycopg.connect(postgres_url, autocommit=True) as conn:
        conn.execute(sql.SQL("DROP SCHEMA IF EXISTS {} CASCADE").format(sql.Identifier(name)))
