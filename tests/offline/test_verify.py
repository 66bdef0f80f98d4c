"""The offline verifier (task ``verify``): properties of its verdicts and its quotes."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from agentcrdt.llm.offline import OfflineModel
from agentcrdt.llm.offline.encoder import Encoder
from agentcrdt.llm.offline.verify import verify
from agentcrdt.llm.tasks import DocumentInput, Verification, VerifyContext
from agentcrdt.retrieval import FakeEmbedder

LEXICAL = Encoder(None, "lexical")
FAKE = Encoder(FakeEmbedder().embed, "fake")

_NOUNS = [
    "river", "castle", "engine", "garden", "violin", "harbor", "meadow", "lantern", "pepper", "canyon",
    "orbit", "saddle", "quarry", "ribbon", "summit", "tunnel", "walnut", "beacon", "cobalt", "desert",
]  # fmt: skip
_WORDS = st.sampled_from(_NOUNS)
_VERBS = st.sampled_from(["built", "sold", "painted", "opened", "visited", "founded", "bought", "named"])


@st.composite
def _sentence(draw: st.DrawFn, i: int) -> str:
    # Each sentence names its own subject (Name<i>), so only it states all of its facts.
    name = f"Zor{chr(97 + i % 26)}{chr(97 + i // 26)}vik"
    nouns = draw(st.lists(_WORDS, min_size=2, max_size=4, unique=True))
    year = draw(st.integers(1900, 2030))
    return f"{name} {draw(_VERBS)} the {' '.join(nouns)} in {year}."


@st.composite
def _page(draw: st.DrawFn) -> list[str]:
    n = draw(st.integers(1, 12))
    return [draw(_sentence(i)) for i in range(n)]


def _ctx(claim: str, lines: list[str]) -> VerifyContext:
    return VerifyContext(
        claim=DocumentInput(id="claim", text=claim),
        sources=[DocumentInput(id="source", text="\n".join(lines))],
    )


def _grounded(out: Verification, ctx: VerifyContext) -> bool:
    texts = {s.id: s.text for s in ctx.sources}
    return all(
        c.doc_id in texts and texts[c.doc_id][c.quote.start : c.quote.end] == c.quote.text
        for c in out.evidence
    )


@settings(max_examples=60, deadline=None)
@given(_page(), st.data())
def test_a_sentence_of_the_source_is_supported_and_quoted(lines: list[str], data: st.DataObject) -> None:
    i = data.draw(st.integers(0, len(lines) - 1))
    ctx = _ctx(lines[i], lines)
    for enc in (LEXICAL, FAKE):
        out = verify(ctx, enc)
        assert out.verdict == "supported", out.rationale
        assert lines[i] in [c.quote.text for c in out.evidence]
        assert _grounded(out, ctx)


@settings(max_examples=60, deadline=None)
@given(_page(), st.data())
def test_a_changed_number_is_not_supported(lines: list[str], data: st.DataObject) -> None:
    i = data.draw(st.integers(0, len(lines) - 1))
    year = lines[i].rsplit(" ", 1)[1].rstrip(".")
    claim = lines[i].replace(year, "1776")  # a year no sentence of the page states
    out = verify(_ctx(claim, lines), LEXICAL)
    assert out.verdict in ("partially_supported", "not_supported")
    assert "1776" in out.unsupported


@settings(max_examples=40, deadline=None)
@given(_page(), st.data())
def test_a_claim_about_something_else_is_not_supported(lines: list[str], data: st.DataObject) -> None:
    words = data.draw(st.lists(st.sampled_from(["plumber", "glacier", "trumpet", "oyster"]), min_size=2))
    claim = f"Quillon Barrowmere married a {' '.join(words)} in 1650."
    assert verify(_ctx(claim, lines), LEXICAL).verdict == "not_supported"


@settings(max_examples=100, deadline=None)
@given(
    st.text(min_size=0, max_size=120),
    st.lists(st.text(max_size=200), min_size=1, max_size=4),
)
def test_quotes_are_always_verbatim_and_confidence_in_range(claim: str, sources: list[str]) -> None:
    ctx = VerifyContext(
        claim=DocumentInput(id="claim", text=claim),
        sources=[DocumentInput(id=f"s{i}", text=t) for i, t in enumerate(sources)],
    )
    out = verify(ctx, LEXICAL)
    assert _grounded(out, ctx)
    assert 0 <= out.confidence <= 1 and len(out.evidence) <= 3


def test_quotes_cite_the_source_they_come_from_and_the_answer_is_deterministic() -> None:
    ctx = VerifyContext(
        claim=DocumentInput(
            id="claim", text="The band was formed in Leeds in 1998 and signed to Domino in 2003."
        ),
        sources=[
            DocumentInput(
                id="bio", text="Formed in Leeds in 1998, the band played pubs.\nThey toured Japan."
            ),
            DocumentInput(id="label", text="Domino Records\nThe band signed to Domino in 2003."),
        ],
    )
    out = verify(ctx, FAKE)
    assert out.verdict == "supported"
    assert {(c.doc_id, c.quote.text) for c in out.evidence} == {
        ("bio", "Formed in Leeds in 1998, the band played pubs."),
        ("label", "The band signed to Domino in 2003."),
    }
    assert verify(ctx, FAKE) == out


def test_the_offline_model_answers_the_verify_task() -> None:
    ctx = _ctx("Zoravik sold the river castle in 1950.", ["Zoravik sold the river castle in 1950.", "Other."])
    out = OfflineModel().run("verify", ctx.model_dump(mode="json"))
    assert isinstance(out, Verification) and out.verdict == "supported"
