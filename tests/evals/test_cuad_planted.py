"""The planted-contradiction generator: deterministic, one contradiction per planted case, controls clean."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import pytest

from agentcrdt.errors import UsageError
from agentcrdt.evals.loaders import DataMissing, load_cases

CUAD = Path(__file__).resolve().parents[2] / ".." / "shared" / "datasets" / "cuad"
needs_cuad = pytest.mark.skipif(
    not (CUAD / "master_clauses_dev.csv").is_file(), reason=f"CUAD is not at {CUAD} (../shared/datasets)"
)


@needs_cuad
def test_cases_are_deterministic_and_only_planted_ones_expect_a_contradiction() -> None:
    first = load_cases("cuad-planted", CUAD, {"contracts": 12, "split": "tune"})
    again = load_cases("cuad-planted", CUAD, {"contracts": 12, "split": "tune"})
    assert [c.model_dump() for c in first.cases] == [c.model_dump() for c in again.cases]
    assert first.version == again.version
    variants = Counter(c.metadata["variant"] for c in first.cases)
    assert variants["unrelated"] == 12 and variants["planted"] == variants["same"] == variants["changed"]
    for case in first.cases:
        contract, amendment = case.inputs.documents
        text = Path(contract.path or "").read_text(encoding="utf-8")
        expected = case.expected_output.contradictions or []
        assert case.metadata["split"] == "tune"
        assert case.expected_output.links and case.expected_output.links[0].relation == "amends"
        if case.metadata["variant"] != "planted":
            assert expected == []
            continue
        (c,) = expected
        # The contract's side is its own gold clause, verbatim; the amendment's side is the planted sentence.
        assert all(side.quote and side.quote in text for side in c.a)
        assert c.b[0].quote and c.b[0].quote in (amendment.text or "")
        assert case.metadata["planted"] != case.metadata["own"]


@needs_cuad
def test_same_and_changed_controls_restate_or_replace_as_named() -> None:
    cases = load_cases("cuad-planted", CUAD, {"contracts": 6, "fields": ["governing_law"]}).cases
    for case in cases:
        text = case.inputs.documents[1].text or ""
        variant = case.metadata["variant"]
        if variant == "same":
            assert "is not modified" in text and case.metadata["own"].split(",")[0] in text
        elif variant == "changed":
            assert "deleted and replaced" in text


def test_bad_options_and_absent_data_are_clear_errors(tmp_path: Path) -> None:
    with pytest.raises(DataMissing, match="CUAD is not at"):
        load_cases("cuad-planted", tmp_path, {})
    with pytest.raises(UsageError, match="unknown"):
        load_cases("cuad-planted", tmp_path, {"colour": "red"})
    with pytest.raises(UsageError, match="fields are"):
        load_cases("cuad-planted", tmp_path, {"fields": ["parties"]})
