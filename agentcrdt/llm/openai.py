"""OpenAI chat-completions adapter with strict JSON-schema structured output.

Reached through the registry (``openai:<name>``); imports the ``openai`` SDK only when a model is built.
The SDK's own retries are off (``max_retries=0``): :mod:`agentcrdt.llm._retry` owns the policy.

Requests go through the client's generic ``post`` (the SDK's documented route for raw requests: the same
auth, headers, timeout and ``APIStatusError``/``APIConnectionError`` mapping as ``create``) and the JSON
reply is read here. ``chat.completions.create`` costs ~1.2 ms more CPU per call, all on the event loop:
it walks the whole request, schema included, against the SDK's parameter types, then builds a
``ChatCompletion`` model of the reply, of which four fields are read.
"""

from __future__ import annotations

import copy
import functools
import json
from collections.abc import Mapping
from decimal import Decimal
from typing import Any

from agentcrdt.errors import ModelError
from agentcrdt.llm._retry import TransientError, classify_status
from agentcrdt.llm._sdk import SDKModel
from agentcrdt.llm.base import Completion, Message, ModelSettings, Usage, cost_usd

__all__ = ["DEFAULT_MODEL", "PRICES_PER_MTOK", "OpenAIModel", "strict_json_schema"]

# The cheapest current (not marked deprecated) model of the newest family in the installed SDK's
# ``openai.types.ChatModel`` literal (openai 3.57); see docs/models.md.
DEFAULT_MODEL = "gpt-6-luna"
ENV_KEY = "OPENAI_API_KEY"

# USD per million tokens (input, output), copied from litellm 1.110's bundled price table; dated
# snapshots ("gpt-4.1-mini-2025-04-14") are priced as their base name. Unknown models cost None.
PRICES_PER_MTOK: dict[str, tuple[Decimal, Decimal]] = {
    "gpt-6-luna": (Decimal("0.10"), Decimal("0.50")),
    "gpt-6-sol": (Decimal("2.00"), Decimal("10.00")),
    "gpt-5.4-mini": (Decimal("0.75"), Decimal("4.50")),
    "gpt-5.4": (Decimal("2.50"), Decimal("15.00")),
    "gpt-4.1-mini": (Decimal("0.40"), Decimal("1.60")),
    "gpt-4o-mini": (Decimal("0.15"), Decimal("0.60")),
}


def strict_json_schema(schema: Mapping[str, Any]) -> tuple[dict[str, Any], bool]:
    """Return ``schema`` made acceptable to OpenAI's strict mode, and whether strict mode is possible.

    Strict mode needs every object closed (``additionalProperties: false``) with all properties required
    and no ``default``. Optional pydantic fields become required (the model must then write them; their
    types already allow the default). Free-form maps (``dict[str, X]``) cannot be closed: then the schema
    is sent with ``strict: false`` and pydantic validation (with re-asks) does the enforcing.

    The conversion is memoized per schema; the caller gets its own copy, free to change.
    """
    shared, possible = _shared_strict_schema(schema)
    return copy.deepcopy(shared), possible


def _shared_strict_schema(schema: Mapping[str, Any]) -> tuple[dict[str, Any], bool]:
    """Return the memoized strict form of ``schema``: shared between calls, so never to be changed."""
    try:
        key = json.dumps(schema)
    except (TypeError, ValueError):  # not JSON (pydantic's schemas always are): convert without the cache
        return _to_strict(copy.deepcopy(dict(schema)))
    # The key is the exact JSON text, property order included: the order the model writes fields in.
    return _strict_by_json(key)


@functools.lru_cache(maxsize=256)
def _strict_by_json(schema_json: str) -> tuple[dict[str, Any], bool]:
    return _to_strict(json.loads(schema_json))


def _to_strict(out: dict[str, Any]) -> tuple[dict[str, Any], bool]:
    """Rewrite ``out`` in place for strict mode; see :func:`strict_json_schema`."""
    possible = True

    def visit(node: Any) -> None:
        nonlocal possible
        if isinstance(node, list):
            for item in node:
                visit(item)
            return
        if not isinstance(node, dict):
            return
        node.pop("default", None)
        if node.get("type") == "object" or "properties" in node:
            extra = node.get("additionalProperties")
            if isinstance(extra, dict) or extra is True:
                possible = False
            else:
                node["additionalProperties"] = False
                node["required"] = list(node.get("properties", {}))
        for key, value in node.items():
            if key in ("properties", "$defs"):
                for sub in value.values():
                    visit(sub)
            elif isinstance(value, dict | list):
                visit(value)

    defs: dict[str, Any] = out.get("$defs", {})

    def inline_ref_with_siblings(node: dict[str, Any]) -> None:
        # Strict mode rejects "$ref" next to other keywords (pydantic adds "description" there).
        target = defs.get(str(node["$ref"]).rsplit("/", 1)[-1])
        if target is not None:
            del node["$ref"]
            node.update({k: copy.deepcopy(v) for k, v in target.items() if k not in node})

    def walk(node: Any) -> None:
        if isinstance(node, list):
            for item in node:
                walk(item)
        elif isinstance(node, dict):
            if "$ref" in node and len(node) > 1:
                inline_ref_with_siblings(node)
            for value in node.values():
                walk(value)

    walk(out)
    visit(out)
    return out, possible


def _headers(response: Any) -> dict[str, str]:
    return dict(response.headers) if response is not None else {}


class OpenAIModel(SDKModel):
    """An OpenAI chat model; ``client`` (an ``openai.AsyncOpenAI``) may be injected, e.g. for tests."""

    provider = "openai"
    label = "OpenAI"
    env_key = ENV_KEY
    default_name = DEFAULT_MODEL

    def _make_client(self, key: str, base_url: str | None, http_client: Any) -> Any:
        import openai

        return openai.AsyncOpenAI(api_key=key, base_url=base_url, max_retries=0, http_client=http_client)

    async def complete(
        self, messages: list[Message], schema: dict[str, Any], schema_name: str, settings: ModelSettings
    ) -> Completion:
        import openai

        strict_schema, strict = _shared_strict_schema(schema)
        body: dict[str, Any] = {
            "model": self.name,
            "messages": [{"role": m.role, "content": m.content} for m in messages],
            "response_format": {
                "type": "json_schema",
                "json_schema": {"name": schema_name, "schema": strict_schema, "strict": strict},
            },
        }
        if settings.temperature is not None:
            body["temperature"] = settings.temperature
        if settings.max_tokens is not None:
            body["max_completion_tokens"] = settings.max_tokens
        if settings.seed is not None:
            body["seed"] = settings.seed
        try:
            # cast_to=object: the reply's JSON as plain data (see the module docstring).
            reply = await self._client.post(
                "/chat/completions", body=body, cast_to=object, options={"timeout": settings.timeout_s}
            )
        except openai.APIStatusError as e:
            error = e.body if isinstance(e.body, dict) else {}
            message = str(error.get("message") or e.message)
            raise classify_status(
                e.status_code, message, provider=self.provider, headers=_headers(e.response)
            ) from e
        except openai.APIConnectionError as e:  # includes APITimeoutError
            raise TransientError(f"openai: {e}", provider=self.provider) from e
        return self._completion(reply)

    def _completion(self, reply: Any) -> Completion:
        choices = _get(reply, "choices")
        if not isinstance(choices, list) or not choices:
            raise TransientError("openai: response has no choices", provider=self.provider)
        message = _get(choices[0], "message")
        refusal = _get(message, "refusal")
        if refusal:
            raise ModelError(f"openai: the model refused: {refusal}", provider=self.provider)
        version = str(_get(reply, "model") or self.name)
        usage = _get(reply, "usage")
        tin = int(_get(usage, "prompt_tokens") or 0)
        tout = int(_get(usage, "completion_tokens") or 0)
        return Completion(
            output=str(_get(message, "content") or ""),
            usage=Usage(
                input_tokens=tin, output_tokens=tout, cost_usd=cost_usd(PRICES_PER_MTOK, version, tin, tout)
            ),
            model_version=version,
        )


def _get(obj: Any, key: str) -> Any:
    """Read ``key`` of a JSON object; None when ``obj`` is not an object (a malformed reply)."""
    return obj.get(key) if isinstance(obj, dict) else None
