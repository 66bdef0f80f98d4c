"""Scorers on scripted outputs with known right and wrong answers: every figure computed by hand."""

from __future__ import annotations

import math
from typing import Any

import pytest

from agentcrdt.dataroom.domain import Document, FieldValue
from agentcrdt.evals.aggregate import summarize
from agentcrdt.evals.outputs import CaseOutput, ProposalRecord, text_key
from agentcrdt.evals.scorers import score_case
from agentcrdt.evals.suite import Suite

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
