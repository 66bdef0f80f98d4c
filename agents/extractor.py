"""Extractor: contract fields (parties, dates, law, term, renewal, notice, payment, fees) with exact quotes.

Reads a document's current version; proposes ``Document.fields[name] = FieldValue(value, quote, start,
end, source_version)``, one map key per field. Slot ``extractor``: auto-accepted at confidence >= 0.8.

Each document yields at most **two** proposals: the fields at or above the auto-accept threshold
together (confidence = the lowest of them, so the grant accepts them at once), and the rest together
(confidence = the lowest of those, left for review). Per-field proposals would make reviewing ten
fields ten decisions; one proposal for all would let one weak field hold back the sure ones.
"""

from __future__ import annotations

import re
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from agentcrdt.capabilities import AutoAccept, Capability
from agentcrdt.dataroom.domain import ENTITIES, Document, FieldValue
from agentcrdt.llm.tasks import ExtractContext, ExtractedField, Extraction, FieldSpec
from agentcrdt.materialize import Reader
from agentcrdt.rooms.workflow import Evidence
from agentcrdt.runtime import Agent, ProposalDraft, Retrieval, WorkItem, load_sibling

if TYPE_CHECKING:  # the checker reads the helper as a module; at run time it is loaded by path
    import _vocabulary as V
else:
    V = load_sibling(__file__, "_vocabulary.py")

AUTO_ACCEPT = Decimal("0.8")

#: The fields extracted, with the normalization each value must follow (shown to the model).
FIELDS: dict[str, str] = {
    "parties": "The legal names of the parties, as written in the document, separated by '; '.",
    "effective_date": "The date the agreement takes effect (reports and minutes: their date), YYYY-MM-DD.",
    "governing_law": "The jurisdiction whose law governs it: Delaware, New York, England and Wales.",
    "term": "The (initial) term as an ISO 8601 duration (P3Y, P12M), or 'at will', 'perpetual'.",
    "renewal": "'auto P1Y' (automatic renewal for that period), 'option P3Y' (an option), or 'none'.",
    "notice_period": "The principal notice period (non-renewal, option exercise, resignation), ISO 8601.",
    "payment_terms": "Invoicing schedule and deadline: 'annual in advance, Net 30' (Net N: days to pay).",
    "fees": "The main recurring fee, rent, salary or price, as 'USD <integer>' (no separators).",
}


def canonical(name: str, value: str, quote: str) -> str:
    """Bring a value into the field's format where the model left it in the task's generic one.

    The task vocabulary writes a payment deadline as ``P30D`` and a renewal as ``P1Y``; the dataroom's
    formats are ``Net 30`` and ``auto P1Y`` / ``option P3Y`` (the quote says which).
    """
    v = value.strip()
    if name == "payment_terms":
        m = re.fullmatch(r"P(\d+)D", v)
        if m:
            return f"Net {m.group(1)}"
    if name == "renewal" and re.fullmatch(r"P\d+[YMD]", v):
        if re.search(r"\bautomatic", quote, re.I):
            return f"auto {v}"
        if re.search(
            r"\boption\b|\bmay\s+(be\s+)?(renew|extend)|\brenewable\b|\bmutual(ly)?\b|agree\w*\s+(in\s+writing\s+)?to\s+extend",
            quote,
            re.I,
        ):
            return f"option {v}"
    return v


class Extractor(Agent[Extraction]):
    """Extract the contract fields of each document and propose them with their quotes."""

    name = "extractor"
    capability = Capability(
        "extractor",
        writes=("Document.fields",),
        reads=V.READS,
        proposal_kinds=("extract",),
        auto_accept=AutoAccept(AUTO_ACCEPT),
    )
    prompt = "extractor.md.j2"
    entities = ENTITIES

    def select(self, reader: Reader) -> list[WorkItem]:
        items: list[WorkItem] = V.document_items(reader)
        return items

    def context(self, item: WorkItem, retrieval: Retrieval | None) -> dict[str, Any]:
        doc = V.doc_from_item(item)
        fields = [FieldSpec(name=n, description=d) for n, d in FIELDS.items()]
        return {"doc": doc, "fields": fields, "task": ExtractContext(document=doc.as_input(), fields=fields)}

    def _checked(self, item: WorkItem, found: ExtractedField) -> tuple[FieldValue, Evidence, Decimal] | None:
        doc = V.doc_from_item(item)
        ev: Evidence | None = V.evidence_for(item.texts, doc.key, found.quote)
        if ev is None or found.name not in FIELDS or not found.value.strip():
            return None
        value = canonical(found.name, found.value, ev.quote)
        fv = FieldValue(value=value, quote=ev.quote, start=ev.start, end=ev.end, source_version=doc.version)
        return fv, ev, V.confidence(found.confidence)

    def proposals(self, item: WorkItem, output: Extraction) -> list[ProposalDraft]:
        doc = V.doc_from_item(item)
        best: dict[str, tuple[FieldValue, Evidence, Decimal]] = {}
        for found in output.fields:
            got = self._checked(item, found)
            if got is not None and (found.name not in best or got[2] > best[found.name][2]):
                best[found.name] = got
        high = {n: v for n, v in best.items() if v[2] >= AUTO_ACCEPT}
        low = {n: v for n, v in best.items() if v[2] < AUTO_ACCEPT}
        return [self._draft(doc.id, group) for group in (high, low) if group]

    def _draft(self, doc_id: str, group: dict[str, tuple[FieldValue, Evidence, Decimal]]) -> ProposalDraft:
        names = sorted(group)
        # current=None on purpose: only these keys are set; fields written by people stay untouched.
        ops = Document.update_ops(doc_id, None, fields={n: group[n][0] for n in names})
        return ProposalDraft(
            ops=ops,
            rationale="; ".join(f"{n} = {group[n][0].value!r} ({group[n][2]})" for n in names),
            confidence=min(group[n][2] for n in names),
            kind="extract",
            evidence=[group[n][1] for n in names],
        )
