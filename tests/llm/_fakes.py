"""Scripted fake HTTP servers speaking each provider's wire format (helpers shared by tests/llm).

One script drives both a real-socket server (``http.server`` on 127.0.0.1:0, in a thread) and an
``httpx2.MockTransport`` (the transport the openai/anthropic SDKs are built on), so every adapter case can
run over either. Nothing here sleeps: a ``Hang`` reply blocks the server thread until teardown, and the
client's own timeout ends the wait.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Literal

import httpx2
from pydantic import BaseModel, Field

from agentcrdt.llm import Model
from agentcrdt.llm.testing import FakeClock


class Verdict(BaseModel):
    """The structured output used across the adapter tests."""

    label: Literal["yes", "no"]
    confidence: float = Field(ge=0, le=1)


GOOD = {"label": "yes", "confidence": 0.9}
BAD = {"label": "maybe", "confidence": 2}


@dataclass
class Reply:
    status: int = 200
    body: Any = None
    headers: dict[str, str] = field(default_factory=dict)


@dataclass
class Hang:
    """Never answer (until teardown): the client's timeout fires."""


@dataclass
class Recorded:
    method: str
    path: str
    headers: dict[str, str]
    body: Any


Action = Reply | Hang


class Script:
    """Replies served in order (the last one repeats), and the requests that got them."""

    def __init__(self) -> None:
        self.replies: list[Action] = []
        self.requests: list[Recorded] = []
        self.release = threading.Event()
        self._lock = threading.Lock()

    def push(self, *actions: Action) -> None:
        with self._lock:
            self.replies.extend(actions)

    def next(self, method: str, path: str, headers: dict[str, str], raw: bytes) -> Action:
        with self._lock:
            body = json.loads(raw) if raw else None
            self.requests.append(Recorded(method, path, {k.lower(): v for k, v in headers.items()}, body))
            if not self.replies:
                return Reply(500, {"error": {"message": "fake server script is empty"}})
            return self.replies.pop(0) if len(self.replies) > 1 else self.replies[0]


class FakeServer:
    """A real HTTP server on 127.0.0.1:<free port> answering from a :class:`Script`."""

    def __init__(self, script: Script) -> None:
        self.script = script
        handler = _handler_for(script)
        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), handler)
        self.httpd.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        self.thread = threading.Thread(
            target=self.httpd.serve_forever, kwargs={"poll_interval": 0.01}, daemon=True
        )

    def __enter__(self) -> FakeServer:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.script.release.set()
        self.httpd.shutdown()
        self.httpd.server_close()
        self.thread.join()


def _handler_for(script: Script) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def do_POST(self) -> None:
            raw = self.rfile.read(int(self.headers.get("content-length") or 0))
            action = script.next("POST", self.path, dict(self.headers.items()), raw)
            if isinstance(action, Hang):
                script.release.wait()
                return
            payload = json.dumps(action.body).encode()
            self.send_response(action.status)
            self.send_header("content-type", "application/json")
            self.send_header("content-length", str(len(payload)))
            for k, v in action.headers.items():
                self.send_header(k, v)
            self.end_headers()
            self.wfile.write(payload)

        def log_message(self, format: str, *args: Any) -> None:
            pass

    return Handler


def mock_transport(script: Script) -> httpx2.MockTransport:
    """The same script as an in-process transport for the SDKs' ``http_client=``."""

    def handle(request: httpx2.Request) -> httpx2.Response:
        action = script.next(request.method, request.url.path, dict(request.headers), request.read())
        if isinstance(action, Hang):
            raise httpx2.ReadTimeout("fake timeout", request=request)
        return httpx2.Response(action.status, json=action.body, headers=action.headers)

    return httpx2.MockTransport(handle)


# --- provider wire formats ---------------------------------------------------------------------------


def openai_ok(obj: Any, *, model: str = "gpt-4.1-mini-2025-04-14", tin: int = 1000, tout: int = 500) -> Reply:
    content = obj if isinstance(obj, str) else json.dumps(obj)
    return Reply(
        200,
        {
            "id": "chatcmpl-1",
            "object": "chat.completion",
            "created": 1700000000,
            "model": model,
            "choices": [
                {
                    "index": 0,
                    "message": {"role": "assistant", "content": content, "refusal": None},
                    "finish_reason": "stop",
                    "logprobs": None,
                }
            ],
            "usage": {"prompt_tokens": tin, "completion_tokens": tout, "total_tokens": tin + tout},
        },
    )


def openai_error(status: int, message: str, headers: dict[str, str] | None = None) -> Reply:
    kind = {401: "invalid_request_error", 429: "rate_limit_exceeded"}.get(status, "server_error")
    return Reply(
        status, {"error": {"message": message, "type": kind, "param": None, "code": None}}, headers or {}
    )


def anthropic_ok(
    obj: Any, *, model: str = "claude-haiku-4-5-20251001", tin: int = 1000, tout: int = 500
) -> Reply:
    return Reply(
        200,
        {
            "id": "msg_1",
            "type": "message",
            "role": "assistant",
            "model": model,
            "content": [{"type": "tool_use", "id": "toolu_1", "name": "Verdict", "input": obj}],
            "stop_reason": "tool_use",
            "stop_sequence": None,
            "usage": {"input_tokens": tin, "output_tokens": tout},
        },
    )


def anthropic_error(status: int, message: str, headers: dict[str, str] | None = None) -> Reply:
    kind = {401: "authentication_error", 429: "rate_limit_error"}.get(status, "api_error")
    return Reply(status, {"type": "error", "error": {"type": kind, "message": message}}, headers or {})


@dataclass
class Kit:
    """How to talk to one provider's fake: replies in its wire format, and the adapter under test."""

    provider: str
    path: str
    ok: Callable[[Any], Reply]
    error: Callable[..., Reply]
    expected_cost: str
    build: Callable[[Script, FakeClock, str], Model]


def _build_openai(script: Script, clock: FakeClock, transport: str) -> Model:
    from agentcrdt.llm.openai import OpenAIModel

    if transport == "mock":
        client = httpx2.AsyncClient(transport=mock_transport(script))
        return OpenAIModel(
            "gpt-4.1-mini", api_key="sk-test", base_url="http://fake/v1", http_client=client, clock=clock
        )
    return OpenAIModel("gpt-4.1-mini", api_key="sk-test", base_url=_server_url(script) + "/v1", clock=clock)


def _build_anthropic(script: Script, clock: FakeClock, transport: str) -> Model:
    from agentcrdt.llm.anthropic import AnthropicModel

    if transport == "mock":
        client = httpx2.AsyncClient(transport=mock_transport(script))
        return AnthropicModel(
            "claude-haiku-4-5", api_key="sk-ant-test", base_url="http://fake", http_client=client, clock=clock
        )
    return AnthropicModel(
        "claude-haiku-4-5", api_key="sk-ant-test", base_url=_server_url(script), clock=clock
    )


def _build_litellm(script: Script, clock: FakeClock, transport: str) -> Model:
    from agentcrdt.llm.litellm import LiteLLMModel

    assert transport == "socket"
    return LiteLLMModel(
        "openai/gpt-4.1-mini", api_base=_server_url(script) + "/v1", api_key="sk-test", clock=clock
    )


_SERVERS: dict[int, FakeServer] = {}


def _server_url(script: Script) -> str:
    return _SERVERS[id(script)].url


KITS = {
    "openai": Kit("openai", "/v1/chat/completions", openai_ok, openai_error, "0.0012", _build_openai),
    "anthropic": Kit("anthropic", "/v1/messages", anthropic_ok, anthropic_error, "0.0035", _build_anthropic),
    "litellm": Kit("litellm", "/v1/chat/completions", openai_ok, openai_error, "0.0012", _build_litellm),
}


@dataclass
class Harness:
    kit: Kit
    script: Script
    clock: FakeClock
    model: Model
