"""Exports of a job's map: JSON (everything), GraphML (for graph tools), and one self-contained HTML page
with the interactive graph (no external resource: its script and style run only by their hashes, the
data is inert JSON, and third-party text is escaped).

The graph: documents the job reached and the names it found are nodes; links, mentions, contradictions
and connections are edges, each with its quotes.
"""

from __future__ import annotations

import base64
import functools
import hashlib
import json
from importlib import resources
from typing import Any

from agentcrdt.rabbithole.report import JobMap

__all__ = ["FORMATS", "graph_of", "to_graphml", "to_html", "to_json"]

FORMATS = ("json", "graphml", "html")


def graph_of(m: JobMap) -> dict[str, list[dict[str, Any]]]:
    """Return the map as ``{"nodes": [...], "edges": [...]}`` (ids: ``doc:<id>`` and ``ent:<id>``)."""
    nodes: list[dict[str, Any]] = []
    edges: list[dict[str, Any]] = []
    for n in m.nodes:
        if n["kind"] != "document":
            continue  # an entity node is drawn as its name (below), with the documents naming it
        info = f"depth {n['depth']}, reached by {n['via']}" + (f" from {n['parent']}" if n["parent"] else "")
        nodes.append(
            {"id": f"doc:{n['ref']}", "kind": "document", "label": n["ref"], "info": info, "quotes": [], **n}
        )
    docs = {n["id"] for n in nodes}
    for e in m.entities:
        quotes = [{"document": d, "quote": q} for d, q in sorted(e["documents"].items())]
        nodes.append(
            {
                "id": f"ent:{e['id']}",
                "kind": "entity",
                "label": e["name"],
                "info": f"{e['kind']} named in {len(quotes)} document(s)",
                "quotes": quotes,
            }
        )
        for q in quotes:
            if f"doc:{q['document']}" in docs:
                edges.append(
                    {
                        "source": f"ent:{e['id']}",
                        "target": f"doc:{q['document']}",
                        "kind": "mention",
                        "label": f"{q['document']} names {e['name']}",
                        "quotes": [q],
                    }
                )
    for lk in m.links:
        edges.append(
            {
                "source": f"doc:{lk['source']}",
                "target": f"doc:{lk['target']}",
                "kind": "link",
                "label": f"{lk['source']} {lk['relation']} {lk['target']}"
                f" ({lk['confidence']:.2f}, {lk['status']})",
                "quotes": [{"document": lk["source"], "quote": lk["quote"]}] if lk["quote"] else [],
            }
        )
    for f in m.findings:
        sides = sorted({q["document"] for q in f["evidence"]})
        if f["kind"] in ("contradiction", "connection") and len(sides) == 2:
            edges.append(
                {
                    "source": f"doc:{sides[0]}",
                    "target": f"doc:{sides[1]}",
                    "kind": f["kind"],
                    "label": f"{f['title']} ({f['status']})",
                    "quotes": f["evidence"],
                }
            )
    known = {n["id"] for n in nodes}
    for end in sorted({e[k] for e in edges for k in ("source", "target")} - known):
        ref = end.removeprefix("doc:")  # a document a link or finding names that the job did not explore
        nodes.append({"id": end, "kind": "document", "label": ref, "info": "not explored", "quotes": []})
    return {"nodes": nodes, "edges": edges}


def to_json(m: JobMap) -> str:
    """Return the map and its graph as one JSON document."""
    return json.dumps({**m.to_json(), "graph": graph_of(m)}, indent=2, sort_keys=True, ensure_ascii=False)


def to_graphml(m: JobMap) -> str:
    """Return the graph as GraphML: scalar attributes only (quotes joined, one per line)."""
    import networkx as nx

    g: nx.MultiDiGraph[str] = nx.MultiDiGraph()
    graph = graph_of(m)
    for n in graph["nodes"]:
        g.add_node(n["id"], kind=n["kind"], label=n["label"], info=n["info"])
    for e in graph["edges"]:
        quotes = "\n".join(f"{q['document']}: {q['quote']}" for q in e["quotes"])
        g.add_edge(e["source"], e["target"], kind=e["kind"], label=e["label"], quotes=quotes)
    return "\n".join(nx.generate_graphml(g, prettyprint=True)) + "\n"


@functools.cache
def _asset(name: str) -> tuple[str, str]:
    text = (resources.files("agentcrdt.rabbithole") / "templates" / name).read_text(encoding="utf-8")
    digest = base64.b64encode(hashlib.sha256(text.encode("utf-8")).digest()).decode("ascii")
    return text, f"sha256-{digest}"


def to_html(m: JobMap) -> str:
    """Return one self-contained HTML page: the interactive graph, themes, contradictions, questions."""
    import jinja2
    from markupsafe import Markup

    env = jinja2.Environment(
        loader=jinja2.PackageLoader("agentcrdt.rabbithole", "templates"),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    (css, css_hash), (js, js_hash) = _asset("graph.css"), _asset("graph.js")
    # Inert JSON inside <script type="application/json">: "<" escaped so no text can close the element.
    data = json.dumps(graph_of(m), ensure_ascii=False).replace("<", "\\u003c")
    job = m.job
    start = f"from {job['start']}" if job["start"] else f"on {job['question']!r}"
    return env.get_template("graph.html.j2").render(
        title=f"Rabbithole {job['id']}",
        subtitle=f"{start}, depth ≤ {job['max_depth']}: {m.status}; {len(m.nodes)} documents, "
        f"{len(m.entities)} names, {len(m.links)} links, {len(m.findings)} findings",
        themes=m.themes,
        contradictions=m.findings_of("contradiction"),
        questions=m.findings_of("question"),
        data=Markup(data),
        css=Markup(css),
        css_hash=css_hash,
        js=Markup(js),
        js_hash=js_hash,
    )
