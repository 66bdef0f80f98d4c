"""The ``context`` keyword of ``Model.request``: visible to ``complete``, scoped to the request."""

from __future__ import annotations

import subprocess
import sys
from typing import Any

import pytest
from pydantic import BaseModel

from agentcrdt.llm import Message
from agentcrdt.llm.base import request_context, using_context
from agentcrdt.llm.testing import FunctionModel

pytestmark = pytest.mark.anyio


class Echo(BaseModel):
    seen: str


async def test_complete_sees_the_context_only_during_the_request() -> None:
    def fn(messages: list[Message], schema: dict[str, Any]) -> dict[str, Any]:
        ctx = request_context()
        return {"seen": "none" if ctx is None else str(ctx["k"])}

    model = FunctionModel(fn)
    ask = [Message(role="user", content="hi")]
    assert (await model.request(ask, Echo, context={"k": 1})).output.seen == "1"
    assert (await model.request(ask, Echo)).output.seen == "none"
    assert request_context() is None
    with using_context({"k": 2}):
        assert (await model.request(ask, Echo)).output.seen == "2"
        assert (await model.request(ask, Echo, context={"k": 3})).output.seen == "3"  # innermost wins
    assert request_context() is None


def test_importing_the_offline_model_imports_neither_retrieval_nor_torch() -> None:
    code = (
        "import sys, agentcrdt.llm.offline; "
        "bad = [m for m in ('agentcrdt.retrieval', 'torch', 'sentence_transformers') if m in sys.modules]; "
        "print(bad); sys.exit(1 if bad else 0)"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=False)
    assert done.returncode == 0, done.stdout + done.stderr
