"""The main job on its embedded defaults (``agentcrdt demo``).

Creates a dataroom from the bundled Project Falcon sample, grants the five agents in ``agents/`` their
slots, runs their workers (the offline model unless ``--model``/``$AGENTCRDT_MODEL`` names another), and
prints a report: documents, tags, extracted fields, auto-accepted changes, proposals awaiting review with
their evidence, the audit chain, and how to review. Embeddings are cached in ``<dir>/embeddings.db``,
which survives re-runs (the room itself is rebuilt each time)."""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path
from typing import Any

from agentcrdt.errors import UsageError

AGENTS = ("tagger", "extractor", "summarizer", "linker", "contradictions")
FIRST_PHASE = AGENTS[:4]  # the contradiction finder compares what the extractor wrote
MODEL_ENV = "AGENTCRDT_MODEL"


def _repo_root() -> Path:
    """Return the checkout holding ``agents/`` and ``examples/`` (the demo runs from a checkout)."""
    here = Path(__file__).resolve()
    for parent in (Path.cwd(), *here.parents):
        if (parent / "agents").is_dir() and (parent / "examples" / "falcon").is_dir():
            return parent
    raise UsageError(
        "the demo needs the repository checkout (agents/ and examples/falcon/); run it from there"
    )


def _say(text: str = "") -> None:
    print(text, flush=True)


def run(directory: str | None, *, model: str | None = None) -> int:
    """Run the demo; return 0 when the workers ran and the audit chain verifies."""
    import anyio

    root = _repo_root()
    workdir = Path(directory) if directory else root / "demo-room"
    spec = model or os.environ.get(MODEL_ENV) or "offline"
    return anyio.run(_demo, root, workdir, spec)


async def _demo(root: Path, workdir: Path, spec: str) -> int:
    from agentcrdt.dataroom import Dataroom
    from agentcrdt.demo.report import print_report
    from agentcrdt.log.keys import Identity
    from agentcrdt.retrieval import CachedEmbedder, EmbeddingCache, get_embedder
    from agentcrdt.rooms.workflow import grant
    from agentcrdt.runtime import ProgressPrinter, Worker, build_model, load_agent

    started = time.monotonic()
    workdir.mkdir(parents=True, exist_ok=True)
    room_path = workdir / "falcon.db"
    for old in workdir.glob("falcon.*"):
        old.unlink()
    _say("agentcrdt demo: agents as CRDT peers on a due-diligence data room")
    _say(f"  model {spec}; room {room_path}")

    owner = Identity.generate()
    owner.save(workdir / "falcon.db.key")
    room = Dataroom.create(room_path, owner, name="Project Falcon")
    documents = sorted((root / "examples" / "falcon" / "documents").iterdir())
    room.add(documents)
    _say(f"\n1. Ingested {len(documents)} documents (every version hashed, signed, in the log)")

    cache = EmbeddingCache(workdir / "embeddings.db")
    embedder = CachedEmbedder(get_embedder("minilm"), cache)
    workers: dict[str, Any] = {}
    for name in AGENTS:
        agent = load_agent(str(root / "agents" / f"{name}.py"))
        key = Identity.generate()
        key.save(workdir / f"falcon.{name}.key")
        grant(room.replica, key.author, agent.capability)
        workers[name] = Worker(
            room_path,
            agent,
            build_model(spec, embedder),
            identity=key,
            embedder=embedder,
            on_progress=ProgressPrinter(sys.stdout, interval=2.0),
        )
        auto = agent.capability.auto_accept
        policy = f"auto-accept at confidence >= {auto.min_confidence}" if auto else "human review"
        _say(f"   granted slot {agent.capability.slot!r} to its own key ({policy})")
    room.close()

    _say("\n2. Workers run (each a peer with its own key and slot)")
    async with anyio_group() as tg:
        for name in FIRST_PHASE:
            tg.start_soon(workers[name].run_once)

    _say("\n3. The owner reviews: accepts the extractor's remaining fields and the linker's links")
    accepted = _review_as_owner(room_path, owner, ("extractor", "linker"))
    _say(f"   accepted {accepted} proposal(s) (each a signed review event; their ops apply at the review)")

    _say("\n4. The contradiction finder compares the accepted fields across related documents")
    await workers["contradictions"].run_once()
    for name in AGENTS:
        _say(f"   {workers[name].progress.line()}")
    stats = cache.stats
    _say(f"   embeddings: {stats.embedded} computed, {stats.hits} reused from {workdir / 'embeddings.db'}")

    _say("\n5. Report")
    ok = print_report(room_path, root, workdir)
    _say(f"\nFinished in {time.monotonic() - started:.0f} s.")
    return 0 if ok else 1


def _review_as_owner(room_path: Path, owner: Any, slots: tuple[str, ...]) -> int:
    """Accept every pending proposal of ``slots``, as a reviewer who checked the evidence would."""
    from agentcrdt.rooms.local import open_local
    from agentcrdt.rooms.workflow import list_proposals, review

    replica = open_local(room_path, identity=owner)
    try:
        pending = [p for p in list_proposals(replica, "pending") if p.event.payload["slot"] in slots]
        for p in pending:
            review(replica, p.id, "accept", "demo reviewer: evidence checked")
        return len(pending)
    finally:
        replica.store.close()


def anyio_group() -> Any:
    """Return an anyio task group (imported lazily with the rest of the demo)."""
    import anyio

    return anyio.create_task_group()
