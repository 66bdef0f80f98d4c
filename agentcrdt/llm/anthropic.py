"""Anthropic Messages adapter: structured output by forcing one tool whose input schema is the output type.

Reached through the registry (``anthropic:<name>``); imports the ``anthropic`` SDK only when a model is
built. The SDK's own retries are off (``max_retries=0``): :mod:`agentcrdt.llm._retry` owns the policy.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from agentcrdt.llm._retry import TransientError, classify_status
from agentcrdt.llm._sdk import SDKModel
from agentcrdt.llm.base import Completion, Message, ModelSettings, Usage, cost_usd

__all__ = ["DEFAULT_MAX_TOKENS", "DEFAULT_MODEL", "PRICES_PER_MTOK", "AnthropicModel"]

# The newest Haiku (the small tier) in the installed SDK's ``anthropic.types.Model`` literal
# (anthropic 2.14), absent from its DEPRECATED_MODELS table; see docs/models.md.
DEFAULT_MODEL = "claude-haiku-5-5"
ENV_KEY = "ANTHROPIC_API_KEY"
# The Messages API requires max_tokens; structured outputs are small.
DEFAULT_MAX_TOKENS = 4096

# USD per million tokens (input, output), copied from litellm 1.110's bundled price table.
PRICES_PER_MTOK: dict[str, tuple[Decimal, Decimal]] = {
    "claude-haiku-5-5": (Decimal("0.10"), Decimal("0.50")),
    "claude-haiku-4-5": (Decimal("1.00"), Decimal("5.00")),
    "claude-sonnet-5-5": (Decimal("2.00"), Decimal("10.00")),
    "claude-sonnet-5": (Decimal("2.00"), Decimal("10.00")),
    "claude-sonnet-4-5": (Decimal("3.00"), Decimal("15.00")),
}


class AnthropicModel(SDKModel):
    """An Anthropic model; ``client`` (an ``anthropic.AsyncAnthropic``) may be injected, e.g. for tests."""

    provider = "anthropic"
    label = "Anthropic"
    env_key = ENV_KEY
    default_name = DEFAULT_MODEL

    def _make_client(self, key: str, base_url: str | None, http_client: Any) -> Any:
        import anthropic

        return anthropic.AsyncAnthropic(
            api_key=key, base_url=base_url, max_retries=0, http_client=http_client
        )

    async def complete(
        self, messages: list[Message], schema: dict[str, Any], schema_name: str, settings: ModelSettings
    ) -> Completion:
        import anthropic

        system = "\n\n".join(m.content for m in messages if m.role == "system")
        kwargs: dict[str, Any] = {
            "model": self.name,
            "messages": [{"role": m.role, "content": m.content} for m in messages if m.role != "system"],
            "max_tokens": settings.max_tokens or DEFAULT_MAX_TOKENS,
            "tools": [
                {
                    "name": schema_name,
                    "description": f"Record the answer as a {schema_name} object.",
                    "input_schema": schema,
                }
            ],
            "tool_choice": {"type": "tool", "name": schema_name},
            "timeout": settings.timeout_s,
        }
        if system:
            kwargs["system"] = system
        if settings.temperature is not None:
            kwargs["temperature"] = settings.temperature
        try:
            response = await self._client.messages.create(**kwargs)
        except anthropic.APIStatusError as e:
            message = e.api_message or e.message
            raise classify_status(
                e.status_code, message, provider=self.provider, headers=dict(e.response.headers)
            ) from e
        except anthropic.APIConnectionError as e:  # includes APITimeoutError
            raise TransientError(f"anthropic: {e}", provider=self.provider) from e
        return self._completion(response, schema_name)

    def _completion(self, response: Any, schema_name: str) -> Completion:
        output: str | dict[str, Any] = ""
        texts: list[str] = []
        for block in response.content:
            if block.type == "tool_use" and block.name == schema_name:
                output = dict(block.input)
                break
            if block.type == "text":
                texts.append(block.text)
        else:
            # No tool call: hand the text to validation, which fails and re-asks with the error.
            output = "".join(texts)
        version = str(response.model or self.name)
        tin, tout = int(response.usage.input_tokens), int(response.usage.output_tokens)
        return Completion(
            output=output,
            usage=Usage(
                input_tokens=tin, output_tokens=tout, cost_usd=cost_usd(PRICES_PER_MTOK, version, tin, tout)
            ),
            model_version=version,
        )
