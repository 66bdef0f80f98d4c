"""The WiCE suite: the loader, its fixed halves, the verdicts scorer (figures computed by hand) and a
small end-to-end run of the claim checker (on a scripted page, and on the shared dataset when present)."""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path
from typing import Any

import pytest

from agentcrdt.dataroom.domain import Document, FieldValue, Finding, Span
from agentcrdt.errors import UsageError
from agentcrdt.evals.aggregate import summarize
from agentcrdt.evals.loaders import DataMissing, load_cases
from agentcrdt.evals.loaders.wice import split_of
from agentcrdt.evals.outputs import CaseOutput, ProposalRecord, text_key
from agentcrdt.evals.runner import plan_run, run_cases
from agentcrdt.evals.scorers import evidence_counts, lexical_baseline, score_case
from agentcrdt.evals.suite import Suite, load_suite
from agentcrdt.llm.offline import OfflineModel
from agentcrdt.retrieval import get_embedder

ROOT = Path(__file__).resolve().parents[2]
AGENT = ROOT / "agents" / "claim_checker.py"
WICE = Path(os.environ.get("AGENTCRDT_WICE", ROOT.parent / "shared/datasets/wice"))
needs_wice = pytest.mark.skipif(
    not (WICE / "claims_dev.jsonl").is_file(), reason=f"WiCE is not at {WICE} (set AGENTCRDT_WICE)"
)

PAGE = [
    "(meta data) TITLE: Alpha Corp",
    "Alpha was founded in 1990.",
    "Alpha makes widgets.",
    "",
    "Beta bought Alpha in 2005.",
    "The sky is blue.",
]
SOURCE = "\n".join(PAGE)


def _rows() -> list[dict[str, Any]]:
    """A scripted WiCE file: the same fields, claims written for the tests (not taken from the data)."""
    rows = [
        ("Alpha was founded in 1990.", "supported", [[1], [0, 1]]),
        ("Beta bought Alpha in 2005, for 90 million dollars.", "partially_supported", [[4]]),
        ("Gamma sells boats in Peru.", "not_supported", [[]]),
        ("Alpha makes widgets.", "supported", [[2]]),
    ]
    return [
        {
            "label": label,
            "supporting_sentences": gold,
            "claim": claim,
            "evidence": PAGE,
            "meta": {"id": f"t{i}", "claim_title": "Alpha"},
        }
        for i, (claim, label, gold) in enumerate(rows)
    ]


def _data(where: Path) -> Path:
    where.mkdir(parents=True, exist_ok=True)
    (where / "claims_dev.jsonl").write_text(
        "\n".join(json.dumps(r) for r in _rows()) + "\n", encoding="utf-8"
    )
    return where


# -- the loader ---------------------------------------------------------------------------------------


def test_a_case_is_the_page_one_sentence_per_line_and_the_claim(tmp_path: Path) -> None:
    loaded = load_cases("wice", _data(tmp_path), {})
    assert [c.name for c in loaded.cases] == ["t0", "t1", "t2", "t3"]
    case = loaded.cases[1]
    source, claim = case.inputs.documents
    assert (source.name, claim.name) == ("source.txt", "claim.txt")
    assert source.text is not None and source.text.split("\n") == PAGE  # line i is sentence i
    assert claim.text == "Beta bought Alpha in 2005, for 90 million dollars."
    (verdict,) = case.expected_output.verdicts or []
    assert (verdict.claim, verdict.source, verdict.label, verdict.evidence) == (
        "claim",
        "source",
        "partially_supported",
        [[4]],
    )
    assert loaded.cases[2].expected_output.verdicts[0].evidence == []  # type: ignore[index]  # [[]]: none
    assert case.metadata == {"split": split_of(claim.text), "title": "Alpha"}


def test_absent_or_malformed_data_and_bad_options_are_clear_errors(tmp_path: Path) -> None:
    with pytest.raises(DataMissing, match="not a directory"):
        load_cases("wice", tmp_path / "nowhere", {})
    with pytest.raises(DataMissing, match=r"claims_dev\.jsonl"):
        load_cases("wice", tmp_path, {})
    (tmp_path / "claims_dev.jsonl").write_text('{"claim": "x"}\n', encoding="utf-8")
    with pytest.raises(DataMissing, match=r":1: a WiCE claim needs \['evidence', 'label'"):
        load_cases("wice", tmp_path, {})
    data = _data(tmp_path / "ok")
    with pytest.raises(UsageError, match="split must be one of all, tune, holdout"):
        load_cases("wice", data, {"split": "dev"})
    with pytest.raises(UsageError, match="unknown: \\['labels'\\]"):
        load_cases("wice", data, {"labels": ["supported"]})


def test_the_halves_are_fixed_by_the_claim_text_and_partition_the_claims(tmp_path: Path) -> None:
    assert split_of("Alpha was founded in 1990.") == split_of("Alpha was founded in 1990.")
    assert {split_of(f"claim {i}") for i in range(20)} == {"tune", "holdout"}
    data = _data(tmp_path / "a")
    everything = load_cases("wice", data, {"split": "all"})
    tune = load_cases("wice", data, {"split": "tune"})
    holdout = load_cases("wice", data, {"split": "holdout"})
    assert {c.name for c in tune.cases} | {c.name for c in holdout.cases} == {
        c.name for c in everything.cases
    }
    assert not {c.name for c in tune.cases} & {c.name for c in holdout.cases}
    assert all(c.metadata["split"] == "tune" for c in tune.cases)
    assert len({everything.version, tune.version, holdout.version}) == 3  # never compared as one
    # Another copy of the file (--data DIR) splits the same way and has the same version.
    copy = tmp_path / "b"
    copy.mkdir()
    shutil.copy(data / "claims_dev.jsonl", copy / "claims_dev.jsonl")
    again = load_cases("wice", copy, {"split": "tune"})
    assert [c.name for c in again.cases] == [c.name for c in tune.cases] and again.version == tune.version


@needs_wice
def test_the_shared_dev_split_loads_in_two_fixed_halves() -> None:
    everything = load_cases("wice", WICE, {})
    tune = load_cases("wice", WICE, {"split": "tune"})
    assert len(everything.cases) == 349 and len(tune.cases) == 175
    labels = [c.expected_output.verdicts[0].label for c in tune.cases]  # type: ignore[index]
    assert (
        labels.count("supported"),
        labels.count("partially_supported"),
        labels.count("not_supported"),
    ) == (
        58,
        96,
        21,
    )


# -- the scorer, by hand ------------------------------------------------------------------------------

V_SOURCE, V_CLAIM = "source@00", "claim@00"
CLAIMS = {
    "c1": "Alpha was founded in 1990.",
    "c2": "Alpha makes widgets and gadgets.",
    "c3": "Gamma sells boats.",
    "c4": "Alpha was founded in 1991 by Carol.",
    "c5": "Delta flies planes over Alpha.",
}
GOLD: dict[str, tuple[str, list[list[int]]]] = {
    "c1": ("supported", [[1], [2, 4]]),
    "c2": ("partially_supported", [[2]]),
    "c3": ("not_supported", []),
    "c4": ("partially_supported", [[1, 2], [5]]),
    "c5": ("not_supported", []),
}
#: What the scripted agent says: verdict, cited source lines, confidence (c4: no proposal at all).
SAID: dict[str, tuple[str, list[int], str]] = {
    "c1": ("supported", [1], "0.9"),
    "c2": ("supported", [2, 4], "0.8"),
    "c3": ("partially_supported", [5], "0.6"),
    "c5": ("not_supported", [], "0.7"),
}

SCRIPTED = Suite.model_validate(
    {
        "name": "scripted-verdicts",
        "agents": [{"path": "unused.py"}],
        "scorers": ["verdicts"],
        "cases": [
            {
                "name": name,
                "inputs": {
                    "documents": [
                        {"name": "source.txt", "text": SOURCE},
                        {"name": "claim.txt", "text": claim},
                    ]
                },
                "expected_output": {
                    "verdicts": [
                        {
                            "claim": "claim",
                            "source": "source",
                            "label": GOLD[name][0],
                            "evidence": GOLD[name][1],
                        }
                    ]
                },
            }
            for name, claim in CLAIMS.items()
        ],
    }
)


def _ev(version: str, text: str, quote: str) -> dict[str, Any]:
    start = text.index(quote)
    end = start + len(quote)
    return {
        "entity": "DocumentVersion",
        "id": version,
        "field": "text",
        "start": start,
        "end": end,
        "quote": quote,
    }


def _output(case: str) -> CaseOutput:
    claim = CLAIMS[case]
    texts = {
        text_key("DocumentVersion", V_SOURCE, "text"): SOURCE,
        text_key("DocumentVersion", V_CLAIM, "text"): claim,
    }
    proposals = []
    if case in SAID:
        verdict, lines, confidence = SAID[case]
        evidence = [_ev(V_CLAIM, claim, claim), *(_ev(V_SOURCE, SOURCE, PAGE[i]) for i in lines)]
        spans = [
            Span(document="source" if e["id"] == V_SOURCE else "claim", version=e["id"], quote=e["quote"],
                 start=e["start"], end=e["end"])
            for e in evidence
        ]  # fmt: skip
        ops = Document.update_ops(
            "claim", None, fields={"verdict": FieldValue(value=verdict, quote=claim, start=0, end=len(claim))}
        ) + Finding.create_ops(id="claim:claim", kind="risk", title=verdict, evidence=spans)
        payload = {
            "slot": "claim_checker", "kind": "verdict", "ops": ops, "base": [], "rationale": "r",
            "evidence": evidence, "confidence": confidence, "input": "sha256:" + "1" * 64,
            "provenance": {"model": "m", "prompt_hash": "sha256:" + "0" * 64, "usage": {}},
        }  # fmt: skip
        proposals.append(
            ProposalRecord(id=f"p-{case}", author="ed25519:a", status="pending", payload=payload)
        )
    return CaseOutput(
        case=case,
        slots=["claim_checker"],
        kinds={"claim_checker": ["verdict"]},
        applied={"Document/claim": {}, "Document/source": {}},
        proposals=proposals,
        texts=texts,
    )


def test_verdict_metrics_match_hand_computed_figures() -> None:
    scores = [score_case(SCRIPTED, c, _output(c.name))[0] for c in SCRIPTED.cases]
    by = {s.case: s for s in scores}
    assert by["c1"].prfs["verdicts/supported"] == [1, 0, 0]
    assert "verdicts/not_supported" not in by["c1"].prfs  # only the labels in play count
    assert by["c2"].prfs["verdict_evidence"] == [1, 1, 0]  # lines {2, 4} against the gold set [2]
    assert by["c4"].prfs["verdict_evidence"] == [0, 0, 1]  # nothing cited: the smaller gold set is missed
    assert "verdict_evidence" not in by["c3"].prfs  # no gold evidence, nothing to score
    assert by["c4"].details["verdicts"] == [
        {"id": "claim", "gold": "partially_supported", "predicted": None, "ok": False}
    ]
    m, counts = summarize(scores).metrics, summarize(scores).counts
    assert counts["verdict_accuracy"] == [2, 5]  # c1 and c5 right
    assert counts["verdicts/supported"] == [1, 1, 0]  # c1 right, c2 wrongly supported
    assert counts["verdicts/partially_supported"] == [0, 1, 2]  # c3 wrongly partial; c2, c4 missed
    assert counts["verdicts/not_supported"] == [1, 0, 1]  # c5 right, c3 missed
    assert m["verdicts/supported.f1"] == pytest.approx(2 / 3)
    assert m["verdicts/partially_supported.f1"] == 0.0
    assert m["verdicts/not_supported.precision"] == 1.0 and m["verdicts/not_supported.recall"] == 0.5
    assert m["verdicts.macro_f1"] == pytest.approx((2 / 3 + 0 + 2 / 3) / 3)
    # Unsupported-claim detection: c3 and c5 flagged rightly; c2 (called supported), c4 (no verdict) missed.
    assert counts["unsupported"] == [2, 0, 2]
    assert m["unsupported.precision"] == 1.0 and m["unsupported.recall"] == 0.5
    assert counts["verdict_evidence"] == [2, 1, 1]  # c1 (1, 0, 0) + c2 (1, 1, 0) + c4 (0, 0, 1)
    assert m["verdict_evidence.precision"] == pytest.approx(2 / 3)
    assert m["verdict_evidence.recall"] == pytest.approx(2 / 3)
    assert m["validity"] == 1.0 and m["groundedness"] == 1.0  # 4 proposals, 4 + 3 + 2 + 1 quotes verbatim
    # Calibration: one judged claim per proposal, with its confidence.
    assert sorted(c for s in scores for c in s.claims) == [
        (0.6, False),
        (0.7, True),
        (0.8, False),
        (0.9, True),
    ]


def test_reference_baselines_are_scored_beside_the_agent_by_hand() -> None:
    scores = [score_case(SCRIPTED, c, _output(c.name))[0] for c in SCRIPTED.cases]
    m, counts = summarize(scores).metrics, summarize(scores).counts
    # Majority class (partially supported, always): right on c2 and c4.
    assert counts["baseline_majority_accuracy"] == [2, 5]
    assert counts["baseline_majority/partially_supported"] == [2, 3, 0]
    assert counts["baseline_majority/supported"] == [0, 0, 1]
    assert counts["baseline_majority/not_supported"] == [0, 0, 2]
    assert m["baseline_majority.macro_f1"] == pytest.approx((0 + 4 / 7 + 0) / 3)
    assert counts["baseline_majority_unsupported"] == [4, 1, 0]  # flags everything
    # Lexical overlap: the share of the claim's words anywhere in the source (>= .75 supported, < .32 not).
    # c1 3/3 supported; c2 3/4 supported (wrong); c3 0/3 not; c4 2/4 partial; c5 1/5 not.
    assert [lexical_baseline(CLAIMS[c], SOURCE) for c in CLAIMS] == [
        "supported",
        "supported",
        "not_supported",
        "partially_supported",
        "not_supported",
    ]
    assert counts["baseline_lexical_accuracy"] == [4, 5]
    assert m["baseline_lexical.macro_f1"] == pytest.approx((2 / 3 + 2 / 3 + 1) / 3)


def test_evidence_is_scored_against_the_best_matching_gold_set() -> None:
    assert evidence_counts([[1, 2], [3]], {1}) == (1, 0, 1)  # F1 2/3 with [1, 2], 0 with [3]
    assert evidence_counts([[1, 2], [3]], {3}) == (1, 0, 0)
    assert evidence_counts([[1, 2], [3]], set()) == (0, 0, 1)  # nothing cited: the smallest set is missed
    assert evidence_counts([[1, 2], [3]], {1, 2, 3}) == (2, 1, 0)  # F1 4/5 beats 1/2
    assert evidence_counts([[1]], {1}, unplaced=1) == (1, 1, 0)  # an unplaceable quote is a wrong one
    assert evidence_counts([[]], {1}) == (0, 0, 0)  # no gold evidence: nothing to count


# -- end to end ---------------------------------------------------------------------------------------


def _suite_file(tmp_path: Path, data: Path, split: str = "all") -> Path:
    path = tmp_path / "wice-mini.yaml"
    path.write_text(
        f"name: wice-mini\nagents: [{{path: {json.dumps(str(AGENT))}}}]\n"
        "scorers: [verdicts]\nembedder: fake\n"
        f"loader: {{name: wice, data: {json.dumps(str(data))}, options: {{split: {split}}}}}\n",
        encoding="utf-8",
    )
    return path


def _run(
    suite_path: Path, limit: int | None = None, data: Path | None = None
) -> tuple[list[CaseOutput], Any]:
    suite = load_suite(suite_path)
    plan = plan_run(suite, limit=limit, data=data)
    embedder = get_embedder("fake")
    outputs = run_cases(plan, OfflineModel(embedder.embed), embedder=embedder)
    scores = [s for c, o in zip(plan.cases, outputs, strict=True) for s in score_case(suite, c, o)]
    return outputs, summarize(scores)


def test_the_claim_checker_end_to_end_on_a_scripted_page(tmp_path: Path) -> None:
    outputs, summary = _run(_suite_file(tmp_path, _data(tmp_path / "data")))
    assert all(o.error is None for o in outputs)
    assert [len(o.of_slots()) for o in outputs] == [1, 1, 1, 1]  # one verdict per claim
    m = summary.metrics
    assert m["validity"] == 1.0 and m["groundedness"] == 1.0
    assert all(not o.applied["Document/claim"].get("fields") for o in outputs)  # nothing applies unreviewed
    # A claim that is a sentence of the page is supported, quoting that sentence (line 1 / line 2).
    said = {o.case: o.of_slots()[0].payload for o in outputs}
    assert said["t0"]["evidence"][1]["quote"] == "Alpha was founded in 1990."
    assert said["t3"]["evidence"][1]["quote"] == "Alpha makes widgets."
    assert m["verdict_accuracy"] == 1.0 and m["verdict_evidence.recall"] == 1.0, summary.counts
    finding = next(o for o in said["t2"]["ops"] if o["e"] == "Finding" and o["f"] == "kind")
    assert finding["op"] == {"set": "risk"}  # an unsupported claim is a risk to review


def test_option_overrides_pick_a_split_and_are_recorded(tmp_path: Path) -> None:
    suite = load_suite(_suite_file(tmp_path, _data(tmp_path / "data")))
    every = plan_run(suite)
    halves = {s: plan_run(suite, options={"split": s}) for s in ("tune", "holdout")}
    names = {s: [c.name for c in p.cases] for s, p in halves.items() if p.cases}
    assert sorted(n for ns in names.values() for n in ns) == [c.name for c in every.cases]
    for s, plan in halves.items():
        assert plan.loader_options == {"split": s}
        assert all(c.metadata["split"] == s for c in plan.cases)
    with pytest.raises(UsageError, match="unknown"):
        plan_run(suite, options={"colour": "red"})


@needs_wice
def test_the_wice_suite_runs_on_five_claims() -> None:
    suite_path = ROOT / "evals" / "wice.yaml"
    outputs, summary = _run(suite_path, limit=5, data=WICE)
    assert len(outputs) == 5 and all(o.error is None for o in outputs)
    assert summary.metrics["validity"] == 1.0 and summary.metrics["groundedness"] == 1.0
    assert summary.counts["verdict_accuracy"][1] == 5
    assert {"verdicts.macro_f1", "unsupported.recall", "baseline_lexical_accuracy"} <= set(summary.metrics)
