"""The review UI's read models: what each page shows, as JSON-ready dicts, from one replica.

Pure reads over a :class:`Replica` (no HTTP here): the app serves them, the tests call them. Lists are
paginated on this side (``offset``/``limit``, with the ``total`` before slicing) so a room of 10k
documents and 50k proposals sends a page, never the room. The expensive derivations (every proposal's
status, the audit of the whole chain) are cached per store position and verdict epoch: a state is a
function of the events, so the cache is valid exactly until an event arrives or a verdict moves.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from typing import Any, TypeVar

from agentcrdt.dataroom import Dataroom
from agentcrdt.dataroom.access import AccessRecord, access_record
from agentcrdt.dataroom.domain import Document, DocumentVersion, Finding
from agentcrdt.dataroom.signatures import check_signature, check_text
from agentcrdt.errors import NotFound, UsageError
from agentcrdt.log.audit import LogVerifier
from agentcrdt.log.event import decode_event
from agentcrdt.ops.state import DocState
from agentcrdt.proposals.kinds import PROPOSAL
from agentcrdt.proposals.status import FieldView, ProposalInfo, three_way
from agentcrdt.replica import Replica
from agentcrdt.rooms.workflow import evidence_in, list_proposals, resolve_proposal_id

__all__ = ["MAX_LIMIT", "Filters", "RoomViews", "page"]

MAX_LIMIT = 200  # rows a page may ask for: a client cannot make the server send the room
CONTEXT = 160  # characters of text shown each side of an evidence quote
STATUSES = ("pending", "accepted", "auto_accepted", "rejected", "quarantined")

T = TypeVar("T")


def page(
    items: Sequence[T], offset: int, limit: int, encode: Callable[[T], dict[str, Any]]
) -> dict[str, Any]:
    """Slice ``items`` to one page and encode only that page."""
    if offset < 0 or not 1 <= limit <= MAX_LIMIT:
        raise UsageError(f"offset must be >= 0 and limit between 1 and {MAX_LIMIT}; got {offset}, {limit}")
    return {
        "total": len(items),
        "offset": offset,
        "limit": limit,
        "items": [encode(x) for x in items[offset : offset + limit]],
    }


@dataclass(frozen=True, slots=True)
class Filters:
    """What the proposal queue is filtered by (every field optional)."""

    status: str = ""
    agent: str = ""
    kind: str = ""
    slot: str = ""
    min_confidence: str = ""
    max_confidence: str = ""

    def bounds(self) -> tuple[Decimal, Decimal]:
        try:
            lo = Decimal(self.min_confidence or "0")
            hi = Decimal(self.max_confidence or "1")
        except InvalidOperation as e:
            raise UsageError("confidence bounds must be numbers between 0 and 1, e.g. 0.8") from e
        return lo, hi

    def admits(self, info: ProposalInfo, lo: Decimal, hi: Decimal) -> bool:
        p = info.event.payload
        return (
            (not self.status or info.status == self.status)
            and (not self.agent or info.agent == self.agent)
            and (not self.kind or p["kind"] == self.kind)
            and (not self.slot or p["slot"] == self.slot)
            and (not (self.min_confidence or self.max_confidence) or lo <= info.confidence <= hi)
        )


def _short(event_id: str) -> str:
    return event_id.removeprefix("sha256:")[:12]


def _proposal_row(info: ProposalInfo) -> dict[str, Any]:
    p = info.event.payload
    return {
        "id": info.id,
        "short": _short(info.id),
        "status": info.status,
        "reason": info.reason,
        "agent": info.agent,
        "slot": p["slot"],
        "kind": p["kind"],
        "confidence": p["confidence"],
        "rationale": p["rationale"],
        "ops": len(p["ops"]),
        "evidence": len(p["evidence"]),
        "time": info.event.time,
        "reviewer": info.reviewer,
    }


def _narrowed(v: FieldView) -> dict[str, Any]:
    """One row of the three-way view; a map field is narrowed to the keys the proposal changes (a
    reviewer of one extracted field need not read, or be warned about, every other key)."""
    base, proposed, current = v.base, v.proposed, v.current
    if isinstance(proposed, dict) and isinstance(base, dict | None) and isinstance(current, dict | None):
        keys = [k for k in proposed if (base or {}).get(k) != proposed[k]]
        base = {k: (base or {}).get(k) for k in keys}
        proposed = {k: proposed[k] for k in keys}
        current = {k: (current or {}).get(k) for k in keys}
    return {
        "entity": v.entity,
        "id": v.entity_id,
        "field": v.field,
        "base": base,
        "proposed": proposed,
        "current": current,
        "stale": current != base,
    }


@dataclass
class _Grown:
    """What the views keep of the log itself, extended as it grows (see :meth:`RoomViews._log`)."""

    position: int = 0  # the last store position taken in
    rows: list[dict[str, Any]] = field(default_factory=list)
    access: list[AccessRecord] = field(default_factory=list)
    reads: set[tuple[str, str]] = field(default_factory=set)
    proposals: list[str] = field(default_factory=list)  # every stored proposal's id, in store order


def _facets(every: Sequence[ProposalInfo]) -> dict[str, Any]:
    return {
        "status": dict(Counter(i.status for i in every)),
        "agent": sorted({i.agent for i in every}),
        "kind": sorted({i.event.payload["kind"] for i in every}),
        "slot": sorted({i.event.payload["slot"] for i in every}),
    }


class RoomViews:
    """Every page's data for one replica (a local room file, or a scope the server holds).

    A text shown is a read, and every read is logged. Locally (``viewer`` left None) the reader is
    the replica's identity and each version's first read here logs an ``access`` event signed by it;
    without an identity texts are withheld. For a viewer whose key is elsewhere (a browser, through
    :meth:`for_viewer`), a text is shown only once the log holds that viewer's access event for the
    version: the viewer signs the read first ("no log, no text").
    """

    def __init__(
        self, replica: Replica, *, viewer: str | None = None, _cache: dict[str, Any] | None = None
    ) -> None:
        self.replica = replica
        self.room = Dataroom(replica)
        self.remote = viewer is not None
        self.viewer = (
            viewer if viewer is not None else (None if replica.identity is None else replica.identity.author)
        )
        # Viewer-independent derivations only: shared by every viewer's views of one replica.
        self._cache: dict[str, tuple[object, Any]] = {} if _cache is None else _cache
        self._logged: set[str] = set()

    def for_viewer(self, viewer: str) -> RoomViews:
        """These views as ``viewer`` (a key held elsewhere) sees them, sharing the derived caches."""
        return RoomViews(self.replica, viewer=viewer, _cache=self._cache)

    # -- caching --------------------------------------------------------------------------------------

    def version_key(self) -> tuple[int, int]:
        """What the access log and the audit depend on: every event stored (a read, logged as a local
        event, included) and the verdicts over them."""
        self.replica.refresh()  # what other processes appended to the same room file
        return self.replica.store.last_position(), self.replica.verdict_epoch()

    def state_key(self) -> tuple[frozenset[str], int]:
        """What everything else depends on: the shared events (their heads) and the verdicts. A read
        logged as a local event leaves it unchanged, so showing a text keeps every list cached."""
        self.replica.refresh()
        return self.replica.heads, self.replica.verdict_epoch()

    def _cached(self, name: str, build: Callable[[], T], *, local: bool = False) -> T:
        key = self.version_key() if local else self.state_key()
        hit = self._cache.get(name)
        if hit is not None and hit[0] == key:
            return hit[1]  # type: ignore[no-any-return]
        value = build()
        self._cache[name] = (key, value)
        return value

    def _proposals(self) -> list[ProposalInfo]:
        # The log's scan already names every stored proposal: the list need not scan the store again.
        return self._cached("proposals", lambda: list_proposals(self.replica, ids=self._log().proposals))

    def _proposal_index(self) -> dict[str, ProposalInfo]:
        return self._cached("proposal_index", lambda: {i.id: i for i in self._proposals()})

    def _state_at(self, base: Sequence[str], keys: Iterable[tuple[str, str]]) -> DocState:
        """The state of the entities ``keys`` as of the heads ``base`` (what a proposal read): the
        replica folds only the events that may change them; kept for the pages that come back."""
        wanted = tuple(sorted(set(keys)))
        key = (tuple(sorted(base)), wanted)
        cache: dict[Any, DocState] = self._cached("base_states", dict)
        state = cache.get(key)
        if state is None:
            if len(cache) >= 256:
                cache.pop(next(iter(cache)))
            state = cache[key] = self.replica.state_at(key[0], only=wanted)
        return state

    def prepare(self) -> None:
        """Derive now what the first pages need (the authority index, every proposal's status, the
        documents, the log's rows): what a UI does once before it says it is ready, so that the first
        page a reviewer opens is served from them."""
        self._proposal_index()
        self.replica.state_at(only=())  # builds the replica's touch index: a proposal's page reads it
        self._documents()
        self._cached("doc_counts", self._doc_counts)
        self._findings()
        self._log()

    # -- pages ----------------------------------------------------------------------------------------

    def overview(self) -> dict[str, Any]:
        """The room at a glance: name, owners, counts, agents."""
        replica = self.replica
        genesis = replica.genesis
        statuses, quarantined = self._cached("counts", self._counts)
        return {
            "scope": replica.scope,
            "name": genesis.payload.get("name", ""),
            "owners": list(genesis.payload["owners"]),
            "viewer": self.viewer,
            "remote": self.remote,
            "events": replica.store.count(),
            "documents": len(self._documents()),
            "findings": len(self._findings()),
            "proposals": {s: statuses.get(s, 0) for s in STATUSES},
            "quarantined": quarantined,
            "rejected_at_ingest": len(replica.store.rejections()),
            "agents": self.agents(),
        }

    def _counts(self) -> tuple[Counter[str], int]:
        """Proposals by status, and quarantined events."""
        statuses: Counter[str] = Counter(i.status for i in self._proposals())
        return statuses, sum(1 for v, _ in self.replica.store.verdicts().values() if v != "valid")

    def _by_agent(self) -> tuple[Counter[str], Counter[tuple[str, str]]]:
        every = self._proposals()
        return Counter(i.agent for i in every), Counter((i.agent, i.status) for i in every)

    def agents(self) -> list[dict[str, Any]]:
        """Every grant: who holds which slot, whether it was revoked, and what the grantee wrote."""
        replica = self.replica
        replica.dag  # noqa: B018
        index = replica.policy_index
        wrote, by_status = self._cached("by_agent", self._by_agent)
        out = []
        for author in index.grantees():
            for g in index.grants_to(author):
                cap = g.capability
                revoked = bool(index.revocations_of(g.event.id))
                out.append(
                    {
                        "author": author,
                        "grant": g.event.id,
                        "slot": cap.slot,
                        "mode": cap.mode,
                        "reads": list(cap.reads),
                        "writes": list(cap.writes),
                        "review": list(cap.review),
                        "revoked": revoked,
                        "proposals": wrote.get(author, 0),
                        "by_status": {s: by_status.get((author, s), 0) for s in STATUSES},
                    }
                )
        return out

    def documents(self, *, q: str = "", kind: str = "", offset: int = 0, limit: int = 50) -> dict[str, Any]:
        """One page of documents (by id), filtered by a substring of id/title and by kind."""
        needle = q.lower()
        every = self._documents()
        docs = [
            d
            for d in every
            if (not needle or needle in d.id or needle in d.title.lower()) and (not kind or d.kind == kind)
        ]
        versions, signed = self._cached("doc_counts", self._doc_counts)

        def row(d: Document) -> dict[str, Any]:
            return {
                "id": d.id,
                "title": d.title,
                "kind": d.kind,
                "tags": sorted(d.tags),
                "status": d.status,
                "folder": d.folder,
                "fields": {k: v.value for k, v in sorted(d.fields.items())},
                "versions": versions.get(d.id, 0),
                "signatures": signed.get(d.id, 0),
            }

        out = page(docs, offset, limit, row)
        out["kinds"] = self._cached("kinds", lambda: sorted({d.kind for d in every if d.kind}))
        return out

    def _documents(self) -> list[Document]:
        return self._cached("documents", self.room.documents)

    def _doc_counts(self) -> tuple[dict[str, int], Counter[str]]:
        """Versions and signatures per document."""
        return self.room.version_counts(), Counter(s.document for s in self.room.signatures())

    def _findings(self) -> list[Finding]:
        return self._cached("findings", lambda: self.room.findings())

    def _log(self) -> _Grown:
        """The access log and the audit rows, grown by what was stored since the last call (the log
        only grows; scanning all of it again after each logged read read the whole file)."""
        grown: _Grown = self._cache.setdefault("_grown", (None, _Grown()))[1]
        end = self.replica.store.last_position()
        if end == grown.position:
            return grown
        for position, s in self._since(grown.position):
            grown.position = position
            record = access_record(position, s)
            if record is not None:
                grown.access.append(record)
                grown.reads.add((record.reader, record.version))
            elif s.kind == PROPOSAL:
                grown.proposals.append(s.id)
            grown.rows.append(
                {"position": position, "id": s.id, "short": _short(s.id), "author": s.author, "seq": s.seq,
                 "lamport": s.lamport, "kind": s.kind, "local": s.local}
            )  # fmt: skip
        return grown

    def _since(self, cursor: int) -> Iterable[tuple[int, Any]]:
        while batch := self.replica.store.since(cursor, limit=5_000):
            cursor = batch[-1][0]
            yield from batch

    def reads(self) -> set[tuple[str, str]]:
        """``(reader, version)`` for every logged read."""
        return self._log().reads

    def text(self, version: DocumentVersion) -> str | None:
        """A version's text, the read logged first; None when it cannot be (see the class)."""
        if self.remote:
            return self.room.logged_text(version, str(self.viewer), self.reads())
        if self.replica.identity is None:
            return None
        if version.id not in self._logged:
            reading = self.room.read(version.document, version.number, via="ui")
            self._logged.add(version.id)
            return reading.text
        return self.room.logged_text(version, self.replica.identity.author, self.reads())

    def document(self, name: str) -> dict[str, Any]:
        """A document with every version's text and where evidence quotes it."""
        doc = self.room.document(name)
        versions = self.room.versions(doc.id)
        highlights = self._highlights(doc.id)
        sigs = self.room.signatures(doc.id)
        out_versions = []
        for v in versions:
            text = self.text(v)
            integrity = check_text(v, text, "") if text is not None else None
            out_versions.append(
                {
                    "id": v.id,
                    "number": v.number,
                    "content_hash": v.content_hash,
                    "source_name": v.source_name,
                    "added_by": v.added_by,
                    "text": text,
                    "intact": None if integrity is None else integrity.ok,
                    "highlights": [h for h in highlights if h["version"] == v.id],
                    "signatures": [
                        {
                            "signer": s.signer,
                            "statement": s.statement,
                            "signed_at": s.signed_at,
                            **{
                                k: r
                                for k, r in check_signature(s, v).to_json().items()
                                if k in ("ok", "reason")
                            },
                        }
                        for s in sigs
                        if s.version == v.id
                    ],
                }
            )
        return {
            "id": doc.id,
            "title": doc.title,
            "kind": doc.kind,
            "tags": sorted(doc.tags),
            "status": doc.status,
            "summary": doc.summary,
            "current_version": doc.current_version,
            "fields": {k: v.model_dump() for k, v in sorted(doc.fields.items())},
            "versions": out_versions,
            "links": [lk.model_dump(mode="json") for lk in self.room.links(doc.id)],
            "access": [r.to_json() for r in self._log().access if r.document == doc.id],
            "readable": self.viewer is not None,
        }

    def _quotes_by_document(self) -> dict[str, list[dict[str, Any]]]:
        """Every proposal's evidence quote on a document version, by document (built once a state:
        a document page must not walk every proposal of the room)."""
        index: dict[str, list[dict[str, Any]]] = {}
        for info in self._proposals():
            for ev in info.event.payload["evidence"]:
                if ev["entity"] == "DocumentVersion":
                    index.setdefault(str(ev["id"]).partition("@")[0], []).append(
                        {
                            "version": ev["id"],
                            "start": ev["start"],
                            "end": ev["end"],
                            "quote": ev["quote"],
                            "source": "proposal",
                            "ref": info.id,
                            "label": f"{info.event.payload['slot']} "
                            f"{info.event.payload['kind']} ({info.status})",
                        }
                    )
        return index

    def _highlights(self, doc_id: str) -> list[dict[str, Any]]:
        """Every evidence span on the document's versions: proposals' and findings' quotes."""
        out = list(self._cached("quotes", self._quotes_by_document).get(doc_id, []))
        for finding in self.room.findings(doc_id):
            for span in finding.evidence:
                if span.document == doc_id and span.start is not None and span.end is not None:
                    out.append(
                        {
                            "version": span.version,
                            "start": span.start,
                            "end": span.end,
                            "quote": span.quote,
                            "source": "finding",
                            "ref": finding.id,
                            "label": f"{finding.kind}: {finding.title}",
                        }
                    )
        return sorted(out, key=lambda h: (h["version"], h["start"], h["end"]))

    def proposals(self, filters: Filters, *, offset: int = 0, limit: int = 50) -> dict[str, Any]:
        """One page of the proposal queue (oldest first), with the facets to filter by."""
        lo, hi = filters.bounds()
        every = self._proposals()
        kept = [i for i in every if filters.admits(i, lo, hi)]
        out = page(kept, offset, limit, _proposal_row)
        out["facets"] = self._cached("facets", lambda: _facets(every))
        return out

    def matching(self, filters: Filters) -> list[str]:
        """Every proposal id the filters admit (what a bulk review acts on)."""
        lo, hi = filters.bounds()
        return [i.id for i in self._proposals() if filters.admits(i, lo, hi)]

    def proposal(self, proposal_id: str) -> dict[str, Any]:
        """One proposal: its payload, the three-way view, and its evidence in context."""
        index = self._proposal_index()
        info = index.get(proposal_id) or index[resolve_proposal_id(self.replica, proposal_id)]
        payload = info.event.payload
        # The base and the current state of the touched entities only (and the versions the
        # evidence quotes): the room's whole state took seconds to fold or copy on a large room.
        touched = {(str(o["e"]), str(o["id"])) for o in payload["ops"]}
        quoted = {(str(e["entity"]), str(e["id"])) for e in payload["evidence"]}
        base = self._state_at(payload["base"], touched | quoted)
        out = {**info.to_json(), "short": _short(info.id), "evidence": []}
        current = self.replica.state_at(only=touched)
        out["fields"] = [_narrowed(v) for v in three_way(info.event, base, current)]
        for ev, ok in evidence_in(base, payload["evidence"]):
            out["evidence"].append({**ev, "verified": ok, **self._context(ev)})
        return out

    def _context(self, ev: dict[str, Any]) -> dict[str, Any]:
        """The text around an evidence quote on a document version (logged as a read)."""
        if ev["entity"] != "DocumentVersion":
            return {"before": "", "after": "", "document": None}
        key = ("DocumentVersion", str(ev["id"]))
        state = self.replica.state_at(only=[key]).entities.get(key)  # no fold of the whole room
        if state is None:
            return {"before": "", "after": "", "document": None}
        version = DocumentVersion.from_state(ev["id"], state)
        text = self.text(version)
        if text is None:  # a remote viewer's read is not logged yet: it signs one, then refetches
            return {"before": "", "after": "", "document": version.document, "unread": self.remote}
        start, end = int(ev["start"]), int(ev["end"])
        return {
            "before": text[max(0, start - CONTEXT) : start],
            "after": text[end : end + CONTEXT],
            "document": version.document,
        }

    def audit(self, *, offset: int = 0, limit: int = 50, only: str = "", verify: str = "") -> dict[str, Any]:
        """The chain, newest last: each event with its verdict; the whole log's verification on top.

        ``only="flagged"`` keeps quarantined events (and shows the rejections: bytes refused at ingest).
        The log is verified once, then as it grows only what was appended is (see :meth:`_verify`);
        ``verify="full"`` re-verifies every event from the genesis.
        """
        if only not in ("", "flagged"):
            raise UsageError(f"audit filter {only!r} is not known; use 'flagged' or nothing")
        if verify not in ("", "full"):
            raise UsageError(f"verify={verify!r} is not known; use 'full' (re-verify every event) or nothing")
        if verify == "full":
            self._cache.pop("_verifier", None)
            self._cache.pop("verification", None)
        verification = self._cached("verification", self._verify, local=True)
        verdicts = dict(self._cached("verdicts", self.replica.store.verdicts, local=True))
        failure = verification["failure"]
        if failure is not None:  # the event whose bytes no longer verify: shown as what it is
            verdicts[failure["event"]] = ("tampered", f"{failure['reason']}: {failure['detail']}")
        rows = self._log().rows
        if only == "flagged":
            rows = [r for r in rows if verdicts.get(r["id"], ("valid", ""))[0] != "valid"]

        def encode(r: dict[str, Any]) -> dict[str, Any]:
            verdict, reason = verdicts.get(r["id"], ("valid", ""))
            return {**r, "verdict": verdict, "reason": reason}

        out = page(rows, offset, limit, encode)
        out["verification"] = verification
        out["rejections"] = [
            {"event": r.event_id, "reason": r.reason, "detail": r.detail}
            for r in self.replica.store.rejections()
        ]
        return out

    def _verify(self) -> dict[str, Any]:
        """Re-derive ids and signatures (the tamper check ``agentcrdt audit verify`` runs).

        Incremental: the verifier kept from the last call goes on from the last position it verified,
        so a log that grew by one logged read costs one event, not the whole chain. It takes the rows
        it verified before as unchanged; ``verify="full"`` (a button on the page) starts over."""
        verifier: LogVerifier = self._cache.setdefault("_verifier", (None, LogVerifier()))[1]
        start, before = verifier.position, verifier.report.events
        report = verifier.feed(self._since(start))
        failure = report.failure or verifier.check_heads(self.replica.store.heads())
        return {
            "intact": failure is None,
            "events": report.events,
            "verified_now": report.events - before,
            "incremental": start > 0,
            "failure": None
            if failure is None
            else {
                "position": failure.position,
                "event": failure.event_id,
                "reason": failure.reason,
                "detail": failure.detail,
            },
        }

    def event(self, event_id: str) -> dict[str, Any]:
        """One stored event, decoded, with its verdict."""
        stored = self.replica.store.get(event_id)
        if stored is None:
            raise NotFound(f"no event {event_id} in this room")
        e = decode_event(stored.raw, verify_signature=False)
        verdict, reason = self.replica.verdict(e.id)
        return {
            "id": e.id,
            "author": e.author,
            "seq": e.seq,
            "lamport": e.lamport,
            "time": e.time,
            "kind": e.kind,
            "deps": list(e.deps),
            "local": e.local,
            "payload": e.payload,
            "verdict": verdict,
            "reason": reason,
        }

    def access(self, *, offset: int = 0, limit: int = 50) -> dict[str, Any]:
        """One page of the access log: who read which version, when, through what."""
        return page(self._log().access, offset, limit, lambda r: r.to_json())

    def findings(self, *, offset: int = 0, limit: int = 50) -> dict[str, Any]:
        """One page of findings (contradictions, connections, risks, questions), by id."""
        return page(self._findings(), offset, limit, lambda f: f.model_dump(mode="json"))
