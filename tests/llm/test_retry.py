"""The provider-neutral retry policy, driven by scripted failures and a virtual clock."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from agentcrdt.errors import ModelError
from agentcrdt.llm import ModelSettings, TransientError
from agentcrdt.llm._retry import classify_status, parse_retry_after
from agentcrdt.llm.testing import FakeClock, ScriptedModel
from tests.llm._fakes import GOOD, Verdict

pytestmark = pytest.mark.anyio
NOW = datetime(2025, 1, 1, 12, 0, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    ("headers", "expected"),
    [
        ({"Retry-After": "7"}, 7.0),
        ({"retry-after": "1.5"}, 1.5),
        ({"retry-after-ms": "250", "retry-after": "9"}, 0.25),  # the precise header wins
        ({"Retry-After": "Wed, 01 Jan 2025 12:00:30 GMT"}, 30.0),
        ({"Retry-After": "Wed, 01 Jan 2025 11:00:00 GMT"}, 0.0),  # in the past: retry now
        ({"Retry-After": "-3"}, 0.0),
        ({"Retry-After": "soon"}, None),
        ({}, None),
    ],
)
def test_parse_retry_after(headers: dict[str, str], expected: float | None) -> None:
    assert parse_retry_after(headers, now=NOW) == expected


@pytest.mark.parametrize("status", [408, 409, 429, 500, 502, 503, 529])
def test_transient_statuses(status: int) -> None:
    assert isinstance(classify_status(status, "x", provider="p"), TransientError)


@pytest.mark.parametrize("status", [400, 401, 403, 404, 422])
def test_permanent_statuses(status: int) -> None:
    error = classify_status(status, "bad key", provider="p")
    assert isinstance(error, ModelError) and error.status == status and "bad key" in str(error)


async def test_retry_after_is_capped() -> None:
    clock = FakeClock()
    model = ScriptedModel([TransientError("429", retry_after=3600.0), GOOD], clock=clock)
    response = await model.request([], Verdict, ModelSettings(retry_after_cap_s=5, retry_budget_s=100))
    assert response.attempts == 2
    assert clock.sleeps == [5.0]


async def test_backoff_grows_exponentially_within_jitter() -> None:
    clock = FakeClock()
    failures = [TransientError("503") for _ in range(4)]
    model = ScriptedModel([*failures, GOOD], clock=clock)
    response = await model.request([], Verdict, ModelSettings(max_attempts=5, retry_budget_s=1000))
    assert response.attempts == 5
    assert len(clock.sleeps) == 4
    for i, wait in enumerate(clock.sleeps):
        assert 0 <= wait <= 0.5 * 2**i


async def test_max_attempts_bounds_retries() -> None:
    clock = FakeClock()
    model = ScriptedModel([TransientError("503", status=503) for _ in range(5)], clock=clock)
    with pytest.raises(ModelError, match="after 3 attempt") as info:
        await model.request([], Verdict, ModelSettings(max_attempts=3))
    assert isinstance(info.value.__cause__, TransientError)
    assert len(model.requests) == 3
    assert len(clock.sleeps) == 2


async def test_model_error_is_never_retried() -> None:
    clock = FakeClock()
    model = ScriptedModel([ModelError("forbidden", status=403), GOOD], clock=clock)
    with pytest.raises(ModelError, match="forbidden"):
        await model.request([], Verdict)
    assert len(model.requests) == 1 and clock.sleeps == []


async def test_unexpected_exceptions_propagate_unretried() -> None:
    model = ScriptedModel([KeyError("bug"), GOOD], clock=FakeClock())
    with pytest.raises(KeyError):
        await model.request([], Verdict)
    assert len(model.requests) == 1
