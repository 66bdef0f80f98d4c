"""``agentcrdt room …`` round trips through the argument parser, output and exit codes."""

from __future__ import annotations

import argparse
import json
import stat
from collections.abc import Callable
from pathlib import Path

import pytest

from agentcrdt.cli import _main
from agentcrdt.cli import room as room_cli
from agentcrdt.dataroom import Dataroom, DocumentVersion
from agentcrdt.errors import AgentCRDTError
from agentcrdt.ops.state import OPS


def _wired() -> bool:
    parser = _main.build_parser()
    sub = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    return "room" in sub.choices


def run(argv: list[str]) -> int:
    """Run like ``agentcrdt`` would: the real entry point once ``room`` is wired into it."""
    if _wired():
        return _main.run(argv)
    parser = argparse.ArgumentParser(prog="agentcrdt")
    room_cli.register(parser.add_subparsers(dest="command"))
    args = parser.parse_args(argv)
    try:
        return int(args.handler(args))
    except AgentCRDTError as e:
        print(f"agentcrdt: error: {e}", file=__import__("sys").stderr)
        return 2


@pytest.fixture
def room_path(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> Path:
    monkeypatch.delenv("AGENTCRDT_KEY", raising=False)
    path = tmp_path / "deal.db"
    assert run(["room", "init", str(path)]) == 0
    return path


def _out(capsys: pytest.CaptureFixture[str]) -> str:
    return capsys.readouterr().out


def test_init_creates_room_and_private_key(room_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    key = room_path.with_name("deal.db.key")
    assert room_path.is_file() and key.is_file()
    assert stat.S_IMODE(key.stat().st_mode) == 0o600
    assert "owner key written to" in _out(capsys)
    assert run(["room", "init", str(room_path)]) == 2
    assert "already exists" in capsys.readouterr().err


def test_init_with_existing_key(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from agentcrdt.log.keys import Identity

    me = Identity.generate()
    me.save(tmp_path / "me.key")
    assert run(["room", "init", str(tmp_path / "r.db"), "--key", str(tmp_path / "me.key"), "--json"]) == 0
    out = json.loads(_out(capsys))
    assert out["owner"] == me.author and out["key_created"] is None
    assert not (tmp_path / "r.db.key").exists()


def test_round_trip(
    room_path: Path,
    write: Callable[..., Path],
    make_pdf: Callable[..., Path],
    make_docx: Callable[..., Path],
    capsys: pytest.CaptureFixture[str],
) -> None:
    r = str(room_path)
    nda = write("NDA.txt", "Mutual NDA. Term: 2 years.")
    files = [str(nda), str(make_pdf("msa.pdf", ["Master agreement"])), str(make_docx("sow.docx", ["SOW 1"]))]
    assert run(["room", "add", r, *files, "--folder", "deal/legal"]) == 0
    out = _out(capsys)
    assert out.count("new ") == 3 and "3 of 3 file(s) changed the room" in out

    assert run(["room", "add", r, str(nda), "--json"]) == 0
    assert json.loads(_out(capsys))[0]["status"] == "unchanged"
    nda.write_text("Mutual NDA. Term: 3 years.")
    assert run(["room", "add", r, str(nda)]) == 0
    assert "changed   nda" in _out(capsys)

    assert run(["room", "ls", r, "--json"]) == 0
    listed = {d["id"]: d for d in json.loads(_out(capsys))}
    assert set(listed) == {"nda", "msa", "sow"} and listed["nda"]["version"] == 2

    assert run(["room", "show", r, "NDA.txt"]) == 0
    out = _out(capsys)
    assert "document   nda" in out and "Term: 3 years." in out
    assert run(["room", "show", r, "nda", "--version", "1", "--json"]) == 0
    shown = json.loads(_out(capsys))
    assert shown["text"] == "Mutual NDA. Term: 2 years." and shown["version"]["number"] == 1

    assert run(["room", "sign", r, "nda", "--statement", "approved by counsel"]) == 0
    assert "signed nda v2" in _out(capsys)
    assert run(["room", "verify", r]) == 0
    assert "all 4 version(s) and 1 signature(s) verify" in _out(capsys)

    assert run(["room", "access-log", r, "--json"]) == 0
    log = json.loads(_out(capsys))
    assert [(x["document"], x["number"], x["via"]) for x in log] == [
        ("nda", 2, "cli:show"),
        ("nda", 1, "cli:show"),
    ]
    assert run(["room", "access-log", r]) == 0
    assert "read nda v2  via cli:show" in _out(capsys)

    assert run(["room", "history", r, "nda"]) == 0
    out = _out(capsys)
    assert "2 version(s)" in out and "access" in out and "+Signature/nda@" in out


def test_verify_exits_non_zero_on_tampering(
    room_path: Path, write: Callable[..., Path], capsys: pytest.CaptureFixture[str]
) -> None:
    r = str(room_path)
    assert run(["room", "add", r, str(write("nda.txt", "original"))]) == 0
    assert run(["room", "sign", r, "nda"]) == 0
    from agentcrdt.log.keys import Identity

    with Dataroom.open(room_path, identity=Identity.load(room_path.with_name("deal.db.key"))) as room:
        v = room.version("nda")
        ops = DocumentVersion.update_ops(v.id, room._states("DocumentVersion", v.id)[v.id], text="altered")
        room.replica.commit(OPS, {"ops": ops})
    capsys.readouterr()
    assert run(["room", "verify", r]) == 1
    assert "FAILED nda v1 text: text hashes to" in _out(capsys)
    assert run(["room", "verify", r, "nda", "--json"]) == 1
    assert json.loads(_out(capsys))["ok"] is False


def test_bad_input_exits_2_and_changes_nothing(
    room_path: Path, write: Callable[..., Path], capsys: pytest.CaptureFixture[str]
) -> None:
    r = str(room_path)
    with Dataroom.open(room_path) as room:
        before = room.replica.store.count(), room.replica.heads
    good, bad = write("good.txt", "fine"), write("bad.txt", b"\x00\x01\x02")
    assert run(["room", "add", r, str(good), str(bad)]) == 2
    err = capsys.readouterr().err
    assert err.startswith("agentcrdt: error: nothing added, 1 file refused:") and "binary" in err
    assert err.count("\n") == 1  # one line
    with Dataroom.open(room_path) as room:
        assert (room.replica.store.count(), room.replica.heads) == before
    assert run(["room", "show", r, "missing-doc"]) == 2
    assert "no document 'missing-doc'" in capsys.readouterr().err
    assert run(["room", "ls", str(room_path.with_name("nope.db"))]) == 2


def test_key_from_environment(
    tmp_path: Path,
    write: Callable[..., Path],
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    from agentcrdt.log.keys import Identity

    me = Identity.generate()
    me.save(tmp_path / "env.key")
    r = str(tmp_path / "env.db")
    assert run(["room", "init", r, "--key", str(tmp_path / "env.key")]) == 0
    assert run(["room", "add", r, str(write("a.txt", "a"))]) == 2
    assert "pass --key PATH" in capsys.readouterr().err
    monkeypatch.setenv("AGENTCRDT_KEY", str(tmp_path / "env.key"))
    assert run(["room", "add", r, str(write("a.txt", "a"))]) == 0
    assert run(["room", "show", r, "a", "--json"]) == 0
    capsys.readouterr()
    assert run(["room", "access-log", r, "--json"]) == 0
    assert json.loads(_out(capsys))[0]["reader"] == me.author


def test_show_without_text_is_not_logged(
    room_path: Path, write: Callable[..., Path], capsys: pytest.CaptureFixture[str]
) -> None:
    r = str(room_path)
    assert run(["room", "add", r, str(write("a.txt", "Heading\nalpha body"))]) == 0
    assert run(["room", "show", r, "a", "--no-text"]) == 0
    assert "alpha body" not in _out(capsys)
    assert run(["room", "access-log", r]) == 0
    assert "no reads logged" in _out(capsys)


def test_help_does_not_import_the_dataroom() -> None:
    import subprocess
    import sys

    code = (
        "import sys, argparse; from agentcrdt.cli import room; "
        "p = argparse.ArgumentParser(); room.register(p.add_subparsers()); "
        "print(any(m.startswith(('agentcrdt.dataroom', 'pypdf', 'docx')) for m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"
