"""The worker as a long-running service: reacting to other processes' writes, and shutting down cleanly."""

from __future__ import annotations

import functools
import os
import signal
from collections.abc import Callable
from typing import Any

import anyio
import pytest
from runtime_helpers import edit_ops, inputs_of, proposals_by

from agentcrdt.llm import get_model
from agentcrdt.llm.base import Completion, Message, Model, ModelSettings, Usage, request_context
from agentcrdt.log.keys import Identity
from agentcrdt.replica import Replica
from agentcrdt.runtime import Worker

pytestmark = pytest.mark.anyio


class GatedModel(Model):
    """Tags like the fake tagger, but a call on a text containing ``hold`` waits for ``gate``."""

    def __init__(self) -> None:
        super().__init__("gated")
        self.entered = anyio.Event()
        self.gate = anyio.Event()
        self.cancelled = False

    async def complete(
        self, messages: list[Message], schema: dict[str, Any], schema_name: str, settings: ModelSettings
    ) -> Completion:
        text = str((request_context() or {}).get("text", ""))
        if "hold" in text:
            self.entered.set()
            try:
                await self.gate.wait()
            except anyio.get_cancelled_exc_class():
                self.cancelled = True
                raise
        out = (
            {"tags": ["termination"], "confidence": 0.9, "quotes": ["hold"]}
            if "hold" in text
            else {
                "tags": [],
                "confidence": 0.5,
            }
        )
        return Completion(out, Usage(input_tokens=10, output_tokens=5), "v1")


async def test_run_reacts_to_another_process_and_stops_consistently(
    make_worker: Callable[..., Worker],
    open_room: Callable[..., Replica],
    owner: Identity,
    tagger_key: Identity,
) -> None:
    model = GatedModel()
    worker = make_worker("Tagger", model, tagger_key)
    human = open_room(owner)  # its own connections, as another process would have
    async with anyio.create_task_group() as tg:
        await tg.start(functools.partial(worker.run, handle_signals=False))
        await worker.wait_idle()
        assert worker.progress.items_done == 3 and worker.progress.proposals == 0
        human.commit("ops", {"ops": edit_ops("d3", text="Please hold the payment.")})
        await model.entered.wait()  # the worker noticed the edit and is in a model call
        worker.stop()
        assert not worker.idle
        model.gate.set()  # the in-flight call finishes and its proposal is written
    assert not model.cancelled and worker.progress.proposals == 1
    room = open_room()
    (p,) = proposals_by(room, tagger_key.author)
    assert p.event.payload["evidence"][0]["quote"] == "hold"
    # Stopped mid-round: the cursor did not move past the round; a restart proposes nothing twice.
    assert room.store.get_cursor(worker.cursor_name) < room.store.last_position()
    worker.close()
    again = make_worker("Tagger", get_model("fake-tagger"), tagger_key)
    await again.run_once()
    assert len(set(inputs_of(open_room(), tagger_key.author))) == len(
        inputs_of(open_room(), tagger_key.author)
    )
    assert again.cursor == open_room().store.get_cursor(again.cursor_name) > 0


async def test_shutdown_after_grace_cancels_the_call_and_writes_nothing_half_done(
    make_worker: Callable[..., Worker],
    open_room: Callable[..., Replica],
    owner: Identity,
    tagger_key: Identity,
) -> None:
    human = open_room(owner)
    human.commit("ops", {"ops": edit_ops("d3", text="Please hold the payment.")})
    model = GatedModel()
    worker = make_worker("Tagger", model, tagger_key, shutdown_grace=0)
    async with anyio.create_task_group() as tg:
        tg.start_soon(functools.partial(worker.run, handle_signals=False))
        await model.entered.wait()
        worker.stop()
    assert model.cancelled and worker.progress.proposals == 0
    assert proposals_by(open_room(), tagger_key.author) == []
    assert open_room().store.get_cursor(worker.cursor_name) == 0
    worker.close()
    retry = make_worker("Tagger", get_model("fake-tagger"), tagger_key)
    progress = await retry.run_once()  # at-least-once: the cancelled item is processed on restart
    assert progress.proposals == 3


async def test_sigterm_stops_the_worker(make_worker: Callable[..., Worker], tagger_key: Identity) -> None:
    worker = make_worker("Tagger", get_model("fake-tagger"), tagger_key)
    with anyio.fail_after(10):
        async with anyio.create_task_group() as tg:
            await tg.start(worker.run)  # the signal receiver is installed before start() returns
            await worker.wait_idle()
            os.kill(os.getpid(), signal.SIGTERM)
    assert worker.progress.proposals == 2 and worker.idle
