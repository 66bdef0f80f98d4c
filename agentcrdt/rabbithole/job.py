"""Running a rabbithole job: claim a node, explore it, record what it found; until a budget or the
frontier ends it.

Each step that changes the job is one store transaction (``replica.batch()``, ``BEGIN IMMEDIATE`` on
SQLite), so workers in several processes on one room file never claim the same node and never spend
past a budget: a claim reads the latest state and writes the claim (and its reserved model calls) in the
same transaction. Finishing a node writes its proposals, its outcome, the discovered nodes and what it
spent in one transaction too, so a kill loses at most the node in flight, which the same worker takes up
again when it restarts (its claim still names it); proposals are idempotent by input id, so a node
explored twice proposes nothing twice.

Peers on *other* replicas may claim one node concurrently; the claim register resolves to one winner on
every replica, and the loser's work is kept (it is a proposal like any other).
"""

from __future__ import annotations

import time
import weakref
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any, Protocol

import anyio

from agentcrdt.errors import NotFound, UsageError
from agentcrdt.llm.base import Usage
from agentcrdt.ops.state import EntityState
from agentcrdt.rabbithole.state import (
    CALLING_KINDS,
    JobView,
    RabbitholeJob,
    RabbitholeNode,
    job_id,
    node_id,
    outcome_json,
    outcome_of,
    usd_micros,
)
from agentcrdt.replica import Replica
from agentcrdt.runtime._outbox import Outcome, Pending, commit_batch

__all__ = [
    "Explorer",
    "JobRunner",
    "NodeResult",
    "RunSummary",
    "create_job",
    "read_job",
    "request_stop",
    "seen_facts",
    "seen_related",
]


@dataclass
class NodeResult:
    """What exploring one node produced: drafts to propose, nodes discovered, facts read, spending."""

    pending: list[tuple[str, Pending]] = field(default_factory=list)  # (slot, draft with its texts)
    discovered: list[tuple[str, str]] = field(default_factory=list)  # (document id, via)
    entities: list[tuple[str, str]] = field(default_factory=list)  # (name, via): entity nodes to explore
    claim_nodes: list[tuple[str, str]] = field(default_factory=list)  # (passage ref, via): claims to follow
    chunks: list[tuple[str, str]] = field(default_factory=list)  # (passage ref, via): passages to read
    facts: list[dict[str, Any]] = field(default_factory=list)
    claims: list[dict[str, Any]] = field(default_factory=list)  # figures stated, same shape as facts
    found: list[str] = field(default_factory=list)  # ids of the findings proposed (proposed once a job)
    relations: list[list[str]] = field(default_factory=list)  # [source, relation, target], explicit ones
    usage: Usage = field(default_factory=Usage)
    calls: int = 0
    counts: dict[str, int] = field(default_factory=dict)
    theme: dict[str, Any] | None = None  # a theme node's summary: label, summary, evidence (checked)


class Explorer(Protocol):
    """Explores one node. ``calls_per_node`` is the most model calls a document or chunk node makes
    (reserved against the calls budget when the node is claimed); an entity or claim node makes none
    (it looks up the documents naming it, or the passages about it)."""

    calls_per_node: int

    def seeds(self, replica: Replica, job: RabbitholeJob) -> list[tuple[str, str]]:
        """Return the starting documents ``(id, via)`` of a new job."""
        ...

    async def explore(
        self, replica: Replica, job: RabbitholeJob, node: RabbitholeNode, seen: JobView
    ) -> NodeResult:
        """Explore ``node`` (``seen``: the job as of the claim, for the facts earlier nodes read)."""
        ...

    async def summarize(self, replica: Replica, job: RabbitholeJob, theme: dict[str, Any]) -> NodeResult:
        """Summarize one theme of the job's finished map (``theme``: as :func:`build_map` gives it) in
        at most ``THEME_CALLS`` model calls; the result's ``theme`` holds the summary, its quotes
        checked verbatim, or None when the model gave none."""
        ...


#: Model calls one theme summary reserves.
THEME_CALLS = 1


def read_job(replica: Replica, job: str) -> JobView:
    """Return the job ``job`` (``latest``: the one created last) and its nodes as ``replica`` sees them;
    NotFound if there is no such job."""
    if job == "latest":
        every = replica.all(RabbitholeJob)
        if not every:
            raise NotFound("no rabbithole job in this room yet: start one with agentcrdt rabbithole run")
        job = max(every, key=lambda j: (j.created_at, j.id)).id
    found = replica.get(RabbitholeJob, job)
    if found is None:
        jobs = ", ".join(j.id for j in replica.all(RabbitholeJob)) or "none yet"
        raise NotFound(f"no rabbithole job {job!r} in this room (jobs: {jobs})")
    return JobView.of(found, _nodes(replica))


# Nodes built from each replica's states, reused while a state is unchanged: a worker reads the job at
# every claim and finish, and building every node each time made a job quadratic in its nodes.
_NODES: weakref.WeakKeyDictionary[Replica, dict[str, tuple[EntityState, int, RabbitholeNode | None]]] = (
    weakref.WeakKeyDictionary()
)


def _nodes(replica: Replica) -> list[RabbitholeNode]:
    cache = _NODES.setdefault(replica, {})
    out: list[RabbitholeNode] = []
    states = replica.entity_states(RabbitholeNode.entity_type)
    for eid, st in states:
        hit = cache.get(eid)
        if hit is None or hit[0] is not st or hit[1] != st.touched:
            # A fresh node whenever its state changed (None: deleted); callers read nodes, never edit them.
            hit = (st, st.touched, None if st.deleted else RabbitholeNode.from_state(eid, st))
            cache[eid] = hit
        if hit[2] is not None:
            out.append(hit[2])
    if len(cache) > len(states):
        for gone in set(cache) - {eid for eid, _ in states}:
            del cache[gone]
    return out


def create_job(
    replica: Replica,
    explorer: Explorer,
    *,
    question: str = "",
    start: str | Sequence[str] = "",
    depth: int = 2,
    nodes: int | None = None,
    calls: int | None = None,
    tokens: int | None = None,
    usd: Decimal | None = None,
    model: str = "",
    themes: int = 0,
    nonce: str | None = None,
) -> str:
    """Create a job and its starting nodes in one transaction; return its id. ``start``: a document id
    or several (the job starts from all of them); ``themes``: how many themes of the finished map the
    model summarizes (0: described from the graph only)."""
    starts = [start] if isinstance(start, str) else list(start)
    starts = [s.strip() for part in starts for s in part.split(",") if s.strip()]
    start = ",".join(dict.fromkeys(starts))
    if not question.strip() and not start:
        raise UsageError(
            "a rabbithole job starts from a question (--question TEXT) or a document (--from DOC)"
        )
    limits = (("depth", depth), ("themes", themes), ("nodes", nodes), ("calls", calls), ("tokens", tokens))
    for name, value in limits:
        least = 0 if name in ("depth", "themes") else 1
        if value is not None and value < least:
            raise UsageError(f"--{name} must be {'0 or more' if least == 0 else 'at least 1'}; got {value}")
    if usd is not None and usd <= 0:
        raise UsageError(f"--budget money must be more than 0; got {usd}")
    jid = job_id(question, start, nonce or repr(time.time_ns()))
    job = RabbitholeJob(
        id=jid,
        question=question.strip(),
        start=start,
        max_depth=depth,
        max_nodes=nodes,
        max_calls=calls,
        max_tokens=tokens,
        max_usd_micros=None if usd is None else usd_micros(usd),
        model=model,
        max_themes=themes,
        created_by=replica.author_or(""),
    )
    seeds = explorer.seeds(replica, job)
    missing = [s for s in job.starts if s not in {ref for ref, _ in seeds}]
    if missing and seeds:
        raise UsageError(f"no document {', '.join(map(repr, missing))} in the room: check the ids (room ls)")
    if not seeds:
        raise UsageError(
            f"nothing to explore from {start or question!r}: the room has no such document"
            if start
            else f"no document in the room matches {question!r}; add documents or ask about what they say"
        )
    ops = RabbitholeJob.create_ops(**job.model_dump(exclude={"created_at", "updated_at", "deleted"}))
    for ref, via in seeds:
        ops += RabbitholeNode.create_ops(id=node_id(jid, ref), job=jid, ref=ref, depth=0, via=via)
    replica.commit("ops", {"ops": ops})
    return jid


def request_stop(replica: Replica, job: str) -> None:
    """Ask every worker of ``job`` to stop taking nodes (the ones in flight finish)."""
    view = read_job(replica, job)
    job = view.job.id
    ops = RabbitholeJob.update_ops(job, replica.entity_state("RabbitholeJob", job), stop_requested=True)
    if ops and not view.job.stop_requested:
        replica.commit("ops", {"ops": ops})


#: Where a runner gets the themes to summarize: ``(replica, job) -> [(key, theme)]``.
ThemeSource = Callable[[Replica, str], list[tuple[str, dict[str, Any]]]]


def _map_themes(replica: Replica, job: str) -> list[tuple[str, dict[str, Any]]]:
    from agentcrdt.rabbithole.report import summarizable  # the map reads the job: imported when used

    return summarizable(replica, job)


@dataclass
class RunSummary:
    """What one worker did, and why it stopped."""

    worker: str
    reason: str = ""
    explored: list[str] = field(default_factory=list)
    proposed: int = 0
    refused: int = 0
    unsupported: int = 0
    themes: int = 0  # theme summaries written


class JobRunner:
    """One worker of a job: claims nodes until the job ends for it, exploring each with ``explorer``.

    ``worker`` names this worker in claims (default: the replica's author and ``index``); the same name
    on restart takes up the nodes it held. ``poll`` is how long to wait when every remaining node is in
    another worker's hands. Once nothing is left to explore, it summarizes the themes ``themes`` gives
    (default: those of the job's map), up to the job's ``max_themes``.
    """

    def __init__(
        self,
        replica: Replica,
        job: str,
        explorer: Explorer,
        *,
        index: int = 0,
        worker: str | None = None,
        poll: float = 0.2,
        on_node: Callable[[RunSummary, RabbitholeNode, NodeResult], None] | None = None,
        themes: ThemeSource | None = None,
    ) -> None:
        if replica.identity is None:
            raise UsageError("a rabbithole worker needs an identity: open the room with identity=...")
        self.replica = replica
        self.job = job
        self.explorer = explorer
        self.worker = worker or f"{replica.identity.author.removeprefix('ed25519:')[:16]}#{index}"
        self.poll = poll
        self.on_node = on_node
        self.themes = themes or _map_themes
        self.summary = RunSummary(self.worker)

    def _projections(self) -> Any:
        for f in self.replica.followers:
            db = getattr(f, "db", None)
            if db is not None:
                return db
        raise UsageError("a rabbithole job needs a room with its SQL projection (open_local / create_local)")

    def claim(self) -> tuple[RabbitholeNode | None, JobView, str | None]:
        """Claim the next node in one transaction: ``(node, view, None)``, or ``(None, view, reason)``
        when the job is over for this worker, or ``(None, view, None)`` when others hold the rest."""
        r = self.replica
        with r.batch():
            r.refresh()
            view = read_job(r, self.job)
            held = view.held_by(self.worker)
            if held:
                return held[0], view, None  # a restart: take up what we held (already reserved)
            frontier = view.frontier()
            calling = not frontier or frontier[0].kind in CALLING_KINDS
            need = self.explorer.calls_per_node if calling else 0
            reason = view.stop_reason(need)
            if reason is None and frontier:
                return self._claim(view, frontier[0], need), view, None
            if reason is None:
                reason = view.end_reason(need)  # None while other workers hold nodes
            if reason is not None and reason != "stopped" and not view.exploring():
                theme = self._next_theme(view)  # nothing left to explore: summarize the map's themes
                if theme is not None:
                    return self._claim(view, None, THEME_CALLS, theme=theme), view, None
            return None, view, reason  # a budget or a stop: nodes in flight finish on their workers

    def _next_theme(self, view: JobView) -> str | None:
        """The next theme of the finished map to summarize (its key), or None: none left, the quota
        reached, or no budget left for one."""
        if view.themes_written() >= view.theme_quota() or view.stop_reason(THEME_CALLS, theme=True):
            return None
        for key, _ in self.themes(self.replica, self.job):
            if view.node(key, "theme") is None:
                return key
        return None

    def _claim(
        self, view: JobView, node: RabbitholeNode | None, need: int, *, theme: str = ""
    ) -> RabbitholeNode:
        """Claim ``node`` (or create the theme node ``theme``, claimed) and reserve its calls."""
        r = self.replica
        if node is None:
            nid = node_id(self.job, theme, "theme")
            ops = RabbitholeNode.create_ops(
                id=nid, job=self.job, kind="theme", ref=theme, via="theme", claimed_by=self.worker
            )
        else:
            nid = node.id
            state = r.entity_state("RabbitholeNode", nid)
            ops = RabbitholeNode.update_ops(nid, state, claimed_by=self.worker)
        ops += RabbitholeJob.update_ops(
            self.job,
            r.entity_state("RabbitholeJob", self.job),
            nodes_claimed=view.job.nodes_claimed + (node is not None),
            calls_reserved=view.job.calls_reserved + need,
        )
        r.commit("ops", {"ops": ops})
        claimed = r.get(RabbitholeNode, nid)
        assert claimed is not None
        return claimed

    def finish(self, node: RabbitholeNode, result: NodeResult) -> list[Outcome]:
        """Record ``node``'s result in one transaction: proposals, outcome, discoveries, spending."""
        r = self.replica
        projections = self._projections()
        outcomes: list[Outcome] = []
        with r.batch():
            r.refresh()
            view = read_job(r, self.job)
            current = view.node(node.ref, node.kind)
            if current is None or current.done:
                return []  # another replica's winner finished it first: nothing to add
            by_slot: dict[str, list[Pending]] = {}
            for slot, pending in result.pending:
                by_slot.setdefault(slot, []).append(pending)
            for slot, batch in by_slot.items():
                outcomes += commit_batch(r, slot, batch, projections)
            proposals = [o.event_id for o in outcomes if o.event_id is not None]
            ops = RabbitholeNode.update_ops(
                node.id,
                r.entity_state("RabbitholeNode", node.id),
                done=True,
                outcome=outcome_json(
                    result.facts,
                    claims=result.claims,
                    found=result.found,
                    proposals=proposals,
                    relations=result.relations,
                    **({"theme": result.theme, "calls": result.calls} if node.kind == "theme" else {}),
                    **result.counts,
                ),
            )
            made: set[str] = set()
            for kind, found in (
                ("document", result.discovered),
                ("entity", result.entities),
                ("claim", result.claim_nodes),
                ("chunk", result.chunks),
            ):
                if kind in ("entity", "claim") and node.depth + 2 > view.job.max_depth:
                    continue  # a name or a claim leads one step further: beyond the depth, nowhere
                for ref, via in found:
                    nid = node_id(self.job, ref, kind)
                    if nid in made or nid == node.id or view.node(ref, kind) is not None:
                        continue
                    made.add(nid)
                    ops += RabbitholeNode.create_ops(
                        id=nid,
                        job=self.job,
                        kind=kind,
                        ref=ref,
                        depth=node.depth + 1,
                        parent=node.ref,
                        via=via,
                    )
            cost = result.usage.cost_usd
            job = view.job
            ops += RabbitholeJob.update_ops(
                self.job,
                r.entity_state("RabbitholeJob", self.job),
                calls=job.calls + result.calls,
                tokens=job.tokens + result.usage.input_tokens + result.usage.output_tokens,
                usd_micros=job.usd_micros + (0 if cost is None else usd_micros(cost)),
                **({"cost_unknown": True} if cost is None and result.calls else {}),
            )
            r.commit("ops", {"ops": ops})
        if node.kind == "theme":
            self.summary.themes += result.theme is not None
        else:
            self.summary.explored.append(node.ref)
        self.summary.proposed += sum(o.proposed for o in outcomes)
        self.summary.refused += sum(o.refused is not None for o in outcomes)
        self.summary.unsupported += sum(o.unsupported for o in outcomes)
        return outcomes

    async def step(self) -> str | None:
        """Claim and explore one node; return the reason the job is over for us, or None to go on."""
        node, view, reason = self.claim()
        if node is None:
            if reason is None:
                await anyio.sleep(self.poll)  # the rest is in other workers' hands: wait for them
            return reason
        if node.kind == "theme":
            result = await self._summarize(node)
        else:
            result = await self.explorer.explore(self.replica, view.job, node, view)
        self.finish(node, result)
        if self.on_node is not None:
            self.on_node(self.summary, node, result)
        return None

    async def _summarize(self, node: RabbitholeNode) -> NodeResult:
        job = read_job(self.replica, self.job).job
        for key, theme in self.themes(self.replica, self.job):
            if key == node.ref:
                return await self.explorer.summarize(self.replica, job, theme)
        # The map changed since the claim (a peer's nodes arrived): that theme is gone, nothing spent.
        return NodeResult(counts={"stale": 1})

    async def run(self, *, max_steps: int | None = None) -> RunSummary:
        """Explore until the job ends (or ``max_steps`` nodes, for tests and stepwise runs)."""
        steps = 0
        while max_steps is None or steps < max_steps:
            reason = await self.step()
            if reason is not None:
                self.summary.reason = reason
                break
            steps += 1
        return self.summary


def seen_related(view: JobView, node: RabbitholeNode) -> list[str]:
    """Return the documents the job already found ``node``'s document explicitly related to: relations
    finished nodes recorded to or from it, and the parent that led here by one (``via`` ``link:...``)."""
    out = {node.parent} if node.parent and node.via.startswith("link:") else set()
    if node.kind != "document":
        return []
    for n in view.done():
        for rel in outcome_of(n).get("relations", []):
            if isinstance(rel, list) and len(rel) == 3:
                source, _, target = map(str, rel)
                if node.ref in (source, target):
                    out.add(target if source == node.ref else source)
    out.discard(node.ref)
    return sorted(out)


def seen_facts(view: JobView, exclude: str = "", what: str = "facts") -> list[dict[str, Any]]:
    """Return the facts (``what="claims"``: the figures) the job's finished nodes read, leaving out
    document ``exclude``'s: what a new node is compared against."""
    out: list[dict[str, Any]] = []
    for n in view.done():
        if n.ref != exclude:
            facts = outcome_of(n).get(what, [])
            out.extend(f for f in facts if isinstance(f, dict) and f.get("doc_id") != exclude)
    return out
