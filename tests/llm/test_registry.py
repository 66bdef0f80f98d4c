"""Model strings, API keys, lazy SDK imports and the default model names."""

from __future__ import annotations

import subprocess
import sys
import typing
from pathlib import Path

import pytest

from agentcrdt.errors import MissingAPIKey, UsageError
from agentcrdt.llm import Model, get_model, known_providers, register_provider
from agentcrdt.llm.testing import ScriptedModel
from tests.llm._fakes import Verdict

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.parametrize(
    ("spec", "env_var"),
    [
        ("openai:gpt-6-luna", "OPENAI_API_KEY"),
        ("anthropic", "ANTHROPIC_API_KEY"),
        ("litellm:openai/x", "OPENAI_API_KEY"),
    ],
)
def test_missing_key_names_the_variable_and_the_offline_alternative(
    spec: str, env_var: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv(env_var, raising=False)
    with pytest.raises(MissingAPIKey) as info:
        get_model(spec)
    assert env_var in str(info.value)
    assert "offline" in str(info.value)
    assert info.value.env_var == env_var
    assert isinstance(info.value, UsageError)


def test_key_from_environment_builds_the_model(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", "sk-test")
    monkeypatch.setenv("ANTHROPIC_API_KEY", "sk-ant-test")
    assert get_model("openai:gpt-6-luna").model_id == "openai:gpt-6-luna"
    assert get_model("anthropic:claude-haiku-5-5").model_id == "anthropic:claude-haiku-5-5"


def test_local_litellm_routes_need_no_key(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    assert get_model("litellm:ollama/llama3").model_id == "litellm:ollama/llama3"


def test_unknown_prefix_lists_the_known_ones() -> None:
    with pytest.raises(UsageError) as info:
        get_model("gemini:pro")
    for prefix in ("openai", "anthropic", "litellm", "test"):
        assert prefix in str(info.value)


@pytest.mark.anyio
async def test_test_model_is_registered_and_usable() -> None:
    model = get_model("test")
    assert isinstance(model, ScriptedModel) and model.model_id == "test"
    assert (await model.request([], Verdict)).output.label == "yes"


def test_register_provider_for_offline() -> None:
    made: list[str] = []

    def factory(name: str) -> Model:
        made.append(name)
        return ScriptedModel(model_id="offline")

    register_provider("offline-test", factory)
    try:
        assert get_model("offline-test").model_id == "offline"
        get_model("offline-test:v2")
        assert made == ["", "v2"]
        assert "offline-test" in known_providers()
        with pytest.raises(UsageError, match="already registered"):
            register_provider("offline-test", factory)
        register_provider("offline-test", factory, replace=True)
    finally:
        from agentcrdt.llm import registry

        registry._PROVIDERS.pop("offline-test")


def test_importing_the_package_imports_no_sdk() -> None:
    code = (
        "import sys, agentcrdt.llm, agentcrdt.llm.registry, agentcrdt.llm.testing, agentcrdt.llm.cache;"
        "heavy = [m for m in ('openai', 'anthropic', 'litellm', 'httpx2') if m in sys.modules];"
        "print(','.join(heavy))"
    )
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True)
    assert out.stdout.strip() == ""


def test_default_openai_model_is_current_and_listed_by_the_sdk() -> None:
    import openai.types
    import openai.types.shared.chat_model as chat_model

    from agentcrdt.llm.openai import DEFAULT_MODEL, PRICES_PER_MTOK

    assert DEFAULT_MODEL in typing.get_args(openai.types.ChatModel)
    # The SDK lists deprecated names in the docstring under its ChatModel literal.
    deprecated_notes = Path(chat_model.__file__).read_text().split('"""Deprecated values:', 1)[1]
    assert f'"{DEFAULT_MODEL}"' not in deprecated_notes
    assert DEFAULT_MODEL in PRICES_PER_MTOK


def test_default_anthropic_model_is_current_and_listed_by_the_sdk() -> None:
    import anthropic.types
    from anthropic._data.deprecated_models import DEPRECATED_MODELS

    from agentcrdt.llm.anthropic import DEFAULT_MODEL, PRICES_PER_MTOK

    literal = typing.get_args(anthropic.types.Model)[0]
    assert DEFAULT_MODEL in typing.get_args(literal)
    assert DEFAULT_MODEL not in DEPRECATED_MODELS
    assert DEFAULT_MODEL in PRICES_PER_MTOK
