"""The review workflow from the command line: key, grant, proposals list/show/accept/reject, revoke."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from agentcrdt.cli import main
from agentcrdt.log.keys import Identity, digest
from agentcrdt.ops.state import op
from agentcrdt.rooms.local import create_local, open_local
from agentcrdt.rooms.workflow import Evidence, Provenance, propose

AGENT_FILE = """
from decimal import Decimal
from agentcrdt.capabilities import AutoAccept, Capability

capability = Capability("tagger", writes=("Document.tags",), auto_accept=AutoAccept(Decimal("0.9")))
"""


@pytest.fixture
def room(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> tuple[Path, Path, Path]:
    owner_key, agent_key = tmp_path / "owner.key", tmp_path / "agent.key"
    assert main(["key", "new", str(owner_key)]) == 0
    assert main(["key", "new", str(agent_key)]) == 0
    path = tmp_path / "room.db"
    create_local(path, Identity.load(owner_key), "cli room").store.close()
    monkeypatch.setenv("AGENTCRDT_KEY", str(owner_key))
    agent_file = tmp_path / "tagger.py"
    agent_file.write_text(AGENT_FILE)
    assert main(["grant", str(agent_key), str(agent_file), "--room", str(path)]) == 0
    return path, agent_key, owner_key


def _propose(
    path: Path, agent_key: Path, tag: str, confidence: str, evidence: tuple[Evidence, ...] = ()
) -> str:
    replica = open_local(path, identity=Identity.load(agent_key))
    event = propose(
        replica,
        slot="tagger",
        kind="tag",
        ops=[op("Document", "d1", "tags", "orset", {"add": tag})],
        rationale=f"mentions {tag}",
        confidence=confidence,
        provenance=Provenance("test", digest(b"p")),
        evidence=evidence,
    )
    replica.store.close()
    return event.id


def test_list_show_accept(room: tuple[Path, Path, Path], capsys: pytest.CaptureFixture[str]) -> None:
    path, agent_key, _ = room
    pid = _propose(path, agent_key, "nda", "0.5")
    auto = _propose(path, agent_key, "legal", "0.95")
    capsys.readouterr()
    assert main(["proposals", "list", "--room", str(path), "--json"]) == 0
    listed = {p["id"]: p["status"] for p in json.loads(capsys.readouterr().out)}
    assert listed == {pid: "pending", auto: "auto_accepted"}
    assert main(["proposals", "show", pid[7:19], "--room", str(path)]) == 0
    shown = capsys.readouterr().out
    assert "pending" in shown and "mentions nda" in shown and "Document/d1.tags" in shown
    assert main(["proposals", "accept", pid[7:19], "--room", str(path), "--note", "ok"]) == 0
    assert "now accepted" in capsys.readouterr().out
    assert open_local(path).state_at().value("Document", "d1") == {"tags": ["legal", "nda"]}
    assert main(["proposals", "reject", pid[7:19], "--room", str(path)]) == 2  # already decided
    assert "already accepted" in capsys.readouterr().err


def test_reject_and_unknown_id(room: tuple[Path, Path, Path], capsys: pytest.CaptureFixture[str]) -> None:
    path, agent_key, _ = room
    pid = _propose(path, agent_key, "x", "0.1")
    assert main(["proposals", "reject", pid, "--room", str(path), "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["status"] == "rejected"
    assert main(["proposals", "show", "ffffffff", "--room", str(path)]) == 2
    assert "no proposal matches" in capsys.readouterr().err


def test_review_needs_a_key(
    room: tuple[Path, Path, Path], capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    path, agent_key, _ = room
    pid = _propose(path, agent_key, "y", "0.1")
    monkeypatch.delenv("AGENTCRDT_KEY")
    assert main(["proposals", "accept", pid, "--room", str(path)]) == 2
    assert "--key" in capsys.readouterr().err


def test_revoke_from_the_cli(room: tuple[Path, Path, Path], capsys: pytest.CaptureFixture[str]) -> None:
    path, agent_key, _ = room
    grant_id = next(e.id for e in open_local(path).events() if e.kind == "grant")
    assert main(["revoke", grant_id, "--room", str(path), "--reason", "done"]) == 0
    with pytest.raises(Exception, match="no active grant"):
        _propose(path, agent_key, "z", "0.5")


def test_accept_refuses_evidence_that_is_not_in_the_text(
    room: tuple[Path, Path, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    path, agent_key, owner_key = room
    owner = open_local(path, identity=Identity.load(owner_key))
    text = op("Document", "d1", "text", "lww", {"set": "This NDA binds both parties."})
    owner.commit("ops", {"ops": [text]})
    owner.store.close()
    good = Evidence("Document", "d1", "text", 5, 8, "NDA")
    made_up = Evidence("Document", "d1", "text", 5, 8, "SLA")  # a peer's agent that did not check
    honest = _propose(path, agent_key, "nda", "0.5", (good,))
    forged = _propose(path, agent_key, "sla", "0.5", (good, made_up))
    capsys.readouterr()
    assert main(["proposals", "accept", forged, "--room", str(path)]) == 2
    err = capsys.readouterr().err
    assert "1 evidence span(s)" in err and "Document/d1.text[5:8]" in err and "--force" in err
    assert main(["proposals", "show", forged, "--room", str(path)]) == 0
    assert "pending" in capsys.readouterr().out  # nothing was written
    assert main(["proposals", "accept", honest, "--room", str(path)]) == 0
    assert main(["proposals", "accept", forged, "--room", str(path), "--force"]) == 0
    assert open_local(path).state_at().value("Document", "d1")["tags"] == ["nda", "sla"]


def test_audit_verify_reads_every_kind_in_a_fresh_process(room: tuple[Path, Path, Path]) -> None:
    # A fresh interpreter: in this one, other tests have registered every kind already.
    import subprocess
    import sys

    path, agent_key, _ = room
    pid = _propose(path, agent_key, "nda", "0.5")
    assert main(["proposals", "accept", pid, "--room", str(path)]) == 0
    for command in (["audit", "verify", str(path)], ["log", "show", str(path)]):
        code = f"import sys; from agentcrdt.cli import main; sys.exit(main({command!r}))"
        out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=False)
        assert out.returncode == 0, out.stdout + out.stderr
    assert "grant" in out.stdout  # log show lists the grant event


def test_failures_are_one_line_saying_what_to_do(
    room: tuple[Path, Path, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path, agent_key, _ = room
    agent_file = tmp_path / "tagger.py"
    capsys.readouterr()
    # The agent's key may not grant: a capability denial, with the way out.
    assert main(["grant", str(agent_key), str(agent_file), "--room", str(path), "--key", str(agent_key)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "Traceback" not in err
    assert "may not write 'grant' events" in err and "ask an owner" in err
    # A path that is a directory, not a key file: an OS error, one line too.
    assert main(["revoke", "sha256:" + "0" * 64, "--room", str(path), "--key", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "Traceback" not in err and str(tmp_path) in err
