"""A run, or a comparison of two, as one self-contained HTML page: the figures of scores.json, drawn.

The page needs nothing but itself: inline CSS, inline SVG, a few lines of inline script (a view switch
and a case filter; without script every view shows and nothing is lost). Its Content-Security-Policy
forbids every fetch, so a report opened from a CI artifact or a mail makes no request at all. Gold and
predicted values are third-party text (contracts): the template autoescapes everything, and no value
is ever written into the script.

Geometry is computed here, as plain values (pure functions of the scores); the markup is the Jinja
template ``templates/report.html.j2`` (``compare.html.j2`` for a comparison).
"""

from __future__ import annotations

import base64
import functools
import hashlib
import math
import re
import statistics
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from importlib import resources
from typing import TYPE_CHECKING, Any

from agentcrdt.evals.aggregate import LOWER_IS_BETTER, intervals, summarize
from agentcrdt.evals.metrics import calibration
from agentcrdt.evals.report import headline
from agentcrdt.evals.scorers import CaseScore

if TYPE_CHECKING:
    import jinja2

    from agentcrdt.evals.compare import Comparison
    from agentcrdt.evals.runs import Run

__all__ = ["render_comparison", "render_run"]

_PRF = ("precision", "recall", "f1")
#: Series colour classes (report.css ``--s0``..): a family with more series than colours reuses them.
PALETTE = ("s0", "s1", "s2", "s3", "s4", "s5")
#: How a family of per-category metrics (``family/category``) is charted: title, and the series drawn.
_FAMILIES: dict[str, tuple[str, tuple[str, ...]]] = {
    "fields": ("Exact accuracy per field", ("accuracy",)),
    "spans": ("Clause span overlap per field (token Jaccard ≥ 0.5)", _PRF),
    "tags": ("F1 per tag", ("f1",)),
}
#: One line on each headline metric (evals/README.md has the long form).
_ABOUT = {
    "kind": "document kind equal to the expected kind",
    "tags": "tags of each document against the expected set, pooled over tags",
    "tags.macro_f1": "mean F1 over the tags that occur",
    "fields_mean": "mean of the per-field exact accuracies",
    "fields": "exact match of normalized values, all fields pooled",
    "links": "typed edges (source, relation, target)",
    "links_unlabeled_recall": "expected edges found with any relation",
    "contradictions": "expected contradictions covered by one finding",
    "validity": "proposals passing schema, slot and kind checks, not quarantined",
    "groundedness": "evidence quotes verbatim at their offsets",
    "grounded_proposals": "proposals whose every quote is verbatim",
    "calibration.ece": "expected calibration error, 10 bins (lower is better)",
    "calibration.p@0.8": "precision of claims with confidence ≥ 0.8",
}


@dataclass(frozen=True)
class Figure:
    """One metric of one view: value, 95% interval (None when it is a point) and its counts."""

    metric: str
    value: float
    low: float | None = None
    high: float | None = None
    counts: str = ""
    about: str = ""


@dataclass(frozen=True)
class Bar:
    figure: Figure
    series: str
    x: float
    y: float
    width: float
    height: float
    whisker: tuple[float, float] | None
    css: str


@dataclass(frozen=True)
class Group:
    label: str
    y: float
    bars: list[Bar]


@dataclass(frozen=True)
class BarChart:
    """Horizontal bars, one group per category, one bar per series, interval whiskers."""

    id: str
    title: str
    series: tuple[str, ...]
    groups: list[Group]
    width: int
    height: int
    left: float
    right: float
    ticks: list[tuple[float, str]]
    zero: float
    #: The figures behind the chart, as a table: columns, then (category, figures) rows.
    columns: tuple[str, ...] = ()
    rows: list[tuple[str, list[Figure | None]]] = field(default_factory=list)

    @property
    def classes(self) -> list[str]:
        """The colour class of each series, for the legend."""
        return [PALETTE[j % len(PALETTE)] for j in range(len(self.series))]


@dataclass(frozen=True)
class Line:
    name: str
    css: str
    points: list[tuple[float, float, str]]

    @property
    def path(self) -> str:
        return " ".join(f"{x:.1f},{y:.1f}" for x, y, _ in self.points)


@dataclass(frozen=True)
class Rect:
    x: float
    y: float
    width: float
    height: float
    label: str
    title: str


@dataclass(frozen=True)
class Plot:
    """A unit-square plot (both axes 0 to 1): lines, or bars with the diagonal (a reliability diagram)."""

    id: str
    title: str
    x_label: str
    y_label: str
    lines: list[Line] = field(default_factory=list)
    bars: list[Rect] = field(default_factory=list)
    diagonal: bool = False
    width: int = 360
    height: int = 280
    left: float = 48
    top: float = 14
    size: tuple[float, float] = (296, 218)

    def x(self, v: float) -> float:
        return self.left + v * self.size[0]

    def y(self, v: float) -> float:
        return self.top + (1 - v) * self.size[1]

    @property
    def ticks(self) -> list[float]:
        return [0.0, 0.2, 0.4, 0.6, 0.8, 1.0]


@dataclass(frozen=True)
class Failure:
    metric: str
    item: str
    #: The document an item belongs to ("" when it is the case's own, as in a one-contract case).
    document: str
    gold: Any
    predicted: Any


@dataclass(frozen=True)
class CaseRow:
    name: str
    ok: int
    total: int
    seconds: float
    tokens: int
    error: str
    failures: list[Failure]


@dataclass(frozen=True)
class ViewPage:
    name: str
    id: str
    headline: list[Figure]
    charts: list[BarChart]
    claims: int
    ece: float | None
    thresholds: Plot | None
    reliability: Plot | None
    cases: list[CaseRow]


# -- figures ------------------------------------------------------------------------------------------


def _counts(counts: Sequence[int] | None) -> str:
    if counts is None:
        return ""
    if len(counts) == 2:
        return f"{counts[0]}/{counts[1]}"
    return "tp {} · fp {} · fn {}".format(*counts) if len(counts) == 3 else ""


def _figures(
    scores: Sequence[CaseScore], stored: Mapping[str, tuple[float, float]] | None, resamples: int
) -> dict[str, Figure]:
    s = summarize(scores)
    spans = (
        dict(stored)
        if stored
        else {k: (i.low, i.high) for k, i in intervals(scores, resamples=resamples).items()}
    )
    out = {}
    for name, value in s.metrics.items():
        if math.isnan(value):
            continue
        low, high = spans.get(name, (value, value))
        point = low == high  # one case, or every resample alike: no interval worth a whisker
        base = _prf_part(name)[0]
        out[name] = Figure(
            name,
            value,
            None if point else low,
            None if point else high,
            _counts(s.counts.get(base)),
            _ABOUT.get(name) or _ABOUT.get(base, ""),
        )
    return out


# -- bar charts ---------------------------------------------------------------------------------------


def _bar_chart(
    cid: str,
    title: str,
    series: tuple[str, ...],
    groups: Sequence[tuple[str, Sequence[Figure]]],
    *,
    domain: tuple[float, float] = (0.0, 1.0),
    css: Callable[[Figure, int], str] = lambda f, j: PALETTE[j % len(PALETTE)],
) -> BarChart:
    width, left, right = 720, 270.0, 650.0
    bar_h = 14.0 if len(series) == 1 else 11.0
    row_h = len(series) * (bar_h + 2) + 8
    lo, hi = domain

    def x(v: float) -> float:
        return left + (min(max(v, lo), hi) - lo) / (hi - lo) * (right - left)

    out = []
    for i, (label, figures) in enumerate(groups):
        y0 = 8 + i * row_h
        bars = []
        for j, f in enumerate(figures):
            a, b = sorted((x(0.0), x(f.value)))
            whisker = (x(f.low), x(f.high)) if f.low is not None and f.high is not None else None
            # A 1-unit minimum keeps a zero visible as a mark rather than as a missing bar.
            bars.append(
                Bar(f, series[j], a, y0 + j * (bar_h + 2), max(b - a, 1.0), bar_h, whisker, css(f, j))
            )
        out.append(Group(label, y0 + len(figures) * (bar_h + 2) / 2, bars))
    ticks = [lo + (hi - lo) * k / 4 for k in range(5)]
    return BarChart(
        cid,
        title,
        series,
        out,
        width,
        int(8 + len(groups) * row_h + 26),
        left,
        right,
        [(x(t), f"{t:+.2f}" if lo < 0 else f"{t:g}") for t in ticks],
        x(0.0),
    )


def _family_charts(view_id: str, figures: Mapping[str, Figure]) -> list[BarChart]:
    """Chart every family of per-category metrics the run has, and the pooled P/R/F1 metrics."""
    families: dict[str, dict[str, dict[str, Figure]]] = {}
    for name, f in figures.items():
        if "/" not in name:
            continue
        family, rest = name.split("/", 1)
        category, part = _prf_part(rest)
        families.setdefault(family, {}).setdefault(category, {})[part or "accuracy"] = f
    charts = []
    for family, cats in sorted(families.items(), key=lambda kv: (kv[0] not in _FAMILIES, kv[0])):
        title, series = _FAMILIES.get(family, (f"{family} per category", ()))
        columns = tuple(sorted({p for c in cats.values() for p in c}, key=_part_rank))
        series = series or columns
        groups = [(c, [parts[s] for s in series if s in parts]) for c, parts in sorted(cats.items())]
        chart = _bar_chart(f"{view_id}-{family}", title, series, [g for g in groups if g[1]])
        rows: list[tuple[str, list[Figure | None]]] = [
            (c, [parts.get(p) for p in columns]) for c, parts in sorted(cats.items())
        ]
        charts.append(replace(chart, columns=columns, rows=rows))
    pooled = sorted({_prf_part(n)[0] for n in figures if "/" not in n and _prf_part(n)[1]})
    if pooled:
        groups = [(p, [figures[f"{p}.{s}"] for s in _PRF if f"{p}.{s}" in figures]) for p in pooled]
        charts.append(_bar_chart(f"{view_id}-prf", "Precision, recall and F1", _PRF, groups))
    return charts


def _prf_part(name: str) -> tuple[str, str]:
    """Split ``links.f1`` into ``("links", "f1")``; a name without such a suffix keeps ``""``."""
    base, _, part = name.rpartition(".")
    return (base, part) if base and part in _PRF else (name, "")


def _part_rank(part: str) -> tuple[int, str]:
    return (_PRF.index(part), "") if part in _PRF else (-1, part)


# -- calibration --------------------------------------------------------------------------------------


def _threshold_plot(view_id: str, claims: Sequence[tuple[float, bool]]) -> Plot:
    """Precision and recall of the claims kept at each confidence threshold (recall: of all right claims)."""
    plot = Plot(f"{view_id}-thresholds", "Precision and recall against confidence threshold", "", "")
    right = sum(ok for _, ok in claims)
    precision, recall = [], []
    for k in range(21):
        t = k / 20
        kept = [ok for c, ok in claims if c >= t]
        if not kept:
            continue  # nothing kept: precision is undefined, not 1
        p = sum(kept) / len(kept)
        precision.append(
            (plot.x(t), plot.y(p), f"confidence ≥ {t:.2f}: precision {p:.3f} ({len(kept)} claims)")
        )
        if right:
            r = sum(kept) / right
            recall.append(
                (plot.x(t), plot.y(r), f"confidence ≥ {t:.2f}: recall {r:.3f} of {right} right claims")
            )
    lines = [Line("precision", "s0", precision), Line("recall", "s1", recall)]
    return Plot(plot.id, plot.title, "confidence threshold", "share", lines=[ln for ln in lines if ln.points])


def _reliability_plot(view_id: str, claims: Sequence[tuple[float, bool]], bins: int = 10) -> Plot:
    """Observed accuracy per confidence bin against the diagonal of perfect calibration."""
    plot = Plot(f"{view_id}-reliability", "Reliability diagram", "confidence", "observed accuracy")
    totals = [[0, 0.0, 0] for _ in range(bins)]
    for c, ok in claims:
        b = min(int(c * bins), bins - 1)  # the bins of metrics.calibration, so the ECE printed is its own
        totals[b][0] += 1
        totals[b][1] += c
        totals[b][2] += ok
    rects = []
    for b, (n, conf, right) in enumerate(totals):
        if not n:
            continue
        acc = right / n
        x0, x1 = plot.x(b / bins) + 1, plot.x((b + 1) / bins) - 1
        title = (
            f"confidence {b / bins:.1f}–{(b + 1) / bins:.1f}: {n} claims, accuracy {acc:.3f}, "
            f"mean confidence {conf / n:.3f}"
        )
        rects.append(Rect(x0, plot.y(acc), x1 - x0, plot.y(0) - plot.y(acc), str(n), title))
    return Plot(plot.id, plot.title, plot.x_label, plot.y_label, bars=rects, diagonal=True)


# -- cases and cost -----------------------------------------------------------------------------------


def _failure(case: str, metric: str, detail: Mapping[str, Any]) -> Failure:
    document, _, item = str(detail.get("id", "")).rpartition(":")  # "<document>:<field>" for fields
    document = "" if document == case else document
    return Failure(metric, item, document, detail.get("gold"), detail.get("predicted"))


def _case_rows(scores: Sequence[CaseScore], errors: Mapping[str, str]) -> list[CaseRow]:
    rows = []
    for s in scores:
        items = [(metric, d) for metric, ds in sorted(s.details.items()) for d in ds]
        failures = [_failure(s.case, m, d) for m, d in items if not d.get("ok")]
        rows.append(
            CaseRow(
                s.case,
                len(items) - len(failures),
                len(items),
                float(s.cost.get("seconds") or 0),
                int(s.cost.get("input_tokens") or 0) + int(s.cost.get("output_tokens") or 0),
                errors.get(s.case, ""),
                failures,
            )
        )
    return rows


def _cost(scores: Sequence[CaseScore]) -> list[tuple[str, str, str]]:
    """Return (what, total, per case) rows, and the latency spread, of one view's cost."""
    c, n = summarize(scores).cost, max(len(scores), 1)

    def both(key: str, fmt: str = "{:,.0f}", per: str = "{:,.1f}") -> tuple[str, str]:
        value = c.get(key)
        return ("unknown", "unknown") if value is None else (fmt.format(value), per.format(value / n))

    rows = [
        ("Input tokens", *both("input_tokens")),
        ("Output tokens", *both("output_tokens")),
        ("Money (USD)", *both("cost_usd", "${:,.4f}", "${:,.5f}")),
        ("Model calls", *both("calls", per="{:,.2f}")),
        ("Answered from the response cache", *both("cached_calls", per="{:,.2f}")),
        ("Proposals", *both("proposals", per="{:,.1f}")),
        ("Seconds", *both("seconds", "{:,.1f}", "{:,.2f}")),
    ]
    secs = sorted(float(s.cost.get("seconds") or 0) for s in scores)
    if secs:
        p95 = secs[min(len(secs) - 1, math.ceil(0.95 * len(secs)) - 1)]
        spread = f"median {statistics.median(secs):.2f} · p95 {p95:.2f} · max {secs[-1]:.2f}"
        rows.append(("Seconds per case", "", spread))
    return rows


def _date(run: Run) -> str:
    if run.record.get("date"):
        return str(run.record["date"])
    m = re.match(r"(\d{4})(\d\d)(\d\d)T(\d\d)(\d\d)(\d\d)Z", run.path.name)  # new_run_dir's stamp
    return "{}-{}-{}T{}:{}:{}Z".format(*m.groups()) if m else "unknown"


def _record(run: Run) -> list[tuple[str, str]]:
    r = run.record
    errors = sum(1 for o in run.outputs if o.error)
    scorer = str(r.get("scorer_version") or run.scoring.get("scorer_version") or "unknown")
    rescored = run.scoring.get("scorer_version")
    if rescored and rescored != scorer:
        scorer += f" (re-scored with {rescored})"
    seconds = r.get("seconds")
    return [
        ("Suite", str(r.get("suite", "unknown"))),
        ("Model", str(r.get("model", "unknown"))),
        ("Pinned model version", str(r.get("model_version", "unknown"))),
        ("Embedder", str(r.get("embedder", "unknown"))),
        ("Dataset version", str(r.get("dataset_version", "unknown"))),
        ("Scorer version", scorer),
        ("Suite digest", str(r.get("suite_digest", "unknown"))),
        ("Cases", str(len(run.cases) or r.get("cases", 0))),
        ("Errors", str(errors)),
        ("Wall time", "unknown" if seconds is None else f"{float(seconds):.1f} s"),
        ("Date", _date(run)),
        ("agentcrdt", str(r.get("agentcrdt", "unknown"))),
        ("Run directory", str(run.path)),
    ]


def _slug(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-") or "view"


def _view(run: Run, view: str, resamples: int) -> ViewPage:
    scores = run.scores[view]
    figures = _figures(scores, run.intervals.get(view), resamples)
    vid = _slug(view)
    claims = [c for s in scores for c in s.claims]
    errors = {o.case: o.error for o in run.outputs if o.error}
    return ViewPage(
        view,
        vid,
        [figures[n] for n in headline({k: f.value for k, f in figures.items()}) if "/" not in n],
        _family_charts(vid, figures),
        len(claims),
        calibration(claims).ece if claims else None,
        _threshold_plot(vid, claims) if claims else None,
        _reliability_plot(vid, claims) if claims else None,
        _case_rows(scores, errors),
    )


# -- rendering ----------------------------------------------------------------------------------------


def _num(v: float | None) -> str:
    return "–" if v is None or math.isnan(v) else f"{v:.3f}"


def _show(v: Any) -> str:
    if v is None:
        return "(none)"
    if isinstance(v, bool):
        return "yes" if v else "no"
    return str(v)


@functools.cache
def _env() -> jinja2.Environment:
    import jinja2  # only when a report is rendered: `agentcrdt --help` stays fast

    env = jinja2.Environment(
        loader=jinja2.PackageLoader("agentcrdt.evals", "templates"),
        autoescape=True,  # the templates end in .j2, which select_autoescape would not recognize
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters.update(
        num=_num, show=_show, px=lambda v: f"{v:.1f}", signed=lambda v: f"{v:+.3f}", thousands="{:,}".format
    )
    return env


@functools.cache
def _asset(name: str) -> tuple[str, str]:
    """Return a static file of the templates and its CSP source (``sha256-…``): the page's policy lets
    only these exact bytes run, so markup that slipped past escaping could still not execute."""
    text = (resources.files("agentcrdt.evals") / "templates" / name).read_text(encoding="utf-8")
    digest = base64.b64encode(hashlib.sha256(text.encode("utf-8")).digest()).decode("ascii")
    return text, f"sha256-{digest}"


def _render(template: str, **context: Any) -> str:
    from markupsafe import Markup  # jinja2's own dependency

    (css, css_hash), (js, js_hash) = _asset("report.css"), _asset("report.js")
    page = _env().get_template(template)
    return page.render(css=Markup(css), css_hash=css_hash, js=Markup(js), js_hash=js_hash, **context)


def render_run(run: Run, *, resamples: int = 1000) -> str:
    """Return the run's report: one self-contained HTML document (no external resource of any kind).

    Intervals are the ones the run stored; a run built in memory is resampled ``resamples`` times.
    """
    views = [_view(run, v, resamples) for v in run.scores]
    return _render(
        "report.html.j2",
        title=f"Eval report: {run.record.get('suite', 'run')}",
        record=_record(run),
        prompts=sorted((run.record.get("prompts") or {}).items()),
        views=views,
        cost=_cost(run.scores[run.primary_view]) if run.scores else [],
        cases=len(run.cases) or len(next(iter(run.scores.values()), [])),
    )


def render_comparison(comparison: Comparison, *, a: str = "A", b: str = "B") -> str:
    """Return a comparison as one self-contained HTML document: every metric's B − A with its interval,
    regressions and failed gates flagged, and a chart of the headline deltas."""
    deltas = [(r.metric, r.delta) for r in comparison.rows if r.delta is not None]
    # The headline metrics and the fields: per-tag and per-span rows are many, and in the table.
    charted = [
        Figure(m, d.value, d.low, d.high) if d.low != d.high else Figure(m, d.value) for m, d in deltas
    ]
    charted = [f for f in charted if "/" not in f.metric or f.metric.startswith("fields/")]
    reach = max([abs(v) for f in charted for v in (f.value, f.low or 0.0, f.high or 0.0)] + [0.05])
    reach = math.ceil(reach * 20) / 20  # a round axis: multiples of 0.05
    regressed = {r.metric for r in comparison.rows if r.regressed}
    chart = _bar_chart(
        "deltas",
        "B − A per metric (95% paired interval)",
        ("delta",),
        [(f.metric, [f]) for f in charted],
        domain=(-reach, reach),
        css=lambda f, _: "bad" if f.metric in regressed else "s0",
    )
    return _render(
        "compare.html.j2",
        title="Eval comparison: B against the baseline A",
        a=a,
        b=b,
        comparison=comparison,
        chart=chart if charted else None,
        lower_is_better=LOWER_IS_BETTER,
    )
