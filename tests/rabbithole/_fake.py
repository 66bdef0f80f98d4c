"""A fake explorer over a fixed document graph, and a room factory, shared by the job tests and the
worker processes they start (run as ``python tests/rabbithole/_fake.py ROOM JOB NAME INDEX [SLEEP]``)."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import anyio

from agentcrdt.capabilities import Capability
from agentcrdt.llm.base import Usage
from agentcrdt.log.keys import Identity
from agentcrdt.rabbithole import JobRunner, JobView, NodeResult, RabbitholeJob, RabbitholeNode
from agentcrdt.replica import Replica
from agentcrdt.rooms.local import create_local, open_local
from agentcrdt.rooms.workflow import grant

#: d0 leads to d1 and d2, d1 to d3, d2 to d3 and d4, d3 to d5: depth 0..3.
GRAPH = {"d0": ["d1", "d2"], "d1": ["d3"], "d2": ["d3", "d4"], "d3": ["d5"], "d4": [], "d5": []}
JOBS = Capability("rabbithole", writes=("RabbitholeJob.*", "RabbitholeNode.*"), mode="direct")


class GraphExplorer:
    """Explores GRAPH: each node costs ``calls_per_node`` calls and 10 tokens, after ``sleep`` seconds;
    ``log`` (a file) gets one line per node explored, written before the node is recorded."""

    def __init__(
        self,
        calls_per_node: int = 1,
        sleep: float = 0.0,
        log: Path | None = None,
        names: dict[str, list[str]] | None = None,
        named_by: dict[str, list[str]] | None = None,
    ) -> None:
        self.calls_per_node = calls_per_node
        self.sleep = sleep
        self.log = log
        self.names = names or {}  # document -> the names it mentions (entity nodes)
        self.named_by = named_by or {}  # lower-case name -> the documents naming it

    def seeds(self, replica: Replica, job: RabbitholeJob) -> list[tuple[str, str]]:
        return [(s, "start") for s in job.starts if s in GRAPH]

    async def explore(
        self, replica: Replica, job: RabbitholeJob, node: RabbitholeNode, seen: JobView
    ) -> NodeResult:
        if node.kind == "entity":
            return NodeResult(
                discovered=[(d, f"entity:{node.ref}") for d in self.named_by.get(node.ref.lower(), [])]
            )
        if self.sleep:
            await anyio.sleep(self.sleep)
        if self.log is not None:
            with self.log.open("a") as f:
                f.write(node.ref + "\n")
        return NodeResult(
            discovered=[(child, "link:references") for child in GRAPH[node.ref]],
            entities=[(name, "mention:party") for name in self.names.get(node.ref, [])],
            facts=[{"doc_id": node.ref, "field": "n", "value": node.ref, "quote": {}}],
            usage=Usage(input_tokens=7, output_tokens=3),
            calls=self.calls_per_node,
        )

    async def summarize(self, replica: Replica, job: RabbitholeJob, theme: dict[str, Any]) -> NodeResult:
        if self.log is not None:
            with self.log.open("a") as f:
                f.write(f"theme {theme['key']}\n")
        docs = list(theme["documents"])
        return NodeResult(
            theme={
                "label": theme["key"],
                "summary": "about " + ", ".join(docs),
                "evidence": [{"document": d, "quote": d} for d in docs],
            },
            usage=Usage(input_tokens=7, output_tokens=3),
            calls=1,
        )


def fixed_themes(*themes: tuple[str, ...]) -> Any:
    """A theme source for the runner: the given document groups, whatever the job found."""

    def source(replica: Replica, job: str) -> list[tuple[str, dict[str, Any]]]:
        keys = [f"theme-{'-'.join(t)}" for t in themes]
        return [(k, {"key": k, "documents": list(t)}) for k, t in zip(keys, themes, strict=True)]

    return source


def worker_identity(name: str = "worker") -> Identity:
    return Identity.from_name(name)


def make_room(path: Path, workers: tuple[str, ...] = ("worker",)) -> None:
    owner = Identity.from_name("owner")
    room = create_local(path, owner, "room")
    for name in workers:
        grant(room, worker_identity(name).author, JOBS)
    room.close()


def open_worker(path: Path, name: str = "worker") -> Replica:
    return open_local(path, identity=worker_identity(name))


if __name__ == "__main__":
    room_path, job, name, index = Path(sys.argv[1]), sys.argv[2], sys.argv[3], int(sys.argv[4])
    sleep = float(sys.argv[5]) if len(sys.argv) > 5 else 0.0
    log = Path(sys.argv[6]) if len(sys.argv) > 6 else None
    replica = open_worker(room_path, name)
    runner = JobRunner(replica, job, GraphExplorer(sleep=sleep, log=log), index=index, poll=0.05)
    summary = anyio.run(runner.run)
    print("explored", " ".join(summary.explored), "reason", summary.reason, flush=True)
    replica.close()
