"""Tagger: the document's kind and its clause-type tags, from the dataroom's label sets.

Reads a document's current version (title and text); proposes ``Document.kind`` and ``Document.tags``
with the quotes that support them. Slot ``tagger``: auto-accepted at confidence >= 0.8 (the demo grant),
otherwise reviewed. The label sets below are the vocabulary of ``examples/falcon/expected.json``.
"""

from __future__ import annotations

from decimal import Decimal
from typing import TYPE_CHECKING, Any

from agentcrdt.capabilities import AutoAccept, Capability
from agentcrdt.dataroom.domain import ENTITIES, Document
from agentcrdt.llm.tasks import Classification, ClassifyContext, LabelSpec
from agentcrdt.materialize import Reader
from agentcrdt.runtime import Agent, ProposalDraft, Retrieval, WorkItem, load_sibling

if TYPE_CHECKING:  # the checker reads the helper as a module; at run time it is loaded by path
    import _vocabulary as V
else:
    V = load_sibling(__file__, "_vocabulary.py")

#: Document kinds: name -> (description, keywords that signal it in the title or opening).
KINDS: dict[str, tuple[str, tuple[str, ...]]] = {
    "nda": (
        "Non-disclosure / confidentiality agreement",
        ("non-disclosure", "nda", "confidentiality agreement"),
    ),
    "loi": (
        "Letter of intent, term sheet or other non-binding deal proposal",
        ("letter of intent", "term sheet", "non-binding"),
    ),
    "msa": (
        "Master services / customer subscription agreement",
        ("master services agreement", "subscription agreement"),
    ),
    "amendment": ("Amendment to, or variation of, another agreement", ("amendment no", "amendment to")),
    "reseller": (
        "Reseller, distribution or channel partner agreement",
        ("reseller", "distribution agreement"),
    ),
    "lease": ("Real estate lease or sublease", ("lease", "sublease", "landlord")),
    "employment": (
        "Employment, executive or consulting agreement with an individual",
        ("employment agreement", "consulting agreement"),
    ),
    "ip_assignment": (
        "Assignment of intellectual property rights (founder, employee or third party)",
        ("intellectual property assignment", "ip assignment"),
    ),
    "license": (
        "Inbound or outbound software or technology license",
        ("license agreement", "licence agreement"),
    ),
    "dpa": (
        "Data processing agreement or other data protection addendum",
        ("data processing agreement", "data protection addendum"),
    ),
    "financials": (
        "Financial statements, summaries, management accounts or KPI reports",
        ("financial summary", "management accounts", "financial statements"),
    ),
    "board_minutes": (
        "Minutes, written consents or resolutions of the board or stockholders",
        ("minutes", "written consent", "board of directors"),
    ),
    "cap_table": ("Capitalization table or equity ownership summary", ("capitalization table", "cap table")),
    "customer_list": (
        "Customer list, top customers or revenue concentration summary",
        ("top 10 customers", "customer list", "top customers"),
    ),
    "other": ("Anything that fits none of the kinds above", ()),
}

#: Clause-type tags: name -> (description, keywords that signal it in a sentence).
TAGS: dict[str, tuple[str, tuple[str, ...]]] = {
    "confidentiality": ("Obligations to keep information confidential", ("confidential information",)),
    "non_solicitation": ("Restrictions on soliciting employees or customers", ("solicit",)),
    "non_compete": ("Restrictions on competing after a relationship ends", ("non-compet", "compete with")),
    "exclusivity": ("Exclusive dealing, no-shop or exclusive appointment terms", ("exclusivity", "no-shop")),
    "governing_law": ("Choice of governing law", ("governed by",)),
    "dispute_resolution": (
        "Courts, venue, jurisdiction or arbitration",
        ("arbitration", "exclusive jurisdiction"),
    ),
    "term_and_renewal": ("Duration, expiry, renewal or extension options", ("initial term", "renew")),
    "termination": ("Termination rights, cure periods and effects of termination", ("may terminate",)),
    "fees": ("Prices, fees, rent, salary or other amounts payable", ("fee", "base rent", "base salary")),
    "payment_terms": ("Invoicing schedule and payment deadlines", ("invoice",)),
    "service_levels": (
        "Availability commitments, support levels and service credits",
        ("service level", "service credit", "uptime"),
    ),
    "license_grant": ("Grant and scope of a license to use software or IP", ("grants to", "license to use")),
    "intellectual_property": (
        "Ownership, assignment or protection of intellectual property",
        ("intellectual property",),
    ),
    "data_protection": (
        "Personal data processing, GDPR, sub-processors, breach notification, transfers",
        ("personal data", "gdpr", "sub-processor"),
    ),
    "audit_rights": ("Rights to audit records, usage or compliance", ("audit",)),
    "warranties": ("Representations and warranties and their disclaimers", ("warrants", "warranty")),
    "indemnification": ("Indemnities and defense of third-party claims", ("indemnif",)),
    "limitation_of_liability": (
        "Caps and exclusions of liability",
        ("limitation of liability", "liable for"),
    ),
    "insurance": ("Required insurance coverage", ("insurance",)),
    "assignment": (
        "Restrictions on assigning or transferring the agreement",
        ("may not assign", "assign this"),
    ),
    "change_of_control": ("Consequences of a merger or change of control of a party", ("change of control",)),
    "notices": ("How formal notices must be given", ("notices",)),
    "employment_terms": (
        "Position, compensation, benefits and severance of an individual",
        ("base salary", "severance"),
    ),
    "real_estate": ("Premises, rent and other real property terms", ("premises", "rentable square feet")),
    "purchase_price": ("Deal consideration, escrow and valuation terms", ("purchase price", "escrow")),
    "equity": (
        "Shares, options, preferred stock and ownership percentages",
        ("common stock", "preferred stock", "option pool"),
    ),
    "financial_metrics": (
        "Revenue, ARR, margins, EBITDA, cash and other KPIs",
        ("arr", "ebitda", "gross margin"),
    ),
    "customer_concentration": (
        "Dependence on individual or top customers",
        ("top 10 customers", "largest customer"),
    ),
    "approvals": ("Board or stockholder approvals, consents and resolutions", ("resolved", "approved")),
}


def label_specs(labels: dict[str, tuple[str, tuple[str, ...]]]) -> list[LabelSpec]:
    """Return the labels as the task vocabulary's ``LabelSpec`` list."""
    return [LabelSpec(name=n, description=d, keywords=list(k)) for n, (d, k) in labels.items()]


class Tagger(Agent[Classification]):
    """Classify each document (kind + tags) and propose the labels with their supporting quotes."""

    name = "tagger"
    capability = Capability(
        "tagger",
        writes=("Document.kind", "Document.tags"),
        reads=V.READS,
        proposal_kinds=("classify",),
        auto_accept=AutoAccept(Decimal("0.8")),
    )
    prompt = "tagger.md.j2"
    entities = ENTITIES

    def select(self, reader: Reader) -> list[WorkItem]:
        items: list[WorkItem] = V.document_items(reader)
        return items

    def context(self, item: WorkItem, retrieval: Retrieval | None) -> dict[str, Any]:
        doc = V.doc_from_item(item)
        kinds, tags = label_specs(KINDS), label_specs(TAGS)
        task = ClassifyContext(document=doc.as_input(), kinds=kinds, tags=tags)
        return {"doc": doc, "kinds": kinds, "tags": tags, "task": task}

    def proposals(self, item: WorkItem, output: Classification) -> list[ProposalDraft]:
        doc = V.doc_from_item(item)
        kind = output.kind if output.kind in KINDS else None
        tags = sorted({t for t in output.tags if t in TAGS})
        evidence = V.checked(item.texts, doc.key, output.evidence)
        if (kind is None and not tags) or not evidence:
            return []  # nothing from the vocabulary, or nothing quoted verbatim: no claim to review
        changes: dict[str, Any] = {"tags": set(tags)}
        if kind is not None:
            changes["kind"] = kind
        # current=None on purpose: the ops only set the kind and add tags; they never remove a tag a
        # person (or an earlier run) added, and the agent does not read what it writes.
        ops = Document.update_ops(doc.id, None, **changes)
        labels = ([f"kind {kind}"] if kind else []) + ([f"tags {', '.join(tags)}"] if tags else [])
        return [
            ProposalDraft(
                ops=ops,
                rationale=output.rationale or "; ".join(labels),
                confidence=V.confidence(output.confidence),
                kind="classify",
                evidence=evidence,
            )
        ]
