"""The CUAD loader on the shared dataset (skipped, saying why, where the dataset is not present)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from agentcrdt.evals.loaders import DataMissing, load_cases

CUAD = Path(os.environ.get("AGENTCRDT_CUAD", Path(__file__).resolve().parents[3] / "shared/datasets/cuad"))
needs_cuad = pytest.mark.skipif(
    not (CUAD / "master_clauses_dev.csv").is_file(), reason=f"CUAD is not at {CUAD} (set AGENTCRDT_CUAD)"
)


@needs_cuad
def test_the_tune_and_holdout_halves_partition_the_dev_split() -> None:
    everything = load_cases("cuad-fields", CUAD, {})
    tune = load_cases("cuad-fields", CUAD, {"split": "tune"})
    holdout = load_cases("cuad-fields", CUAD, {"split": "holdout"})
    names = {c.name for c in everything.cases}
    assert len(names) == len(everything.cases) == 408
    assert {c.name for c in tune.cases} | {c.name for c in holdout.cases} == names
    assert not {c.name for c in tune.cases} & {c.name for c in holdout.cases}
    assert 150 < len(tune.cases) < 260
    assert tune.version != holdout.version != everything.version


@needs_cuad
def test_cases_carry_the_normalized_answer_and_the_gold_clauses() -> None:
    cases = load_cases(
        "cuad-fields", CUAD, {"fields": ["Governing Law", "Notice Period To Terminate Renewal"]}
    )
    fields = [next(iter(c.expected_output.documents.values())).fields for c in cases.cases]
    assert all(set(f) == {"governing_law", "notice_period_to_terminate_renewal"} for f in fields)
    laws = [f["governing_law"] for f in fields]
    assert sum(1 for fe in laws if fe.value == "New York") > 50
    answered = [fe for fe in laws if fe.value]
    assert sum(1 for fe in answered if fe.spans) / len(answered) > 0.95  # an answer comes with its clause
    assert any(f["notice_period_to_terminate_renewal"].value is None for f in fields)  # absent: None


def test_absent_data_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(DataMissing, match="not a directory"):
        load_cases("cuad-fields", tmp_path / "nowhere", {})
    with pytest.raises(DataMissing, match=r"master_clauses_dev\.csv"):
        load_cases("cuad-fields", tmp_path, {})
