"""LiteLLM adapter: one route to many providers, notably local servers (Ollama, vLLM) by base URL.

``litellm:ollama/llama3`` → ``litellm.acompletion(model="ollama/llama3", ...)``. litellm takes seconds to
import, so it is imported on first use, with its network side effects turned off first: the remote
model-cost map fetch (``LITELLM_LOCAL_MODEL_COST_MAP``), telemetry, and its own retries.
"""

from __future__ import annotations

import os
import sys
from decimal import Decimal
from typing import Any

import anyio
import anyio.to_thread

from agentcrdt.errors import MissingAPIKey, ModelError
from agentcrdt.llm._retry import Clock, TransientError, classify_status
from agentcrdt.llm.base import Completion, Message, Model, ModelSettings, Usage

__all__ = ["LiteLLMModel", "import_litellm"]

# Hosted routes whose key litellm would read from the environment. Checked at construction so a missing
# key fails before any network traffic; local servers (ollama/, hosted_vllm/, any api_base) need none.
_ROUTE_KEYS = {"openai/": "OPENAI_API_KEY", "anthropic/": "ANTHROPIC_API_KEY", "gpt-": "OPENAI_API_KEY"}


def import_litellm() -> Any:
    """Import litellm with its import-time fetch, telemetry, logging noise and retries disabled."""
    os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")
    os.environ.setdefault("LITELLM_TELEMETRY", "False")
    import litellm

    litellm.telemetry = False
    litellm.suppress_debug_info = True
    litellm.num_retries = 0
    return litellm


class LiteLLMModel(Model):
    """A model reached through litellm; ``api_base`` points it at a local or proxy server."""

    provider = "litellm"

    def __init__(
        self,
        name: str,
        *,
        api_base: str | None = None,
        api_key: str | None = None,
        clock: Clock | None = None,
    ) -> None:
        super().__init__(f"litellm:{name}", clock=clock)
        self.name = name
        self.api_base = api_base
        self.api_key = api_key
        if api_base is None and api_key is None:
            for route, env in _ROUTE_KEYS.items():
                if name.startswith(route) and not os.environ.get(env):
                    raise MissingAPIKey(f"litellm route {route!r}", env)

    async def complete(
        self, messages: list[Message], schema: dict[str, Any], schema_name: str, settings: ModelSettings
    ) -> Completion:
        if "litellm" not in sys.modules:
            # The first import takes seconds: keep the event loop (and other workers' calls) running.
            await anyio.to_thread.run_sync(import_litellm)
        litellm = import_litellm()
        kwargs: dict[str, Any] = {
            "model": self.name,
            "messages": [{"role": m.role, "content": m.content} for m in messages],
            "response_format": {
                "type": "json_schema",
                "json_schema": {"name": schema_name, "schema": schema, "strict": False},
            },
            "timeout": settings.timeout_s,
            "num_retries": 0,
            "max_retries": 0,
        }
        for key, value in (
            ("api_base", self.api_base),
            ("api_key", self.api_key),
            ("temperature", settings.temperature),
            ("max_tokens", settings.max_tokens),
            ("seed", settings.seed),
        ):
            if value is not None:
                kwargs[key] = value
        try:
            response = await litellm.acompletion(**kwargs)
        except (litellm.Timeout, litellm.APIConnectionError) as e:
            raise TransientError(f"litellm: {e}", provider=self.provider) from e
        except litellm.exceptions.APIError as e:
            raise classify_status(e.status_code, str(e), provider=self.provider, headers=_headers(e)) from e
        except Exception as e:
            status = getattr(e, "status_code", None)
            if isinstance(status, int):
                raise classify_status(status, str(e), provider=self.provider, headers=_headers(e)) from e
            raise ModelError(f"litellm: {type(e).__name__}: {e}", provider=self.provider) from e
        return self._completion(litellm, response)

    def _completion(self, litellm: Any, response: Any) -> Completion:
        if not response.choices:
            raise TransientError("litellm: response has no choices", provider=self.provider)
        usage = getattr(response, "usage", None)
        tin = int(getattr(usage, "prompt_tokens", 0) or 0)
        tout = int(getattr(usage, "completion_tokens", 0) or 0)
        cost: Decimal | None
        try:
            cost = Decimal(str(litellm.completion_cost(completion_response=response)))
        except Exception:  # litellm raises when it has no price for the model
            cost = None
        return Completion(
            output=response.choices[0].message.content or "",
            usage=Usage(input_tokens=tin, output_tokens=tout, cost_usd=cost),
            model_version=str(getattr(response, "model", None) or self.name),
        )


def _headers(e: BaseException) -> dict[str, str]:
    headers: dict[str, str] = {}
    response = getattr(e, "response", None)
    if response is not None and getattr(response, "headers", None) is not None:
        headers.update({str(k): str(v) for k, v in response.headers.items()})
    for attr in ("litellm_response_headers", "headers"):
        extra = getattr(e, attr, None)
        if extra:
            headers.update({str(k): str(v) for k, v in dict(extra).items()})
    return headers
