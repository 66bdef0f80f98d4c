"""The explorer a job runs: an agent (defined in Python like any other, e.g. ``agents/explorer.py``)
whose model call is the ``reflect`` task, driven node by node by the job instead of by ``select``.

:class:`ExplorerAgent` is what such an agent implements on top of :class:`~agentcrdt.runtime.Agent`:
the job's seeds, the work item for one node, and the documents an answer leads to. :class:`AgentExplorer`
calls it the way a worker calls an agent (its prompt, the model seam and the response cache, evidence
checked before anything is proposed), so the same agent runs on the offline model or on any real one,
and its proposals go through its capability slot and into review.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from agentcrdt.dataroom.texts import current_texts
from agentcrdt.errors import CannotAnswer, ModelError, UsageError
from agentcrdt.llm.base import Model, ModelResponse
from agentcrdt.llm.tasks import DocumentInput, Reflection, ThemeContext, ThemeSummary, check_quote
from agentcrdt.materialize.atoms import Reader
from agentcrdt.rabbithole.job import NodeResult, seen_facts, seen_related
from agentcrdt.rabbithole.state import (
    JobView,
    RabbitholeJob,
    RabbitholeNode,
    outcome_of,
    parse_passage,
    passage_ref,
)
from agentcrdt.replica import Replica
from agentcrdt.runtime._outbox import Pending, provenance_of
from agentcrdt.runtime.agent import Agent, ProposalDraft, WorkItem
from agentcrdt.runtime.context import Retrieval
from agentcrdt.runtime.prompts import (
    PromptTemplate,
    agent_prompt,
    default_prompt,
    default_prompt_dirs,
    load_prompt,
)

__all__ = ["AgentExplorer", "ExplorerAgent"]

log = logging.getLogger("agentcrdt.rabbithole")
#: Relations a job records and follows (a ``related`` guess is proposed, not followed).
FOLLOW = ("amends", "references", "duplicates")
#: Documents a question job adds by retrieval at each document node.
BY_QUESTION = 2
#: Figures of a document followed as claim nodes, and passages a claim node leads to.
CLAIM_NODES = 3
PASSAGES = 2
#: What a theme summary reads: its first documents, each cut to its opening characters.
THEME_DOCS = 6
THEME_CHARS = 4000
THEME_SENTENCES = 3


class ExplorerAgent(Agent[Reflection]):
    """An agent a rabbithole job drives: it says where a job starts, what one node's work item is, and
    which documents an answer leads to. ``select`` is not used (the job chooses the nodes).
    ``theme_prompt``: the template theme summaries are asked with (next to ``prompt``; without one,
    a prompt generated from :class:`ThemeSummary`)."""

    theme_prompt: str = "explorer_theme.md.j2"

    def select(self, reader: Reader) -> list[WorkItem]:
        return []

    def seeds(self, reader: Reader, job: RabbitholeJob, retrieval: Retrieval | None) -> list[tuple[str, str]]:
        """Return the documents a new job starts from, as ``(document id, via)``."""
        raise NotImplementedError(f"{type(self).__name__}.seeds() is not implemented")

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
        """Return the work item for ``node`` (None when its document cannot be read); ``seen``: the
        facts earlier nodes read, ``related``: documents the job already related this one to,
        ``seen_claims``: the figures earlier nodes read."""
        raise NotImplementedError(f"{type(self).__name__}.node_item() is not implemented")

    def discoveries(self, item: WorkItem, output: Reflection) -> list[tuple[str, str]]:
        """Return the documents the answer leads to, as ``(document id, via)``."""
        raise NotImplementedError(f"{type(self).__name__}.discoveries() is not implemented")

    def facts(self, item: WorkItem, output: Reflection) -> list[dict[str, Any]]:
        """Return the facts later nodes compare against (JSON: doc_id, field, value, quote)."""
        raise NotImplementedError(f"{type(self).__name__}.facts() is not implemented")

    def claims(self, item: WorkItem, output: Reflection) -> list[dict[str, Any]]:
        """Return the figures (claims) later nodes compare against, shaped like :meth:`facts`
        (default: none)."""
        return []

    def claims_to_explore(self, item: WorkItem, output: Reflection) -> list[tuple[str, str]]:
        """Return the figures to follow as claim nodes, as ``(passage ref, via)`` (default: the first
        ``CLAIM_NODES`` of :meth:`claims`, amounts and shares before durations and dates, which
        contracts state by the dozen)."""
        out = []
        rank = {"money": 0, "percent": 0, "duration": 1}
        claims = sorted(self.claims(item, output), key=lambda c: rank.get(_figure_kind(str(c["value"])), 2))
        for c in claims[:CLAIM_NODES]:
            q = c["quote"]
            out.append(
                (passage_ref(str(c["version"]), int(q["start"]), int(q["end"])), f"claim:{c['field']}")
            )
        return out

    def passages(
        self, claim: dict[str, Any], retrieval: Retrieval, reached: set[str]
    ) -> list[tuple[str, str]]:
        """Return the passages a claim node leads to, as ``(passage ref, via)``: the ``PASSAGES``
        chunks of other documents closest to the claim's clause that the job has not reached."""
        out: list[tuple[str, str]] = []
        for hit in retrieval.search(str(claim["quote"]["text"]), k=8 * PASSAGES + len(reached)):
            eid = str(hit.metadata.get("eid", ""))
            owner = eid.rpartition("@")[0]
            if not owner or owner == claim["doc_id"] or owner in reached or "@" not in eid:
                continue
            if owner in {parse_passage(r)[0] for r, _ in out}:
                continue
            out.append((passage_ref(eid, hit.start, hit.end), f"claim:{claim['field']}"))
            if len(out) >= PASSAGES:
                break
        return out

    def names_to_explore(self, item: WorkItem, output: Reflection) -> list[tuple[str, str]]:
        """Return the names to explore as entity nodes, as ``(name, via)`` (default: the parties,
        people and organizations the document names; a place names too many documents)."""
        kinds = ("party", "person", "organization")
        return [
            (m.name.strip(), f"mention:{m.kind}")
            for m in output.mentions
            if m.kind in kinds and m.name.strip()
        ]

    def naming(self, reader: Reader, name: str) -> list[str]:
        """Return the documents that name ``name`` (an entity node's neighbours), by id; none when most
        documents do (the company under diligence connects everything, so it leads nowhere)."""
        pattern = re.compile(r"(?<!\w)" + r"\s+".join(map(re.escape, name.split())) + r"(?!\w)", re.I)
        texts = current_texts(reader)
        found = [i for i, _, _, text in texts if pattern.search(text)]
        return [] if len(found) > max(3, len(texts) // 2) else found


def _opening(text: str) -> str:
    """The first ``THEME_CHARS`` of ``text``, ended at a line or sentence end (no half sentence to
    quote)."""
    if len(text) <= THEME_CHARS:
        return text
    cut = text[:THEME_CHARS]
    end = max(cut.rfind("\n"), cut.rfind(". ") + 1)
    return cut[:end] if end > THEME_CHARS // 2 else cut


def _finding_ids(draft: ProposalDraft) -> set[str]:
    return {str(op["id"]) for op in draft.ops if op.get("e") == "Finding"}


def _figure_kind(value: str) -> str:
    """The kind of a normalized figure: ``USD 100`` money, ``12%`` percent, ``P2Y`` duration, else date."""
    if value.endswith("%"):
        return "percent"
    if re.fullmatch(r"P\d+[YMWD]", value):
        return "duration"
    return "money" if re.fullmatch(r"[A-Z]{3} [\d.]+", value) else "date"


def _claim_of(view: JobView, node: RabbitholeNode) -> dict[str, Any] | None:
    """The figure a claim node follows, as its document's node recorded it."""
    try:
        doc, version, start, end = parse_passage(node.ref)
    except ValueError:
        return None
    for n in view.done():
        if n.kind == "document" and n.ref == doc:
            for c in outcome_of(n).get("claims", []):
                q = c.get("quote", {}) if isinstance(c, dict) else {}
                if c.get("version") == version and (q.get("start"), q.get("end")) == (start, end):
                    return dict(c)
    return None


class AgentExplorer:
    """Explore nodes with ``agent`` on ``model``: one ``reflect`` call per document or chunk node."""

    calls_per_node = 1

    def __init__(
        self,
        agent: ExplorerAgent,
        model: Model,
        *,
        retrieval: Retrieval | None = None,
        prompt_dirs: Sequence[Path] | None = None,
    ) -> None:
        self.agent = agent
        self.model = model
        self.retrieval = retrieval
        self.prompt: PromptTemplate = agent_prompt(agent, prompt_dirs)
        dirs = prompt_dirs if prompt_dirs is not None else default_prompt_dirs(agent.source_path)
        theme_instructions = ThemeSummary.__doc__ or "Summarize the theme."
        try:
            self.theme_prompt = load_prompt(agent.theme_prompt, dirs)
        except UsageError:  # an agent of another repo without the template: ask from the schema
            self.theme_prompt = default_prompt(theme_instructions, ThemeSummary.model_json_schema())

    def _reader(self, replica: Replica) -> Reader:
        replica.catch_up()  # the projections hold what every worker of the room committed
        for f in replica.followers:
            db = getattr(f, "db", None)
            if db is not None:
                return Reader(db)
        raise ModelError("the room has no SQL projection to read documents from; open it with open_local")

    def seeds(self, replica: Replica, job: RabbitholeJob) -> list[tuple[str, str]]:
        return self.agent.seeds(self._reader(replica), job, self.retrieval)

    def _by_question(self, job: RabbitholeJob, seen: JobView, node: RabbitholeNode) -> list[tuple[str, str]]:
        """A question job also grows by retrieval: each document node adds the ``BY_QUESTION``
        documents closest to the question that the job has not reached yet."""
        if self.retrieval is None or not job.question:
            return []
        known = {n.ref for n in seen.nodes if n.kind == "document"} | {node.ref}
        out: list[tuple[str, str]] = []
        for hit in self.retrieval.search(job.question, k=8 * BY_QUESTION + len(known)):
            owner = str(hit.metadata.get("eid", "")).rpartition("@")[0]
            if owner and owner not in known and owner not in {o for o, _ in out}:
                out.append((owner, "retrieval:question"))
            if len(out) >= BY_QUESTION:
                break
        return out

    async def summarize(self, replica: Replica, job: RabbitholeJob, theme: dict[str, Any]) -> NodeResult:
        texts = {i: (title, text) for i, title, _, text in current_texts(self._reader(replica))}
        members = [d for d in theme["documents"] if d in texts][:THEME_DOCS]
        if not members:
            return NodeResult(counts={"unreadable": 1})
        ctx = ThemeContext(
            documents=[DocumentInput(id=d, title=texts[d][0], text=_opening(texts[d][1])) for d in members],
            relations=list(theme.get("relations", [])),
            names=list(theme.get("names", [])),
            max_sentences=THEME_SENTENCES,
        )
        variables = {**ctx.model_dump(), "question": job.question}
        messages = self.theme_prompt.render({"agent": self.agent.name, **variables})
        try:
            response: ModelResponse[Any] = await self.model.request(
                messages, ThemeSummary, self.agent.settings, context=ctx.model_dump()
            )
        except CannotAnswer as e:
            log.info("%s: theme %s: the model cannot answer: %s", self.agent.name, theme["key"], e)
            return NodeResult(calls=1, counts={"unanswered": 1})
        except ModelError as e:
            log.warning("%s: theme %s: model error: %s", self.agent.name, theme["key"], e)
            return NodeResult(calls=1, counts={"failed": 1})
        out = response.output
        assert isinstance(out, ThemeSummary)
        evidence = []
        for c in out.evidence:  # quotes are checked against the whole text, as every proposal's are
            q = check_quote(texts[c.doc_id][1], c.quote) if c.doc_id in members else None
            if q is not None:
                evidence.append({"document": c.doc_id, "quote": q.text, "start": q.start, "end": q.end})
        summary = " ".join(out.summary.split())[:2000]
        written = {"label": " ".join(out.label.split())[:200], "summary": summary, "evidence": evidence}
        return NodeResult(
            usage=response.usage,
            calls=1,
            theme=written if summary and evidence else None,  # nothing quoted verbatim: not grounded
            counts={"quotes": len(evidence), "dropped": len(out.evidence) - len(evidence)},
        )

    async def explore(
        self, replica: Replica, job: RabbitholeJob, node: RabbitholeNode, seen: JobView
    ) -> NodeResult:
        agent = self.agent
        if node.kind == "entity":  # no model call: the documents naming it are its neighbours
            found = agent.naming(self._reader(replica), node.ref)
            return NodeResult(
                discovered=[(d, f"entity:{node.ref}") for d in found], counts={"documents": len(found)}
            )
        if node.kind == "claim":  # no model call: retrieval finds the passages about the figure
            claim = _claim_of(seen, node)
            if claim is None or self.retrieval is None:
                return NodeResult(counts={"passages": 0})
            reached = {n.ref for n in seen.nodes if n.kind == "document"}
            chunks = agent.passages(claim, self.retrieval, reached)
            return NodeResult(chunks=chunks, counts={"passages": len(chunks)})
        item = agent.node_item(
            self._reader(replica),
            job,
            node,
            seen_facts(seen, node.ref),
            self.retrieval,
            seen_related(seen, node),
            seen_claims=seen_facts(seen, node.ref, "claims"),
        )
        if item is None:
            return NodeResult(counts={"unreadable": 1})
        variables = agent.context(item, self.retrieval)
        messages = self.prompt.render(
            {"agent": agent.name, "item": item, "context_variables": variables, **variables}
        )
        context = agent.model_context(item, variables)
        try:
            if context is None:
                response: ModelResponse[Any] = await self.model.request(
                    messages, agent.output, agent.settings
                )
            else:
                response = await self.model.request(messages, agent.output, agent.settings, context=context)
        except CannotAnswer as e:
            log.info("%s: %s: the model cannot answer: %s", agent.name, item.key, e)
            return NodeResult(calls=1, counts={"unanswered": 1})
        except ModelError as e:
            # One node fails, the job goes on: the node is recorded as failed, not retried forever.
            log.warning("%s: %s: model error: %s", agent.name, item.key, e)
            return NodeResult(calls=1, counts={"failed": 1})
        output = response.output
        assert isinstance(output, Reflection)
        provenance = provenance_of(response, self.prompt.hash)
        input_id = item.input_id(agent.name, self.prompt.hash)
        heads = tuple(sorted(replica.heads))
        slot = agent.capability.slot
        # A finding an earlier node of the job proposed (a chunk's, then its whole document's) is
        # proposed once: reviewers see each contradiction one time.
        already = {str(x) for n in seen.done() for x in outcome_of(n).get("found", [])}
        drafts = [d for d in agent.proposals(item, output) if not (_finding_ids(d) & already)]
        pending = [(slot, Pending(item.key, input_id, d, item.texts, provenance, heads)) for d in drafts]
        whole = node.kind == "document"  # a chunk is read for its figures, and leads to its document
        return NodeResult(
            pending=pending,
            discovered=[
                *agent.discoveries(item, output),
                *(self._by_question(job, seen, node) if whole else []),
            ],
            facts=agent.facts(item, output) if whole else [],
            claims=agent.claims(item, output),
            found=sorted(set().union(*(_finding_ids(d) for d in drafts))),
            relations=[
                [item.entity_id, lk.relation, lk.target_id] for lk in output.links if lk.relation in FOLLOW
            ],
            entities=agent.names_to_explore(item, output) if whole else [],
            # Claims lead to passages by retrieval: without an index there is nothing to follow them by.
            claim_nodes=agent.claims_to_explore(item, output) if whole and self.retrieval else [],
            usage=response.usage,
            calls=1,
            counts={
                "links": len(output.links),
                "findings": len(output.findings),
                "mentions": len(output.mentions),
            },
        )
