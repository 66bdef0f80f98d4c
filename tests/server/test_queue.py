"""Agent workers on other machines pull work from the server's JetStream work queue: two workers of one
agent share the room's documents, each summarized once, and their proposals reach the owner."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from agentcrdt.cli._main import run as cli
from tests.server._serve import MAIN, ServeProcess

ROOT = Path(__file__).resolve().parents[2]
NATS = os.environ.get("AGENTCRDT_TEST_NATS_URL", "nats://127.0.0.1:4222")


def _nats_up() -> bool:
    host, _, port = NATS.removeprefix("nats://").partition(":")
    try:
        with socket.create_connection((host, int(port or 4222)), timeout=2):
            return True
    except OSError:
        return False


@pytest.fixture
def queue_server(tmp_path: Path) -> Iterator[ServeProcess]:
    if not _nats_up():
        pytest.skip(f"no NATS server at {NATS}; set AGENTCRDT_TEST_NATS_URL to run the work-queue tests")
    server = ServeProcess(tmp_path / "srv", "--queue", NATS, log=tmp_path / "serve.log")
    yield server
    server.stop()


def test_two_workers_share_the_documents_of_a_room_through_the_work_queue(
    queue_server: ServeProcess, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    url = queue_server.url
    a = tmp_path / "a.db"
    assert cli(["room", "init", str(a), "--json"]) == 0
    scope = json.loads(capsys.readouterr().out)["scope"]
    agent = ROOT / "agents" / "summarizer.py"
    keys = [tmp_path / f"w{i}.key" for i in (1, 2)]
    for k in keys:
        assert cli(["key", "new", str(k)]) == 0
        assert cli(["grant", str(k), str(agent), "--room", str(a), "--key", f"{a}.key"]) == 0
    docs = sorted((ROOT / "examples" / "falcon" / "documents").iterdir())[:4]
    assert cli(["room", "add", str(a), *map(str, docs)]) == 0
    assert cli(["sync", "--room", str(a), "--server", url]) == 0  # the server announces 4 documents

    def worker(i: int, key: Path) -> subprocess.Popen[bytes]:
        room, log = tmp_path / f"w{i}.db", tmp_path / f"w{i}.log"
        flags = [
            "--server",
            url,
            "--scope",
            scope,
            "--queue",
            NATS,
            "--once",
            "--embedder",
            "fake",
            "--quiet",
        ]
        cmd = ["worker", "run", "--room", str(room), "--agent", str(agent), "--key", str(key), *flags]
        with log.open("wb") as err:  # a file, not a pipe nobody reads while the worker runs
            return subprocess.Popen([sys.executable, "-c", MAIN, *cmd], stdout=subprocess.DEVNULL, stderr=err)

    workers = [worker(i, k) for i, k in enumerate(keys, 1)]
    for i, w in enumerate(workers, 1):
        failed = w.wait(timeout=120) != 0
        log = (tmp_path / f"w{i}.log").read_text()
        assert not failed, f"worker {i}: {log}\nserver: {queue_server.output()}"
    capsys.readouterr()
    assert cli(["sync", "--room", str(a), "--server", url]) == 0
    capsys.readouterr()
    assert cli(["proposals", "list", "--room", str(a), "--json"]) == 0
    summaries = [p for p in json.loads(capsys.readouterr().out) if p["slot"] == "summarizer"]
    documents = [p["evidence"][0]["id"].partition("@")[0] for p in summaries]
    assert sorted(documents) == sorted(d.stem for d in docs)  # every document summarized, none twice
