"""The offline reflect task: what a node's document names, connects to and conflicts with."""

from __future__ import annotations

from agentcrdt.llm.offline import OfflineModel
from agentcrdt.llm.offline.encoder import Encoder
from agentcrdt.llm.offline.reflect import reflect
from agentcrdt.llm.tasks import DocumentInput, Fact, ReflectContext, Reflection
from agentcrdt.retrieval import get_embedder
from tests.offline._docs import AMENDMENT, MSA, NDA

ENC = Encoder(get_embedder("fake").embed, "fake")
RESTATED = AMENDMENT.replace(
    "2. Governing Law. This Agreement shall be governed by the laws of the State of New York.",
    "2. Governing Law. The parties confirm that the Agreement is not modified in this respect and is "
    "governed by the laws of the State of New York.",
)
REPLACED = AMENDMENT.replace(
    "2. Governing Law. This Agreement shall be governed by the laws of the State of New York.",
    "2. Governing Law. Section 5 of the Agreement is hereby deleted and replaced with the following: "
    '"This Agreement shall be governed by the laws of the State of New York."',
)


def _doc(i: str, text: str) -> DocumentInput:
    return DocumentInput(id=i, text=text)


def _facts(out: Reflection, doc_id: str) -> list[Fact]:
    return [Fact(doc_id=doc_id, field=f.name, value=f.value, quote=f.quote) for f in out.facts]


def _explore(first: DocumentInput, second: DocumentInput, *others: DocumentInput) -> Reflection:
    """Reflect on ``first`` alone, then on ``second`` having seen ``first``'s facts."""
    seen = _facts(reflect(ReflectContext(document=first, candidates=[second, *others]), ENC), first.id)
    return reflect(ReflectContext(document=second, candidates=[first, *others], seen=seen), ENC)


def _check_quotes(out: Reflection, here: str, docs: dict[str, str]) -> None:
    """Every finding's quotes are verbatim at their offsets in their documents; every name's in ``here``."""
    for f in out.findings:
        assert f.evidence
        for c in f.evidence:
            assert docs[c.doc_id][c.quote.start : c.quote.end] == c.quote.text
    for m in out.mentions:
        assert docs[here][m.quote.start : m.quote.end] == m.quote.text


def test_a_restated_law_that_differs_is_a_contradiction_quoted_on_both_sides() -> None:
    msa, amendment = _doc("msa", MSA), _doc("amendment", RESTATED)
    out = _explore(msa, amendment)
    found = [f for f in out.findings if f.kind == "contradiction"]
    assert len(found) == 1 and "governing_law" in found[0].title
    assert {c.doc_id for c in found[0].evidence} == {"msa", "amendment"}
    assert "Delaware" in found[0].title and "New York" in found[0].title
    _check_quotes(out, "amendment", {"msa": MSA, "amendment": RESTATED})
    assert any(lk.target_id == "msa" and lk.relation == "amends" for lk in out.links)
    connection = [f for f in out.findings if f.kind == "connection" and "amends" in f.title]
    assert connection and {c.doc_id for c in connection[0].evidence} == {"msa", "amendment"}
    assert {(m.name, m.kind) for m in out.mentions} == {
        ("Acme Corp", "party"), ("Beta Analytics LLC", "party"), ("New York", "jurisdiction"),
    }  # fmt: skip


def test_a_law_an_amendment_replaces_is_no_contradiction() -> None:
    out = _explore(_doc("msa", MSA), _doc("amendment", REPLACED))
    assert not [f for f in out.findings if f.kind == "contradiction" and "governing_law" in f.title]


def test_unrelated_contracts_under_other_laws_are_not_compared() -> None:
    # The NDA names Acme too, under California law: one shared party does not make it the same deal.
    out = _explore(_doc("msa", MSA), _doc("nda", NDA))
    assert not [f for f in out.findings if f.kind == "contradiction"]


def test_an_agreement_named_and_not_among_the_candidates_is_an_open_question() -> None:
    text = (
        MSA + "\n7. Prior agreements. This Agreement supersedes the Consulting Services Agreement "
        "between the parties.\n"
    )
    out = reflect(ReflectContext(document=_doc("msa", text), candidates=[_doc("nda", NDA)]), ENC)
    questions = [f for f in out.findings if f.kind == "question"]
    assert [q.title for q in questions] == ["Where is the Consulting Services Agreement?"]
    assert questions[0].evidence[0].quote.text in text


def test_the_offline_model_answers_the_reflect_task() -> None:
    import anyio

    from agentcrdt.llm.base import Message

    model = OfflineModel(get_embedder("fake").embed)
    ctx = ReflectContext(document=_doc("amendment", RESTATED), candidates=[_doc("msa", MSA)])
    out = anyio.run(
        lambda: model.request(
            [Message(role="user", content="reflect")], Reflection, None, context=ctx.model_dump(mode="json")
        )
    )
    assert isinstance(out.output, Reflection) and out.output.links
