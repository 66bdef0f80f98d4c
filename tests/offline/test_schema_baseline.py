"""The offline model's schema baseline: output types of the user's own, answered from the texts."""

from __future__ import annotations

import datetime
import itertools
from typing import Any, Literal

import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st
from pydantic import BaseModel, Field, ValidationError, create_model

from agentcrdt.errors import CannotAnswer
from agentcrdt.llm import Message
from agentcrdt.llm.offline import OfflineModel
from agentcrdt.llm.offline.encoder import Encoder
from agentcrdt.llm.offline.reading import texts_of
from agentcrdt.llm.offline.schema import answer, calibrated
from agentcrdt.retrieval import FakeEmbedder

pytestmark = pytest.mark.anyio
ASK = [Message(role="user", content="(the offline model never reads this)")]

MSA = (
    "MASTER SERVICES AGREEMENT\n\n"
    "This Agreement is dated May 8, 2014 between Acme Corp and Beta LLC. "
    "The customer shall pay each invoice within 30 days of receipt. "
    "The total fee is $125,000 per year. "
    "This agreement is governed by the laws of the State of Delaware. "
    "Either party may terminate this agreement on ninety (90) days written notice. "
    "The supplier shall not assign this agreement without consent."
)


class Quote(BaseModel):
    text: str
    start: int
    end: int


class Terms(BaseModel):
    governing_law: str = Field(description="which laws govern the agreement")
    agreement_date: datetime.date
    payment_days: int = Field(description="days to pay an invoice", ge=1, le=365)
    fee: float = Field(description="total fee")
    assignable: bool = Field(description="may the agreement be assigned")
    kind: Literal["services", "nda", "lease"]
    notice: Quote | None = Field(None, description="termination notice")
    quotes: list[str] = []
    evidence: list[Quote] = []
    rationale: str = ""
    confidence: float = Field(ge=0, le=1)


async def test_each_field_is_read_from_the_text_by_its_name_and_description() -> None:
    out = (await OfflineModel().request(ASK, Terms, context={"texts": [MSA]})).output
    assert out.governing_law == "This agreement is governed by the laws of the State of Delaware."
    assert out.agreement_date == datetime.date(2014, 5, 8)
    assert (out.payment_days, out.fee, out.assignable, out.kind) == (30, 125000.0, False, "services")
    assert out.notice is not None and MSA[out.notice.start : out.notice.end] == out.notice.text
    assert "terminate" in out.notice.text
    # the quotes are the sentences the fields were read from, in text order, verbatim with offsets
    assert out.governing_law in out.quotes and out.notice.text in out.quotes
    assert [MSA[q.start : q.end] for q in out.evidence] == [q.text for q in out.evidence] == out.quotes
    assert "governing_law (match" in out.rationale
    assert 0.3 < out.confidence < 0.9


async def test_a_required_field_the_text_does_not_state_is_not_guessed() -> None:
    class Warranty(BaseModel):
        warranty_period: str = Field(description="warranty months")
        insurer: str = Field(description="insurance carrier")
        governing_law: str = ""
        confidence: float

    with pytest.raises(CannotAnswer, match="warranty_period, insurer") as e:
        await OfflineModel().request(ASK, Warranty, context={"texts": [MSA]})
    assert e.value.missing == ("warranty_period", "insurer") and e.value.provider == "offline"


async def test_optional_fields_not_found_keep_their_defaults_and_confidence_is_low() -> None:
    class Maybe(BaseModel):
        warranty_period: str | None = Field(None, description="warranty months")
        arbitration: bool = False
        confidence: float = 1.0

    out = (await OfflineModel().request(ASK, Maybe, context={"texts": [MSA]})).output
    assert out == Maybe(warranty_period=None, arbitration=False, confidence=0.0)


async def test_an_unknown_like_option_is_the_types_own_way_to_say_not_stated() -> None:
    class Kind(BaseModel):
        kind: Literal["lease", "loan", "unknown"]

    class Strict(BaseModel):
        kind: Literal["lease", "loan"]

    model = OfflineModel()
    assert (await model.request(ASK, Kind, context={"texts": [MSA]})).output.kind == "unknown"
    with pytest.raises(CannotAnswer, match="kind"):
        await model.request(ASK, Strict, context={"texts": [MSA]})


async def test_lists_nested_models_patterns_and_lengths() -> None:
    class Party(BaseModel):
        name: str
        days: int | None = None

    class Deal(BaseModel):
        obligations: list[Party] = Field(description="pay or terminate", max_length=2)
        tags: list[Literal["payment", "termination", "privacy"]] = Field(description="topics")
        amount: str = Field(pattern=r"^\$[0-9,]+$", description="total fee")
        law: str = Field(max_length=50, description="governed by the laws of")

    out = (await OfflineModel().request(ASK, Deal, context={"texts": [MSA]})).output
    assert len(out.obligations) == 2 and all(p.name in MSA for p in out.obligations)
    assert {p.days for p in out.obligations} == {30, 90}  # each item read from its own sentence
    assert out.tags == ["termination"]  # "terminate" is its word family; "payment" and "privacy" are not
    # in the text ("pay" is)
    assert out.amount == "$125,000"
    assert out.law == "governed by the laws of the State of Delaware."  # a window from the cue on


async def test_confidence_follows_the_fields_terms_and_rises_with_match_strength() -> None:
    class Percent(BaseModel):
        governing_law: str = Field(description="laws govern agreement jurisdiction")
        confidence: int = Field(ge=0, le=100)

    class Level(BaseModel):
        governing_law: str = Field(description="laws govern agreement jurisdiction")
        confidence: Literal["low", "medium", "high"]

    model = OfflineModel()
    partial = (
        "The laws of Texas govern the dispute."  # the name's words, not the rarer "agreement", "jurisdiction"
    )
    full = "The laws of Texas govern this agreement and its jurisdiction."
    weak = (await model.request(ASK, Percent, context={"texts": [partial]})).output.confidence
    strong = (await model.request(ASK, Percent, context={"texts": [full]})).output.confidence
    assert 0 < weak < strong <= 90
    assert (await model.request(ASK, Level, context={"texts": [full]})).output.confidence == "high"
    assert (await model.request(ASK, Level, context={"texts": [partial]})).output.confidence == "medium"


def test_calibration_is_continuous_increasing_and_capped() -> None:
    grid = [i / 1000 for i in range(1001)]
    values = [calibrated(s) for s in grid]
    assert values[0] == 0.0 and values[-1] == 0.9 and calibrated(0.5) == 0.3
    assert all(a < b for a, b in itertools.pairwise(values))
    assert max(abs(a - b) for a, b in itertools.pairwise(values)) < 0.002  # no jumps


def test_texts_reach_it_as_texts_documents_or_any_string_in_the_context() -> None:
    assert [s.text for s in texts_of({"texts": ["a", {"text": "b", "id": "x"}, ""], "title": "t"})] == [
        "a",
        "b",
    ]
    assert [s.id for s in texts_of({"texts": {"body": "a", "notes": "b"}})] == ["body", "notes"]
    assert [s.text for s in texts_of({"documents": [{"id": "d", "text": "c"}]})] == ["c"]
    leaves = {"task": "ignored", "inputs": {"title": "t", "parts": ["u", 3, {"v": "w"}]}}
    assert [s.text for s in texts_of(leaves)] == ["t", "u", "w"]


async def test_without_any_text_it_says_what_to_pass() -> None:
    class Anything(BaseModel):
        x: str

    with pytest.raises(CannotAnswer, match=r"context=\{'texts'"):
        await OfflineModel().request(ASK, Anything, context={"inputs": {"n": 1}})


async def test_with_an_embedder_quotes_stay_verbatim_and_the_answer_is_the_same_kind() -> None:
    out = (await OfflineModel(FakeEmbedder().embed).request(ASK, Terms, context={"texts": [MSA]})).output
    assert out.agreement_date == datetime.date(2014, 5, 8) and out.governing_law in MSA


# -- properties: any user type, any text ------------------------------------------------------------

VOCAB = ["payment", "invoice", "term", "notice", "party", "fee", "law", "renewal", "date", "days", "not"]
WORD = st.sampled_from([*VOCAB, "the", "shall", "within", "Delaware", "Acme", "agreement"])
PIECE = st.one_of(
    WORD,
    st.integers(0, 5000).map(str),
    st.sampled_from(["$1,250", "12.5%", "May 8, 2014", "2020-01-31", "(30)", "n't", "—"]),
)
SENTENCE = st.lists(PIECE, min_size=1, max_size=14).map(lambda ws: " ".join(ws).capitalize() + ".")
TEXT = st.lists(SENTENCE, min_size=1, max_size=8).map(" ".join)
NAME = st.lists(st.sampled_from(VOCAB), min_size=1, max_size=2).map("_".join)
LEAF = st.sampled_from(["str", "int", "float", "bool", "date", "list", "enum", "optional", "quote"])


class _Quote(BaseModel):
    text: str
    start: int
    end: int
    id: str | None = None


def _annotation(kind: str) -> Any:
    return {
        "str": str,
        "int": int,
        "float": float,
        "bool": bool,
        "date": datetime.date,
        "list": list[str],
        "enum": Literal["payment", "renewal", "unknown"],
        "optional": str | None,
        "quote": _Quote,
    }[kind]


@st.composite
def user_types(draw: st.DrawFn) -> type[BaseModel]:
    fields: dict[str, Any] = {}
    for name in draw(st.lists(NAME, min_size=1, max_size=5, unique=True)):
        kind = draw(LEAF)
        desc = " ".join(draw(st.lists(WORD, max_size=4)))
        required = draw(st.booleans()) and kind != "optional"
        default = ... if required else ([] if kind == "list" else None)
        fields[name] = (
            _annotation(kind) if required else _annotation(kind) | None,
            Field(default, description=desc),
        )
    if draw(st.booleans()):
        inner = create_model("Inner", **dict(list(fields.items())[:2]))  # type: ignore[call-overload]
        fields["nested"] = (inner | None, Field(None, description=draw(WORD)))
    for extra, annotation in (("quotes", list[str]), ("evidence", list[_Quote]), ("rationale", str)):
        if draw(st.booleans()):
            fields[extra] = (annotation, ...)
    if draw(st.booleans()):
        fields["confidence"] = (float, Field(ge=0, le=1))
    model: type[BaseModel] = create_model("UserType", **fields)  # type: ignore[call-overload]
    return model


def _strings(value: Any, key: str = "") -> list[tuple[str, Any]]:
    if isinstance(value, dict):
        return [kv for k, v in value.items() for kv in _strings(v, k)]
    if isinstance(value, list):
        return [kv for v in value for kv in _strings(v, key)]
    return [(key, value)]


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(user_types(), st.lists(TEXT, min_size=1, max_size=3), st.booleans())
def test_any_user_type_gets_verbatim_quotes_a_bounded_confidence_and_valid_output(
    output_type: type[BaseModel], texts: list[str], embedded: bool
) -> None:
    def encoder() -> Encoder:  # a fresh one each time: nothing memoized carries over
        return Encoder(FakeEmbedder().embed, "fake") if embedded else Encoder(None, "lexical")

    context = {"texts": [{"id": f"t{i}", "text": t} for i, t in enumerate(texts)]}
    schema = output_type.model_json_schema()
    try:
        raw = answer(schema, context, encoder())
    except CannotAnswer as e:
        event("cannot answer")
        assert e.missing and all(path.split(".")[0] in schema["required"] for path in e.missing)
        with pytest.raises(CannotAnswer):  # deterministic: it cannot answer twice
            answer(schema, context, encoder())
        return
    event("answered")
    assert raw == answer(schema, context, encoder())  # deterministic
    try:
        output_type.model_validate(raw)
    except ValidationError as e:  # pragma: no cover - the failure message is the point
        pytest.fail(f"{raw} does not validate: {e}")
    for key, value in _strings(raw):
        if isinstance(value, str) and key not in ("rationale", "id") and not key.startswith("date"):
            is_enum = value in ("payment", "renewal", "unknown")
            iso = len(value) == 10 and value[4] == "-" and value[7] == "-"
            assert is_enum or iso or any(value in t for t in texts), (key, value)
    for quote in _quote_objects(raw):
        assert any(t[quote["start"] : quote["end"]] == quote["text"] for t in texts)
        if "id" in quote and quote["id"] is not None:
            assert texts[int(quote["id"][1:])][quote["start"] : quote["end"]] == quote["text"]
    if "confidence" in raw:
        assert 0.0 <= raw["confidence"] <= 1.0


def _quote_objects(value: Any) -> list[dict[str, Any]]:
    if isinstance(value, dict):
        here = [value] if {"text", "start", "end"} <= set(value) else []
        return here + [q for v in value.values() for q in _quote_objects(v)]
    if isinstance(value, list):
        return [q for v in value for q in _quote_objects(v)]
    return []
