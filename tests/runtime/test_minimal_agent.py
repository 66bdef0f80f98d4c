"""A minimal agent: about ten lines, typed by its output, no template file (the prompt is generated)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from agentcrdt.errors import UsageError
from agentcrdt.llm.base import Message
from agentcrdt.llm.testing import FunctionModel
from agentcrdt.log.keys import Identity
from agentcrdt.ops.state import op
from agentcrdt.retrieval import FakeEmbedder
from agentcrdt.rooms import create_local, grant, list_proposals, open_local
from agentcrdt.runtime import Worker, build_model, load_agent

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


# The docs' example (docs/runtime.md): an output type of the user's own, answered by the offline model's
# schema baseline from the note's text, no template, no rules written for it.
OFFLINE = '''
from datetime import date
from pydantic import BaseModel, Field
from agentcrdt import Agent, Capability, ProposalDraft, Reader, WorkItem, op

class Due(BaseModel):
    due_date: date = Field(description="when payment is due")
    confidence: float
    quotes: list[str]

class DueDates(Agent[Due]):
    """Find when each note says payment is due; quote the sentence that says it."""
    name = "due-dates"
    capability = Capability("dues", writes=("Note.due",), reads=("Note.*",))

    def select(self, reader: Reader) -> list[WorkItem]:
        notes = reader.entities("Note")
        return [WorkItem("Note", i, texts={("Note", i, "body"): n["body"]}) for i, n in notes.items()]

    def proposals(self, item: WorkItem, output: Due) -> list[ProposalDraft]:
        ops = [op("Note", item.entity_id, "due", "lww", {"set": output.due_date.isoformat()})]
        return [ProposalDraft(ops, rationale=" ".join(output.quotes), confidence=output.confidence)]
'''


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


async def test_a_minimal_agent_of_a_users_own_type_runs_with_the_offline_model(tmp_path: Path) -> None:
    source = tmp_path / "due_dates.py"
    source.write_text(OFFLINE)
    agent = load_agent(source)
    key = Identity.from_name("dues")
    path = tmp_path / "room.db"
    room = create_local(path, Identity.from_name("owner"), "notes")
    due = "Payment of the March invoice is due by Friday, 12 June 2026."
    notes = {
        "n1": f"Thanks for the call. {due} Call me with questions.",
        "n2": "Lunch moved to the blue room.",
    }
    room.commit("ops", {"ops": [op("Note", i, "body", "lww", {"set": b}) for i, b in notes.items()]})
    grant(room, key.author, agent.capability)
    room.close()
    embedder = FakeEmbedder()
    with Worker(path, agent, build_model("offline", embedder), identity=key, embedder=embedder) as worker:
        progress = await worker.run_once()
    # n2 says nothing about payment: the model says so (unanswered), it guesses no date, nothing fails
    assert (progress.items_done, progress.proposals, progress.unanswered, progress.errors) == (2, 1, 1, 0)
    assert "1 unanswered" in progress.line()
    with open_local(path) as again:
        (made,) = list_proposals(again)
    payload = made.event.payload
    assert payload["ops"] == [op("Note", "n1", "due", "lww", {"set": "2026-06-12"})]
    assert payload["rationale"] == due  # the quote, verbatim from the note
    assert 0.3 <= float(payload["confidence"]) <= 0.9
    assert payload["provenance"]["model"].startswith("offline:rules+fake@")


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
