"""Fixtures for the schema tests: fake writers and a PostgreSQL connection (or a clear skip)."""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any, NoReturn

import pytest

# The schema tests share plain helper modules (schema_*.py) that sit next to this file.
sys.path.insert(0, str(Path(__file__).parent))

POSTGRES_URL = os.environ.get("AGENTCRDT_TEST_POSTGRES_URL") or "postgresql://postgres@127.0.0.1:5432/test"


def _unavailable(message: str) -> NoReturn:
    if os.environ.get("AGENTCRDT_REQUIRE_POSTGRES") == "1":
        pytest.fail(f"{message} (AGENTCRDT_REQUIRE_POSTGRES=1, so this is a failure)", pytrace=False)
    pytest.skip(f"{message}; start PostgreSQL or set AGENTCRDT_TEST_POSTGRES_URL")


@pytest.fixture
def pg_conn() -> Iterator[Any]:
    """A connection to the test PostgreSQL inside a transaction that is rolled back afterwards."""
    try:
        import psycopg
    except ImportError as e:
        _unavailable(f"psycopg is not installed ({e})")
    try:
        conn = psycopg.connect(POSTGRES_URL, connect_timeout=3)
    except psycopg.Error as e:
        _unavailable(f"no PostgreSQL server reachable at {POSTGRES_URL} ({str(e).strip()})")
    try:
        yield conn
    finally:
        conn.rollback()
        conn.close()
