"""The response cache: hits skip the model, only validated responses are stored, replay is strict."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st
from pydantic import BaseModel

from agentcrdt.errors import ModelError, ModelOutputError, UsageError
from agentcrdt.llm import CachedModel, Message, ModelSettings, ResponseCache, TransientError, cache_key
from agentcrdt.llm.testing import FakeClock, ScriptedModel
from tests.llm._fakes import BAD, GOOD, Verdict

pytestmark = pytest.mark.anyio
ASK = [Message(role="user", content="Is it so?")]


async def test_hit_returns_identical_output_without_calling_the_model(tmp_path: Path) -> None:
    inner = ScriptedModel([GOOD])  # one output: a second call would exhaust the script
    with ResponseCache(tmp_path / "llm.db") as cache:
        model = CachedModel(inner, cache)
        first = await model.request(ASK, Verdict)
        second = await model.request(ASK, Verdict)
        assert second.output == first.output
        assert second.raw_text == first.raw_text
        assert second.usage == first.usage  # the recorded usage: a replayed run reproduces provenance
        assert (first.cached, second.cached) == (False, True)
        assert second.attempts == 0
        assert len(inner.requests) == 1
        assert (cache.stats.hits, cache.stats.misses, cache.stats.writes) == (1, 1, 1)


async def test_cache_survives_reopen(tmp_path: Path) -> None:
    with ResponseCache(tmp_path / "llm.db") as cache:
        await CachedModel(ScriptedModel([GOOD]), cache).request(ASK, Verdict)
    with ResponseCache(tmp_path / "llm.db", mode="replay") as cache:
        replayed = await CachedModel(ScriptedModel([]), cache).request(ASK, Verdict)
    assert replayed.cached and replayed.output == Verdict.model_validate(GOOD)


async def test_errors_are_not_cached() -> None:
    inner = ScriptedModel([ModelError("denied", status=403), GOOD], clock=FakeClock())
    with ResponseCache() as cache:
        model = CachedModel(inner, cache)
        with pytest.raises(ModelError):
            await model.request(ASK, Verdict)
        assert len(cache) == 0
        assert not (await model.request(ASK, Verdict)).cached
        assert len(inner.requests) == 2


async def test_invalid_outputs_are_not_cached() -> None:
    inner = ScriptedModel([BAD, BAD, BAD, GOOD])
    with ResponseCache() as cache:
        model = CachedModel(inner, cache)
        with pytest.raises(ModelOutputError):
            await model.request(ASK, Verdict)
        assert len(cache) == 0
        assert (await model.request(ASK, Verdict)).output.label == "yes"
        assert len(cache) == 1


async def test_exhausted_retries_are_not_cached() -> None:
    inner = ScriptedModel([TransientError("503"), TransientError("503")], clock=FakeClock())
    with ResponseCache() as cache:
        with pytest.raises(ModelError):
            await CachedModel(inner, cache).request(ASK, Verdict, ModelSettings(max_attempts=2))
        assert len(cache) == 0


async def test_replay_miss_raises_and_never_calls_the_model() -> None:
    inner = ScriptedModel([GOOD])
    with ResponseCache(mode="replay") as cache, pytest.raises(ModelError, match="no recorded response"):
        await CachedModel(inner, cache).request(ASK, Verdict)
    assert inner.requests == []


async def test_record_mode_always_calls_and_overwrites() -> None:
    inner = ScriptedModel([GOOD, {"label": "no", "confidence": 0.2}])
    with ResponseCache(mode="record") as cache:
        model = CachedModel(inner, cache)
        await model.request(ASK, Verdict)
        second = await model.request(ASK, Verdict)
        assert not second.cached and len(inner.requests) == 2 and len(cache) == 1
        cache.mode = "replay"
        assert (await model.request(ASK, Verdict)).output.label == "no"


def test_unknown_mode_is_a_usage_error() -> None:
    with pytest.raises(UsageError, match="read_write"):
        ResponseCache(mode="sometimes")  # type: ignore[arg-type]


class Other(BaseModel):
    label: str


_messages = st.lists(
    st.builds(Message, role=st.sampled_from(["system", "user", "assistant"]), content=st.text(max_size=20)),
    max_size=3,
)
_settings = st.builds(
    ModelSettings,
    temperature=st.none() | st.floats(0, 2, allow_nan=False),
    max_tokens=st.none() | st.integers(1, 10_000),
    seed=st.none() | st.integers(0, 2**40),
)
_request = st.tuples(
    st.sampled_from(["openai:a", "anthropic:b", "test"]),
    st.none() | st.sampled_from(["v1", "v2"]),
    _messages,
    st.sampled_from([Verdict, Other]),
    _settings,
)


def _key(req: tuple[str, str | None, list[Message], type[BaseModel], ModelSettings]) -> str:
    model_id, version, messages, output_type, settings = req
    return cache_key(
        model_id, version, messages, output_type.model_json_schema(), output_type.__name__, settings
    )


def _output_part(req: tuple[Any, ...]) -> tuple[Any, ...]:
    model_id, version, messages, output_type, settings = req
    return (model_id, version, messages, output_type, settings.output_affecting())


@given(_request, _request)
def test_key_changes_exactly_when_an_output_affecting_part_changes(a: Any, b: Any) -> None:
    assert (_key(a) == _key(b)) == (_output_part(a) == _output_part(b))


@given(_request, st.floats(0.1, 600), st.integers(0, 5))
def test_key_ignores_transport_settings(req: Any, timeout: float, retries: int) -> None:
    model_id, version, messages, output_type, settings = req
    other = settings.model_copy(update={"timeout_s": timeout, "max_validation_retries": retries})
    assert _key(req) == _key((model_id, version, messages, output_type, other))


def test_key_format_is_pinned() -> None:
    # Golden values: changing the key format silently would orphan every recorded cache.
    hi = [Message(role="user", content="hi")]
    assert (
        cache_key("test", None, hi, {"type": "object"}, "X", ModelSettings())
        == "sha256:f71f26a3ed00c55e39166fe772b9be3c0d0ba7ef5446f5208aa38ac9fc840769"
    )
    # Floats in the schema and the settings are encoded as strings (the canonical codec rejects floats).
    assert (
        cache_key("test", None, hi, {"type": "object", "minimum": 0.5}, "X", ModelSettings(temperature=0.7))
        == "sha256:027d4c1fe7550fb4669e82c1afe8ae3550c056e71b6a17beb9d49710b15dd47a"
    )
