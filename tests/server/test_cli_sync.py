"""The README's two-terminal flow: ``agentcrdt serve`` in one process; in another, a room is synced up,
a second machine joins it by scope, an agent worker there proposes, and the proposals reach the first
machine through the server. Then the server is killed and restarted: nothing acknowledged is lost."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from agentcrdt.cli._main import run as cli
from tests.server._serve import MAIN, ServeProcess

ROOT = Path(__file__).resolve().parents[2]
NDA = ROOT / "examples" / "falcon" / "documents" / "01-mutual-nda.txt"


def _shared_room(
    room: Path, key: Path, agent: Path, url: str, capsys: pytest.CaptureFixture[str], docs: list[Path]
) -> str:
    """A room with ``docs``, ``key`` granted ``agent``'s slot, brought to the server; its scope."""
    assert cli(["room", "init", str(room), "--json"]) == 0
    scope = str(json.loads(capsys.readouterr().out)["scope"])
    if docs:
        assert cli(["room", "add", str(room), *map(str, docs)]) == 0
    assert cli(["key", "new", str(key)]) == 0
    assert cli(["grant", str(key), str(agent), "--room", str(room), "--key", f"{room}.key"]) == 0
    assert cli(["sync", "--room", str(room), "--server", url]) == 0
    return scope


@pytest.fixture
def server(tmp_path: Path) -> Iterator[ServeProcess]:
    srv = ServeProcess(tmp_path / "server-store", log=tmp_path / "serve.log")
    yield srv
    srv.stop()


def test_two_machines_share_a_room_through_the_server_and_an_agent_there_proposes(
    server: ServeProcess, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    url = server.url
    a, b, tagger_key = tmp_path / "a.db", tmp_path / "b.db", tmp_path / "tagger.key"
    assert cli(["room", "init", str(a), "--json"]) == 0
    scope = json.loads(capsys.readouterr().out)["scope"]
    assert cli(["room", "add", str(a), str(NDA)]) == 0
    assert cli(["key", "new", str(tagger_key)]) == 0
    tagger = ROOT / "agents" / "tagger.py"
    assert cli(["grant", str(tagger_key), str(tagger), "--room", str(a), "--key", f"{a}.key"]) == 0
    capsys.readouterr()
    assert cli(["sync", "--room", str(a), "--server", url]) == 0  # brings the room (a's key owns it)
    assert "sent" in capsys.readouterr().out
    # The second machine joins by scope with the tagger's key, runs the agent, syncs its proposals up.
    assert cli(["sync", "--room", str(b), "--server", url, "--scope", scope, "--key", str(tagger_key)]) == 0
    assert cli(["worker", "run", "--room", str(b), "--agent", str(tagger), "--key", str(tagger_key),
                "--once", "--embedder", "fake", "--quiet"]) == 0  # fmt: skip
    assert cli(["sync", "--room", str(b), "--server", url, "--key", str(tagger_key)]) == 0
    capsys.readouterr()
    assert cli(["sync", "--room", str(a), "--server", url]) == 0
    assert "received 1 new" in capsys.readouterr().out  # the tagger's proposal
    assert cli(["proposals", "list", "--room", str(a), "--json"]) == 0
    proposals = json.loads(capsys.readouterr().out)
    assert proposals and all(p["slot"] == "tagger" and p["status"] == "auto_accepted" for p in proposals)

    # Killed and restarted on the same store: a new machine still gets everything.
    server.kill()  # SIGKILL: no shutdown, nothing flushed
    server.start()
    c = tmp_path / "c.db"
    assert cli(["sync", "--room", str(c), "--server", url, "--scope", scope, "--key", str(tagger_key)]) == 0
    capsys.readouterr()
    assert cli(["proposals", "list", "--room", str(c), "--json"]) == 0
    assert json.loads(capsys.readouterr().out) == proposals


def test_an_agent_worker_on_another_machine_follows_the_room_through_the_server(
    server: ServeProcess, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    url = server.url
    a, key, agent = tmp_path / "a.db", tmp_path / "summarizer.key", ROOT / "agents" / "summarizer.py"
    scope = _shared_room(a, key, agent, url, capsys, docs=[NDA])
    # One command on the worker's machine: join the room, summarize, push the proposal back.
    remote = tmp_path / "worker-machine" / "room.db"
    remote.parent.mkdir()
    args = ["--server", url, "--scope", scope, "--once", "--embedder", "fake", "--quiet"]
    assert cli(["worker", "run", "--room", str(remote), "--agent", str(agent), "--key", str(key), *args]) == 0
    assert cli(["sync", "--room", str(a), "--server", url]) == 0
    capsys.readouterr()
    assert cli(["proposals", "list", "--room", str(a), "--json"]) == 0
    proposals = [p for p in json.loads(capsys.readouterr().out) if p["slot"] == "summarizer"]
    assert len(proposals) == 1 and proposals[0]["kind"] == "summarize"


def test_a_live_remote_worker_proposes_on_a_document_added_after_it_started(
    server: ServeProcess, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    url = server.url
    a, key, agent = tmp_path / "a.db", tmp_path / "summarizer.key", ROOT / "agents" / "summarizer.py"
    scope = _shared_room(a, key, agent, url, capsys, docs=[])
    remote = tmp_path / "remote.db"
    worker = subprocess.Popen(
        [sys.executable, "-c", MAIN,
         "worker", "run", "--room", str(remote), "--agent", str(agent), "--key", str(key), "--server", url,
         "--scope", scope, "--embedder", "fake", "--poll", "0.1", "--quiet"],
        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
    )  # fmt: skip
    try:
        assert cli(["room", "add", str(a), str(NDA)]) == 0  # added after the worker started
        deadline = time.monotonic() + 60
        found: list[dict[str, object]] = []
        while not found and time.monotonic() < deadline:
            assert worker.poll() is None, worker.stderr.read().decode() if worker.stderr else ""
            assert cli(["sync", "--room", str(a), "--server", url]) == 0
            capsys.readouterr()
            assert cli(["proposals", "list", "--room", str(a), "--json"]) == 0
            found = [p for p in json.loads(capsys.readouterr().out) if p["slot"] == "summarizer"]
            time.sleep(0.3)
        assert len(found) == 1
    finally:
        worker.kill()
        worker.wait()


def test_joining_without_a_scope_or_a_grant_says_what_to_do(
    server: ServeProcess, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    url = server.url
    assert cli(["sync", "--room", str(tmp_path / "x.db"), "--server", url]) == 2
    assert "pass --scope" in capsys.readouterr().err
    a = tmp_path / "a.db"
    assert cli(["room", "init", str(a), "--json"]) == 0
    scope = json.loads(capsys.readouterr().out)["scope"]
    assert cli(["sync", "--room", str(a), "--server", url]) == 0
    assert cli(["sync", "--room", str(tmp_path / "b.db"), "--server", url, "--scope", scope]) == 2
    err = capsys.readouterr()
    assert "new key" in err.out and "neither an owner nor a grantee" in err.err
