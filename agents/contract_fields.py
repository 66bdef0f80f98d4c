"""Contract fields: CUAD's normalized categories (title, parties, dates, law, renewal, notice) with quotes.

The extractor for commercial contracts as CUAD annotates them (``evals/cuad-fields.yaml`` scores it):
one work item per document, one ``Document.fields[name] = FieldValue(value, quote, ...)`` per field
found, proposed together with the lowest confidence among them. Field names are CUAD's categories in
snake case; the descriptions say the value format, which real models follow and the offline model's
rules read by field name. Slot ``contract_fields``: nothing applies without review.
"""

from __future__ import annotations

from decimal import Decimal
from typing import TYPE_CHECKING, Any

from agentcrdt.capabilities import Capability
from agentcrdt.dataroom.domain import ENTITIES, Document, FieldValue
from agentcrdt.llm.tasks import ExtractContext, Extraction, FieldSpec
from agentcrdt.materialize import Reader
from agentcrdt.rooms.workflow import Evidence
from agentcrdt.runtime import Agent, ProposalDraft, Retrieval, WorkItem, load_sibling

if TYPE_CHECKING:  # the checker reads the helper as a module; at run time it is loaded by path
    import _vocabulary as V
else:
    V = load_sibling(__file__, "_vocabulary.py")

#: CUAD's categories (snake case) and the value format each must follow (shown to the model).
FIELDS: dict[str, str] = {
    "document_name": "The name of the contract as its title states it (e.g. 'Distributor Agreement').",
    "parties": "The two or more parties who signed the contract, legal names separated by '; '.",
    "agreement_date": "The date of the contract, YYYY-MM-DD.",
    "effective_date": "The date when the contract is effective, YYYY-MM-DD.",
    "expiration_date": "The date when the initial term expires, YYYY-MM-DD, or 'perpetual'.",
    "governing_law": "The state or country whose law governs the contract (e.g. 'New York', 'Ontario').",
    "renewal_term": "The length of a renewal term after the initial term, ISO 8601 (P1Y), or 'perpetual'.",
    "notice_period_to_terminate_renewal": "The notice needed to terminate renewal, ISO 8601 (P90D).",
}


class ContractFields(Agent[Extraction]):
    """Extract CUAD's normalized contract fields of each document, quoting where each was read."""

    name = "contract_fields"
    capability = Capability(
        "contract_fields", writes=("Document.fields",), reads=V.READS, proposal_kinds=("extract",)
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

    def proposals(self, item: WorkItem, output: Extraction) -> list[ProposalDraft]:
        doc = V.doc_from_item(item)
        best: dict[str, tuple[FieldValue, Evidence, Decimal]] = {}
        for found in output.fields:
            ev: Evidence | None = V.evidence_for(item.texts, doc.key, found.quote)
            if ev is None or found.name not in FIELDS or not found.value.strip():
                continue
            conf = V.confidence(found.confidence)
            if found.name not in best or conf > best[found.name][2]:
                fv = FieldValue(
                    value=found.value.strip(),
                    quote=ev.quote,
                    start=ev.start,
                    end=ev.end,
                    source_version=doc.version,
                )
                best[found.name] = (fv, ev, conf)
        if not best:
            return []
        names = sorted(best)
        ops = Document.update_ops(doc.id, None, fields={n: best[n][0] for n in names})
        return [
            ProposalDraft(
                ops=ops,
                rationale="; ".join(f"{n} = {best[n][0].value!r} ({best[n][2]})" for n in names),
                confidence=min(best[n][2] for n in names),
                kind="extract",
                evidence=[best[n][1] for n in names],
            )
        ]
