"""Each agent with a scripted model that reads only the rendered prompt (as a real model would).

The functions below never see the structured context: they parse the prompt, so a passing test shows the
prompt carries what the task needs, and the output goes through the same validation as a provider's.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import pytest

from agentcrdt.dataroom import ENTITIES, Dataroom, Document
from agentcrdt.llm.base import Message
from agentcrdt.llm.testing import FunctionModel
from agentcrdt.log.keys import Identity
from agentcrdt.retrieval import FakeEmbedder
from agentcrdt.rooms.local import open_local
from agentcrdt.rooms.workflow import list_proposals, review
from agentcrdt.runtime import build_model

pytestmark = pytest.mark.anyio

FILES = ("01-mutual-nda.txt", "04-msa-meridian.txt", "06-msa-amendment-2.txt")


def prompt(messages: list[Message]) -> str:
    return "\n".join(m.content for m in messages)


def document(messages: list[Message]) -> tuple[str, str]:
    """Return (id, text) of the <document> in the prompt."""
    m = re.search(r'<document id="([^"]+)"[^>]*>\n(.*?)\n</document>', prompt(messages), re.S)
    assert m, "the prompt shows the document"
    return m.group(1), m.group(2)


def sentence(text: str, pattern: str) -> str:
    m = re.search(r"[^.\n]*" + pattern + r"[^.\n]*\.", text)
    assert m, pattern
    return m.group(0).strip()


def tagger(messages: list[Message], schema: Mapping[str, Any]) -> dict[str, Any]:
    text = prompt(messages)
    assert "`amendment`: Amendment to, or variation of, another agreement" in text
    assert "`governing_law`: Choice of governing law" in text
    doc_id, body = document(messages)
    kind = "amendment" if body.startswith("AMENDMENT") else "msa" if "MASTER" in body[:40] else "nda"
    quote = sentence(body, "governed by")
    return {
        "kind": kind,
        "tags": ["governing_law", "not-a-tag"],
        "confidence": 0.9 if kind != "nda" else 0.5,
        "rationale": f"{doc_id}: heading and governing law clause",
        "evidence": [{"text": quote, "start": 0, "end": len(quote)}],  # offsets wrong: repaired
    }


def extractor(messages: list[Message], schema: Mapping[str, Any]) -> dict[str, Any]:
    assert "`notice_period`: The principal notice period" in prompt(messages)
    _, body = document(messages)
    law = sentence(body, "the laws of the State of")
    place = re.search(r"State of ([A-Z][a-z]+(?: [A-Z][a-z]+)?)", law)
    assert place
    date = sentence(body, "entered into")
    return {
        "fields": [
            {"name": "governing_law", "value": place.group(1), "confidence": 0.95, "quote": q(law)},
            {"name": "effective_date", "value": "2000-01-01", "confidence": 0.5, "quote": q(date)},
            {"name": "made_up", "value": "x", "confidence": 0.9, "quote": q(date)},
            {"name": "term", "value": "P9Y", "confidence": 0.9, "quote": q("not in the document at all")},
        ]
    }


def q(text: str) -> dict[str, Any]:
    return {"text": text, "start": 1, "end": 1 + len(text)}


def summarizer(messages: list[Message], schema: Mapping[str, Any]) -> dict[str, Any]:
    assert "at most 3" in prompt(messages)
    _, body = document(messages)
    first = sentence(body, "entered into")
    return {"summary": first, "key_points": ["a", "b"], "confidence": 0.7, "evidence": [q(first)]}


def linker(messages: list[Message], schema: Mapping[str, Any]) -> dict[str, Any]:
    text = prompt(messages)
    doc_id, body = document(messages)
    candidates = re.findall(r'<candidate id="([^"]+)" heading="([^"]*)">', text)
    assert candidates and all(c != doc_id for c, _ in candidates)
    assert "`duplicates`:" in text
    links = []
    if doc_id == "06-msa-amendment-2":
        quote = sentence(body, "parties to that certain Master Services Agreement")
        links.append(
            {
                "target_id": "04-msa-meridian",
                "relation": "amends",
                "confidence": 0.9,
                "rationale": "recital A",
                "evidence": [q(quote)],
            }
        )
        links.append(
            {
                "target_id": "01-mutual-nda",
                "relation": "references",
                "confidence": 0.9,
                "rationale": "made up",
                "evidence": [q("a quote that is not in the amendment")],
            }
        )
    return {"links": links}


def contradictions(messages: list[Message], schema: Mapping[str, Any]) -> dict[str, Any]:
    facts = re.findall(
        r'<fact document="([^"]+)" field="([^"]+)" value="([^"]*)" start="(\d+)" end="(\d+)">'
        r"\n(.*?)\n</fact>",
        prompt(messages),
        re.S,
    )
    by_field: dict[str, list[tuple[str, ...]]] = {}
    for f in facts:
        by_field.setdefault(f[1], []).append(f)
    findings = []
    for field, (a, b) in ((k, v) for k, v in by_field.items() if len(v) == 2 and v[0][2] != v[1][2]):
        findings.append(
            {
                "field_or_claim": field,
                "value_a": a[2],
                "value_b": b[2],
                "doc_a": a[0],
                "doc_b": b[0],
                "quote_a": {"text": a[5], "start": int(a[3]), "end": int(a[4])},
                "quote_b": {"text": b[5], "start": int(b[3]), "end": int(b[4])},
                "severity": "high",
                "confidence": 0.9,
                "rationale": "the values differ",
            }
        )
    return {"findings": findings}


MODELS: dict[str, Callable[[list[Message], Mapping[str, Any]], dict[str, Any]]] = {
    "tagger": tagger,
    "extractor": extractor,
    "summarizer": summarizer,
    "linker": linker,
    "contradictions": contradictions,
}


@pytest.fixture
def small_room(make_room: Callable[[tuple[str, ...]], Path]) -> Path:
    return make_room(FILES)


def scripted(name: str) -> FunctionModel:
    return FunctionModel(MODELS[name], model_id=f"scripted-{name}")  # type: ignore[arg-type]


async def test_scripted_models_through_prompts(
    small_room: Path, owner: Identity, run_agent: Callable[..., Any]
) -> None:
    for name in ("tagger", "extractor", "summarizer", "linker"):
        model = scripted(name)
        progress = await run_agent(small_room, name, model)
        assert progress.errors == 0 and progress.unsupported == 0 and progress.evidence_dropped == 0, name
        assert len(model.requests) == 3 and progress.proposals > 0, name
        assert all(r.schema_name for r in model.requests)

    with Dataroom.open(small_room, identity=owner) as room:
        replica = room.replica
        state = replica.state_at()
        msa = Document.from_state("04-msa-meridian", state.entities[("Document", "04-msa-meridian")])
        assert msa.kind == "msa" and msa.tags == {"governing_law"}  # unknown tag left out
        nda = Document.from_state("01-mutual-nda", state.entities[("Document", "01-mutual-nda")])
        assert nda.kind == "" and nda.tags == set()  # confidence 0.5: waits for review
        law = msa.fields["governing_law"]
        assert law.value == "New York" and law.start is not None and law.start > 1  # offsets repaired
        assert "effective_date" not in msa.fields and "made_up" not in msa.fields and "term" not in msa.fields
        assert msa.summary.startswith("This Master Services Agreement")
        pending = {p.event.payload["slot"]: p for p in list_proposals(replica, "pending")}
        assert set(pending) >= {"tagger", "extractor", "linker"}
        links = [p for p in list_proposals(replica) if p.event.payload["slot"] == "linker"]
        assert [p.event.payload["ops"][0]["id"] for p in links] == [
            "06-msa-amendment-2>amends>04-msa-meridian"
        ]
        for p in list_proposals(replica, "pending"):
            if p.event.payload["slot"] in ("extractor", "linker"):  # the accepted link relates the pair
                review(replica, p.id, "accept")

    model = scripted("contradictions")
    progress = await run_agent(small_room, "contradictions", model)
    assert progress.errors == 0 and progress.proposals == 1, progress.line()
    replica = open_local(small_room, entities=ENTITIES)
    try:
        (finding,) = [p for p in list_proposals(replica) if p.event.payload["slot"] == "contradictions"]
        assert finding.status == "pending"
        assert (
            finding.event.payload["ops"][0]["id"]
            == "contradiction:governing_law:04-msa-meridian:06-msa-amendment-2"
        )
        assert finding.event.payload["provenance"]["model"].startswith("scripted-contradictions")
    finally:
        replica.store.close()


async def test_offline_model_reads_the_same_inputs(small_room: Path, run_agent: Callable[..., Any]) -> None:
    """The offline model answers from the structured context: the same agents, no prompt parsing."""
    progress = await run_agent(small_room, "tagger", build_model("offline", FakeEmbedder()))
    assert progress.proposals == 3 and progress.errors == 0
