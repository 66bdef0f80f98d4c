"""The naive baseline an exploration is measured against: no traversal, no relations.

Every document's fields are read (one ``extract`` call each); every document is paired with the ``k``
documents whose chunks are most similar to its own (the best chunk-to-chunk cosine); every pair's facts
are compared (one ``compare`` call per pair). What it finds are its contradictions; the pairs it compared
are its connections. It runs on the same model as the job, in the same eval case, so the two are
compared on the same documents, calls and quotes.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from agentcrdt.llm.base import Message, Model
from agentcrdt.llm.offline.reflect import FIELDS
from agentcrdt.llm.tasks import (
    CompareContext,
    Contradictions,
    DocumentInput,
    ExtractContext,
    Extraction,
    Fact,
    FieldSpec,
)
from agentcrdt.retrieval import Embedder

__all__ = ["BaselineDoc", "naive_baseline"]

CHUNK = 800


@dataclass(frozen=True)
class BaselineDoc:
    """A document as the baseline reads it: id, the version its quotes point into, the text."""

    id: str
    version: str
    text: str


def _messages(task: Any) -> list[Message]:
    instructions = (type(task).__doc__ or "").strip()
    return [
        Message(role="system", content=f"You are a careful contract analyst. {instructions} Answer in JSON."),
        Message(role="user", content=json.dumps(task.model_dump(mode="json"), ensure_ascii=False)),
    ]


def _pairs(docs: Sequence[BaselineDoc], embedder: Embedder, k: int) -> list[tuple[str, str]]:
    chunks: list[tuple[int, str]] = []
    for i, d in enumerate(docs):
        for start in range(0, max(1, len(d.text)), CHUNK):
            piece = d.text[start : start + CHUNK]
            if piece.strip():
                chunks.append((i, piece))
    if not chunks:
        return []
    vecs = np.asarray(embedder.embed([c for _, c in chunks]), dtype=np.float32)
    vecs /= np.maximum(np.linalg.norm(vecs, axis=1, keepdims=True), 1e-9)
    owner = np.array([i for i, _ in chunks])
    sims = vecs @ vecs.T
    n = len(docs)
    best = np.full((n, n), -1.0, dtype=np.float32)  # best chunk-to-chunk cosine between two documents
    for a in range(n):
        rows = sims[owner == a]
        for b in range(n):
            if a != b and rows.size:
                best[a, b] = float(rows[:, owner == b].max()) if (owner == b).any() else -1.0
    pairs: set[tuple[str, str]] = set()
    for a in range(n):
        order = sorted((b for b in range(n) if b != a), key=lambda b: (-best[a, b], docs[b].id))
        for b in order[:k]:
            pairs.add(tuple(sorted((docs[a].id, docs[b].id))))  # type: ignore[arg-type]
    return sorted(pairs)


async def naive_baseline(
    docs: Sequence[BaselineDoc], model: Model, embedder: Embedder, k: int = 3
) -> dict[str, Any]:
    """Run the baseline; return its findings (in the scorer's evidence form), pairs and calls."""
    by_id = {d.id: d for d in docs}
    fields = [FieldSpec(name=f) for f in FIELDS]
    calls = 0
    facts: dict[str, list[Fact]] = {}
    for d in docs:
        task = ExtractContext(document=DocumentInput(id=d.id, text=d.text), fields=fields)
        response = await model.request(
            _messages(task), Extraction, None, context=task.model_dump(mode="json")
        )
        calls += 1
        out = response.output
        assert isinstance(out, Extraction)
        facts[d.id] = [
            Fact(doc_id=d.id, field=f.name, value=f.value, quote=f.quote, confidence=f.confidence)
            for f in out.fields
        ]
    pairs = _pairs(docs, embedder, k)
    findings: list[dict[str, Any]] = []
    for a, b in pairs:
        both = [
            f for f in facts[a] + facts[b] if f.field not in ("parties", "effective_date", "expiration_date")
        ]
        if not both:
            continue
        ctx = CompareContext(facts=both, documents=[DocumentInput(id=x, text=by_id[x].text) for x in (a, b)])
        compared = await model.request(
            _messages(ctx), Contradictions, None, context=ctx.model_dump(mode="json")
        )
        calls += 1
        result = compared.output
        assert isinstance(result, Contradictions)
        for c in result.findings:
            if {c.doc_a, c.doc_b} != {a, b}:
                continue
            evidence = [
                {
                    "document": doc,
                    "version": by_id[doc].version,
                    "quote": q.text,
                    "start": q.start,
                    "end": q.end,
                }
                for doc, q in ((c.doc_a, c.quote_a), (c.doc_b, c.quote_b))
                if by_id[doc].text[q.start : q.end] == q.text
            ]
            if len(evidence) == 2:
                findings.append(
                    {"title": f"{c.field_or_claim}: {c.value_a} vs {c.value_b}", "evidence": evidence}
                )
    return {"findings": findings, "pairs": [list(p) for p in pairs], "calls": calls}
