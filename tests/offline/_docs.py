# ruff: noqa: E501  (documents read better unwrapped: sentence splitting is part of what is tested)
"""Hand-written documents for the offline model's tests."""

from __future__ import annotations

from typing import Any

MSA = """MASTER SERVICES AGREEMENT

This Master Services Agreement (the "Agreement") is entered into as of March 1, 2021 (the "Effective Date") by and between Acme Corp., a Delaware corporation ("Acme"), and Beta Analytics LLC, a New York limited liability company ("Provider").

1. Services. Provider shall provide the data analytics services described in each statement of work.

2. Fees. Acme shall pay Provider a total fee of $120,000 per year. Provider shall invoice monthly, and Acme shall pay each invoice within thirty (30) days of receipt.

3. Term. The initial term of this Agreement shall commence on the Effective Date and continue for a period of two (2) years. This Agreement shall automatically renew for successive one (1) year periods unless either party gives written notice of non-renewal at least sixty (60) days before the end of the then-current term.

4. Confidentiality. Each party shall keep the other party's Confidential Information secret and shall not disclose it to any third party.

5. Governing Law. This Agreement shall be governed by and construed in accordance with the laws of the State of Delaware, without regard to its conflict of laws principles.

6. Assignment. Neither party may assign this Agreement without the prior written consent of the other party.
"""

AMENDMENT = """AMENDMENT NO. 1 TO MASTER SERVICES AGREEMENT

This Amendment No. 1 is made as of September 15, 2021 between Acme Corp. and Beta Analytics LLC.

The parties hereby amend the Master Services Agreement dated March 1, 2021 as follows.

1. Fees. Acme shall pay Provider a total fee of $150,000 per year.

2. Governing Law. This Agreement shall be governed by the laws of the State of New York.

3. Except as amended hereby, the Master Services Agreement remains in full force and effect.
"""

NDA = """MUTUAL NON-DISCLOSURE AGREEMENT

This Mutual Non-Disclosure Agreement is made as of January 10, 2021 between Acme Corp. and Gamma Robotics Inc.

Each party may disclose confidential information to the other party in connection with a possible business relationship. The receiving party shall hold the disclosing party's confidential information in strict confidence and shall not disclose it to any third party. The obligations of confidentiality survive for three (3) years after disclosure.

This Agreement shall be governed by the laws of the State of California.
"""

FINANCIALS = """Q3 FINANCIAL SUMMARY

Revenue for the third quarter was $4.2 million, up 12% from the prior year. Gross margin improved to 61%. Operating expenses rose because of hiring in the sales team. Cash at the end of the quarter was $9.8 million.
"""

KINDS = [
    {"name": "services_agreement", "description": "A contract under which a provider delivers services for fees",
     "keywords": ["services agreement"]},
    {"name": "amendment", "description": "A document that amends or modifies an existing agreement",
     "keywords": ["amendment"]},
    {"name": "nda", "description": "A non-disclosure or confidentiality agreement",
     "keywords": ["non-disclosure", "confidentiality agreement"]},
    {"name": "financial_summary", "description": "Financial results: revenue, margins, cash",
     "keywords": ["financial summary"]},
]  # fmt: skip

TAGS = [
    {"name": "governing_law", "description": "Which jurisdiction's law governs the contract",
     "keywords": ["governed by", "governing law"]},
    {"name": "confidentiality", "description": "Obligations to keep information confidential",
     "keywords": ["confidential information"]},
    {"name": "anti_assignment", "description": "Restrictions on assigning the agreement",
     "keywords": ["may assign", "may not assign", "assign this agreement"]},
    {"name": "auto_renewal", "description": "The agreement renews automatically", "keywords": ["automatically renew"]},
    {"name": "non_compete", "description": "A party may not compete with the other", "keywords": ["non-compete"]},
]  # fmt: skip

FIELDS = [
    "parties", "agreement_date", "effective_date", "expiration_date", "governing_law", "term", "renewal_term",
    "notice_period", "payment_terms", "amount",
]  # fmt: skip


def doc(doc_id: str, text: str, title: str = "") -> dict[str, Any]:
    return {"id": doc_id, "text": text, "title": title}
