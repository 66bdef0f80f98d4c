"""Fixtures for the schema tests: a PostgreSQL connection on the shared test server."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

# The schema tests share plain helper modules (schema_*.py) that sit next to this file.
sys.path.insert(0, str(Path(__file__).parent))


@pytest.fixture
def pg_conn(postgres_url: str) -> Iterator[Any]:
    """A connection inside a transaction rolled back afterwards (reachability: tests/postgres_fixtures.py)."""
    import psycopg

    conn = psycopg.connect(postgres_url, connect_timeout=3)
    try:
        yield conn
    finally:
        conn.rollback()
        conn.close()
