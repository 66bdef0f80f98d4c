"""``Dataroom``: the dataroom domain as calls on one replica (ingest, read, sign, verify, audit reads).

Reads go through the replica's projected ``entities`` table when it has one (``open_local`` rooms), or
fold the log otherwise. Every read of a version's text through :meth:`Dataroom.read` is logged first
(see :mod:`agentcrdt.dataroom.access`); the text is returned only once the access event is stored.
"""

from __future__ import annotations

import time
from collections.abc import Container, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import orjson

from agentcrdt.dataroom.access import ACCESS, AccessRecord, access_payload, access_records
from agentcrdt.dataroom.domain import (
    ENTITIES,
    Comment,
    Document,
    DocumentChunk,
    DocumentVersion,
    Finding,
    Folder,
    Link,
    Signature,
    signature_id,
    slug,
)
from agentcrdt.dataroom.ingest import DEFAULT_LIMITS, AddResult, Limits, plan_add, read_sources
from agentcrdt.dataroom.signatures import CheckResult, check_signature, check_text, sign_ops
from agentcrdt.errors import CapabilityDenied, InvalidEntityValue, NotFound, UsageError
from agentcrdt.log.event import decode_event
from agentcrdt.log.keys import Identity
from agentcrdt.materialize.follower import SQLiteFollower
from agentcrdt.ops.state import OPS, EntityState
from agentcrdt.replica import Replica
from agentcrdt.rooms.local import create_local, open_local
from agentcrdt.schema import Entity
from agentcrdt.store.base import StoredEvent

__all__ = ["Dataroom", "HistoryEntry", "Reading"]

E = TypeVar("E", bound=Entity)


@dataclass(frozen=True, slots=True)
class Reading:
    """A logged read: the document, the version read, its full text and the access event's id."""

    document: Document
    version: DocumentVersion
    text: str
    access_event: str


@dataclass(frozen=True, slots=True)
class HistoryEntry:
    """One event touching a document."""

    event_id: str
    time_ms: int
    author: str
    kind: str
    verdict: str
    local: bool
    summary: str

    def to_json(self) -> dict[str, Any]:
        """Return a JSON-ready dict."""
        return {
            "event": self.event_id,
            "time_ms": self.time_ms,
            "author": self.author,
            "kind": self.kind,
            "verdict": self.verdict,
            "local": self.local,
            "summary": self.summary,
        }


def _now_ms() -> int:
    return time.time_ns() // 1_000_000


class Dataroom:
    """A dataroom over a replica. Build with :meth:`create` / :meth:`open`, or wrap a replica."""

    def __init__(self, replica: Replica, *, limits: Limits = DEFAULT_LIMITS) -> None:
        self.replica = replica
        self.limits = limits

    @classmethod
    def create(
        cls, path: str | Path, identity: Identity, *, name: str | None = None, limits: Limits = DEFAULT_LIMITS
    ) -> Dataroom:
        """Create a new room (a new SQLite file) owned by ``identity``."""
        replica = create_local(path, identity, name or Path(path).stem or "dataroom", entities=ENTITIES)
        return cls(replica, limits=limits)

    @classmethod
    def open(
        cls, path: str | Path, *, identity: Identity | None = None, limits: Limits = DEFAULT_LIMITS
    ) -> Dataroom:
        """Open an existing room; without ``identity`` it can be read but not written (nor ``read``)."""
        return cls(open_local(path, identity=identity, entities=ENTITIES), limits=limits)

    def close(self) -> None:
        """Close the room's store and projection connections."""
        self.replica.close()

    def __enter__(self) -> Dataroom:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- entity access ------------------------------------------------------------------------------

    def _follower(self) -> SQLiteFollower | None:
        for f in self.replica.followers:
            if isinstance(f, SQLiteFollower):
                self.replica.feed(f)  # take in what other processes wrote to the same file
                return f
        return None

    def _states(self, etype: str, prefix: str = "") -> dict[str, EntityState]:
        follower = self._follower()
        if follower is None:
            entities = self.replica.state_at().entities
            return {
                i: st
                for (t, i), st in entities.items()
                if t == etype and i.startswith(prefix) and not st.deleted
            }
        # A range, not substr(id, ...) = prefix: the range uses the (etype, id) index, the call scanned
        # every row of the type (a document lookup read all 10k versions' texts).
        rows = follower.query(
            "SELECT id, state FROM entities WHERE etype = ? AND deleted = 0 AND id >= ? AND id < ?"
            " ORDER BY id",
            (etype, prefix, prefix + "\U0010ffff"),
        )
        return {str(i): EntityState.decode(orjson.loads(str(s))) for i, s in rows}

    def _all(self, cls: type[E], prefix: str = "") -> tuple[list[E], list[tuple[str, str]]]:
        """Return the live entities of a class (by id) and those whose stored values do not validate."""
        good: list[E] = []
        bad: list[tuple[str, str]] = []
        for entity_id, state in self._states(cls.entity_type, prefix).items():
            try:
                good.append(cls.from_state(entity_id, state))
            except InvalidEntityValue as e:
                bad.append((entity_id, str(e)))
        return good, bad

    def _one(self, cls: type[E], entity_id: str) -> E | None:
        found = [e for e in self._all(cls, entity_id)[0] if e.id == entity_id]
        return found[0] if found else None

    # -- reading ------------------------------------------------------------------------------------

    def documents(self) -> list[Document]:
        """Return every live document, by id."""
        return self._all(Document)[0]

    def folders(self) -> list[Folder]:
        """Return every folder, by id."""
        return self._all(Folder)[0]

    def resolve(self, name: str) -> str:
        """Return the id of the document ``name`` names: its id, or a file name that maps to it."""
        if self._one(Document, name) is not None:
            return name
        try:
            candidate = slug(Path(name).stem if Path(name).suffix else name)
        except UsageError:
            candidate = ""
        if candidate and self._one(Document, candidate) is not None:
            return candidate
        raise NotFound(f"no document {name!r} in this room; list them with 'agentcrdt room ls'")

    def document(self, name: str) -> Document:
        """Return one document (by id or file name)."""
        doc = self._one(Document, self.resolve(name))
        assert doc is not None
        return doc

    def versions(self, name: str) -> list[DocumentVersion]:
        """Return a document's versions, oldest first (by number, then id)."""
        doc_id = self.resolve(name)
        found = [v for v in self._all(DocumentVersion, doc_id + "@")[0] if v.document == doc_id]
        return sorted(found, key=lambda v: (v.number, v.id))

    def version(self, name: str, number: int | None = None) -> DocumentVersion:
        """Return version ``number`` of a document, or its current version."""
        doc = self.document(name)
        versions = self.versions(doc.id)
        if number is None:
            match = [v for v in versions if v.id == doc.current_version] or versions[-1:]
        else:
            match = [v for v in versions if v.number == number]
        if not match:
            have = ", ".join(str(v.number) for v in versions) or "none"
            raise NotFound(f"document {doc.id!r} has no version {number}; it has: {have}")
        return match[-1]

    def _text(self, version: DocumentVersion) -> tuple[str | None, str]:
        """Return a version's full text (None and why, when some of it is missing)."""
        if version.chunks == 1:
            return version.text, ""
        chunks = {
            c.index: c for c in self._all(DocumentChunk, version.id + "#")[0] if c.version == version.id
        }
        missing = [i for i in range(1, version.chunks) if i not in chunks]
        if missing:
            return None, f"text incomplete: {len(missing)} of {version.chunks} parts missing"
        return version.text + "".join(chunks[i].text for i in range(1, version.chunks)), ""

    def logged_text(
        self, version: DocumentVersion, reader: str, reads: Container[tuple[str, str]] | None = None
    ) -> str | None:
        """A version's text for ``reader`` only if the log already holds ``reader``'s read of it (an
        access event a key held elsewhere signed, e.g. in a browser); None otherwise, or when parts of
        the text are missing. The read is never logged here: the caller shows what was logged.
        ``reads``: the log's ``(reader, version)`` pairs, if the caller keeps them (else they are read)."""
        if reads is None:
            reads = {(r.reader, r.version) for r in access_records(self.replica, version.document)}
        if (reader, version.id) not in reads:
            return None
        return self._text(version)[0]

    def read(self, name: str, number: int | None = None, *, via: str = "api:read") -> Reading:
        """Return a version's text (default: current), logging the read first (no log, no text)."""
        if self.replica.identity is None:
            raise UsageError("every read is logged and signed: open the room with an identity (--key PATH)")
        doc = self.document(name)
        version = self.version(doc.id, number)
        text, why = self._text(version)
        if text is None:
            raise NotFound(f"{version.id}: {why}")
        try:
            event = self.replica.commit(
                ACCESS, access_payload(doc.id, version.id, version.content_hash, via), local=True
            )
        except CapabilityDenied as e:
            raise CapabilityDenied(
                e.kind,
                e.reason,
                f"this read cannot be logged, so it is refused: {e.detail}",
                slot=e.slot,
                op=e.op,
            ) from e
        except UsageError as e:
            raise UsageError(f"this read cannot be logged, so it is refused: {e}") from e
        return Reading(doc, version, text, event.id)

    def links(self, name: str) -> list[Link]:
        """Return the links from or to a document."""
        doc_id = self.resolve(name)
        return [lk for lk in self._all(Link)[0] if doc_id in (lk.source, lk.target)]

    def findings(self, name: str | None = None) -> list[Finding]:
        """Return every finding, or those citing one document."""
        if name is None:
            return self._all(Finding)[0]
        doc_id = self.resolve(name)
        return [f for f in self._all(Finding)[0] if any(s.document == doc_id for s in f.evidence)]

    def comments(self, name: str) -> list[Comment]:
        """Return the comments on a document and on its versions, oldest first."""
        doc_id = self.resolve(name)
        found = [c for c in self._all(Comment)[0] if c.target == doc_id or c.target.startswith(doc_id + "@")]
        return sorted(found, key=lambda c: (c.created_at or 0, c.id))

    def version_counts(self) -> dict[str, int]:
        """How many versions each document has, by document id (from the ids: no text is read)."""
        follower = self._follower()
        if follower is None:
            ids = [
                i
                for (t, i), st in self.replica.state_at().entities.items()
                if t == "DocumentVersion" and not st.deleted
            ]
        else:
            ids = [
                str(r[0])
                for r in follower.query(
                    "SELECT id FROM entities WHERE etype = 'DocumentVersion' AND deleted = 0"
                )
            ]
        counts: dict[str, int] = {}
        for i in ids:
            doc = i.partition("@")[0]  # version ids are <document id>@<content hash prefix>
            counts[doc] = counts.get(doc, 0) + 1
        return counts

    def signatures(self, name: str | None = None) -> list[Signature]:
        """Return every signature, or those of one document's versions."""
        sigs = self._all(Signature)[0]
        if name is None:
            return sigs
        doc_id = self.resolve(name)
        return [s for s in sigs if s.document == doc_id]

    def access_log(self, name: str | None = None) -> list[AccessRecord]:
        """Return the reads logged in this replica, oldest first (optionally of one document)."""
        return list(access_records(self.replica, None if name is None else self.resolve(name)))

    # -- writing ------------------------------------------------------------------------------------

    def _identity(self) -> Identity:
        if self.replica.identity is None:
            raise UsageError("this room was opened without a key; pass --key PATH (or set $AGENTCRDT_KEY)")
        return self.replica.identity

    def add(
        self, paths: Sequence[str | Path], *, folder: str | None = None, document_id: str | None = None
    ) -> list[AddResult]:
        """Add files: new documents, new versions of changed ones; all or nothing, in one transaction."""
        identity = self._identity()
        sources = read_sources(paths, self.limits, document_id=document_id)
        results, changes = plan_add(sources, _View(self), identity.author, folder=folder, limits=self.limits)
        if changes:
            self.replica.commit_many(changes)
        return results

    def sign(self, name: str, number: int | None = None, *, statement: str = "approved") -> Signature:
        """Sign a version's content hash (default: the current version) and record the signature."""
        identity = self._identity()
        version = self.version(name, number)
        text, why = self._text(version)
        result = check_text(version, text, why)
        if not result.ok:
            raise UsageError(f"refusing to sign {version.id}: {result.reason}")
        self.replica.commit(OPS, {"ops": sign_ops(identity, version, statement, _now_ms())})
        sig = self._one(Signature, signature_id(version.id, identity.author))
        assert sig is not None
        return sig

    def comment(self, name: str, body: str, *, comment_id: str | None = None) -> Comment:
        """Add a comment to a document."""
        identity = self._identity()
        doc_id = self.resolve(name)
        cid = comment_id or f"{doc_id}:c{_now_ms()}-{identity.author[8:16]}"
        ops = Comment.create_ops(id=cid, target=doc_id, body=body, author=identity.author)
        self.replica.commit(OPS, {"ops": ops})
        found = self._one(Comment, cid)
        assert found is not None
        return found

    # -- verification and history --------------------------------------------------------------------

    def verify(self, name: str | None = None) -> list[CheckResult]:
        """Re-hash every version's text and verify every signature (of one document, or all)."""
        doc_ids = [self.resolve(name)] if name is not None else [d.id for d in self.documents()]
        out: list[CheckResult] = []
        for doc_id in doc_ids:
            versions, bad = self._all(DocumentVersion, doc_id + "@")
            for vid, why in bad:
                out.append(CheckResult("text", doc_id, vid, 0, False, f"version record is invalid: {why}"))
            by_id = {v.id: v for v in versions}
            for v in sorted(versions, key=lambda v: (v.number, v.id)):
                text, why = self._text(v)
                out.append(check_text(v, text, why))
            sigs, bad_sigs = self._all(Signature, doc_id + "@")
            for sid, why in bad_sigs:
                why = f"signature record is invalid: {why}"
                out.append(CheckResult("signature", doc_id, sid, 0, False, why))
            for s in sigs:
                out.append(check_signature(s, by_id.get(s.version)))
        return out

    def history(self, name: str) -> list[HistoryEntry]:
        """Return the events touching a document (its entities, links, findings, comments, reads)."""
        doc_id = self.resolve(name)
        related = {("Link", lk.id) for lk in self.links(doc_id)}
        related |= {("Finding", f.id) for f in self.findings(doc_id)}
        related |= {("Comment", c.id) for c in self.comments(doc_id)}
        prefix = doc_id + "@"

        def touches(ops: list[dict[str, Any]]) -> list[tuple[str, str, str]]:
            hit = []
            for o in ops:
                key = (o["e"], o["id"])
                if (
                    key == ("Document", doc_id)
                    or key in related
                    or (
                        o["e"] in ("DocumentVersion", "DocumentChunk", "Signature")
                        and o["id"].startswith(prefix)
                    )
                ):
                    hit.append((o["e"], o["id"], o["f"]))
            return hit

        verdicts = self.replica.store.verdicts()
        proposals: set[str] = set()
        out: list[HistoryEntry] = []
        for stored in _stored(self.replica):
            if stored.kind not in (OPS, "proposal", "review", ACCESS):
                continue
            event = decode_event(stored.raw, verify_signature=False)
            p = event.payload
            summary = ""
            if event.kind in (OPS, "proposal"):
                hit = touches(p["ops"])
                if not hit:
                    continue
                if event.kind == "proposal":
                    proposals.add(event.id)
                summary = _summarize(hit)
            elif event.kind == "review":
                if p["proposal"] not in proposals:
                    continue
                summary = f"{p['decision']} proposal {p['proposal'][7:19]}"
            else:
                if p["document"] != doc_id:
                    continue
                summary = f"read {p['version']} via {p['via']}"
            verdict = verdicts.get(event.id, ("?", ""))[0]
            out.append(
                HistoryEntry(event.id, event.time, event.author, event.kind, verdict, event.local, summary)
            )
        return out


def _summarize(hit: list[tuple[str, str, str]]) -> str:
    """Say which entities an event touched: ``Document/nda (current_version)``, ``+DocumentVersion/...``."""
    by_entity: dict[str, list[str]] = {}
    for etype, eid, f in hit:
        by_entity.setdefault(f"{etype}/{eid}", []).append(f)
    parts = []
    for name, fields in by_entity.items():
        shown = sorted(set(fields) - {"_deleted"})
        if "_deleted" in fields and len(shown) > 2:
            parts.append(f"+{name}")  # a create writes every field
        else:
            parts.append(f"{name} ({', '.join(shown or ['_deleted'])})")
    return ", ".join(parts[:4]) + (f" (+{len(parts) - 4} more)" if len(parts) > 4 else "")


def _stored(replica: Replica) -> Iterator[StoredEvent]:
    cursor = 0
    while batch := replica.store.since(cursor, limit=5_000):
        for position, stored in batch:
            cursor = position
            yield stored


class _View:
    """The room as :func:`plan_add` sees it."""

    def __init__(self, room: Dataroom) -> None:
        self._room = room

    def document_state(self, document: str) -> EntityState | None:
        return self._room._states(Document.entity_type, document).get(document)

    def versions(self, document: str) -> list[DocumentVersion]:
        return self._room.versions(document)

    def has_folder(self, folder: str) -> bool:
        return self._room._one(Folder, folder) is not None
