"""Build the model a worker runs: the offline model gets the runtime's embedder injected.

``llm`` and ``retrieval`` are siblings that never import each other; the runtime combines them here.
"""

from __future__ import annotations

import importlib

from agentcrdt.errors import UsageError
from agentcrdt.llm.base import Model
from agentcrdt.llm.registry import get_model
from agentcrdt.retrieval import Embedder

__all__ = ["build_model", "offline_needs_embedder"]


def build_model(spec: str, embedder: Embedder | None = None) -> Model:
    """Return the model named by ``spec``; ``offline[:version]`` is built with ``embedder.embed``."""
    prefix, _, name = spec.strip().partition(":")
    if prefix != "offline":
        return get_model(spec)
    try:
        offline = importlib.import_module("agentcrdt.llm.offline")
    except ModuleNotFoundError as e:
        if e.name != "agentcrdt.llm.offline":
            raise
        raise UsageError(
            "the offline model is not available in this install (agentcrdt.llm.offline is missing); "
            "pass a real model, e.g. --model openai:gpt-6-luna (with OPENAI_API_KEY set)"
        ) from e
    factory = getattr(offline, "offline_factory", None)
    if factory is None or embedder is None:
        return get_model(spec)
    model: Model = factory(name, embed=embedder.embed, embedder_id=embedder.model_id)
    return model


def offline_needs_embedder(spec: str) -> bool:
    """Tell whether ``spec`` names the offline model (which works better with an embedder injected)."""
    return spec.strip().partition(":")[0] == "offline"
