"""Every code block of the README runs, as a new user would paste it (tests that cannot drift)."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
README = (ROOT / "README.md").read_text(encoding="utf-8")
BLOCKS = re.findall(r"```(\w+)\n(.*?)```", README, re.S)
# The two commands, and the variants needing an API key or a local LLM server: `make test` is this very
# suite and `make demo` has its own test (tests/test_cli.py); a block listed here is never run.
NOT_RUN = ("make demo   #", "OPENAI_API_KEY=")


def _runnable(lang: str) -> list[str]:
    return [code for kind, code in BLOCKS if kind == lang and not code.lstrip().startswith(NOT_RUN)]


def test_the_readme_has_the_blocks_this_file_runs() -> None:
    assert _runnable("python") and _runnable("sh")
    assert {kind for kind, _ in BLOCKS} <= {"python", "sh"}, "a block in a language no test runs"


@pytest.mark.parametrize("code", _runnable("python"), ids=lambda c: c.splitlines()[0][:40])
def test_python_block_runs(code: str, tmp_path: Path) -> None:
    result = subprocess.run(
        [sys.executable, "-c", code], cwd=tmp_path, capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 0, result.stderr


@pytest.mark.parametrize("code", _runnable("sh"), ids=lambda c: c.splitlines()[0][:40])
def test_shell_block_runs(code: str, tmp_path: Path) -> None:
    # From a checkout's root, as the README says: the blocks name agents/ and examples/ by path.
    for name in ("agents", "prompts", "examples"):
        (tmp_path / name).symlink_to(ROOT / name)
    bin_dir = Path(sys.executable).parent
    assert shutil.which("agentcrdt", path=str(bin_dir)), "install the package first (make test does)"
    env = {**os.environ, "PATH": f"{bin_dir}{os.pathsep}{os.environ.get('PATH', '')}"}
    result = subprocess.run(
        ["bash", "-euo", "pipefail", "-c", code],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
