"""``agentcrdt audit verify`` and ``agentcrdt log show``."""

from __future__ import annotations

import importlib
import json
from collections.abc import Iterator
from dataclasses import asdict
from pathlib import Path

from agentcrdt.errors import NotFound
from agentcrdt.log.audit import AuditFailure, verify_log
from agentcrdt.log.event import decode_event
from agentcrdt.store.base import EventStore, StoredEvent
from agentcrdt.store.sqlite import SQLiteStore


def _open(path: str) -> SQLiteStore:
    p = Path(path)
    if not p.is_file():
        raise NotFound(f"no room file at {p}")
    return SQLiteStore(p)


def _register_kinds() -> None:
    """Register every event kind agentcrdt writes, so each decodes (the registry is closed: kinds come
    from agentcrdt's own modules, imported here lazily to keep ``agentcrdt --help`` fast)."""
    # By name, not `import a.b` statements: those bind only `agentcrdt`, and a linter's fix of "unused
    # imports" once removed them, leaving `audit verify` unable to decode grants in a fresh process.
    for module in ("agentcrdt.capabilities.kinds", "agentcrdt.ops.state", "agentcrdt.proposals.kinds"):
        importlib.import_module(module)


def _all(store: EventStore) -> Iterator[tuple[int, StoredEvent]]:
    cursor = 0
    while batch := store.since(cursor, limit=10_000):
        yield from batch
        cursor = batch[-1][0]


def verify_command(path: str, *, as_json: bool) -> int:
    """Verify every event of the room at ``path``; exit 0 when intact, 1 when not."""
    _register_kinds()

    from agentcrdt.replica.judge import first_verdict_mismatch

    with _open(path) as store:
        report = verify_log(_all(store), stored_heads=store.heads())
        # Integrity first; then authorization: every stored verdict must be the one the events imply
        # (a file writer could add a signed but unauthorized event with a "valid" row).
        mismatch = first_verdict_mismatch(store) if report.failure is None else None
    if mismatch is not None:
        position, event_id, stored, derived = mismatch
        shown = "none" if stored is None else ": ".join(x for x in stored if x)
        report.failure = AuditFailure(
            position,
            event_id,
            "verdict_mismatch",
            f"stored verdict {shown!r}, the events imply {': '.join(x for x in derived if x)!r}",
        )
    if as_json:
        out = {
            "intact": report.intact,
            "events": report.events,
            "authors": len(report.authors),
            "kinds": report.kinds,
            "scope": report.scope,
            "heads": sorted(report.heads),
            "equivocations": report.equivocations,
            "failure": None if report.failure is None else asdict(report.failure),
        }
        print(json.dumps(out, indent=2))
    elif report.failure is None:
        print(
            f"intact: {report.events} events by {len(report.authors)} authors verified"
            f" in scope {report.scope}, every stored verdict re-derived from the events"
        )
        print("  kinds: " + ", ".join(f"{k} {n}" for k, n in sorted(report.kinds.items())))
        print(f"  heads: {len(report.heads)}")
        for first, second in report.equivocations:
            print(f"  equivocation kept as proof: {first} vs {second}")
    else:
        f = report.failure
        print(f"TAMPERED: event #{f.position} {f.event_id} fails: {f.reason}: {f.detail}")
        if f.reason == "verdict_mismatch":
            print(f"  all {report.events} events verify; this verdict row was written by someone else")
        else:
            print(f"  {report.events} events before it verified")
    return 0 if report.intact else 1


def show_command(path: str, *, limit: int, as_json: bool) -> int:
    """Print the first ``limit`` events of the room at ``path``."""
    _register_kinds()

    with _open(path) as store:
        for position, stored in store.since(0, limit=limit):
            event = decode_event(stored.raw, verify_signature=False)
            if as_json:
                print(
                    json.dumps(
                        {
                            "position": position,
                            "id": event.id,
                            "author": event.author,
                            "seq": event.seq,
                            "lamport": event.lamport,
                            "kind": event.kind,
                            "local": event.local,
                            "deps": list(event.deps),
                            "payload": event.payload,
                        }
                    )
                )
            else:
                print(
                    f"#{position:<5} {event.id[:19]}… {event.kind:<8} by {event.author[:20]}… "
                    f"seq {event.seq} lamport {event.lamport} deps {len(event.deps)}"
                )
    return 0
