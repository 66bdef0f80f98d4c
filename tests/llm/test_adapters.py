"""Each adapter against a fake server speaking its provider's wire format (real socket and mock transport)."""

from __future__ import annotations

import json
from decimal import Decimal

import pytest
from pydantic import BaseModel, Field

from agentcrdt.errors import ModelError, ModelOutputError
from agentcrdt.llm import Message, ModelSettings
from tests.llm._fakes import BAD, GOOD, Hang, Harness, Reply, Verdict

pytestmark = pytest.mark.anyio

MESSAGES = [
    Message(role="system", content="You judge claims."),
    Message(role="user", content="Is the sky blue?"),
]
FAST = ModelSettings(timeout_s=2.0)


async def test_success_reports_usage_cost_and_version(harness: Harness) -> None:
    harness.script.push(harness.kit.ok(GOOD))
    response = await harness.model.request(MESSAGES, Verdict, FAST)

    assert response.output == Verdict(label="yes", confidence=0.9)
    assert response.usage.input_tokens == 1000
    assert response.usage.output_tokens == 500
    assert response.usage.cost_usd is not None
    assert response.usage.cost_usd.quantize(Decimal("0.0000001")) == Decimal(harness.kit.expected_cost)
    assert response.model_version.endswith(("2025-04-14", "20251001"))
    assert response.model_id.startswith(f"{harness.kit.provider}:")
    assert response.attempts == 1 and not response.cached
    (sent,) = harness.script.requests
    assert sent.path == harness.kit.path  # litellm really sent to our api_base


async def test_request_carries_the_schema(harness: Harness) -> None:
    harness.script.push(harness.kit.ok(GOOD))
    await harness.model.request(MESSAGES, Verdict, FAST)
    body = harness.script.requests[0].body
    if harness.kit.provider == "anthropic":
        assert body["system"] == "You judge claims."
        assert [m["role"] for m in body["messages"]] == ["user"]
        assert body["tool_choice"] == {"type": "tool", "name": "Verdict"}
        assert body["tools"][0]["input_schema"]["properties"]["label"]["enum"] == ["yes", "no"]
    else:
        fmt = body["response_format"]
        assert fmt["type"] == "json_schema"
        assert fmt["json_schema"]["name"] == "Verdict"
        assert fmt["json_schema"]["schema"]["properties"]["label"]["enum"] == ["yes", "no"]
        assert body["messages"][0] == {"role": "system", "content": "You judge claims."}
    if harness.kit.provider == "openai":
        schema = body["response_format"]["json_schema"]
        assert schema["strict"] is True
        assert schema["schema"]["additionalProperties"] is False
        assert sorted(schema["schema"]["required"]) == ["confidence", "label"]


async def test_429_honours_retry_after_then_succeeds(harness: Harness) -> None:
    harness.script.push(harness.kit.error(429, "slow down", {"retry-after": "7"}), harness.kit.ok(GOOD))
    response = await harness.model.request(MESSAGES, Verdict, FAST)
    assert response.output.label == "yes"
    assert response.attempts == 2
    assert harness.clock.sleeps == [7.0]


async def test_500_then_success_backs_off(harness: Harness) -> None:
    harness.script.push(harness.kit.error(500, "boom"), harness.kit.ok(GOOD))
    response = await harness.model.request(MESSAGES, Verdict, FAST)
    assert response.attempts == 2
    (wait,) = harness.clock.sleeps
    assert 0 <= wait <= 0.5  # first backoff step, full jitter


async def test_timeout_then_success(harness: Harness) -> None:
    harness.script.push(Hang(), harness.kit.ok(GOOD))
    response = await harness.model.request(MESSAGES, Verdict, ModelSettings(timeout_s=0.3))
    assert response.output.label == "yes"
    assert response.attempts == 2
    assert len(harness.script.requests) == 2


async def test_401_fails_at_once_with_provider_message(harness: Harness) -> None:
    harness.script.push(harness.kit.error(401, "Incorrect API key provided: sk-test"), harness.kit.ok(GOOD))
    with pytest.raises(ModelError) as info:
        await harness.model.request(MESSAGES, Verdict, FAST)
    assert info.value.status == 401
    assert "Incorrect API key provided" in str(info.value)
    assert len(harness.script.requests) == 1
    assert harness.clock.sleeps == []


async def test_invalid_output_is_reasked_with_the_validation_error(harness: Harness) -> None:
    harness.script.push(harness.kit.ok(BAD), harness.kit.ok(GOOD))
    response = await harness.model.request(MESSAGES, Verdict, FAST)
    assert response.output == Verdict(label="yes", confidence=0.9)
    assert response.attempts == 2
    assert response.usage.input_tokens == 2000  # both rounds are paid for
    retry_messages = harness.script.requests[1].body["messages"]
    assert retry_messages[-2]["role"] == "assistant"
    assert "maybe" in retry_messages[-2]["content"]
    reask = retry_messages[-1]
    assert reask["role"] == "user"
    assert "label: Input should be 'yes' or 'no'" in reask["content"]
    assert "confidence: Input should be less than or equal to 1" in reask["content"]


async def test_always_invalid_raises_after_bounded_reasks(harness: Harness) -> None:
    harness.script.push(harness.kit.ok(BAD))  # the last reply repeats
    with pytest.raises(ModelOutputError) as info:
        await harness.model.request(MESSAGES, Verdict, ModelSettings(timeout_s=2.0, max_validation_retries=2))
    assert len(harness.script.requests) == 3
    assert "label" in info.value.validation_error


async def test_exhausted_retry_budget_raises_model_error(harness: Harness) -> None:
    harness.script.push(harness.kit.error(503, "overloaded", {"retry-after": "30"}))
    settings = ModelSettings(timeout_s=2.0, max_attempts=10, retry_budget_s=50)
    with pytest.raises(ModelError) as info:
        await harness.model.request(MESSAGES, Verdict, settings)
    assert info.value.status == 503
    assert "after 2 attempt(s)" in str(info.value)
    assert harness.clock.sleeps == [30.0]  # a second 30 s wait would overrun the 50 s budget
    assert len(harness.script.requests) == 2


@pytest.mark.parametrize("provider", ["openai", "anthropic"])
async def test_connection_refused_is_retried_then_fails(provider: str) -> None:
    import socket

    from agentcrdt.llm.anthropic import AnthropicModel
    from agentcrdt.llm.openai import OpenAIModel
    from agentcrdt.llm.testing import FakeClock

    with socket.socket() as probe:  # a port that was free a moment ago: nothing listens there
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    clock = FakeClock()
    url = f"http://127.0.0.1:{port}"
    model = (
        OpenAIModel("gpt-4.1-mini", api_key="k", base_url=url + "/v1", clock=clock)
        if provider == "openai"
        else AnthropicModel("claude-haiku-4-5", api_key="k", base_url=url, clock=clock)
    )
    async with model:
        with pytest.raises(ModelError, match="after 3 attempt"):
            await model.request(MESSAGES, Verdict, ModelSettings(max_attempts=3))
    assert len(clock.sleeps) == 2


class Tagged(BaseModel):
    """Optional fields, a nested model with a description, and a free-form map."""

    verdict: Verdict = Field(description="the verdict")
    note: str | None = None


class WithMap(BaseModel):
    scores: dict[str, int]


def test_openai_strict_schema_closes_objects_and_requires_everything() -> None:
    from agentcrdt.llm.openai import strict_json_schema

    schema, strict = strict_json_schema(Tagged.model_json_schema())
    assert strict
    assert schema["additionalProperties"] is False
    assert sorted(schema["required"]) == ["note", "verdict"]
    assert "default" not in schema["properties"]["note"]
    verdict = schema["properties"]["verdict"]
    assert "$ref" not in verdict and verdict["description"] == "the verdict"  # $ref with siblings inlined
    assert verdict["additionalProperties"] is False
    assert schema["$defs"]["Verdict"]["additionalProperties"] is False
    # Valid strict output still validates as the original type.
    assert Tagged.model_validate({"verdict": GOOD, "note": None}).note is None


def test_openai_schema_with_a_free_form_map_falls_back_to_non_strict() -> None:
    from agentcrdt.llm.openai import strict_json_schema

    _, strict = strict_json_schema(WithMap.model_json_schema())
    assert not strict


def test_openai_strict_schema_is_memoized_without_sharing_mutations() -> None:
    from agentcrdt.llm.openai import strict_json_schema

    source = Tagged.model_json_schema()
    pristine = json.loads(json.dumps(source))
    first, strict = strict_json_schema(source)
    first["properties"]["verdict"]["required"].append("injected")
    first["additionalProperties"] = True
    second, strict_again = strict_json_schema(source)
    assert (strict, strict_again) == (True, True)
    assert second == strict_json_schema(pristine)[0]
    assert second["additionalProperties"] is False
    assert "injected" not in second["properties"]["verdict"]["required"]
    assert source == pristine  # the input is never rewritten
    assert list(second["properties"]) == list(source["properties"])  # field order is the model's order


def test_openai_strict_schema_keys_on_property_order() -> None:
    from agentcrdt.llm.openai import strict_json_schema

    schema = Verdict.model_json_schema()
    flipped = {**schema, "properties": dict(reversed(list(schema["properties"].items())))}
    assert list(strict_json_schema(schema)[0]["required"]) == ["label", "confidence"]
    assert list(strict_json_schema(flipped)[0]["required"]) == ["confidence", "label"]


async def test_openai_sends_only_the_settings_given(openai_harness: Harness) -> None:
    h = openai_harness
    h.script.push(h.kit.ok(GOOD))
    await h.model.request(MESSAGES, Verdict, ModelSettings(temperature=0.0, max_tokens=50, seed=7))
    await h.model.request(MESSAGES, Verdict, FAST)
    tuned, plain = (r.body for r in h.script.requests)
    assert (tuned["temperature"], tuned["max_completion_tokens"], tuned["seed"]) == (0.0, 50, 7)
    assert sorted(plain) == ["messages", "model", "response_format"]
    assert plain["model"] == "gpt-4.1-mini"


async def test_openai_refusal_is_a_model_error_without_retry(openai_harness: Harness) -> None:
    h = openai_harness
    reply = h.kit.ok(GOOD)
    reply.body["choices"][0]["message"] = {"role": "assistant", "content": None, "refusal": "I can't"}
    h.script.push(reply, h.kit.ok(GOOD))
    with pytest.raises(ModelError, match="refused: I can't"):
        await h.model.request(MESSAGES, Verdict, FAST)
    assert len(h.script.requests) == 1


async def test_openai_reply_without_choices_is_retried(openai_harness: Harness) -> None:
    h = openai_harness
    empty = h.kit.ok(GOOD)
    empty.body["choices"] = []
    h.script.push(empty, Reply(200, ["not", "a", "completion"]), h.kit.ok(GOOD))
    response = await h.model.request(MESSAGES, Verdict, FAST)
    assert response.output == Verdict(label="yes", confidence=0.9)
    assert response.attempts == 3


async def test_openai_reply_without_usage_counts_zero_tokens(openai_harness: Harness) -> None:
    h = openai_harness
    reply = h.kit.ok(GOOD)
    del reply.body["usage"]
    h.script.push(reply)
    response = await h.model.request(MESSAGES, Verdict, FAST)
    assert (response.usage.input_tokens, response.usage.output_tokens) == (0, 0)
    assert response.usage.cost_usd == 0


def test_every_task_output_is_a_strict_openai_schema() -> None:
    # Real models answer every task through structured outputs; a task whose output cannot be strict
    # (a free-form map) would silently lose its schema guarantee on OpenAI.
    from agentcrdt.llm.openai import strict_json_schema
    from agentcrdt.llm.tasks import TASKS

    for name, (output_type, _) in TASKS.items():
        schema, strict = strict_json_schema(output_type.model_json_schema())
        assert strict, name
        assert schema["additionalProperties"] is False, name
