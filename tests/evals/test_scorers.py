"""Scorers on scripted outputs with known right and wrong answers: every figure computed by hand."""

from __future__ import annotations

import math
from typing import Any

import pytest

from agentcrdt.dataroom.domain import Document, FieldValue
from agentcrdt.evals.aggregate import summarize
from agentcrdt.evals.outputs import CaseOutput, ProposalRecord, text_key
from agentcrdt.evals.scorers import score_case
from agentcrdt.evals.suite import ConnectionExpectation, Suite

TEXT = "Dated May 8, 2014. Governed by the laws of Texas. Tags here."
VERSION = "a@0000"


def _evidence(quote: str, shift: int = 0) -> dict[str, Any]:
    start = TEXT.index(quote) + shift
    return {
        "entity": "DocumentVersion",
        "id": VERSION,
        "field": "text",
        "start": start,
        "end": start + len(quote),
        "quote": quote,
    }


def _proposal(
    pid: str,
    confidence: str,
    ops: list[dict[str, Any]],
    evidence: list[dict[str, Any]],
    status: str = "pending",
) -> ProposalRecord:
    payload = {
        "slot": "x",
        "kind": "extract",
        "ops": ops,
        "base": [],
        "rationale": "r",
        "evidence": evidence,
        "confidence": confidence,
        "provenance": {
            "model": "m",
            "prompt_hash": "sha256:" + "0" * 64,
            "usage": {"input_tokens": 10, "output_tokens": 2},
        },
        "input": "sha256:" + "1" * 64,
    }
    return ProposalRecord(id=pid, author="ed25519:a", status=status, payload=payload)


def _fv(value: str) -> FieldValue:
    return FieldValue(value=value, quote=value)


SUITE = Suite.model_validate(
    {
        "name": "scripted",
        "agents": [{"path": "unused.py"}],
        "scorers": ["fields", "tags"],
        "normalizers": {"d": "date", "law": "jurisdiction"},
        "cases": [
            {
                "name": "c1",
                "inputs": {"documents": [{"name": "a.txt", "text": TEXT}]},
                "expected_output": {
                    "documents": {
                        "a": {
                            "tags": ["t1", "t2"],
                            "fields": {
                                "d": {"value": "5/8/14"},
                                "law": {"value": "Delaware"},
                                "x": {"value": None},
                            },
                        }
                    }
                },
            }
        ],
    }
)


def _output() -> CaseOutput:
    p1 = _proposal(
        "p1",
        "0.9",
        Document.update_ops("a", None, fields={"d": _fv("2014-05-08"), "law": _fv("Texas")}),
        [_evidence("May 8, 2014"), _evidence("Texas")],
    )
    p2 = _proposal(
        "p2",
        "0.6",
        Document.update_ops("a", None, fields={"x": _fv("foo")})
        + Document.update_ops("a", None, tags=["t1", "t3"]),
        [_evidence("Tags here"), _evidence("Governed", shift=1)],
    )  # the second quote is misplaced
    p3 = _proposal("p3", "0.95", Document.update_ops("a", None, tags=["t2"]), [], status="quarantined")
    return CaseOutput(
        case="c1",
        slots=["x"],
        kinds={"x": ["extract"]},
        applied={"Document/a": {}},
        proposals=[p1, p2, p3],
        texts={text_key("DocumentVersion", VERSION, "text"): TEXT},
    )


def test_fields_tags_validity_groundedness_and_calibration_match_hand_computed_figures() -> None:
    (score,) = score_case(SUITE, SUITE.cases[0], _output())
    assert score.ratios["fields/d"] == [1, 1]  # 2014-05-08 is 5/8/14
    assert score.ratios["fields/law"] == [0, 1]  # Texas is not Delaware
    assert score.ratios["fields/x"] == [0, 1]  # the contract has no x: proposing one is wrong
    assert score.prfs["tags"] == [1, 1, 1]  # t1 right, t3 wrong, t2 missed (its proposal was quarantined)
    assert score.ratios["validity"] == [2, 3]
    assert score.ratios["groundedness"] == [3, 4]  # the misplaced quote is not at its offsets
    assert score.ratios["grounded_proposals"] == [2, 3]  # p3 quotes nothing, so nothing is misquoted
    m = summarize([score]).metrics
    assert m["fields_mean"] == pytest.approx(1 / 3)
    assert m["tags.precision"] == m["tags.recall"] == 0.5
    # claims: p1 (0.9: right, wrong); p2 (0.6: x wrong, t1 right, t3 wrong); the quarantined p3 not judged
    # ECE = 2/5 * |1/2 - 0.9| + 3/5 * |1/3 - 0.6| = 0.16 + 0.16
    assert sorted(score.claims) == [(0.6, False), (0.6, False), (0.6, True), (0.9, False), (0.9, True)]
    assert m["calibration.ece"] == pytest.approx(0.32)
    assert m["calibration.p@0.8"] == 0.5
    assert score.cost["input_tokens"] == 30 and score.cost["cost_usd"] is None  # tokens without a price


def test_an_absent_field_predicted_absent_is_right_and_summaries_add_counts_over_cases() -> None:
    out = _output()
    out.proposals = []
    (empty,) = score_case(SUITE, SUITE.cases[0], out)
    assert empty.ratios["fields/x"] == [1, 1] and empty.ratios["fields/d"] == [0, 1]
    (full,) = score_case(SUITE, SUITE.cases[0], _output())
    m = summarize([empty, full]).metrics
    assert m["fields/x"] == 0.5 and m["fields/d"] == 0.5 and m["fields/law"] == 0.0
    assert "validity" in m and not math.isnan(m["validity"])


def test_pending_proposals_fill_the_proposed_view_but_not_the_applied_one() -> None:
    suite = SUITE.model_copy(update={"views": ["applied", "proposed"]})
    applied, proposed = score_case(suite, suite.cases[0], _output())
    assert applied.view == "applied" and applied.ratios["fields/d"] == [0, 1]
    assert proposed.view == "proposed" and proposed.ratios["fields/d"] == [1, 1]


# -- exploration: a job's spending per true finding, and the naive baseline beside it -----------------

DOCS = {"a": "Governed by Texas law. Fee $10.", "b": "Governed by Ohio law. Fee $10.", "c": "Unrelated text."}
EXPLORE = Suite.model_validate(
    {
        "name": "explore",
        "agents": [{"path": "unused.py"}],
        "scorers": ["links", "contradictions", "exploration"],
        "cases": [
            {
                "name": "c1",
                "inputs": {"documents": [{"name": f"{d}.txt", "text": t} for d, t in DOCS.items()]},
                "expected_output": {
                    "links": [{"source": "b", "relation": "amends", "target": "a"}],
                    "contradictions": [
                        {
                            "id": "law",
                            "a": [{"document": "a", "quote": "Governed by Texas law."}],
                            "b": [{"document": "b", "quote": "Governed by Ohio law."}],
                        }
                    ],
                },
            }
        ],
    }
)


def _span(doc: str, quote: str) -> dict[str, Any]:
    start = DOCS[doc].index(quote)
    return {"document": doc, "version": f"{doc}@0", "quote": quote, "start": start, "end": start + len(quote)}


def _explored(baseline: dict[str, Any]) -> CaseOutput:
    from agentcrdt.dataroom.domain import Finding, Link

    ops = Link.create_ops(id="b>amends>a", source="b", target="a", relation="amends")
    ops += Finding.create_ops(
        id="f1",
        kind="contradiction",
        evidence=[_span("a", "Governed by Texas law."), _span("b", "Governed by Ohio law.")],
    )
    ops += Finding.create_ops(
        id="f2", kind="contradiction", evidence=[_span("a", "Fee $10."), _span("c", "Unrelated text.")]
    )  # a wrong one
    record = _proposal("p1", "0.8", ops, [])
    texts = {text_key("DocumentVersion", f"{d}@0", "text"): t for d, t in DOCS.items()}
    return CaseOutput(
        case="c1",
        slots=["x"],
        proposals=[record],
        texts=texts,
        job={"nodes": 3, "calls": 4, "reason": "done"},
        baselines={"naive": baseline},
    )


def test_exploration_counts_nodes_and_calls_per_true_finding_and_scores_the_baseline_beside_it() -> None:
    naive = {
        "findings": [{"evidence": [_span("a", "Fee $10."), _span("b", "Fee $10.")]}],  # wrong: no conflict
        "pairs": [["a", "b"], ["a", "c"], ["b", "c"]],
        "calls": 6,
    }
    (score,) = score_case(EXPLORE, EXPLORE.cases[0], _explored(naive))
    m = summarize([score]).metrics
    # The job: the link and the law contradiction found (2 true findings), one wrong contradiction.
    assert m["contradictions.precision"] == 0.5 and m["contradictions.recall"] == 1.0
    assert m["links.precision"] == 1.0 and m["links.recall"] == 1.0
    assert m["exploration.nodes_per_finding"] == 1.5 and m["exploration.calls_per_finding"] == 2.0
    assert m["exploration.nodes"] == 3.0
    # The baseline: no true contradiction, one false; it compared 3 pairs, one of them the expected link.
    assert m["baseline_naive_contradictions.precision"] == 0.0
    assert m["baseline_naive_contradictions.recall"] == 0.0
    assert m["baseline_naive_links_unlabeled.precision"] == pytest.approx(1 / 3)
    assert m["baseline_naive_links_unlabeled.recall"] == 1.0
    assert m["baseline_naive.calls_per_finding"] == 6.0  # 6 calls, 1 true finding (the pair)


def test_an_output_without_a_job_adds_no_exploration_figure() -> None:
    out = _explored({})
    out.job = None
    (score,) = score_case(EXPLORE, EXPLORE.cases[0], out)
    assert not [k for k in summarize([score]).metrics if "exploration" in k or "baseline_naive" in k]


def test_shared_party_connections_are_scored_as_document_pairs_beside_the_links() -> None:
    from agentcrdt.dataroom.domain import Finding

    raw = EXPLORE.model_dump(mode="json")
    raw["cases"][0]["expected_output"]["connections"] = [
        ConnectionExpectation(a="c", b="a", why="parties").model_dump()
    ]
    suite = Suite.model_validate(raw)
    out = _explored({"findings": [], "pairs": [["a", "b"], ["b", "c"]], "calls": 4})
    # A connection finding citing c and a (the expected one, in the other order), one citing b and c.
    ops = Finding.create_ops(
        id="k1", kind="connection", evidence=[_span("a", "Fee $10."), _span("c", "Unrelated text.")]
    )
    ops += Finding.create_ops(
        id="k2", kind="connection", evidence=[_span("b", "Fee $10."), _span("c", "Unrelated text.")]
    )
    out.proposals.append(_proposal("p2", "0.5", ops, []))
    (score,) = score_case(suite, suite.cases[0], out)
    m = summarize([score]).metrics
    # Pairs got: b-a (the link), a-c and b-c (the findings); wanted: b-a and c-a.
    assert m["connections.precision"] == pytest.approx(2 / 3) and m["connections.recall"] == 1.0
    # Three true findings now: the link, the law contradiction and the shared-party connection.
    assert m["exploration.calls_per_finding"] == pytest.approx(4 / 3)
    assert m["baseline_naive_connections.precision"] == 0.5 and m["baseline_naive_connections.recall"] == 0.5
    (plain,) = score_case(EXPLORE, EXPLORE.cases[0], _explored({}))
    assert "connections.precision" not in summarize([plain]).metrics  # only where the case expects them
