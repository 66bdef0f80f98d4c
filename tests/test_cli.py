"""The thin CLI: fast help, the demo end to end, clear errors."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

import pytest

from agentcrdt.cli import main


def test_help_is_fast_and_imports_nothing_heavy() -> None:
    code = "import sys; from agentcrdt.cli import main; sys.argv=['agentcrdt','--help']\n"
    code += "try:\n    main()\nexcept SystemExit:\n    pass\n"
    code += "heavy = {'nacl', 'sqlite3', 'pydantic', 'psycopg', 'torch', 'orjson'} & set(sys.modules)\n"
    code += "print(sorted(heavy))"
    started = time.perf_counter()
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip().endswith("[]"), out.stdout
    assert time.perf_counter() - started < 5  # generous: the real check is the empty module list above


def test_demo_converges_and_verifies(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["demo", "--kernel", "--dir", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    assert "converged: yes" in out and "alice: intact" in out and "bob: intact" in out
    assert main(["audit", "verify", str(tmp_path / "alice.db")]) == 0
    assert main(["log", "show", str(tmp_path / "bob.db"), "--limit", "3"]) == 0


def test_missing_room_is_a_clear_error(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["audit", "verify", str(tmp_path / "nope.db")]) == 2
    assert "no room file" in capsys.readouterr().err


def test_no_command_prints_help(capsys: pytest.CaptureFixture[str]) -> None:
    assert main([]) == 2
    assert "audit" in capsys.readouterr().out
