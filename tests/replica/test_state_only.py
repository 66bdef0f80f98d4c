"""``state_at(heads, only=keys)``: a few entities folded from the events that name them equal the
whole causal past's fold, for any heads and any entities."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from agentcrdt.ops.state import op
from agentcrdt.rooms.local import open_local
from agentcrdt.rooms.workflow import list_proposals, review
from tests.ui.sample import Sample, build_sample


@pytest.fixture(scope="module")
def reviewed(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The UI's sample room (agents' proposals, auto-accepted, pending, quarantined, local reads)
    with proposals accepted and rejected by review (accepted ops apply at the review) and the
    owner's own edits of the same documents after them."""
    sample: Sample = build_sample(tmp_path_factory.mktemp("sample"))
    path = tmp_path_factory.mktemp("reviewed") / "room.db"
    shutil.copy(sample.path, path)
    with open_local(path, identity=sample.owner) as replica:
        pending = list_proposals(replica, "pending")
        assert len(pending) >= 6
        for n, info in enumerate(pending):
            review(replica, info.id, "accept" if n % 3 else "reject", "")
        for doc in ("01-mutual-nda", "04-msa-meridian"):
            replica.commit("ops", {"ops": [op("Document", doc, "summary", "lww", {"set": f"edited {doc}"})]})
    return path


def _same(whole: object, narrowed: object, keys: list[tuple[str, str]]) -> None:
    for key in keys:
        a, b = whole.entities.get(key), narrowed.entities.get(key)  # type: ignore[attr-defined]
        assert (a is None) == (b is None), key
        if a is not None and b is not None:
            assert a.encode() == b.encode(), key
    assert set(narrowed.entities) <= set(keys)  # type: ignore[attr-defined]


@settings(max_examples=80, deadline=None)
@given(data=st.data())
def test_few_entities_folded_as_of_any_heads_equal_the_whole_fold(
    reviewed: Path, data: st.DataObject
) -> None:
    # Any heads (not only a proposal's base: local events too), any entities (ones no event names
    # too), in any order; a fresh replica each time, so the touch index is built from the file.
    with open_local(reviewed) as replica:
        events = sorted(s.id for _, s in replica.store.since(0))
        keys = [*sorted(replica.state_at().entities), ("Document", "no-such-document")]
        heads = data.draw(st.lists(st.sampled_from(events), min_size=1, max_size=4, unique=True))
        chosen = data.draw(st.lists(st.sampled_from(keys), min_size=1, max_size=6, unique=True))
        _same(replica.state_at(heads), replica.state_at(heads, only=chosen), chosen)


@settings(max_examples=20, deadline=None)
@given(
    chosen=st.lists(st.sampled_from(["01-mutual-nda", "04-msa-meridian", "05-msa-amendment-1"]), min_size=1)
)
def test_now_narrowed_equals_now_folded_or_not(reviewed: Path, chosen: list[str]) -> None:
    keys = [("Document", d) for d in chosen]
    with open_local(reviewed) as replica:
        narrowed = replica.state_at(only=keys)  # nothing folded yet: from the touch index
        whole = replica.state_at()
        _same(whole, narrowed, keys)
        _same(whole, replica.state_at(only=keys), keys)  # folded now: a copy of those entities
