"""The offline model: a deterministic, non-LLM reasoner behind the ordinary :class:`Model` seam.

It reads the task's structured inputs from the request ``context`` (see :mod:`agentcrdt.llm.tasks`),
dispatches on the output type's ``task`` and returns JSON that ``Model.request`` validates like any
provider's. Any other output type is answered by the schema baseline (:mod:`.schema`): each field the
type's JSON schema declares is read from the context's texts and quoted, or the model raises
:class:`~agentcrdt.errors.CannotAnswer`. It never reads the prompt. Its model id says what it is:
``offline:rules+minilm@1`` with the bundled MiniLM, ``offline:rules+fake@1`` with the fake embedder,
``offline:rules@1`` with no embedder (lexical similarity only).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from decimal import Decimal
from typing import Any

import anyio.to_thread
from pydantic import BaseModel, ValidationError

from agentcrdt.errors import ModelError
from agentcrdt.llm.base import Completion, Message, Model, ModelSettings, Usage, request_context
from agentcrdt.llm.offline.classify import classify
from agentcrdt.llm.offline.compare import compare
from agentcrdt.llm.offline.encoder import Encoder, family_of
from agentcrdt.llm.offline.extract import extract
from agentcrdt.llm.offline.link import link
from agentcrdt.llm.offline.reflect import reflect
from agentcrdt.llm.offline.schema import answer
from agentcrdt.llm.offline.summarize import summarize, summarize_theme
from agentcrdt.llm.offline.text import EmbedFn
from agentcrdt.llm.offline.verify import verify
from agentcrdt.llm.tasks import (
    TASKS,
    ClassifyContext,
    CompareContext,
    ExtractContext,
    LinkContext,
    ReflectContext,
    SummarizeContext,
    ThemeContext,
    VerifyContext,
)

__all__ = ["VERSION", "OfflineModel"]

VERSION = "1"


def _code_digest() -> str:
    # The rules are code: a response cached under one revision of them must not be replayed under
    # another (an eval tuning the rules would score stale answers), so the source is part of the version.
    import hashlib
    from pathlib import Path

    h = hashlib.sha256()
    for path in sorted(Path(__file__).resolve().parent.glob("*.py")):
        h.update(path.name.encode() + b"\0" + path.read_bytes())
    return h.hexdigest()[:12]


CODE_DIGEST = _code_digest()
"""Bump whenever a rule or threshold changes an output: it is in the model id and the cache key."""

_FREE = Usage(input_tokens=0, output_tokens=0, cost_usd=Decimal(0))


class OfflineModel(Model):
    """Answer the dataroom tasks with rules, patterns and embedding similarity, and any other output
    type from its schema (extraction with quotes, or CannotAnswer); no language model.

    ``embed`` maps texts to vectors (the runtime injects ``embedder.embed``); None means lexical
    similarity only. ``embedder_id`` names the embedder (taken from ``embed.__self__.model_id`` when
    omitted) and decides the similarity calibration and the model id.
    """

    def __init__(
        self, embed: EmbedFn | None = None, *, version: str = VERSION, embedder_id: str | None = None
    ) -> None:
        if embedder_id is None and embed is not None:
            owner_id = getattr(getattr(embed, "__self__", None), "model_id", None)
            embedder_id = owner_id if isinstance(owner_id, str) else "custom"
        family = family_of(embedder_id)
        kind = "rules" if embed is None else f"rules+{family}"
        super().__init__(f"offline:{kind}@{version}")
        self.version = version
        self.embedder_id = embedder_id
        self.encoder = Encoder(embed, family)

    @property
    def pinned_version(self) -> str:
        # The embedder's own id (with its weights' fingerprint) is part of what the outputs depend on.
        return f"{self.version}+{CODE_DIGEST}; embedder={self.embedder_id or 'lexical'}"

    async def complete(
        self, messages: list[Message], schema: dict[str, Any], schema_name: str, settings: ModelSettings
    ) -> Completion:
        context = request_context()
        task = _task_for(schema_name, context)
        if context is None:
            raise ModelError(
                f"{self.model_id} reads structured task inputs, not prompts: call "
                f"model.request(messages, {schema_name}, context=<{task or 'task'} context>) "
                "(see agentcrdt.llm.tasks; for your own output types, context={'texts': [...]})",
                provider="offline",
            )
        if task is None:
            answered = await anyio.to_thread.run_sync(answer, schema, context, self.encoder)
            return Completion(output=answered, usage=_FREE, model_version=self.pinned_version)
        output = await anyio.to_thread.run_sync(self.run, task, context)
        return Completion(
            output=output.model_dump(mode="json"), usage=_FREE, model_version=self.pinned_version
        )

    def run(self, task: str, context: Mapping[str, Any]) -> BaseModel:
        """Answer ``task`` for ``context`` synchronously (what ``complete`` runs in a worker thread)."""
        _, context_type = TASKS[task]
        try:
            ctx = context_type.model_validate({k: v for k, v in context.items() if k != "task"})
        except ValidationError as e:
            raise ModelError(
                f"{self.model_id}: bad {task} context for {context_type.__name__}: {e}", provider="offline"
            ) from e
        return _HANDLERS[task](ctx, self.encoder)


def _task_for(schema_name: str, context: Mapping[str, Any] | None) -> str | None:
    # By the output type's name; a subclass under another name can say {"task": ...} in its context.
    for task, (output_type, _) in TASKS.items():
        if output_type.__name__ == schema_name:
            return task
    named = context.get("task") if context is not None else None
    return named if isinstance(named, str) and named in TASKS else None


def _classify(ctx: BaseModel, enc: Encoder) -> BaseModel:
    assert isinstance(ctx, ClassifyContext)
    return classify(ctx.document, ctx.kinds, ctx.tags, enc)


def _extract(ctx: BaseModel, enc: Encoder) -> BaseModel:
    assert isinstance(ctx, ExtractContext)
    return extract(ctx.document, ctx.fields, enc)


def _summarize(ctx: BaseModel, enc: Encoder) -> BaseModel:
    assert isinstance(ctx, SummarizeContext)
    return summarize(ctx.document, ctx.max_sentences, enc)


def _link(ctx: BaseModel, enc: Encoder) -> BaseModel:
    assert isinstance(ctx, LinkContext)
    return link(ctx.document, ctx.candidates, enc)


def _compare(ctx: BaseModel, enc: Encoder) -> BaseModel:
    assert isinstance(ctx, CompareContext)
    return compare(ctx)


def _reflect(ctx: BaseModel, enc: Encoder) -> BaseModel:
    assert isinstance(ctx, ReflectContext)
    return reflect(ctx, enc)


def _verify(ctx: BaseModel, enc: Encoder) -> BaseModel:
    assert isinstance(ctx, VerifyContext)
    return verify(ctx, enc)


def _theme(ctx: BaseModel, enc: Encoder) -> BaseModel:
    assert isinstance(ctx, ThemeContext)
    return summarize_theme(ctx, enc)


_HANDLERS: dict[str, Callable[[BaseModel, Encoder], BaseModel]] = {
    "classify": _classify,
    "extract": _extract,
    "summarize": _summarize,
    "link": _link,
    "compare": _compare,
    "verify": _verify,
    "reflect": _reflect,
    "theme": _theme,
}
