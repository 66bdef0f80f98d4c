"""Fixtures for the offline model's tests (documents live in ``_docs.py``)."""

from __future__ import annotations

import pytest


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"
