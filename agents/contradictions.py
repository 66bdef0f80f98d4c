"""Contradiction finder: the same field stated differently in two related documents.

Reads the fields the extractor wrote (``Document.fields``: value, exact quote, source version), the
documents' parties and the links in the room; proposes ``Finding`` entities (kind ``contradiction``) with
one evidence span on each side. Slot ``contradictions``: no auto-accept, every finding is reviewed.

Which documents are compared: two documents are about the same agreement or deal when a ``Link``
(amends, references, duplicates, supplements) joins them in the room, or when their parties are the
same (at least two, names compared case- and punctuation-insensitively). Unrelated contracts are never
compared: two NDAs under different laws do not contradict each other. Which fields: the terms of the
agreement (governing law, term, renewal, notice period, payment terms, fees); for duplicates, every
field. A value an amendment *changes* ("deleted and replaced with...") is an amendment, not a
contradiction, and is left out; a value it *restates* ("...is not modified by this Amendment") is kept.

Runs after the extractor (it reads what the extractor wrote); one work item per pair of documents, so a
changed field re-asks only the pairs that involve its document.
"""

from __future__ import annotations

import hashlib
import re
from itertools import combinations
from typing import TYPE_CHECKING, Any

from agentcrdt.capabilities import Capability
from agentcrdt.dataroom.domain import ENTITIES, Finding
from agentcrdt.llm.offline.compare import is_change
from agentcrdt.llm.tasks import CompareContext, ContradictionFinding, Contradictions, Fact, Quote
from agentcrdt.materialize import Reader
from agentcrdt.rooms.workflow import Evidence
from agentcrdt.runtime import Agent, ProposalDraft, Retrieval, TextKey, WorkItem, load_sibling

if TYPE_CHECKING:  # the checker reads the helper as a module; at run time it is loaded by path
    import _vocabulary as V
else:
    V = load_sibling(__file__, "_vocabulary.py")

#: Fields compared between related documents (dates and parties legitimately differ between them).
TERMS = ("governing_law", "term", "renewal", "notice_period", "payment_terms", "fees")
#: Fields compared between duplicates (copies should agree on everything).
ALL_FIELDS = ("parties", "effective_date", *TERMS)
RELATIONS = ("amends", "references", "duplicates", "duplicate_of", "supplements")
_HEAD = 1500


def _names(values: Any) -> frozenset[str]:
    if isinstance(values, dict):
        values = values.get("value", "")
    parts = str(values).split(";")
    return frozenset(n for n in (re.sub(r"[^a-z0-9]+", " ", p.lower()).strip() for p in parts) if n)


def _mentions(heading: str, names: frozenset[str], citing_head: str) -> re.Pattern[str] | None:
    """Return a pattern matching a mention of a cited document: its heading, or the first word of one of
    its parties that the citing document's opening does not name (its own parties name nothing)."""
    words = re.findall(r"\w+", heading)
    alts = [r"\W+".join(map(re.escape, words))] if len(words) >= 2 else []
    for n in sorted(names):
        first = n.split()[0]
        if len(first) >= 4 and not re.search(rf"\b{re.escape(first)}\b", citing_head, re.I):
            alts.append(re.escape(first))
    return re.compile(r"\b(" + "|".join(alts) + r")\b", re.I) if alts else None


def _norm(value: str) -> str:
    return re.sub(r"[^a-z0-9]+", "", value.lower())


class ContradictionFinder(Agent[Contradictions]):
    """Compare the extracted fields of related documents and propose the conflicts as Findings."""

    name = "contradictions"
    capability = Capability(
        "contradictions",
        writes=("Finding.*",),
        reads=(*V.READS, "Link.*"),
        proposal_kinds=("finding",),
    )
    prompt = "contradictions.md.j2"
    entities = ENTITIES

    def select(self, reader: Reader) -> list[WorkItem]:
        docs = reader.entities("Document")
        parties = {i: _names(v.get("fields", {}).get("parties", "")) for i, v in docs.items()}
        related: dict[tuple[str, str], str] = {}
        for a, b in combinations(sorted(docs), 2):
            if len(parties[a]) >= 2 and parties[a] == parties[b]:
                related[(a, b)] = "same parties"
        citing: dict[tuple[str, str], str] = {}  # for "references": the pair's citing document
        for values in reader.entities("Link").values():
            src, dst, rel = values.get("source"), values.get("target"), values.get("relation")
            if not (
                isinstance(src, str)
                and isinstance(dst, str)
                and src in docs
                and dst in docs
                and rel in RELATIONS
            ):
                continue
            pair, rel = (min(src, dst), max(src, dst)), "duplicates" if rel == "duplicate_of" else str(rel)
            # The closest relation decides what is compared: duplicates, amends, same parties, references.
            order = ("duplicates", "amends", "supplements", "same parties", "references", None)
            if order.index(rel) < order.index(related.get(pair)):
                related[pair] = rel
                citing[pair] = src
        full = {d.id: d for d in V.read_documents(reader)}
        texts: dict[str, str | None] = {}
        items = []
        for (a, b), rel in sorted(related.items()):
            mention = None
            if rel == "references":
                src = citing[(a, b)]
                dst = b if src == a else a
                head = full[src].text[:_HEAD] if src in full else ""
                heading = V.headings([full[dst]])[dst] if dst in full else ""
                mention = (src, _mentions(heading, parties[dst], head))
            # Only the amending side of an amendment sets values ("deleted and replaced with"); the
            # amended contract's own wording near a clause ("fees may be reduced") changes nothing.
            amender = citing.get((a, b)) if rel in ("amends", "supplements") else None
            item = self._pair(reader, docs, a, b, rel, texts, mention, amender)
            if item is not None:
                items.append(item)
        return items

    def _pair(
        self,
        reader: Reader,
        docs: dict[str, Any],
        a: str,
        b: str,
        rel: str,
        texts: dict[str, str | None],
        mention: tuple[str, re.Pattern[str] | None] | None,
        amender: str | None = None,
    ) -> WorkItem | None:
        fields = ALL_FIELDS if rel == "duplicates" else TERMS
        facts: list[list[Any]] = []
        item_texts: dict[TextKey, str] = {}
        differ = False
        for name in fields:
            side = []
            for doc in (a, b):
                fv = docs[doc].get("fields", {}).get(name)
                if not isinstance(fv, dict) or not fv.get("quote") or not fv.get("source_version"):
                    break
                version = str(fv["source_version"])
                if version not in texts:
                    texts[version] = V.version_text(reader, version)
                text = texts[version]
                start = fv.get("start")
                if (
                    text is None
                    or not isinstance(start, int)
                    or text[start : start + len(fv["quote"])] != fv["quote"]
                ):
                    break
                end = start + len(fv["quote"])
                if (amender is None or doc == amender) and is_change(text, start, end):
                    break  # set by an amendment: a change, not a conflicting statement
                cited = (
                    mention is None or doc != mention[0] or (mention[1] and mention[1].search(fv["quote"]))
                )
                if not cited:
                    break  # a citing document's own terms are not a statement about the cited one
                side.append([doc, name, str(fv.get("value", "")), fv["quote"], start, end, version])
                item_texts[("DocumentVersion", version, "text")] = text
            if len(side) == 2:
                facts.extend(side)
                differ = differ or _norm(side[0][2]) != _norm(side[1][2])
        if not differ:
            return None
        keys = {("DocumentVersion", f[6], "text") for f in facts}
        return WorkItem(
            "DocumentPair",
            f"{a}|{b}",
            inputs={"pair": [a, b], "relation": rel, "facts": facts},
            texts={k: v for k, v in item_texts.items() if k in keys},
        )

    def context(self, item: WorkItem, retrieval: Retrieval | None) -> dict[str, Any]:
        facts = [
            Fact(doc_id=f[0], field=f[1], value=f[2], quote=Quote(text=f[3], start=f[4], end=f[5]))
            for f in item.inputs["facts"]
        ]
        return {
            "pair": item.inputs["pair"],
            "relation": item.inputs["relation"],
            "facts": [f.model_dump(mode="json") for f in facts],
            "task": CompareContext(facts=facts),
        }

    def _evidence(self, item: WorkItem, doc: str, quote: Quote) -> Evidence | None:
        for version in dict.fromkeys(f[6] for f in item.inputs["facts"] if f[0] == doc):
            ev: Evidence | None = V.evidence_for(item.texts, ("DocumentVersion", version, "text"), quote)
            if ev is not None:
                return ev
        return None

    def proposals(self, item: WorkItem, output: Contradictions) -> list[ProposalDraft]:
        pair = set(item.inputs["pair"])
        drafts = []
        seen: set[str] = set()
        for f in output.findings:
            if f.doc_a == f.doc_b or {f.doc_a, f.doc_b} != pair:
                continue
            ev_a, ev_b = self._evidence(item, f.doc_a, f.quote_a), self._evidence(item, f.doc_b, f.quote_b)
            if ev_a is None or ev_b is None:
                continue  # a contradiction needs verbatim evidence on both sides
            fid, draft = self._draft(item, f, ev_a, ev_b)
            if fid not in seen:
                seen.add(fid)
                drafts.append(draft)
        return drafts

    def _draft(
        self, item: WorkItem, f: ContradictionFinding, ev_a: Evidence, ev_b: Evidence
    ) -> tuple[str, ProposalDraft]:
        field = re.sub(r"[^a-z0-9]+", "_", f.field_or_claim.lower()).strip("_") or "claim"
        (da, va, qa), (db, vb, qb) = sorted([(f.doc_a, f.value_a, ev_a), (f.doc_b, f.value_b, ev_b)])
        fid = f"contradiction:{field}:{da}:{db}"
        if len(fid) > 200:
            fid = "contradiction-" + hashlib.sha256(fid.encode()).hexdigest()[:32]
        ops = Finding.create_ops(
            id=fid,
            kind="contradiction",
            title=f"{field}: {va} ({da}) vs {vb} ({db})"[:300],
            description=f"{f.rationale} Documents related by: {item.inputs['relation']}.",
            evidence=[V.span_of(da, qa), V.span_of(db, qb)],
            severity=f.severity,
            status="open",
        )
        return fid, ProposalDraft(
            ops=ops,
            rationale=f"{field} differs between {da} ({va}) and {db} ({vb}): {f.rationale}",
            confidence=V.confidence(f.confidence),
            kind="finding",
            evidence=[qa, qb],
        )
