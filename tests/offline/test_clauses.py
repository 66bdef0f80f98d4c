"""The offline clause rules: a clause type is tagged for a clause that states it, never for its words.

Each sentence below is the kind of near miss the generic classifier tags: a word of the clause type in
a sentence that rules it out or is about something else.
"""

from __future__ import annotations

import pytest

from agentcrdt.llm.offline import clauses
from agentcrdt.llm.offline.classify import classify
from agentcrdt.llm.offline.encoder import Encoder, family_of
from agentcrdt.llm.tasks import DocumentInput, LabelSpec
from agentcrdt.retrieval import FakeEmbedder

_EMB = FakeEmbedder()
ENC = Encoder(_EMB.embed, family_of(_EMB.model_id))
KINDS = [LabelSpec(name="contract", description="A commercial contract")]
VOCAB = [LabelSpec(name=n, description=n.replace("_", " ")) for n in clauses.RULES]


def _tags(*sentences: str) -> list[str]:
    text = "\n\n".join(sentences)
    return classify(DocumentInput(id="d", text=text), KINDS, VOCAB, ENC).tags


@pytest.mark.parametrize(
    ("sentence", "tag"),
    [
        (
            "Either party may terminate this Agreement at any time upon ninety (90) days prior written"
            " notice to the other party.",
            "termination_for_convenience",
        ),
        (
            "Distributor shall not assign this Agreement without the prior written consent of Supplier.",
            "anti_assignment",
        ),
        (
            "Licensor hereby grants to Licensee a non-exclusive, non-transferable license to use the"
            " Software.",
            "license_grant",
        ),
        (
            "Licensor hereby grants to Licensee a non-exclusive, non-transferable license to use the"
            " Software.",
            "non_transferable_license",
        ),
        (
            "Company appoints Distributor as its exclusive distributor of the Products in the Territory.",
            "exclusivity",
        ),
        (
            "Supplier shall maintain commercial general liability insurance with limits of at least"
            " $1,000,000.",
            "insurance",
        ),
        (
            "In no event shall either party's aggregate liability under this Agreement exceed the fees paid"
            " in the prior twelve months.",
            "cap_on_liability",
        ),
        (
            "The parties agree that the Source Code shall be deposited with the escrow agent under the"
            " Escrow Agreement.",
            "source_code_escrow",
        ),
    ],
)
def test_a_clause_that_states_its_type_is_tagged(sentence: str, tag: str) -> None:
    assert tag in _tags(sentence)


@pytest.mark.parametrize(
    ("sentence", "tag"),
    [
        # "non-exclusive" is no exclusivity.
        ("Licensor hereby grants to Licensee a non-exclusive license to use the Software.", "exclusivity"),
        # A term in quotes being defined is not a clause.
        ('"Exclusive Territory" means the State of Ohio and nothing else at all.', "exclusivity"),
        # Headings are for convenience: nothing terminates.
        (
            "The headings in this Agreement are for convenience only and shall not affect its"
            " interpretation.",
            "termination_for_convenience",
        ),
        # Termination for breach is not termination for convenience.
        (
            "Either party may terminate this Agreement upon thirty (30) days written notice if the other"
            " party breaches it.",
            "termination_for_convenience",
        ),
        # "No third party beneficiaries" names none.
        (
            "Nothing in this Agreement shall confer any rights on any third party beneficiary.",
            "third_party_beneficiary",
        ),
        # A court of competent jurisdiction is no competition.
        (
            "Any dispute shall be resolved by a court of competent jurisdiction in the State of New York.",
            "non_compete",
        ),
        # A royalty-free license shares no revenue.
        (
            "Licensor grants Licensee a royalty-free license to use the Marks in the Territory.",
            "revenue_profit_sharing",
        ),
        # Filing legends mention confidentiality, not clauses.
        (
            "Confidential treatment has been requested for portions of this exhibit with the Securities and"
            " Exchange Commission.",
            "non_compete",
        ),
    ],
)
def test_a_near_miss_is_not_tagged(sentence: str, tag: str) -> None:
    assert tag not in _tags(sentence)


def test_an_exception_needs_a_restriction_to_except_from() -> None:
    carve_out = (
        "Nothing in this Agreement shall restrict Company from selling competing products to any third party."
    )
    assert "competitive_restriction_exception" not in _tags(carve_out)
    restriction = "During the Term, Distributor shall not sell any product that competes with the Products."
    assert {"non_compete", "competitive_restriction_exception"} <= set(_tags(restriction, carve_out))


def test_each_tag_quotes_its_own_clause_verbatim_and_the_confidence_is_the_rules_precision() -> None:
    text = (
        "Either party may terminate this Agreement at any time upon ninety (90) days prior written"
        " notice.\n\n"
        "Supplier shall maintain commercial general liability insurance with limits of at least $1,000,000."
    )
    out = classify(DocumentInput(id="d", text=text), KINDS, VOCAB, ENC)
    assert out.tags == ["termination_for_convenience", "insurance"]  # in the vocabulary's order
    assert [q.text for q in out.evidence] == [text.split("\n\n")[0], text.split("\n\n")[1]]
    assert all(text[q.start : q.end] == q.text for q in out.evidence)
    expected = (
        clauses.TUNE_PRECISION["termination_for_convenience"] + clauses.TUNE_PRECISION["insurance"]
    ) / 2
    assert out.confidence == pytest.approx(expected, abs=1e-3)


def test_no_clause_gives_no_tags_and_the_rules_answer_only_their_own_vocabulary() -> None:
    out = classify(DocumentInput(id="d", text="This page is intentionally left blank."), KINDS, VOCAB, ENC)
    assert out.tags == [] and out.evidence == []
    assert clauses.answers(VOCAB)
    assert not clauses.answers(
        [LabelSpec(name="insurance", keywords=["insurance"])]
    )  # keywords: generic path
    assert not clauses.answers([LabelSpec(name="pricing")])  # a tag the rules do not know
    assert set(clauses.TUNE_PRECISION) == set(clauses.RULES)
    assert all(0.0 < r.confidence < 1.0 for r in clauses.RULES.values())
