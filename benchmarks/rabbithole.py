"""Rabbithole job benchmark: what the job layer costs per node on a large room, and how that grows.

A job over a synthetic room of ``DOCS`` documents linked as a random graph (each document leads to
three others, seeded), explored by a zero-cost explorer (no model: the job's own bookkeeping is what is
measured). Each node is one claim transaction (read the job, pick the frontier's head, write the claim
and the reserved calls) and one finish transaction (outcome, discovered nodes, spending).

Reference, same process, same room layout: the raw writes alone. For each node, the same two
transactions with the same ops, built from point reads of the two entities they change (no job view, no
frontier): the floor any job layer on this store pays. Figures: ms per node for both, and for the job
the first and last tenth of the nodes (a job that reads more state as it grows slows down). Ratios:
``raw_vs_job`` (raw ms / job ms, higher is better, 1.0 = no overhead) and ``late_vs_early`` (first-tenth
ms / last-tenth ms: 1.0 = flat).
"""

from __future__ import annotations

import os
import random
import tempfile
import time
from pathlib import Path
from typing import Any

import anyio
from _common import emit, line, load_line, peak_rss_mb, quick

from agentcrdt.capabilities import Capability
from agentcrdt.llm.base import Usage
from agentcrdt.log.keys import Identity
from agentcrdt.rabbithole import JobRunner, JobView, NodeResult, RabbitholeJob, RabbitholeNode, create_job
from agentcrdt.rabbithole.state import node_id, outcome_json
from agentcrdt.replica import Replica
from agentcrdt.rooms.local import create_local, open_local
from agentcrdt.rooms.workflow import grant

QUICK = quick()
DOCS = 60 if QUICK else int(os.environ.get("RH_DOCS", "2000"))
FANOUT = 3
JOBS = Capability("rabbithole", writes=("RabbitholeJob.*", "RabbitholeNode.*"), mode="direct")


def graph(n: int) -> dict[str, list[str]]:
    rng = random.Random(7)
    names = [f"doc-{i:05d}" for i in range(n)]
    return {d: rng.sample(names, FANOUT) for d in names}


class FreeExplorer:
    """Explores the graph at no cost: the job layer alone is timed."""

    calls_per_node = 1

    def __init__(self, g: dict[str, list[str]]) -> None:
        self.g = g

    def seeds(self, replica: Replica, job: RabbitholeJob) -> list[tuple[str, str]]:
        return [(s, "start") for s in job.starts]

    async def explore(
        self, replica: Replica, job: RabbitholeJob, node: RabbitholeNode, seen: JobView
    ) -> NodeResult:
        return NodeResult(
            discovered=[(d, "link:references") for d in self.g[node.ref]],
            facts=[{"doc_id": node.ref, "field": "n", "value": node.ref, "quote": {}}],
            usage=Usage(input_tokens=7, output_tokens=3),
            calls=1,
        )

    async def summarize(self, replica: Replica, job: RabbitholeJob, theme: dict[str, Any]) -> NodeResult:
        return NodeResult()  # the benchmark's jobs summarize no theme (themes=0)


def room(path: Path) -> Identity:
    worker = Identity.from_name("worker")
    r = create_local(path, Identity.from_name("owner"), "bench")
    grant(r, worker.author, JOBS)
    r.close()
    return worker


def run_job(g: dict[str, list[str]], tmp: Path) -> tuple[float, list[float]]:
    path = tmp / "job.db"
    worker = room(path)
    replica = open_local(path, identity=worker)
    ex = FreeExplorer(g)
    job = create_job(replica, ex, start="doc-00000", depth=10**6, nodes=len(g), nonce="bench")
    runner = JobRunner(replica, job, ex)
    times: list[float] = []

    async def go() -> None:
        while True:
            t0 = time.perf_counter()
            reason = await runner.step()
            if reason is not None:
                break
            times.append(time.perf_counter() - t0)

    t0 = time.perf_counter()
    anyio.run(go)
    total = time.perf_counter() - t0
    replica.close()
    return total, times


def run_raw(g: dict[str, list[str]], order: int, tmp: Path) -> float:
    """The same two transactions per node, ops built directly, no job state read."""
    path = tmp / "raw.db"
    worker = room(path)
    replica = open_local(path, identity=worker)
    jid = "rh-raw"
    ops = RabbitholeJob.create_ops(id=jid, start="doc-00000", max_depth=10**6)
    ops += RabbitholeNode.create_ops(id=node_id(jid, "doc-00000"), job=jid, ref="doc-00000", via="start")
    replica.commit("ops", {"ops": ops})
    queue, made = ["doc-00000"], {"doc-00000"}
    t0 = time.perf_counter()
    done = 0
    while queue and done < order:
        ref = queue.pop(0)
        nid = node_id(jid, ref)
        with replica.batch():
            claim = RabbitholeNode.update_ops(
                nid, replica.entity_state("RabbitholeNode", nid), claimed_by="w#0"
            )
            job_state = replica.entity_state("RabbitholeJob", jid)
            claim += RabbitholeJob.update_ops(jid, job_state, nodes_claimed=done + 1, calls_reserved=done + 1)
            replica.commit("ops", {"ops": claim})
        with replica.batch():
            outcome = outcome_json([{"doc_id": ref, "field": "n", "value": ref, "quote": {}}])
            fin = RabbitholeNode.update_ops(
                nid, replica.entity_state("RabbitholeNode", nid), done=True, outcome=outcome
            )
            for child in g[ref]:
                if child not in made:
                    made.add(child)
                    queue.append(child)
                    fin += RabbitholeNode.create_ops(
                        id=node_id(jid, child), job=jid, ref=child, depth=1, parent=ref, via="link"
                    )
            job_state = replica.entity_state("RabbitholeJob", jid)
            fin += RabbitholeJob.update_ops(jid, job_state, calls=done + 1, tokens=10 * (done + 1))
            replica.commit("ops", {"ops": fin})
        done += 1
    total = time.perf_counter() - t0
    replica.close()
    return total


def main() -> None:
    g = graph(DOCS)
    print(f"rabbithole: a job over {DOCS} linked documents, zero-cost explorer; {load_line()}")
    with tempfile.TemporaryDirectory() as d:
        total, times = run_job(g, Path(d))
        nodes = len(times)
        raw = run_raw(g, nodes, Path(d))
    tenth = max(1, nodes // 10)
    early = sum(times[:tenth]) / tenth * 1000
    late = sum(times[-tenth:]) / tenth * 1000
    job_ms, raw_ms = total / nodes * 1000, raw / nodes * 1000
    line("nodes explored", nodes, "nodes")
    line("job: ms per node (claim + finish)", job_ms, "ms")
    line("job: ms per node, first tenth", early, "ms")
    line("job: ms per node, last tenth", late, "ms")
    line("raw writes: ms per node (reference)", raw_ms, "ms")
    line("peak RSS", peak_rss_mb(), "MiB")
    emit(
        "rabbithole",
        {
            "nodes": nodes,
            "job_ms_per_node": job_ms,
            "job_ms_per_node_first_tenth": early,
            "job_ms_per_node_last_tenth": late,
            "raw_ms_per_node": raw_ms,
            "peak_rss_mb": peak_rss_mb(),
        },
        {"raw_vs_job": raw_ms / job_ms, "late_vs_early": early / late},
    )


if __name__ == "__main__":
    main()
