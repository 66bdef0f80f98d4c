"""The worker end to end on a SQLite room, with fake models: one proposal per input, idempotent."""

from __future__ import annotations

from collections.abc import Callable
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from runtime_helpers import AGENTS, DOCS, agent, doc_value, edit_ops, inputs_of, proposals_by

from agentcrdt.errors import ModelError, UsageError
from agentcrdt.llm import get_model
from agentcrdt.llm.base import request_context
from agentcrdt.llm.testing import FunctionModel, ScriptedModel
from agentcrdt.log.keys import Identity
from agentcrdt.replica import Replica
from agentcrdt.runtime import Progress, Worker

pytestmark = pytest.mark.anyio

TAGGED = {"d1": {"payment", "termination"}, "d2": {"confidentiality", "governing-law"}}


async def test_one_proposal_per_input_with_provenance(
    make_worker: Callable[..., Worker], open_room: Callable[..., Replica], tagger_key: Identity
) -> None:
    seen: list[str] = []
    w = make_worker(
        "Tagger", get_model("fake-tagger"), tagger_key, on_progress=lambda p, f: seen.append(p.line())
    )
    progress = await w.run_once()
    assert (progress.items_total, progress.items_done, progress.errors) == (3, 3, 0)
    # d3 has no clause: the agent drafts nothing for it
    assert (progress.proposals, progress.auto_accepted) == (2, 2)
    assert "tagger: 3/3 items, 2 proposals (2 auto-accepted)" in seen[-1]
    room = open_room()
    props = proposals_by(room, tagger_key.author)
    assert len(props) == 2 and {p.status for p in props} == {"auto_accepted"}
    for p in props:
        payload = p.event.payload
        assert payload["slot"] == "tagger" and payload["kind"] == "tag"
        assert payload["provenance"]["prompt_hash"] == w.prompt.hash
        assert payload["provenance"]["model"].startswith("fake-tagger")
        assert payload["provenance"]["usage"]["input_tokens"] > 0
        assert payload["base"] == sorted(payload["base"]) and payload["base"]
        doc_id = payload["ops"][0]["id"]
        text = DOCS[doc_id][1]
        for ev in payload["evidence"]:  # every quote is an exact span of the text read
            assert text[ev["start"] : ev["end"]] == ev["quote"]
    for doc_id, tags in TAGGED.items():
        assert set(doc_value(room, doc_id)["tags"]) == tags
    assert room.store.get_cursor(w.cursor_name) == w.cursor > 0


async def test_restart_and_lost_cursor_propose_nothing_twice(
    make_worker: Callable[..., Worker], open_room: Callable[..., Replica], tagger_key: Identity
) -> None:
    first = make_worker("Tagger", get_model("fake-tagger"), tagger_key)
    await first.run_once()
    first.close()
    model = FunctionModel(lambda m, s: pytest.fail("an input already proposed reached the model"))
    second = make_worker("Tagger", model, tagger_key)
    progress = await second.run_once()
    assert progress.proposals == 0 and progress.items_total == 0
    second.close()
    # A crash after proposing but before the cursor moved: the cursor is lost, the input ids are not.
    room = open_room()
    room.store.set_cursor(second.cursor_name, 0)

    def only_d3(messages: Any, schema: Any) -> dict[str, Any]:
        # d3 yielded no proposal, so nothing records it was done: with the cursor lost it is asked again.
        assert "kickoff" in messages[-1].content, "an input already proposed reached the model"
        return {"tags": [], "confidence": 0.5}

    third = make_worker("Tagger", FunctionModel(only_d3), tagger_key)
    progress = await third.run_once()
    assert progress.proposals == 0 and progress.skipped == 2 and progress.items_total == 1
    assert len(proposals_by(open_room(), tagger_key.author)) == 2


async def test_changed_input_gets_a_new_proposal(
    make_worker: Callable[..., Worker],
    open_room: Callable[..., Replica],
    tagger_key: Identity,
    owner: Identity,
) -> None:
    await make_worker("Tagger", get_model("fake-tagger"), tagger_key).run_once()
    human = open_room(owner)
    before = inputs_of(human, tagger_key.author)
    human.commit("ops", {"ops": edit_ops("d3", text="Amended: this memo is confidential.")})
    human.commit("ops", {"ops": edit_ops("d1", status="final")})  # not an input: no new proposal
    progress = await make_worker("Tagger", get_model("fake-tagger"), tagger_key).run_once()
    assert (progress.items_total, progress.proposals) == (1, 1)
    after = inputs_of(open_room(), tagger_key.author)
    assert len(after) == 3 and len(set(after)) == 3 and after[:2] == before
    assert set(doc_value(open_room(), "d3")["tags"]) == {"confidentiality"}


async def test_invalid_model_output_is_a_counted_error_and_no_proposal(
    make_worker: Callable[..., Worker], open_room: Callable[..., Replica], tagger_key: Identity
) -> None:
    garbage = {"tags": "not a list", "confidence": 7}
    script: list[Any] = [garbage] * 3 + [ModelError("provider down", provider="test")]
    script += [{"tags": ["payment"], "confidence": 0.95, "quotes": ["kickoff meeting"]}]
    model = ScriptedModel(script)
    w = make_worker("Tagger", model, tagger_key, concurrency=1)
    progress = await w.run_once()
    assert progress.errors == 2 and progress.proposals == 1 and progress.items_done == 3
    assert any("validation" in e for e in progress.last_errors)
    props = proposals_by(open_room(), tagger_key.author)
    assert len(props) == 1 and props[0].event.payload["ops"][0]["op"] == {"add": "payment"}
    # the durable cursor still moves: errors are handled (logged, counted); a restart retries them
    assert w.cursor > 0


async def test_unverifiable_evidence_is_dropped_and_such_a_draft_never_proposed(
    make_worker: Callable[..., Worker], open_room: Callable[..., Replica], tagger_key: Identity
) -> None:
    def model_fn(messages: Any, schema: Any) -> dict[str, Any]:
        text = (request_context() or {})["text"]
        if "invoice" in text:  # d1: one true quote (misplaced offsets get repaired), one invented
            return {"tags": ["payment"], "confidence": 0.9, "quotes": ["pay each invoice", "pays in gold"]}
        return {"tags": ["confidentiality"], "confidence": 0.9, "quotes": ["top secret"]}  # all invented

    w = make_worker("Tagger", FunctionModel(model_fn), tagger_key)
    progress = await w.run_once()
    assert progress.proposals == 1 and progress.unsupported == 2 and progress.evidence_dropped == 3
    (p,) = proposals_by(open_room(), tagger_key.author)
    (ev,) = p.event.payload["evidence"]
    text = DOCS["d1"][1]
    assert ev["quote"] == "pay each invoice" and text[ev["start"] : ev["end"]] == ev["quote"]


async def test_prompt_hash_is_recorded_and_follows_the_template(
    tmp_path: Path, room_path: Path, open_room: Callable[..., Replica], tagger_key: Identity
) -> None:
    prompts = tmp_path / "prompts"
    prompts.mkdir()
    template = (AGENTS.parent.parent / "prompts" / "tagger.md.j2").read_text()
    (prompts / "tagger.md.j2").write_text(template)
    dirs = [prompts, AGENTS.parent.parent / "prompts", Path(__file__).resolve().parents[2] / "prompts"]
    w1 = Worker(room_path, agent("Tagger"), get_model("fake-tagger"), identity=tagger_key, prompt_dirs=dirs)
    await w1.run_once()
    w1.close()
    (prompts / "tagger.md.j2").write_text(template.replace("Tag the document", "Label the document"))
    w2 = Worker(room_path, agent("Tagger"), get_model("fake-tagger"), identity=tagger_key, prompt_dirs=dirs)
    assert w2.prompt.hash != w1.prompt.hash
    progress = await w2.run_once()  # a new prompt is a new input: the audit trail shows both
    w2.close()
    assert progress.proposals == 2
    hashes = [
        p.event.payload["provenance"]["prompt_hash"] for p in proposals_by(open_room(), tagger_key.author)
    ]
    assert hashes == [w1.prompt.hash] * 2 + [w2.prompt.hash] * 2


async def test_without_the_slot_the_worker_reports_and_writes_nothing(
    room_path: Path, open_room: Callable[..., Replica], summarizer_key: Identity
) -> None:
    # The summarizer's key holds the "summarizer" slot, not "tagger".
    model = FunctionModel(lambda m, s: pytest.fail("no model call without the slot"))
    w = Worker(room_path, agent("Tagger"), model, identity=summarizer_key)
    with pytest.raises(UsageError, match=r"holds no active grant for slot 'tagger'.*summarizer"):
        await w.run_once()
    w.close()
    stranger = Worker(room_path, agent("Tagger"), model, identity=Identity.from_name("stranger"))
    with pytest.raises(UsageError, match="holds no active grant for slot 'tagger' in this room;"):
        await stranger.run_once()
    stranger.close()
    room = open_room()
    assert proposals_by(room, summarizer_key.author) == []
    assert all(v == "valid" for v, _ in room.store.verdicts().values())


async def test_a_grant_of_the_slot_with_narrower_writes_refuses_out_of_slot_drafts(
    tmp_path: Path, owner: Identity, tagger_key: Identity
) -> None:
    from runtime_helpers import doc_ops

    from agentcrdt.capabilities import Capability
    from agentcrdt.rooms.local import create_local
    from agentcrdt.rooms.workflow import grant

    path = tmp_path / "narrow.db"
    room = create_local(path, owner, "narrow")
    room.commit("ops", {"ops": doc_ops("d1", *DOCS["d1"])})
    grant(room, tagger_key.author, Capability("tagger", writes=("Document.summary",)))
    room.store.close()
    w = Worker(path, agent("Tagger"), get_model("fake-tagger"), identity=tagger_key)
    progress = await w.run_once()
    w.close()
    assert progress.proposals == 0 and progress.refused == 1
    assert "outside slot" in progress.last_errors[-1]


def test_progress_line_formats_tokens_and_cost() -> None:
    p = Progress("tagger", items_total=12, items_done=7, proposals=7, auto_accepted=5)
    p.input_tokens, p.output_tokens, p.cost_usd = 3000, 210, Decimal("0.0041")
    assert p.line() == "tagger: 7/12 items, 7 proposals (5 auto-accepted), 3,210 tokens, $0.0041"
    p.cost_usd = None
    p.note_error("boom")
    assert p.line().endswith("3,210 tokens, cost unknown, 1 errors")


async def test_a_model_that_raises_anything_fails_one_item_not_the_worker(
    make_worker: Callable[..., Worker], open_room: Callable[..., Replica], tagger_key: Identity
) -> None:
    def buggy(messages: Any, schema: Any) -> dict[str, Any]:
        raise RuntimeError("bug in a user's model function")

    w = make_worker("Tagger", FunctionModel(buggy), tagger_key)
    progress = await w.run_once()
    assert (progress.items_total, progress.errors, progress.proposals) == (3, 3, 0)
    assert "unexpected model failure" in progress.last_errors[-1]
    assert proposals_by(open_room(), tagger_key.author) == []
