"""The UI's HTTP surface: sessions, pages of data, reviews, and who may review what."""

from __future__ import annotations

import sqlite3
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import pytest
from starlette.routing import Route
from starlette.testclient import TestClient

from agentcrdt.log.keys import Identity
from agentcrdt.rooms.local import open_local
from agentcrdt.ui.app import COOKIE, create_ui_app
from agentcrdt.ui.views import MAX_LIMIT, RoomViews
from tests.ui.sample import Sample

TOKEN = "test-token"
ViewsAs = Callable[[Identity | None], RoomViews]


@contextmanager
def client_for(views: RoomViews, *, login: bool = True) -> Iterator[TestClient]:
    with TestClient(create_ui_app(views, token=TOKEN), base_url="http://127.0.0.1") as client:
        if login:
            client.cookies.set(COOKIE, TOKEN)
        yield client


def pending(client: TestClient, **filters: str) -> list[dict[str, Any]]:
    body = client.get("/api/proposals", params={"status": "pending", "limit": 200, **filters}).json()
    return list(body["items"])


def test_every_api_call_needs_the_session_token(sample: Sample, views_as: ViewsAs) -> None:
    with client_for(views_as(sample.owner), login=False) as client:
        assert client.get("/api/overview").status_code == 401
        assert client.get("/").status_code == 401
        assert client.get("/?token=wrong").status_code == 401
        assert client.post("/api/reviews", json={}).status_code == 401
        assert client.get("/api/overview", headers={"authorization": "Bearer wrong"}).status_code == 401
        # The token in the URL becomes a strict cookie and leaves the address bar.
        r = client.get(f"/?token={TOKEN}", follow_redirects=False)
        assert r.status_code == 303 and r.headers["location"] == "/"
        assert "samesite=strict" in r.headers["set-cookie"].lower()
        assert "httponly" in r.headers["set-cookie"].lower()
        client.cookies.set(COOKIE, TOKEN)
        page = client.get("/")
        assert page.status_code == 200 and "script-src 'self'" in page.headers["content-security-policy"]
        assert client.get("/api/overview", headers={"authorization": f"Bearer {TOKEN}"}).status_code == 200


class SlowViews(RoomViews):
    """Views whose preparation waits until the test lets it finish (a large room's indexing)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.release = threading.Event()
        self.prepared = False

    def prepare(self) -> None:
        assert self.release.wait(10)
        super().prepare()
        self.prepared = True


def test_the_page_is_served_while_the_room_is_prepared_and_the_api_says_so(sample: Sample) -> None:
    views = SlowViews(open_local(sample.path, identity=sample.owner))
    try:
        app = create_ui_app(views, token=TOKEN, prepare=True)
        with TestClient(app, base_url="http://127.0.0.1") as client:
            client.cookies.set(COOKIE, TOKEN)
            assert client.get("/").status_code == 200  # the page paints at once
            assert client.get("/assets/app.js").status_code == 200
            assert client.get("/api/ready").json() == {"ready": False}
            for path in ("/api/overview", "/api/proposals", "/api/live"):
                r = client.get(path)
                assert r.status_code == 503 and r.json()["preparing"] is True, path
                assert r.headers["retry-after"] == "1"
            r = client.post("/api/reviews", json={"filters": {}, "decision": "accept", "expect": 0})
            assert r.status_code == 503  # nothing is decided against views not yet derived
            client.cookies.clear()  # no session: told so, not that the room is being opened
            assert client.get("/api/overview").status_code == 401
            client.cookies.set(COOKIE, TOKEN)
            views.release.set()
            deadline = time.monotonic() + 10
            while (r := client.get("/api/overview")).status_code == 503 and time.monotonic() < deadline:
                time.sleep(0.02)
            assert r.status_code == 200 and views.prepared
            assert client.get("/api/ready").json() == {"ready": True}
            assert r.json()["documents"] > 0
    finally:
        views.release.set()
        views.replica.close()


def test_openapi_documents_every_api_route(sample: Sample, views_as: ViewsAs) -> None:
    views = views_as(sample.owner)
    app = create_ui_app(views, token=TOKEN)
    with client_for(views) as client:
        spec = client.get("/api/openapi.json").json()
    documented = {p.replace("{id}", "{id:path}") for p in spec["paths"]} | set(spec["paths"])
    routes = {r.path for r in app.routes if isinstance(r, Route) and r.path.startswith("/api/")} - {
        "/api/openapi.json"
    }
    assert routes <= documented, routes - documented
    for path, item in spec["paths"].items():
        for op in item.values():
            assert op["summary"] and "200" in op["responses"], path


def test_pages_paginate_and_filter_on_the_server(sample: Sample, views_as: ViewsAs) -> None:
    with client_for(views_as(sample.owner)) as client:
        every = client.get("/api/proposals", params={"limit": 200}).json()
        assert every["total"] == sum(every["facets"]["status"].values()) == len(every["items"])
        first = client.get("/api/proposals", params={"limit": 2}).json()
        second = client.get("/api/proposals", params={"limit": 2, "offset": 2}).json()
        assert [r["id"] for r in first["items"] + second["items"]] == [r["id"] for r in every["items"][:4]]
        tagger = sample.agents["tagger"].author
        mine = client.get("/api/proposals", params={"agent": tagger, "limit": 200}).json()
        assert mine["total"] > 0 and {r["agent"] for r in mine["items"]} == {tagger}
        high = client.get("/api/proposals", params={"min_confidence": "0.9", "limit": 200}).json()
        assert all(float(r["confidence"]) >= 0.9 for r in high["items"])
        assert high["total"] < every["total"]
        for bad in (
            {"limit": MAX_LIMIT + 1},
            {"limit": 0},
            {"offset": -1},
            {"limit": "ten"},
            {"min_confidence": "x"},
        ):
            r = client.get("/api/proposals", params=bad)
            assert r.status_code == 400 and r.json()["error"], bad
        docs = client.get("/api/documents", params={"q": "nda"}).json()
        assert [d["id"] for d in docs["items"]] == ["01-mutual-nda"]
        assert client.get("/api/documents/no-such-doc").status_code == 404
        assert client.get("/api/proposals/sha256:" + "0" * 64).status_code == 404


def test_a_document_shows_versions_highlights_and_signatures_and_logs_the_read(
    sample: Sample, views_as: ViewsAs
) -> None:
    views = views_as(sample.owner)
    with client_for(views) as client:
        before = client.get("/api/access").json()["total"]
        d = client.get("/api/documents/01-mutual-nda").json()
        again = client.get("/api/documents/01-mutual-nda").json()
        after = client.get("/api/access").json()
    assert [v["number"] for v in d["versions"]] == [1, 2]
    v1, v2 = d["versions"]
    assert "two (2) years" in v1["text"] and "three (3) years" in v2["text"]
    assert v1["intact"] and v2["intact"]
    assert [s["ok"] for s in v1["signatures"]] == [True] and v2["signatures"] == []
    marks = [m for v in d["versions"] for m in v["highlights"]]
    assert marks, "the agents quote the NDA"
    texts = {v["id"]: v["text"] for v in d["versions"]}
    assert all(texts[m["version"]][m["start"] : m["end"]] == m["quote"] for m in marks)
    # Each version read once is logged once, by the reviewer's key, through the UI.
    assert after["total"] == before + 2 and again["versions"][0]["text"] == v1["text"]
    assert {(a["reader"], a["via"]) for a in after["items"][-2:]} == {(sample.owner.author, "ui")}


def test_without_a_key_texts_are_withheld_and_nothing_can_be_reviewed(
    sample: Sample, views_as: ViewsAs
) -> None:
    views = views_as(None)
    events = views.replica.store.count()
    with client_for(views) as client:
        d = client.get("/api/documents/01-mutual-nda").json()
        assert d["readable"] is False and all(v["text"] is None for v in d["versions"])
        target = pending(client)[0]
        r = client.post(f"/api/proposals/{target['id']}/review", json={"decision": "accept"})
        assert r.status_code == 403 and "holds no key" in r.json()["error"]
        assert client.get("/api/overview").json()["review"]["any"] is False
    assert views.replica.store.count() == events


CRAFTED: list[dict[str, Any]] = [
    {"decision": "accept"},
    {"decision": "accept", "force": True},
    {"decision": "reject", "note": "no"},
    {"decision": "accept", "note": "x", "author": "OWNER", "identity": "owner"},
]


@pytest.mark.parametrize("body", CRAFTED)
def test_a_viewer_without_review_rights_cannot_review_whatever_it_sends(
    sample: Sample, views_as: ViewsAs, body: dict[str, Any]
) -> None:
    views = views_as(sample.viewer)
    events = views.replica.store.count()
    with client_for(views) as client:
        targets = pending(client)
        assert targets
        body = {**body, "author": sample.owner.author} if body.get("author") == "OWNER" else body
        for t in targets:
            r = client.post(f"/api/proposals/{t['id']}/review", json=body)
            assert r.status_code == 403, r.text
            assert "no right to review" in r.json()["error"]
        bulk = client.post("/api/reviews", json={**body, "filters": {}, "expect": len(targets)}).json()
        assert bulk["decided"] == 0 and bulk["skipped"] == len(targets)
        assert client.get("/api/proposals/" + targets[0]["id"]).json()["may_review"] is False
        assert len(pending(client)) == len(targets)
    # Nothing was signed: the log is as it was, but for the logged reads of texts.
    kinds = [s.kind for _, s in views.replica.store.since(0)][events:]
    assert set(kinds) <= {"access"}


def test_a_reviewer_reviews_only_the_slots_it_was_granted(sample: Sample, views_as: ViewsAs) -> None:
    views = views_as(sample.reviewer)
    with client_for(views) as client:
        queue = pending(client)
        mine = [p for p in queue if p["slot"] == "tagger"]
        others = [p for p in queue if p["slot"] != "tagger"]
        assert others, "the sample has pending proposals of other slots"
        r = client.post(f"/api/proposals/{others[0]['id']}/review", json={"decision": "accept"})
        assert r.status_code == 403
        assert client.get("/api/overview").json()["review"]["slots"] == ["tagger"]
        assert mine, "the sample has a pending proposal of the tagger"
        r = client.post(f"/api/proposals/{mine[0]['id']}/review", json={"decision": "reject", "note": "n"})
        assert r.status_code == 200 and r.json()["status"] == "rejected"


def test_the_owner_accepts_one_then_a_filtered_set_confirmed_by_count(
    sample: Sample, views_as: ViewsAs
) -> None:
    views = views_as(sample.owner)
    with client_for(views) as client:
        queue = pending(client)
        first = queue[0]
        r = client.post(
            f"/api/proposals/{first['id']}/review", json={"decision": "accept", "note": "checked"}
        )
        assert r.status_code == 200 and r.json()["status"] == "accepted"
        again = client.post(f"/api/proposals/{first['id']}/review", json={"decision": "reject"})
        assert again.status_code == 400 and "already accepted" in again.json()["error"]
        for bad in ({"decision": "maybe"}, {"decision": "accept", "note": 5}, [1]):
            assert client.post(f"/api/proposals/{queue[1]['id']}/review", json=bad).status_code == 400
        assert client.post(f"/api/proposals/{queue[1]['id']}/review", content=b"{").status_code == 400
        slot = queue[1]["slot"]
        matching = pending(client, slot=slot)
        # The user confirmed a count that is no longer true: nothing is decided.
        stale = client.post(
            "/api/reviews", json={"decision": "accept", "filters": {"slot": slot}, "expect": 999}
        )
        assert stale.status_code == 400 and "confirm again" in stale.json()["error"]
        assert len(pending(client, slot=slot)) == len(matching)
        done = client.post(
            "/api/reviews", json={"decision": "accept", "filters": {"slot": slot}, "expect": len(matching)}
        ).json()
        assert done["decided"] == len(matching) and done["skipped"] == 0
        assert pending(client, slot=slot) == []
        statuses = {r["proposal"]: r["status"] for r in done["results"]}
        assert set(statuses.values()) == {"accepted"}


def test_the_audit_flags_quarantined_events_and_a_tampered_log(sample: Sample, views_as: ViewsAs) -> None:
    views = views_as(sample.owner)
    with client_for(views) as client:
        flagged = client.get("/api/audit", params={"only": "flagged"}).json()
        assert flagged["verification"]["intact"] is True
        [row] = flagged["items"]
        assert row["verdict"] == "quarantined" and row["author"] == sample.stranger.author
        assert "no active grant" in row["reason"]
        assert client.get("/api/audit", params={"only": "nonsense"}).status_code == 400
        assert client.get(f"/api/events/{row['id']}").json()["verdict"] == "quarantined"
        first = flagged["verification"]
        assert first["incremental"] is False and first["verified_now"] == first["events"]
        # The log grows by one logged read: only that event is verified again, not the chain.
        client.get("/api/documents/01-mutual-nda")
        grown = client.get("/api/audit", params={"limit": 1}).json()["verification"]
        assert grown["intact"] and grown["incremental"] is True
        assert (
            grown["events"] > first["events"] and grown["verified_now"] == grown["events"] - first["events"]
        )
        again = client.get("/api/audit", params={"limit": 1, "verify": "full"}).json()["verification"]
        assert again["incremental"] is False and again["verified_now"] == again["events"] == grown["events"]
        assert client.get("/api/audit", params={"verify": "half"}).status_code == 400
    views.replica.close()
    # Someone edits one stored event's bytes in the room file: the audit names it, with why.
    with sqlite3.connect(sample.path) as db:
        position, raw = db.execute("SELECT position, raw FROM events WHERE kind = 'ops' LIMIT 1").fetchone()
        edited = bytes(raw).replace(b"NON-DISCLOSURE", b"NON-DISCLOSURF", 1)
        assert edited != bytes(raw)
        db.execute("UPDATE events SET raw = ? WHERE position = ?", (edited, position))
    with client_for(views_as(sample.owner)) as client:
        audit = client.get("/api/audit", params={"only": "flagged"}).json()
    failure = audit["verification"]["failure"]
    assert audit["verification"]["intact"] is False and failure["reason"] == "hash_mismatch"
    assert failure["position"] == position
    shown = {r["position"]: r for r in audit["items"]}
    assert shown[position]["verdict"] == "tampered" and "hashes to" in shown[position]["reason"]
