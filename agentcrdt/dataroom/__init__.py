"""The dataroom: documents with tracked versions, logged reads and verifiable signatures.

See ``docs/dataroom.md``. Typical use::

    room = Dataroom.create("deal.db", Identity.generate())
    room.add(["nda.pdf", "msa.docx"])            # all or nothing; unchanged files write nothing
    reading = room.read("nda")                    # logged as a local-only ``access`` event
    room.sign("nda", statement="approved")
    assert all(r.ok for r in room.verify())
"""

from __future__ import annotations

from agentcrdt.dataroom.access import ACCESS, AccessRecord
from agentcrdt.dataroom.domain import (
    ENTITIES,
    Comment,
    Document,
    DocumentChunk,
    DocumentVersion,
    FieldValue,
    Finding,
    Folder,
    Link,
    Signature,
    Span,
    chunk_id,
    link_id,
    signature_id,
    slug,
    version_id,
)
from agentcrdt.dataroom.extractors import SUPPORTED, ExtractionError
from agentcrdt.dataroom.ingest import AddResult, IngestError, Limits
from agentcrdt.dataroom.room import Dataroom, HistoryEntry, Reading
from agentcrdt.dataroom.signatures import SIGNATURE_CONTEXT, CheckResult, signature_message

__all__ = [
    "ACCESS",
    "ENTITIES",
    "SIGNATURE_CONTEXT",
    "SUPPORTED",
    "AccessRecord",
    "AddResult",
    "CheckResult",
    "Comment",
    "Dataroom",
    "Document",
    "DocumentChunk",
    "DocumentVersion",
    "ExtractionError",
    "FieldValue",
    "Finding",
    "Folder",
    "HistoryEntry",
    "IngestError",
    "Limits",
    "Link",
    "Reading",
    "Signature",
    "Span",
    "chunk_id",
    "link_id",
    "signature_id",
    "signature_message",
    "slug",
    "version_id",
]
