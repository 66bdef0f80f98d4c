"""Summarizer: a short summary of each document for a due-diligence reviewer, grounded in quotes.

Reads a document's current version; proposes ``Document.summary``. Slot ``summarizer``: auto-accepted at
confidence >= 0.6. A summary is a reading aid, not a fact other agents or decisions build on; it is one
LWW field that anyone can overwrite, its evidence quotes are checked verbatim, and the offline model's
summaries are extractive (the document's own sentences), so a lower bar than the tagger's and the
extractor's 0.8 costs little and spares reviewers a queue of summaries to rubber-stamp.
"""

from __future__ import annotations

from decimal import Decimal
from typing import TYPE_CHECKING, Any

from agentcrdt.capabilities import AutoAccept, Capability
from agentcrdt.dataroom.domain import ENTITIES, Document
from agentcrdt.llm.tasks import SummarizeContext, Summary
from agentcrdt.materialize import Reader
from agentcrdt.runtime import Agent, ProposalDraft, Retrieval, WorkItem, load_sibling

if TYPE_CHECKING:  # the checker reads the helper as a module; at run time it is loaded by path
    import _vocabulary as V
else:
    V = load_sibling(__file__, "_vocabulary.py")

MAX_SENTENCES = 3
MAX_CHARS = 2000


class Summarizer(Agent[Summary]):
    """Summarize each document in a few sentences and propose the summary with its quotes."""

    name = "summarizer"
    capability = Capability(
        "summarizer",
        writes=("Document.summary",),
        reads=V.READS,
        proposal_kinds=("summarize",),
        auto_accept=AutoAccept(Decimal("0.6")),
    )
    prompt = "summarizer.md.j2"
    entities = ENTITIES

    def select(self, reader: Reader) -> list[WorkItem]:
        items: list[WorkItem] = V.document_items(reader)
        return items

    def context(self, item: WorkItem, retrieval: Retrieval | None) -> dict[str, Any]:
        doc = V.doc_from_item(item)
        task = SummarizeContext(document=doc.as_input(), max_sentences=MAX_SENTENCES)
        return {"doc": doc, "max_sentences": MAX_SENTENCES, "task": task}

    def proposals(self, item: WorkItem, output: Summary) -> list[ProposalDraft]:
        doc = V.doc_from_item(item)
        summary = " ".join(output.summary.split())[:MAX_CHARS]
        evidence = V.checked(item.texts, doc.key, output.evidence)
        if not summary or not evidence:
            return []  # a summary with nothing quoted verbatim is not grounded: not proposed
        points = "; ".join(p.strip() for p in output.key_points if p.strip())
        return [
            ProposalDraft(
                ops=Document.update_ops(doc.id, None, summary=summary),
                rationale=f"key points: {points}" if points else "summary of the current version",
                confidence=V.confidence(output.confidence),
                kind="summarize",
                evidence=evidence,
            )
        ]
