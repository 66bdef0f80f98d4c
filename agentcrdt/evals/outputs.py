"""What a run keeps of each case: the proposals, the room's state, and the texts they cite.

Scorers read only a :class:`CaseOutput`, never a room, so a stored run can be re-scored (a new scorer
version, a corrected gold file) without opening a room or calling a model again. A case output holds
every proposal of the agents' slots as signed into the room (payload, status, verdict), the materialized
state (``applied``), and the full text of every entity field a proposal cites, so groundedness can be
re-checked from the output alone.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from agentcrdt.errors import AgentCRDTError
from agentcrdt.ops.state import DocState
from agentcrdt.proposals.kinds import check_proposal
from agentcrdt.replica import Replica
from agentcrdt.rooms.workflow import list_proposals

__all__ = ["CaseOutput", "ProposalRecord", "View", "collect", "proposed_view", "text_key"]

#: A plain view of a room: ``"Type/id"`` -> field values (JSON).
View = dict[str, dict[str, Any]]


def text_key(entity: str, entity_id: str, field: str) -> str:
    """Return the key under which a cited text is kept: ``Type/id/field``."""
    return f"{entity}/{entity_id}/{field}"


class ProposalRecord(BaseModel):
    """One proposal as the room holds it, with the checks that need the room made when it was collected."""

    model_config = ConfigDict(extra="forbid")

    id: str
    author: str
    status: str
    reason: str = ""
    payload: dict[str, Any]
    #: Why the payload fails the proposal schema ("" when it passes).
    schema_problem: str = ""

    @property
    def slot(self) -> str:
        return str(self.payload.get("slot", ""))

    @property
    def confidence(self) -> float:
        try:
            return float(self.payload.get("confidence", 0))
        except (TypeError, ValueError):
            return 0.0


class CaseOutput(BaseModel):
    """Everything scorers need about one case, after its agents ran."""

    model_config = ConfigDict(extra="forbid")

    case: str
    #: The agents' slots, in run order (what validity checks a proposal's slot against).
    slots: list[str]
    #: Proposal kinds each slot may make (its capability's ``proposal_kinds``; empty: any).
    kinds: dict[str, list[str]] = Field(default_factory=dict)
    applied: View = Field(default_factory=dict)
    proposals: list[ProposalRecord] = Field(default_factory=list)
    #: Full texts cited by evidence, by :func:`text_key`.
    texts: dict[str, str] = Field(default_factory=dict)
    seconds: float = 0.0
    agent_seconds: dict[str, float] = Field(default_factory=dict)
    #: Model calls made (not answered by the response cache) and answered from it.
    calls: int = 0
    cached_calls: int = 0
    error: str | None = None
    #: An exploration job's spending and end (``nodes``, ``calls``, ``reason``), for explorer agents.
    job: dict[str, Any] | None = None
    #: Reference baselines run in the same case (``{"naive": {"findings": [...], "pairs": [...],
    #: "calls": n}}``), stored so re-scoring needs no model.
    baselines: dict[str, Any] = Field(default_factory=dict)

    def of_slots(self) -> list[ProposalRecord]:
        """Return the proposals made through the agents' slots (others are the room's own history)."""
        return [p for p in self.proposals if p.slot in self.slots]


def _plain(value: Any) -> Any:
    return json.loads(json.dumps(value, default=str))


def _full_text(state: DocState, entity: str, entity_id: str, field: str) -> str | None:
    values = state.value(entity, entity_id)
    if values is None:
        return None
    value = values.get(field)
    if isinstance(value, list) and all(isinstance(c, str) for c in value):
        value = "".join(value)
    if not isinstance(value, str):
        return None
    chunks = values.get("chunks")
    if entity == "DocumentVersion" and field == "text" and isinstance(chunks, int) and chunks > 1:
        # A long version's text is split over DocumentChunk entities; evidence offsets are into the whole.
        from agentcrdt.dataroom.domain import chunk_id

        parts = [value]
        for i in range(1, chunks):
            chunk = state.value("DocumentChunk", chunk_id(entity_id, i)) or {}
            part = chunk.get("text")
            if not isinstance(part, str):
                return None
            parts.append(part)
        value = "".join(parts)
    return value


def collect(
    replica: Replica,
    case: str,
    slots: Iterable[str],
    kinds: Mapping[str, Iterable[str]] | None = None,
) -> CaseOutput:
    """Read a case's room after its agents ran."""
    state = replica.state_at()
    applied: View = {}
    for entity, entity_id in state.entities:
        if entity in ("DocumentChunk", "DocumentVersion"):
            continue  # texts: kept only where cited
        values = state.value(entity, entity_id)
        if values is not None:
            applied[f"{entity}/{entity_id}"] = _plain(dict(values))
    records: list[ProposalRecord] = []
    texts: dict[str, str] = {}
    for info in list_proposals(replica):
        payload = _plain(dict(info.event.payload))
        problem = ""
        try:
            check_proposal(info.event.payload)
        except AgentCRDTError as e:
            problem = str(e)
        records.append(
            ProposalRecord(
                id=info.id,
                author=info.agent,
                status=info.status,
                reason=info.reason,
                payload=payload,
                schema_problem=problem,
            )
        )
        for ev in payload.get("evidence") or []:
            key = text_key(str(ev.get("entity")), str(ev.get("id")), str(ev.get("field")))
            if key not in texts:
                text = _full_text(state, str(ev.get("entity")), str(ev.get("id")), str(ev.get("field")))
                if text is not None:
                    texts[key] = text
    return CaseOutput(
        case=case,
        slots=list(slots),
        kinds={k: list(v) for k, v in (kinds or {}).items()},
        applied=applied,
        proposals=records,
        texts=texts,
    )


def _apply(view: View, ops: Iterable[Mapping[str, Any]]) -> None:
    """Apply proposal ops to a plain view where it has no value yet (a pending proposal fills gaps;
    it does not override what the room holds)."""
    for o in ops:
        if not isinstance(o, Mapping) or not isinstance(o.get("op"), Mapping):
            continue
        values = view.setdefault(f"{o.get('e')}/{o.get('id')}", {})
        kernel, field = o["op"], str(o.get("f"))
        if o.get("t") == "lww" and "set" in kernel:
            if values.get(field) in (None, "", []):
                values[field] = kernel["set"]
        elif o.get("t") == "orset" and "add" in kernel:
            items = values.setdefault(field, [])
            if isinstance(items, list) and kernel["add"] not in items:
                items.append(kernel["add"])
        elif o.get("t") == "map" and isinstance(kernel.get("op"), Mapping) and "set" in kernel["op"]:
            entries = values.setdefault(field, {})
            if isinstance(entries, dict) and kernel["key"] not in entries:
                entries[kernel["key"]] = kernel["op"]["set"]


def proposed_view(output: CaseOutput) -> View:
    """Return the applied state plus every pending proposal of the agents' slots (what they claimed)."""
    view: View = json.loads(json.dumps(output.applied))
    for p in output.of_slots():
        if p.status == "pending":
            _apply(view, p.payload.get("ops") or [])
    return view


def write_outputs(path: Path, outputs: Iterable[CaseOutput]) -> None:
    """Write case outputs as gzipped JSON lines (one case per line)."""
    import gzip

    with gzip.open(path, "wt", encoding="utf-8") as f:
        for o in outputs:
            f.write(o.model_dump_json() + "\n")


def read_outputs(path: Path) -> list[CaseOutput]:
    """Read case outputs written by :func:`write_outputs`."""
    import gzip

    with gzip.open(path, "rt", encoding="utf-8") as f:
        return [CaseOutput.model_validate_json(line) for line in f if line.strip()]
