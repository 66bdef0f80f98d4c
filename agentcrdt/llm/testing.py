"""Fakes for tests: real :class:`Model` subclasses, so they go through retries, validation and the cache.

* :class:`ScriptedModel` returns scripted outputs in order (exceptions in the script are raised).
* :class:`FunctionModel` computes each output with a function of the messages and the schema.
* :class:`FakeClock` records retry waits and advances virtual time instead of sleeping.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from pydantic import BaseModel

from agentcrdt.errors import ModelError
from agentcrdt.llm._retry import Clock
from agentcrdt.llm.base import Completion, Message, Model, ModelSettings, Usage

__all__ = ["FakeClock", "FunctionModel", "RecordedRequest", "ScriptedModel", "synthesize"]

ScriptItem = Mapping[str, Any] | BaseModel | str | BaseException
_FREE = Usage(input_tokens=0, output_tokens=0, cost_usd=Decimal(0))


@dataclass(frozen=True)
class RecordedRequest:
    """What a fake model was asked."""

    messages: list[Message]
    schema: dict[str, Any]
    schema_name: str
    settings: ModelSettings


class FakeClock:
    """A virtual clock: ``sleep`` records the wait and advances ``now`` at once."""

    def __init__(self, start: float = 0.0) -> None:
        self.time = start
        self.sleeps: list[float] = []

    def now(self) -> float:
        return self.time

    async def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.time += seconds


def _usage_for(messages: Sequence[Message], text: str) -> Usage:
    # Deterministic stand-in token counts (whitespace words), so usage sums are testable.
    words = sum(len(m.content.split()) for m in messages)
    return Usage(input_tokens=words, output_tokens=len(text.split()), cost_usd=Decimal(0))


class _FakeBase(Model):
    def __init__(self, model_id: str, *, clock: Clock | None = None) -> None:
        super().__init__(model_id, clock=clock)
        self.requests: list[RecordedRequest] = []

    def _record(
        self, messages: list[Message], schema: dict[str, Any], schema_name: str, settings: ModelSettings
    ) -> None:
        self.requests.append(RecordedRequest(list(messages), schema, schema_name, settings))

    @staticmethod
    def _completion(item: Mapping[str, Any] | BaseModel | str, messages: list[Message]) -> Completion:
        output: str | Mapping[str, Any]
        output = item.model_dump(mode="json") if isinstance(item, BaseModel) else item
        text = output if isinstance(output, str) else str(dict(output))
        return Completion(output=output, usage=_usage_for(messages, text), model_version="scripted")


class ScriptedModel(_FakeBase):
    """Return ``outputs`` in order, one per provider call; an exception in the script is raised.

    When the script runs out: with ``synthesize_when_empty`` (the registry's ``"test"`` model) it returns
    a minimal output built from the schema; otherwise it raises :class:`ModelError`.
    """

    def __init__(
        self,
        outputs: Sequence[ScriptItem] = (),
        *,
        model_id: str = "test",
        synthesize_when_empty: bool = False,
        clock: Clock | None = None,
    ) -> None:
        super().__init__(model_id, clock=clock)
        self.outputs: list[ScriptItem] = list(outputs)
        self.synthesize_when_empty = synthesize_when_empty

    def push(self, *items: ScriptItem) -> None:
        """Append outputs to the script."""
        self.outputs.extend(items)

    async def complete(
        self, messages: list[Message], schema: dict[str, Any], schema_name: str, settings: ModelSettings
    ) -> Completion:
        self._record(messages, schema, schema_name, settings)
        if not self.outputs:
            if self.synthesize_when_empty:
                return self._completion(synthesize(schema), messages)
            raise ModelError(
                f"ScriptedModel script exhausted after {len(self.requests) - 1} call(s); push more outputs",
                provider="test",
            )
        item = self.outputs.pop(0)
        if isinstance(item, BaseException):
            raise item
        return self._completion(item, messages)


class FunctionModel(_FakeBase):
    """Compute each output as ``fn(messages, schema)`` (a dict, a pydantic object or JSON text)."""

    def __init__(
        self,
        fn: Callable[[list[Message], dict[str, Any]], Mapping[str, Any] | BaseModel | str],
        *,
        model_id: str = "function",
        clock: Clock | None = None,
    ) -> None:
        super().__init__(model_id, clock=clock)
        self.fn = fn

    async def complete(
        self, messages: list[Message], schema: dict[str, Any], schema_name: str, settings: ModelSettings
    ) -> Completion:
        self._record(messages, schema, schema_name, settings)
        return self._completion(self.fn(messages, schema), messages)


def synthesize(schema: Mapping[str, Any]) -> Any:
    """Return a minimal value satisfying common JSON-schema constraints (types, enums, refs, min sizes)."""
    return _synth(schema, schema.get("$defs", {}), depth=0)


def _synth(node: Mapping[str, Any], defs: Mapping[str, Any], depth: int) -> Any:
    if depth > 16:
        return None
    if "$ref" in node:
        return _synth(defs[str(node["$ref"]).rsplit("/", 1)[-1]], defs, depth + 1)
    if "const" in node:
        return node["const"]
    if "enum" in node:
        return node["enum"][0]
    if "default" in node:
        return node["default"]
    for key in ("anyOf", "oneOf", "allOf"):
        if key in node:
            options = [o for o in node[key] if o.get("type") != "null"] or node[key]
            return _synth(options[0], defs, depth + 1)
    kind = node.get("type", "object")
    if isinstance(kind, list):
        kind = next((k for k in kind if k != "null"), "null")
    if kind == "object":
        props: Mapping[str, Any] = node.get("properties", {})
        required = node.get("required", list(props))
        return {k: _synth(props[k], defs, depth + 1) for k in required if k in props}
    if kind == "array":
        return [_synth(node.get("items", {}), defs, depth + 1) for _ in range(node.get("minItems", 0))]
    if kind == "string":
        return "x" * int(node.get("minLength", 1))
    if kind in ("integer", "number"):
        low = node.get("minimum", node.get("exclusiveMinimum", -1) + 1)
        return int(low) if kind == "integer" else float(low)
    if kind == "boolean":
        return False
    return None
