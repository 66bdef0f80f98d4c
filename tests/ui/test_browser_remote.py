"""The server's review UI in Chromium: the key lives in the browser (WebCrypto Ed25519), signs in,
signs a review made from the keyboard and the reads that show texts; the server never holds it."""

from __future__ import annotations

from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import anyio
from starlette.applications import Starlette
from starlette.routing import Mount

from agentcrdt.dataroom import Dataroom
from agentcrdt.log.event import decode_event
from agentcrdt.rooms.local import open_local
from agentcrdt.rooms.workflow import Provenance, proposal, propose
from agentcrdt.sync.websocket import sync_with_server
from agentcrdt.ui.remote import ReplicaAccess, create_remote_ui
from tests._browser import expect
from tests.server._serve import serve_app, serving
from tests.ui.sample import Sample
from tests.ui.test_browser import LOADING, axe_violations


@contextmanager
def remote_ui(sample: Sample, browser: Any, errors: list[str]) -> Iterator[tuple[Any, Any, str]]:
    """The sample room served as a server serves its scopes; yield (page, replica, the room's URL)."""
    replica = open_local(sample.path)  # the server's replica: it holds no key
    app = Starlette(routes=[Mount("/ui", create_remote_ui(ReplicaAccess(replica)))])
    try:
        with serve_app(app) as base:
            context = browser.new_context()
            page = context.new_page()
            page.on(
                "console",
                lambda m: errors.append(f"console {m.type}: {m.text}") if m.type == "error" else None,
            )
            page.on("pageerror", lambda e: errors.append(f"page error: {e}"))
            try:
                yield page, replica, f"{base}/ui/{replica.scope}/"
            finally:
                context.close()
    finally:
        replica.close()


def test_a_key_imported_into_the_browser_signs_in_reviews_and_reads(
    sample: Sample, browser: Any, tmp_path: Path
) -> None:
    key_file = tmp_path / "reviewer.key"
    sample.reviewer.save(key_file)
    errors: list[str] = []
    with remote_ui(sample, browser, errors) as (page, replica, room):
        page.goto(room)
        page.wait_for_selector("h1:has-text('Sign in with your key')")
        assert axe_violations(page) == []
        page.set_input_files("#key-file", str(key_file))
        page.wait_for_selector("#live:has-text('Live')")
        assert sample.reviewer.author[8:20] in page.locator("#viewer").inner_text()

        page.goto(room + "#/proposals?status=pending&slot=tagger")
        page.wait_for_selector("#queue")
        target = page.locator("#queue tbody tr.selected").get_attribute("data-id")
        page.locator("main").focus()
        page.keyboard.press("a")
        page.wait_for_selector("text=No proposals match.")
        info = proposal(replica, str(target))
        assert info.status == "accepted" and info.reviewer == sample.reviewer.author
        # The server prepared it; the browser's key signed it (the signature verifies for that key).
        assert info.decided_by is not None
        stored = replica.store.get(info.decided_by.id)
        assert stored is not None and decode_event(stored.raw).author == sample.reviewer.author

        # A proposal of another slot: the page says the key may not review it, and offers no buttons.
        page.goto(room + "#/proposals?status=pending&slot=linker")
        page.wait_for_selector("#queue")
        page.locator("main").focus()
        page.keyboard.press("Enter")
        page.wait_for_selector("text=Your key may not review this slot.")
        assert page.locator("#accept").count() == 0

        # Opening a document signs this key's reads of its versions first; then the texts show.
        page.goto(room + "#/documents/01-mutual-nda")
        page.wait_for_selector(".side .text")
        assert "three (3) years" in page.locator(".side section").nth(1).inner_text()
        reads = [
            s for _, s in replica.store.since(0) if s.kind == "access" and s.author == sample.reviewer.author
        ]
        assert all(s.local for s in reads)  # logged by the server, never synced
        read = {decode_event(s.raw).payload["version"] for s in reads}
        nda = {v.id for v in Dataroom(replica).versions("01-mutual-nda")}
        assert read >= nda and len(nda) == 2
        for route in ("#/", "#/audit", f"#/proposals/{target}"):
            page.goto(room + route)
            expect(page.locator("main h1")).not_to_have_text(LOADING)
            assert axe_violations(page) == [], route
    assert errors == []


def test_renders_racing_on_a_document_page_log_each_read_once_and_void_no_signed_set(
    sample: Sample, browser: Any, tmp_path: Path
) -> None:
    # The server keeps one prepared set per key; renders that prepared at once (a hash change and
    # a live refetch) used to replace each other's set, and the first submit came back 400.
    key_file = tmp_path / "reviewer.key"
    sample.reviewer.save(key_file)
    errors: list[str] = []
    with remote_ui(sample, browser, errors) as (page, replica, room):
        page.goto(room)
        page.set_input_files("#key-file", str(key_file))
        page.wait_for_selector("#live:has-text('Live')")
        doc = room + "#/documents/01-mutual-nda"
        for query in ("", "?a=1", "?a=2", "?a=1&b=2"):  # four renders in flight at once
            page.goto(doc + query)
        page.wait_for_selector(".side .text")
        expect(page.locator(".side section").nth(1)).to_contain_text("three (3) years")
        reads = [
            decode_event(s.raw).payload["version"]
            for _, s in replica.store.since(0)
            if s.kind == "access" and s.author == sample.reviewer.author
        ]
        nda = {v.id for v in Dataroom(replica).versions("01-mutual-nda")}
        assert sorted(reads) == sorted(nda)
    assert errors == []


def test_a_key_made_in_the_browser_must_be_granted_before_it_signs_in(sample: Sample, browser: Any) -> None:
    errors: list[str] = []
    with remote_ui(sample, browser, errors) as (page, _, room):
        page.goto(room)
        page.locator("#new-key").click()
        page.wait_for_selector("#key-author")
        author = page.locator("#key-author").inner_text()
        assert author.startswith("ed25519:") and len(author) == 8 + 64
        page.locator("#sign-in").click()
        page.wait_for_selector("[role=alert]:has-text('neither an owner nor a grantee')")
        # The key persists in this browser (IndexedDB), not extractable by the page.
        page.reload()
        page.wait_for_selector("#key-author")
        assert page.locator("#key-author").inner_text() == author
        extractable = page.evaluate(
            """() => new Promise((resolve) => { const r = indexedDB.open('agentcrdt', 1);
                 r.onsuccess = () => {
                   const g = r.result.transaction('keys').objectStore('keys').get('default');
                   g.onsuccess = () => resolve(g.result.privateKey.extractable); }; })"""
        )
        assert extractable is False
    # The refused sign-in is a 403 the page shows; Chromium logs that response as a console error.
    assert [e for e in errors if "403" not in e] == []


def _sync(url: str, key: Any, replica: Any) -> bool:
    """One sync with the server, in a thread of its own (playwright's loop runs in this one)."""
    with ThreadPoolExecutor(1) as pool:
        done = pool.submit(anyio.run, sync_with_server, url, key, replica.scope, replica)
        return bool(done.result().synced)


def test_on_agentcrdt_serve_a_peers_new_proposal_appears_live(
    sample_template: Sample, browser: Any, tmp_path: Path
) -> None:
    room = tmp_path / "room.db"  # an agent's machine holding the room
    room.write_bytes(sample_template.path.read_bytes())
    key_file = tmp_path / "reviewer.key"
    sample_template.reviewer.save(key_file)
    tagger = sample_template.agents["tagger"]
    errors: list[str] = []
    with open_local(room, identity=tagger) as agent, serving(tmp_path / "srv") as url:
        assert _sync(url, sample_template.owner, agent)
        context = browser.new_context()
        try:
            page = context.new_page()
            page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
            page.goto(f"{url}/ui/{agent.scope}/")
            page.set_input_files("#key-file", str(key_file))
            page.wait_for_selector("#live:has-text('Live')")
            page.goto(f"{url}/ui/{agent.scope}/#/proposals?status=pending&slot=tagger")
            page.wait_for_selector("#queue")
            before = page.locator("#queue tbody tr").count()
            tag = {"e": "Document", "id": "01-mutual-nda", "f": "tags", "t": "orset", "op": {"add": "late"}}
            propose(
                agent, slot="tagger", kind="classify", rationale="a late tag", ops=[tag],
                confidence="0.5", provenance=Provenance("offline", "sha256:" + "2" * 64),
            )  # fmt: skip
            assert _sync(url, tagger, agent)
            # The page was not reloaded: the server's fan-out reached its event stream.
            expect(page.locator("#queue tbody tr")).to_have_count(before + 1, timeout=10_000)
        finally:
            context.close()
    assert errors == []
