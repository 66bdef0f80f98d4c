"""Linker: typed relations between documents (amends, references, duplicates, related) with evidence.

Reads every document's current version and the links already in the room; proposes ``Link`` entities
``source -> target`` with the quotes of the source that support them. Slot ``linker``: no auto-accept,
every link waits for a reviewer. Candidates for each document: the documents whose heading its text
names, then those whose passages retrieval finds closest to its own, up to ``MAX_CANDIDATES``.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Any

from agentcrdt.capabilities import Capability
from agentcrdt.dataroom.domain import ENTITIES, link_id
from agentcrdt.llm.tasks import LinkContext, Links
from agentcrdt.materialize import Reader
from agentcrdt.runtime import Agent, ProposalDraft, Retrieval, WorkItem, load_sibling

if TYPE_CHECKING:  # the checker reads the helper as a module; at run time it is loaded by path
    import _vocabulary as V
else:
    V = load_sibling(__file__, "_vocabulary.py")

#: Relations the linker proposes (``Link.relation``), as the task vocabulary names them.
RELATIONS = {
    "amends": "the document amends, supplements, modifies or forms part of the target",
    "references": "the document explicitly names or relies on the target",
    "duplicates": "the document is the same text as the target (exact or near-identical copy)",
    "related": "same subject or parties, without an explicit reference",
}
MAX_CANDIDATES = 8
#: "related" is the weakest relation: below this confidence it is noise for a reviewer.
RELATED_MIN = 0.6
_PASSAGE = 800
_QUERIES = 4


def _names(text: str, heading: str) -> bool:
    words = re.findall(r"\w+", heading)
    if len(words) < 2 or len(heading) < 12:
        return False
    pattern = r"\b" + r"\W+".join(map(re.escape, words)) + r"\b"
    return re.search(pattern, text, re.I) is not None


def _passages(text: str) -> list[str]:
    starts = list(range(0, max(1, len(text) - _PASSAGE // 2), _PASSAGE))
    step = max(1, len(starts) // _QUERIES)
    return [text[s : s + _PASSAGE] for s in starts[::step][:_QUERIES] if text[s : s + _PASSAGE].strip()]


class Linker(Agent[Links]):
    """Find each document's relations to other documents and propose them as Link entities."""

    name = "linker"
    capability = Capability(
        "linker",
        writes=("Link.*",),
        reads=(*V.READS, "Link.*"),
        proposal_kinds=("link",),
    )
    prompt = "linker.md.j2"
    entities = ENTITIES
    retrieval_sources = (("DocumentVersion", "text"),)

    def select(self, reader: Reader) -> list[WorkItem]:
        docs = V.read_documents(reader)
        heads: dict[str, str] = V.headings(docs)
        # Links already in the room are not proposed again; they are data, not input (not hashed).
        known = set(reader.entities("Link"))
        items = []
        for d in docs:
            others = [o for o in docs if o.id != d.id]
            items.append(
                WorkItem(
                    "Document",
                    d.id,
                    # Every other document's version is part of the input: a new or changed document
                    # may be the target of a link, so it asks the question again.
                    inputs={
                        "version": d.version,
                        "title": d.title,
                        "heading": heads[d.id],
                        "others": [[o.id, o.version, heads[o.id]] for o in others],
                    },
                    texts={d.key: d.text},
                    data={"docs": {o.id: o for o in others}, "known": known},
                )
            )
        return items

    def _candidates(self, item: WorkItem, retrieval: Retrieval | None) -> list[Any]:
        text = item.texts[("DocumentVersion", item.inputs["version"], "text")]
        docs: dict[str, Any] = item.data["docs"]
        heads = {o[0]: o[2] for o in item.inputs["others"]}
        named = [i for i in sorted(docs) if _names(text, heads[i])]
        scores: dict[str, float] = {}
        if retrieval is not None:
            for passage in _passages(text):
                for hit in retrieval.search(passage, k=2 * MAX_CANDIDATES, exclude=[item.inputs["version"]]):
                    owner = str(hit.metadata.get("eid", "")).rpartition("@")[0]
                    if owner in docs:
                        scores[owner] = max(scores.get(owner, -1.0), hit.score)
        similar = sorted(scores, key=lambda i: (-scores[i], i))
        order = [*named, *similar, *sorted(docs)]
        chosen = list(dict.fromkeys(order))[:MAX_CANDIDATES]
        return [docs[i] for i in chosen]

    def context(self, item: WorkItem, retrieval: Retrieval | None) -> dict[str, Any]:
        heads = {o[0]: o[2] for o in item.inputs["others"]}
        doc = V.Doc(
            item.entity_id,
            str(item.inputs["title"]),
            str(item.inputs["version"]),
            item.texts[("DocumentVersion", item.inputs["version"], "text")],
        )
        candidates = self._candidates(item, retrieval)
        task = LinkContext(
            document=doc.as_input(str(item.inputs["heading"])),
            candidates=[c.as_input(heads[c.id]) for c in candidates],
        )
        return {
            "doc": doc,
            "heading": item.inputs["heading"],
            "candidates": [{"id": c.id, "heading": heads[c.id], "text": c.text} for c in candidates],
            "relations": RELATIONS,
            "task": task,
        }

    def proposals(self, item: WorkItem, output: Links) -> list[ProposalDraft]:
        me = item.entity_id
        key = ("DocumentVersion", str(item.inputs["version"]), "text")
        others = item.data["docs"]
        drafts = []
        seen: set[str] = set()
        for link in output.links:
            target = link.target_id
            if target == me or target not in others or link.relation not in RELATIONS:
                continue
            if link.relation == "related" and link.confidence < RELATED_MIN:
                continue
            if link.relation == "duplicates" and me < target:
                continue  # one link per pair of copies: the later id duplicates the earlier one
            lid = link_id(me, link.relation, target)
            if lid in item.data["known"] or lid in seen:
                continue
            evidence = V.checked(item.texts, key, link.evidence)
            if not evidence:
                continue  # nothing quoted verbatim from the source document: not proposed
            seen.add(lid)
            drafts.append(V.link_draft(me, link, evidence))
        return drafts
