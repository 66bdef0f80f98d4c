"""Models by name: ``"openai:gpt-6-luna"``, ``"anthropic:claude-haiku-5-5"``, ``"litellm:ollama/llama3"``,
``"test"``, ``"offline"``.

A model string is ``prefix[:name]``. Each prefix maps to a factory that receives the name (``""`` when
omitted, meaning the provider's default). Provider SDKs are imported only inside the factory, so importing
this module (and ``agentcrdt.llm``) stays fast. Other packages add prefixes with :func:`register_provider`
(the offline model registers ``"offline"``).
"""

from __future__ import annotations

import importlib
from collections.abc import Callable

from agentcrdt.errors import UsageError
from agentcrdt.llm.base import Model

__all__ = ["ModelFactory", "get_model", "known_providers", "register_provider"]

ModelFactory = Callable[[str], Model]

_PROVIDERS: dict[str, ModelFactory] = {}
# Providers defined in modules of this package that register themselves on import; imported on first use
# so that ``get_model("offline")`` works without the caller importing the module first.
_SELF_REGISTERING = {"offline": "agentcrdt.llm.offline"}


def register_provider(prefix: str, factory: ModelFactory, *, replace: bool = False) -> None:
    """Make ``get_model(f"{prefix}:name")`` (and bare ``prefix``) call ``factory(name)``."""
    if not prefix or ":" in prefix:
        raise UsageError(f"provider prefix {prefix!r} must be non-empty and contain no ':'")
    if prefix in _PROVIDERS and not replace:
        raise UsageError(f"provider {prefix!r} is already registered; pass replace=True to override it")
    _PROVIDERS[prefix] = factory


def known_providers() -> list[str]:
    """Return the registered prefixes, sorted."""
    return sorted(_PROVIDERS)


def get_model(spec: str) -> Model:
    """Build the model named by ``spec`` (``prefix`` or ``prefix:name``).

    Raises :class:`UsageError` for an unknown prefix and :class:`~agentcrdt.errors.MissingAPIKey` when
    the provider needs a key that is not set; both before any network traffic.
    """
    prefix, _, name = spec.strip().partition(":")
    if prefix not in _PROVIDERS and prefix in _SELF_REGISTERING:
        try:
            importlib.import_module(_SELF_REGISTERING[prefix])
        except ModuleNotFoundError as e:
            if e.name != _SELF_REGISTERING[prefix]:
                raise  # the module exists but one of its dependencies is missing: say so
    factory = _PROVIDERS.get(prefix)
    if factory is None:
        raise UsageError(
            f"unknown model {spec!r}: the provider prefix must be one of {', '.join(known_providers())} "
            "(e.g. 'openai:gpt-6-luna', 'litellm:ollama/llama3', 'offline')"
        )
    return factory(name)


def _openai(name: str) -> Model:
    from agentcrdt.llm.openai import DEFAULT_MODEL, OpenAIModel

    return OpenAIModel(name or DEFAULT_MODEL)


def _anthropic(name: str) -> Model:
    from agentcrdt.llm.anthropic import DEFAULT_MODEL, AnthropicModel

    return AnthropicModel(name or DEFAULT_MODEL)


def _litellm(name: str) -> Model:
    from agentcrdt.llm.litellm import LiteLLMModel

    if not name:
        raise UsageError("litellm models need a name, e.g. 'litellm:ollama/llama3'")
    return LiteLLMModel(name)


def _test(name: str) -> Model:
    from agentcrdt.llm.testing import ScriptedModel

    return ScriptedModel(model_id=f"test:{name}" if name else "test", synthesize_when_empty=True)


register_provider("openai", _openai)
register_provider("anthropic", _anthropic)
register_provider("litellm", _litellm)
register_provider("test", _test)
