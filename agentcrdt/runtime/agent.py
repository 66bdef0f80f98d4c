"""Agent definitions: what an agent reads, how it prompts a model, and what it proposes.

Users subclass :class:`Agent` in a Python file under ``agents/`` and the worker loads it **by path**
(:func:`load_agent`): ``agents`` is never imported as a package (the name clashes with the OpenAI Agents
SDK's module). A minimal agent is a name, a capability, instructions and two methods; the output type
is the generic parameter, and the prompt is generated from the instructions and the output's schema::

    class Titler(Agent[Title]):
        instructions = "Give each note a short title, quoting the note."   # or a docstring
        name = "titler"
        capability = Capability("titler", writes=("Note.title",), reads=("Note.*",))

        def select(self, reader): ...                       # -> list[WorkItem] (through the Reader)
        def proposals(self, item, output: Title): ...       # -> list[ProposalDraft]

A larger agent names a Jinja template instead (``prompt = "tagger.md.j2"``, under the repo's prompts/
dir, or absolute) and fills it from ``context(item, retrieval)``.
"""

from __future__ import annotations

import importlib.util
import inspect
import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from types import ModuleType
from typing import TYPE_CHECKING, Any, ClassVar, Generic, TypeVar, get_args, get_origin

import orjson
from pydantic import BaseModel

from agentcrdt.capabilities.spec import Capability
from agentcrdt.errors import UsageError
from agentcrdt.llm.base import ModelSettings
from agentcrdt.log.keys import digest
from agentcrdt.materialize.atoms import Reader
from agentcrdt.rooms.workflow import Evidence
from agentcrdt.schema import Entity

if TYPE_CHECKING:
    from agentcrdt.runtime.context import Retrieval

__all__ = [
    "Agent",
    "ProposalDraft",
    "TextKey",
    "WorkItem",
    "check_evidence",
    "content_hash",
    "find_evidence",
    "load_agent",
    "load_sibling",
]

TextKey = tuple[str, str, str]  # (entity type, entity id, field)
OutputT = TypeVar("OutputT", bound=BaseModel)
_MAX_MATCHES = 1000


def content_hash(value: Any) -> str:
    """Return the ``sha256:`` digest of a JSON value in canonical form (sorted keys, compact)."""
    try:
        raw = orjson.dumps(value, option=orjson.OPT_SORT_KEYS | orjson.OPT_NON_STR_KEYS)
    except TypeError as e:
        raise UsageError(f"work item inputs must be JSON values (str, int, list, dict…): {e}") from e
    return digest(raw)


@dataclass(frozen=True)
class WorkItem:
    """One unit of work: an entity and exactly what the agent will read about it.

    ``inputs`` (JSON values) and ``texts`` (the text fields the agent reads, by ``(type, id, field)``,
    against which evidence is checked) are hashed into :meth:`input_id`; ``data`` is free-form and not
    hashed, so put nothing there that changes what the model sees.
    """

    entity: str
    entity_id: str
    inputs: Mapping[str, Any] = field(default_factory=dict)
    texts: Mapping[TextKey, str] = field(default_factory=dict)
    data: Any = None

    @property
    def key(self) -> str:
        """Return ``Type/id``."""
        return f"{self.entity}/{self.entity_id}"

    def content_hash(self) -> str:
        """Return the digest of what the agent reads (inputs and texts)."""
        texts = sorted([list(k), v] for k, v in self.texts.items())
        return content_hash({"inputs": dict(self.inputs), "texts": texts})

    def input_id(self, agent_name: str, prompt_hash: str) -> str:
        """Return the stable id of this input for one agent and prompt: same input, same id."""
        return content_hash(
            {
                "agent": agent_name,
                "entity": [self.entity, self.entity_id],
                "content": self.content_hash(),
                "prompt": prompt_hash,
            }
        )


@dataclass(frozen=True)
class ProposalDraft:
    """A proposal as the agent wants it; the worker checks its evidence, then signs and appends it."""

    ops: Sequence[dict[str, Any]]
    rationale: str
    confidence: Decimal | str | float
    kind: str = "update"
    evidence: Sequence[Evidence] = ()


def find_evidence(
    texts: Mapping[TextKey, str],
    entity: str,
    entity_id: str,
    field_name: str,
    quote: str,
    start: int | None = None,
) -> Evidence | None:
    """Return an :class:`Evidence` for ``quote`` in that field's text, or None if it is not there verbatim.

    The span at ``start`` is used when it matches; otherwise the occurrence nearest ``start`` (or the
    first one). Models misplace offsets often and misquote sometimes: the offsets are repaired, the
    words never are.
    """
    text = texts.get((entity, entity_id, field_name))
    if text is None or not quote:
        return None
    if start is not None and text[start : start + len(quote)] == quote:
        return Evidence(entity, entity_id, field_name, start, start + len(quote), quote)
    hits: list[int] = []
    i = text.find(quote)
    while i >= 0 and len(hits) < _MAX_MATCHES:
        hits.append(i)
        i = text.find(quote, i + 1)
    if not hits:
        return None
    best = min(hits, key=lambda h: (abs(h - (start or 0)), h)) if start is not None else hits[0]
    return Evidence(entity, entity_id, field_name, best, best + len(quote), quote)


def check_evidence(evidence: Sequence[Evidence], texts: Mapping[TextKey, str]) -> tuple[list[Evidence], int]:
    """Re-check every span against the texts read; repair misplaced offsets, drop what is not verbatim.

    Returns the checked evidence (duplicates removed) and how many items were dropped.
    """
    kept: list[Evidence] = []
    dropped = 0
    for ev in evidence:
        fixed = find_evidence(texts, ev.entity, ev.entity_id, ev.field, ev.quote, ev.start)
        if fixed is None:
            dropped += 1
        elif fixed not in kept:
            kept.append(fixed)
    return kept, dropped


class Agent(Generic[OutputT]):
    """Base class of agents: subclass ``Agent[YourOutput]`` and set the class attributes; see the
    module docstring."""

    name: ClassVar[str] = ""
    capability: ClassVar[Capability]
    #: A template file; empty: the prompt is generated from ``instructions`` and the output's schema.
    prompt: ClassVar[str] = ""
    #: What the model is asked to do (default: the class docstring); used when there is no template.
    instructions: ClassVar[str] = ""
    #: The structured output (a pydantic model); set from the generic parameter when not given.
    output: ClassVar[type[BaseModel]]
    #: Entity classes for typed tables: pass the same ones every process opening the room uses.
    entities: ClassVar[tuple[type[Entity], ...]] = ()
    #: Text fields ``(type, field)`` to keep in the retrieval index (empty: no retrieval).
    retrieval_sources: ClassVar[tuple[tuple[str, str], ...]] = ()
    settings: ClassVar[ModelSettings | None] = None
    #: The file the agent was loaded from (set by :func:`load_agent`); prompts resolve next to its repo.
    source_path: Path | None = None

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        if "output" in cls.__dict__:
            return
        for base in getattr(cls, "__orig_bases__", ()):
            if get_origin(base) is Agent:
                (arg,) = get_args(base)
                if inspect.isclass(arg) and issubclass(arg, BaseModel):
                    cls.output = arg

    def task_instructions(self) -> str:
        """Return the instructions of the generated prompt: ``instructions``, else the docstring."""
        return (self.instructions or inspect.getdoc(type(self)) or "").strip()

    def select(self, reader: Reader) -> list[WorkItem]:
        """Return what to process now; read only through ``reader`` so changes to it wake the worker."""
        raise NotImplementedError(f"{type(self).__name__}.select(reader) is not implemented")

    def context(self, item: WorkItem, retrieval: Retrieval | None) -> dict[str, Any]:
        """Return the template variables for ``item`` (default: its inputs)."""
        return dict(item.inputs)

    def model_context(self, item: WorkItem, variables: Mapping[str, Any]) -> Mapping[str, Any] | None:
        """Return the structured task input for the model (the offline model reads only this).

        Default: ``variables["task"]`` when it is a pydantic model or a mapping; otherwise what the item
        carries, ``{"texts": [{"entity", "id", "field", "text"}, ...], "inputs": {...}}``, which the
        offline model's schema baseline reads (and quotes) for output types of your own.
        """
        task = variables.get("task")
        if isinstance(task, BaseModel):
            dumped: dict[str, Any] = task.model_dump(mode="json")
            return dumped
        if isinstance(task, Mapping):
            return task
        texts = [{"entity": e, "id": i, "field": f, "text": t} for (e, i, f), t in sorted(item.texts.items())]
        return {"texts": texts, "inputs": dict(item.inputs)}

    def proposals(self, item: WorkItem, output: OutputT) -> list[ProposalDraft]:
        """Turn the model's validated output into proposal drafts (may be empty)."""
        raise NotImplementedError(f"{type(self).__name__}.proposals(item, output) is not implemented")

    @classmethod
    def check_definition(cls) -> None:
        """Raise UsageError when a required class attribute is missing or malformed."""
        where = cls.__qualname__
        if not isinstance(cls.name, str) or not cls.name:
            raise UsageError(f"agent {where} needs a class attribute name = '...'")
        if not isinstance(getattr(cls, "capability", None), Capability):
            raise UsageError(f"agent {where} needs capability = Capability(slot, writes=..., ...)")
        if not isinstance(cls.prompt, str):
            raise UsageError(f"agent {where}: prompt must be a template file name (or left out)")
        if not cls.prompt and not (cls.instructions or cls.__doc__):
            raise UsageError(
                f"agent {where} needs instructions = '...' (or a docstring) for its generated prompt, "
                "or prompt = 'template.md.j2' (a file under prompts/)"
            )
        out = getattr(cls, "output", None)
        if not (inspect.isclass(out) and issubclass(out, BaseModel)):
            raise UsageError(
                f"agent {where} needs an output type: class {cls.__name__}(Agent[YourModel]) with a pydantic "
                "BaseModel, or output = YourModel"
            )


def _import_file(path: Path) -> Any:
    # A private module name per file: agent files are content, not a package, and two files may share
    # a stem. Registered in sys.modules so dataclasses/pydantic can resolve the module's names.
    module_name = "agentcrdt_agent_" + digest(str(path).encode())[7:23]
    spec = importlib.util.spec_from_file_location(module_name, path)
    if spec is None or spec.loader is None:
        raise UsageError(f"cannot load {path} as Python source")
    module = importlib.util.module_from_spec(spec)
    sys.modules[module_name] = module
    try:
        spec.loader.exec_module(module)
    except BaseException:
        del sys.modules[module_name]
        raise
    return module


def load_sibling(anchor: str | Path, filename: str) -> ModuleType:
    """Load a helper module that sits next to an agent file, by path, once per process.

    Agent files are loaded by path, never imported as a package (``agents`` clashes with the OpenAI
    Agents SDK), so a shared helper (``agents/_vocabulary.py``) is loaded the same way:
    ``V = load_sibling(__file__, "_vocabulary.py")``.
    """
    path = Path(anchor).resolve().with_name(filename)
    if not path.is_file():
        raise UsageError(f"no helper module {filename!r} next to {anchor}")
    name = "agentcrdt_agent_helper_" + digest(str(path).encode())[7:19]
    module = sys.modules.get(name)
    if module is None:
        spec = importlib.util.spec_from_file_location(name, path)
        if spec is None or spec.loader is None:
            raise UsageError(f"cannot load {path}")
        module = importlib.util.module_from_spec(spec)
        sys.modules[name] = module  # before exec: dataclasses and typing look the module up by name
        spec.loader.exec_module(module)
    return module


def load_agent(spec: str | Path) -> Agent[Any]:
    """Load ``path/to/file.py[:ClassName]`` by path and return an instance of the agent class.

    Without ``:ClassName`` the file must define exactly one :class:`Agent` subclass.
    """
    text = str(spec)
    path_text, _, class_name = text.partition(":") if text.count(":") == 1 else (text, "", "")
    if text.count(":") > 1:  # "C:\\x.py:Name" and friends: split at the last colon
        path_text, _, class_name = text.rpartition(":")
    path = Path(path_text).resolve()
    if path.suffix != ".py" or not path.is_file():
        raise UsageError(f"no agent file at {path_text}; pass --agent agents/<file>.py[:ClassName]")
    module = _import_file(path)
    if class_name:
        cls = getattr(module, class_name, None)
        if cls is None:
            raise UsageError(f"{path_text} defines no {class_name!r}")
        if not (inspect.isclass(cls) and issubclass(cls, Agent) and cls is not Agent):
            raise UsageError(f"{path_text}:{class_name} is not a subclass of agentcrdt.runtime.Agent")
    else:
        found = [
            c
            for c in vars(module).values()
            if inspect.isclass(c)
            and issubclass(c, Agent)
            and c is not Agent
            and c.__module__ == module.__name__
        ]
        if not found:
            raise UsageError(f"{path_text} defines no subclass of agentcrdt.runtime.Agent")
        if len(found) > 1:
            names = ", ".join(sorted(c.__name__ for c in found))
            raise UsageError(f"{path_text} defines several agents ({names}); pick one with {path_text}:Name")
        cls = found[0]
    cls.check_definition()
    agent: Agent[Any] = cls()
    agent.source_path = path
    return agent
