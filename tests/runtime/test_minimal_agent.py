"""A minimal agent: about ten lines, typed by its output, no template file (the prompt is generated)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from agentcrdt.errors import UsageError
from agentcrdt.llm.base import Message
from agentcrdt.llm.testing import FunctionModel
from agentcrdt.log.keys import Identity
from agentcrdt.retrieval import FakeEmbedder
from agentcrdt.rooms import create_local, grant, list_proposals, open_local
from agentcrdt.runtime import Worker, load_agent
from agentcrdt.state import op

pytestmark = pytest.mark.anyio

MINIMAL = '''
from pydantic import BaseModel
from agentcrdt import Agent, Capability, ProposalDraft, Reader, WorkItem, op

class Title(BaseModel):
    title: str
    confidence: float

class Titler(Agent[Title]):
    """Give each note a short title."""
    name = "titler"
    capability = Capability("titler", writes=("Note.title",), reads=("Note.*",))

    def select(self, reader: Reader) -> list[WorkItem]:
        notes = reader.entities("Note")
        return [WorkItem("Note", i, texts={("Note", i, "body"): n["body"]}) for i, n in notes.items()]

    def proposals(self, item: WorkItem, output: Title) -> list[ProposalDraft]:
        ops = [op("Note", item.entity_id, "title", "lww", {"set": output.title})]
        return [ProposalDraft(ops, rationale="a title", confidence=output.confidence)]
'''


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


async def test_a_ten_line_agent_runs_with_a_generated_prompt(tmp_path: Path) -> None:
    source = tmp_path / "titler.py"
    source.write_text(MINIMAL)
    agent = load_agent(source)
    assert agent.output.__name__ == "Title"  # from Agent[Title]
    owner, key = Identity.from_name("owner"), Identity.from_name("titler")
    path = tmp_path / "room.db"
    room = create_local(path, owner, "notes")
    room.commit("ops", {"ops": [op("Note", "n1", "body", "lww", {"set": "Pay the invoice by Friday."})]})
    grant(room, key.author, agent.capability)
    room.close()
    seen: list[list[Message]] = []

    def answer(messages: list[Message], schema: dict[str, object]) -> dict[str, object]:
        seen.append(messages)
        return {"title": "Invoice due Friday", "confidence": 0.7}

    with Worker(path, agent, FunctionModel(answer), identity=key, embedder=FakeEmbedder()) as worker:
        progress = await worker.run_once()
        prompt_hash = worker.prompt.hash
    assert (progress.items_done, progress.proposals, progress.errors) == (1, 1, 0)
    system, user = seen[0][0].content, seen[0][1].content
    assert "Give each note a short title." in system and '"title"' in system  # instructions, schema
    assert "Pay the invoice by Friday." in user and "Pay the invoice" not in system  # material is data
    with open_local(path) as again:
        (made,) = list_proposals(again)
        assert made.event.payload["ops"][0]["op"] == {"set": "Invoice due Friday"}
        assert made.event.payload["provenance"]["prompt_hash"] == prompt_hash


def test_the_generated_prompt_hash_covers_instructions_and_schema(tmp_path: Path) -> None:
    from agentcrdt.runtime.prompts import default_prompt

    a = default_prompt("Do a.", {"type": "object"})
    assert a.hash == default_prompt("Do a.", {"type": "object"}).hash
    assert a.hash != default_prompt("Do b.", {"type": "object"}).hash
    assert a.hash != default_prompt("Do a.", {"type": "string"}).hash
    rendered = a.render(
        {"item": type("I", (), {"entity": "E", "entity_id": "1", "inputs": {}, "texts": {}})()}
    )
    assert json.loads(rendered[0].content.split("nothing else:\n", 1)[1].split("\n", 1)[0]) == {
        "type": "object"
    }


def test_an_agent_without_output_type_or_instructions_says_what_to_declare(tmp_path: Path) -> None:
    source = tmp_path / "bad.py"
    source.write_text(
        "from agentcrdt import Agent, Capability\n"
        "class Bad(Agent):\n"
        "    name = 'bad'\n"
        "    capability = Capability('bad')\n"
    )
    with pytest.raises(UsageError, match="instructions"):
        load_agent(source)
    source.write_text(
        "from agentcrdt import Agent, Capability\n"
        "class Bad(Agent):\n"
        "    '''Do things.'''\n"
        "    name = 'bad'\n"
        "    capability = Capability('bad')\n"
    )
    with pytest.raises(UsageError, match=r"Agent\[YourModel\]"):
        load_agent(source)
