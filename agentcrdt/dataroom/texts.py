"""Reading documents' current texts through the projections (a :class:`~agentcrdt.materialize.Reader`),
without an access-log entry: what agents, exploration jobs and eval baselines read."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from agentcrdt.dataroom.domain import chunk_id
from agentcrdt.materialize import Reader

__all__ = ["current_texts", "version_text"]


def version_text(reader: Reader, version_id: str, values: Mapping[str, Any] | None = None) -> str | None:
    """Return the full text of a version (its parts joined), or None if it is missing or incomplete."""
    if values is None:
        values = reader.entity("DocumentVersion", version_id)
        if values is None:
            return None
    text = values.get("text")
    if not isinstance(text, str):
        return None
    parts = [text]
    chunks = values.get("chunks")
    for i in range(1, chunks if isinstance(chunks, int) else 1):
        chunk = reader.entity("DocumentChunk", chunk_id(version_id, i))
        part = None if chunk is None else chunk.get("text")
        if not isinstance(part, str):
            return None  # incomplete text: nothing can be quoted reliably yet
        parts.append(part)
    return "".join(parts)


def current_texts(reader: Reader) -> list[tuple[str, str, str, str]]:
    """Return ``(document id, title, current version id, full text)`` of every live document with a
    readable, non-blank current version, by id."""
    out: list[tuple[str, str, str, str]] = []
    for doc_id, values in reader.entities("Document").items():
        version = values.get("current_version")
        if not isinstance(version, str) or not version:
            continue
        stored = reader.entity("DocumentVersion", version)
        text = None if stored is None else version_text(reader, version, stored)
        if not text or not text.strip():
            continue
        title = values.get("title")
        out.append((doc_id, title if isinstance(title, str) else "", version, text))
    return sorted(out)
