"""Model.request over the fakes: validation, bounded re-asks, usage sums, and the fakes themselves."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest
from pydantic import BaseModel, Field

from agentcrdt.errors import ModelError, ModelOutputError
from agentcrdt.llm import Message, ModelSettings, Usage
from agentcrdt.llm.base import cost_usd, schema_name_for
from agentcrdt.llm.testing import FunctionModel, ScriptedModel, synthesize
from tests.llm._fakes import BAD, GOOD, Verdict

pytestmark = pytest.mark.anyio
ASK = [Message(role="user", content="Is it so?")]


async def test_scripted_outputs_in_order_and_requests_recorded() -> None:
    model = ScriptedModel([GOOD, Verdict(label="no", confidence=0.1), '{"label": "yes", "confidence": 0}'])
    outputs = [(await model.request(ASK, Verdict)).output for _ in range(3)]
    assert [o.label for o in outputs] == ["yes", "no", "yes"]
    assert len(model.requests) == 3
    assert model.requests[0].schema_name == "Verdict"
    assert model.requests[0].messages == ASK


async def test_exhausted_script_is_a_model_error() -> None:
    with pytest.raises(ModelError, match="script exhausted"):
        await ScriptedModel([]).request(ASK, Verdict)


async def test_reask_quotes_the_error_and_keeps_the_bad_answer() -> None:
    model = ScriptedModel([BAD, "not json at all", GOOD])
    response = await model.request(ASK, Verdict)
    assert response.output.label == "yes"
    assert response.attempts == 3
    second, third = model.requests[1].messages, model.requests[2].messages
    assert second[:1] == ASK
    assert second[1].role == "assistant" and '"maybe"' in second[1].content
    assert second[2].role == "user" and "label: Input should be 'yes' or 'no'" in second[2].content
    assert third[3].content == "not json at all"
    assert "Invalid JSON" in third[4].content


async def test_never_returns_garbage() -> None:
    model = ScriptedModel([BAD, BAD, BAD, GOOD])
    with pytest.raises(ModelOutputError) as info:
        await model.request(ASK, Verdict, ModelSettings(max_validation_retries=2))
    assert len(model.requests) == 3
    assert "confidence" in info.value.validation_error
    assert '"maybe"' in info.value.raw_text
    assert model.outputs == [GOOD]  # the good answer was never reached


async def test_zero_reasks_allowed() -> None:
    model = ScriptedModel([BAD, GOOD])
    with pytest.raises(ModelOutputError):
        await model.request(ASK, Verdict, ModelSettings(max_validation_retries=0))
    assert len(model.requests) == 1


async def test_function_model_sees_messages_and_schema() -> None:
    def answer(messages: list[Message], schema: dict[str, Any]) -> dict[str, Any]:
        assert schema["properties"]["label"]["enum"] == ["yes", "no"]
        return {"label": "yes" if "sky" in messages[-1].content else "no", "confidence": 1}

    model = FunctionModel(answer)
    assert (await model.request([Message(role="user", content="sky?")], Verdict)).output.label == "yes"
    assert (await model.request(ASK, Verdict)).output.label == "no"
    assert model.model_id == "function"


def test_usage_adds_and_unknown_cost_poisons() -> None:
    a = Usage(input_tokens=1, output_tokens=2, cost_usd=Decimal("0.1"))
    b = Usage(input_tokens=3, output_tokens=4, cost_usd=Decimal("0.2"))
    assert a + b == Usage(input_tokens=4, output_tokens=6, cost_usd=Decimal("0.3"))
    assert (a + Usage(input_tokens=1)).cost_usd is None


def test_cost_table_handles_dated_snapshots_and_unknowns() -> None:
    prices = {"m": (Decimal("1"), Decimal("2"))}
    assert cost_usd(prices, "m-2025-04-14", 1_000_000, 500_000) == Decimal("2")
    assert cost_usd(prices, "m-20251001", 0, 1_000_000) == Decimal("2")
    assert cost_usd(prices, "other", 1, 1) is None


def test_schema_names_are_provider_safe() -> None:
    class Wrapped(BaseModel):
        x: int

    Wrapped.__name__ = "Page[Item]"
    assert schema_name_for(Wrapped) == "Page_Item_"


class Nested(BaseModel):
    name: str = Field(min_length=3)
    count: int = Field(ge=2)
    tags: list[str] = Field(min_length=1)
    inner: Verdict
    maybe: Verdict | None = None


async def test_test_model_synthesizes_schema_valid_outputs() -> None:
    model = ScriptedModel(synthesize_when_empty=True)
    response = await model.request(ASK, Nested)
    assert response.output.name == "xxx" and response.output.count == 2 and response.output.tags == ["x"]
    assert response.output.inner.label == "yes"
    assert Nested.model_validate(synthesize(Nested.model_json_schema()))
