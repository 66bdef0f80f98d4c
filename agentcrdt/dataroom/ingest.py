"""Ingestion: read and check every file first, then plan the events of one atomic commit.

Nothing is written unless every file of a call is good: :func:`read_sources` collects every problem
(unreadable, empty, binary, too large, unsupported, two files naming one document) and raises one
:class:`IngestError` listing them all; :func:`plan_add` turns good files into events. The caller commits
them with one ``commit_many`` (one transaction: all or nothing).

Large texts: an event is at most 1 MiB, so a version text is split into pieces of at most
``Limits.chunk_bytes`` encoded bytes. Piece 0 is the version's ``text``; pieces 1.. are
``DocumentChunk`` entities written in events *before* the version's own event in the same chain, so a
peer that holds a version (it arrived causally after its deps) always holds all of its text. Texts
above ``Limits.max_text_bytes`` and files above ``Limits.max_file_bytes`` are refused.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal, Protocol

import orjson

from agentcrdt.dataroom.domain import (
    Document,
    DocumentChunk,
    DocumentVersion,
    Folder,
    chunk_id,
    folder_ids,
    slug,
    version_id,
)
from agentcrdt.dataroom.extractors import MIME_TYPES, ExtractionError, extract
from agentcrdt.errors import UsageError
from agentcrdt.log.keys import digest
from agentcrdt.ops.state import OPS, EntityState

__all__ = [
    "AddResult",
    "IngestError",
    "Limits",
    "RoomView",
    "SourceFile",
    "plan_add",
    "read_sources",
    "split_text",
]

KIB, MIB = 1024, 1024 * 1024
Status = Literal["new", "changed", "restored", "moved", "unchanged"]


@dataclass(frozen=True, slots=True)
class Limits:
    """Bounds on what one ``add`` accepts."""

    max_file_bytes: int = 20 * MIB
    max_text_bytes: int = 8 * MIB
    chunk_bytes: int = 512 * KIB  # encoded JSON bytes per event: well under the 1 MiB event limit
    max_files: int = 1_000


DEFAULT_LIMITS = Limits()


class IngestError(UsageError):
    """Some files of an ``add`` were refused; nothing was written. ``problems`` lists (file, why)."""

    def __init__(self, problems: Sequence[tuple[str, str]]) -> None:
        self.problems = list(problems)
        detail = "; ".join(f"{name}: {why}" for name, why in self.problems)
        n = len(self.problems)
        super().__init__(f"nothing added, {n} file{'s' if n != 1 else ''} refused: {detail}")


MAX_TITLE = 200


@dataclass(frozen=True, slots=True)
class SourceFile:
    """A file read, checked and turned into normalized text."""

    path: Path
    document: str
    text: str
    content_hash: str
    source_hash: str
    size: int
    mime: str

    @property
    def title(self) -> str:
        """Return the title a new document gets: its first line of text, else the file name."""
        for line in self.text.splitlines()[:20]:
            heading = line.strip().lstrip("#").strip().strip("*_").strip()
            if len(heading) >= 3 and any(c.isalpha() for c in heading):
                return heading[:MAX_TITLE]
        return self.path.stem.strip() or self.path.name


@dataclass(frozen=True, slots=True)
class AddResult:
    """What ``add`` did with one file."""

    path: str
    document: str
    status: Status
    version: str
    number: int
    chars: int
    chunks: int

    def to_json(self) -> dict[str, Any]:
        """Return a JSON-ready dict."""
        return {
            "path": self.path,
            "document": self.document,
            "status": self.status,
            "version": self.version,
            "number": self.number,
            "chars": self.chars,
            "chunks": self.chunks,
        }


class RoomView(Protocol):
    """What planning needs to know about the room as it is."""

    def document_state(self, document: str) -> EntityState | None:
        """Return a document's state, or None if the room has no such (live) document."""
        ...

    def versions(self, document: str) -> list[DocumentVersion]:
        """Return a document's versions, oldest first."""
        ...

    def has_folder(self, folder: str) -> bool:
        """Tell whether a folder exists."""
        ...


def _mb(n: int) -> str:
    if n >= MIB:
        return f"{n / MIB:.1f} MB"
    return f"{n / KIB:.1f} KB" if n >= KIB else f"{n} bytes"


def _read_one(path: Path, limits: Limits) -> tuple[bytes, str]:
    if path.suffix.lower() not in MIME_TYPES:
        kinds = ", ".join(MIME_TYPES)
        raise ExtractionError(f"unsupported file type {path.suffix or '(none)'!r}; supported: {kinds}")
    try:
        if not path.is_file():
            raise ExtractionError("no such file" if not path.exists() else "not a regular file")
        size = path.stat().st_size
        if size > limits.max_file_bytes:
            raise ExtractionError(f"file is {_mb(size)}, over the {_mb(limits.max_file_bytes)} limit")
        data = path.read_bytes()
    except OSError as e:
        raise ExtractionError(f"cannot read it ({e.strerror or e})") from e
    text = extract(path, data)
    if not text.strip():
        raise ExtractionError("empty: no text in it")
    size_text = len(text.encode("utf-8"))
    if size_text > limits.max_text_bytes:
        raise ExtractionError(
            f"its text is {_mb(size_text)}, over the {_mb(limits.max_text_bytes)} limit per version; split it"
        )
    return data, text


def read_sources(
    paths: Sequence[str | Path], limits: Limits = DEFAULT_LIMITS, *, document_id: str | None = None
) -> list[SourceFile]:
    """Read, extract and check every file; raise :class:`IngestError` listing every problem."""
    if not paths:
        raise UsageError("no files given; name one or more .txt, .md, .pdf or .docx files")
    if len(paths) > limits.max_files:
        raise UsageError(f"{len(paths)} files in one add; at most {limits.max_files}: add them in batches")
    if document_id is not None and len(paths) != 1:
        raise UsageError("a document id can be given for a single file only")
    problems: list[tuple[str, str]] = []
    out: list[SourceFile] = []
    claimed: dict[str, str] = {}
    for raw in paths:
        path = Path(raw)
        try:
            doc = slug(document_id) if document_id is not None else slug(path.stem)
        except UsageError as e:
            problems.append((str(raw), str(e)))
            continue
        if doc in claimed:
            why = f"names the same document {doc!r} as {claimed[doc]}; add it separately"
            problems.append((str(raw), why))
            continue
        claimed[doc] = str(raw)
        try:
            data, text = _read_one(path, limits)
        except ExtractionError as e:
            problems.append((str(raw), str(e)))
            continue
        out.append(
            SourceFile(
                path,
                doc,
                text,
                digest(text.encode("utf-8")),
                "sha256:" + hashlib.sha256(data).hexdigest(),
                len(data),
                MIME_TYPES[path.suffix.lower()],
            )
        )
    if problems:
        raise IngestError(problems)
    return out


def _encoded_len(text: str) -> int:
    return len(orjson.dumps(text))


def split_text(text: str, max_bytes: int) -> list[str]:
    """Split ``text`` into pieces whose JSON encoding is at most ``max_bytes`` bytes each."""
    if max_bytes < 16:
        raise UsageError("chunk size must be at least 16 bytes")
    pieces: list[str] = []
    start = 0
    while start < len(text):
        end = min(len(text), start + max_bytes)  # a character encodes to at least one byte
        while (size := _encoded_len(text[start:end])) > max_bytes:
            end = start + max(1, (end - start) * (max_bytes - 2) // size)
        pieces.append(text[start:end])
        start = end
    return pieces or [""]


@dataclass
class _Plan:
    results: list[AddResult] = field(default_factory=list)
    changes: list[tuple[str, Any]] = field(default_factory=list)


def _version_events(
    src: SourceFile, vid: str, number: int, author: str, limits: Limits
) -> tuple[list[tuple[str, Any]], list[dict[str, Any]], int]:
    pieces = split_text(src.text, limits.chunk_bytes)
    chunk_events: list[tuple[str, Any]] = [
        (OPS, {"ops": DocumentChunk.create_ops(id=chunk_id(vid, i), version=vid, index=i, text=piece)})
        for i, piece in enumerate(pieces[1:], start=1)
    ]
    version_ops = DocumentVersion.create_ops(
        id=vid,
        document=src.document,
        number=number,
        content_hash=src.content_hash,
        text=pieces[0],
        chunks=len(pieces),
        text_bytes=len(src.text.encode("utf-8")),
        source_name=src.path.name,
        source_hash=src.source_hash,
        size=src.size,
        mime=src.mime,
        added_by=author,
    )
    return chunk_events, version_ops, len(pieces)


def plan_add(
    sources: Sequence[SourceFile],
    room: RoomView,
    author: str,
    *,
    folder: str | None = None,
    limits: Limits = DEFAULT_LIMITS,
) -> tuple[list[AddResult], list[tuple[str, Any]]]:
    """Return what adding ``sources`` does to each document and the events doing it (maybe none)."""
    plan = _Plan()
    folder_id = ""
    if folder is not None:
        chain = folder_ids(folder)
        folder_id = chain[-1][0]
        new = [
            op
            for fid, name, parent in chain
            if not room.has_folder(fid)
            for op in Folder.create_ops(id=fid, name=name, parent=parent)
        ]
        if new:
            plan.changes.append((OPS, {"ops": new}))
    for src in sources:
        _plan_one(plan, src, room, author, folder if folder is None else folder_id, limits)
    if all(r.status == "unchanged" for r in plan.results):
        return plan.results, []  # a folder alone is not worth an event when no document moved into it
    return plan.results, plan.changes


def _plan_one(
    plan: _Plan, src: SourceFile, room: RoomView, author: str, folder: str | None, limits: Limits
) -> None:
    vid = version_id(src.document, src.content_hash)
    chars = len(src.text)
    state = room.document_state(src.document)
    versions = room.versions(src.document) if state is not None else []
    current = None if state is None else Document.field_values(state).get("current_version")
    by_id = {v.id: v for v in versions}
    existing = by_id.get(vid)
    if existing is not None:
        # Known text: point the document at it again (a revert) and/or move it; otherwise nothing.
        changes: dict[str, Any] = {"current_version": vid}
        if folder is not None:
            changes["folder"] = folder
        ops = Document.update_ops(src.document, state, **changes)
        status: Status = "unchanged" if not ops else ("restored" if current != vid else "moved")
        if ops:
            plan.changes.append((OPS, {"ops": ops}))
        plan.results.append(
            AddResult(str(src.path), src.document, status, vid, existing.number, chars, existing.chunks)
        )
        return
    number = 1 + max((v.number for v in versions), default=0)
    chunk_events, version_ops, n = _version_events(src, vid, number, author, limits)
    if state is None:
        doc_ops = Document.create_ops(
            id=src.document, title=src.title, folder=folder or "", current_version=vid
        )
        status = "new"
    else:
        changes = {"current_version": vid}
        if folder is not None:
            changes["folder"] = folder
        doc_ops = Document.update_ops(src.document, state, **changes)
        status = "changed"
    plan.changes.extend(chunk_events)
    plan.changes.append((OPS, {"ops": [*version_ops, *doc_ops]}))
    plan.results.append(AddResult(str(src.path), src.document, status, vid, number, chars, n))
