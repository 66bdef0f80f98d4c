"""The offline model's theme summary: extractive, every quote verbatim in its own document, the best
sentence of each document before a second one of any, names preferred."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from agentcrdt.errors import CannotAnswer
from agentcrdt.llm.offline.encoder import Encoder
from agentcrdt.llm.offline.summarize import summarize_theme
from agentcrdt.llm.tasks import DocumentInput, ThemeContext
from agentcrdt.retrieval import get_embedder

ENC = Encoder(get_embedder("fake").embed, "fake")
MSA = (
    "MASTER SERVICES AGREEMENT\n\nThis Master Services Agreement is made between Meridian Freight "
    "Corporation and Northwind Analytics, Inc. on March 3, 2023. Provider shall deliver the analytics "
    "services described in each statement of work. This Agreement is governed by the laws of New York."
)
AMENDMENT = (
    "AMENDMENT NO. 1\n\nThis Amendment No. 1 amends the Master Services Agreement between Meridian "
    "Freight Corporation and Northwind Analytics, Inc. The monthly fee is increased to USD 40,000 "
    "from April 1, 2024. All other terms of the Agreement remain in full force and effect."
)


def _ctx(*docs: tuple[str, str], names: list[str] | None = None, n: int = 3) -> ThemeContext:
    return ThemeContext(
        documents=[DocumentInput(id=i, text=t, title=i) for i, t in docs],
        relations=["amendment amends msa"],
        names=names or [],
        max_sentences=n,
    )


def test_a_theme_summary_quotes_each_document_verbatim_and_says_what_holds_them_together() -> None:
    out = summarize_theme(_ctx(("msa", MSA), ("amendment", AMENDMENT), names=["Meridian Freight"]), ENC)
    assert out.label == "Meridian Freight"
    assert out.summary.startswith("2 documents about Meridian Freight (amendment amends msa). ")
    assert {c.doc_id for c in out.evidence} == {"msa", "amendment"}  # one of each before any second
    texts = {"msa": MSA, "amendment": AMENDMENT}
    for c in out.evidence:
        assert texts[c.doc_id][c.quote.start : c.quote.end] == c.quote.text
        assert " ".join(c.quote.text.split()) in out.summary
    assert 0 < out.confidence <= 0.9


def test_a_theme_without_text_cannot_be_answered() -> None:
    with pytest.raises(CannotAnswer):
        summarize_theme(_ctx(("a", ""), ("b", "  ")), ENC)


sentence = st.text(st.sampled_from("abcdefgh ijklmnop"), min_size=45, max_size=90).map(lambda s: s + ".")


@settings(max_examples=40, deadline=None)
@given(
    docs=st.lists(st.lists(sentence, min_size=1, max_size=6).map(" ".join), min_size=1, max_size=4),
    n=st.integers(1, 5),
)
def test_every_quote_is_verbatim_and_at_most_max_sentences(docs: list[str], n: int) -> None:
    ctx = _ctx(*((f"d{i}", t) for i, t in enumerate(docs)), n=n)
    out = summarize_theme(ctx, ENC)
    assert 1 <= len(out.evidence) <= n
    for c in out.evidence:
        text = docs[int(c.doc_id[1:])]
        assert text[c.quote.start : c.quote.end] == c.quote.text
