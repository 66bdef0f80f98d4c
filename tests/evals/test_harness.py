"""The harness end to end through the CLI: run a suite, replay it from the cache, re-score, compare.

The suite is written here, inline, the way a user writes one for their own agent: two small contracts,
the contract-fields agent, the offline model with the fake embedder (seconds, no downloads).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from agentcrdt.cli._main import run as cli
from agentcrdt.errors import UsageError
from agentcrdt.evals.compare import compare_runs, parse_gate
from agentcrdt.evals.runs import load_run, rescore
from agentcrdt.evals.suite import load_suite

AGENT = Path(__file__).resolve().parents[2] / "agents" / "contract_fields.py"
ONE = (
    "SUPPLY AGREEMENT\n\nThis Supply Agreement is made as of March 3, 2019 between Acme Widgets, Inc. "
    '("Supplier") and Beta Foods LLC ("Buyer").\n\nThis Agreement shall be governed by and construed in '
    "accordance with the laws of the State of Delaware.\n"
)
TWO = (
    "LICENSE AGREEMENT\n\nThis License Agreement is entered into as of July 1, 2020 by Gamma Labs Ltd. and "
    "Delta Media Corp.\n\nThis Agreement is governed by the laws of the State of New York.\n"
)


def _suite(tmp_path: Path, law_two: str = "New York") -> Path:
    cases = [
        ("one", ONE, {"agreement_date": "3/3/19", "governing_law": "Delaware", "renewal_term": None}),
        ("two", TWO, {"agreement_date": "7/1/20", "governing_law": law_two, "renewal_term": None}),
    ]
    lines = [
        "name: mini",
        f"agents: [{{path: {json.dumps(str(AGENT))}}}]",
        "scorers: [fields]",
        "embedder: fake",
        "normalizers: {agreement_date: date, governing_law: jurisdiction, renewal_term: duration}",
        "cases:",
    ]
    for name, text, fields in cases:
        expected = {name: {"fields": {k: {"value": v} for k, v in fields.items()}}}
        case = {
            "name": name,
            "inputs": {"documents": [{"name": f"{name}.txt", "text": text}]},
            "expected_output": {"documents": expected},
        }
        lines.append(f"  - {json.dumps(case)}")
    path = tmp_path / f"mini-{law_two.replace(' ', '')}.yaml"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def _run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, dict[str, Any], str]:
    code = cli(list(argv))
    out = capsys.readouterr()
    return code, json.loads(out.out.strip().splitlines()[-1]), out.out + out.err


def test_run_replay_rescore_and_compare(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    suite = _suite(tmp_path)
    runs = tmp_path / "runs"
    code, first, text = _run(capsys, "eval", str(suite), "--runs", str(runs), "--json", "--resamples", "50")
    assert code == 0, text
    m = first["views"]["proposed"]["metrics"]
    assert m["fields/governing_law"] == 1.0 and m["fields/agreement_date"] == 1.0
    assert m["fields/renewal_term"] == 1.0  # neither contract renews; nothing proposed is right
    assert m["validity"] == 1.0 and m["groundedness"] == 1.0
    assert first["model"].startswith("offline") and first["prompts"]["contract_fields"].startswith("sha256:")
    assert first["views"]["proposed"]["cost"]["calls"] == 2 and "[2/2]" in text

    # The same suite again: every answer from the response cache (replay mode fails on any miss).
    code, second, _ = _run(
        capsys,
        "eval",
        "run",
        str(suite),
        "--runs",
        str(runs),
        "--json",
        "--cache-mode",
        "replay",
        "--resamples",
        "50",
    )
    assert code == 0
    assert second["views"]["proposed"]["metrics"] == m
    assert second["views"]["proposed"]["cost"]["cached_calls"] == 2
    assert second["views"]["proposed"]["cost"]["calls"] == 0

    # Re-score the stored outputs against corrected gold (contract two is under California law).
    worse = load_run(second["run"])
    rescored = rescore(worse, load_suite(_suite(tmp_path, law_two="California")), resamples=50)
    assert rescored.summary().metrics["fields/governing_law"] == 0.5
    assert load_run(second["run"]).summary().metrics["fields/governing_law"] == 0.5  # written in place

    same = compare_runs(load_run(first["run"]), load_run(first["run"]), resamples=50)
    assert not same.failed
    drop = compare_runs(load_run(first["run"]), rescored, max_drop=0.1, resamples=50)
    assert any("fields/governing_law" in f for f in drop.failed)
    code, body, text = _run(
        capsys,
        "eval",
        "compare",
        first["run"],
        second["run"],
        "--gate",
        "fields_mean>=0.99",
        "--json",
        "--resamples",
        "50",
    )
    assert code == 1 and any("fields_mean>=0.99" in f for f in body["failed"]), text
    code, body, _ = _run(
        capsys, "eval", "compare", first["run"], first["run"], "--gate", "validity>=1", "--json"
    )
    assert code == 0 and body["failed"] == []


def test_a_regression_beyond_noise_is_flagged_without_a_gate(tmp_path: Path) -> None:
    from agentcrdt.evals.runs import Run
    from agentcrdt.evals.scorers import CaseScore

    def run(hits: int) -> Run:
        scores = [CaseScore(f"c{i}", "proposed", ratios={"fields/f": [int(i < hits), 1]}) for i in range(40)]
        return Run(tmp_path, {"suite": "s"}, [], [], {"proposed": scores})

    result = compare_runs(run(36), run(12), resamples=200)
    row = next(r for r in result.rows if r.metric == "fields/f")
    assert row.regressed and row.delta is not None and row.delta.value == pytest.approx(-0.6)
    assert compare_runs(run(12), run(36), resamples=200).failed == []  # better is not a failure


def test_bad_gates_and_bad_runs_are_clear_errors(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(UsageError, match="METRIC>=NUMBER"):
        parse_gate("fields_mean > 0.7")
    assert cli(["eval", "compare", str(tmp_path), str(tmp_path)]) == 2
    assert "not an eval run directory" in capsys.readouterr().err
    assert cli(["eval", "no-such-suite"]) == 2
    err = capsys.readouterr().err
    shipped = sorted(p.stem for p in (AGENT.parents[1] / "evals").glob("*.yaml"))
    assert f"shipped suites: {', '.join(shipped)}" in err and "falcon-rabbithole" in shipped
    assert cli(["eval", str(_suite(tmp_path)), "--limit", "0", "--runs", str(tmp_path / "r")]) == 2
    assert "--limit must be at least 1" in capsys.readouterr().err
    assert cli(["eval", str(_suite(tmp_path)), "--option", "split", "--runs", str(tmp_path / "r")]) == 2
    assert "--option takes KEY=VALUE" in capsys.readouterr().err
    assert cli(["eval", str(_suite(tmp_path)), "--option", "split=tune", "--runs", str(tmp_path / "r")]) == 2
    assert "has no loader: --option only sets a loader's options" in capsys.readouterr().err
