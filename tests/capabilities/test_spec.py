"""Capability specs: JSON round trips, validation twins, and the delegation order (``within``)."""

from __future__ import annotations

from decimal import Decimal

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from agentcrdt.capabilities import AutoAccept, Capability, Limits
from agentcrdt.capabilities.spec import parse_confidence
from agentcrdt.errors import EncodingError, UsageError

TARGETS = ["*", "Document.*", "Document.tags", "Document.kind", "Finding.*", "Link.kind"]


def caps() -> st.SearchStrategy[Capability]:
    limits = st.builds(
        Limits,
        max_ops_per_proposal=st.integers(1, 100),
        max_proposals_per_hour=st.none() | st.integers(1, 50),
        token_budget=st.none() | st.integers(1, 10**6),
    )
    auto = st.none() | st.builds(
        AutoAccept,
        min_confidence=st.sampled_from([Decimal("0.5"), Decimal("0.8"), Decimal("0.95")]),
        fields=st.lists(st.sampled_from(TARGETS), max_size=2, unique=True).map(tuple),
    )
    return st.builds(
        Capability,
        slot=st.sampled_from(["tagger", "extractor", "linker"]),
        writes=st.lists(st.sampled_from(TARGETS), max_size=3, unique=True).map(tuple),
        reads=st.lists(st.sampled_from(TARGETS), max_size=2, unique=True).map(tuple),
        mode=st.sampled_from(["direct", "propose"]),
        auto_accept=auto,
        limits=limits,
        review=st.lists(st.sampled_from(["*", "tagger", "linker"]), max_size=2, unique=True).map(tuple),
        can_grant=st.booleans(),
    )


@given(caps())
@settings(max_examples=200, deadline=None)
def test_json_round_trip(cap: Capability) -> None:
    assert Capability.from_json(cap.to_json()) == cap


@given(caps())
@settings(max_examples=200, deadline=None)
def test_within_is_reflexive(cap: Capability) -> None:
    assert cap.within(cap)


@given(caps(), caps(), caps())
@settings(max_examples=300, deadline=None)
def test_within_is_transitive(a: Capability, b: Capability, c: Capability) -> None:
    if a.within(b) and b.within(c):
        assert a.within(c)


def test_delegation_cannot_widen() -> None:
    holder = Capability("tagger", writes=("Document.tags",), mode="propose", can_grant=True)
    assert Capability("tagger", writes=("Document.tags",)).within(holder)
    assert not Capability("tagger", writes=("Document.*",)).within(holder)
    assert not Capability("tagger", writes=("Document.tags",), mode="direct").within(holder)
    assert not Capability("tagger", writes=("Document.tags",), review=("*",)).within(holder)
    auto = Capability("tagger", writes=("Document.tags",), auto_accept=AutoAccept(Decimal("0.9")))
    assert not auto.within(holder)  # the holder's own proposals wait for review: so must the delegate's
    plain = Capability("tagger", writes=("Document.tags",))
    assert not plain.within(Capability("tagger", writes=("Document.tags",), limits=Limits(token_budget=10)))


def test_auto_accept_admits_by_confidence_and_fields() -> None:
    auto = AutoAccept(Decimal("0.8"), ("Document.tags",))
    assert auto.admits(Decimal("0.8"), ["Document.tags"])
    assert not auto.admits(Decimal("0.79"), ["Document.tags"])
    assert not auto.admits(Decimal("0.99"), ["Document.title"])


@pytest.mark.parametrize("bad", ["1.5", "-0.1", "0.12345", "abc", "", "1e-1"])
def test_confidence_rejects_bad_strings(bad: str) -> None:
    with pytest.raises(EncodingError):
        parse_confidence(bad)
    assert parse_confidence("0.8") == Decimal("0.8")  # the twin


def test_bad_capability_is_a_usage_error_naming_the_slot() -> None:
    with pytest.raises(UsageError, match="'Tagger'"):
        Capability("Tagger", writes=("Document.tags",))
    with pytest.raises(UsageError, match="writes"):
        Capability("tagger", writes=("Document",))
    assert Capability("tagger", writes=("Document.tags",)).slot == "tagger"


def test_decoding_rejects_unknown_fields() -> None:
    j = Capability("tagger", writes=("Document.tags",)).to_json()
    j["extra"] = True
    with pytest.raises(EncodingError):
        Capability.from_json(j)
    del j["extra"]
    assert Capability.from_json(j).writes == ("Document.tags",)
