"""A fake LLM provider for the eval tests: it reads each request as a model would and answers from it.

One HTTP server on 127.0.0.1:<free port>, in a thread, speaks two wire formats: OpenAI chat completions
(``POST /v1/chat/completions``, which litellm's ``openai/`` route also uses) and Anthropic messages
(``POST /v1/messages``). So the SDKs' real HTTP stacks run, and the adapters are pointed at it the way a
user points them at a proxy: ``OPENAI_BASE_URL`` / ``ANTHROPIC_BASE_URL`` or a base-URL argument.

Unlike the scripted servers of ``tests/llm/_fakes.py`` (replies in order, whatever is asked), this one
*computes* each answer from the request: it finds the document in the rendered prompt and the field list
in the system message, and answers the structured-output schema it was sent (``response_format`` for
OpenAI, the forced tool's ``input_schema`` for Anthropic). Its "knowledge" is :func:`extract`: a few rules
that are right on the test contracts, and one blind spot on purpose (it names only the first party), so a
test knows the exact accuracy to expect. It reports usage (:func:`count_tokens`, about four characters a
token, the prompt and the schema both counted as providers do) and a dated snapshot as the model version.

Faults are injected per document (:meth:`FakeProvider.add_fault`): an HTTP error for the next N requests
(or every one), or a schema-invalid answer. Every request that reaches the server is recorded, so a test
can say "no HTTP request was made".
"""

from __future__ import annotations

import calendar
import json
import re
import threading
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

__all__ = [
    "ANTHROPIC_SNAPSHOT",
    "OPENAI_SNAPSHOT",
    "FakeProvider",
    "Fault",
    "Seen",
    "Served",
    "count_tokens",
    "extract",
]

# Suffixes the fake appends to the requested model name for the version it reports (providers report
# dated snapshots: "gpt-4.1-mini-2025-04-14", "claude-haiku-4-5-20251001").
OPENAI_SNAPSHOT = "2026-05-01"
ANTHROPIC_SNAPSHOT = "20260501"

_DOCUMENT = re.compile(r'<document id="(?P<id>[^"]*)"[^>]*>\n(?P<text>.*)\n</document>', re.S)
_FIELD_LINE = re.compile(r"^- `(?P<name>[a-z_]+)`:", re.M)
_MONTHS = list(calendar.month_name)[1:]
_DATE = re.compile(r"\bas of (?P<date>(?P<m>" + "|".join(_MONTHS) + r") (?P<d>\d{1,2}), (?P<y>\d{4}))")
_LAW = re.compile(r"laws of the (?:State|Commonwealth|Province) of (?P<place>[A-Z][a-z]+(?: [A-Z][a-z]+)*)")
_TITLE = re.compile(r"^[A-Z][A-Z -]*\bAGREEMENT\b", re.M)
_FIRST_PARTY = re.compile(r"\bbetween (?P<party>[A-Z][\w.,&' -]*?)(?= \(| and\b)")
CONFIDENCE = 0.9


def count_tokens(text: str) -> int:
    """Return a stand-in token count: about four characters a token (the providers' rule of thumb)."""
    return max(1, -(-len(text) // 4))


def _quote(text: str, start: int, end: int) -> dict[str, Any]:
    return {"text": text[start:end], "start": start, "end": end}


def _sentence(text: str, start: int, end: int) -> tuple[int, int]:
    """Return the bounds of the sentence around ``text[start:end]`` (a model quotes whole clauses)."""
    dot, newline, stop = text.rfind(". ", 0, start), text.rfind("\n", 0, start), text.find(".", end)
    begin = max(dot + 2 if dot >= 0 else 0, newline + 1)
    return begin, stop + 1 if stop >= 0 else len(text)


def extract(document: str, fields: list[str]) -> list[dict[str, Any]]:
    """Answer an ``Extraction`` for ``document``: the fields the rules find, each with a verbatim quote.

    Right: ``document_name`` (the uppercase title up to AGREEMENT), ``agreement_date`` ("as of Month D,
    YYYY", as ISO), ``governing_law`` ("laws of the State of X", quoting the whole sentence). Wrong on
    purpose: ``parties``, where it names only the first party. Other fields are left out.
    """
    found: list[dict[str, Any]] = []

    def add(name: str, value: str, start: int, end: int) -> None:
        if name in fields:
            quote = _quote(document, start, end)
            found.append({"name": name, "value": value, "quote": quote, "confidence": CONFIDENCE})

    if m := _TITLE.search(document):
        add("document_name", m.group(0), m.start(), m.end())
    if m := _FIRST_PARTY.search(document):
        add("parties", m.group("party"), m.start("party"), m.end("party"))
    if m := _DATE.search(document):
        iso = f"{m.group('y')}-{_MONTHS.index(m.group('m')) + 1:02d}-{int(m.group('d')):02d}"
        add("agreement_date", iso, m.start("date"), m.end("date"))
    if m := _LAW.search(document):
        add("governing_law", m.group("place"), *_sentence(document, m.start(), m.end()))
    return found


_CANDIDATE = re.compile(
    r'<candidate id="(?P<id>[^"]*)" heading="(?P<heading>[^"]*)">\n(?P<text>.*?)\n</candidate>', re.S
)
_SEEN = re.compile(r'^- (?P<doc>\S+) · governing_law = (?P<value>[^(]+?) \("(?P<quote>.*)"\)$', re.M)


def reflect(doc_id: str, document: str, user: str) -> dict[str, Any]:
    """Answer a Reflection request as a careful model would, for the test's two-document rooms: the
    governing law (a mention and a fact), an ``amends`` link to a candidate whose heading the document
    names, and a contradiction with a seen law of a linked document."""
    answer: dict[str, Any] = {"mentions": [], "links": [], "findings": [], "facts": []}
    law = _LAW.search(document)
    if law is not None:
        a, b = _sentence(document, law.start(), law.end())
        answer["mentions"].append(
            {"name": law.group("place"), "kind": "jurisdiction", "quote": _quote(document, a, b)}
        )
        answer["facts"].append(
            {
                "name": "governing_law",
                "value": law.group("place"),
                "quote": _quote(document, a, b),
                "confidence": 0.9,
            }
        )
    linked = set()
    for c in _CANDIDATE.finditer(user):
        heading = c.group("heading").strip()
        at = document.lower().find(heading.lower()) if heading else -1
        if at >= 0:
            a, b = _sentence(document, at, at + len(heading))
            linked.add(c.group("id"))
            answer["links"].append(
                {
                    "target_id": c.group("id"),
                    "relation": "amends",
                    "confidence": 0.9,
                    "rationale": "it names the candidate's title",
                    "evidence": [_quote(document, a, b)],
                }
            )
    for seen in _SEEN.finditer(user):
        if law is not None and seen.group("value").strip() != law.group("place"):
            a, b = _sentence(document, law.start(), law.end())
            other = next(
                (c.group("text") for c in _CANDIDATE.finditer(user) if c.group("id") == seen.group("doc")), ""
            )
            where = other.find(seen.group("quote"))
            if where < 0:
                continue
            answer["findings"].append(
                {
                    "kind": "contradiction",
                    "title": f"governing law: {law.group('place')} vs {seen.group('value').strip()}",
                    "description": "the two documents name different governing laws",
                    "evidence": [
                        {"doc_id": doc_id, "quote": _quote(document, a, b)},
                        {
                            "doc_id": seen.group("doc"),
                            "quote": _quote(other, where, where + len(seen.group("quote"))),
                        },
                    ],
                    "confidence": 0.9,
                }
            )
    return answer


_THEME_DOC = re.compile(r'<document id="(?P<id>[^"]*)" title="[^"]*">\n(?P<text>.*?)\n</document>', re.S)


def theme(user: str) -> dict[str, Any]:
    """Answer a ThemeSummary request: the first sentence of each document, quoted."""
    docs = [(m.group("id"), m.group("text")) for m in _THEME_DOC.finditer(user)]
    evidence = []
    for doc_id, text in docs:
        start = len(text) - len(text.lstrip())
        a, b = _sentence(text, start, start + 1)
        evidence.append({"doc_id": doc_id, "quote": _quote(text, a, b)})
    return {
        "label": "the agreement and its amendments",
        "summary": f"{len(docs)} documents: " + " ".join(e["quote"]["text"] for e in evidence),
        "evidence": evidence,
        "confidence": 0.8,
    }


@dataclass(frozen=True)
class Seen:
    """One HTTP request that reached the server."""

    path: str
    headers: dict[str, str]
    body: dict[str, Any]
    doc: str | None  # the id of the document in the prompt (None: no document found)


@dataclass
class Fault:
    """What the server does instead of answering, for requests about ``doc`` (None: any document).

    ``status`` is an HTTP error status; with ``malformed`` the reply is a 200 whose answer breaks the
    requested schema. ``times``: how many matching requests it hits (None: every one).
    """

    status: int = 200
    doc: str | None = None
    times: int | None = 1
    headers: dict[str, str] = field(default_factory=dict)
    malformed: bool = False
    message: str = "injected failure"


@dataclass(frozen=True)
class Served:
    """A 200 the server sent: the usage it reported and the model version."""

    doc: str | None
    prompt_tokens: int
    completion_tokens: int
    model: str
    malformed: bool


class FakeProvider:
    """The fake server; use as a context manager (``with FakeProvider() as fake: fake.url``)."""

    def __init__(self) -> None:
        self.requests: list[Seen] = []
        self.served: list[Served] = []
        self.faults: list[Fault] = []
        self._lock = threading.Lock()
        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), _handler_for(self))
        self.httpd.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        self._thread = threading.Thread(
            target=self.httpd.serve_forever, kwargs={"poll_interval": 0.01}, daemon=True
        )

    @property
    def openai_base_url(self) -> str:
        """Return what ``OPENAI_BASE_URL`` (or litellm's ``api_base``) is set to."""
        return self.url + "/v1"

    def __enter__(self) -> FakeProvider:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()
        self._thread.join()

    def add_fault(self, fault: Fault) -> None:
        with self._lock:
            self.faults.append(fault)

    def requests_for(self, doc: str) -> list[Seen]:
        return [r for r in self.requests if r.doc == doc]

    # -- serving --------------------------------------------------------------------------------------

    def handle(
        self, path: str, headers: dict[str, str], raw: bytes
    ) -> tuple[int, dict[str, Any], dict[str, str]]:
        """Return (status, JSON body, extra headers) for one POST."""
        body = json.loads(raw) if raw else {}
        wire = "anthropic" if path.endswith("/messages") else "openai"
        system, users = _texts(wire, body)
        doc = next((m for m in (_DOCUMENT.search(u) for u in users) if m is not None), None)
        with self._lock:
            self.requests.append(Seen(path, headers, body, None if doc is None else doc.group("id")))
            fault = self._take_fault(None if doc is None else doc.group("id"))
        if path not in ("/v1/chat/completions", "/v1/messages"):
            return _error(wire, 404, f"no route {path}")
        if not _authorized(headers):
            return _error(wire, 401, "no API key in the request")
        if fault is not None and not fault.malformed:
            return (*_error(wire, fault.status, fault.message)[:2], fault.headers)
        name, schema = _schema(wire, body)
        if name in ("Reflection", "ThemeSummary") and doc is not None:
            if name == "ThemeSummary":
                answer = theme("\n".join(users))
            else:
                answer = reflect(doc.group("id"), doc.group("text"), "\n".join(users))
            prompt = sum(count_tokens(t) for t in (system, *users)) + count_tokens(json.dumps(schema))
            completion = count_tokens(json.dumps(answer))
            model = f"{body.get('model')}-{ANTHROPIC_SNAPSHOT if wire == 'anthropic' else OPENAI_SNAPSHOT}"
            with self._lock:
                self.served.append(Served(doc.group("id"), prompt, completion, model, False))
            reply = _anthropic_reply if wire == "anthropic" else _openai_reply
            return 200, reply(name, answer, model, prompt, completion), {}
        if name != "Extraction" or doc is None:
            return _error(wire, 400, f"the fake answers Extraction requests about a document, not {name}")
        fields = _FIELD_LINE.findall(system)
        answer: dict[str, Any] = {"fields": extract(doc.group("text"), fields)}
        if fault is not None:  # malformed: a confidence out of range, a field without its quote
            answer = {"fields": [{"name": "governing_law", "value": "Delaware", "confidence": 7}]}
        prompt = sum(count_tokens(t) for t in (system, *users)) + count_tokens(json.dumps(schema))
        completion = count_tokens(json.dumps(answer))
        model = f"{body.get('model')}-{ANTHROPIC_SNAPSHOT if wire == 'anthropic' else OPENAI_SNAPSHOT}"
        with self._lock:
            self.served.append(Served(doc.group("id"), prompt, completion, model, fault is not None))
        reply = _anthropic_reply if wire == "anthropic" else _openai_reply
        return 200, reply(name, answer, model, prompt, completion), {}

    def _take_fault(self, doc: str | None) -> Fault | None:
        for fault in self.faults:
            if (fault.doc is None or fault.doc == doc) and (fault.times is None or fault.times > 0):
                if fault.times is not None:
                    fault.times -= 1
                return fault
        return None


def _texts(wire: str, body: dict[str, Any]) -> tuple[str, list[str]]:
    """Return the system text and the user messages' texts of a request."""
    messages = body.get("messages") or []
    users = [_content(m.get("content")) for m in messages if m.get("role") == "user"]
    if wire == "anthropic":
        return _content(body.get("system")), users
    return "\n".join(_content(m.get("content")) for m in messages if m.get("role") == "system"), users


def _content(content: Any) -> str:
    if isinstance(content, list):  # content blocks
        return "".join(str(b.get("text", "")) for b in content if isinstance(b, dict))
    return str(content or "")


def _schema(wire: str, body: dict[str, Any]) -> tuple[str, dict[str, Any]]:
    """Return the name and JSON schema of the structured output a request asks for."""
    if wire == "anthropic":
        tools = body.get("tools") or [{}]
        choice = body.get("tool_choice") or {}
        tool = next((t for t in tools if t.get("name") == choice.get("name")), tools[0])
        return str(tool.get("name")), dict(tool.get("input_schema") or {})
    fmt = (body.get("response_format") or {}).get("json_schema") or {}
    return str(fmt.get("name")), dict(fmt.get("schema") or {})


def _authorized(headers: dict[str, str]) -> bool:
    # Anthropic's SDK sent x-api-key until 2.x; the installed one sends a bearer token, as OpenAI's does.
    bearer = headers.get("authorization", "").removeprefix("Bearer ").strip()
    return bool(bearer or headers.get("x-api-key"))


def _error(wire: str, status: int, message: str) -> tuple[int, dict[str, Any], dict[str, str]]:
    if wire == "anthropic":
        kinds = {401: "authentication_error", 429: "rate_limit_error", 400: "invalid_request_error"}
        detail = {"type": kinds.get(status, "api_error"), "message": message}
        return status, {"type": "error", "error": detail}, {}
    kind = {401: "invalid_request_error", 429: "rate_limit_exceeded", 400: "invalid_request_error"}
    error = {"message": message, "type": kind.get(status, "server_error"), "param": None, "code": None}
    return status, {"error": error}, {}


def _openai_reply(name: str, answer: dict[str, Any], model: str, tin: int, tout: int) -> dict[str, Any]:
    return {
        "id": "chatcmpl-fake",
        "object": "chat.completion",
        "created": 1_780_000_000,
        "model": model,
        "choices": [
            {
                "index": 0,
                "message": {"role": "assistant", "content": json.dumps(answer), "refusal": None},
                "finish_reason": "stop",
                "logprobs": None,
            }
        ],
        "usage": {"prompt_tokens": tin, "completion_tokens": tout, "total_tokens": tin + tout},
    }


def _anthropic_reply(name: str, answer: dict[str, Any], model: str, tin: int, tout: int) -> dict[str, Any]:
    return {
        "id": "msg_fake",
        "type": "message",
        "role": "assistant",
        "model": model,
        "content": [{"type": "tool_use", "id": "toolu_fake", "name": name, "input": answer}],
        "stop_reason": "tool_use",
        "stop_sequence": None,
        "usage": {"input_tokens": tin, "output_tokens": tout},
    }


def _handler_for(fake: FakeProvider) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def do_POST(self) -> None:
            raw = self.rfile.read(int(self.headers.get("content-length") or 0))
            headers = {k.lower(): v for k, v in self.headers.items()}
            status, body, extra = fake.handle(self.path, headers, raw)
            payload = json.dumps(body).encode()
            self.send_response(status)
            self.send_header("content-type", "application/json")
            self.send_header("content-length", str(len(payload)))
            for k, v in extra.items():
                self.send_header(k, v)
            self.end_headers()
            self.wfile.write(payload)

        def log_message(self, format: str, *args: Any) -> None:
            pass

    return Handler
