"""The per-item pipeline of a worker round: prompt, model call, the agent's drafts into the outbox.

``concurrency`` tasks each take the next item when done with one, so at most that many model calls are
in flight and the first starts at once (a task per item would first spawn them all, ~50 us each). A
failure (preparing the prompt, the model, the agent's hooks) is logged and counted for its item only;
the item is not retried by this process until its input changes (a restart retries it). A model that
says it cannot answer (:class:`~agentcrdt.errors.CannotAnswer`) is counted ``unanswered``, not an error.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import anyio

from agentcrdt.errors import CannotAnswer, ModelError
from agentcrdt.llm.base import Model, ModelResponse, ModelSettings, Usage
from agentcrdt.rooms.workflow import Provenance
from agentcrdt.runtime._outbox import Outbox, Pending, provenance_of
from agentcrdt.runtime.agent import Agent, ProposalDraft, WorkItem
from agentcrdt.runtime.context import Retrieval
from agentcrdt.runtime.progress import Progress
from agentcrdt.runtime.prompts import PromptTemplate

__all__ = ["ItemPipeline"]

log = logging.getLogger("agentcrdt.runtime")


@dataclass
class ItemPipeline:
    """Process work items into drafts for ``outbox``; counts into ``progress``, marks them ``handled``."""

    agent: Agent[Any]
    model: Model
    prompt: PromptTemplate
    settings: ModelSettings | None
    progress: Progress
    handled: set[str]  # input ids processed by this process (proposed, empty, failed)
    report: Callable[[], None]
    stopping: Callable[[], bool]

    async def run(
        self,
        todo: Mapping[str, WorkItem],
        heads: tuple[str, ...],
        outbox: Outbox,
        retrieval: Retrieval | None,
        concurrency: int,
    ) -> int:
        """Process ``todo`` (by input id), ``concurrency`` at a time; return how many were handled.

        Stops taking items once ``stopping()`` is true (the ones in flight finish).
        """
        done: list[str] = []
        queue = iter(todo.items())
        async with anyio.create_task_group() as tg:
            for _ in range(min(concurrency, len(todo))):
                tg.start_soon(self._take, queue, heads, outbox, retrieval, done)
        return len(done)

    async def _take(
        self,
        queue: Iterator[tuple[str, WorkItem]],
        heads: tuple[str, ...],
        outbox: Outbox,
        retrieval: Retrieval | None,
        done: list[str],
    ) -> None:
        for input_id, item in queue:
            if self.stopping():
                return
            result = await self._process(item, retrieval)
            if result is not None:
                drafts, provenance = result
                for draft in drafts:
                    outbox.put(Pending(item.key, input_id, draft, item.texts, provenance, heads))
            self.handled.add(input_id)
            done.append(input_id)
            self.progress.items_done += 1
            self.report()

    async def _process(
        self, item: WorkItem, retrieval: Retrieval | None
    ) -> tuple[Sequence[ProposalDraft], Provenance] | None:
        """Return the item's drafts with their provenance; None when it failed (logged and counted)."""
        agent = self.agent
        try:
            variables = agent.context(item, retrieval)
            # context_variables: the whole context, for the generated prompt (a variable of that name wins)
            messages = self.prompt.render(
                {"agent": agent.name, "item": item, "context_variables": variables, **variables}
            )
            context = agent.model_context(item, variables)
        except Exception as e:
            self._failed(item, f"preparing the prompt failed: {e}")
            return None
        try:
            if context is None:
                response: ModelResponse[Any] = await self.model.request(messages, agent.output, self.settings)
            else:
                response = await self.model.request(messages, agent.output, self.settings, context=context)
        except CannotAnswer as e:
            # An answer, not a failure: the input does not hold one. Counted apart from errors, and like
            # every handled item not asked again until its input (or the prompt) changes.
            log.info("%s: %s: the model cannot answer: %s", agent.name, item.key, e)
            self.progress.unanswered += 1
            return None
        except ModelError as e:
            self._failed(item, f"model error: {e}")
            return None
        except Exception as e:  # a bug in a model or adapter: one item fails, the worker goes on
            log.exception("%s: %s: unexpected model failure", agent.name, item.key)
            self._failed(item, f"unexpected model failure: {e!r}")
            return None
        self._account(response.usage)
        try:
            drafts = agent.proposals(item, response.output)
        except Exception as e:
            self._failed(item, f"proposals() failed: {e}")
            return None
        return drafts, provenance_of(response, self.prompt.hash)

    def _failed(self, item: WorkItem, message: str) -> None:
        log.warning("%s: %s: %s", self.agent.name, item.key, message)
        self.progress.note_error(f"{item.key}: {message}")

    def _account(self, usage: Usage) -> None:
        p = self.progress
        p.input_tokens += usage.input_tokens
        p.output_tokens += usage.output_tokens
        p.cost_usd = None if p.cost_usd is None or usage.cost_usd is None else p.cost_usd + usage.cost_usd
