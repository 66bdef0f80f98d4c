"""What the dataroom agents share: how they read documents, cite them, and write values.

Loaded **by path** from each agent file (``agents/`` is content, never a package); see ``load`` at the
bottom of every agent. Nothing here calls a model.

* Agents read a document through its *current version*: the full text (``DocumentVersion.text`` plus its
  ``DocumentChunk`` parts), keyed ``("DocumentVersion", <version id>, "text")`` in the work item's
  ``texts``. Evidence points into that text, so it stays valid whatever later versions say, and the
  version id (content-addressed) pins the words an input id was computed from.
* Every quote a model returns is checked here with :func:`agentcrdt.runtime.find_evidence` before it goes
  into a draft, the same check the worker repeats, so the worker never has to drop anything.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal

from agentcrdt.dataroom.domain import Link as DomainLink
from agentcrdt.dataroom.domain import Span, link_id
from agentcrdt.dataroom.texts import current_texts, version_text
from agentcrdt.llm.tasks import DocumentInput, Quote
from agentcrdt.llm.tasks import Link as TaskLink
from agentcrdt.materialize import Reader
from agentcrdt.rooms.workflow import Evidence
from agentcrdt.runtime import ProposalDraft, TextKey, WorkItem, find_evidence

__all__ = [
    "READS",
    "Doc",
    "confidence",
    "doc_from_item",
    "document_items",
    "evidence_for",
    "headings",
    "link_draft",
    "read_documents",
    "span_of",
    "version_text",
]

#: What every dataroom agent reads (the capability's ``reads``; informational for reviewers).
READS = ("Document.*", "DocumentVersion.*", "DocumentChunk.*")
_HEADING_CHARS = 160


@dataclass(frozen=True)
class Doc:
    """One document as an agent sees it: its id, title, current version and that version's full text."""

    id: str
    title: str
    version: str
    text: str

    @property
    def key(self) -> TextKey:
        """Return the ``texts`` key evidence quotes are checked against."""
        return ("DocumentVersion", self.version, "text")

    def as_input(self, title: str | None = None) -> DocumentInput:
        """Return the task-vocabulary form of the document (offsets in quotes refer to ``text``)."""
        return DocumentInput(id=self.id, text=self.text, title=self.title if title is None else title)


def pretty_title(title: str, doc_id: str) -> str:
    """Return a readable title: a file-name title (``03-letter-of-intent``) becomes ``letter of intent``."""
    raw = title or doc_id
    if re.fullmatch(r"[a-z0-9_-]+", raw):
        raw = re.sub(r"^\d+[-_]", "", raw).replace("-", " ").replace("_", " ")
    return raw.strip()


def read_documents(reader: Reader) -> list[Doc]:
    """Return every live document with a readable current version, by id."""
    return [Doc(i, pretty_title(t, i), version, text) for i, t, version, text in current_texts(reader)]


def document_items(reader: Reader) -> list[WorkItem]:
    """One work item per document: exactly its id, title, version and text (never what agents wrote)."""
    return [
        WorkItem(
            "Document",
            d.id,
            inputs={"title": d.title, "version": d.version},
            texts={d.key: d.text},
        )
        for d in read_documents(reader)
    ]


def doc_from_item(item: WorkItem) -> Doc:
    """Rebuild the :class:`Doc` a :func:`document_items` work item carries."""
    version = str(item.inputs["version"])
    return Doc(
        item.entity_id, str(item.inputs["title"]), version, item.texts[("DocumentVersion", version, "text")]
    )


_DOC_WORD = re.compile(
    r"\b(agreement|amendment|lease|letter|minutes|summary|accounts|table|license|licence|policy|report"
    r"|statement|consent|resolutions?|certificate|memorandum|notice|schedule|addendum)\b",
    re.I,
)


def _first_lines(text: str, n: int = 12) -> list[str]:
    lines = []
    for line in text.splitlines():
        s = re.sub(r"^[#>*\s]+|[*\s]+$", "", line).strip()
        if s:
            lines.append(s[:_HEADING_CHARS])
        if len(lines) == n:
            break
    return lines


def headings(docs: Sequence[Doc]) -> dict[str, str]:
    """Return each document's heading: its first line that no other document also opens with.

    Many reports open with the company name; a heading shared by several documents names none of them.
    """
    firsts = {d.id: _first_lines(d.text) for d in docs}
    common: dict[str, int] = {}
    for lines in firsts.values():
        for line in set(lines[:2]):
            common[line.lower()] = common.get(line.lower(), 0) + 1
    out = {}
    for d in docs:
        lines = firsts[d.id]
        own = [line for line in lines if common.get(line.lower(), 0) <= 1 and len(line) > 3]
        # A line naming a kind of document ("... AGREEMENT", "Minutes of ...") beats a letterhead.
        typed = [line for line in own if _DOC_WORD.search(line)]
        out[d.id] = (typed or own or lines or [d.title])[0]
    return out


def evidence_for(texts: Mapping[TextKey, str], key: TextKey, quote: Quote | str) -> Evidence | None:
    """Return checked evidence for a model's quote in the text ``key`` (offsets repaired), or None."""
    text, start = (quote.text, quote.start) if isinstance(quote, Quote) else (quote, None)
    return find_evidence(texts, key[0], key[1], key[2], text, start)


def checked(texts: Mapping[TextKey, str], key: TextKey, quotes: Iterable[Quote | str]) -> list[Evidence]:
    """Return the quotes that are verbatim in the text ``key``, deduplicated, in order."""
    out: list[Evidence] = []
    for q in quotes:
        ev = evidence_for(texts, key, q)
        if ev is not None and ev not in out:
            out.append(ev)
    return out


def span_of(document: str, ev: Evidence) -> Span:
    """Return the entity-level form of checked evidence (a span of one version of ``document``)."""
    return Span(document=document, version=ev.entity_id, quote=ev.quote, start=ev.start, end=ev.end)


def confidence(value: float | Decimal) -> Decimal:
    """Return a confidence as a two-decimal Decimal in [0, 1] (the signed codec has no floats)."""
    d = Decimal(str(value)).quantize(Decimal("0.01"))
    return min(Decimal(1), max(Decimal(0), d))


def link_draft(source: str, link: TaskLink, evidence: Sequence[Evidence]) -> ProposalDraft:
    """Return the proposal of ``link`` from ``source`` (a ``Link`` entity; ``evidence`` checked)."""
    ops = DomainLink.create_ops(
        id=link_id(source, link.relation, link.target_id),
        source=source,
        target=link.target_id,
        relation=link.relation,
        evidence=[span_of(source, ev) for ev in evidence],
        confidence=confidence(link.confidence),
    )
    return ProposalDraft(
        ops=ops,
        rationale=f"{source} {link.relation} {link.target_id}: {link.rationale}",
        confidence=confidence(link.confidence),
        kind="link",
        evidence=list(evidence),
    )
