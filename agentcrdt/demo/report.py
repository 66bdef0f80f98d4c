"""The demo's closing report: what the agents did to the room, what awaits review, and the audit."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

from agentcrdt.dataroom import Dataroom
from agentcrdt.log.audit import verify_log
from agentcrdt.proposals.status import ProposalInfo
from agentcrdt.rooms.workflow import list_proposals


def _say(text: str = "") -> None:
    print(text, flush=True)


def _clip(text: str, n: int) -> str:
    flat = " ".join(text.split())
    return flat if len(flat) <= n else flat[: n - 1] + "…"


def _short(event_id: str) -> str:
    return event_id.removeprefix("sha256:")[:12]


def print_report(room_path: Path, root: Path, workdir: Path) -> bool:
    """Print the report; return whether the audit chain verified."""
    room = Dataroom.open(room_path)
    try:
        _documents(room)
        proposals = list_proposals(room.replica)
        _auto_accepted(proposals)
        _pending(proposals)
        intact = _audit(room)
    finally:
        room.close()
    _evaluation(room_path, root)
    _how_to_review(room_path, workdir)
    return intact


def _documents(room: Dataroom) -> None:
    _say("Documents (kind, tags and extracted fields as accepted into the room)")
    for doc in room.documents():
        tags = ", ".join(sorted(doc.tags)) or "-"
        _say(f"  {doc.id:<34} {doc.kind or '-':<14} {_clip(tags, 60)}")
        for name, fv in sorted(doc.fields.items()):
            _say(f'      {name:<16} {_clip(fv.value, 40):<40} "{_clip(fv.quote, 48)}"')
        if doc.summary:
            _say(f"      summary          {_clip(doc.summary, 90)}")


def _auto_accepted(proposals: list[ProposalInfo]) -> None:
    auto = [p for p in proposals if p.status == "auto_accepted"]
    by_slot = Counter(p.event.payload["slot"] for p in auto)
    _say(
        f"\nAuto-accepted changes: {len(auto)} ({', '.join(f'{n} {s}' for s, n in sorted(by_slot.items()))})"
    )
    statuses = Counter(p.status for p in proposals)
    _say("All proposals: " + ", ".join(f"{n} {s}" for s, n in sorted(statuses.items())))


def _pending(proposals: list[ProposalInfo]) -> None:
    pending = [p for p in proposals if p.status == "pending"]
    by_slot = ", ".join(
        f"{n} {s}" for s, n in sorted(Counter(p.event.payload["slot"] for p in pending).items())
    )
    _say(f"\nAwaiting human review: {len(pending)} proposal(s) ({by_slot})")
    findings = [p for p in pending if p.event.payload["slot"] == "contradictions"]
    _say(f"\nFindings proposed by the contradiction finder: {len(findings)}")
    for p in findings:
        _show(p)
    others = [p for p in pending if p.event.payload["slot"] != "contradictions"]
    _say(f"\nOther proposals awaiting review (first {min(len(others), 12)} of {len(others)})")
    for p in others[:12]:
        _show(p)
    if len(others) > 12:
        _say(f"  … and {len(others) - 12} more (agentcrdt proposals list --status pending)")


def _show(p: ProposalInfo) -> None:
    payload = p.event.payload
    _say(
        f"  {_short(p.id)}  {payload['slot']:<14} conf {payload['confidence']:<6}"
        f" {_clip(payload['rationale'], 80)}"
    )
    for ev in payload["evidence"][:2]:
        _say(f'      {ev["id"][:44]}: "{_clip(ev["quote"], 76)}"')


def _audit(room: Dataroom) -> bool:
    store = room.replica.store
    report = verify_log(store.since(0), stored_heads=store.heads())
    kinds = ", ".join(f"{n} {k}" for k, n in sorted(report.kinds.items()))
    if report.intact:
        _say(f"\nAudit chain: intact — {report.events} events by {len(report.authors)} peers ({kinds})")
    else:
        f = report.failure
        assert f is not None
        _say(f"\nAudit chain: TAMPERED at event #{f.position} {f.event_id}: {f.reason}: {f.detail}")
    return report.intact


def _evaluation(room_path: Path, root: Path) -> None:
    from agentcrdt.evals.report import scores_table
    from agentcrdt.evals.runner import plan_run, score_room
    from agentcrdt.evals.suite import load_suite

    suite_path = root / "evals" / "falcon.yaml"
    if not suite_path.is_file():
        return
    scores = score_room(plan_run(load_suite(suite_path)), room_path)
    _say("\nAgainst the sample's ground truth (the falcon eval suite: agentcrdt eval falcon)")
    _say("  applied = what the room holds; proposed = also counting proposals still pending")
    for line in scores_table(scores, with_intervals=False).splitlines():
        if "/" in line.split(" ", 1)[0] and not line.startswith("fields/"):
            continue  # per-label and span rows: in the suite's own report
        _say("  " + line)


def _how_to_review(room_path: Path, workdir: Path) -> None:
    key = workdir / "falcon.db.key"
    _say("\nReview as the room's owner:")
    _say(f"  agentcrdt proposals list --room {room_path} --status pending")
    _say(f"  agentcrdt proposals show ID --room {room_path}")
    _say(f"  agentcrdt proposals accept ID --room {room_path} --key {key}")
    _say(f"  agentcrdt proposals reject ID --room {room_path} --key {key} --note 'why'")
    _say(f"  agentcrdt room show {room_path} DOCUMENT   |   agentcrdt audit verify {room_path}")
