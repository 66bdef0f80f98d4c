"""The review UI end to end in the system Chromium: review from the keyboard, see it arrive live on a
second page, see the quarantined event flagged, with no console errors and an axe check of every page."""

from __future__ import annotations

import re
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from agentcrdt.rooms.local import open_local
from agentcrdt.ui.app import create_ui_app
from agentcrdt.ui.views import RoomViews
from tests._browser import expect
from tests.server._serve import serve_app
from tests.ui.sample import Sample

TOKEN = "browser-test-token"
LOADING = re.compile(r"^Loading")  # the page's heading while it fetches
PAGES = ["#/", "#/proposals", "#/documents", "#/documents/01-mutual-nda", "#/findings", "#/jobs", "#/evals",
         "#/audit", "#/audit?only=flagged", "#/access"]  # fmt: skip


@contextmanager
def ui_server(sample: Sample) -> Iterator[str]:
    """Serve the sample room's UI as its owner, in a thread; yield the page URL (token included)."""
    replica = open_local(sample.path, identity=sample.owner)
    try:
        with serve_app(create_ui_app(RoomViews(replica), token=TOKEN, poll_interval=0.1)) as base:
            yield f"{base}/?token={TOKEN}"
    finally:
        replica.close()


@contextmanager
def session(sample: Sample, browser: Any, errors: list[str]) -> Iterator[tuple[str, Any]]:
    """The UI served for the sample, and a function opening a logged-in page (at a hash route) in one
    browser context; the context closes before the server stops, so its event streams end first."""
    with ui_server(sample) as url:
        context = browser.new_context()
        base = url.split("?")[0]

        def new_page(route: str = "#/") -> Any:
            page = open_page(context, url, errors)
            if route != "#/":
                page.goto(base + route)
            return page

        try:
            yield base, new_page
        finally:
            context.close()


def open_page(context: Any, url: str, errors: list[str]) -> Any:
    page = context.new_page()
    page.on("console", lambda m: errors.append(f"console {m.type}: {m.text}") if m.type == "error" else None)
    page.on("pageerror", lambda e: errors.append(f"page error: {e}"))
    page.goto(url)
    page.wait_for_selector("#live:has-text('Live')")
    return page


def axe_violations(page: Any) -> list[str]:
    from axe_playwright_python.sync_playwright import Axe

    results = Axe().run(
        page, options={"runOnly": {"type": "tag", "values": ["wcag2a", "wcag2aa", "wcag21aa"]}}
    )
    return [
        f"{v['id']} ({v['impact']}): {v['help']} at {[n['target'] for n in v['nodes']][:3]}"
        for v in results.response["violations"]
    ]


def test_review_from_the_keyboard_arrives_live_on_a_second_page(sample: Sample, browser: Any) -> None:
    errors: list[str] = []
    with session(sample, browser, errors) as (_, new_page):
        watcher = new_page("#/proposals?status=pending")
        watcher.wait_for_selector("#queue")
        pending_before = watcher.locator("#queue tbody tr").count()

        reviewer = new_page("#/proposals?status=pending")
        reviewer.wait_for_selector("#queue")
        rows = reviewer.locator("#queue tbody tr")
        reviewer.locator("main").focus()
        reviewer.keyboard.press("j")  # the second proposal
        target = reviewer.locator("#queue tbody tr.selected").get_attribute("data-id")
        assert target == rows.nth(1).get_attribute("data-id")
        reviewer.keyboard.press("k")
        assert reviewer.locator("#queue tbody tr.selected").get_attribute("data-id") == rows.nth(
            0
        ).get_attribute("data-id")
        reviewer.keyboard.press("j")
        quotes = int(rows.nth(1).locator("td").nth(8).inner_text())
        reviewer.keyboard.press("Enter")  # open it
        reviewer.wait_for_selector("table.three")
        assert reviewer.locator("h2:has-text('Base / proposed / current')").count() == 1
        assert reviewer.locator(".evidence mark").count() == quotes
        started = time.monotonic()
        reviewer.keyboard.press("a")  # accept
        reviewer.wait_for_selector("h1 .badge:has-text('accepted')")
        # The other page, untouched, shows one fewer pending proposal without a reload.
        expect(watcher.locator("#queue tbody tr")).to_have_count(pending_before - 1, timeout=5_000)
        assert time.monotonic() - started < 5  # the bar is a second; CI machines are slower
        assert watcher.locator(f"#queue tbody tr[data-id='{target}']").count() == 0
    assert errors == []
    with open_local(sample.path) as replica:
        from agentcrdt.rooms.workflow import proposal

        info = proposal(replica, str(target))
        assert info.status == "accepted" and info.reviewer == sample.owner.author


def test_the_page_paints_while_the_room_opens_and_fills_in_when_ready(sample: Sample, browser: Any) -> None:
    from tests.ui.test_api import SlowViews

    errors: list[str] = []
    views = SlowViews(open_local(sample.path, identity=sample.owner))
    try:
        app = create_ui_app(views, token=TOKEN, poll_interval=0.1, prepare=True)
        with serve_app(app) as base:
            context = browser.new_context()
            try:
                page = context.new_page()
                page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
                page.goto(f"{base}/?token={TOKEN}")
                expect(page.locator("main h1")).to_have_text("Opening the room…")
                assert axe_violations(page) == []
                views.release.set()
                expect(page.locator("main h1")).not_to_have_text(re.compile("Opening|Loading"))
                page.wait_for_selector("#live:has-text('Live')")
                assert views.prepared
            finally:
                context.close()
    finally:
        views.release.set()
        views.replica.close()
    assert errors == []  # waiting asks /api/ready: no failed request is logged meanwhile


def test_bulk_accept_of_a_filtered_set_takes_one_confirmation(sample: Sample, browser: Any) -> None:
    errors: list[str] = []
    with session(sample, browser, errors) as (_, new_page):
        page = new_page("#/proposals?status=pending&slot=linker")
        page.wait_for_selector("#queue")
        n = page.locator("#queue tbody tr").count()
        assert n >= 2
        page.locator("#bulk-accept").focus()
        page.keyboard.press("Enter")
        page.wait_for_selector("dialog[open]")
        assert f"all {n} pending" in page.locator("#confirm-text").inner_text()
        page.keyboard.press("Tab")  # focus starts on Cancel: the safe default
        page.keyboard.press("Enter")
        page.wait_for_selector("text=No proposals match.")
        # The announcement is set a moment after the queue re-renders (so screen readers hear it).
        expect(page.locator("#announce")).to_contain_text(f"{n} proposals accepted")
    assert errors == []


def test_the_quarantined_event_is_flagged_with_its_reason(sample: Sample, browser: Any) -> None:
    errors: list[str] = []
    with session(sample, browser, errors) as (_, new_page):
        page = new_page("#/audit")
        page.wait_for_selector("#verification")
        assert "Intact" in page.locator("#verification").inner_text()
        page.locator("#flagged").check()
        page.wait_for_selector("td:has-text('no active grant')")
        row = page.locator("tbody tr").first.inner_text()
        assert "quarantined" in row and sample.stranger.author[8:20] in row
        page.locator("#verify-full").click()  # the whole chain again, not just what was appended
        expect(page.locator("#announce")).to_have_text("The whole chain was verified again.")
        expect(page.locator("#verification")).to_contain_text("Intact")
        queue = new_page("#/proposals?status=quarantined")
        queue.wait_for_selector("#queue")
        assert queue.locator("#queue tbody tr").count() == 1
    assert errors == []


def test_every_page_passes_axe_and_logs_no_errors(sample: Sample, browser: Any) -> None:
    errors: list[str] = []
    found: dict[str, list[str]] = {}
    with session(sample, browser, errors) as (base, new_page):
        page = new_page()
        first = page.evaluate("fetch('/api/proposals?limit=1').then(r => r.json()).then(b => b.items[0].id)")
        for route in [*PAGES, f"#/proposals/{first}"]:
            page.goto(base + route)
            expect(page.locator("main h1")).not_to_have_text(LOADING)
            assert page.locator("main h1").count() == 1, route
            assert "Something went wrong" not in page.locator("main h1").inner_text(), route
            violations = axe_violations(page)
            if violations:
                found[route] = violations
        # The document page marks the evidence quotes where they occur, in both versions side by side.
        page.goto(base + "#/documents/01-mutual-nda")
        page.wait_for_selector(".side .text")
        assert page.locator(".side section").count() == 2
        assert page.locator(".text mark").count() >= 1
    assert found == {}
    assert errors == []
