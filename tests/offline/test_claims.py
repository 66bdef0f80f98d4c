"""The offline claim reader: figures with their subjects and periods, and when two conflict."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from agentcrdt.llm.offline.claims import ambiguous, common_words, conflicts, read_claims


def one(text: str, kind: str | None = None):
    found = [c for c in read_claims(text) if kind is None or c.kind == kind]
    assert len(found) == 1, found
    return found[0]


def test_a_claim_is_the_clause_stating_a_figure_with_its_subject_and_period() -> None:
    text = "1. HIGHLIGHTS\n\n- ARR at December 31, 2025 was USD 12,600,000, compared with last year."
    c = one(text, "money")
    assert c.value == "USD 12600000"
    assert text[c.start : c.end] == "ARR at December 31, 2025 was USD 12,600,000"
    assert c.acronyms == ("ARR",)
    assert "2025-12-31" in c.years


def test_an_acronym_matches_the_words_it_abbreviates_and_a_different_figure_conflicts() -> None:
    a = one("ARR at December 31, 2025 was USD 12,600,000.", "money")
    b = one(
        "The price reflects the Company's annual recurring revenue of $14.2 million as of December 31, 2025.",
        "money",
    )
    assert conflicts(a, b) and conflicts(b, a)
    same = one("The Company's annual recurring revenue was USD 12.6 million as of December 31, 2025.")
    assert not conflicts(a, same)  # one value, however written


def test_figures_of_different_periods_or_subjects_do_not_conflict() -> None:
    fy25 = one("Total subscription revenue in FY2025 was USD 10,950,000.")
    fy24 = one("Total subscription revenue in FY2024 was USD 8,920,000.")
    unstated = one("Total subscription revenue was USD 8,920,000.")
    assert not conflicts(fy25, fy24)
    assert not conflicts(fy25, unstated)  # a period on one side only: not known to be the same figure
    pool = one("The option pool equals 12.0% of the fully diluted capitalization.")
    other = one("The escrow equals 10% of the aggregate purchase price.")
    assert not conflicts(pool, other)
    assert conflicts(pool, one("The pool represents 15% of the Company's fully diluted capitalization."))


def test_a_change_is_not_a_claim_and_a_dated_figure_is_not_also_a_date_claim() -> None:
    assert [c.kind for c in read_claims("ARR grew by USD 900,000 in the quarter.")] == []
    dated = "Annual recurring revenue of $14.2 million as of December 31, 2025."
    kinds = [c.kind for c in read_claims(dated)]
    assert kinds == ["money"]


def test_words_most_documents_share_do_not_count() -> None:
    docs = [f"Customer shall pay each invoice within thirty (30) days, document {i}." for i in range(6)]
    a = one("Customer shall pay each undisputed invoice within thirty (30) days of the invoice date.")
    b = one("Reseller shall pay each invoice within forty-five (45) days of the invoice date.")
    assert conflicts(a, b)
    assert not conflicts(a, b, common_words(docs))


def test_a_sentence_about_the_document_itself_is_marked() -> None:
    c = one("This Agreement shall remain in effect for a period of two (2) years from the Effective Date.")
    assert c.about_itself and c.kind == "duration"


_WORDS = ["revenue", "pipeline", "headcount", "backlog", "bookings", "churn", "margin", "retention"]


@given(
    st.lists(st.sampled_from(_WORDS), min_size=2, max_size=4, unique=True),
    st.lists(st.sampled_from(_WORDS), min_size=2, max_size=4, unique=True),
    st.integers(1, 99),
    st.integers(1, 99),
    st.sampled_from(["", " in FY2024", " in FY2025"]),
    st.sampled_from(["", " in FY2024", " in FY2025"]),
)
def test_conflict_is_symmetric_and_never_between_equal_values(
    wa: list[str], wb: list[str], va: int, vb: int, pa: str, pb: str
) -> None:
    a = one(f"The {' '.join(wa)} figure{pa} was {va}%.")
    b = one(f"The {' '.join(wb)} figure{pb} was {vb}%.")
    assert conflicts(a, b) == conflicts(b, a)
    if va == vb:
        assert not conflicts(a, b)
    if pa != pb:
        assert not conflicts(a, b)
    for c, text in ((a, f"{va}%"), (b, f"{vb}%")):
        assert c.value == text


def test_a_document_giving_two_values_for_one_subject_is_ambiguous_about_it() -> None:
    text = (
        "Notice is due at least ten (10) days before the Payment Date. Notice is due at least two (2) "
        "Business Days before the Payment Date."
    )
    ten, two = read_claims(text)
    assert ambiguous(ten, [ten, two]) and not ambiguous(ten, [ten])
