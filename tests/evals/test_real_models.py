"""The real adapters (openai, anthropic, litellm) through the eval harness, against a fake provider.

The fake (``_fake_provider.py``) is a real HTTP server on 127.0.0.1 that reads each request as a model
would and answers it, so the SDKs' whole HTTP stacks run, pointed at it as a user points them at a proxy
(``OPENAI_BASE_URL``, ``ANTHROPIC_BASE_URL``; litellm's ``openai/`` route reads ``OPENAI_BASE_URL`` too).

The suite is written here the way a user writes one: two contracts inline, the contract-fields agent,
four fields each. The fake finds the title, the date and the governing law (quoting the whole sentence),
and names only the first of the two parties, so, by hand, per contract:

* fields exact 3/4: document_name, agreement_date, governing_law right; parties wrong (0/2 over both);
  fields_mean = (1 + 1 + 1 + 0) / 4 = 0.75;
* spans/governing_law: the quoted sentence is the gold clause (token Jaccard 1), precision = recall = 1;
* validity and groundedness 1: one proposal per contract, all four quotes verbatim at their offsets;
* calibration: 8 field claims, all at confidence 0.9, 6 right: precision at 0.8 = 0.75, ECE = |0.75 - 0.9|.
"""

from __future__ import annotations

import json
import re
import typing
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from agentcrdt.cli._main import run as cli
from agentcrdt.evals.runner import plan_run, run_cases
from agentcrdt.evals.runs import load_run, score_run
from agentcrdt.evals.scorers import CaseScore
from agentcrdt.evals.suite import load_suite
from agentcrdt.llm import Model
from agentcrdt.llm.testing import FakeClock
from agentcrdt.retrieval import get_embedder
from agentcrdt.runtime import load_agent
from agentcrdt.runtime.prompts import agent_prompt
from tests.evals._fake_provider import ANTHROPIC_SNAPSHOT, OPENAI_SNAPSHOT, FakeProvider, Fault, Served

ROOT = Path(__file__).resolve().parents[2]
AGENT = ROOT / "agents" / "contract_fields.py"
CUAD = ROOT.parent / "shared" / "datasets" / "cuad"
PROVIDERS = ("openai", "anthropic", "litellm")

SUITE = """\
# An inline suite, as a user writes one for their own agent (see evals/README.md).
name: real-models
agents:
  - path: {agent}
scorers: [fields]
embedder: fake
normalizers:
  document_name: title
  parties: parties
  agreement_date: date
  governing_law: jurisdiction
cases:
  - name: one
    inputs:
      documents:
        - name: one.txt
          text: |
            SUPPLY AGREEMENT

            This Supply Agreement is made as of March 3, 2019 between Acme Widgets, Inc. ("Supplier") and
            Beta Foods LLC ("Buyer").

            This Agreement shall be governed by the laws of the State of Delaware.
    expected_output:
      documents:
        one:
          fields:
            document_name: {{value: Supply Agreement}}
            parties: {{value: "Acme Widgets, Inc.; Beta Foods LLC"}}
            agreement_date: {{value: 3/3/19}}
            governing_law:
              value: Delaware
              spans:
                - This Agreement shall be governed by the laws of the State of Delaware.
  - name: two
    inputs:
      documents:
        - name: two.txt
          text: |
            LICENSE AGREEMENT

            This License Agreement is entered into as of July 1, 2020 between Gamma Labs Ltd. and
            Delta Media Corp.

            This Agreement is governed by the laws of the State of New York.
    expected_output:
      documents:
        two:
          fields:
            document_name: {{value: License Agreement}}
            parties: {{value: Gamma Labs Ltd.; Delta Media Corp.}}
            agreement_date: {{value: 7/1/20}}
            governing_law:
              value: New York
              spans: [This Agreement is governed by the laws of the State of New York.]
"""

EXPECTED = {
    "fields/document_name": 1.0,
    "fields/agreement_date": 1.0,
    "fields/governing_law": 1.0,
    "fields/parties": 0.0,
    "fields_mean": 0.75,
    "spans/governing_law.precision": 1.0,
    "spans/governing_law.recall": 1.0,
    "validity": 1.0,
    "groundedness": 1.0,
    "grounded_proposals": 1.0,
    "calibration.p@0.8": 0.75,
    "calibration.ece": 0.15,
}


def _defaults() -> dict[str, str]:
    from agentcrdt.llm import anthropic, openai

    return {"openai": openai.DEFAULT_MODEL, "anthropic": anthropic.DEFAULT_MODEL}


def _spec(provider: str) -> str:
    """The --model a user passes: each adapter's default model, litellm through its openai/ route."""
    name = _defaults()["anthropic" if provider == "anthropic" else "openai"]
    return f"litellm:openai/{name}" if provider == "litellm" else f"{provider}:{name}"


def _snapshot(provider: str) -> str:
    """The model version the fake reports for ``provider``'s default model."""
    name = _defaults()["anthropic" if provider == "anthropic" else "openai"]
    return f"{name}-{ANTHROPIC_SNAPSHOT if provider == 'anthropic' else OPENAI_SNAPSHOT}"


def _price_per_token(provider: str) -> tuple[Decimal, Decimal]:
    """USD per (input, output) token of the default model, from the table the adapter prices with."""
    if provider == "litellm":  # litellm prices from its own bundled table
        from agentcrdt.llm.litellm import import_litellm

        entry = import_litellm().model_cost[_defaults()["openai"]]
        return Decimal(str(entry["input_cost_per_token"])), Decimal(str(entry["output_cost_per_token"]))
    from agentcrdt.llm import anthropic, openai

    table = anthropic.PRICES_PER_MTOK if provider == "anthropic" else openai.PRICES_PER_MTOK
    pin, pout = table[_defaults()[provider]]
    return pin / 1_000_000, pout / 1_000_000


@pytest.fixture
def fake(monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeProvider]:
    """The fake provider, with the environment a user sets to reach it (keys are fakes too)."""
    with FakeProvider() as provider:
        monkeypatch.setenv("OPENAI_BASE_URL", provider.openai_base_url)
        monkeypatch.setenv("OPENAI_API_KEY", "sk-fake-openai")
        monkeypatch.setenv("ANTHROPIC_BASE_URL", provider.url)
        monkeypatch.setenv("ANTHROPIC_API_KEY", "sk-ant-fake")
        yield provider


@pytest.fixture
def suite_path(tmp_path: Path) -> Path:
    path = tmp_path / "real-models.yaml"
    path.write_text(SUITE.format(agent=json.dumps(str(AGENT))), encoding="utf-8")
    return path


def _cli(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, dict[str, Any], str]:
    code = cli(["eval", *argv, "--resamples", "50"])
    out = capsys.readouterr()
    lines = out.out.strip().splitlines()
    body = json.loads(lines[-1]) if code == 0 and lines else {}
    return code, body, out.out + out.err


def _prompt(body: dict[str, Any]) -> str:
    """Return the text of a request's messages (and Anthropic's system prompt), as the model reads it."""
    parts = [m.get("content") for m in body.get("messages", [])] + [body.get("system")]
    return "\n".join(p for p in parts if isinstance(p, str))


def _served(fake: FakeProvider, doc: str) -> list[Served]:
    return [s for s in fake.served if s.doc == doc]


def _by_case(scores: list[CaseScore]) -> dict[str, CaseScore]:
    return {s.case: s for s in scores}


# -- the defaults ---------------------------------------------------------------------------------------


def test_default_models_are_current_in_the_installed_sdks() -> None:
    import anthropic
    import openai
    from anthropic._data import DEPRECATED_MODELS  # what the SDK warns about on every call
    from anthropic.types import Model as AnthropicModels
    from openai.types import ChatModel
    from openai.types.shared import chat_model

    from agentcrdt.llm import anthropic as ours_anthropic
    from agentcrdt.llm import openai as ours_openai

    def names(alias: Any) -> set[str]:
        out: set[str] = set()
        for arg in typing.get_args(alias):
            out |= {arg} if isinstance(arg, str) else names(arg)
        return out

    defaults = _defaults()
    assert defaults["openai"] in names(ChatModel), openai.__version__
    # The SDK lists deprecated chat models in the docstring after the literal, with shutdown dates.
    deprecated = Path(chat_model.__file__).read_text(encoding="utf-8").partition("Deprecated values:")[2]
    assert f'"{defaults["openai"]}"' not in deprecated
    assert defaults["anthropic"] in names(AnthropicModels), anthropic.__version__
    assert defaults["anthropic"] not in DEPRECATED_MODELS
    # Both defaults have a price, so a run with them reports money, not just tokens.
    assert defaults["openai"] in ours_openai.PRICES_PER_MTOK
    assert defaults["anthropic"] in ours_anthropic.PRICES_PER_MTOK


# -- a run through the CLI, then its replay from the response cache -------------------------------------


@pytest.mark.parametrize("provider", PROVIDERS)
def test_cli_run_scores_records_and_replays(
    provider: str, fake: FakeProvider, suite_path: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    runs = tmp_path / "runs"
    spec = _spec(provider)
    code, first, text = _cli(capsys, str(suite_path), "--model", spec, "--runs", str(runs), "--json")
    assert code == 0, text

    # Scores: exactly the hand-computed figures (module docstring).
    metrics = first["views"]["proposed"]["metrics"]
    for name, value in EXPECTED.items():
        assert metrics[name] == pytest.approx(value), name
    run = load_run(first["run"])
    assert run.summary().counts["fields/parties"] == [0, 2]
    assert run.summary().counts["fields/governing_law"] == [2, 2]

    # What the run records: the model, the version the provider reported, the prompt template hash.
    record = json.loads((Path(first["run"]) / "run.json").read_text(encoding="utf-8"))
    prompt_hash = agent_prompt(load_agent(AGENT)).hash
    assert record["model"] == first["model"] == spec
    assert record["model_version"] == first["model_version"] == _snapshot(provider)
    assert record["reported_versions"] == [_snapshot(provider)]
    assert record["prompts"] == {"contract_fields": prompt_hash}
    for out in run.outputs:
        (proposal,) = out.of_slots()
        provenance = proposal.payload["provenance"]
        assert provenance["model"] == f"{spec}@{_snapshot(provider)}"
        assert provenance["prompt_hash"] == prompt_hash

    # What reached the provider: one request per contract, in its wire format, the document verbatim.
    assert [r.doc for r in fake.requests] == ["one", "two"]
    for seen in fake.requests:
        assert seen.path == ("/v1/messages" if provider == "anthropic" else "/v1/chat/completions")
        assert seen.headers["authorization"].startswith("Bearer sk-")
        case = next(c for c in run.cases if c.name == seen.doc)
        assert (case.inputs.documents[0].text or "-") in _prompt(seen.body)
        if provider == "anthropic":
            assert seen.body["tool_choice"] == {"type": "tool", "name": "Extraction"}
            assert seen.body["model"] == _defaults()["anthropic"]
        else:
            assert seen.body["response_format"]["json_schema"]["name"] == "Extraction"
            assert seen.body["model"] == _defaults()["openai"]  # litellm strips its "openai/" route
    if provider == "openai":
        assert fake.requests[0].body["response_format"]["json_schema"]["strict"] is True

    # Cost per case: the tokens the provider reported, priced by the adapter's table, and the latency.
    pin, pout = _price_per_token(provider)
    for name, score in _by_case(run.scores["proposed"]).items():
        (served,) = _served(fake, name)
        assert score.cost["input_tokens"] == served.prompt_tokens > 100  # the prompt carries the document
        assert score.cost["output_tokens"] == served.completion_tokens > 10
        money = pin * served.prompt_tokens + pout * served.completion_tokens
        assert score.cost["cost_usd"] == pytest.approx(float(money), rel=1e-9)
        assert (score.cost["calls"], score.cost["cached_calls"]) == (1, 0)
        assert score.cost["seconds"] is not None and score.cost["seconds"] > 0
    total = first["views"]["proposed"]["cost"]
    assert total["input_tokens"] == sum(s.prompt_tokens for s in fake.served)
    assert total["cost_usd"] is not None and total["cost_usd"] > 0

    # The same suite again: every answer from the response cache, no HTTP request reaches the provider.
    requests = len(fake.requests)
    code, second, text = _cli(capsys, str(suite_path), "--model", spec, "--runs", str(runs), "--json")
    assert code == 0, text
    assert len(fake.requests) == requests
    assert second["views"]["proposed"]["metrics"] == metrics
    assert second["model_version"] == _snapshot(provider)  # the recorded version replays with the answer
    replayed = second["views"]["proposed"]["cost"]
    assert (replayed["calls"], replayed["cached_calls"]) == (0, 2)
    assert replayed["input_tokens"] == total["input_tokens"]  # the usage recorded with the first call


def test_replay_on_an_empty_cache_fails_clearly(
    fake: FakeProvider, suite_path: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    argv = [str(suite_path), "--model", _spec("openai"), "--runs", str(tmp_path / "runs")]
    code, _, text = _cli(capsys, *argv, "--cache-mode", "replay")
    assert code == 2, text
    assert "replay: 2 model request(s) had no recorded response in the response cache" in text
    assert "(cases: one, two)" in text and "read_write" in text
    assert fake.requests == []  # replay never calls the provider
    # Its twin: once recorded, the same replay passes without calling the provider either.
    assert _cli(capsys, *argv, "--json")[0] == 0
    code, body, text = _cli(capsys, *argv, "--cache-mode", "replay", "--json")
    assert code == 0, text
    assert body["views"]["proposed"]["metrics"]["fields_mean"] == 0.75
    assert len(fake.requests) == 2


def test_cli_records_a_persistent_provider_error_as_a_case_error(
    fake: FakeProvider, suite_path: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # retry-after 0: the real clock runs here, and the retries need not wait.
    fake.add_fault(Fault(status=500, doc="two", times=None, headers={"retry-after": "0"}, message="boom"))
    argv = [str(suite_path), "--model", _spec("openai"), "--runs", str(tmp_path / "runs"), "--json"]
    code, body, text = _cli(capsys, *argv)
    assert code == 0, text  # the run completes
    assert "[2/2] two" in text and "error: contract_fields: 1 item(s) failed" in text
    assert "1 case(s) failed, e.g. two: contract_fields: 1 item(s) failed" in text
    assert "model call failed after 4 attempt(s)" in text and "openai HTTP 500: boom" in text
    assert len(fake.requests_for("two")) == 4  # ModelSettings.max_attempts
    assert body["views"]["proposed"]["metrics"]["fields_mean"] == 0.375  # case two counts as nothing found


# -- provider errors and malformed answers, through the programmatic API --------------------------------


def _model(provider: str, fake: FakeProvider, clock: FakeClock) -> Model:
    """Each adapter built in code, pointed at the fake by its base-URL argument, on a virtual clock."""
    if provider == "openai":
        from agentcrdt.llm.openai import OpenAIModel

        return OpenAIModel(api_key="sk-fake", base_url=fake.openai_base_url, clock=clock)
    if provider == "anthropic":
        from agentcrdt.llm.anthropic import AnthropicModel

        return AnthropicModel(api_key="sk-ant-fake", base_url=fake.url, clock=clock)
    from agentcrdt.llm.litellm import LiteLLMModel

    name = f"openai/{_defaults()['openai']}"
    return LiteLLMModel(name, api_base=fake.openai_base_url, api_key="sk-fake", clock=clock)


def _run(suite_path: Path, model: Model) -> tuple[list[Any], dict[str, CaseScore]]:
    suite = load_suite(suite_path)
    plan = plan_run(suite)
    outputs = run_cases(plan, model, embedder=get_embedder("fake"))
    return outputs, _by_case(score_run(suite, plan.cases, outputs)["proposed"])


def _fields_mean(scores: dict[str, CaseScore]) -> float:
    from agentcrdt.evals.aggregate import summarize

    return summarize(list(scores.values())).metrics["fields_mean"]


@pytest.mark.parametrize("provider", PROVIDERS)
def test_429_is_retried_and_a_persistent_500_is_a_case_error(
    provider: str, fake: FakeProvider, suite_path: Path
) -> None:
    clock = FakeClock()
    fake.add_fault(Fault(status=429, doc="one", times=1, headers={"retry-after": "7"}, message="slow down"))
    fake.add_fault(Fault(status=500, doc="two", times=None, message="boom"))
    outputs, scores = _run(suite_path, _model(provider, fake, clock))

    one, two = outputs
    assert one.error is None and len(one.of_slots()) == 1  # 429, then the answer
    assert len(fake.requests_for("one")) == 2
    assert two.error is not None and two.of_slots() == []
    assert "after 4 attempt(s)" in two.error and "HTTP 500" in two.error and "boom" in two.error
    assert len(fake.requests_for("two")) == 4  # ModelSettings.max_attempts
    # The server's Retry-After is honoured; the 500s back off exponentially with full jitter (0.5 s base).
    assert clock.sleeps[0] == 7.0
    assert len(clock.sleeps) == 4
    assert all(0 <= w <= 0.5 * 2**i for i, w in enumerate(clock.sleeps[1:]))
    # Case two scores as what it produced (nothing): 3 of 8 fields right over the suite.
    assert scores["one"].ratios["fields/parties"] == [0, 1]
    assert scores["two"].ratios["fields/governing_law"] == [0, 1]
    assert _fields_mean(scores) == pytest.approx(0.375)
    assert scores["one"].ratios["validity"] == [1, 1] and "validity" not in scores["two"].ratios


@pytest.mark.parametrize("provider", PROVIDERS)
def test_malformed_answers_are_reasked_then_a_case_error_never_a_proposal(
    provider: str, fake: FakeProvider, suite_path: Path
) -> None:
    fake.add_fault(Fault(malformed=True, doc="one", times=1))  # once: the re-ask gets a good answer
    fake.add_fault(Fault(malformed=True, doc="two", times=None))  # always
    outputs, scores = _run(suite_path, _model(provider, fake, FakeClock()))

    one, two = outputs
    assert one.error is None and len(one.of_slots()) == 1
    first, reask = fake.requests_for("one")
    # The re-ask quotes the validation error back after the model's own bad answer.
    assert "did not validate against the required JSON schema" in _prompt(reask.body)
    assert "confidence" in reask.body["messages"][-1]["content"]
    assert len(reask.body["messages"]) == len(first.body["messages"]) + 2
    # Both rounds are paid for and recorded in the proposal's usage (one request() call, two HTTP calls).
    served = _served(fake, "one")
    assert [s.malformed for s in served] == [True, False]
    assert scores["one"].cost["input_tokens"] == sum(s.prompt_tokens for s in served)
    assert scores["one"].cost["calls"] == 1

    # Always malformed: 1 + max_validation_retries (2) requests, then a case error; as the harness defines
    # it, schema-invalid output never becomes a proposal (so it is no *invalid proposal*: validity counts
    # only the proposals in the room, and stays 1/1).
    assert len(fake.requests_for("two")) == 3
    assert two.error is not None and "failed Extraction validation 3 time(s)" in two.error
    assert two.of_slots() == []
    assert scores["one"].ratios["validity"] == [1, 1] and "validity" not in scores["two"].ratios
    assert _fields_mean(scores) == pytest.approx(0.375)


# -- the real CUAD suite, two contracts ----------------------------------------------------------------


@pytest.mark.skipif(not (CUAD / "master_clauses_dev.csv").is_file(), reason=f"CUAD is not at {CUAD}")
def test_cuad_fields_suite_with_a_real_adapter(
    fake: FakeProvider, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    argv = ["cuad-fields", "--model", _spec("openai"), "--limit", "2", "--runs", str(tmp_path / "runs")]
    code, body, text = _cli(capsys, *argv, "--json")
    assert code == 0, text
    run = load_run(body["run"])
    assert len(run.cases) == 2 and [o.error for o in run.outputs] == [None, None]
    assert len(fake.requests) == 2
    for seen, case in zip(fake.requests, run.cases, strict=True):
        contract = Path(case.inputs.documents[0].path or "").read_text(encoding="utf-8")
        # The whole contract is in the prompt (the fake reads it there), and it is billed as such.
        assert len(contract) > 20_000
        assert re.sub(r"\s+", "", contract)[:2000] in re.sub(r"\s+", "", _prompt(seen.body))
    metrics = body["views"]["proposed"]["metrics"]
    # Both titles (MARKETING AFFILIATE AGREEMENT, VIDEO-ON-DEMAND CONTENT LICENSE AGREEMENT) are found.
    assert metrics["fields/document_name"] == 1.0
    assert metrics["validity"] == 1.0 and metrics["groundedness"] == 1.0  # every quote verbatim
    cost = body["views"]["proposed"]["cost"]
    assert cost["calls"] == 2 and cost["input_tokens"] > 10_000 and cost["cost_usd"] > 0
    assert body["model_version"] == _snapshot("openai")
