"""``worker run`` from the command line, and several workers in separate processes on one SQLite file."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from subprocess import PIPE

from runtime_helpers import AGENTS, DOCS, agent, doc_ops, edit_ops, inputs_of, proposals_by

from agentcrdt.cli.worker import main
from agentcrdt.log.audit import verify_log
from agentcrdt.log.keys import Identity
from agentcrdt.replica import Replica
from agentcrdt.rooms.local import open_local
from agentcrdt.rooms.workflow import grant
from agentcrdt.store.memory import MemoryStore


def worker_cmd(room: Path, name: str, model: str, key: Path) -> list[str]:
    return [
        sys.executable, "-m", "agentcrdt.cli.worker", "--room", str(room), "--agent", f"{AGENTS}:{name}",
        "--model", model, "--key", str(key), "--once", "--embedder", "fake", "--concurrency", "2",
    ]  # fmt: skip


def test_cli_once_creates_a_key_and_explains_the_missing_grant(room_path: Path, capsys: object) -> None:
    key = room_path.with_name("new.key")
    code = main(["--room", str(room_path), "--agent", f"{AGENTS}:Tagger", "--model", "fake-tagger",
                 "--key", str(key), "--once", "--embedder", "fake"])  # fmt: skip
    out, err = capsys.readouterr()  # type: ignore[attr-defined]
    assert code == 2 and key.exists()
    author = Identity.load(key).author
    assert f"author: {author}" in out and "grant it the slot 'tagger'" in out
    assert "holds no active grant for slot 'tagger'" in err


def test_cli_usage_errors(room_path: Path, capsys: object) -> None:
    assert main(["--room", str(room_path), "--agent", "agents/nope.py", "--once"]) == 2
    assert "no agent file at agents/nope.py" in capsys.readouterr().err  # type: ignore[attr-defined]
    assert main(["--room", str(room_path.with_name("none.db")), "--agent", str(AGENTS), "--once"]) == 2
    assert "no room file" in capsys.readouterr().err  # type: ignore[attr-defined]


def test_two_worker_processes_and_a_human_converge(tmp_path: Path, room_path: Path, owner: Identity) -> None:
    keys = {"Tagger": tmp_path / "tagger.key", "Summarizer": tmp_path / "summarizer.key"}
    human = open_local(room_path, identity=owner)
    for name, path in keys.items():
        identity = Identity.generate()
        identity.save(path)
        grant(human, identity.author, agent(name).capability)
    models = {"Tagger": "fake-tagger", "Summarizer": "fake-summarizer"}
    procs = [
        subprocess.Popen(worker_cmd(room_path, n, models[n], keys[n]), stdout=PIPE, stderr=PIPE, text=True)
        for n in keys
    ]
    # The human edits while the workers run: a new document and a changed one.
    human.commit("ops", {"ops": doc_ops("d4", "Amendment", "This amendment is confidential. Fees are due.")})
    human.commit("ops", {"ops": edit_ops("d1", text="The customer shall pay within 60 days.")})
    human.commit("ops", {"ops": edit_ops("d2", title="Mutual NDA")})
    for p in procs:
        out, err = p.communicate(timeout=120)
        assert p.returncode == 0, err
        assert "proposals" in out
    # A second pass (as after a restart) catches up with what the first one may have missed.
    for n in keys:
        subprocess.run(
            worker_cmd(room_path, n, models[n], keys[n]), check=True, capture_output=True, timeout=120
        )
    room = open_local(room_path)
    authors = {n: Identity.load(k).author for n, k in keys.items()}
    for n, author in authors.items():
        ids = inputs_of(room, author)
        assert len(ids) == len(set(ids)), f"{n} proposed an input twice"
    # every current document input has its summary proposal (pending review) and tags where keywords occur
    summaries = {p.event.payload["ops"][0]["id"]: p for p in proposals_by(room, authors["Summarizer"])}
    assert set(summaries) == {*DOCS, "d4"}
    assert {p.status for p in summaries.values()} == {"pending"}
    state = room.state_at()
    assert set(state.value("Document", "d4")["tags"]) == {"confidentiality"}  # auto-accepted
    assert state.value("Document", "d1")["text"] == "The customer shall pay within 60 days."
    assert state.value("Document", "d2")["title"] == "Mutual NDA"
    # The projection, a fresh replica synced from the file, and the fold of the log agree.
    genesis = room.store.get(room.scope)
    assert genesis is not None
    peer = Replica.join(MemoryStore(), genesis.raw)
    peer.ingest(room.missing_for(peer.heads))
    assert peer.state_at().entities == state.entities
    rows = dict(room.followers[0].query("SELECT id, value FROM entities WHERE etype = 'Document'"))  # type: ignore[attr-defined]
    assert set(rows) == {*DOCS, "d4"}
    assert all(v == "valid" for v, _ in room.store.verdicts().values())
    report = verify_log(room.store.since(0), stored_heads=room.store.heads())
    assert report.intact
