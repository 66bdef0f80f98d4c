"""Shared fixtures: deterministic identities and small replica factories."""

from __future__ import annotations

import itertools
import os
from collections.abc import Callable

import pytest

import agentcrdt.ops.state  # noqa: F401  (registers the ops kind)
from agentcrdt.log.keys import Identity
from agentcrdt.replica import Replica
from agentcrdt.store.memory import MemoryStore

# PostgreSQL fixtures for the store and replica tests; a guard that fails any non-loopback connection.
pytest_plugins = ["tests.postgres_fixtures", "tests.network_guard"]


@pytest.fixture(autouse=True, scope="session")
def _seal_home(tmp_path_factory: pytest.TempPathFactory) -> None:
    """Keep this installation's seal key (see agentcrdt.store.seal) out of the user's home: one per
    test session, inherited by the processes tests start, as processes of one installation share it."""
    os.environ["AGENTCRDT_HOME"] = str(tmp_path_factory.mktemp("agentcrdt-home"))


@pytest.fixture
def alice() -> Identity:
    return Identity.from_name("alice")


@pytest.fixture
def bob() -> Identity:
    return Identity.from_name("bob")


@pytest.fixture
def mallory() -> Identity:
    return Identity.from_name("mallory")


@pytest.fixture
def tick() -> Callable[[], int]:
    """A deterministic wall clock: 1000, 1001, ... (wall time is informational only)."""
    counter = itertools.count(1000)
    return lambda: next(counter)


@pytest.fixture
def pair(alice: Identity, bob: Identity, tick: Callable[[], int]) -> tuple[Replica, Replica]:
    """Two in-memory replicas of one scope owned by alice and bob."""
    a = Replica.create(MemoryStore(), alice, "room", owners=[bob.author], nonce="n", clock=tick)
    genesis = a.store.get(a.scope)
    assert genesis is not None
    b = Replica.join(MemoryStore(), genesis.raw, identity=bob, clock=tick)
    return a, b
