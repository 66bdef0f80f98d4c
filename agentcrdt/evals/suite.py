"""Suites: cases (documents in, the agents to run, what their proposals should say), read from YAML/JSONL.

A suite file follows pydantic-evals' dataset layout, so editors and people who know that library read it
at once: ``cases: [{name, inputs, expected_output, metadata}]`` and a first line
``# yaml-language-server: $schema=./<stem>_schema.json`` pointing at the JSON Schema generated from these
models (:func:`write_schema`). What we add is the suite header: the agents to run, the scorers, how field
values are normalized, and optionally a ``loader`` that builds the cases from an external dataset (CUAD,
WiCE) instead of listing them inline. A JSONL file holds one case per line and takes its header from a
YAML file of the same stem, or runs with the defaults.

Paths in a suite (agents, documents, a loader's ``data``) are relative to the suite file.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, PrivateAttr, ValidationError, model_validator

from agentcrdt.errors import UsageError

__all__ = [
    "SCORERS",
    "VERDICTS",
    "AgentRun",
    "Case",
    "CaseInputs",
    "ContradictionExpectation",
    "DocumentExpectation",
    "DocumentInput",
    "Expected",
    "ExplorationJob",
    "FieldExpectation",
    "LinkExpectation",
    "LoaderSpec",
    "Side",
    "Suite",
    "VerdictExpectation",
    "load_suite",
    "suite_schema",
    "write_schema",
]

#: The scorers a suite may name (see :mod:`agentcrdt.evals.scorers`); validity, groundedness,
#: calibration and cost are always reported.
SCORERS = ("kind", "tags", "fields", "links", "contradictions", "verdicts", "exploration")
#: The verdicts a claim can get (WiCE's labels), in report order.
VERDICTS = ("supported", "partially_supported", "not_supported")


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class DocumentInput(_Model):
    """A document of a case: a file (``path``, relative to the suite file) or inline ``text``."""

    name: str = Field(description="The file name the room sees; its stem is the document id.")
    path: str | None = Field(default=None, description="A file to read, relative to the suite file.")
    text: str | None = Field(default=None, description="The document's text, inline.")

    @model_validator(mode="after")
    def _one_source(self) -> DocumentInput:
        if (self.path is None) == (self.text is None):
            raise ValueError(f"document {self.name!r} needs exactly one of path or text")
        return self


class ExplorationJob(_Model):
    """A rabbithole job an explorer agent runs on the case's room (instead of a worker's pass)."""

    start: list[str] = Field(default_factory=list, description="Document ids the job starts from.")
    question: str = Field(default="", description="Or a question: the documents it retrieves start it.")
    depth: int = Field(default=2, ge=0, description="How far from the start the job goes.")
    calls: int | None = Field(default=None, ge=1, description="The job's model-call budget.")
    nodes: int | None = Field(default=None, ge=1, description="The job's node budget.")
    themes: int = Field(
        default=3, ge=0, description="Themes of the finished map the model summarizes (calls counted apart)."
    )
    baseline_k: int = Field(
        default=3, ge=1, description="The naive baseline: each document against its k most similar."
    )


class CaseInputs(_Model):
    """What the agents get: the documents put into a fresh room, in order."""

    documents: list[DocumentInput] = Field(min_length=1)
    job: ExplorationJob | None = Field(default=None, description="For explorer agents (else the suite's).")


class FieldExpectation(_Model):
    """The expected value of one extracted field; ``value: null`` means the document has no such field
    (a prediction is then wrong, predicting nothing is right). ``spans`` are the gold clause texts."""

    value: str | None
    spans: list[str] = Field(default_factory=list)
    alternatives: list[str] = Field(default_factory=list, description="Other values also counted right.")


class DocumentExpectation(_Model):
    """What the proposals should say about one document (by id: its file name without extension)."""

    kind: str | None = None
    tags: list[str] | None = Field(default=None, description="The complete set of expected tags.")
    fields: dict[str, FieldExpectation] = Field(default_factory=dict)


class LinkExpectation(_Model):
    """An expected typed link between two documents; ``symmetric`` accepts either direction."""

    source: str
    relation: str
    target: str
    symmetric: bool = False


class ConnectionExpectation(_Model):
    """Two documents a reviewer should see connected, in either order (they share parties, say),
    by a link or a connection finding citing both."""

    a: str
    b: str
    why: str = ""


class Side(_Model):
    """One side of a contradiction: a document, and the quote evidence must overlap (any, when null)."""

    document: str
    quote: str | None = None


class ContradictionExpectation(_Model):
    """An expected contradiction: one finding whose evidence covers some side of ``a`` and of ``b``."""

    id: str
    a: list[Side] = Field(min_length=1, description="Alternatives for the first side.")
    b: list[Side] = Field(min_length=1, description="Alternatives for the second side.")


class VerdictExpectation(_Model):
    """The expected verdict on a claim (a document of the case) checked against a source document.

    ``evidence`` holds the gold supporting sentences as alternative sets of line numbers of the source
    (0-based; a set is enough on its own): quotes are scored against the best-matching set.
    """

    claim: str = Field(description="The id of the claim's document.")
    source: str = Field(description="The id of the source document its evidence lines are in.")
    label: Literal["supported", "partially_supported", "not_supported"]
    evidence: list[list[int]] = Field(
        default_factory=list, description="Alternative sets of source line numbers that support it."
    )


class Expected(_Model):
    """The expected findings of a case; a scorer only runs where the case says something for it."""

    documents: dict[str, DocumentExpectation] = Field(default_factory=dict)
    links: list[LinkExpectation] | None = None
    #: Connections beyond the typed links (shared parties), scored with the links as document pairs.
    connections: list[ConnectionExpectation] | None = None
    contradictions: list[ContradictionExpectation] | None = None
    verdicts: list[VerdictExpectation] | None = None


class Case(_Model):
    """One case: a fresh room with ``inputs``, scored against ``expected_output``."""

    name: str = Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9._-]{0,199}$")
    inputs: CaseInputs
    expected_output: Expected
    metadata: dict[str, Any] = Field(default_factory=dict)


class AgentRun(_Model):
    """An agent to run in each case's room, in order; ``accept``: an owner accepts all its pending
    proposals right after it ran (a reviewer who trusts it), so later agents see them."""

    path: str = Field(description="agents/<file>.py[:Class], relative to the suite file.")
    accept: bool = False


class LoaderSpec(_Model):
    """Cases built by a loader from an external dataset (see :mod:`agentcrdt.evals.loaders`)."""

    name: str = Field(description="A registered loader: falcon, cuad-fields, cuad-tags, ...")
    data: str | None = Field(default=None, description="The dataset directory, relative to the suite file.")
    options: dict[str, Any] = Field(default_factory=dict)


class Suite(_Model):
    """A suite: its agents, scorers and cases (inline or from a loader)."""

    name: str = Field(pattern=r"^[a-z0-9][a-z0-9_-]{0,62}$")
    description: str = ""
    agents: list[AgentRun] = Field(min_length=1)
    scorers: list[Literal["kind", "tags", "fields", "links", "contradictions", "verdicts", "exploration"]] = (
        Field(min_length=1)
    )
    normalizers: dict[str, str] = Field(
        default_factory=dict,
        description="Field name -> normalizer: text, date, duration, parties, jurisdiction, title, net, usd.",
    )
    views: list[Literal["proposed", "applied"]] = Field(
        default=["proposed"],
        description="proposed: the room plus every pending proposal; applied: what the room holds.",
    )
    embedder: str = Field(
        default="minilm", description="Embedder for retrieval and the offline model: minilm, fake[:dim]."
    )
    job: ExplorationJob | None = Field(
        default=None, description="The job explorer agents run on each case (a case's own job wins)."
    )
    cases: list[Case] = Field(default_factory=list)
    loader: LoaderSpec | None = None
    #: Where the file was read from (paths resolve against it); not part of the file.
    _base_dir: Path = PrivateAttr(default_factory=Path.cwd)

    @model_validator(mode="after")
    def _has_cases(self) -> Suite:
        if not self.cases and self.loader is None:
            raise ValueError("a suite needs cases (inline, or from a JSONL file) or a loader")
        names = [c.name for c in self.cases]
        if len(set(names)) != len(names):
            dup = sorted({n for n in names if names.count(n) > 1})
            raise ValueError(f"case names must be unique; repeated: {', '.join(dup[:5])}")
        return self

    def resolve(self, relative: str) -> Path:
        """Return a path of the suite (agent, document, data) as an absolute path."""
        path = Path(relative).expanduser()
        return path if path.is_absolute() else (self._base_dir / path).resolve()

    @property
    def base_dir(self) -> Path:
        """Return the directory the suite's relative paths start from (its file's directory)."""
        return self._base_dir

    def digest(self) -> str:
        """Return the ``sha256:`` digest of the suite's definition (header and inline cases)."""
        raw = json.dumps(self.model_dump(mode="json"), sort_keys=True, separators=(",", ":"))
        return "sha256:" + hashlib.sha256(raw.encode()).hexdigest()


def suite_schema() -> dict[str, Any]:
    """Return the JSON Schema a suite file is validated against (generated from :class:`Suite`)."""
    schema = Suite.model_json_schema()
    schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    schema["title"] = "agentcrdt eval suite"
    return schema


def write_schema(suite_path: str | Path) -> Path:
    """Write ``<stem>_schema.json`` next to a suite file (what its first line points the editor at)."""
    path = Path(suite_path)
    out = path.with_name(f"{path.stem}_schema.json")
    out.write_text(json.dumps(suite_schema(), indent=2, sort_keys=True) + "\n", encoding="utf-8")
    return out


def _yaml(path: Path) -> Any:
    import yaml

    try:
        return yaml.safe_load(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as e:
        raise UsageError(f"{path} is not valid YAML: {e}") from e


def _problems(e: ValidationError) -> str:
    lines = []
    for err in e.errors()[:8]:
        where = ".".join(str(p) for p in err["loc"]) or "(top level)"
        lines.append(f"{where}: {err['msg']}")
    more = f" (and {e.error_count() - 8} more)" if e.error_count() > 8 else ""
    return "; ".join(lines) + more


def _jsonl_cases(path: Path) -> list[Any]:
    cases = []
    for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        if not line.strip():
            continue
        try:
            cases.append(json.loads(line))
        except json.JSONDecodeError as e:
            raise UsageError(f"{path}:{n}: not a JSON object ({e.msg}); one case per line") from e
    return cases


def load_suite(path: str | Path) -> Suite:
    """Read and validate a suite file (``.yaml``/``.yml``, or ``.jsonl`` with a same-stem YAML header).

    Errors name the file and the first problems, with their location in the file.
    """
    p = Path(path)
    if not p.is_file():
        raise UsageError(f"no suite file at {p}; pass a .yaml or .jsonl suite (see evals/README.md)")
    data: Any
    if p.suffix == ".jsonl":
        header = next((h for h in (p.with_suffix(".yaml"), p.with_suffix(".yml")) if h.is_file()), None)
        data = _yaml(header) if header is not None else {}
        if not isinstance(data, Mapping):
            raise UsageError(f"{header} must hold a suite header (a mapping)")
        data = {**data, "cases": [*data.get("cases", []), *_jsonl_cases(p)]}
        data.setdefault("name", p.stem.lower().replace(".", "-"))
    elif p.suffix in (".yaml", ".yml"):
        data = _yaml(p)
    else:
        raise UsageError(f"{p}: a suite is a .yaml, .yml or .jsonl file")
    if not isinstance(data, Mapping):
        raise UsageError(f"{p} must hold a mapping with name, agents, scorers and cases (or a loader)")
    try:
        suite = Suite.model_validate(data)
    except ValidationError as e:
        raise UsageError(f"{p} is not a valid suite: {_problems(e)}") from e
    suite._base_dir = p.resolve().parent
    return suite
