"""The model interface: messages in, a validated pydantic object out, with usage and provenance.

A :class:`Model` implements one async method, :meth:`Model.complete` (one provider round trip that asks
for JSON matching a schema). Everything else is shared by :meth:`Model.request`: the JSON schema from the
output type, transient-failure retries, pydantic validation and bounded re-asks that quote the validation
error back to the model. ``request`` either returns a valid object or raises; it never returns garbage.
"""

from __future__ import annotations

import copy
import functools
import json
import re
from abc import ABC, abstractmethod
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from decimal import Decimal
from typing import Any, Generic, Literal, TypeVar

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from agentcrdt.errors import ModelOutputError
from agentcrdt.llm._retry import Clock, SystemClock, with_retries

__all__ = [
    "Completion",
    "Message",
    "Model",
    "ModelResponse",
    "ModelSettings",
    "Usage",
    "cost_usd",
    "output_schema",
    "request_context",
    "schema_name_for",
    "using_context",
]

T = TypeVar("T", bound=BaseModel)


class Message(BaseModel):
    """One chat message."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    role: Literal["system", "user", "assistant"]
    content: str


class ModelSettings(BaseModel):
    """Per-request knobs; only temperature, max_tokens and seed change the output (and the cache key)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    temperature: float | None = None
    max_tokens: int | None = Field(default=None, gt=0)
    seed: int | None = None
    timeout_s: float = Field(default=60.0, gt=0)
    max_validation_retries: int = Field(default=2, ge=0)
    max_attempts: int = Field(default=4, ge=1)
    retry_budget_s: float = Field(default=120.0, gt=0)
    retry_after_cap_s: float = Field(default=60.0, ge=0)

    def output_affecting(self) -> dict[str, str | int | None]:
        """Return the settings that change the model's output, floats as strings (canonical-JSON safe)."""
        return {
            "temperature": None if self.temperature is None else repr(float(self.temperature)),
            "max_tokens": self.max_tokens,
            "seed": self.seed,
        }


class Usage(BaseModel):
    """Tokens and cost. ``cost_usd`` is None when the price is unknown; a sum with an unknown is unknown."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    input_tokens: int = 0
    output_tokens: int = 0
    cost_usd: Decimal | None = None

    def __add__(self, other: Usage) -> Usage:
        cost = None if self.cost_usd is None or other.cost_usd is None else self.cost_usd + other.cost_usd
        return Usage(
            input_tokens=self.input_tokens + other.input_tokens,
            output_tokens=self.output_tokens + other.output_tokens,
            cost_usd=cost,
        )


@dataclass(frozen=True)
class Completion:
    """One provider round trip: the structured output (JSON text or parsed JSON), usage, reported version."""

    output: str | Mapping[str, Any]
    usage: Usage
    model_version: str


@dataclass(frozen=True)
class ModelResponse(Generic[T]):
    """A validated output and how it was obtained. ``usage`` sums every attempt, including re-asks."""

    output: T
    usage: Usage
    model_id: str
    model_version: str
    raw_text: str
    cached: bool = False
    attempts: int = 1


# Structured task inputs of the request being served (see Model.request's ``context``). A contextvar, not a
# parameter of ``complete``, so adapters and wrappers that never read it need no change.
_REQUEST_CONTEXT: ContextVar[Mapping[str, Any] | None] = ContextVar("agentcrdt_llm_context", default=None)


def request_context() -> Mapping[str, Any] | None:
    """Return the ``context`` of the request being served (None when the caller gave none)."""
    return _REQUEST_CONTEXT.get()


@contextmanager
def using_context(context: Mapping[str, Any] | None) -> Iterator[None]:
    """Serve every request made inside the block with ``context`` (for wrappers without a context kwarg)."""
    token = _REQUEST_CONTEXT.set(context)
    try:
        yield
    finally:
        _REQUEST_CONTEXT.reset(token)


_DATED = re.compile(r"-(\d{4}-\d{2}-\d{2}|\d{8})$")
_MILLION = Decimal(1_000_000)


def cost_usd(
    prices: Mapping[str, tuple[Decimal, Decimal]], model: str, input_tokens: int, output_tokens: int
) -> Decimal | None:
    """Price a call from a per-million-token (input, output) table; None when the model is not in it.

    A dated snapshot (``gpt-4.1-mini-2025-04-14``, ``claude-haiku-4-5-20251001``) is priced as its base name.
    """
    price = prices.get(model) or prices.get(_DATED.sub("", model))
    if price is None:
        return None
    return (price[0] * input_tokens + price[1] * output_tokens) / _MILLION


def schema_name_for(output_type: type[BaseModel]) -> str:
    """Return a name OpenAI (json_schema.name) and Anthropic (tool name) accept: ``[A-Za-z0-9_-]{1,64}``."""
    return re.sub(r"[^A-Za-z0-9_-]", "_", output_type.__name__)[:64] or "output"


def output_schema(output_type: type[BaseModel]) -> dict[str, Any]:
    """Return the JSON schema the model is asked to follow (pydantic's validation-mode schema)."""
    # Generating a schema costs ~0.4 ms per request; a copy of a cached one is far cheaper, and a copy
    # keeps adapters free to rewrite it (strict-mode conversion) without touching the cache.
    return copy.deepcopy(_schema(output_type))


@functools.lru_cache(maxsize=256)
def _schema(output_type: type[BaseModel]) -> dict[str, Any]:
    return output_type.model_json_schema(mode="validation")


def raw_text_of(output: str | Mapping[str, Any]) -> str:
    return output if isinstance(output, str) else json.dumps(output, ensure_ascii=False, sort_keys=True)


def reask_message(error: ValidationError) -> Message:
    """Build the user message that quotes a validation failure back to the model."""
    problems = "\n".join(
        f"- {'.'.join(str(p) for p in err['loc']) or '(root)'}: {err['msg']}"
        for err in error.errors(include_url=False)
    )
    return Message(
        role="user",
        content=(
            "Your previous reply did not validate against the required JSON schema:\n"
            f"{problems}\n"
            "Reply again with only a corrected JSON object that matches the schema."
        ),
    )


class Model(ABC):
    """A language model seen as: messages and an output type in, a validated object out.

    Subclasses implement :meth:`complete` only. ``complete`` raises
    :class:`~agentcrdt.llm.TransientError` for failures worth retrying and
    :class:`~agentcrdt.errors.ModelError` for the rest.
    """

    def __init__(self, model_id: str, *, clock: Clock | None = None) -> None:
        self._model_id = model_id
        self.clock: Clock = clock or SystemClock()

    @property
    def model_id(self) -> str:
        """Stable name with provider prefix, e.g. ``openai:gpt-6-luna``."""
        return self._model_id

    @property
    def pinned_version(self) -> str | None:
        """A version known before calling (part of cache keys); None when only the provider knows it."""
        return None

    async def aclose(self) -> None:
        """Release connections the model opened itself (injected clients belong to the caller)."""
        return None

    async def __aenter__(self) -> Model:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.aclose()

    @abstractmethod
    async def complete(
        self, messages: list[Message], schema: dict[str, Any], schema_name: str, settings: ModelSettings
    ) -> Completion:
        """Make one provider call asking for JSON that matches ``schema``."""

    async def request(
        self,
        messages: Sequence[Message],
        output_type: type[T],
        settings: ModelSettings | None = None,
        *,
        context: Mapping[str, Any] | None = None,
    ) -> ModelResponse[T]:
        """Return a validated ``output_type`` from the model, re-asking on invalid output.

        ``context`` carries the task's inputs in structured form (the same information the messages
        render); ``complete`` reads it with :func:`request_context`. Real adapters ignore it, the offline
        model needs it. It is not part of the response-cache key. Raises
        :class:`~agentcrdt.errors.ModelOutputError` after ``max_validation_retries`` re-asks, and
        :class:`~agentcrdt.errors.ModelError` when the provider fails beyond the retry policy.
        """
        if context is None:
            return await self._request(messages, output_type, settings)
        with using_context(context):
            return await self._request(messages, output_type, settings)

    async def _request(
        self, messages: Sequence[Message], output_type: type[T], settings: ModelSettings | None
    ) -> ModelResponse[T]:
        settings = settings or ModelSettings()
        schema = output_schema(output_type)
        name = schema_name_for(output_type)
        conversation = list(messages)
        usage: Usage | None = None
        attempts = 0
        last_error: ValidationError | None = None
        raw = ""
        for _ in range(settings.max_validation_retries + 1):
            completion, n = await self._complete_with_retries(conversation, schema, name, settings)
            attempts += n
            usage = completion.usage if usage is None else usage + completion.usage
            raw = raw_text_of(completion.output)
            try:
                output = validate_output(output_type, completion.output)
            except ValidationError as e:
                last_error = e
                conversation = [*conversation, Message(role="assistant", content=raw), reask_message(e)]
                continue
            return ModelResponse(
                output=output,
                usage=usage,
                model_id=self.model_id,
                model_version=completion.model_version,
                raw_text=raw,
                attempts=attempts,
            )
        assert last_error is not None
        raise ModelOutputError(
            f"{self.model_id} returned output that failed {output_type.__name__} validation "
            f"{settings.max_validation_retries + 1} time(s); last error: {last_error}",
            validation_error=str(last_error),
            raw_text=raw,
            provider=self.model_id.split(":", 1)[0],
        )

    async def _complete_with_retries(
        self, messages: list[Message], schema: dict[str, Any], schema_name: str, settings: ModelSettings
    ) -> tuple[Completion, int]:
        return await with_retries(
            lambda: self.complete(messages, schema, schema_name, settings),
            max_attempts=settings.max_attempts,
            budget_s=settings.retry_budget_s,
            clock=self.clock,
            retry_after_cap_s=settings.retry_after_cap_s,
        )


def validate_output(output_type: type[T], output: str | Mapping[str, Any]) -> T:
    """Validate a completion's output (JSON text or parsed JSON) as ``output_type``."""
    if isinstance(output, str):
        return output_type.model_validate_json(output)
    return output_type.model_validate(output)
