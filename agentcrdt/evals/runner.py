"""Running a suite: a fresh room per case, the agents' workers in order, the room read back, scored.

Every case gets its own room, owned by a key derived from the suite's name, with the suite's agents
granted their slots under keys derived from their names, so two runs of one suite sign the same things
and the same proposals get the same input ids. Model answers go through a :class:`ResponseCache` (a
second run of the same suite and model replays them; ``cache_mode="replay"`` fails on any miss instead
of calling the model). Cases run ``concurrency`` at a time; a case that fails is recorded with its error
and scored as what it produced (nothing), so a flaky provider shows in the figures instead of hiding.
"""

from __future__ import annotations

import tempfile
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import anyio

from agentcrdt import __version__
from agentcrdt.dataroom import Dataroom
from agentcrdt.errors import AgentCRDTError, UsageError
from agentcrdt.evals.loaders import load_cases
from agentcrdt.evals.outputs import CaseOutput, collect
from agentcrdt.evals.scorers import SCORER_VERSION, CaseScore
from agentcrdt.evals.suite import Case, ExplorationJob, Suite
from agentcrdt.llm.base import Completion, Message, Model, ModelResponse, ModelSettings
from agentcrdt.llm.cache import CachedModel, CacheMode, ResponseCache
from agentcrdt.log.keys import Identity
from agentcrdt.retrieval import Embedder
from agentcrdt.rooms.workflow import grant, list_proposals, review
from agentcrdt.runtime import Agent, Worker, load_agent

__all__ = ["CaseProgress", "RunPlan", "plan_run", "run_cases", "score_room"]

ProgressFn = Callable[["CaseProgress"], None]


@dataclass(frozen=True)
class CaseProgress:
    """Reported after each case: how many are done, and the case's line."""

    done: int
    total: int
    case: str
    seconds: float
    proposals: int
    error: str | None


@dataclass
class RunPlan:
    """A suite resolved for running: its cases (after the loader, the split and ``limit``), its agents,
    and what the run record says about where they came from."""

    suite: Suite
    cases: list[Case]
    agents: list[tuple[Agent[Any], bool]]
    dataset_version: str
    data_dir: str | None
    record: dict[str, Any] = field(default_factory=dict)
    #: The loader's options as run: the suite's, with ``options`` passed to :func:`plan_run` over them.
    loader_options: dict[str, Any] = field(default_factory=dict)


def plan_run(
    suite: Suite,
    *,
    data: Path | None = None,
    limit: int | None = None,
    options: Mapping[str, Any] | None = None,
) -> RunPlan:
    """Resolve a suite's cases and agents; ``data`` replaces the loader's dataset directory and
    ``options`` override its loader options (``{"split": "holdout"}``)."""
    import hashlib
    import json

    if limit is not None and limit < 1:
        raise UsageError(f"--limit must be at least 1, got {limit}")
    cases = list(suite.cases)
    version = (
        "sha256:"
        + hashlib.sha256(json.dumps([c.model_dump(mode="json") for c in cases]).encode()).hexdigest()
    )
    data_dir: Path | None = None
    loader_options: dict[str, Any] = {}
    if suite.loader is None and options:
        raise UsageError(f"suite {suite.name} has no loader: --option only sets a loader's options")
    if suite.loader is not None:
        loader_options = {**suite.loader.options, **(options or {})}
        if data is not None:
            data_dir = data.resolve()
        elif suite.loader.data is not None:
            data_dir = suite.resolve(suite.loader.data)
        else:
            raise UsageError(f"suite {suite.name}: its loader needs data (in the suite or --data DIR)")
        loaded = load_cases(suite.loader.name, data_dir, loader_options)
        cases += loaded.cases
        version = loaded.version if not suite.cases else f"{loaded.version}+{version}"
    elif data is not None:
        raise UsageError(f"suite {suite.name} has no loader: --data only points a loader at its dataset")
    names = [c.name for c in cases]
    if len(set(names)) != len(names):
        dup = sorted({n for n in names if names.count(n) > 1})[:3]
        raise UsageError(f"suite {suite.name}: case names repeat ({', '.join(dup)}); each case needs its own")
    if limit is not None:
        cases = cases[:limit]
    if not cases:
        raise UsageError(f"suite {suite.name} has no cases to run (check its loader's split and --limit)")
    agents = [(load_agent(suite.resolve(a.path)), a.accept) for a in suite.agents]
    slots = [a.capability.slot for a, _ in agents]
    if len(set(slots)) != len(slots):
        raise UsageError(f"suite {suite.name}: two agents use one slot ({slots}); each agent needs its own")
    return RunPlan(
        suite,
        cases,
        agents,
        version,
        None if data_dir is None else str(data_dir),
        loader_options=loader_options,
    )


class _Counted(Model):
    """Count one case's model requests (and how many the cache answered) around a shared model, and
    collect the model versions the provider reported into ``versions`` (shared by the run's cases)."""

    def __init__(self, inner: Model, versions: set[str]) -> None:
        super().__init__(inner.model_id, clock=inner.clock)
        self.inner = inner
        self.calls = 0
        self.cached = 0
        self.versions = versions

    @property
    def pinned_version(self) -> str | None:
        return self.inner.pinned_version

    async def complete(
        self, messages: list[Message], schema: dict[str, Any], schema_name: str, settings: ModelSettings
    ) -> Completion:
        return await self.inner.complete(messages, schema, schema_name, settings)

    async def request(
        self,
        messages: Sequence[Message],
        output_type: type[Any],
        settings: ModelSettings | None = None,
        *,
        context: Mapping[str, Any] | None = None,
    ) -> ModelResponse[Any]:
        response = await self.inner.request(messages, output_type, settings, context=context)
        self.calls += not response.cached
        self.cached += response.cached
        if response.model_version:
            self.versions.add(response.model_version)
        return response


def _documents(case: Case, suite: Suite, scratch: Path) -> list[Path]:
    paths = []
    for i, doc in enumerate(case.inputs.documents):
        if doc.path is not None:
            paths.append(suite.resolve(doc.path))
        else:
            # Inline text: a file of that name in a directory of its own (names may repeat across docs).
            where = scratch / f"inline-{i}"
            where.mkdir(parents=True, exist_ok=True)
            (where / doc.name).write_text(doc.text or "", encoding="utf-8")
            paths.append(where / doc.name)
    return paths


async def _run_case(
    plan: RunPlan,
    case: Case,
    model: Model,
    embedder: Embedder | None,
    rooms: Path | None,
    versions: set[str],
) -> CaseOutput:
    suite = plan.suite
    owner = Identity.from_name(f"eval-{suite.name}-owner")
    keys = {a.name: Identity.from_name(f"eval-{suite.name}-{a.name}") for a, _ in plan.agents}
    counted = _Counted(model, versions)
    t0 = time.perf_counter()
    agent_seconds: dict[str, float] = {}
    errors: list[str] = []
    with tempfile.TemporaryDirectory(prefix="agentcrdt-eval-") as tmp:
        scratch = Path(tmp)
        room_path = (rooms / f"{case.name}.db") if rooms is not None else scratch / "room.db"
        for stale in room_path.parent.glob(room_path.name + "*"):
            stale.unlink()
        with Dataroom.create(room_path, owner, name=case.name) as room:
            room.add(_documents(case, suite, scratch))
            for agent, _ in plan.agents:
                grant(room.replica, keys[agent.name].author, agent.capability)
                if _explores(agent):
                    from agentcrdt.rabbithole.state import JOB_CAPABILITY

                    grant(room.replica, keys[agent.name].author, JOB_CAPABILITY)
        job: dict[str, Any] | None = None
        baselines: dict[str, Any] = {}
        for agent, accept in plan.agents:
            t = time.perf_counter()
            if _explores(agent):
                spec = case.inputs.job or suite.job or ExplorationJob()
                job, baselines = await _explore(
                    room_path, agent, counted, model, versions, embedder, keys[agent.name], spec
                )
                agent_seconds[agent.name] = round(time.perf_counter() - t, 3)
                continue
            worker = Worker(room_path, agent, counted, identity=keys[agent.name], embedder=embedder)
            try:
                progress = await worker.run_once()
            finally:
                worker.close()
            if progress.errors:
                # The worker logs a failed item and goes on; without this the case would score as if
                # the model had found nothing (a provider outage looking like a bad model).
                errors.append(
                    f"{agent.name}: {progress.errors} item(s) failed, last: {progress.last_errors[-1]}"
                )
            if accept:
                with Dataroom.open(room_path, identity=owner) as room:
                    for p in list_proposals(room.replica, "pending"):
                        if p.event.payload.get("slot") == agent.capability.slot:
                            review(room.replica, p.id, "accept", note="eval: the suite accepts this agent")
            agent_seconds[agent.name] = round(time.perf_counter() - t, 3)
        with Dataroom.open(room_path) as room:
            out = collect(
                room.replica,
                case.name,
                [a.capability.slot for a, _ in plan.agents],
                {a.capability.slot: a.capability.proposal_kinds for a, _ in plan.agents},
            )
    out.seconds = round(time.perf_counter() - t0, 3)
    out.agent_seconds = agent_seconds
    out.calls, out.cached_calls = counted.calls, counted.cached
    out.error = "; ".join(errors) or None
    out.job, out.baselines = job, baselines
    return out


def _explores(agent: Agent[Any]) -> bool:
    from agentcrdt.rabbithole.explore import ExplorerAgent

    return isinstance(agent, ExplorerAgent)


async def _explore(
    room_path: Path,
    agent: Agent[Any],
    counted: _Counted,
    model: Model,
    versions: set[str],
    embedder: Embedder | None,
    identity: Identity,
    spec: ExplorationJob,
) -> tuple[dict[str, Any], dict[str, Any]]:
    """Run a rabbithole job with the explorer ``agent`` on the case's room, then the naive baseline on
    the same documents and model (counted apart: the case's calls are the job's)."""
    from agentcrdt.dataroom.texts import current_texts
    from agentcrdt.materialize import Reader
    from agentcrdt.rabbithole import JobRunner, create_job, read_job
    from agentcrdt.rabbithole.baseline import BaselineDoc, naive_baseline
    from agentcrdt.rabbithole.explore import AgentExplorer, ExplorerAgent
    from agentcrdt.rabbithole.state import outcome_of
    from agentcrdt.rooms.local import open_local
    from agentcrdt.runtime.context import open_retrieval

    assert isinstance(agent, ExplorerAgent)
    if embedder is None:
        raise UsageError("an exploration suite needs an embedder (the suite's embedder: minilm or fake)")
    retrieval = (
        open_retrieval(room_path, embedder, agent.retrieval_sources) if agent.retrieval_sources else None
    )
    replica = open_local(room_path, identity=identity)
    try:
        if retrieval is not None:
            retrieval.catch_up(replica)
        explorer = AgentExplorer(agent, counted, retrieval=retrieval)
        job_id = create_job(
            replica, explorer, question=spec.question, start=spec.start, depth=spec.depth,
            calls=spec.calls, nodes=spec.nodes, themes=spec.themes, nonce="eval",
        )  # fmt: skip
        summary = await JobRunner(replica, job_id, explorer).run()
        view = read_job(replica, job_id)
        replica.catch_up()
        db = next(f.db for f in replica.followers if getattr(f, "db", None) is not None)  # type: ignore[attr-defined]
        docs = [BaselineDoc(i, version, text) for i, _, version, text in current_texts(Reader(db))]
    finally:
        replica.close()
        if retrieval is not None:
            retrieval.close()
    themes = [n for n in view.done() if n.kind == "theme"]
    theme_calls = sum(int(outcome_of(n).get("calls", 0) or 0) for n in themes)
    job = {  # exploring's nodes and calls (what findings cost), theme summaries apart
        "id": job_id,
        "reason": summary.reason,
        "nodes": len(view.done()) - len(themes),
        "calls": view.job.calls - theme_calls,
        "tokens": view.job.tokens,
        "themes": sum(outcome_of(n).get("theme") is not None for n in themes),
        "theme_calls": theme_calls,
        **_theme_quotes(themes, {d.id: d.text for d in docs}),
    }
    baseline_model = _Counted(model, versions)
    naive = await naive_baseline(docs, baseline_model, embedder, spec.baseline_k)
    return job, {"naive": naive}


def _theme_quotes(themes: list[Any], texts: dict[str, str]) -> dict[str, int]:
    """How many quotes the job's theme summaries hold, and how many are verbatim in their documents."""
    from agentcrdt.rabbithole.state import outcome_of

    quotes = [
        q
        for n in themes
        for q in (outcome_of(n).get("theme") or {}).get("evidence", [])
        if isinstance(q, dict)
    ]
    verbatim = sum(
        bool(q.get("quote")) and str(q["quote"]) in texts.get(str(q.get("document")), "") for q in quotes
    )
    return {"theme_quotes": len(quotes), "theme_quotes_verbatim": verbatim}


def run_cases(
    plan: RunPlan,
    model: Model,
    *,
    embedder: Embedder | None = None,
    cache: ResponseCache | None = None,
    cache_mode: CacheMode = "read_write",
    concurrency: int = 1,
    rooms: Path | None = None,
    on_case: ProgressFn | None = None,
) -> list[CaseOutput]:
    """Run every case of ``plan``; return their outputs in case order.

    ``cache``: the response cache (default: in memory, for this run only). ``rooms``: keep each case's
    room there (``<case>.db``) for inspection with the usual commands; default: a temporary file.
    A case whose agents failed items (model errors) keeps the error in its output. In replay mode, a
    request without a recorded response raises :class:`UsageError` once every case ran.
    """
    if concurrency < 1:
        raise UsageError(f"--concurrency must be at least 1, got {concurrency}")
    own_cache = cache is None
    if cache is None:  # not `cache or ...`: an empty cache has len() 0 and is falsy
        cache = ResponseCache(mode=cache_mode)
    cached = CachedModel(model, cache)
    if rooms is not None:
        rooms.mkdir(parents=True, exist_ok=True)
    results: dict[str, CaseOutput] = {}
    limiter = anyio.CapacityLimiter(concurrency)
    started = time.perf_counter()
    versions: set[str] = set()
    misses_before = cache.stats.misses

    async def one(case: Case) -> None:
        async with limiter:
            try:
                out = await _run_case(plan, case, cached, embedder, rooms, versions)
            except AgentCRDTError as e:
                out = CaseOutput(
                    case=case.name, slots=[a.capability.slot for a, _ in plan.agents], error=str(e)
                )
            results[case.name] = out
            if on_case is not None:
                on_case(
                    CaseProgress(
                        len(results),
                        len(plan.cases),
                        case.name,
                        out.seconds,
                        len(out.of_slots()),
                        out.error,
                    )
                )

    async def main() -> None:
        async with anyio.create_task_group() as tg:
            for case in plan.cases:
                tg.start_soon(one, case)
        await cached.aclose()

    try:
        anyio.run(main)
    finally:
        if own_cache:
            cache.close()
    missed = cache.stats.misses - misses_before
    if cache.mode == "replay" and missed:
        # Scores of a replay that could not replay would be zeros passed off as a reproduction.
        failed = [c.name for c in plan.cases if results[c.name].error]
        raise UsageError(
            f"replay: {missed} model request(s) had no recorded response in the response cache "
            f"(cases: {', '.join(failed[:5])}{', ...' if len(failed) > 5 else ''}); record them first: "
            "run the suite with cache mode read_write (the default) or record"
        )
    plan.record.update(
        {
            "agentcrdt": __version__,
            "suite": plan.suite.name,
            "suite_digest": plan.suite.digest(),
            "dataset_version": plan.dataset_version,
            "data_dir": plan.data_dir,
            "loader_options": plan.loader_options,
            "cases": len(plan.cases),
            "model": model.model_id,
            # Known before calling (the offline model's), else what the provider reported, if one.
            "model_version": model.pinned_version or (next(iter(versions)) if len(versions) == 1 else None),
            "reported_versions": sorted(versions),
            "embedder": None if embedder is None else embedder.model_id,
            "prompts": _prompt_hashes(plan),
            "scorer_version": SCORER_VERSION,
            "seconds": round(time.perf_counter() - started, 3),
            "cache": {"hits": cache.stats.hits, "misses": cache.stats.misses},
        }
    )
    return [results[c.name] for c in plan.cases]


def _prompt_hashes(plan: RunPlan) -> dict[str, str]:
    """Return each agent's prompt template hash (what its proposals' provenance carries)."""
    from agentcrdt.runtime.prompts import agent_prompt

    return {agent.name: agent_prompt(agent).hash for agent, _ in plan.agents}


def score_room(plan: RunPlan, room_path: str | Path, case: str | None = None) -> dict[str, list[CaseScore]]:
    """Score a room built outside the harness (the demo's) as the case ``case`` of ``plan`` (default: its
    only case): the same collection and scorers as a run, so there is one scoring path."""
    from agentcrdt.evals.scorers import score_case

    chosen = [c for c in plan.cases if case is None or c.name == case]
    if len(chosen) != 1:
        raise UsageError(
            f"suite {plan.suite.name}: name one of its cases ({len(plan.cases)}) to score a room as"
        )
    with Dataroom.open(room_path) as room:
        out = collect(
            room.replica,
            chosen[0].name,
            [a.capability.slot for a, _ in plan.agents],
            {a.capability.slot: a.capability.proposal_kinds for a, _ in plan.agents},
        )
    return {s.view: [s] for s in score_case(plan.suite, chosen[0], out)}
