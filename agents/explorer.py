"""Explorer: the agent a rabbithole job sends through the dataroom, one document (node) at a time.

At each node it reflects (the ``reflect`` task): what the document names (parties, people, places), what
it connects to among the candidate documents, and what conflicts with the facts the job read at earlier
nodes or is left open. It proposes:

* ``Link`` entities (kind ``link``) for the relations it finds, quoted in the document;
* ``NamedEntity`` entities (kind ``entity``), one per name, with the quote naming it in this document;
* ``Finding`` entities (kind ``finding``): connections, contradictions and open questions, each quoted
  verbatim in every document it involves, or not proposed at all.

Slot ``explorer``: nothing auto-accepts; findings enter review like every agent's. The job follows the
explicit relations (amends, references, duplicates) and the shared-party connections it found.

Candidates for a node (at most ``MAX_CANDIDATES``): documents the text names by heading, the node's
parent, documents retrieval finds closest to its opening (when the job has an embedder), then the rest
by id.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from agentcrdt.capabilities import Capability
from agentcrdt.dataroom.domain import ENTITIES, Finding, NamedEntity, named_entity_id
from agentcrdt.dataroom.texts import version_text
from agentcrdt.llm.tasks import DocumentInput, ExtractedField, Fact, Quote, ReflectContext, Reflection
from agentcrdt.materialize import Reader
from agentcrdt.rabbithole.explore import FOLLOW, ExplorerAgent
from agentcrdt.rabbithole.state import RabbitholeJob, RabbitholeNode, parse_passage
from agentcrdt.rooms.workflow import Evidence
from agentcrdt.runtime import ProposalDraft, Retrieval, TextKey, WorkItem, load_sibling

if TYPE_CHECKING:  # the checker reads the helper as a module; at run time it is loaded by path
    import _vocabulary as V
else:
    V = load_sibling(__file__, "_vocabulary.py")

MAX_CANDIDATES = 12
SEEDS = 3  # documents a question starts from
RELATED_MIN = 0.5
_SEVERITY = {"contradiction": "high", "connection": "info", "question": "low"}


def _named(text: str, heading: str) -> bool:
    words = re.findall(r"\w+", heading)
    if len(words) < 2 or len(heading) < 12:
        return False
    return re.search(r"\b" + r"\W+".join(map(re.escape, words)) + r"\b", text, re.I) is not None


def _overlap(question: str, text: str) -> int:
    q = {w for w in re.findall(r"[a-z0-9]{3,}", question.lower())}
    return len(q & set(re.findall(r"[a-z0-9]{3,}", text.lower())))


def _claim_documents(by_id: dict[str, V.Doc], claims: Sequence[dict[str, Any]], here: str) -> list[V.Doc]:
    """The documents the figures read earlier come from (but ``here``), by id."""
    return [by_id[i] for i in sorted({str(c["doc_id"]) for c in claims}) if i in by_id and i != here]


class Explorer(ExplorerAgent):
    """Reflect on one document of an exploration and propose what it holds, connects to and conflicts
    with, quoting every claim exactly."""

    name = "explorer"
    capability = Capability(
        "explorer",
        writes=("Link.*", "Finding.*", "NamedEntity.*"),
        reads=(*V.READS, "Link.*", "RabbitholeJob.*", "RabbitholeNode.*"),
        proposal_kinds=("link", "finding", "entity"),
    )
    prompt = "explorer.md.j2"
    entities = (*ENTITIES,)
    retrieval_sources = (("DocumentVersion", "text"),)

    # -- where a job goes ---------------------------------------------------------------------------

    def seeds(self, reader: Reader, job: RabbitholeJob, retrieval: Retrieval | None) -> list[tuple[str, str]]:
        docs = {d.id: d for d in V.read_documents(reader)}
        if job.starts:
            return [(s, "start") for s in job.starts if s in docs]
        ranked: list[str] = []
        if retrieval is not None:
            for hit in retrieval.search(job.question, k=4 * SEEDS):
                owner = str(hit.metadata.get("eid", "")).rpartition("@")[0]
                if owner in docs and owner not in ranked:
                    ranked.append(owner)
        if not ranked:  # no index (or nothing in it): the documents sharing most words with the question
            scores = {i: _overlap(job.question, d.text) for i, d in docs.items()}
            ranked = [i for i in sorted(scores, key=lambda i: (-scores[i], i)) if scores[i] > 0]
        return [(i, "question") for i in ranked[:SEEDS]]

    def node_item(
        self,
        reader: Reader,
        job: RabbitholeJob,
        node: RabbitholeNode,
        seen: list[dict[str, Any]],
        retrieval: Retrieval | None,
        related: Sequence[str] = (),
        seen_claims: Sequence[dict[str, Any]] = (),
    ) -> WorkItem | None:
        docs = V.read_documents(reader)
        by_id = {d.id: d for d in docs}
        if node.kind == "chunk":
            return self._chunk_item(reader, job, node, by_id, seen_claims)
        doc = by_id.get(node.ref)
        if doc is None:
            return None
        heads = V.headings(docs)
        others = [d for d in docs if d.id != doc.id]
        named = [d.id for d in others if _named(doc.text, heads[d.id])]
        similar: list[str] = []
        if retrieval is not None:
            for hit in retrieval.search(doc.text[:1500], k=2 * MAX_CANDIDATES, exclude=[doc.version]):
                owner = str(hit.metadata.get("eid", "")).rpartition("@")[0]
                if owner in by_id and owner != doc.id:
                    similar.append(owner)
        parent = [r for r in (node.parent, *related) if r in by_id]
        order = [*named, *parent, *similar, *(d.id for d in others)]
        chosen = [by_id[i] for i in list(dict.fromkeys(order))[:MAX_CANDIDATES]]
        # The documents of figures read earlier: a finding may quote them (the prompt shows the quote).
        quoted = _claim_documents(by_id, seen_claims, doc.id)
        texts: dict[TextKey, str] = {d.key: d.text for d in (doc, *chosen, *quoted)}
        return WorkItem(
            "Document",
            doc.id,
            inputs={
                "job": job.id,
                "question": job.question,
                "version": doc.version,
                "heading": heads[doc.id],
                "candidates": [[c.id, c.version, heads[c.id]] for c in chosen],
                "seen": seen,
                "claims": list(seen_claims),
                "related": sorted(set(related)),
            },
            texts=texts,
            data={"doc": doc, "candidates": chosen, "quoted": quoted, "heads": heads},
        )

    def _chunk_item(
        self,
        reader: Reader,
        job: RabbitholeJob,
        node: RabbitholeNode,
        by_id: dict[str, V.Doc],
        seen_claims: Sequence[dict[str, Any]],
    ) -> WorkItem | None:
        """A passage retrieval found about a figure: read it (not its whole document) against the
        figures seen so far; the version it was found in, even if the document has a newer one."""
        doc_id, version, start, end = parse_passage(node.ref)
        current = by_id.get(doc_id)
        text = current.text if current is not None and current.version == version else None
        text = text if text is not None else version_text(reader, version)
        if text is None or not 0 <= start < end <= len(text):
            return None
        doc = V.Doc(doc_id, current.title if current else doc_id, version, text)
        heads = V.headings([doc, *(d for i, d in by_id.items() if i != doc_id)])
        quoted = _claim_documents(by_id, seen_claims, doc_id)
        texts: dict[TextKey, str] = {d.key: d.text for d in (doc, *quoted)}
        return WorkItem(
            "Document",
            doc.id,
            inputs={
                "job": job.id,
                "question": job.question,
                "version": version,
                "passage": [start, end],
                "heading": heads[doc.id],
                "candidates": [],
                "seen": [],
                "claims": list(seen_claims),
                "related": [],
            },
            texts=texts,
            data={"doc": doc, "candidates": [], "quoted": quoted, "heads": heads, "passage": (start, end)},
        )

    def context(self, item: WorkItem, retrieval: Retrieval | None) -> dict[str, Any]:
        doc = item.data["doc"]
        heads = item.data["heads"]
        candidates = item.data["candidates"]

        def fact(f: dict[str, Any]) -> Fact:
            return Fact(
                doc_id=f["doc_id"],
                field=f["field"],
                value=f["value"],
                quote=Quote(**f["quote"]),
                confidence=f.get("confidence", 1.0),
            )

        start, end = item.data.get("passage", (0, len(doc.text)))
        document = DocumentInput(id=doc.id, text=doc.text[start:end], title=heads[doc.id])
        task = ReflectContext(
            document=document,
            candidates=[c.as_input(heads[c.id]) for c in candidates],
            seen=[fact(f) for f in item.inputs["seen"]],
            claims=[fact(f) for f in item.inputs.get("claims", [])],
            related=item.inputs["related"],
            question=item.inputs["question"],
        )
        return {
            "question": item.inputs["question"],
            "document": {"id": doc.id, "heading": heads[doc.id], "text": document.text},
            "candidates": [{"id": c.id, "heading": heads[c.id], "text": c.text} for c in candidates],
            "seen": item.inputs["seen"],
            "claims": item.inputs.get("claims", []),
            "task": task,
        }

    def discoveries(self, item: WorkItem, output: Reflection) -> list[tuple[str, str]]:
        here = item.entity_id
        if "passage" in item.data:  # a passage worth a finding is worth reading whole
            return [(here, "chunk")] if output.findings else []
        known = {c.id for c in item.data["candidates"]}
        out = [(lk.target_id, f"link:{lk.relation}") for lk in output.links if lk.relation in FOLLOW]
        for f in output.findings:
            if f.kind == "connection":
                out += [(c.doc_id, "connection") for c in f.evidence if c.doc_id != here]
        return [(ref, via) for ref, via in dict.fromkeys(out) if ref in known and ref != here]

    def facts(self, item: WorkItem, output: Reflection) -> list[dict[str, Any]]:
        return self._quoted(item, output.facts)

    def claims(self, item: WorkItem, output: Reflection) -> list[dict[str, Any]]:
        return self._quoted(item, output.claims)

    def _quoted(self, item: WorkItem, fields: Sequence[ExtractedField]) -> list[dict[str, Any]]:
        doc = item.data["doc"]
        out = []
        for f in fields:
            ev = V.evidence_for(item.texts, doc.key, f.quote)
            if ev is None:
                continue  # a fact a later node may quote must be verbatim here
            quote = {"text": ev.quote, "start": ev.start, "end": ev.end}
            out.append(
                {
                    "doc_id": doc.id,
                    "version": doc.version,
                    "field": f.name,
                    "value": f.value,
                    "quote": quote,
                    "confidence": f.confidence,
                }
            )
        return out

    # -- what it proposes ---------------------------------------------------------------------------

    def proposals(self, item: WorkItem, output: Reflection) -> list[ProposalDraft]:
        return [*self._links(item, output), *self._mentions(item, output), *self._findings(item, output)]

    def _links(self, item: WorkItem, output: Reflection) -> list[ProposalDraft]:
        me, doc = item.entity_id, item.data["doc"]
        known = {c.id for c in item.data["candidates"]}
        drafts = []
        for lk in output.links:
            if lk.target_id not in known or (lk.relation == "related" and lk.confidence < RELATED_MIN):
                continue
            evidence = V.checked(item.texts, doc.key, lk.evidence)
            if not evidence:
                continue
            drafts.append(V.link_draft(me, lk, evidence))
        return drafts

    def _mentions(self, item: WorkItem, output: Reflection) -> list[ProposalDraft]:
        me, doc = item.entity_id, item.data["doc"]
        ops: list[dict[str, Any]] = []
        evidence: list[Evidence] = []
        for m in output.mentions:
            ev = V.evidence_for(item.texts, doc.key, m.quote)
            if ev is None or not m.name.strip():
                continue
            eid = named_entity_id(m.kind, m.name)
            # A Map write per document: concurrent mentions from other documents are all kept.
            ops += NamedEntity.create_ops(
                id=eid, name=m.name.strip(), kind=m.kind, mentions={me: V.span_of(me, ev)}
            )
            evidence.append(ev)
        if not ops:
            return []
        names = ", ".join(m.name for m in output.mentions)
        return [
            ProposalDraft(
                ops=ops, rationale=f"{me} names {names}", confidence="0.7", kind="entity", evidence=evidence
            )
        ]

    def _findings(self, item: WorkItem, output: Reflection) -> list[ProposalDraft]:
        drafts = []
        docs = (item.data["doc"], *item.data["candidates"], *item.data.get("quoted", ()))
        versions = {c.id: c.key for c in docs}
        for f in output.findings:
            sides: list[tuple[str, Evidence]] = []
            for c in f.evidence:
                key = versions.get(c.doc_id)
                ev = None if key is None else V.evidence_for(item.texts, key, c.quote)
                if ev is None:
                    break
                sides.append((c.doc_id, ev))
            else:
                if not sides:
                    continue
                involved = sorted({d for d, _ in sides})
                raw = f"{f.kind}:{f.title}:{':'.join(involved)}"
                fid = raw if len(raw) <= 200 else f"{f.kind}-" + hashlib.sha256(raw.encode()).hexdigest()[:32]
                ops = Finding.create_ops(
                    id=fid,
                    kind=f.kind,
                    title=f.title[:300],
                    description=f.description,
                    evidence=[V.span_of(d, ev) for d, ev in sides],
                    severity=_SEVERITY[f.kind],
                    status="open",
                )
                drafts.append(
                    ProposalDraft(
                        ops=ops,
                        rationale=f"{f.title}: {f.description}"[:2000],
                        confidence=V.confidence(f.confidence),
                        kind="finding",
                        evidence=[ev for _, ev in sides],
                    )
                )
        return drafts
