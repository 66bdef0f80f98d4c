"""Suite files: the shipped ones load, their JSON Schemas are current, bad files say what is wrong."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from agentcrdt.errors import UsageError
from agentcrdt.evals.suite import load_suite, suite_schema

EVALS = Path(__file__).resolve().parents[2] / "evals"


@pytest.mark.parametrize("name", ["falcon", "cuad-fields"])
def test_shipped_suites_load_and_point_at_a_current_schema(name: str) -> None:
    path = EVALS / f"{name}.yaml"
    suite = load_suite(path)
    assert suite.name == name
    first = path.read_text(encoding="utf-8").splitlines()[0]
    assert first == f"# yaml-language-server: $schema=./{name}_schema.json"
    stored = json.loads((EVALS / f"{name}_schema.json").read_text(encoding="utf-8"))
    assert stored == suite_schema(), "regenerate with: agentcrdt eval schema " + str(path)


def _write(tmp_path: Path, text: str, name: str = "s.yaml") -> Path:
    p = tmp_path / name
    p.write_text(text, encoding="utf-8")
    return p


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("name: s\nscorers: [fields]\ncases: []\n", "agents"),
        ("name: s\nagents: [{path: a.py}]\nscorers: [fields]\n", "needs cases"),
        ("name: s\nagents: [{path: a.py}]\nscorers: [vibes]\nloader: {name: falcon}\n", "scorers.0"),
        (
            "name: s\nagents: [{path: a.py}]\nscorers: [fields]\ncases:\n"
            "  - {name: c, expected_output: {},\n"
            "     inputs: {documents: [{name: a.txt, text: x, path: a.txt}]}}\n",
            "exactly one of path or text",
        ),
        (
            "name: s\nagents: [{path: a.py}]\nscorers: [fields]\ncases:\n"
            "  - {name: c, inputs: {documents: [{name: a.txt, text: x}]}, expected_output: {}}\n"
            "  - {name: c, inputs: {documents: [{name: a.txt, text: y}]}, expected_output: {}}\n",
            "repeated: c",
        ),
        ("name: [unclosed\n", "not valid YAML"),
        ("- just a list\n", "must hold a mapping"),
    ],
)
def test_a_bad_suite_file_is_one_clear_error(tmp_path: Path, text: str, message: str) -> None:
    with pytest.raises(UsageError, match=message):
        load_suite(_write(tmp_path, text))


def test_a_jsonl_suite_takes_its_header_from_the_yaml_of_the_same_stem(tmp_path: Path) -> None:
    _write(tmp_path, "name: mine\nagents: [{path: a.py}]\nscorers: [fields]\n", "mine.yaml")
    case = {
        "name": "c1",
        "inputs": {"documents": [{"name": "a.txt", "text": "x"}]},
        "expected_output": {"documents": {"a": {"fields": {"f": {"value": None}}}}},
    }
    path = _write(
        tmp_path, json.dumps(case) + "\n\n" + json.dumps({**case, "name": "c2"}) + "\n", "mine.jsonl"
    )
    suite = load_suite(path)
    assert suite.name == "mine" and [c.name for c in suite.cases] == ["c1", "c2"]
    assert suite.resolve("a.py") == tmp_path / "a.py"
    _write(tmp_path, "{not json}\n", "bad.jsonl")
    with pytest.raises(UsageError, match=r"bad\.jsonl:1"):
        load_suite(tmp_path / "bad.jsonl")


def test_a_missing_suite_file_says_what_to_pass(tmp_path: Path) -> None:
    with pytest.raises(UsageError, match="no suite file"):
        load_suite(tmp_path / "nope.yaml")
