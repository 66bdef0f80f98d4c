"""Scorers: one case's output against its expected findings, as counts that add up over cases.

A scorer never computes a rate: it returns counts per metric (``hits, total`` for accuracies, ``tp, fp,
fn`` for precision/recall), so a corpus figure is the sum over cases (micro averaging, as CUAD reports),
and a bootstrap over cases (:mod:`.aggregate`) only re-adds counts. Every scorer also judges each claim of
each proposal on its own, with the proposal's confidence, for calibration.

Kinds (a suite names which run): ``kind`` (document kind accuracy), ``tags`` (multi-label, per tag),
``fields`` (exact match of normalized values, and CUAD's span overlap: token Jaccard ≥ 0.5 against a gold
clause), ``links`` (typed edges), ``contradictions`` (findings covering both sides), ``verdicts`` (a
claim's verdict against its source: ``verdict_accuracy``, per label ``verdicts/<label>``, unsupported-claim
detection ``unsupported`` (flagged: any verdict but supported), ``verdict_evidence`` (quoted source lines
against the best-matching gold set), and two reference baselines counted the same way from the case's
texts, ``baseline_majority*`` and ``baseline_lexical*``). Always: ``validity`` (schema, slot, proposal
kind, not quarantined), ``groundedness`` (each quote is verbatim at its offsets in the cited text), and
cost (tokens, money where known, seconds, model calls).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from agentcrdt.dataroom.domain import slug
from agentcrdt.evals.metrics import JACCARD_MATCH, normalize_answer, token_jaccard
from agentcrdt.evals.normalize import normalizer
from agentcrdt.evals.outputs import CaseOutput, ProposalRecord, View, _apply, proposed_view, text_key
from agentcrdt.evals.suite import VERDICTS, Case, ContradictionExpectation, Side, Suite, VerdictExpectation

__all__ = [
    "MAJORITY",
    "SCORER_VERSION",
    "VERDICT_FIELD",
    "CaseScore",
    "evidence_counts",
    "lexical_baseline",
    "score_case",
]

#: Bumped whenever a scorer's arithmetic changes: runs with different versions are not comparable.
SCORER_VERSION = "agentcrdt.evals.scorers/5"
#: The claim document's field holding its verdict (what the claim checker writes).
VERDICT_FIELD = "verdict"


@dataclass
class CaseScore:
    """One case's counts. ``ratios[m] = [hits, total]``, ``prfs[m] = [tp, fp, fn]``; ``claims`` are
    ``(confidence, correct)`` per judged claim; ``cost`` sums tokens, money, seconds and calls."""

    case: str
    view: str
    ratios: dict[str, list[int]] = field(default_factory=dict)
    prfs: dict[str, list[int]] = field(default_factory=dict)
    claims: list[tuple[float, bool]] = field(default_factory=list)
    cost: dict[str, float | None] = field(default_factory=dict)
    #: What was compared, for reading a report: ``{metric: [{id, gold, predicted, ok}, ...]}``.
    details: dict[str, list[dict[str, Any]]] = field(default_factory=dict)

    def ratio(self, name: str, hits: int, total: int) -> None:
        r = self.ratios.setdefault(name, [0, 0])
        r[0] += hits
        r[1] += total

    def prf(self, name: str, tp: int, fp: int, fn: int) -> None:
        c = self.prfs.setdefault(name, [0, 0, 0])
        c[0] += tp
        c[1] += fp
        c[2] += fn

    def to_json(self) -> dict[str, Any]:
        return {
            "case": self.case,
            "view": self.view,
            "ratios": self.ratios,
            "prfs": self.prfs,
            "claims": [[c, ok] for c, ok in self.claims],
            "cost": self.cost,
            "details": self.details,
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> CaseScore:
        return cls(
            case=data["case"],
            view=data["view"],
            ratios={k: list(v) for k, v in data["ratios"].items()},
            prfs={k: list(v) for k, v in data["prfs"].items()},
            claims=[(float(c), bool(ok)) for c, ok in data["claims"]],
            cost=dict(data["cost"]),
            details=dict(data.get("details", {})),
        )


# -- reading predictions from a view ------------------------------------------------------------------


def _doc(view: View, doc_id: str) -> Mapping[str, Any] | None:
    return view.get(f"Document/{doc_id}")


def _field_value(values: Mapping[str, Any] | None, name: str) -> tuple[str | None, str]:
    """Return ``(value, quote)`` of a document field in a view (``(None, "")`` when absent)."""
    fields = (values or {}).get("fields") or {}
    fv = fields.get(name) if isinstance(fields, Mapping) else None
    if isinstance(fv, Mapping) and isinstance(fv.get("value"), str) and fv["value"].strip():
        return fv["value"], str(fv.get("quote") or "")
    return None, ""


def _links(view: View) -> set[tuple[str, str, str]]:
    out = set()
    for key, v in view.items():
        if key.startswith("Link/") and not v.get("_deleted") and v.get("relation") not in (None, "related"):
            out.add((str(v.get("source")), str(v.get("relation")), str(v.get("target"))))
    return out


def _connected(view: View) -> set[frozenset[str]]:
    """The document pairs connection findings cite (a finding citing three documents joins each pair)."""
    out: set[frozenset[str]] = set()
    for key, v in view.items():
        if not key.startswith("Finding/") or v.get("kind") != "connection" or v.get("_deleted"):
            continue
        docs = sorted({str(sp.get("document")) for sp in v.get("evidence") or [] if isinstance(sp, Mapping)})
        out |= {frozenset((a, b)) for i, a in enumerate(docs) for b in docs[i + 1 :]}
    return out


def _findings(view: View) -> list[tuple[str, Mapping[str, Any]]]:
    return [
        (key, v)
        for key, v in sorted(view.items())
        if key.startswith("Finding/") and v.get("kind") == "contradiction"
    ]


def _cited_lines(view: View, texts: Mapping[str, str], claim: str, source: str) -> tuple[set[int], int]:
    """Return the source lines quoted by the findings that cite ``claim`` (a span covers every line it
    touches), and how many quotes could not be placed (their text is not in the output)."""
    lines: set[int] = set()
    unplaced = 0
    for key, v in sorted(view.items()):
        if not key.startswith("Finding/") or v.get("_deleted"):
            continue
        spans = [sp for sp in v.get("evidence") or [] if isinstance(sp, Mapping)]
        if not any(sp.get("document") == claim for sp in spans):
            continue
        for sp in spans:
            if sp.get("document") != source:
                continue
            text = texts.get(text_key("DocumentVersion", str(sp.get("version")), "text"))
            start, end = sp.get("start"), sp.get("end")
            if text is None or not isinstance(start, int) or not isinstance(end, int):
                unplaced += 1
                continue
            first = text.count("\n", 0, start)
            lines.update(range(first, first + text.count("\n", start, max(start, end - 1)) + 1))
    return lines, unplaced


def evidence_counts(
    gold: Sequence[Sequence[int]], cited: set[int], unplaced: int = 0
) -> tuple[int, int, int]:
    """Return ``(tp, fp, fn)`` of cited lines against the best-matching gold set (highest F1; ties: the
    most lines found, then the smallest set, then the first). Quotes that could not be placed are wrong."""
    sets = [set(g) for g in gold if g]
    if not sets:
        return 0, 0, 0

    def rank(g: set[int]) -> tuple[float, int, int]:
        tp = len(g & cited)
        denominator = len(g) + len(cited) + unplaced
        return (2 * tp / denominator if denominator else 0.0, tp, -len(g))

    best = max(sets, key=rank)  # max keeps the first of equals
    tp = len(best & cited)
    return tp, len(cited - best) + unplaced, len(best - cited)


# -- reference baselines for verdicts ----------------------------------------------------------------

#: The label a majority-class baseline predicts: WiCE's most frequent (55% of the tune half).
MAJORITY = "partially_supported"
#: Lexical-overlap baseline: the share of the claim's words found anywhere in the source, with two
#: thresholds (tuned on WiCE's tune half, as the offline verifier was): at least SUPPORTED_AT is
#: supported, below UNSUPPORTED_BELOW not supported, partially supported between.
SUPPORTED_AT, UNSUPPORTED_BELOW = 0.75, 0.32
_STOP = frozenset([
    "a", "an", "the", "and", "or", "of", "to", "in", "on", "for", "by", "with", "as", "at", "be", "is",
    "are", "was", "were", "this", "that", "it", "its", "his", "her", "their", "from", "he", "she",
    "they", "which", "who"
])  # fmt: skip


def _words(text: str) -> set[str]:
    return {w for w in normalize_answer(text).split() if w not in _STOP}


def _baseline(name: str) -> tuple[str, str, str]:
    """Return a baseline's metric names: per-label family, accuracy, unsupported-claim detection."""
    return f"baseline_{name}", f"baseline_{name}_accuracy", f"baseline_{name}_unsupported"


def lexical_baseline(claim: str, source: str) -> str:
    """Return the lexical-overlap baseline's verdict on ``claim`` against ``source``."""
    words = _words(claim)
    share = len(words & _words(source)) / len(words) if words else 0.0
    return (
        "supported"
        if share >= SUPPORTED_AT
        else "not_supported"
        if share < UNSUPPORTED_BELOW
        else "partially_supported"
    )


# -- the scorers --------------------------------------------------------------------------------------


class _Scoring:
    def __init__(self, suite: Suite, case: Case, output: CaseOutput) -> None:
        self.suite, self.case, self.expected, self.output = suite, case, case.expected_output, output
        self.norm = {n: normalizer(k) for n, k in suite.normalizers.items()}

    def same(self, name: str, predicted: str, gold: str) -> bool:
        norm = self.norm.get(name) or normalizer("text")
        return norm(predicted) == norm(gold)

    # each scorer: (counts for a whole view, judgement of one proposal's claims)
    def kind(self, s: CaseScore, view: View) -> None:
        for doc_id, exp in sorted(self.expected.documents.items()):
            if exp.kind is None or not self._in_room(doc_id):
                continue  # a document the room never got says nothing about the agent
            got = (_doc(view, doc_id) or {}).get("kind")
            s.ratio("kind", int(got == exp.kind), 1)

    def kind_claims(self, mini: View) -> list[bool]:
        out = []
        for doc_id, exp in self.expected.documents.items():
            got = (_doc(mini, doc_id) or {}).get("kind")
            if exp.kind is not None and got:
                out.append(got == exp.kind)
        return out

    def tags(self, s: CaseScore, view: View) -> None:
        for doc_id, exp in sorted(self.expected.documents.items()):
            if exp.tags is None:
                continue
            gold = set(exp.tags)
            got = {str(t) for t in ((_doc(view, doc_id) or {}).get("tags") or [])}
            for label in sorted(gold | got):
                s.prf(
                    f"tags/{label}",
                    int(label in gold & got),
                    int(label in got - gold),
                    int(label in gold - got),
                )
            s.prf("tags", len(gold & got), len(got - gold), len(gold - got))

    def tags_claims(self, mini: View) -> list[bool]:
        out = []
        for doc_id, exp in self.expected.documents.items():
            if exp.tags is not None:
                out += [str(t) in exp.tags for t in ((_doc(mini, doc_id) or {}).get("tags") or [])]
        return out

    def fields(self, s: CaseScore, view: View) -> None:
        rows = s.details.setdefault("fields", [])
        for doc_id, exp in sorted(self.expected.documents.items()):
            values = _doc(view, doc_id)
            for name, fe in sorted(exp.fields.items()):
                got, quote = _field_value(values, name)
                ok = self._field_ok(name, got, fe.value, fe.alternatives)
                s.ratio(f"fields/{name}", int(ok), 1)
                rows.append({"id": f"{doc_id}:{name}", "gold": fe.value, "predicted": got, "ok": ok})
                if not fe.spans:
                    continue  # no gold clause to overlap
                # CUAD's span overlap: the quote behind the value against the gold clauses.
                predicted = [quote] if got is not None and quote else []
                tp = int(any(token_jaccard(p, g) >= JACCARD_MATCH for p in predicted for g in fe.spans))
                found = int(any(token_jaccard(p, g) >= JACCARD_MATCH for g in fe.spans for p in predicted))
                s.prf(f"spans/{name}", tp, len(predicted) - tp, (1 if fe.spans else 0) - found)

    def _field_ok(self, name: str, got: str | None, gold: str | None, alternatives: Sequence[str]) -> bool:
        if gold is None:
            return got is None
        return got is not None and any(self.same(name, got, g) for g in (gold, *alternatives))

    def fields_claims(self, mini: View) -> list[bool]:
        out = []
        for doc_id, exp in self.expected.documents.items():
            values = _doc(mini, doc_id)
            for name, fe in exp.fields.items():
                got, _ = _field_value(values, name)
                if got is not None:
                    out.append(self._field_ok(name, got, fe.value, fe.alternatives))
        return out

    def _want_links(self) -> list[tuple[str, str, str, bool]]:
        return [(lk.source, lk.relation, lk.target, lk.symmetric) for lk in self.expected.links or []]

    @staticmethod
    def _hit(link: tuple[str, str, str], want: Sequence[tuple[str, str, str, bool]]) -> bool:
        a, rel, b = link
        return any((a, rel, b) == (x, r, y) or (sym and (b, rel, a) == (x, r, y)) for x, r, y, sym in want)

    def links(self, s: CaseScore, view: View) -> None:
        if self.expected.links is None:
            return
        want, got = self._want_links(), _links(view)
        tp_pred = sum(self._hit(lk, want) for lk in got)
        found = sum(any(self._hit(g, [w]) for g in got) for w in want)
        s.prf("links", found, len(got) - tp_pred, len(want) - found)
        unlabeled = sum(any({x, y} == {a, b} for a, _, b in got) for x, _, y, _ in want)
        s.ratio("links_unlabeled_recall", unlabeled, len(want))

    def links_claims(self, mini: View) -> list[bool]:
        if self.expected.links is None:
            return []
        want = self._want_links()
        return [self._hit(lk, want) for lk in _links(mini)]

    def _covers(self, spans: Sequence[Mapping[str, Any]], side: Side) -> bool:
        """Tell whether some evidence span lies in ``side``'s document and overlaps its quote."""
        for sp in spans:
            if sp.get("document") != side.document:
                continue
            if side.quote is None:
                return True
            quote = str(sp.get("quote") or "")
            text = self.output.texts.get(text_key("DocumentVersion", str(sp.get("version")), "text"))
            where = text.find(side.quote) if text else -1
            start, end = sp.get("start"), sp.get("end")
            if where >= 0 and isinstance(start, int) and isinstance(end, int):
                if start < where + len(side.quote) and where < end:
                    return True
            elif quote and (quote in side.quote or side.quote in quote):
                return True
        return False

    def _matches(self, finding: Mapping[str, Any], c: ContradictionExpectation) -> bool:
        spans = [sp for sp in finding.get("evidence") or [] if isinstance(sp, Mapping)]
        return any(self._covers(spans, sd) for sd in c.a) and any(self._covers(spans, sd) for sd in c.b)

    def contradictions(self, s: CaseScore, view: View) -> None:
        expected = self.expected.contradictions
        if expected is None:
            return
        findings = _findings(view)
        found = [c.id for c in expected if any(self._matches(f, c) for _, f in findings)]
        wrong = sum(1 for _, f in findings if not any(self._matches(f, c) for c in expected))
        s.prf("contradictions", len(found), wrong, len(expected) - len(found))
        s.details["contradictions"] = [
            {"id": c.id, "gold": True, "predicted": c.id in found, "ok": c.id in found} for c in expected
        ]

    def contradictions_claims(self, mini: View) -> list[bool]:
        expected = self.expected.contradictions
        if expected is None:
            return []
        return [any(self._matches(f, c) for c in expected) for _, f in _findings(mini)]

    def exploration(self, s: CaseScore, view: View) -> None:
        """An exploration job's spending per true finding (expected contradictions and links found), and
        the naive baseline's figures from the same case: its contradictions, and the pairs it compared
        counted as connections against the expected links (either direction)."""
        job = self.output.job
        if job is None:
            return
        links = self._want_links()
        got_links = _links(view)
        found_links = sum(any(self._hit(g, [w]) for g in got_links) for w in links)
        expected = self.expected.contradictions or []
        findings = [f for _, f in _findings(view)]
        found = sum(any(self._matches(f, c) for f in findings) for c in expected) + found_links
        # Connections: document pairs joined by a link or a connection finding, against the expected
        # links and connections (shared parties), either order.
        want_pairs = {frozenset((a, b)) for a, _, b, _ in links}
        want_pairs |= {frozenset((c.a, c.b)) for c in self.expected.connections or []}
        got_pairs = {frozenset((a, b)) for a, _, b in got_links if a != b} | _connected(view)
        if self.expected.connections is not None:
            tp = len(got_pairs & want_pairs)
            s.prf("connections", tp, len(got_pairs - want_pairs), len(want_pairs - got_pairs))
            shared = {frozenset((c.a, c.b)) for c in self.expected.connections}
            found += len(got_pairs & shared)
        s.ratio("exploration.nodes_per_finding", int(job.get("nodes", 0)), found)
        s.ratio("exploration.calls_per_finding", int(job.get("calls", 0)), found)
        s.ratio("exploration.nodes", int(job.get("nodes", 0)), 1)
        s.ratio("exploration.themes_summarized", int(job.get("themes", 0)), 1)
        if job.get("theme_quotes"):
            s.ratio(
                "exploration.theme_quotes_verbatim",
                int(job.get("theme_quotes_verbatim", 0)),
                int(job["theme_quotes"]),
            )
        naive = self.output.baselines.get("naive")
        if not isinstance(naive, Mapping):
            return
        b_findings = [f for f in naive.get("findings", []) if isinstance(f, Mapping)]
        b_found = [c.id for c in expected if any(self._matches(f, c) for f in b_findings)]
        wrong = sum(1 for f in b_findings if not any(self._matches(f, c) for c in expected))
        s.prf("baseline_naive_contradictions", len(b_found), wrong, len(expected) - len(b_found))
        compared = [p for p in naive.get("pairs", []) if isinstance(p, list) and len(p) == 2]
        pairs = {frozenset(map(str, p)) for p in compared}
        want = {frozenset((a, b)) for a, _, b, _ in links}
        s.prf("baseline_naive_links_unlabeled", len(pairs & want), len(pairs - want), len(want - pairs))
        hits = len(b_found) + len(pairs & want)
        if self.expected.connections is not None:
            tp = len(pairs & want_pairs)
            s.prf("baseline_naive_connections", tp, len(pairs - want_pairs), len(want_pairs - pairs))
            hits += len(pairs & {frozenset((c.a, c.b)) for c in self.expected.connections})
        s.ratio("baseline_naive.calls_per_finding", int(naive.get("calls", 0)), hits)

    def exploration_claims(self, mini: View) -> list[bool]:
        return []  # the job's claims are its links and findings, judged by those scorers

    def _verdict(self, view: View, claim: str) -> str | None:
        got, _ = _field_value(_doc(view, claim), VERDICT_FIELD)
        return got.strip() if got is not None else None

    def verdicts(self, s: CaseScore, view: View) -> None:
        expected = self.expected.verdicts
        if expected is None:
            return
        rows = s.details.setdefault("verdicts", [])
        for exp in expected:
            got = self._verdict(view, exp.claim)
            self._count_verdict(s, exp, got, "verdicts", "verdict_accuracy", "unsupported")
            # The reference baselines, counted the same way in the same run (they read the case, not the
            # room, so they are the same in every view and every run of the suite).
            claim, source = self._input_text(exp.claim), self._input_text(exp.source)
            self._count_verdict(s, exp, MAJORITY, *_baseline("majority"))
            if claim is not None and source is not None:
                self._count_verdict(s, exp, lexical_baseline(claim, source), *_baseline("lexical"))
            rows.append({"id": exp.claim, "gold": exp.label, "predicted": got, "ok": got == exp.label})
            if any(exp.evidence):
                cited, unplaced = _cited_lines(view, self.output.texts, exp.claim, exp.source)
                s.prf("verdict_evidence", *evidence_counts(exp.evidence, cited, unplaced))

    def _input_text(self, doc_id: str) -> str | None:
        """Return the text of the case's document ``doc_id`` as the case gives it (None: unreadable)."""
        for d in self.case.inputs.documents:
            if slug(Path(d.name).stem) != doc_id:
                continue
            if d.text is not None:
                return d.text
            try:
                return self.suite.resolve(str(d.path)).read_text(encoding="utf-8")
            except (OSError, UnicodeDecodeError):
                return None
        return None

    @staticmethod
    def _count_verdict(
        s: CaseScore, exp: VerdictExpectation, got: str | None, family: str, accuracy: str, unsupported: str
    ) -> None:
        s.ratio(accuracy, int(got == exp.label), 1)
        # Per label, only the labels in play count (gold or predicted), so a macro average runs over
        # the labels that occur, as everywhere else; no verdict at all is a miss of the gold label.
        for label in VERDICTS:
            if label in (exp.label, got):
                tp, fp, fn = label == exp.label == got, got == label != exp.label, exp.label == label != got
                s.prf(f"{family}/{label}", int(tp), int(fp), int(fn))
        # Unsupported-claim detection: flagged = any verdict but "supported"; no verdict flags nothing.
        flagged, positive = got is not None and got != "supported", exp.label != "supported"
        tp, fp, fn = flagged and positive, flagged and not positive, positive and not flagged
        s.prf(unsupported, int(tp), int(fp), int(fn))

    def verdicts_claims(self, mini: View) -> list[bool]:
        out = []
        for exp in self.expected.verdicts or []:
            got = self._verdict(mini, exp.claim)
            if got is not None:
                out.append(got == exp.label)
        return out

    def _in_room(self, doc_id: str) -> bool:
        return f"Document/{doc_id}" in self.output.applied

    # -- always ---------------------------------------------------------------------------------------

    def validity(self, s: CaseScore) -> None:
        for p in self.output.of_slots():
            s.ratio("validity", int(not _invalid(p, self.output)), 1)

    def groundedness(self, s: CaseScore) -> None:
        for p in self.output.of_slots():
            evidence = p.payload.get("evidence") or []
            ok = [self._grounded(ev) for ev in evidence]
            s.ratio("groundedness", sum(ok), len(ok))
            s.ratio("grounded_proposals", int(all(ok)), 1)

    def _grounded(self, ev: Mapping[str, Any]) -> bool:
        text = self.output.texts.get(text_key(str(ev.get("entity")), str(ev.get("id")), str(ev.get("field"))))
        start, end, quote = ev.get("start"), ev.get("end"), ev.get("quote")
        if text is None or not isinstance(start, int) or not isinstance(end, int) or not quote:
            return False
        return bool(text[start:end] == quote)

    def cost(self, s: CaseScore) -> None:
        tokens_in = tokens_out = 0
        money = 0.0
        priced = True
        for p in self.output.of_slots():
            usage = (p.payload.get("provenance") or {}).get("usage") or {}
            tokens_in += int(usage.get("input_tokens") or 0)
            tokens_out += int(usage.get("output_tokens") or 0)
            if usage.get("cost_usd") is None:
                priced = priced and not (usage.get("input_tokens") or usage.get("output_tokens"))
            else:
                money += float(usage["cost_usd"])
        s.cost = {
            "input_tokens": tokens_in,
            "output_tokens": tokens_out,
            "cost_usd": money if priced else None,  # unknown when some call had no price
            "seconds": self.output.seconds,
            "calls": self.output.calls,
            "cached_calls": self.output.cached_calls,
            "proposals": len(self.output.of_slots()),
        }


def _invalid(p: ProposalRecord, output: CaseOutput) -> str:
    """Return why a proposal is invalid ("" when it is valid)."""
    if p.schema_problem:
        return p.schema_problem
    if p.status == "quarantined":
        return f"quarantined: {p.reason}"
    kinds = output.kinds.get(p.slot)
    if kinds and p.payload.get("kind") not in kinds:
        return f"kind {p.payload.get('kind')!r} is not one of slot {p.slot}'s {kinds}"
    return ""


def score_case(suite: Suite, case: Case, output: CaseOutput) -> list[CaseScore]:
    """Score one case's output: one :class:`CaseScore` per view the suite names."""
    scoring = _Scoring(suite, case, output)
    views = {"applied": output.applied, "proposed": proposed_view(output)}
    judged: list[tuple[ProposalRecord, View]] = []
    for p in output.of_slots():
        if not _invalid(p, output):
            mini: View = {}
            _apply(mini, p.payload.get("ops") or [])
            judged.append((p, mini))
    out = []
    for name in suite.views:
        s = CaseScore(case.name, name)
        for kind in suite.scorers:
            scorer: Callable[[CaseScore, View], None] = getattr(scoring, kind)
            scorer(s, views[name])
        for p, mini in judged:
            for kind in suite.scorers:
                claims: Callable[[View], list[bool]] = getattr(scoring, f"{kind}_claims")
                s.claims += [(p.confidence, ok) for ok in claims(mini)]
        scoring.validity(s)
        scoring.groundedness(s)
        scoring.cost(s)
        out.append(s)
    return out
