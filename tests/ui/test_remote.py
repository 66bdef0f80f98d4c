"""The server's UI: a viewer signs in with a key the server never holds, and every event it writes
(reviews, logged reads) is prepared by the server, signed by the viewer, judged as any peer's event."""

from __future__ import annotations

import base64
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest
from starlette.applications import Starlette
from starlette.routing import Mount
from starlette.testclient import TestClient

from agentcrdt.log.event import decode_event
from agentcrdt.log.keys import Identity
from agentcrdt.rooms.local import open_local
from agentcrdt.sync.auth import sign_challenge
from agentcrdt.ui.remote import ReplicaAccess, create_remote_ui
from tests.ui.sample import Sample


@contextmanager
def served(sample: Sample) -> Iterator[tuple[TestClient, str, Any]]:
    replica = open_local(sample.path)  # the server's replica: no identity of its own
    app = Starlette(routes=[Mount("/ui", create_remote_ui(ReplicaAccess(replica)))])
    try:
        with TestClient(app, base_url="http://127.0.0.1") as client:
            yield client, f"/ui/{replica.scope}", replica
    finally:
        replica.close()


def sign_in(client: TestClient, base: str, key: Identity) -> Any:
    nonce = client.get(f"{base}/api/challenge").json()["challenge"]
    scope = base.removeprefix("/ui/")
    return client.post(
        f"{base}/api/session",
        json={"author": key.author, "nonce": nonce, "signature": sign_challenge(key, scope, nonce)},
    )


def signed(client: TestClient, base: str, key: Identity, prepared: dict[str, Any]) -> Any:
    """What the browser does with prepared events: sign each message with its key, send them back."""
    events = [
        {"id": e["id"], "signature": key.sign(base64.b64decode(e["message"])).hex()}
        for e in prepared["events"]
    ]
    return client.post(f"{base}/api/events", json={"events": events})


def pending(client: TestClient, base: str, **filters: str) -> list[dict[str, Any]]:
    return list(
        client.get(f"{base}/api/proposals", params={"status": "pending", "limit": 200, **filters}).json()[
            "items"
        ]
    )


def test_signing_in_takes_a_fresh_challenge_signed_by_a_member(sample: Sample) -> None:
    with served(sample) as (client, base, _):
        assert client.get(f"{base}/api/session").json() == {"author": None}
        assert client.get(f"{base}/api/overview").status_code == 401
        scope = base.removeprefix("/ui/")
        nonce = client.get(f"{base}/api/challenge").json()["challenge"]
        forged = {
            "author": sample.owner.author,
            "nonce": nonce,
            "signature": sign_challenge(sample.stranger, scope, nonce),
        }
        assert client.post(f"{base}/api/session", json=forged).status_code == 401
        honest = {**forged, "signature": sign_challenge(sample.owner, scope, nonce)}
        assert client.post(f"{base}/api/session", json=honest).status_code == 401  # that nonce was spent
        r = sign_in(client, base, sample.stranger)
        assert r.status_code == 403 and "neither an owner nor a grantee" in r.json()["error"]
        r = sign_in(client, base, sample.agents["tagger"])  # a grant reading only part of the room
        assert r.status_code == 403 and "only part of it" in r.json()["error"]
        r = sign_in(client, base, sample.viewer)
        assert r.status_code == 200 and f"Path=/ui/{scope}/" in r.headers["set-cookie"]
        assert client.get(f"{base}/api/session").json()["author"] == sample.viewer.author
        overview = client.get(f"{base}/api/overview").json()
        assert overview["viewer"] == sample.viewer.author and overview["remote"] is True
        assert overview["review"] == {"any": False, "slots": []}
        # The session is for this scope only.
        assert client.get("/ui/sha256:" + "0" * 64 + "/api/overview").status_code == 401


def test_a_review_is_prepared_here_signed_by_the_browser_key_and_judged_on_ingest(sample: Sample) -> None:
    with served(sample) as (client, base, replica):
        assert sign_in(client, base, sample.owner).status_code == 200
        target = pending(client, base)[0]
        before = replica.store.count()
        prepared = client.post(
            f"{base}/api/reviews/prepare", json={"ids": [target["id"]], "decision": "accept", "note": "ok"}
        )
        assert prepared.status_code == 200, prepared.text
        [event] = prepared.json()["events"]
        assert replica.store.count() == before  # nothing is stored before it is signed
        # A wrong signature is refused by the same check as any peer's event; nothing is stored.
        wrong = {
            "events": [
                {
                    "id": event["id"],
                    "signature": sample.stranger.sign(base64.b64decode(event["message"])).hex(),
                }
            ]
        }
        r = client.post(f"{base}/api/events", json=wrong)
        assert r.status_code == 400 and r.json()["accepted"] == 0
        assert replica.store.count() == before
        prepared = client.post(
            f"{base}/api/reviews/prepare", json={"ids": [target["id"]], "decision": "accept", "note": "ok"}
        )
        r = signed(client, base, sample.owner, prepared.json())
        assert r.status_code == 200 and r.json() == {"accepted": 1, "refused": {}}
        stored = replica.store.get(prepared.json()["events"][0]["id"])
        assert stored is not None and decode_event(stored.raw).author == sample.owner.author
        assert client.get(f"{base}/api/proposals/{target['id']}").json()["status"] == "accepted"
        # Submitting again: nothing is waiting any more.
        assert signed(client, base, sample.owner, prepared.json()).status_code == 400


@pytest.mark.parametrize(
    "body", [{"decision": "accept"}, {"decision": "accept", "force": True}, {"decision": "reject"}]
)
def test_a_viewer_without_review_rights_gets_nothing_to_sign(sample: Sample, body: dict[str, Any]) -> None:
    with served(sample) as (client, base, replica):
        assert sign_in(client, base, sample.viewer).status_code == 200
        queue = pending(client, base)
        before = replica.store.count()
        for p in queue:
            r = client.post(f"{base}/api/reviews/prepare", json={**body, "ids": [p["id"]]})
            assert r.status_code == 403 and "no right to review" in r.json()["error"]
        bulk = client.post(
            f"{base}/api/reviews/prepare", json={**body, "filters": {}, "expect": len(queue)}
        ).json()
        assert bulk["events"] == [] and len(bulk["skipped"]) == len(queue)
        # Even a review it signs itself, sent as a peer's event, is judged and quarantined.
        assert replica.store.count() == before
        assert len(pending(client, base)) == len(queue)


def test_a_reviewer_bulk_reviews_its_slot_and_the_rest_is_skipped(sample: Sample) -> None:
    with served(sample) as (client, base, _):
        assert sign_in(client, base, sample.reviewer).status_code == 200
        queue = pending(client, base)
        tagger = [p for p in queue if p["slot"] == "tagger"]
        stale = client.post(
            f"{base}/api/reviews/prepare", json={"decision": "reject", "filters": {}, "expect": 999}
        )
        assert stale.status_code == 400 and "confirm again" in stale.json()["error"]
        prepared = client.post(
            f"{base}/api/reviews/prepare", json={"decision": "reject", "filters": {}, "expect": len(queue)}
        ).json()
        assert len(prepared["events"]) == len(tagger) and len(prepared["skipped"]) == len(queue) - len(tagger)
        assert signed(client, base, sample.reviewer, prepared).json()["accepted"] == len(tagger)
        assert pending(client, base, slot="tagger") == []
        assert len(pending(client, base)) == len(queue) - len(tagger)


def test_texts_show_once_the_viewer_signed_its_read(sample: Sample) -> None:
    with served(sample) as (client, base, replica):
        assert sign_in(client, base, sample.viewer).status_code == 200
        d = client.get(f"{base}/api/documents/01-mutual-nda").json()
        assert d["readable"] and all(v["text"] is None for v in d["versions"])
        versions = [v["id"] for v in d["versions"]]
        prepared = client.post(f"{base}/api/reads/prepare", json={"versions": versions}).json()
        assert len(prepared["events"]) == 2
        # Reads signed by another key are refused: no text, nothing logged.
        r = signed(client, base, sample.stranger, prepared)
        assert r.status_code == 400 and "refused" in r.json()["error"]
        assert all(
            v["text"] is None for v in client.get(f"{base}/api/documents/01-mutual-nda").json()["versions"]
        )
        prepared = client.post(f"{base}/api/reads/prepare", json={"versions": versions}).json()
        assert signed(client, base, sample.viewer, prepared).json()["accepted"] == 2
        # A read through the server is in the server's own log, local: never synced to peers.
        logged = [replica.store.get(e["id"]) for e in prepared["events"]]
        assert all(s is not None and s.local and s.kind == "access" for s in logged)
        assert not any(
            e["id"] in {decode_event(r).id for r in replica.missing_for([])} for e in prepared["events"]
        )
        d = client.get(f"{base}/api/documents/01-mutual-nda").json()
        assert "two (2) years" in d["versions"][0]["text"] and "three (3) years" in d["versions"][1]["text"]
        readers = {(a["reader"], a["version"], a["via"]) for a in d["access"]}
        assert {(sample.viewer.author, v, "ui") for v in versions} <= readers
        # Another viewer's logged read does not show the text to this one.
        assert client.post(f"{base}/api/reads/prepare", json={"versions": ["nope@0"]}).status_code == 404
        assert client.post(f"{base}/api/reads/prepare", json={"versions": []}).status_code == 400
