"""The HTML report: its figures are the run's scores, hostile gold text stays text, nothing is fetched,
and a real headless Chromium draws the charts and runs the view switch and the case filter cleanly.

The run is scripted (no model): six one-contract cases whose outputs are written here, right on some
fields and wrong on others, one gold value an injection attempt and one case failed. The browser test
drives Debian's Chromium (/usr/bin/chromium) through playwright; it skips when either is missing, except
under CI=true, where it must run.
"""

from __future__ import annotations

import base64
import hashlib
import os
import re
import shutil
import threading
import time
from collections.abc import Iterator
from functools import partial
from html.parser import HTMLParser
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import markupsafe
import pytest

from agentcrdt.cli._main import run as cli
from agentcrdt.dataroom.domain import Document, FieldValue
from agentcrdt.evals.aggregate import summarize
from agentcrdt.evals.compare import compare_runs
from agentcrdt.evals.html import render_comparison, render_run
from agentcrdt.evals.outputs import CaseOutput, ProposalRecord
from agentcrdt.evals.runs import Run, load_run, write_run
from agentcrdt.evals.scorers import SCORER_VERSION, CaseScore
from agentcrdt.evals.suite import Case, Suite
from tests._browser import CHROMIUM, CHROMIUM_ARGS, need_browser

TEXT = "Dated May 8, 2014. Governed by the laws of Texas."
#: A gold value that would run script, load an image and close the table cell if it were not escaped.
HOSTILE = '</td><script>window.__pwned=1</script><img src=x onerror="window.__pwned=2"> http://evil.example/'
#: A predicted value (model output is third-party text too).
HOSTILE_PREDICTED = "<img src=x onerror=window.__pwned=3>"
FIELDS = ("d", "law", "x")
N = 6


def _case(i: int) -> Case:
    law = HOSTILE if i == 1 else ("Texas" if i % 2 == 0 else "Delaware")
    expected = {
        "tags": ["t1", "t2"],
        "fields": {"d": {"value": "5/8/14"}, "law": {"value": law}, "x": {"value": None}},
    }
    return Case.model_validate(
        {
            "name": f"c{i}",
            "inputs": {"documents": [{"name": f"c{i}.txt", "text": TEXT}]},
            "expected_output": {"documents": {f"c{i}": expected}},
        }
    )


def _output(i: int) -> CaseOutput:
    doc = f"c{i}"
    if i == N - 1:
        return CaseOutput(case=doc, slots=["x"], error="the model timed out <b>after 30 s</b>", seconds=30.0)
    date = "2014-05-08" if i < 4 else "2015-01-01"
    law = HOSTILE_PREDICTED if i == 3 else "Texas"
    ops = Document.update_ops(
        doc, None, fields={"d": FieldValue(value=date, quote=date), "law": FieldValue(value=law, quote=law)}
    ) + Document.update_ops(doc, None, tags=["t1", "t3"] if i % 2 else ["t1", "t2"])
    payload = {
        "slot": "x",
        "kind": "extract",
        "ops": ops,
        "base": [],
        "rationale": "r",
        "evidence": [],
        "confidence": f"{0.45 + 0.1 * i:.2f}",
        "provenance": {
            "model": "m",
            "prompt_hash": "sha256:" + "0" * 64,
            "usage": {"input_tokens": 100 + i, "output_tokens": 20},
        },
        "input": "sha256:" + "1" * 64,
    }
    proposal = ProposalRecord(id=f"p{i}", author="ed25519:a", status="pending", payload=payload)
    return CaseOutput(
        case=doc,
        slots=["x"],
        kinds={"x": ["extract"]},
        applied={f"Document/{doc}": {"tags": ["t1"]}},
        proposals=[proposal],
        seconds=0.5 + i / 10,
        calls=1,
    )


SUITE = Suite.model_validate(
    {
        "name": "scripted",
        "agents": [{"path": "unused.py"}],
        "scorers": ["fields", "tags"],
        "views": ["proposed", "applied"],
        "normalizers": {"d": "date", "law": "jurisdiction"},
        "cases": [_case(i).model_dump() for i in range(N)],
    }
)
RECORD = {
    "suite": "scripted",
    "model": "scripted:test@1",
    "model_version": "1+test",
    "embedder": "fake:hashed-bow@1/dim=64",
    "dataset_version": "sha256:" + "2" * 64,
    "scorer_version": SCORER_VERSION,
    "prompts": {"x": "sha256:" + "3" * 64},
    "seconds": 4.25,
}


@pytest.fixture(scope="module")
def stored(tmp_path_factory: pytest.TempPathFactory) -> Run:
    """The scripted run, written as `eval run` writes one (scores, intervals and report.html)."""
    path = tmp_path_factory.mktemp("run")
    return write_run(path, RECORD, SUITE, SUITE.cases, [_output(i) for i in range(N)], resamples=200)


@pytest.fixture(scope="module")
def page(stored: Run) -> str:
    return (stored.path / "report.html").read_text(encoding="utf-8")


class _Cells(HTMLParser):
    """Collect ``{view: {metric: data-value}}`` from the cells of the page, and every text run."""

    def __init__(self) -> None:
        super().__init__()
        self.view = ""
        self.cells: dict[str, dict[str, str]] = {}
        self.text: list[str] = []
        self.charts: dict[str, list[str]] = {}
        self._svg = ""

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = dict(attrs)
        if tag == "section" and a.get("data-view"):
            self.view = a["data-view"] or ""
        if tag == "td" and a.get("data-metric"):
            metric = a["data-metric"] or ""
            assert metric not in self.cells.setdefault(self.view, {}), f"{metric} twice in {self.view}"
            self.cells[self.view][metric] = a["data-value"] or ""
        if tag == "svg":
            self._svg = a.get("id") or ""
        if tag == "rect" and "bar" in (a.get("class") or "").split():
            self.charts.setdefault(self._svg, []).append(a.get("data-metric") or "")

    def handle_data(self, data: str) -> None:
        self.text.append(data)


def _parse(page: str) -> _Cells:
    p = _Cells()
    p.feed(page)
    return p


# -- the page as text ---------------------------------------------------------------------------------


def test_every_figure_in_the_page_is_the_runs_own(stored: Run, page: str) -> None:
    cells = _parse(page).cells
    assert set(cells) == {"proposed", "applied"}
    for view, per_case in stored.scores.items():
        metrics = summarize(per_case).metrics
        assert {k: float(v) for k, v in cells[view].items()} == dict(metrics)  # every metric, exactly once
    m = summarize(stored.scores["proposed"]).metrics
    assert m["fields/law"] == 0.5  # c0, c2 and c4 are right; c1 (hostile gold), c3 (markup), c5 (failed) not
    low, high = stored.intervals["proposed"]["fields_mean"]
    row = re.search(
        r'data-metric="fields_mean" data-value="[^"]+">([^<]+)</td><td class="num">([^<]+)<', page
    )
    assert row is not None and row.groups() == (f"{m['fields_mean']:.3f}", f"[{low:.3f}, {high:.3f}]")
    macro = re.search(r'data-metric="tags.macro_f1".*?<td class="counts">([^<]*)</td>', page, re.S)
    assert macro is not None and macro.group(1) == ""  # a mean over tags has no counts of its own
    ece = re.search(r'data-ece="([^"]+)">ECE ([0-9.]+)<', page)
    assert ece is not None and float(ece.group(1)) == pytest.approx(m["calibration.ece"])
    assert ece.group(2) == f"{m['calibration.ece']:.3f}"


def test_the_header_holds_the_run_record(stored: Run, page: str) -> None:
    text = " ".join(_parse(page).text)
    for value in (
        "scripted:test@1",
        "1+test",
        "fake:hashed-bow@1/dim=64",
        "sha256:" + "2" * 64,
        SCORER_VERSION,
    ):
        assert value in text
    assert "sha256:" + "3" * 64 in text and "4.2 s" in text and str(stored.record["date"]) in text
    assert re.search(r"<dt>Errors</dt><dd>1</dd>", page) and re.search(r"<dt>Cases</dt><dd>6</dd>", page)
    # Tokens without a price: the money is unknown, not $0.
    assert re.search(r'Money \(USD\)</th><td class="num">unknown</td><td class="num">unknown</td>', page)


def test_hostile_gold_and_predicted_text_render_as_text(page: str) -> None:
    assert page.count("<script") == 1  # the page's own script, nothing else
    assert "<img" not in page and "window.__pwned=1</script>" not in page
    text = _parse(page).text
    assert HOSTILE in text and HOSTILE_PREDICTED in text  # shown verbatim, as the contract has it
    assert str(markupsafe.escape(HOSTILE)) in page
    assert "error: the model timed out &lt;b&gt;after 30 s&lt;/b&gt;" in page


def test_nothing_in_the_page_points_outside_it(page: str) -> None:
    assert not re.search(r"""(?:src|href|action|xlink:href)\s*=\s*["']?\s*(?:[a-z]+:)?//""", page, re.I)
    assert not re.search(r"url\(|@import", page)
    # The one absolute URL is the hostile gold text, escaped in a cell; the only link is the empty icon.
    assert re.findall(r"https?://[^\s<\"]*", page) == ["http://evil.example/"] * page.count("evil.example")
    assert re.findall(r"""(?:src|href)=["']([^"']*)""", page) == ["data:,"]


def test_the_policy_lets_only_the_pages_own_style_and_script_run(page: str) -> None:
    policy = re.search(r'http-equiv="Content-Security-Policy" content="([^"]+)"', page)
    assert policy is not None and "default-src 'none'" in policy.group(1)
    assert "unsafe-inline" not in policy.group(1)
    for tag, directive in (("style", "style-src"), ("script", "script-src")):
        body = re.search(rf"<{tag}>(.*?)</{tag}>", page, re.S)
        assert body is not None
        digest = base64.b64encode(hashlib.sha256(body.group(1).encode()).digest()).decode()
        assert f"{directive} 'sha256-{digest}'" in policy.group(1)


def test_one_bar_per_field_and_per_tag(page: str) -> None:
    charts = _parse(page).charts
    for view, tags in (("proposed", ["t1", "t2", "t3"]), ("applied", ["t1", "t2"])):  # t3 stayed pending
        assert charts[f"{view}-fields"] == [f"fields/{f}" for f in FIELDS]
        assert charts[f"{view}-tags"] == [f"tags/{t}.f1" for t in tags]
        assert charts[f"{view}-prf"] == ["tags.precision", "tags.recall", "tags.f1"]
    assert "spans" not in " ".join(charts)  # a family the run does not have is not drawn


def test_a_run_built_in_memory_is_resampled_and_a_point_has_no_whisker(stored: Run) -> None:
    fresh = Run(
        stored.path, stored.record, stored.cases, stored.outputs, stored.scores, scoring=stored.scoring
    )
    assert not fresh.intervals
    assert render_run(fresh, resamples=200) == render_run(stored)  # the same seeded bootstrap as stored
    assert render_run(fresh, resamples=20) != render_run(stored)
    one = Run(stored.path, {"suite": "one"}, [], [], {"proposed": stored.scores["proposed"][:1]})
    page = render_run(one, resamples=50)
    assert 'class="whisker"' not in page and "<dd>unknown</dd>" in page


def test_a_family_with_a_ratio_and_precision_recall_draws_four_series(tmp_path: Path) -> None:
    # WiCE's verdict family has an accuracy and P/R/F1 per label: four series, beyond three colours.
    score = CaseScore("c", "proposed")
    score.ratio("mix/a", 1, 2)
    score.prf("mix/a", 1, 1, 0)
    page = render_run(Run(tmp_path, {"suite": "mixed"}, [], [], {"proposed": [score]}), resamples=10)
    bars = [m for metrics in _parse(page).charts.values() for m in metrics]
    assert sorted(m for m in bars if m.startswith("mix/a")) == [
        "mix/a",
        "mix/a.f1",
        "mix/a.precision",
        "mix/a.recall",
    ]
    legend = re.findall(r'<ul class="legend">(.*?)</ul>', page)
    assert any(all(f'class="s{j}"' in ul for j in range(4)) for ul in legend)


def test_the_cli_writes_reports_and_a_comparison_flags_a_regression(
    stored: Run, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    shutil.copytree(stored.path, tmp_path / "run")
    stored = load_run(tmp_path / "run")  # rescore writes in place: leave the module's run alone
    assert (
        cli(["eval", "show", str(stored.path), "--html", str(tmp_path / "copy.html"), "--resamples", "50"])
        == 0
    )
    assert f"report: {tmp_path / 'copy.html'}" in capsys.readouterr().out
    assert (tmp_path / "copy.html").read_text(encoding="utf-8").startswith("<!DOCTYPE html>")
    assert cli(["eval", "rescore", str(stored.path), "--resamples", "50"]) == 0
    assert f"report: {stored.path / 'report.html'}" in capsys.readouterr().out
    assert load_run(stored.path).scoring["resamples"] == 50

    def scripted(hits: int) -> Run:
        scores = [CaseScore(f"c{i}", "proposed", ratios={"fields/f": [int(i < hits), 1]}) for i in range(40)]
        return Run(tmp_path, {"suite": "s"}, [], [], {"proposed": scores})

    page = render_comparison(compare_runs(scripted(36), scripted(12), resamples=200), a="base", b="<new>")
    assert '<span class="regressed">regressed</span>' in page and "FAILED" in page and "&lt;new&gt;" in page
    assert re.search(r'<rect class="bar bad" data-metric="fields/f"', page)
    assert 'data-value="-0.6' in page
    assert (
        cli(
            [
                "eval",
                "compare",
                str(stored.path),
                str(stored.path),
                "--html",
                str(tmp_path),
                "--resamples",
                "20",
            ]
        )
        == 0
    )
    assert "No regression, every gate holds." in (tmp_path / "report.html").read_text(encoding="utf-8")


# -- the page in a browser ----------------------------------------------------------------------------


@pytest.fixture(scope="module")
def served(stored: Run, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """Serve the run directory (and a comparison page) from 127.0.0.1; yield the origin."""
    (stored.path / "compare.html").write_text(
        render_comparison(compare_runs(stored, stored, resamples=50), a="A", b="B"), encoding="utf-8"
    )
    handler = partial(_QuietHandler, directory=str(stored.path))
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join()


class _QuietHandler(SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:
        pass


def _boxes(page: Any, selector: str) -> list[tuple[float, float]]:
    found: list[list[float]] = page.locator(selector).evaluate_all(
        "els => els.map(e => { const r = e.getBoundingClientRect(); return [r.width, r.height]; })"
    )
    return [(w, h) for w, h in found]


def test_chromium_renders_the_report_without_an_error_or_a_request_outside(
    served: str, stored: Run, tmp_path: Path
) -> None:
    need_browser()
    from playwright.sync_api import sync_playwright

    started = time.perf_counter()
    problems: list[str] = []
    outside: list[str] = []
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=str(CHROMIUM), headless=True, args=CHROMIUM_ARGS)
        try:
            context = browser.new_context(viewport={"width": 1200, "height": 900})

            def route(r: Any) -> None:
                if r.request.url.startswith(served + "/"):
                    r.continue_()
                else:  # never let the page reach anything else, and remember that it tried
                    outside.append(r.request.url)
                    r.abort()

            context.route("**/*", route)
            page = context.new_page()
            page.on("console", lambda m: problems.append(f"console: {m.text}") if m.type == "error" else None)
            page.on("pageerror", lambda e: problems.append(f"page error: {e}"))
            page.on("requestfailed", lambda r: problems.append(f"failed request: {r.url}"))
            page.goto(f"{served}/report.html", wait_until="load")

            # The script ran: the view switch shows the first view only.
            assert page.locator("nav[data-views]").is_visible()
            assert (
                page.locator("#view-proposed").is_visible() and not page.locator("#view-applied").is_visible()
            )
            boxes = _boxes(page, "#view-proposed svg rect.bar")
            assert len(boxes) == len(FIELDS) + 3 + 3 and all(w > 0 and h > 0 for w, h in boxes), boxes
            assert page.locator("#view-proposed svg .whisker").count() > 0
            dots = _boxes(page, "#proposed-thresholds circle")
            assert dots and all(w > 0 and h > 0 for w, h in dots)
            assert all(h > 0 for _, h in _boxes(page, "#proposed-reliability rect.rel"))

            rows = page.locator("#cases-proposed > tbody > tr")
            assert rows.evaluate_all("rs => rs.map(r => r.dataset.case)") == [f"c{i}" for i in range(N)]
            gold = page.locator("#cases-proposed td.gold").all_inner_texts()
            assert HOSTILE.strip() in [g.strip() for g in gold]
            assert page.evaluate("window.__pwned") is None

            # The filter: by text, then only the cases with a failure.
            search = page.locator("[data-filter-for=cases-proposed] input[type=search]")
            search.fill("c3")
            assert page.locator("#cases-proposed > tbody > tr:visible").count() == 1
            assert (
                page.locator("[data-filter-for=cases-proposed] output").inner_text() == "1 of 6 cases shown"
            )
            search.fill("")
            page.locator("[data-filter-for=cases-proposed] input[type=checkbox]").check()
            failing = page.locator("#cases-proposed > tbody > tr:visible")
            expected = [s.case for s in stored.scores["proposed"] if _fails(s)]
            assert failing.evaluate_all("rs => rs.map(r => r.dataset.case)") == expected
            assert "c0" not in expected and "c5" in expected  # c0 is all right; c5 failed

            # The view switch.
            page.get_by_role("button", name="applied").click()
            assert (
                page.locator("#view-applied").is_visible() and not page.locator("#view-proposed").is_visible()
            )
            assert page.get_by_role("button", name="applied").get_attribute("aria-pressed") == "true"
            assert all(w > 0 and h > 0 for w, h in _boxes(page, "#view-applied svg rect.bar"))
            shot = Path(os.environ.get("AGENTCRDT_REPORT_SCREENSHOT") or tmp_path / "report.png")
            page.screenshot(path=str(shot), full_page=True)

            page.goto(f"{served}/compare.html", wait_until="load")
            assert page.locator("table#deltas > tbody > tr").count() > 0
            assert page.get_by_text("No regression, every gate holds.").is_visible()
        finally:
            browser.close()
    assert problems == [] and outside == []
    assert time.perf_counter() - started < 60  # seconds, with a slow machine's margin


def _fails(s: CaseScore) -> bool:
    return any(not d.get("ok") for ds in s.details.values() for d in ds)
