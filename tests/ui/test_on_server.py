"""The review UI on `agentcrdt serve`: a reviewer whose key stays in its browser reviews a proposal of
a room the server holds, and the review reaches the room's other peers through the sync."""

from __future__ import annotations

import base64
from pathlib import Path
from typing import Any

import anyio
import httpx

from agentcrdt.log.keys import Identity
from agentcrdt.rooms.local import open_local
from agentcrdt.rooms.workflow import list_proposals, proposal
from agentcrdt.sync.auth import sign_challenge
from agentcrdt.sync.websocket import sync_with_server
from tests.server._serve import serving
from tests.ui.sample import Sample


def _sign_in(client: httpx.Client, base: str, scope: str, key: Identity) -> httpx.Response:
    nonce = client.get(f"{base}/api/challenge").json()["challenge"]
    return client.post(
        f"{base}/api/session",
        json={"author": key.author, "nonce": nonce, "signature": sign_challenge(key, scope, nonce)},
    )


def _signed(client: httpx.Client, base: str, key: Identity, prepared: dict[str, Any]) -> httpx.Response:
    events = [
        {"id": e["id"], "signature": key.sign(base64.b64decode(e["message"])).hex()}
        for e in prepared["events"]
    ]
    return client.post(f"{base}/api/events", json={"events": events})


def test_a_review_signed_in_the_browser_reaches_the_rooms_peers(
    sample_template: Sample, tmp_path: Path
) -> None:
    copy = tmp_path / "room.db"  # the owner's machine, holding the room
    copy.write_bytes(sample_template.path.read_bytes())
    with open_local(copy, identity=sample_template.owner) as owner, serving(tmp_path / "srv") as url:
        scope = owner.scope
        assert anyio.run(sync_with_server, url, sample_template.owner, scope, owner).synced  # brings it up
        target = next(p for p in list_proposals(owner, "pending") if p.event.payload["slot"] == "tagger")
        base = f"{url}/ui/{scope}"
        with httpx.Client() as client:
            assert client.get(url + "/", follow_redirects=False).headers["location"] == "/ui/"
            assert client.get(f"{base}/").status_code == 200
            assert client.get(f"{base}/api/overview").status_code == 401
            assert _sign_in(client, base, scope, sample_template.viewer).status_code == 200
            r = client.post(f"{base}/api/reviews/prepare", json={"ids": [target.id], "decision": "accept"})
            assert r.status_code == 403  # a viewer: nothing to sign
            client.cookies.clear()
            assert _sign_in(client, base, scope, sample_template.reviewer).status_code == 200
            prepared = client.post(
                f"{base}/api/reviews/prepare", json={"ids": [target.id], "decision": "accept"}
            )
            assert prepared.status_code == 200, prepared.text
            done = _signed(client, base, sample_template.reviewer, prepared.json())
            assert done.json() == {"accepted": 1, "refused": {}}
            assert client.get(f"{base}/api/proposals/{target.id}").json()["status"] == "accepted"
        # The owner's replica syncs and sees the review, signed by the reviewer's key.
        assert anyio.run(sync_with_server, url, sample_template.owner, scope, owner).synced
        info = proposal(owner, target.id)
        assert info.status == "accepted" and info.reviewer == sample_template.reviewer.author
