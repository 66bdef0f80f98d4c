"""A job's map: what it explored, found and connected, read back from the log.

The map is built from the job's nodes and the proposals each node recorded (whatever their review
status, which the map shows), so it is the same on every replica holding the same events:

* ``entities``: the names the explorer proposed, with the documents naming them;
* ``links`` and ``findings`` (connections, contradictions, open questions), each with its quotes;
* ``themes``: communities of the document/entity graph (networkx's greedy modularity, on a graph built in
  sorted order so the clustering is deterministic), each with the quotes that hold it together, and the
  model's summary when the job wrote one (a theme node keyed by the theme's members, so a summary is
  shown only for the theme it was written for), else an outline written from the graph.

Names most explored documents share (the company under diligence) are left out of the clustering: they
connect everything and so separate nothing.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import asdict, dataclass, field
from typing import Any

from agentcrdt.rabbithole.job import read_job
from agentcrdt.rabbithole.state import JobView, outcome_of, theme_key
from agentcrdt.replica import Replica
from agentcrdt.rooms.workflow import list_proposals

__all__ = ["JobMap", "build_map", "summarizable"]

_EXPLICIT = ("duplicates", "amends", "references")
MAX_THEME_QUOTES = 3


@dataclass
class JobMap:
    """Everything ``rabbithole show`` prints and ``rabbithole export`` writes."""

    job: dict[str, Any]
    status: str
    nodes: list[dict[str, Any]] = field(default_factory=list)
    entities: list[dict[str, Any]] = field(default_factory=list)
    links: list[dict[str, Any]] = field(default_factory=list)
    findings: list[dict[str, Any]] = field(default_factory=list)
    themes: list[dict[str, Any]] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    def findings_of(self, kind: str) -> list[dict[str, Any]]:
        return [f for f in self.findings if f["kind"] == kind]

    def strongest_links(self, n: int = 10) -> list[dict[str, Any]]:
        """Explicit relations first, then by confidence (ties by ids)."""
        return sorted(
            self.links,
            key=lambda lk: (lk["relation"] not in _EXPLICIT, -lk["confidence"], lk["source"], lk["target"]),
        )[:n]


def _values(ops: list[dict[str, Any]]) -> dict[tuple[str, str], dict[str, Any]]:
    """Rebuild the values a proposal's ops write, by ``(entity type, id)`` (registers and map keys)."""
    out: dict[tuple[str, str], dict[str, Any]] = {}
    for o in ops:
        values = out.setdefault((str(o.get("e")), str(o.get("id"))), {})
        body = o.get("op")
        if not isinstance(body, dict):
            continue
        if o.get("t") == "lww" and "set" in body:
            values[str(o.get("f"))] = body["set"]
        elif o.get("t") == "map" and isinstance(body.get("op"), dict) and "set" in body["op"]:
            values.setdefault(str(o.get("f")), {})[str(body.get("key"))] = body["op"]["set"]
    return out


def _quotes(spans: Any) -> list[dict[str, str]]:
    if isinstance(spans, dict):
        spans = list(spans.values())
    if not isinstance(spans, list):
        return []
    return [
        {"document": str(s.get("document", "")), "quote": str(s.get("quote", ""))}
        for s in spans
        if isinstance(s, dict)
    ]


def build_map(replica: Replica, job: str, *, calls_per_node: int = 1) -> JobMap:
    """Return the map of ``job`` as ``replica`` sees it."""
    view = read_job(replica, job)
    job = view.job.id  # "latest" resolved
    wanted: dict[str, str] = {}  # proposal id -> the node that proposed it
    for n in view.done():
        for pid in outcome_of(n).get("proposals", []):
            wanted[str(pid)] = n.ref
    status = _status(view, calls_per_node)
    m = JobMap(job=view.job.model_dump(mode="json"), status=status)
    m.nodes = [
        {
            "ref": n.ref,
            "kind": n.kind,
            "depth": n.depth,
            "via": n.via,
            "parent": n.parent,
            "done": n.done,
            "worker": n.claimed_by,
        }
        for n in sorted(view.nodes, key=lambda n: (n.depth, n.ref))
    ]
    entities: dict[str, dict[str, Any]] = {}
    for info in list_proposals(replica):
        if info.id not in wanted:
            continue
        payload = info.event.payload
        review = str(info.status)
        for (etype, eid), v in sorted(_values(payload.get("ops", [])).items()):
            if etype == "Link":
                quotes = _quotes(v.get("evidence"))
                m.links.append(
                    {
                        "id": eid,
                        "source": v.get("source", ""),
                        "target": v.get("target", ""),
                        "relation": v.get("relation", ""),
                        "confidence": float(v.get("confidence", 0) or 0),
                        "quote": quotes[0]["quote"] if quotes else "",
                        "status": review,
                    }
                )
            elif etype == "Finding":
                m.findings.append(
                    {
                        "id": eid,
                        "kind": v.get("kind", ""),
                        "title": v.get("title", ""),
                        "description": v.get("description", ""),
                        "evidence": _quotes(v.get("evidence")),
                        "confidence": float(payload.get("confidence", 0) or 0),
                        "status": review,
                        "proposal": info.id,
                    }
                )
            elif etype == "NamedEntity":
                e = entities.setdefault(
                    eid, {"id": eid, "name": v.get("name", ""), "kind": v.get("kind", ""), "documents": {}}
                )
                for q in _quotes(v.get("mentions")):
                    e["documents"][q["document"]] = q["quote"]
    m.entities = sorted(entities.values(), key=lambda e: e["id"])
    written = {n.ref: outcome_of(n).get("theme") for n in view.done() if n.kind == "theme"}
    m.themes = _themes(m, {k: v for k, v in written.items() if isinstance(v, dict)})
    return m


def summarizable(replica: Replica, job: str) -> list[tuple[str, dict[str, Any]]]:
    """Return the themes of ``job``'s map a model may summarize, as ``(key, theme)``, largest first:
    those of two documents or more (one document has its own summary)."""
    return [(t["key"], t) for t in build_map(replica, job).themes if len(t["documents"]) >= 2]


def _status(view: JobView, calls_per_node: int) -> str:
    reason = view.end_reason(calls_per_node)
    if reason is not None:
        return reason
    stop = view.stop_reason(calls_per_node)
    return f"stopping ({stop})" if stop else "running"


def _themes(m: JobMap, written: dict[str, dict[str, Any]]) -> list[dict[str, Any]]:
    import networkx as nx
    from networkx.algorithms.community import greedy_modularity_communities

    docs = sorted({n["ref"] for n in m.nodes if n["done"] and n["kind"] == "document"})
    if not docs:
        return []
    hub = max(2, len(docs) // 2)
    g: nx.Graph[str] = nx.Graph()
    g.add_nodes_from(f"doc:{d}" for d in docs)
    for lk in sorted(m.links, key=lambda lk: lk["id"]):
        a, b = f"doc:{lk['source']}", f"doc:{lk['target']}"
        if a in g and b in g:
            weight = 2.0 if lk["relation"] in _EXPLICIT else max(0.1, lk["confidence"])
            g.add_edge(a, b, weight=g.get_edge_data(a, b, {"weight": 0})["weight"] + weight)
    for e in m.entities:
        named = sorted(d for d in e["documents"] if f"doc:{d}" in g)
        if 1 < len(named) <= hub:  # a name one document uses groups nothing; one most use, everything
            g.add_edges_from((f"ent:{e['id']}", f"doc:{d}") for d in named)
    communities = greedy_modularity_communities(g, weight="weight") if g.number_of_edges() else []
    covered = set().union(*communities) if communities else set()
    groups = [sorted(c) for c in communities] + [[n] for n in sorted(set(g) - covered)]
    names = {e["id"]: e["name"] for e in m.entities}
    themes: list[dict[str, Any]] = []
    for group in sorted(groups, key=lambda c: (-len(c), c)):
        members = [n[4:] for n in group if n.startswith("doc:")]
        if not members:
            continue
        ents = [n[4:] for n in group if n.startswith("ent:")]
        inside = [
            lk
            for lk in m.strongest_links(len(m.links))
            if lk["source"] in members and lk["target"] in members
        ]
        relations = Counter(lk["relation"] for lk in inside)
        label_names = [names[e] for e in ents][:2] or [members[0]]
        quotes = [{"document": lk["source"], "quote": lk["quote"]} for lk in inside if lk["quote"]]
        outline = f"{len(members)} document(s)"
        if relations:
            outline += " joined by " + ", ".join(f"{k} {r}" for r, k in sorted(relations.items()))
        if ents:
            outline += "; they name " + ", ".join(names[e] for e in ents)
        key = theme_key(members, ents)
        theme = {
            "id": f"theme-{len(themes) + 1}",
            "key": key,
            "label": " · ".join(label_names),
            "documents": members,
            "entities": ents,
            "names": [names[e] for e in ents],
            "relations": [f"{lk['source']} {lk['relation']} {lk['target']}" for lk in inside],
            "summary": outline,
            "outline": outline,
            "written_by": "graph",
            "evidence": quotes[:MAX_THEME_QUOTES],
        }
        model = written.get(key)
        if model is not None and model.get("summary") and model.get("evidence"):
            theme.update(
                label=str(model.get("label") or theme["label"]),
                summary=str(model["summary"]),
                written_by="model",
                evidence=_quotes(model["evidence"])[:MAX_THEME_QUOTES],
            )
        themes.append(theme)
    return themes
