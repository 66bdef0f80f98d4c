"""The model layer: one small interface (messages in, a validated pydantic object out) and its adapters.

Adapters (openai, anthropic, litellm) are reached by name through :func:`get_model`; importing this package
does not import any provider SDK. Fakes for tests live in :mod:`agentcrdt.llm.testing`.
"""

from __future__ import annotations

from agentcrdt.llm._retry import Clock, SystemClock, TransientError
from agentcrdt.llm.base import Completion, Message, Model, ModelResponse, ModelSettings, Usage
from agentcrdt.llm.cache import CachedModel, CacheMode, CacheStats, ResponseCache, cache_key
from agentcrdt.llm.registry import ModelFactory, get_model, known_providers, register_provider

__all__ = [
    "CacheMode",
    "CacheStats",
    "CachedModel",
    "Clock",
    "Completion",
    "Message",
    "Model",
    "ModelFactory",
    "ModelResponse",
    "ModelSettings",
    "ResponseCache",
    "SystemClock",
    "TransientError",
    "Usage",
    "cache_key",
    "get_model",
    "known_providers",
    "register_provider",
]
