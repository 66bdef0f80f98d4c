"""Exploration rooms built from CUAD: deterministic, a contradiction per planted amendment (with the
copy as the same contract), every amendment and the copy expected as links, a letter expected as a
shared-party connection, all of them starting the job."""

from __future__ import annotations

from pathlib import Path

import pytest

from agentcrdt.dataroom.domain import slug
from agentcrdt.errors import UsageError
from agentcrdt.evals.loaders import load_cases

CUAD = Path(__file__).resolve().parents[2] / ".." / "shared" / "datasets" / "cuad"
needs_cuad = pytest.mark.skipif(
    not (CUAD / "master_clauses_dev.csv").is_file(), reason=f"CUAD is not at {CUAD} (../shared/datasets)"
)


@needs_cuad
def test_rooms_are_deterministic_and_their_expectations_are_quoted_verbatim() -> None:
    options = {"rooms": 3, "contracts": 4, "split": "tune"}
    first, again = load_cases("cuad-rabbithole", CUAD, options), load_cases("cuad-rabbithole", CUAD, options)
    assert [c.model_dump() for c in first.cases] == [c.model_dump() for c in again.cases]
    assert len(first.cases) == 3
    for case in first.cases:
        docs = {slug(Path(d.name).stem): d for d in case.inputs.documents}
        assert len(docs) == 4 * 2 + 2  # each contract, its amendment, one copy and one letter
        text = {
            i: d.text if d.text is not None else Path(d.path or "").read_text(encoding="utf-8")
            for i, d in docs.items()
        }
        links = case.expected_output.links or []
        assert sum(lk.relation == "amends" for lk in links) == 4
        (dup,) = [lk for lk in links if lk.relation == "duplicates"]
        assert dup.symmetric and text[dup.source] == text[dup.target]
        job = case.inputs.job
        # The letter shares the parties of one contract (and its amendment) and names neither.
        conns = case.expected_output.connections or []
        (letter,) = {c.a for c in conns}
        assert {c.b for c in conns} <= set(docs) and len(conns) == 2
        named = [
            ln.split(":", 1)[1].strip() for ln in text[letter].splitlines() if ln.startswith(("From:", "To:"))
        ]
        assert len(named) == 2
        for c in conns:
            assert all(n.lower() in text[c.b].lower() for n in named)
        assert job is not None and sorted(job.start) == sorted([*(lk.source for lk in links), letter])
        for c in case.expected_output.contradictions or []:
            assert all(side.quote and side.quote in text[side.document] for side in (*c.a, *c.b))
            original = c.a[0].document
            if original == dup.target:  # the copy is the same contract: its clause counts too
                assert {s.document for s in c.a} == {original, dup.source}


def test_bad_options_are_clear_errors(tmp_path: Path) -> None:
    # Options are checked before the data is read: an empty directory is enough to get there.
    with pytest.raises(UsageError, match="unknown"):
        load_cases("cuad-rabbithole", tmp_path, {"room": 3})
    with pytest.raises(UsageError, match="rooms must be a positive integer"):
        load_cases("cuad-rabbithole", tmp_path, {"rooms": 0})
