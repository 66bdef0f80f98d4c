"""The offline model on hand-written documents, through ``Model.request`` and ``CachedModel``."""

from __future__ import annotations

from typing import Any

import pytest

from agentcrdt.errors import CannotAnswer, ModelError, UsageError
from agentcrdt.llm import CachedModel, Message, ResponseCache, get_model
from agentcrdt.llm.base import using_context
from agentcrdt.llm.offline import VERSION, OfflineModel, offline_factory
from agentcrdt.llm.offline.parties import find_parties
from agentcrdt.llm.tasks import Classification, Contradictions, Extraction, Links, Quote, Summary
from agentcrdt.retrieval import FakeEmbedder
from tests.offline._docs import AMENDMENT, FIELDS, FINANCIALS, KINDS, MSA, NDA, TAGS, doc

pytestmark = pytest.mark.anyio
ASK = [Message(role="user", content="(the rendered prompt; the offline model reads the context)")]


def fake_model() -> OfflineModel:
    return OfflineModel(FakeEmbedder().embed)


def assert_exact(text: str, quotes: list[Quote]) -> None:
    assert quotes
    for q in quotes:
        assert text[q.start : q.end] == q.text


def extract_ctx(doc_id: str, text: str) -> dict[str, Any]:
    return {"document": doc(doc_id, text), "fields": [{"name": f} for f in FIELDS]}


async def test_model_ids_say_what_it_is() -> None:
    assert fake_model().model_id == f"offline:rules+fake@{VERSION}"
    assert OfflineModel().model_id == f"offline:rules@{VERSION}"
    assert OfflineModel(
        lambda ts: FakeEmbedder().embed(ts), embedder_id="x/all-MiniLM-L6-v2@abc"
    ).model_id == (f"offline:rules+minilm@{VERSION}")
    assert get_model("offline").model_id == f"offline:rules@{VERSION}"
    assert offline_factory("", embed=FakeEmbedder().embed).model_id == f"offline:rules+fake@{VERSION}"
    assert "embedder=fake:hashed-bow@1" in (fake_model().pinned_version or "")
    with pytest.raises(UsageError, match="version"):
        get_model("offline:99")


async def test_classify_picks_kind_tags_and_quotes_sentences() -> None:
    ctx = {"document": doc("msa", MSA, "Master Services Agreement"), "kinds": KINDS, "tags": TAGS}
    r = await fake_model().request(ASK, Classification, context=ctx)
    out = r.output
    assert out.kind == "services_agreement"
    assert {"governing_law", "confidentiality", "anti_assignment", "auto_renewal"} <= set(out.tags)
    assert "non_compete" not in out.tags
    assert 0.5 < out.confidence <= 1
    assert_exact(MSA, out.evidence)
    assert any("governed by" in q.text for q in out.evidence)
    fin = (
        await fake_model().request(ASK, Classification, context={**ctx, "document": doc("f", FINANCIALS)})
    ).output
    assert fin.kind == "financial_summary" and fin.tags == []
    assert r.model_id == "offline:rules+fake@1" and r.usage.cost_usd == 0 and r.attempts == 1


async def test_extract_normalizes_values_with_exact_quotes() -> None:
    out = (await fake_model().request(ASK, Extraction, context=extract_ctx("msa", MSA))).output
    got = {f.name: f.value for f in out.fields}
    assert got == {
        "parties": "Acme Corp; Beta Analytics LLC",
        "agreement_date": "2021-03-01",
        "effective_date": "2021-03-01",
        "expiration_date": "2023-03-01",
        "governing_law": "Delaware",
        "term": "P2Y",
        "renewal_term": "P1Y",
        "notice_period": "P60D",
        "payment_terms": "P30D",
        "amount": "USD 120000",
    }
    assert_exact(MSA, [f.quote for f in out.fields])
    conf = {f.name: f.confidence for f in out.fields}
    assert conf["governing_law"] > conf["expiration_date"]  # stated outright vs computed from the term


async def test_extract_omits_what_is_not_stated_and_ranks_unknown_fields_by_meaning() -> None:
    ctx = {
        "document": doc("fin", FINANCIALS),
        "fields": [
            {"name": "governing_law"},
            {"name": "cash", "description": "cash at the end of the quarter"},
        ],
    }
    out = (await fake_model().request(ASK, Extraction, context=ctx)).output
    assert [f.name for f in out.fields] == ["cash"]
    assert "Cash at the end of the quarter" in out.fields[0].value
    assert_exact(FINANCIALS, [out.fields[0].quote])
    assert out.fields[0].confidence <= 0.6  # a sentence, not a parsed value: never confident


async def test_summarize_quotes_central_sentences_in_order() -> None:
    out = (
        await fake_model().request(ASK, Summary, context={"document": doc("msa", MSA), "max_sentences": 2})
    ).output
    assert len(out.evidence) == 2 and out.key_points and 0 < out.confidence <= 0.9
    assert_exact(MSA, out.evidence)
    assert out.evidence[0].start < out.evidence[1].start


async def test_link_finds_amendment_duplicate_and_leaves_unrelated_out() -> None:
    cands = [
        doc("msa", MSA, "Master Services Agreement"),
        doc("nda", NDA, "Mutual Non-Disclosure Agreement"),
        doc("fin", FINANCIALS, "Q3 Financial Summary"),
    ]
    amd = await fake_model().request(
        ASK, Links, context={"document": doc("amd", AMENDMENT), "candidates": cands}
    )
    by_target = {link.target_id: link for link in amd.output.links}
    assert by_target["msa"].relation == "amends" and by_target["msa"].confidence >= 0.9
    assert "fin" not in by_target
    assert_exact(AMENDMENT, by_target["msa"].evidence)
    copy = doc("copy", MSA.replace("\n\n", "\n"), "MSA (scan)")
    dup = await fake_model().request(
        ASK, Links, context={"document": doc("msa", MSA), "candidates": [copy, *cands]}
    )
    relations = {link.target_id: link.relation for link in dup.output.links}
    assert relations["copy"] == "duplicates" and "msa" not in relations  # never links to itself


COVER = (
    "Exhibit 10.26\n\nMICOA AGENCY AGREEMENT\n\nThis Agreement is made by and between Mutual Insurance "
    "Corporation of America, a Michigan corporation and Stratton Agency, Inc., a Nevada corporation.\n\n1. "
    "Services. The Agency shall sell policies."
)


@pytest.mark.parametrize(
    ("amendment", "why"),
    [
        # The cover page puts a name in front of the title; the amendment names the title without it.
        ('This Amendment No. 1 amends the AGENCY AGREEMENT between the parties (the "Agreement").', "title"),
        # No title in common, but both parties of the contract's opening.
        (
            "This Amendment No. 1 amends the agreement between Mutual Insurance Corporation of America, a "
            "Michigan corporation and Stratton Agency, Inc., a Nevada corporation.",
            "parties",
        ),
    ],
)
async def test_an_amendment_names_its_contract_by_the_end_of_its_title_or_by_its_parties(
    amendment: str, why: str
) -> None:
    cands = [doc("micoa", COVER, "EX-10.26"), doc("nda", NDA, "Mutual Non-Disclosure Agreement")]
    out = await fake_model().request(
        ASK, Links, context={"document": doc("amd", amendment), "candidates": cands}
    )
    (link,) = [lk for lk in out.output.links if lk.relation == "amends"]
    assert link.target_id == "micoa" and why in link.rationale


async def test_naming_the_same_companies_is_not_amending_a_document_that_does_not_list_them() -> None:
    text = (
        "Board minutes. Mutual Insurance Corporation of America and Stratton Agency, Inc. reported results."
    )
    minutes = doc("minutes", text, "Board minutes")
    amendment = ("This Amendment No. 1 amends the agreement between Mutual Insurance Corporation of America "
                 "and Stratton Agency, Inc.")  # fmt: skip
    out = await fake_model().request(
        ASK, Links, context={"document": doc("amd", amendment), "candidates": [minutes]}
    )
    assert [lk for lk in out.output.links if lk.relation == "amends"] == []


async def test_one_law_at_two_levels_of_detail_is_no_contradiction() -> None:
    def fact(doc_id: str, value: str) -> dict[str, Any]:
        return {"doc_id": doc_id, "field": "governing_law", "value": value,
                "quote": {"text": value, "start": 0, "end": len(value)}}  # fmt: skip

    for a, b, conflict in [("England and Wales", "England", False), ("United States", "Nevada", False),
                           ("England", "Scotland", True), ("Delaware", "New York", True)]:  # fmt: skip
        ctx = {"facts": [fact("a", a), fact("b", b)], "documents": [doc("a", a), doc("b", b)]}
        out = (await fake_model().request(ASK, Contradictions, context=ctx)).output
        assert bool(out.findings) is conflict, (a, b)


@pytest.mark.parametrize(
    ("clause", "expected"),
    [
        (
            "The term of this Agreement shall continue until terminated by either party on 60 days' notice.",
            "perpetual",
        ),
        (
            "Unless earlier terminated in accordance with this paragraph 7, this Agreement shall continue"
            " indefinitely.",
            "perpetual",
        ),
        (
            "This Agreement shall commence on the Effective Date and continue through the completion of the"
            " Project.",
            "perpetual",
        ),
        # A perpetual licence outlives the contract; it says nothing about when the contract ends.
        (
            "Licensor hereby grants to Licensee a non-exclusive, perpetual license under the terms of this"
            " Agreement.",
            None,
        ),
        (
            "The term of this Agreement will continue until the earlier of (i) December 31, 2022, or (ii)"
            " the end of the lease.",
            "2022-12-31",
        ),
        (
            '"Term" means: 1 January 2013 to 31 December 2013 or until terminated under this Agreement.',
            "2013-12-31",
        ),
        (
            '"CONTRACT PERIOD" means the period commencing on signature and terminating on May 31, 2016.',
            "2016-05-31",
        ),
    ],
)
async def test_the_expiration_date_is_the_terms_end_or_perpetual(clause: str, expected: str | None) -> None:
    ctx = {"document": doc("c", clause), "fields": [{"name": "expiration_date"}]}
    fields = (await fake_model().request(ASK, Extraction, context=ctx)).output.fields
    assert [f.value for f in fields] == ([expected] if expected else [])


@pytest.mark.parametrize(
    ("clause", "expected"),
    [
        (
            "This Agreement shall have an initial term of one (1) year, and shall thereafter automatically"
            " renew for successive two (2) year periods.",
            "P2Y",
        ),
        (
            "The initial term of this Agreement shall be three (3) years and shall thereafter be"
            " automatically renewed for subsequent one (1) year periods unless either party gives notice at"
            " least one hundred twenty (120) days prior to expiration.",
            "P1Y",
        ),
        (
            "This Agreement will automatically renew on a year to year basis unless either Party notifies"
            " the other at least 30 days before the end of the term.",
            "P1Y",
        ),
        # The months are the notice, not the renewal.
        (
            "This Agreement renews automatically unless a party gives notice six (6) months prior to the"
            " end of the term.",
            None,
        ),
    ],
)
async def test_the_renewal_term_is_the_period_the_renewal_runs(clause: str, expected: str | None) -> None:
    ctx = {"document": doc("c", clause), "fields": [{"name": "renewal_term"}]}
    fields = (await fake_model().request(ASK, Extraction, context=ctx)).output.fields
    assert [f.value for f in fields] == ([expected] if expected else [])


async def test_compare_reports_conflicting_fields_with_both_quotes() -> None:
    model = fake_model()
    facts = []
    for doc_id, text in (("msa", MSA), ("amd", AMENDMENT)):
        ex = (await model.request(ASK, Extraction, context=extract_ctx(doc_id, text))).output
        facts += [{"doc_id": doc_id, "field": f.name, "value": f.value, "quote": f.quote.model_dump(),
                   "confidence": f.confidence} for f in ex.fields]  # fmt: skip
    ctx = {"facts": facts, "documents": [doc("msa", MSA), doc("amd", AMENDMENT)]}
    out = (await model.request(ASK, Contradictions, context=ctx)).output
    by_field = {f.field_or_claim: f for f in out.findings}
    assert {"governing_law", "amount"} <= set(by_field)
    law = by_field["governing_law"]
    assert {law.value_a, law.value_b} == {"Delaware", "New York"} and law.severity == "high"
    texts = {"msa": MSA, "amd": AMENDMENT}
    for f in out.findings:
        assert_exact(texts[f.doc_a], [f.quote_a])
        assert_exact(texts[f.doc_b], [f.quote_b])
    assert "parties" not in by_field  # same value in both: no finding


async def test_compare_folds_equivalent_values_and_repairs_moved_quotes() -> None:
    q = {"text": "twelve (12) months", "start": 0, "end": 18}
    text_b = "Renewal: one (1) year."
    facts = [
        {"doc_id": "a", "field": "renewal_term", "value": "P12M", "quote": q},
        {
            "doc_id": "b",
            "field": "Renewal Term",
            "value": "P1Y",
            "quote": {"text": "one (1) year", "start": 0, "end": 12},
        },
        {
            "doc_id": "b",
            "field": "renewal term",
            "value": "P2Y",
            "quote": {"text": "Renewal", "start": 3, "end": 10},
        },
    ]
    ctx = {"facts": facts, "documents": [doc("a", "twelve (12) months"), doc("b", text_b)]}
    out = (await fake_model().request(ASK, Contradictions, context=ctx)).output
    assert len(out.findings) == 2  # P12M == P1Y; P2Y conflicts with both
    for f in out.findings:
        quote = f.quote_b if f.doc_b == "b" else f.quote_a
        assert text_b[quote.start : quote.end] == quote.text  # repaired offsets


async def test_same_input_twice_gives_identical_output() -> None:
    ctx = {"document": doc("msa", MSA, "Master Services Agreement"), "kinds": KINDS, "tags": TAGS}
    a = await fake_model().request(ASK, Classification, context=ctx)
    b = await fake_model().request(ASK, Classification, context=ctx)
    assert a.raw_text == b.raw_text
    lex = OfflineModel()
    for output_type, c in ((Summary, {"document": doc("n", NDA)}), (Extraction, extract_ctx("n", NDA))):
        first = await lex.request(ASK, output_type, context=c)
        again = await OfflineModel().request(ASK, output_type, context=c)
        assert first.raw_text == again.raw_text


async def test_confidence_grows_with_evidence() -> None:
    weak = "The parties agree on the laws of Delaware for some matters."
    strong = (
        "This Agreement shall be governed by and construed in accordance with the laws of the State of Texas."
    )
    ctx = lambda t: {"document": doc("d", t), "fields": [{"name": "governing_law"}]}  # noqa: E731
    w = (await fake_model().request(ASK, Extraction, context=ctx(weak))).output.fields
    s = (await fake_model().request(ASK, Extraction, context=ctx(strong))).output.fields
    assert w == []  # no "governed"/"construed" cue: no governing-law clause
    assert s[0].value == "Texas" and s[0].confidence >= 0.85
    ambiguous = strong + " " + strong.replace("Texas", "New York")  # as strong a clause for another law
    a = (await fake_model().request(ASK, Extraction, context=ctx(ambiguous))).output.fields
    assert a[0].confidence < s[0].confidence  # a rival value lowers confidence


async def test_without_context_or_text_it_fails_cleanly() -> None:
    with pytest.raises(ModelError, match="structured task inputs"):
        await fake_model().request(ASK, Summary)
    from pydantic import BaseModel

    class Verdict(BaseModel):
        label: str

    # Another output type is answered from its schema (tests/offline/test_schema_baseline.py); with no
    # text in the context there is nothing to read, and it says so.
    with pytest.raises(CannotAnswer, match="no text to read"):
        await fake_model().request(ASK, Verdict, context={"x": 1})
    with pytest.raises(ModelError, match="bad summarize context"):
        await fake_model().request(ASK, Summary, context={"document": {"id": "x"}})


async def test_a_subclassed_output_type_names_its_task() -> None:
    class DocSummary(Summary):
        pass

    r = await fake_model().request(ASK, DocSummary, context={"task": "summarize", "document": doc("n", NDA)})
    assert isinstance(r.output, DocSummary)


async def test_through_cached_model_hits_replay_the_validated_output() -> None:
    inner = fake_model()
    cache = ResponseCache()
    model = CachedModel(inner, cache)
    ctx = extract_ctx("msa", MSA)
    first = await model.request(ASK, Extraction, context=ctx)
    second = await model.request(ASK, Extraction, context=ctx)
    assert not first.cached and second.cached and second.output == first.output
    assert cache.stats.hits == 1 and cache.stats.writes == 1
    with using_context(ctx):  # the contextvar path, for wrappers without a context keyword
        third = await CachedModel(fake_model(), ResponseCache()).request(ASK, Extraction)
    assert third.output == first.output
    other = await model.request([Message(role="user", content="another prompt")], Extraction, context=ctx)
    assert not other.cached  # the key is the request (prompt), not the context


@pytest.mark.parametrize(
    ("opening", "names"),
    [
        (
            "This Agreement is made as of May 8, 2014, by and between BIRCH FIRST GLOBAL INVESTMENTS "
            "INC., a corporation incorporated in the U.S. Virgin Islands, with its main place of "
            'business located 9100 Havensight, Ste. 15/16, St. Thomas (referred to as "Company") and '
            'MOUNT KNOWLEDGE HOLDINGS INC., a Nevada corporation ("MA").',
            ("BIRCH FIRST GLOBAL INVESTMENTS INC", "MOUNT KNOWLEDGE HOLDINGS INC"),
        ),
        (
            "This Agreement is entered into by and between The Johns Hopkins University (hereinafter "
            '"JHU"), a corporation of the State of Maryland, and, Virtuoso Surgical, Inc. ("Company"), '
            "a Tennessee corporation.",
            ("The Johns Hopkins University", "Virtuoso Surgical, Inc"),
        ),
        (
            "THIS AGREEMENT is made on 25 September 2018 BETWEEN: (1) Oaktree Capital Management, L.P. "
            'a Delaware limited partnership of 333 South Grand Avenue ("Oaktree US"); and (2) New York '
            'Life Insurance and Annuity Corporation, a New York company (the "Sub-Advisor").',
            ("Oaktree Capital Management, L.P", "New York Life Insurance and Annuity Corporation"),
        ),
        (
            # A lower-case article and a lower-case name with its legal form.
            "This agreement is entered into as of the 16th day of February, 2000, by and between the At "
            'Home Corporation ("Excite@Home"), located at 450 Broadway, and e-centives, Inc., '
            '("e-centives"), a Delaware corporation.',
            ("At Home Corporation", "e-centives, Inc"),
        ),
        (
            # A person introduced by an alias is a party of its own, not the start of the next name.
            'This Agreement is entered into by Dr. George D. Green (the "Business Affiliate") and UNION '
            'DENTAL CORP., a Florida corporation ("UDC").',
            ("Dr. George D. Green", "UNION DENTAL CORP"),
        ),
        (
            # "AND:" between blocks, and a role put in front of a name.
            'This Agreement is made by and between EMERALD HEALTH NATURALS, INC., a company ("Emerald")'
            "\n\nAND:\n\nits Contractor, DR. GAETANO MORELLO N.D. INC., having an office at 2975 East 4th"
            " Avenue",
            ("EMERALD HEALTH NATURALS, INC", "DR. GAETANO MORELLO N.D. INC"),
        ),
        (
            "This Agreement is entered into in ShenZhen by the following two parties:\n\nParty A: China "
            "Online Housing (Hong Kong) Co., Ltd. (“Party A”)\nAddress: Room 1605\n\nParty B: Beike Internet "
            "Security Technology Co., Ltd.\nAddress: Room 2101",
            ("China Online Housing (Hong Kong) Co., Ltd", "Beike Internet Security Technology Co., Ltd"),
        ),
    ],
)
def test_parties_are_cut_from_descriptions_addresses_and_aliases(
    opening: str, names: tuple[str, ...]
) -> None:
    found = find_parties("EXHIBIT 10.1\n\nSERVICES AGREEMENT\n\n" + opening)
    assert found is not None and found.names == names


def test_defined_terms_are_not_parties() -> None:
    # "between Developer and Client" names roles defined elsewhere, not who signs.
    assert find_parties("Work executed by and between Developer and Client on the Effective Date.") is None


def test_a_letter_names_its_sender_and_addressee_as_parties_when_no_opening_does() -> None:
    letter = (
        "NOTICE\n\nMay 2, 2022\n\nFrom: Erchonia Corporation\nTo: InnerScope Hearing Technologies Inc\n\n"
        "Dear Sirs,"
    )
    found = find_parties(letter)
    assert found is not None and found.names == (
        "Erchonia Corporation",
        "InnerScope Hearing Technologies Inc",
    )
    assert letter[found.start : found.end].startswith("From: Erchonia")
    opening = 'This Agreement is made by and between Acme Corp ("Acme") and Beta LLC ("Beta").\n\n' + letter
    assert find_parties(opening).names == ("Acme Corp", "Beta LLC")  # type: ignore[union-attr]


def test_an_amendment_naming_two_parties_does_not_amend_a_letter_between_them() -> None:
    from agentcrdt.llm.offline.encoder import Encoder
    from agentcrdt.llm.offline.link import link
    from agentcrdt.llm.tasks import DocumentInput
    from agentcrdt.retrieval import get_embedder

    amendment = DocumentInput(
        id="amendment",
        text="This Amendment No. 1 is made as of May 1, 2022 by and between Acme Corp and Beta LLC, "
        "and amends "
        'the Supply Agreement between Acme Corp and Beta LLC (the "Agreement").',
    )
    letter = DocumentInput(
        id="letter", text="NOTICE\n\nFrom: Acme Corp\nTo: Beta LLC\n\nDear Sirs, our address moves."
    )
    contract = DocumentInput(
        id="contract",
        text='This Supply Agreement is made by and between Acme Corp ("Acme") and Beta LLC ("Beta").',
    )
    found = {
        (lk.target_id, lk.relation)
        for lk in link(amendment, [letter, contract], Encoder(get_embedder("fake").embed, "fake")).links
    }
    assert ("contract", "amends") in found and ("letter", "amends") not in found
