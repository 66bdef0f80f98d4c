"""A rabbithole job on the real adapters (openai, anthropic, litellm) against the fake provider: the
explorer's prompt and its Reflection schema go over the SDKs' real HTTP stacks, and what comes back is
checked, proposed and spent like the offline model's answers."""

from __future__ import annotations

import importlib.util
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import anyio
import pytest

from agentcrdt.dataroom import Dataroom
from agentcrdt.dataroom.domain import ENTITIES
from agentcrdt.llm import Model
from agentcrdt.log.keys import Identity
from agentcrdt.rabbithole import JobRunner, create_job, read_job
from agentcrdt.rabbithole.explore import AgentExplorer
from agentcrdt.rabbithole.report import build_map
from agentcrdt.rabbithole.state import JOB_CAPABILITY
from agentcrdt.rooms.local import open_local
from agentcrdt.rooms.workflow import grant
from agentcrdt.runtime import load_agent
from tests.evals._fake_provider import FakeProvider

ROOT = Path(__file__).resolve().parents[2]
# ruff: noqa: E501  (documents read better unwrapped)
MSA = """MASTER SERVICES AGREEMENT

This Master Services Agreement is made as of March 3, 2023 between Meridian Freight Corporation and Northwind Analytics, Inc.

15.1 This Agreement shall be governed by the laws of the State of New York.
"""
AMENDMENT = """AMENDMENT NO. 2

This Amendment No. 2 amends the MASTER SERVICES AGREEMENT between Meridian Freight Corporation and Northwind Analytics, Inc.

The parties confirm that the Agreement is governed by the laws of the State of New Jersey.
"""


@pytest.fixture
def fake() -> Iterator[FakeProvider]:
    with FakeProvider() as provider:
        yield provider


def _model(provider: str, fake: FakeProvider) -> Model:
    if provider == "openai":
        from agentcrdt.llm.openai import OpenAIModel

        return OpenAIModel(api_key="sk-fake", base_url=fake.openai_base_url)
    if provider == "anthropic":
        from agentcrdt.llm.anthropic import AnthropicModel

        return AnthropicModel(api_key="sk-ant-fake", base_url=fake.url)
    from agentcrdt.llm.litellm import LiteLLMModel
    from agentcrdt.llm.openai import DEFAULT_MODEL

    return LiteLLMModel(f"openai/{DEFAULT_MODEL}", api_base=fake.openai_base_url, api_key="sk-fake")


@pytest.mark.parametrize("provider", ["openai", "anthropic", "litellm"])
def test_a_job_on_a_real_adapter_finds_the_conflict_and_counts_tokens(
    provider: str, fake: FakeProvider, tmp_path: Path
) -> None:
    if importlib.util.find_spec(provider) is None:  # not importorskip: litellm must not be imported bare
        pytest.skip(f"the {provider} SDK is not installed (agentcrdt[{provider}])")
    path = tmp_path / "room.db"
    (tmp_path / "msa.txt").write_text(MSA)
    (tmp_path / "amendment.txt").write_text(AMENDMENT)
    owner, worker = Identity.from_name("owner"), Identity.from_name("explorer")
    agent = load_agent(str(ROOT / "agents" / "explorer.py"))
    with Dataroom.create(path, owner, name="room") as room:
        room.add([tmp_path / "msa.txt", tmp_path / "amendment.txt"])
        grant(room.replica, worker.author, agent.capability)
        grant(room.replica, worker.author, JOB_CAPABILITY)
    replica = open_local(path, identity=worker, entities=ENTITIES)
    model = _model(provider, fake)
    explorer = AgentExplorer(agent, model)  # type: ignore[arg-type]
    job = create_job(replica, explorer, start="amendment", depth=1, themes=1)

    async def run() -> Any:
        async with model:  # the SDK's HTTP client closes in this event loop, not in a later test's
            return await JobRunner(replica, job, explorer).run()

    summary = anyio.run(run)
    assert summary.reason == "done" and summary.explored == ["amendment", "msa"] and summary.themes == 1
    view = read_job(replica, job)
    assert view.job.calls == 3 and view.job.tokens == sum(
        s.prompt_tokens + s.completion_tokens for s in fake.served
    )
    m = build_map(replica, job)
    (conflict,) = m.findings_of("contradiction")
    assert {q["document"] for q in conflict["evidence"]} == {"msa", "amendment"}
    assert any(lk["relation"] == "amends" and lk["target"] == "msa" for lk in m.links)
    (written,) = [t for t in m.themes if t["written_by"] == "model"]  # the theme call went over HTTP too
    assert written["label"] == "the agreement and its amendments"
    assert {q["document"] for q in written["evidence"]} == {"msa", "amendment"}
    replica.close()
