"""``agentcrdt proposals list|show|accept|reject`` and ``agentcrdt grant|revoke|key``."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any, Literal

from agentcrdt.errors import UsageError
from agentcrdt.log.keys import Identity
from agentcrdt.proposals.status import ProposalInfo
from agentcrdt.replica import Replica
from agentcrdt.rooms.local import open_local

KEY_ENV = "AGENTCRDT_KEY"


def load_identity(key: str | None) -> Identity:
    """Load the signing key named by ``--key`` or $AGENTCRDT_KEY."""
    path = key or os.environ.get(KEY_ENV)
    if not path:
        raise UsageError(
            f"which key signs this? pass --key PATH or set {KEY_ENV} (create one: agentcrdt key new PATH)"
        )
    return Identity.load(path)


def _short(event_id: str) -> str:
    return event_id.removeprefix("sha256:")[:12]


def _author(author: str | None) -> str:
    return "-" if author is None else author.removeprefix("ed25519:")[:12]


def _ops_line(op: dict[str, Any]) -> str:
    return f"{op['e']}/{op['id']}.{op['f']} {op['t']} {json.dumps(op['op'], ensure_ascii=False)}"


def _print_info(info: ProposalInfo) -> None:
    p = info.event.payload
    print(
        f"{_short(info.id)}  {info.status:<13} {p['slot']:<10} {p['kind']:<10} conf {p['confidence']:<6} "
        f"by {_author(info.agent)}  {len(p['ops'])} op(s)  {p['rationale'][:60]}"
    )


def list_command(room: str, *, status: str | None, as_json: bool) -> int:
    """List proposals, oldest first."""
    from agentcrdt.rooms.workflow import list_proposals

    replica = open_local(room)
    found = list_proposals(replica, status)
    if as_json:
        print(json.dumps([i.to_json() for i in found], indent=2, ensure_ascii=False))
        return 0
    if not found:
        print("no proposals" + (f" with status {status}" if status else ""))
        return 0
    for info in found:
        _print_info(info)
    pending = sum(1 for i in found if i.status == "pending")
    if pending:
        print(f"\n{pending} pending: agentcrdt proposals show ID --room {room}; then accept ID or reject ID")
    return 0


def show_command(room: str, proposal_id: str, *, as_json: bool) -> int:
    """Show one proposal with its evidence and the three-way view of the fields it touches."""
    from agentcrdt.rooms.workflow import check_evidence, proposal, three_way_view

    replica = open_local(room)
    info = proposal(replica, proposal_id)
    views = three_way_view(replica, info.id)
    if as_json:
        out = info.to_json()
        out["fields"] = [
            {
                "entity": v.entity,
                "id": v.entity_id,
                "field": v.field,
                "base": v.base,
                "proposed": v.proposed,
                "current": v.current,
                "stale": v.stale,
            }
            for v in views
        ]
        print(json.dumps(out, indent=2, ensure_ascii=False))
        return 0
    p = info.event.payload
    print(f"proposal   {info.id}")
    print(f"status     {info.status}  ({info.reason})")
    print(f"slot/kind  {p['slot']} / {p['kind']}   confidence {p['confidence']}")
    print(f"agent      {info.agent}")
    prov = p["provenance"]
    print(f"model      {prov['model']}  prompt {prov['prompt_hash'][:19]}…  usage {prov['usage']}")
    if info.reviewer:
        print(f"reviewer   {info.reviewer}")
    print(f"rationale  {p['rationale']}")
    for ev, ok in check_evidence(replica, info.id):
        mark = "verified" if ok else "NOT FOUND in the text the agent read"
        print(f"evidence   {ev['entity']}/{ev['id']}.{ev['field']}[{ev['start']}:{ev['end']}] ({mark})")
        print(f'           "{ev["quote"]}"')
    print("ops")
    for op in p["ops"]:
        print(f"  {_ops_line(op)}")
    if views:
        print(
            "fields     base -> proposed (current)"
            + ("   STALE: changed since the agent read it" if any(v.stale for v in views) else "")
        )
        for v in views:
            mark = " *stale*" if v.stale else ""
            print(
                f"  {v.entity}/{v.entity_id}.{v.field}: {v.base!r} -> {v.proposed!r}"
                f" (now {v.current!r}){mark}"
            )
    return 0


def decide_command(
    room: str,
    proposal_id: str,
    decision: Literal["accept", "reject"],
    *,
    note: str,
    key: str | None,
    as_json: bool,
    force: bool = False,
) -> int:
    """Accept or reject a proposal, signed with the reviewer's key.

    Accepting re-checks the proposal's evidence first: a span that is not in the text the agent read
    (an agent of another peer may not have checked it) is refused unless ``force`` is given.
    """
    from agentcrdt.rooms.workflow import check_evidence, proposal, review

    identity = load_identity(key)
    replica = open_local(room, identity=identity)
    if decision == "accept" and not force:
        bad = [ev for ev, ok in check_evidence(replica, proposal_id) if not ok]
        if bad:
            spans = "; ".join(f"{e['entity']}/{e['id']}.{e['field']}[{e['start']}:{e['end']}]" for e in bad)
            raise UsageError(
                f"{len(bad)} evidence span(s) of this proposal are not in the text the agent read ({spans}); "
                "nothing was written. Reject it, or accept with --force if you checked it yourself"
            )
    event = review(replica, proposal_id, decision, note)
    info = proposal(replica, event.payload["proposal"])
    if as_json:
        print(json.dumps({"review": event.id, "proposal": info.id, "status": info.status}))
    else:
        print(f"{decision}ed {_short(info.id)}: now {info.status} (review {_short(event.id)})")
    return 0


def grant_command(room: str, grantee: str, capability_target: str, *, key: str | None) -> int:
    """Grant the capability defined in an agent file (or MODULE:NAME) to a peer."""
    from agentcrdt.capabilities.spec import Capability
    from agentcrdt.rooms.workflow import grant

    capability = _load_capability(capability_target)
    if not isinstance(capability, Capability):
        raise UsageError(f"{capability_target} is not a Capability")
    replica = open_local(room, identity=load_identity(key))
    event = grant(replica, _author_arg(replica, grantee), capability)
    print(f"granted slot {capability.slot!r} ({capability.mode}) to {grantee}: grant {event.id}")
    return 0


def revoke_command(room: str, grant_id: str, *, reason: str, key: str | None) -> int:
    """Revoke a grant by id."""
    from agentcrdt.rooms.workflow import revoke

    replica = open_local(room, identity=load_identity(key))
    event = revoke(replica, grant_id, reason)
    print(f"revoked {grant_id}: revoke {event.id}")
    return 0


def key_new_command(path: str) -> int:
    """Create a new signing key file and print its author string."""
    identity = Identity.generate()
    identity.save(path)
    print(identity.author)
    return 0


def _author_arg(replica: Replica, value: str) -> str:
    if value.startswith("ed25519:"):
        return value
    if Path(value).is_file():
        return Identity.load(value).author
    raise UsageError(f"grantee {value!r} is neither an 'ed25519:…' author nor a key file")


def _load_capability(target: str) -> object:
    """Load ``path/to/agent.py[:attr]``: an Agent class's ``capability`` or a module-level Capability."""
    import importlib.util

    path, _, attr = target.partition(":")
    file = Path(path)
    if not file.is_file():
        raise UsageError(f"no such file {path!r}; give the agent file that defines the capability")
    spec = importlib.util.spec_from_file_location(f"_agentcrdt_cap_{file.stem}", file)
    if spec is None or spec.loader is None:
        raise UsageError(f"cannot load {path}")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    from agentcrdt.capabilities.spec import Capability

    candidates = [getattr(module, attr)] if attr else list(vars(module).values())
    for value in candidates:
        if isinstance(value, Capability):
            return value
        cap = getattr(value, "capability", None)
        if isinstance(value, type) and isinstance(cap, Capability):
            return cap
    raise UsageError(f"{target} defines no Capability (nor a class with a 'capability' attribute)")
