"""Test agents, loaded by path like any file under ``agents/`` (never imported as a package).

* ``Tagger``: proposes clause tags for each Document from its text (auto-accepted at confidence >= 0.8).
* ``Summarizer``: proposes a one-sentence summary (reviewed by a human).
* ``Obedient``: a deliberately naive agent that writes whatever the model says, anywhere: the replica's
  policy is what stops it (prompt-injection tests).

The file also registers fake models through the real extension point (``fake-tagger``,
``fake-summarizer``), so the CLI can run these agents in subprocesses without any network.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from decimal import Decimal
from typing import Annotated, Any

from pydantic import BaseModel, Field

from agentcrdt.capabilities import AutoAccept, Capability
from agentcrdt.llm import Message, register_provider
from agentcrdt.llm.base import request_context
from agentcrdt.llm.testing import FunctionModel
from agentcrdt.materialize import Reader
from agentcrdt.ops.state import op
from agentcrdt.rooms.workflow import Evidence
from agentcrdt.runtime import Agent, ProposalDraft, Retrieval, WorkItem, find_evidence
from agentcrdt.schema import AddWinsSet, Entity

TAGS = ("payment", "termination", "confidentiality", "governing-law")
KEYWORDS = {
    "payment": "pay",
    "termination": "terminate",
    "confidentiality": "confidential",
    "governing-law": "governed by",
}


class Document(Entity):
    title: str = ""
    text: str = ""
    tags: Annotated[frozenset[str], AddWinsSet()] = frozenset()
    summary: str = ""
    status: str = "draft"


def documents(reader: Reader) -> list[WorkItem]:
    """One work item per Document with text: exactly its title and text (never its tags or summary)."""
    return [
        WorkItem(
            "Document",
            doc_id,
            inputs={"title": values.get("title", "")},
            texts={("Document", doc_id, "text"): values["text"]},
        )
        for doc_id, values in reader.entities("Document").items()
        if values.get("text")
    ]


def text_of(item: WorkItem) -> str:
    return item.texts[("Document", item.entity_id, "text")]


class TagOutput(BaseModel):
    tags: list[str] = Field(description="clause tags from the given list")
    confidence: float = Field(ge=0, le=1)
    quotes: list[str] = Field(default_factory=list, description="exact quotes supporting the tags")
    rationale: str = ""


class Tagger(Agent):
    name = "tagger"
    capability = Capability(
        "tagger",
        writes=("Document.tags",),
        reads=("Document.*",),
        auto_accept=AutoAccept(Decimal("0.8")),
    )
    prompt = "tagger.md.j2"
    output = TagOutput
    retrieval_sources = (("Document", "text"),)

    def select(self, reader: Reader) -> list[WorkItem]:
        return documents(reader)

    def context(self, item: WorkItem, retrieval: Retrieval | None) -> dict[str, Any]:
        text = text_of(item)
        related = []
        if retrieval is not None:
            related = [h.text for h in retrieval.search(text[:300], k=2, exclude=[item.entity_id])]
        return {
            "doc_id": item.entity_id,
            "title": item.inputs["title"],
            "text": text,
            "labels": list(TAGS),
            "related": related,
            "task": {"doc_id": item.entity_id, "text": text, "labels": list(TAGS)},
        }

    def proposals(self, item: WorkItem, output: Any) -> list[ProposalDraft]:
        assert isinstance(output, TagOutput)
        tags = sorted({t for t in output.tags if t in TAGS})
        if not tags:
            return []
        # Claimed offsets are left at 0 on purpose: the worker repairs them, or drops quotes not verbatim.
        claimed = [Evidence("Document", item.entity_id, "text", 0, len(q), q) for q in output.quotes]
        ops = [op("Document", item.entity_id, "tags", "orset", {"add": t}) for t in tags]
        return [
            ProposalDraft(
                ops=ops,
                rationale=output.rationale or f"tags {', '.join(tags)}",
                confidence=Decimal(str(output.confidence)).quantize(Decimal("0.01")),
                kind="tag",
                evidence=claimed,
            )
        ]


class SummaryOutput(BaseModel):
    summary: str
    quote: str
    confidence: float = Field(ge=0, le=1)


class Summarizer(Agent):
    name = "summarizer"
    capability = Capability("summarizer", writes=("Document.summary",), reads=("Document.*",))
    prompt = "summarizer.md.j2"
    output = SummaryOutput

    def select(self, reader: Reader) -> list[WorkItem]:
        return documents(reader)

    def context(self, item: WorkItem, retrieval: Retrieval | None) -> dict[str, Any]:
        return {"doc_id": item.entity_id, "text": text_of(item), "task": {"text": text_of(item)}}

    def proposals(self, item: WorkItem, output: Any) -> list[ProposalDraft]:
        assert isinstance(output, SummaryOutput)
        ev = find_evidence(item.texts, "Document", item.entity_id, "text", output.quote)
        return [
            ProposalDraft(
                ops=[op("Document", item.entity_id, "summary", "lww", {"set": output.summary})],
                rationale="first sentence",
                confidence=Decimal(str(output.confidence)).quantize(Decimal("0.01")),
                kind="summary",
                evidence=[ev] if ev else [],
            )
        ]


class Write(BaseModel):
    entity: str
    id: str
    field: str
    value: str


class FreeOutput(BaseModel):
    writes: list[Write]
    confidence: float = Field(ge=0, le=1)


class Obedient(Agent):
    """Writes whatever the model asks, wherever: only the slot's policy stands in the way."""

    name = "obedient"
    capability = Capability(
        "tagger", writes=("Document.tags",), reads=("Document.*",), auto_accept=AutoAccept(Decimal("0.5"))
    )
    prompt = "tagger.md.j2"
    output = FreeOutput

    def select(self, reader: Reader) -> list[WorkItem]:
        return documents(reader)

    def context(self, item: WorkItem, retrieval: Retrieval | None) -> dict[str, Any]:
        return {
            "doc_id": item.entity_id,
            "title": "",
            "text": text_of(item),
            "labels": list(TAGS),
            "related": [],
        }

    def proposals(self, item: WorkItem, output: Any) -> list[ProposalDraft]:
        assert isinstance(output, FreeOutput)
        return [
            ProposalDraft(
                ops=[op(w.entity, w.id, w.field, "lww", {"set": w.value})],
                rationale="as instructed",
                confidence=Decimal(str(output.confidence)).quantize(Decimal("0.01")),
            )
            for w in output.writes
        ]


# -- fake models (registered through the real extension point) ----------------------------------------


def keyword_tagger(messages: list[Message], schema: dict[str, Any]) -> Mapping[str, Any]:
    """Tag by keywords, quoting each keyword as it appears in the text (from the structured context)."""
    ctx = request_context() or {}
    text = str(ctx.get("text", ""))
    tags, quotes = [], []
    for tag, word in KEYWORDS.items():
        m = re.search(re.escape(word), text, re.IGNORECASE)
        if m:
            tags.append(tag)
            quotes.append(m.group(0))
    return {"tags": tags, "confidence": 0.9, "quotes": quotes, "rationale": "keywords"}


def first_sentence(messages: list[Message], schema: dict[str, Any]) -> Mapping[str, Any]:
    text = str((request_context() or {}).get("text", ""))
    sentence = re.split(r"(?<=[.!?])\s", text.strip(), maxsplit=1)[0]
    return {"summary": sentence, "quote": sentence, "confidence": 0.7}


register_provider(
    "fake-tagger", lambda name: FunctionModel(keyword_tagger, model_id="fake-tagger"), replace=True
)
register_provider(
    "fake-summarizer", lambda name: FunctionModel(first_sentence, model_id="fake-summarizer"), replace=True
)
