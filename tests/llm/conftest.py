"""Fixtures for the model layer (helpers in ``_fakes.py``)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import pytest

from tests import network_guard
from tests.llm._fakes import _SERVERS, KITS, FakeClock, FakeServer, Harness, Script

# The root conftest registers the guard for the whole suite; make sure it is on for this directory even
# when it is run alone or before that registration lands (install() is idempotent).
network_guard.install()


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture(scope="session")
def litellm_imported() -> Any:
    """Import litellm once for the session (it takes seconds)."""
    from agentcrdt.llm.litellm import import_litellm

    return import_litellm()


@pytest.fixture(
    params=[
        ("openai", "socket"),
        ("openai", "mock"),
        ("anthropic", "socket"),
        ("anthropic", "mock"),
        ("litellm", "socket"),
    ],
    ids=lambda p: f"{p[0]}-{p[1]}",
)
async def harness(request: pytest.FixtureRequest) -> AsyncIterator[Harness]:
    provider, transport = request.param
    if provider == "litellm":
        request.getfixturevalue("litellm_imported")
    async with _harness(provider, transport) as h:
        yield h


@pytest.fixture(params=["socket", "mock"])
async def openai_harness(request: pytest.FixtureRequest) -> AsyncIterator[Harness]:
    """The OpenAI adapter alone, for its wire-format details."""
    async with _harness("openai", request.param) as h:
        yield h


@asynccontextmanager
async def _harness(provider: str, transport: str) -> AsyncIterator[Harness]:
    kit = KITS[provider]
    script = Script()
    clock = FakeClock()
    with FakeServer(script) as server:
        _SERVERS[id(script)] = server
        try:
            async with kit.build(script, clock, transport) as model:
                yield Harness(kit, script, clock, model)
        finally:
            del _SERVERS[id(script)]
