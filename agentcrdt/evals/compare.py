"""Compare two runs of a suite: per-metric deltas with paired bootstrap intervals, regressions, gates.

A metric *regressed* when its whole interval lies on the worse side of zero (``B − A`` below 0, or above
for lower-is-better metrics): a change too large to be resampling noise over these cases. Gates add
fixed rules a team chooses: ``metric>=0.7`` (B must reach it), ``metric<=0.05``, and ``--max-drop 0.02``
(no metric may fall by more than that, whatever its interval). ``failed`` lists what failed; the CLI
exits non-zero when anything did, so CI can run it.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field

from agentcrdt.errors import UsageError
from agentcrdt.evals.aggregate import LOWER_IS_BETTER, paired_deltas, summarize
from agentcrdt.evals.metrics import Interval
from agentcrdt.evals.report import headline
from agentcrdt.evals.runs import Run

__all__ = ["Comparison", "Gate", "compare_runs", "parse_gate"]

_GATE = re.compile(r"^\s*([A-Za-z0-9_./@-]+)\s*(>=|<=)\s*(-?[0-9.]+)\s*$")


@dataclass(frozen=True)
class Gate:
    """``metric >= bound`` or ``metric <= bound`` on run B."""

    metric: str
    op: str
    bound: float

    def holds(self, value: float) -> bool:
        return value >= self.bound if self.op == ">=" else value <= self.bound

    def __str__(self) -> str:
        return f"{self.metric}{self.op}{self.bound:g}"


def parse_gate(text: str) -> Gate:
    """Parse ``metric>=0.7`` / ``metric<=0.05``."""
    m = _GATE.match(text)
    if m is None:
        raise UsageError(f"bad gate {text!r}: write METRIC>=NUMBER or METRIC<=NUMBER, e.g. fields_mean>=0.7")
    return Gate(m.group(1), m.group(2), float(m.group(3)))


@dataclass
class Row:
    metric: str
    a: float | None
    b: float | None
    delta: Interval | None
    regressed: bool


@dataclass
class Comparison:
    """The rows of a comparison, what failed, and warnings about what differs between the runs."""

    view: str
    cases: int
    rows: list[Row]
    failed: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)

    def table(self) -> str:
        out = [["metric", "A", "B", "B - A [95% interval]", ""]]
        for r in self.rows:
            d = "-" if r.delta is None else f"{r.delta.value:+.3f} [{r.delta.low:+.3f}, {r.delta.high:+.3f}]"
            out.append([r.metric, _f(r.a), _f(r.b), d, "REGRESSED" if r.regressed else ""])
        width = [max(len(row[i]) for row in out) for i in range(5)]
        lines = [f"view {self.view}, {self.cases} common cases"]
        lines += ["  ".join(c.ljust(w) for c, w in zip(row, width, strict=True)).rstrip() for row in out]
        lines += [f"warning: {w}" for w in self.warnings]
        lines += [f"FAILED: {f}" for f in self.failed] or ["no regression, every gate holds"]
        return "\n".join(lines)


def _f(v: float | None) -> str:
    return "-" if v is None else f"{v:.3f}"


def compare_runs(
    a: Run,
    b: Run,
    *,
    gates: Sequence[Gate] = (),
    max_drop: float | None = None,
    view: str | None = None,
    resamples: int = 1000,
    seed: int = 0,
) -> Comparison:
    """Compare run ``b`` against the baseline ``a`` over the cases both have."""
    view = view or a.primary_view
    if view not in a.scores or view not in b.scores:
        raise UsageError(f"both runs need view {view!r}; A has {sorted(a.scores)}, B has {sorted(b.scores)}")
    warnings = []
    for key in ("suite", "dataset_version", "scorer_version"):
        if a.record.get(key) != b.record.get(key):
            warnings.append(f"{key} differs: {a.record.get(key)} vs {b.record.get(key)}")
    names_b = {s.case for s in b.scores[view]}
    common = [s for s in a.scores[view] if s.case in names_b]
    if not common:
        raise UsageError("the two runs have no case in common; compare runs of the same suite")
    if len(common) != len(a.scores[view]) or len(common) != len(b.scores[view]):
        warnings.append(f"only the {len(common)} cases both runs have are compared")
    keep = {s.case for s in common}
    sb = [s for s in b.scores[view] if s.case in keep]
    ma, mb = summarize(common).metrics, summarize(sb).metrics
    deltas = paired_deltas(common, sb, resamples=resamples, seed=seed)
    rows, failed = [], []
    for name in headline({**ma, **mb}):
        d = deltas.get(name)
        worse_sign = 1 if name in LOWER_IS_BETTER else -1
        regressed = d is not None and (d.high < 0 if worse_sign < 0 else d.low > 0)
        dropped = (
            max_drop is not None and d is not None and (-d.value if worse_sign < 0 else d.value) > max_drop
        )
        rows.append(Row(name, ma.get(name), mb.get(name), d, regressed or dropped))
        if d is not None and regressed:
            failed.append(f"{name} regressed: {d.value:+.3f} [{d.low:+.3f}, {d.high:+.3f}]")
        elif d is not None and dropped:
            failed.append(f"{name} fell by more than {max_drop:g}: {d.value:+.3f}")
    for g in gates:
        value = mb.get(g.metric)
        if value is None:
            failed.append(
                f"gate {g}: run B has no metric {g.metric!r} (known: {', '.join(headline(mb)[:12])}…)"
            )
        elif not g.holds(value):
            failed.append(f"gate {g} fails: {g.metric} = {value:.3f}")
    return Comparison(view, len(common), rows, failed, warnings)
