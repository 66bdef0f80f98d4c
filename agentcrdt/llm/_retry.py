"""Provider-neutral retries for model calls.

Adapters translate their SDK's exceptions into two shapes before anything reaches this module:
:class:`TransientError` (worth retrying: 429, 408/409, 5xx, timeouts, connection errors) and
:class:`~agentcrdt.errors.ModelError` (not worth it: 400/401/403/404/422, refusals). So the policy below
never needs to know which provider it is retrying.

Time is injected through a :class:`Clock` so tests record the waits instead of sleeping them. The first
attempt is made directly; only a transient failure builds tenacity's ``AsyncRetrying`` for the retries:
setting one up costs more CPU than a successful call's whole policy, and nearly every call succeeds at
once.
"""

from __future__ import annotations

import email.utils
import random
import time
from collections.abc import Awaitable, Callable, Mapping
from datetime import UTC, datetime
from typing import Protocol, TypeVar

import anyio
from tenacity import AsyncRetrying, RetryCallState, retry_if_exception_type

from agentcrdt.errors import ModelError, TransientError

__all__ = [
    "Clock",
    "SystemClock",
    "TransientError",
    "backoff_s",
    "classify_status",
    "parse_retry_after",
    "with_retries",
]

T = TypeVar("T")

# Statuses the providers' own SDKs retry (OpenAI and Anthropic agree on this set; 529 is "overloaded").
_TRANSIENT_STATUSES = frozenset({408, 409, 429})


class Clock(Protocol):
    """Monotonic time and sleep, injectable so tests never sleep for real."""

    def now(self) -> float: ...

    async def sleep(self, seconds: float) -> None: ...


class SystemClock:
    """The real clock: ``time.monotonic`` and ``anyio.sleep``."""

    def now(self) -> float:
        return time.monotonic()

    async def sleep(self, seconds: float) -> None:
        await anyio.sleep(seconds)


def parse_retry_after(headers: Mapping[str, str], *, now: datetime | None = None) -> float | None:
    """Return the wait a server asked for, in seconds, from ``retry-after-ms`` or ``Retry-After``.

    ``Retry-After`` may be delta-seconds or an HTTP-date (RFC 9110 §10.2.3). Unparseable values give None
    (the caller falls back to exponential backoff); waits in the past give 0.
    """
    lowered = {k.lower(): v for k, v in headers.items()}
    ms = lowered.get("retry-after-ms")
    if ms is not None:
        try:
            return max(float(ms) / 1000.0, 0.0)
        except ValueError:
            pass
    value = lowered.get("retry-after")
    if value is None:
        return None
    value = value.strip()
    try:
        return max(float(value), 0.0)
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max((when - (now or datetime.now(UTC))).total_seconds(), 0.0)


def classify_status(
    status: int, message: str, *, provider: str, headers: Mapping[str, str] | None = None
) -> TransientError | ModelError:
    """Map an HTTP error status to the retry policy's two shapes (the caller raises the result)."""
    if status in _TRANSIENT_STATUSES or status >= 500:
        retry_after = parse_retry_after(headers) if headers is not None else None
        return TransientError(
            f"{provider} HTTP {status}: {message}", retry_after=retry_after, provider=provider, status=status
        )
    return ModelError(f"{provider} HTTP {status}: {message}", provider=provider, status=status)


def backoff_s(
    error: TransientError, attempt: int, *, base_s: float, max_backoff_s: float, retry_after_cap_s: float
) -> float:
    """Return the wait after failed attempt number ``attempt`` (1-based).

    The server's Retry-After (capped) when it gave one; otherwise exponential backoff with full jitter.
    """
    if error.retry_after is not None:
        return min(error.retry_after, retry_after_cap_s)
    ceiling = min(base_s * 2 ** (attempt - 1), max_backoff_s)
    # Full jitter (AWS architecture blog): spreads retries of many workers hit by one 5xx burst.
    return random.uniform(0, ceiling)


class _Stop:
    """Stop on attempts, or when the next wait would overrun the deadline (by the injected clock)."""

    def __init__(self, max_attempts: int, deadline: float, clock: Clock, offset: int) -> None:
        self.max_attempts, self.deadline, self.clock, self.offset = max_attempts, deadline, clock, offset

    def __call__(self, state: RetryCallState) -> bool:
        if state.attempt_number + self.offset >= self.max_attempts:
            return True
        return self.clock.now() + state.upcoming_sleep > self.deadline


class _Wait:
    """:func:`backoff_s` for tenacity: attempt numbers continue from the attempts made before it."""

    def __init__(self, base_s: float, max_backoff_s: float, retry_after_cap_s: float, offset: int) -> None:
        self.base_s, self.max_backoff_s, self.retry_after_cap_s = base_s, max_backoff_s, retry_after_cap_s
        self.offset = offset

    def __call__(self, state: RetryCallState) -> float:
        exc = state.outcome.exception() if state.outcome is not None else None
        error = exc if isinstance(exc, TransientError) else TransientError("")
        return backoff_s(
            error,
            state.attempt_number + self.offset,
            base_s=self.base_s,
            max_backoff_s=self.max_backoff_s,
            retry_after_cap_s=self.retry_after_cap_s,
        )


def _exhausted(e: TransientError, attempts: int, budget_s: float, max_attempts: int) -> ModelError:
    return ModelError(
        f"model call failed after {attempts} attempt(s) (retry budget {budget_s:g}s, "
        f"max {max_attempts} attempts): {e}",
        provider=e.provider,
        status=e.status,
    )


async def with_retries(
    call: Callable[[], Awaitable[T]],
    *,
    max_attempts: int,
    budget_s: float,
    clock: Clock,
    base_backoff_s: float = 0.5,
    max_backoff_s: float = 20.0,
    retry_after_cap_s: float = 60.0,
) -> tuple[T, int]:
    """Run ``call`` until it succeeds; return its result and the number of attempts made.

    Retries only :class:`TransientError`; any other exception (notably :class:`ModelError`) surfaces at
    once. Stops after ``max_attempts``, or when the next wait would overrun ``budget_s`` (counted from the
    first attempt, by ``clock``); then raises :class:`ModelError` from the last failure.
    """
    deadline = clock.now() + budget_s
    try:
        return await call(), 1
    except TransientError as first:
        wait = backoff_s(
            first, 1, base_s=base_backoff_s, max_backoff_s=max_backoff_s, retry_after_cap_s=retry_after_cap_s
        )
        if max_attempts <= 1 or clock.now() + wait > deadline:
            raise _exhausted(first, 1, budget_s, max_attempts) from first
        await clock.sleep(wait)
    retrying = AsyncRetrying(
        retry=retry_if_exception_type(TransientError),
        stop=_Stop(max_attempts, deadline, clock, offset=1),
        wait=_Wait(base_backoff_s, max_backoff_s, retry_after_cap_s, offset=1),
        sleep=clock.sleep,
        reraise=True,
    )
    attempts = 1
    try:
        async for attempt in retrying:
            with attempt:
                attempts += 1
                result = await call()
    except TransientError as e:
        raise _exhausted(e, attempts, budget_s, max_attempts) from e
    return result, attempts
