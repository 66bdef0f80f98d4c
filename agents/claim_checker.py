"""Claim checker: verify each claim document against the room's other documents (its sources).

A *claim document* is one whose id starts with ``claim`` (``claim.txt``, ``claims-press-release.md``);
its whole text is the claim. Every other document is a source. One work item per claim document,
holding the claim and the sources' current versions, so a new version of either re-asks only that claim.

What it writes, in one proposal per claim (slot ``claim_checker``, every verdict reviewed):

* ``Document.fields["verdict"]`` on the claim document: ``supported``, ``partially_supported`` or
  ``not_supported``, quoting the claim. A field, not a tag: a re-check after a source changes replaces
  the verdict (LWW) instead of piling up labels, and it sits where a reader of the claim looks.
* a ``Finding`` ``claim:<claim id>`` with evidence on both sides, the claim and the source sentences the
  verdict rests on. A claim the sources do not (fully) support is a *risk* for whoever relies on it
  (severity high when nothing supports it, medium when part of it is unsupported), which is what a
  reviewer works through; a supported claim is a *connection* (severity info) between the claim and the
  sentences that state it, so every verdict can be audited from the same place, and a later re-check
  that changes the verdict updates the same finding instead of leaving a stale one behind.
"""

from __future__ import annotations

import re
from decimal import Decimal
from typing import TYPE_CHECKING, Any, Literal

from agentcrdt.capabilities import Capability
from agentcrdt.dataroom.domain import ENTITIES, Document, FieldValue, Finding
from agentcrdt.llm.tasks import Verification, VerifyContext
from agentcrdt.materialize import Reader
from agentcrdt.rooms.workflow import Evidence
from agentcrdt.runtime import Agent, ProposalDraft, Retrieval, WorkItem, load_sibling

if TYPE_CHECKING:  # the checker reads the helper as a module; at run time it is loaded by path
    import _vocabulary as V
else:
    V = load_sibling(__file__, "_vocabulary.py")

#: The claim document's field holding the verdict (what the eval's ``verdicts`` scorer reads).
VERDICT_FIELD = "verdict"
#: Source quotes kept per verdict (the proposal's evidence holds at most 32 spans in all).
MAX_QUOTES = 12
_CLAIM = re.compile(r"^claims?(?:[-_.]|$)")
_SEVERITY: dict[str, Literal["info", "medium", "high"]] = {
    "supported": "info",
    "partially_supported": "medium",
    "not_supported": "high",
}
_SAY = {
    "supported": "Supported",
    "partially_supported": "Partially supported",
    "not_supported": "Not supported",
}


def is_claim(doc_id: str) -> bool:
    """Tell whether a document is a claim to verify (its id starts with ``claim``)."""
    return _CLAIM.match(doc_id) is not None


class ClaimChecker(Agent[Verification]):
    """Verify each claim document against the other documents and propose its verdict with quotes."""

    name = "claim_checker"
    capability = Capability(
        "claim_checker",
        writes=("Document.fields", "Finding.*"),
        reads=V.READS,
        proposal_kinds=("verdict",),
    )
    prompt = "claim_checker.md.j2"
    entities = ENTITIES

    def select(self, reader: Reader) -> list[WorkItem]:
        docs = V.read_documents(reader)
        sources = sorted((d for d in docs if not is_claim(d.id)), key=lambda d: d.id)
        if not sources:
            return []
        items = []
        for claim in sorted((d for d in docs if is_claim(d.id)), key=lambda d: d.id):
            texts = {claim.key: claim.text, **{s.key: s.text for s in sources}}
            items.append(
                WorkItem(
                    "Document",
                    claim.id,
                    inputs={
                        "claim": [claim.id, claim.title, claim.version],
                        "sources": [[s.id, s.title, s.version] for s in sources],
                    },
                    texts=texts,
                )
            )
        return items

    @staticmethod
    def _docs(item: WorkItem) -> tuple[V.Doc, list[V.Doc]]:
        def doc(entry: list[str]) -> V.Doc:
            doc_id, title, version = entry
            return V.Doc(doc_id, title, version, item.texts[("DocumentVersion", version, "text")])

        return doc(item.inputs["claim"]), [doc(s) for s in item.inputs["sources"]]

    def context(self, item: WorkItem, retrieval: Retrieval | None) -> dict[str, Any]:
        claim, sources = self._docs(item)
        return {
            "claim": claim,
            "sources": sources,
            "task": VerifyContext(claim=claim.as_input(), sources=[s.as_input() for s in sources]),
        }

    def proposals(self, item: WorkItem, output: Verification) -> list[ProposalDraft]:
        claim, sources = self._docs(item)
        stated = claim.text.strip()
        claim_ev: Evidence | None = V.evidence_for(item.texts, claim.key, stated) if stated else None
        if claim_ev is None:
            return []  # an empty claim document: nothing to verify
        by_id = {s.id: s for s in sources}
        quoted: list[tuple[str, Evidence]] = []
        for c in output.evidence:
            src = by_id.get(c.doc_id)
            ev: Evidence | None = None if src is None else V.evidence_for(item.texts, src.key, c.quote)
            if src is not None and ev is not None and all(ev != e for _, e in quoted):
                quoted.append((src.id, ev))
        quoted = quoted[:MAX_QUOTES]
        verdict = output.verdict
        fv = FieldValue(
            value=verdict,
            quote=claim_ev.quote,
            start=claim_ev.start,
            end=claim_ev.end,
            source_version=claim.version,
        )
        where = ", ".join(sorted({d for d, _ in quoted})) or "no source sentence"
        ops = [
            *Document.update_ops(claim.id, None, fields={VERDICT_FIELD: fv}),
            *Finding.create_ops(
                id=f"claim:{claim.id}",
                kind="connection" if verdict == "supported" else "risk",
                title=f"{_SAY[verdict]}: {' '.join(stated.split())}"[:300],
                description=f"{output.rationale} Quoted: {where}."[:4000],
                evidence=[V.span_of(claim.id, claim_ev), *(V.span_of(d, e) for d, e in quoted)],
                severity=_SEVERITY[verdict],
                status="open",
            ),
        ]
        confidence: Decimal = V.confidence(output.confidence)
        return [
            ProposalDraft(
                ops=ops,
                rationale=f"{claim.id} is {verdict.replace('_', ' ')}: {output.rationale}"[:8000],
                confidence=confidence,
                kind="verdict",
                evidence=[claim_ev, *(e for _, e in quoted)],
            )
        ]
