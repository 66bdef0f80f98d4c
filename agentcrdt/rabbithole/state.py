"""A rabbithole job's state, as CRDT entities in the room's log, and the pure rules over it.

Everything a job knows lives in two entity types, so a job survives a crash, a stop and a restart, and
every worker of it (several processes, or peers syncing later) reads the same state:

``RabbitholeJob``
    the question or starting document, the limits, and what was spent: nodes claimed, model calls
    reserved and made, tokens, money. Spending is grow-only counters: concurrent workers add up.
``RabbitholeNode``
    one node of the exploration, reached at some depth by some path: a document; a name the documents
    share (an entity); a figure a document states (a claim: "ARR at December 31, 2025 was USD
    12,600,000"); or a passage of another document retrieval finds about that figure (a chunk). Who
    claimed it
    (``claimed_by``, a last-writer-wins register: concurrent claims resolve to one winner on every
    replica), whether it is done, and what exploring it read (``outcome``: the facts later nodes
    compare against).

The frontier, the next node to take, and why a job stops are functions of that state alone
(:class:`JobView`), never of which worker asks or when.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass
from decimal import Decimal
from functools import cached_property
from typing import Annotated, Any, Literal

from pydantic import Field

from agentcrdt.capabilities.spec import Capability
from agentcrdt.dataroom.domain import slug
from agentcrdt.log.keys import digest
from agentcrdt.schema import Entity, GrowCounter

__all__ = [
    "CALLING_KINDS",
    "ENTITIES",
    "JOB_CAPABILITY",
    "STOP_REASONS",
    "Budget",
    "JobView",
    "RabbitholeJob",
    "RabbitholeNode",
    "job_id",
    "node_id",
    "parse_passage",
    "passage_ref",
    "theme_key",
]

#: Why a job stops (or, for ``done``, ends): each budget by name, an asked stop, or nothing left.
STOP_REASONS = ("done", "depth", "nodes", "calls", "tokens", "money", "stopped")
USD_QUANTUM = Decimal("0.000001")  # money is counted in micro-dollars (the log has no floats)


class RabbitholeJob(Entity):
    """An exploration job: where it starts, its limits, and what its workers have spent."""

    question: str = ""
    start: str = ""  # document ids joined by ",", or "" to start from what the question retrieves
    max_depth: Annotated[int, Field(ge=0)] = 2
    max_nodes: Annotated[int, Field(ge=1)] | None = None
    max_calls: Annotated[int, Field(ge=1)] | None = None
    max_tokens: Annotated[int, Field(ge=1)] | None = None
    max_usd_micros: Annotated[int, Field(ge=1)] | None = None
    model: str = ""
    #: Themes of the finished map a model summarizes (the largest first); 0: themes are described
    #: from the graph alone. Under a calls budget, calls for them are kept back from exploring.
    max_themes: Annotated[int, Field(ge=0)] = 0
    created_by: str = ""
    stop_requested: bool = False
    nodes_claimed: Annotated[int, GrowCounter()] = 0
    calls_reserved: Annotated[int, GrowCounter()] = 0
    calls: Annotated[int, GrowCounter()] = 0
    tokens: Annotated[int, GrowCounter()] = 0
    usd_micros: Annotated[int, GrowCounter()] = 0
    cost_unknown: bool = False  # some call's price was unknown: the money figure is a lower bound

    @property
    def starts(self) -> list[str]:
        """The documents the job starts from (empty: it starts from its question)."""
        return [s for s in self.start.split(",") if s]


class RabbitholeNode(Entity):
    """One node of a job reached at ``depth`` from ``parent`` by ``via``. ``ref``: a document's id; an
    entity's name; for a claim or a chunk, the passage as ``<version id>#<start>-<end>``."""

    job: str = ""
    kind: Literal["document", "entity", "claim", "chunk", "theme"] = "document"
    ref: str = ""
    depth: Annotated[int, Field(ge=0)] = 0
    parent: str = ""
    via: str = ""  # "start", "question", "link:amends", "party:Acme Corp", ...
    claimed_by: str = ""
    done: bool = False
    outcome: str = ""  # JSON: what exploring it read (facts, mentions, finding and link counts)


# A theme node is not explored: it is the model's summary of one theme of the finished map (its ref:
# theme_key of the theme's documents and names), written once the job has nothing left to explore.


ENTITIES: tuple[type[Entity], ...] = (RabbitholeJob, RabbitholeNode)
#: The slot a job's workers write the job's own state under (direct: claims and spending are not
#: proposals); what they find goes through the explorer agent's own slot, into review.
JOB_CAPABILITY = Capability("rabbithole", writes=("RabbitholeJob.*", "RabbitholeNode.*"), mode="direct")


def job_id(question: str, start: str, nonce: str) -> str:
    """Return a new job's id: short, readable in commands, unique by ``nonce`` (a time or a uuid)."""
    return "rh-" + digest(f"{question}\0{start}\0{nonce}".encode())[7:19]


#: The node kinds a model reads (their calls are reserved when claimed); an entity or a claim node is
#: explored by looking up the documents naming it or the passages about it.
CALLING_KINDS = frozenset({"document", "chunk"})


def node_id(job: str, ref: str, kind: str = "document") -> str:
    """Return the id of the node ``ref`` of ``kind`` in ``job``: one node per document, per passage,
    and per name however it is spelled ("Acme Corp." and "ACME CORP")."""
    if kind == "document":
        return f"{job}/{ref}"
    return f"{job}/{kind}:{slug(ref) if kind == 'entity' else ref}"


def theme_key(documents: Iterable[str], entities: Iterable[str] = ()) -> str:
    """Return the ``ref`` of the theme node summarizing the theme of ``documents`` and ``entities``:
    the same members give the same key on every replica, and a theme that changed gets a new one."""
    members = "\0".join(sorted(documents)) + "\1" + "\0".join(sorted(entities))
    return "theme-" + digest(members.encode())[7:23]


def passage_ref(version: str, start: int, end: int) -> str:
    """Return the ``ref`` of a claim or chunk node: the span ``start:end`` of document version
    ``version``."""
    return f"{version}#{start}-{end}"


def parse_passage(ref: str) -> tuple[str, str, int, int]:
    """Return ``(document id, version id, start, end)`` of a claim or chunk ``ref``; ValueError if
    ``ref`` is not one."""
    version, sep, span = ref.rpartition("#")
    start, dash, end = span.partition("-")
    if not sep or not dash or not start.isdigit() or not end.isdigit() or "@" not in version:
        raise ValueError(f"not a passage reference: {ref!r} (expected <version id>#<start>-<end>)")
    return version.rpartition("@")[0], version, int(start), int(end)


@dataclass(frozen=True)
class Budget:
    """A job's hard limits (None: no limit). Money in micro-dollars."""

    depth: int = 2
    nodes: int | None = None
    calls: int | None = None
    tokens: int | None = None
    usd_micros: int | None = None

    @classmethod
    def of(cls, job: RabbitholeJob) -> Budget:
        return cls(job.max_depth, job.max_nodes, job.max_calls, job.max_tokens, job.max_usd_micros)


def usd_micros(cost: Decimal) -> int:
    """Return a cost in whole micro-dollars, rounded up (a budget must not be overrun by rounding)."""
    return int((cost / USD_QUANTUM).to_integral_value(rounding="ROUND_CEILING"))


@dataclass(frozen=True)
class JobView:
    """A job and its nodes as one replica sees them; every rule below is a function of them alone."""

    job: RabbitholeJob
    nodes: tuple[RabbitholeNode, ...]

    @classmethod
    def of(cls, job: RabbitholeJob, nodes: Iterable[RabbitholeNode]) -> JobView:
        return cls(job, tuple(sorted((n for n in nodes if n.job == job.id), key=lambda n: n.id)))

    @property
    def budget(self) -> Budget:
        return Budget.of(self.job)

    @cached_property
    def _by_id(self) -> dict[str, RabbitholeNode]:
        return {n.id: n for n in self.nodes}

    def node(self, ref: str, kind: str = "document") -> RabbitholeNode | None:
        return self._by_id.get(node_id(self.job.id, ref, kind))

    def theme_quota(self) -> int:
        """How many themes the job summarizes: ``max_themes``, and under a calls budget at most a fifth
        of it (the rest is for exploring)."""
        calls = self.budget.calls
        return self.job.max_themes if calls is None else min(self.job.max_themes, calls // 5)

    def themes_written(self) -> int:
        return sum(1 for n in self.nodes if n.kind == "theme")

    def themes_reserved(self) -> int:
        """Calls kept back from exploring for theme summaries not yet claimed (under a calls budget), so
        exploring never spends more than the budget less the theme quota."""
        if self.budget.calls is None:
            return 0
        return max(0, self.theme_quota() - self.themes_written())

    def frontier(self) -> list[RabbitholeNode]:
        """Unclaimed, unfinished nodes within the depth limit: shallowest first, then by id."""
        return sorted(
            (n for n in self.nodes if not n.done and not n.claimed_by and n.depth <= self.job.max_depth),
            key=lambda n: (n.depth, n.id),
        )

    def in_flight(self) -> list[RabbitholeNode]:
        """Nodes claimed and not yet done (being explored or summarized, or left by a worker that
        stopped)."""
        return [n for n in self.nodes if n.claimed_by and not n.done]

    def exploring(self) -> bool:
        """Whether a node other than a theme summary is in flight (its result may change the map)."""
        return any(n.kind != "theme" for n in self.in_flight())

    def held_by(self, worker: str) -> list[RabbitholeNode]:
        """Nodes ``worker`` claimed and did not finish: it takes them up again first (a restart)."""
        return [n for n in self.in_flight() if n.claimed_by == worker]

    def done(self) -> list[RabbitholeNode]:
        return [n for n in self.nodes if n.done]

    def beyond_depth(self) -> list[RabbitholeNode]:
        return [n for n in self.nodes if not n.done and n.depth > self.job.max_depth]

    def stop_reason(self, calls_per_node: int, *, theme: bool = False) -> str | None:
        """Why no further node (``theme``: theme summary) may be claimed now, or None. A node reserves
        its model calls when it is claimed, so the calls budget is never exceeded; tokens and money are
        known only after a call, so those budgets stop the job once reached (the nodes in flight
        finish). Theme summaries do not count against the nodes budget, and exploring leaves their
        calls (:meth:`themes_reserved`) for them."""
        job, b = self.job, self.budget
        if job.stop_requested:
            return "stopped"
        if not theme and b.nodes is not None and job.nodes_claimed >= b.nodes:
            return "nodes"
        kept = 0 if theme else self.themes_reserved()
        if b.calls is not None and job.calls_reserved + calls_per_node + kept > b.calls:
            return "calls"
        if b.tokens is not None and job.tokens >= b.tokens:
            return "tokens"
        if b.usd_micros is not None and job.usd_micros >= b.usd_micros:
            return "money"
        return None

    def end_reason(self, calls_per_node: int) -> str | None:
        """Why the job is over (nothing in flight), or None while there is work: a budget, an asked
        stop, ``depth`` (only nodes past the depth limit are left) or ``done`` (nothing left)."""
        if self.in_flight():
            return None
        reason = self.stop_reason(calls_per_node)
        if reason is not None and self.frontier():
            return reason
        if self.frontier():
            return None
        return "depth" if self.beyond_depth() else "done"


def outcome_json(facts: list[dict[str, Any]], **counts: Any) -> str:
    """Encode a node's outcome (the facts later nodes compare against, and counts) canonically."""
    return json.dumps({"facts": facts, **counts}, sort_keys=True, separators=(",", ":"))


def outcome_of(node: RabbitholeNode) -> dict[str, Any]:
    """Decode a node's outcome ({} for a node not explored yet, or an unreadable one)."""
    try:
        value = json.loads(node.outcome) if node.outcome else {}
    except ValueError:
        return {}
    return value if isinstance(value, dict) else {}
