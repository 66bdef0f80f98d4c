"""Clause tags: which of CUAD's 33 yes/no clause types a contract contains, each with its clause quoted.

One ``classify`` request per document, with the clause types below as the tag vocabulary (descriptions
in the wording of CUAD's ``category_descriptions.csv``, written here: the agent never reads the dataset)
and no keywords, so the offline model answers with its clause rules (:mod:`agentcrdt.llm.offline.clauses`).
The model returns one quote per tag, in the order of its tags; the agent proposes each tag on its own
(``Document.tags`` += {tag}, that clause as evidence), so a reviewer accepts or rejects clause by clause.
``Classification`` carries one confidence, so every tag of a document is proposed with it. Slot
``clause_tags``: nothing applies without review. Scored by ``evals/cuad-tags.yaml``.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Any

from agentcrdt.capabilities import Capability
from agentcrdt.dataroom.domain import ENTITIES, Document
from agentcrdt.llm.tasks import Classification, ClassifyContext, LabelSpec, Quote
from agentcrdt.materialize import Reader
from agentcrdt.rooms.workflow import Evidence
from agentcrdt.runtime import Agent, ProposalDraft, Retrieval, WorkItem, load_sibling

if TYPE_CHECKING:  # the checker reads the helper as a module; at run time it is loaded by path
    import _vocabulary as V
else:
    V = load_sibling(__file__, "_vocabulary.py")

#: Clause types (CUAD's yes/no categories in snake case) and what each means, after CUAD's descriptions.
TAGS: dict[str, str] = {
    "most_favored_nation": (
        "If a third party gets better terms on the licensing or sale of technology/goods/services described "
        "in the contract, the buyer of such technology/goods/services under the contract is entitled to "
        "those better terms."
    ),
    "competitive_restriction_exception": (
        "Exceptions or carveouts to Non-Compete, Exclusivity and No-Solicit of Customers."
    ),
    "non_compete": (
        "A restriction on the ability of a party to compete with the counterparty or operate in a certain "
        "geography or business or technology sector."
    ),
    "exclusivity": (
        "An exclusive dealing commitment with the counterparty: a commitment to procure all requirements "
        "from one party of certain technology, goods or services, or a prohibition on licensing or selling "
        "technology, goods or services to third parties, or on collaborating or working with other parties, "
        "during the contract or after it ends (or both)."
    ),
    "no_solicit_of_customers": (
        "A party is restricted from contracting or soliciting customers or partners of the counterparty, "
        "during the contract or after it ends (or both)."
    ),
    "no_solicit_of_employees": (
        "A restriction on a party's soliciting or hiring employees and/or contractors from the counterparty, "
        "during the contract or after it ends (or both)."
    ),
    "non_disparagement": "A requirement on a party not to disparage the counterparty.",
    "termination_for_convenience": (
        "A party can terminate this contract without cause (solely by giving a notice and allowing a "
        "waiting period to expire)."
    ),
    "rofr_rofo_rofn": (
        "A clause granting one party a right of first refusal, right of first offer or right of first "
        "negotiation to purchase, license, market, or distribute equity interest, technology, assets, "
        "products or services."
    ),
    "change_of_control": (
        "One party has the right to terminate, or consent or notice of the counterparty is required, if such "
        "party undergoes a change of control, such as a merger, stock sale, transfer of all or substantially "
        "all of its assets or business, or assignment by operation of law."
    ),
    "anti_assignment": (
        "Consent or notice is required of a party if the contract is assigned to a third party."
    ),
    "revenue_profit_sharing": (
        "One party is required to share revenue or profit with the counterparty for any technology, goods, "
        "or services."
    ),
    "price_restrictions": (
        "A restriction on the ability of a party to raise or reduce prices of technology, goods, or "
        "services provided."
    ),
    "minimum_commitment": (
        "A minimum order size or minimum amount or units per time period that one party must buy from the "
        "counterparty under the contract."
    ),
    "volume_restriction": (
        "A fee increase or consent requirement, etc. if one party's use of the product/services exceeds a "
        "certain threshold."
    ),
    "ip_ownership_assignment": (
        "Intellectual property created by one party becomes the property of the counterparty, either per "
        "the terms of the contract or upon the occurrence of certain events."
    ),
    "joint_ip_ownership": (
        "A clause providing for joint or shared ownership of intellectual property between the parties to "
        "the contract."
    ),
    "license_grant": "The contract contains a license granted by one party to its counterparty.",
    "non_transferable_license": (
        "The contract limits the ability of a party to transfer the license being granted to a third party."
    ),
    "affiliate_license_licensor": (
        "A license grant by affiliates of the licensor, or that includes intellectual property of affiliates "
        "of the licensor."
    ),
    "affiliate_license_licensee": (
        "A license grant to a licensee (incl. sublicensor) and the affiliates of such licensee/sublicensor."
    ),
    "unlimited_all_you_can_eat_license": (
        'A clause granting one party an "enterprise", "all you can eat" or unlimited usage license.'
    ),
    "irrevocable_or_perpetual_license": (
        "The contract contains a license grant that is irrevocable or perpetual."
    ),
    "source_code_escrow": (
        "One party is required to deposit its source code into escrow with a third party, which can be "
        "released to the counterparty upon the occurrence of certain events (bankruptcy, insolvency, etc.)."
    ),
    "post_termination_services": (
        "A party is subject to obligations after the termination or expiration of the contract, including "
        "any post-termination transition, payment, transfer of IP, wind-down, last-buy, or similar "
        "commitments."
    ),
    "audit_rights": (
        "A party has the right to audit the books, records, or physical locations of the counterparty to "
        "ensure compliance with the contract."
    ),
    "uncapped_liability": (
        "A party's liability is uncapped upon the breach of its obligation in the contract, including "
        "uncapped liability for a particular type of breach such as IP infringement or breach of "
        "confidentiality obligation."
    ),
    "cap_on_liability": (
        "A cap on liability upon the breach of a party's obligation, including a time limitation for the "
        "counterparty to bring claims or a maximum amount for recovery."
    ),
    "liquidated_damages": (
        "A clause that would award either party liquidated damages for breach or a fee upon the termination "
        "of a contract (termination fee)."
    ),
    "warranty_duration": (
        "A warranty against defects or errors in technology, products, or services provided under the "
        "contract, for a stated duration."
    ),
    "insurance": (
        "A requirement for insurance that must be maintained by one party for the benefit of the"
        " counterparty."
    ),
    "covenant_not_to_sue": (
        "A party is restricted from contesting the validity of the counterparty's ownership of intellectual "
        "property or otherwise bringing a claim against the counterparty for matters unrelated to the "
        "contract."
    ),
    "third_party_beneficiary": (
        "A non-contracting party is a beneficiary to some or all of the clauses in the contract and "
        "therefore can enforce its rights against a contracting party."
    ),
}

#: The one kind the task needs (``classify`` always names one); the agent does not write it.
KIND = LabelSpec(name="contract", description="A commercial contract")

_WORD = re.compile(r"[a-z0-9]+")


def tag_specs() -> list[LabelSpec]:
    """Return the clause types as the task vocabulary (no keywords: the descriptions say it all)."""
    return [LabelSpec(name=n, description=d) for n, d in TAGS.items()]


def _nearest(tag: str, quotes: list[Quote]) -> Quote:
    """The quote sharing most words with the tag's name and description (a model that did not keep to
    one quote per tag, in order, still gets each tag its likeliest clause)."""
    words = set(_WORD.findall(f"{tag.replace('_', ' ')} {TAGS[tag]}".lower()))
    return max(quotes, key=lambda q: len(words & set(_WORD.findall(q.text.lower()))))


def attribute(tags: list[str], quotes: list[Quote]) -> list[tuple[str, Quote]]:
    """Pair each tag with the quote it rests on: by position when there is one quote per tag."""
    if not quotes:
        return []
    if len(quotes) == len(tags):
        return list(zip(tags, quotes, strict=True))
    return [(t, _nearest(t, quotes)) for t in tags]


class ClauseTags(Agent[Classification]):
    """Tag each contract with the CUAD clause types it contains, one proposal per tag with its clause."""

    name = "clause_tags"
    capability = Capability(
        "clause_tags", writes=("Document.tags",), reads=V.READS, proposal_kinds=("classify",)
    )
    prompt = "clause_tags.md.j2"
    entities = ENTITIES

    def select(self, reader: Reader) -> list[WorkItem]:
        items: list[WorkItem] = V.document_items(reader)
        return items

    def context(self, item: WorkItem, retrieval: Retrieval | None) -> dict[str, Any]:
        doc = V.doc_from_item(item)
        tags = tag_specs()
        task = ClassifyContext(document=doc.as_input(), kinds=[KIND], tags=tags)
        return {"doc": doc, "kinds": [KIND], "tags": tags, "task": task}

    def proposals(self, item: WorkItem, output: Classification) -> list[ProposalDraft]:
        doc = V.doc_from_item(item)
        confidence = V.confidence(output.confidence)
        drafts: list[ProposalDraft] = []
        seen: set[str] = set()
        for tag, q in attribute(output.tags, output.evidence):
            ev: Evidence | None = V.evidence_for(item.texts, doc.key, q)
            if tag not in TAGS or tag in seen or ev is None:
                continue  # outside the vocabulary, repeated, or not quoted verbatim: no claim to review
            seen.add(tag)
            # current=None: the op only adds the tag; it never removes one a person (or a run) added.
            drafts.append(
                ProposalDraft(
                    ops=Document.update_ops(doc.id, None, tags={tag}),
                    rationale=f"{tag}: {ev.quote[:160]}",
                    confidence=confidence,
                    kind="classify",
                    evidence=[ev],
                )
            )
        return drafts
