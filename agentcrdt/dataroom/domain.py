"""The dataroom's entities (typed CRDT records) and the rules that name them.

Entity type names are stable: they are table names and travel in every op. Ids:

* a document's id is the slug of its file name without the extension (``Master Services Agreement.pdf``
  -> ``master-services-agreement``), so re-adding the file, or an export of it in another format, adds a
  version to the same document;
* a version's id is ``<document id>@<first 16 hex digits of its content hash>``: content-addressed, so a
  version is immutable, two replicas adding the same text converge on one version, and two adding
  different texts concurrently never overwrite each other. ``number`` (1, 2, ...) is for people;
* a version text larger than one event allows lives in ``DocumentChunk`` entities ``<version id>#<i>``
  (chunk 0 is the version's own ``text``).
"""

from __future__ import annotations

import hashlib
import re
import unicodedata
from decimal import Decimal
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field

from agentcrdt.errors import UsageError
from agentcrdt.schema import AddWinsSet, Entity, Map

__all__ = [
    "ENTITIES",
    "Comment",
    "Document",
    "DocumentChunk",
    "DocumentVersion",
    "FieldValue",
    "Finding",
    "Folder",
    "Link",
    "NamedEntity",
    "Signature",
    "Span",
    "chunk_id",
    "folder_ids",
    "link_id",
    "named_entity_id",
    "signature_id",
    "slug",
    "version_id",
]

MAX_SLUG = 100
_NON_ALNUM = re.compile(r"[^a-z0-9]+")
_HASH_RE = r"^sha256:[0-9a-f]{64}$"


class FieldValue(BaseModel):
    """One extracted field: the value and the exact quote it came from (``text[start:end] == quote``)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    value: str
    quote: str = ""
    start: int | None = None
    end: int | None = None
    source_version: str = ""


class Span(BaseModel):
    """Evidence: an exact quoted span of one document version."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    document: str
    version: str = ""
    quote: str
    start: int | None = None
    end: int | None = None


class Folder(Entity):
    """A folder (``deal/contracts``); ``parent`` is the id of the enclosing folder, "" at the top."""

    name: str = ""
    parent: str = ""


class Document(Entity):
    """A document: what people and agents know about it; its text lives in its versions."""

    title: str = ""
    kind: str = ""
    tags: Annotated[set[str], AddWinsSet()] = Field(default_factory=set)
    summary: str = ""
    fields: Annotated[dict[str, FieldValue], Map()] = Field(default_factory=dict)
    status: Literal["active", "under_review", "approved", "superseded", "archived"] = "active"
    folder: str = ""
    current_version: str = ""


class DocumentVersion(Entity):
    """One immutable version of a document's text (written once; ``room verify`` re-hashes it)."""

    document: str = ""
    number: int = 0
    content_hash: Annotated[str, Field(pattern=_HASH_RE)] = "sha256:" + "0" * 64
    text: str = ""
    chunks: Annotated[int, Field(ge=1)] = 1
    text_bytes: int = 0
    source_name: str = ""
    source_hash: str = ""
    size: int = 0
    mime: str = ""
    added_by: str = ""


class DocumentChunk(Entity):
    """Part ``index`` (>= 1) of a version's text too large for one event."""

    version: str = ""
    index: int = 0
    text: str = ""


class Link(Entity):
    """A typed relation between two documents (``amends``, ``references``, ``duplicates``...)."""

    source: str = ""
    target: str = ""
    relation: Annotated[str, Field(pattern=r"^[a-z][a-z0-9_]{0,39}$")] = "related"
    evidence: list[Span] = Field(default_factory=list)
    confidence: Annotated[Decimal, Field(ge=0, le=1)] = Decimal(1)


class Finding(Entity):
    """A connection, contradiction, risk or open question, with evidence spans on every side."""

    kind: Literal["connection", "contradiction", "risk", "question"] = "risk"
    title: str = ""
    description: str = ""
    evidence: list[Span] = Field(default_factory=list)
    severity: Literal["info", "low", "medium", "high", "critical"] = "medium"
    status: Literal["open", "confirmed", "dismissed", "resolved"] = "open"


class NamedEntity(Entity):
    """A party, person, place or organization the documents name; ``mentions`` quotes it per document.

    Id: ``<kind>:<slug of the name>`` (:func:`named_entity_id`), so two agents naming one company in
    two documents add to one entity (the mentions map keeps both)."""

    name: str = ""
    kind: Literal["party", "person", "organization", "jurisdiction", "other"] = "other"
    mentions: Annotated[dict[str, Span], Map()] = Field(default_factory=dict)


class Comment(Entity):
    """A comment on a document (or a version, finding, link: ``target_type``)."""

    target_type: str = "Document"
    target: str = ""
    body: str = ""
    author: str = ""


class Signature(Entity):
    """A peer's Ed25519 signature over one version's content hash (see :mod:`.signatures`)."""

    signer: str = ""
    document: str = ""
    version: str = ""
    content_hash: str = ""
    signature: str = ""
    statement: str = ""
    signed_at: int = 0


ENTITIES: tuple[type[Entity], ...] = (
    Folder,
    Document,
    DocumentVersion,
    DocumentChunk,
    Link,
    Finding,
    NamedEntity,
    Comment,
    Signature,
)


def slug(name: str) -> str:
    """Return the id-safe slug of a name: lowercase ASCII letters and digits joined by ``-``."""
    words = re.sub(r"[\W_]+", " ", name)  # punctuation of any script separates words
    folded = unicodedata.normalize("NFKD", words).encode("ascii", "ignore").decode("ascii").lower()
    out = _NON_ALNUM.sub("-", folded).strip("-")[:MAX_SLUG].strip("-")
    if out:
        return out
    if words.strip():  # letters, but none with an ASCII form (契約書): name it by a digest
        return "doc-" + hashlib.sha256(words.strip().encode()).hexdigest()[:12]
    raise UsageError(f"{name!r} has no letters or digits to name a document by; rename the file")


def version_id(document_id: str, content_hash: str) -> str:
    """Return the id of the version of ``document_id`` whose text hashes to ``content_hash``."""
    return f"{document_id}@{content_hash.removeprefix('sha256:')[:16]}"


def chunk_id(version: str, index: int) -> str:
    """Return the id of part ``index`` of a version's text."""
    return f"{version}#{index}"


def signature_id(version: str, signer: str) -> str:
    """Return the id of ``signer``'s signature of a version (one per signer and version)."""
    return f"{version}~{signer.removeprefix('ed25519:')[:16]}"


def link_id(source: str, relation: str, target: str) -> str:
    """Return the id of a link, so that proposing the same link twice names the same entity."""
    readable = f"{source}>{relation}>{target}"
    if len(readable) <= 200:
        return readable
    return "link-" + hashlib.sha256(readable.encode()).hexdigest()[:32]


def named_entity_id(kind: str, name: str) -> str:
    """Return the id of the named entity ``name`` of ``kind`` ("Acme Corp." and "ACME CORP" are one)."""
    return f"{kind}:{slug(name)}"


def folder_ids(path: str) -> list[tuple[str, str, str]]:
    """Return ``(id, name, parent id)`` for a folder path and each folder above it, top first."""
    parts = [p for p in re.split(r"[/\\]+", path.strip()) if p.strip()]
    if not parts:
        raise UsageError(f"folder {path!r} is empty; give a path such as 'deal/contracts'")
    out: list[tuple[str, str, str]] = []
    parent = ""
    for part in parts:
        fid = f"{parent}/{slug(part)}" if parent else slug(part)
        out.append((fid, part.strip(), parent))
        parent = fid
    return out
