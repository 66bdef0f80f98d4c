"use strict";
// The map's graph: a small deterministic force layout (no library, nothing fetched), drawn in SVG.
(function () {
  const data = JSON.parse(document.getElementById("data").textContent);
  const svg = document.getElementById("graph");
  const details = document.getElementById("details");
  const NS = "http://www.w3.org/2000/svg";
  const W = 900, H = 640;
  const nodes = data.nodes.map((n, i) => {
    const a = (2 * Math.PI * i) / Math.max(1, data.nodes.length);
    return Object.assign({ x: W / 2 + 220 * Math.cos(a), y: H / 2 + 220 * Math.sin(a), vx: 0, vy: 0 }, n);
  });
  const byId = new Map(nodes.map((n) => [n.id, n]));
  const edges = data.edges.filter((e) => byId.has(e.source) && byId.has(e.target));
  for (let step = 0; step < 300; step++) {
    const t = 1 - step / 300;
    for (let i = 0; i < nodes.length; i++) {
      for (let j = i + 1; j < nodes.length; j++) {
        const a = nodes[i], b = nodes[j];
        let dx = a.x - b.x, dy = a.y - b.y;
        const d2 = Math.max(dx * dx + dy * dy, 25);
        const f = 4000 / d2;
        dx /= Math.sqrt(d2); dy /= Math.sqrt(d2);
        a.vx += dx * f; a.vy += dy * f; b.vx -= dx * f; b.vy -= dy * f;
      }
    }
    for (const e of edges) {
      const a = byId.get(e.source), b = byId.get(e.target);
      const dx = b.x - a.x, dy = b.y - a.y;
      const d = Math.max(Math.sqrt(dx * dx + dy * dy), 1);
      const f = (d - 110) * 0.02;
      a.vx += (dx / d) * f; a.vy += (dy / d) * f; b.vx -= (dx / d) * f; b.vy -= (dy / d) * f;
    }
    for (const n of nodes) {
      n.vx += (W / 2 - n.x) * 0.005; n.vy += (H / 2 - n.y) * 0.005;
      n.x = Math.min(W - 20, Math.max(20, n.x + n.vx * t)); n.y = Math.min(H - 20, Math.max(20, n.y + n.vy * t));
      n.vx *= 0.5; n.vy *= 0.5;
    }
  }
  function el(name, attrs, parent) {
    const e = document.createElementNS(NS, name);
    for (const [k, v] of Object.entries(attrs)) e.setAttribute(k, String(v));
    parent.appendChild(e);
    return e;
  }
  for (const e of edges) {
    const a = byId.get(e.source), b = byId.get(e.target);
    const line = el("line", { x1: a.x, y1: a.y, x2: b.x, y2: b.y, class: e.kind }, svg);
    const title = el("title", {}, line);
    title.textContent = e.label;
  }
  function quote(parent, q) {
    const b = document.createElement("blockquote");
    const c = document.createElement("cite");
    c.textContent = q.document;
    b.appendChild(c);
    b.appendChild(document.createTextNode(q.quote));
    parent.appendChild(b);
  }
  function show(n, g) {
    for (const s of svg.querySelectorAll(".node.selected")) s.classList.remove("selected");
    g.classList.add("selected");
    details.replaceChildren();
    const h = document.createElement("h3");
    h.textContent = n.label;
    details.appendChild(h);
    const p = document.createElement("p");
    p.textContent = n.info;
    details.appendChild(p);
    for (const q of n.quotes) quote(details, q);
    for (const e of edges.filter((x) => x.source === n.id || x.target === n.id)) {
      const r = document.createElement("p");
      r.textContent = e.label;
      details.appendChild(r);
      for (const q of e.quotes) quote(details, q);
    }
  }
  for (const n of nodes) {
    const g = el("g", { class: "node", "data-id": n.id, tabindex: 0 }, svg);
    el("circle", { cx: n.x, cy: n.y, r: n.kind === "document" ? 9 : 6, fill: n.kind === "document" ? "#3b6fd8" : "#e39b2f" }, g);
    const label = el("text", { x: n.x + 11, y: n.y + 4 }, g);
    label.textContent = n.label.length > 34 ? n.label.slice(0, 33) + "…" : n.label;
    g.addEventListener("click", () => show(n, g));
    g.addEventListener("keydown", (ev) => { if (ev.key === "Enter") show(n, g); });
  }
  svg.setAttribute("data-ready", String(nodes.length));
})();
