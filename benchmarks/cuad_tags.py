"""CUAD clause tags: the offline clause rules against two reference baselines, scored like the suite.

Reads the cases of ``evals/cuad-tags.yaml`` (the ``cuad-tags`` loader on ``../shared/datasets/cuad``,
skipped with a message when absent) and predicts each contract's tags four ways, without a room:

* ``offline``: the ``clause_tags`` agent's own request (its ``context``) answered by the offline model,
  the tags its ``proposals`` would make; the same figures ``agentcrdt eval evals/cuad-tags.yaml`` gives
  (which also signs, stores and checks validity and groundedness), in a fraction of the time;
* ``top5``: every contract gets the 5 categories most often answered Yes on the **tune** half;
* ``keywords``: a category is tagged when one of its :data:`KEYWORDS` (what a reader would grep for,
  written before the rules and never tuned) occurs anywhere in the contract, case-insensitively;
* ``generic``: the offline model's generic classifier (keywords + embedding similarity, what the tagger
  agent gets) with those keywords on each label, i.e. the offline model without the clause rules.

Every prediction is scored by the suite's own ``tags`` scorer (:func:`agentcrdt.evals.scorers.score_case`
on a case output holding the predicted tags) and summed like a run (micro) with the macro mean over
tags. For ``offline`` it also reports how often a right tag's quote overlaps a gold clause of CUAD
(token Jaccard >= 0.5, or one inside the other). ``--split tune|holdout|all``, ``--embedder fake|minilm``,
``--limit N``; ``--quick``: 8 contracts.
"""

from __future__ import annotations

import argparse
import re
import sys
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

from _common import emit, quick

from agentcrdt.evals.aggregate import summarize
from agentcrdt.evals.loaders import DataMissing, load_cases
from agentcrdt.evals.metrics import token_jaccard
from agentcrdt.evals.outputs import CaseOutput
from agentcrdt.evals.scorers import CaseScore, score_case
from agentcrdt.evals.suite import Case, Suite, load_suite
from agentcrdt.llm.offline import OfflineModel
from agentcrdt.llm.tasks import Classification, DocumentInput, LabelSpec
from agentcrdt.retrieval import get_embedder
from agentcrdt.runtime import WorkItem, load_agent

ROOT = Path(__file__).resolve().parent.parent
SUITE = ROOT / "evals" / "cuad-tags.yaml"

#: The keyword baseline's cues, one to four phrases a reader would search a contract for.
KEYWORDS: dict[str, list[str]] = {
    "most_favored_nation": ["most favored", "most favoured"],
    "competitive_restriction_exception": ["shall not apply to", "notwithstanding the foregoing"],
    "non_compete": ["non-compete", "compete with"],
    "exclusivity": ["exclusive"],
    "no_solicit_of_customers": ["solicit customers", "solicit any customer"],
    "no_solicit_of_employees": ["solicit employees", "solicit any employee", "hire any employee"],
    "non_disparagement": ["disparage"],
    "termination_for_convenience": ["for convenience", "without cause"],
    "rofr_rofo_rofn": ["right of first refusal", "right of first offer", "right of first negotiation"],
    "change_of_control": ["change of control", "change in control"],
    "anti_assignment": ["may not assign", "shall not assign"],
    "revenue_profit_sharing": ["royalty", "revenue share", "profit share", "share of revenue"],
    "price_restrictions": ["price increase", "increase the price"],
    "minimum_commitment": ["minimum purchase", "minimum order", "minimum quantity"],
    "volume_restriction": ["volume"],
    "ip_ownership_assignment": ["work made for hire", "hereby assigns"],
    "joint_ip_ownership": ["jointly owned", "joint ownership"],
    "license_grant": ["hereby grants", "license to"],
    "non_transferable_license": ["non-transferable", "nontransferable"],
    "affiliate_license_licensor": ["licensor and its affiliates"],
    "affiliate_license_licensee": ["licensee and its affiliates"],
    "unlimited_all_you_can_eat_license": ["unlimited"],
    "irrevocable_or_perpetual_license": ["irrevocable", "perpetual"],
    "source_code_escrow": ["source code escrow", "escrow agent"],
    "post_termination_services": ["after termination", "upon termination"],
    "audit_rights": ["audit"],
    "uncapped_liability": ["unlimited liability", "uncapped"],
    "cap_on_liability": ["limitation of liability", "in no event shall"],
    "liquidated_damages": ["liquidated damages"],
    "warranty_duration": ["warranty period"],
    "insurance": ["insurance"],
    "covenant_not_to_sue": ["covenant not to sue", "not contest"],
    "third_party_beneficiary": ["third party beneficiar", "third-party beneficiar"],
}

Predict = Callable[[Case, str], tuple[list[str], list[str]]]
"""(case, contract text) -> (tags, the quote of each tag, "" where there is none)."""


def _doc_id(case: Case) -> str:
    return next(iter(case.expected_output.documents))


def _gold(case: Case) -> list[str]:
    return list(case.expected_output.documents[_doc_id(case)].tags or [])


def _score(suite: Suite, case: Case, tags: list[str]) -> CaseScore:
    # The suite's own scorer on a case output whose room holds exactly the predicted tags.
    output = CaseOutput(case=case.name, slots=[], applied={f"Document/{_doc_id(case)}": {"tags": tags}})
    return score_case(suite, case, output)[0]


def _overlaps(quote: str, gold: list[str]) -> bool:
    return any(token_jaccard(quote, g) >= 0.5 or quote in g or g in quote for g in gold)


def offline(embedder: str) -> Predict:
    agent = load_agent(ROOT / "agents" / "clause_tags.py")
    model = OfflineModel(get_embedder(embedder).embed)

    def predict(case: Case, text: str) -> tuple[list[str], list[str]]:
        key = ("DocumentVersion", "v", "text")
        item = WorkItem(
            "Document", _doc_id(case), inputs={"title": case.name, "version": "v"}, texts={key: text}
        )
        ctx = agent.context(item, None)["task"]
        out = model.run("classify", ctx.model_dump(mode="json"))
        assert isinstance(out, Classification)
        drafts = agent.proposals(item, out)
        # Each draft adds one tag: its op is an OR-Set add on Document.tags.
        return [str(d.ops[0]["op"]["add"]) for d in drafts], [d.evidence[0].quote for d in drafts]

    return predict


def keywords() -> Predict:
    cues = {t: re.compile("|".join(re.escape(k) for k in ks), re.I) for t, ks in KEYWORDS.items()}

    def predict(case: Case, text: str) -> tuple[list[str], list[str]]:
        hits = {t: c.search(text) for t, c in cues.items()}
        return [t for t, m in hits.items() if m], [m.group(0) for m in hits.values() if m]

    return predict


def generic(embedder: str) -> Predict:
    from agentcrdt.llm.offline.classify import classify
    from agentcrdt.llm.offline.encoder import Encoder, family_of

    emb = get_embedder(embedder)
    enc = Encoder(emb.embed, family_of(emb.model_id))
    agent = load_agent(ROOT / "agents" / "clause_tags.py")
    specs = sys.modules[type(agent).__module__].tag_specs()
    labels = [LabelSpec(name=t.name, description=t.description, keywords=KEYWORDS[t.name]) for t in specs]
    kinds = [LabelSpec(name="contract", description="A commercial contract")]

    def predict(case: Case, text: str) -> tuple[list[str], list[str]]:
        out = classify(DocumentInput(id="d", text=text, title=case.name), kinds, labels, enc)
        return out.tags, []

    return predict


def top5(tune: list[Case]) -> Predict:
    counts = Counter(t for c in tune for t in _gold(c))
    most = [t for t, _ in counts.most_common(5)]
    return lambda case, text: (most, [])


def run(suite: Suite, cases: list[Case], name: str, predict: Predict) -> dict[str, Any]:
    scores, right, grounded, started = [], 0, 0, time.perf_counter()
    for case in cases:
        text = Path(case.inputs.documents[0].path or "").read_text(encoding="utf-8")
        tags, quotes = predict(case, text)
        scores.append(_score(suite, case, tags))
        clauses = case.metadata.get("clauses", {})
        for t, q in zip(tags, quotes, strict=False):
            if t in clauses:
                right += 1
                grounded += _overlaps(q, clauses[t])
    m = summarize(scores).metrics
    per_tag = {k[5:-3]: v for k, v in m.items() if k.startswith("tags/") and k.endswith(".f1")}
    ranked = sorted(per_tag.items(), key=lambda kv: (-kv[1], kv[0]))
    seconds = (time.perf_counter() - started) / len(cases)
    print(
        f"  {name:<9} micro P {m['tags.precision']:.3f} R {m['tags.recall']:.3f} F1 {m['tags.f1']:.3f}"
        f"  macro F1 {m['tags.macro_f1']:.3f}  {seconds * 1000:.0f} ms/contract"
        + (f"  quote on a gold clause {grounded / right:.2f}" if right and name == "offline" else "")
    )
    if name == "offline":
        print("    best  " + ", ".join(f"{t} {v:.2f}" for t, v in ranked[:5]))
        print("    worst " + ", ".join(f"{t} {v:.2f}" for t, v in ranked[-5:]))
    return {"f1": m["tags.f1"], "macro_f1": m["tags.macro_f1"], "per_tag": per_tag, "seconds": seconds}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--split", default="tune", choices=["tune", "holdout", "all"])
    ap.add_argument("--embedder", default="fake")
    ap.add_argument("--limit", type=int, default=None)
    ap.add_argument("--only", default="", help="comma-separated: offline,top5,keywords,generic")
    ap.add_argument("--quick", action="store_true")
    args = ap.parse_args()
    suite = load_suite(SUITE)
    assert suite.loader is not None
    data = suite.resolve(suite.loader.data or "")
    try:
        cases = load_cases("cuad-tags", data, {"split": args.split}).cases
        tune = load_cases("cuad-tags", data, {"split": "tune"}).cases
    except DataMissing as e:
        print(f"skipped: {e}")
        return 0
    limit = 8 if quick() or args.quick else args.limit
    cases = cases[:limit] if limit else cases
    print(f"cuad-tags {args.split}: {len(cases)} contracts, embedder {args.embedder}")
    methods: dict[str, Callable[[], Predict]] = {
        "offline": lambda: offline(args.embedder),
        "top5": lambda: top5(tune),
        "keywords": keywords,
        "generic": lambda: generic(args.embedder),
    }
    only = [m for m in args.only.split(",") if m] or list(methods)
    results = {name: run(suite, cases, name, methods[name]()) for name in only}
    figures = {f"{n}_{k}": v for n, r in results.items() for k, v in r.items() if k != "per_tag"}
    ratios = {}
    if "offline" in results and "keywords" in results:
        ratios["offline_vs_keywords_f1"] = results["offline"]["f1"] / max(1e-9, results["keywords"]["f1"])
    emit("cuad_tags", figures, ratios)
    return 0


if __name__ == "__main__":
    sys.exit(main())
