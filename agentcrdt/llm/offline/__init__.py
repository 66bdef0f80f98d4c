"""The offline model: deterministic rules and embedding similarity answering the dataroom tasks.

``get_model("offline")`` builds it without an embedder (lexical similarity, model id
``offline:rules@<version>``); the runtime builds it with the bundled MiniLM it owns and injects:
``OfflineModel(get_embedder("minilm").embed)`` (model id ``offline:rules+minilm@<version>``), or
``offline_factory("", embed=...)``. This package never imports :mod:`agentcrdt.retrieval` (siblings).
See ``docs/offline-model.md``.
"""

from __future__ import annotations

from agentcrdt.errors import UsageError
from agentcrdt.llm.base import Model
from agentcrdt.llm.offline.model import VERSION, OfflineModel
from agentcrdt.llm.offline.text import EmbedFn
from agentcrdt.llm.registry import register_provider

__all__ = ["VERSION", "OfflineModel", "offline_factory"]


def offline_factory(name: str = "", *, embed: EmbedFn | None = None, embedder_id: str | None = None) -> Model:
    """Build the offline model for ``offline[:<version>]``; pass ``embed`` for embedding similarity."""
    if name and name != VERSION:
        raise UsageError(
            f"offline model version {name!r} is not available; this install has version {VERSION!r} "
            "(use 'offline' or f'offline:{VERSION}')"
        )
    return OfflineModel(embed, embedder_id=embedder_id)


register_provider("offline", offline_factory, replace=True)
