// agentcrdt review UI: one page, hash routes, the JSON API of agentcrdt.ui.app, live over SSE.
// No build step and no framework: the DOM is built with textContent only (room data is never HTML).
"use strict";

const state = { overview: null, selected: 0, rows: [], route: "", renderToken: 0, key: null, ready: false };

// Served by `agentcrdt ui` the API is at /api; served by a sync server at /ui/<scope>/api, and then
// the reviewer's key lives in this browser (WebCrypto) and signs what the server prepares.
const REMOTE = location.pathname.startsWith("/ui/");
const SCOPE = REMOTE ? decodeURIComponent(location.pathname.split("/")[2] || "") : "";
const BASE = REMOTE && SCOPE ? `/ui/${location.pathname.split("/")[2]}` : "";
const url = (path) => (path.startsWith("/api") ? BASE + path : path);

// -- helpers --------------------------------------------------------------------------------------

function h(tag, attrs, ...children) {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === null || v === undefined || v === false) continue;
    if (k === "class") el.className = v;
    else if (k.startsWith("on")) el.addEventListener(k.slice(2), v);
    else el.setAttribute(k, v === true ? "" : String(v));
  }
  for (const c of children.flat(Infinity)) {
    if (c === null || c === undefined || c === false) continue;
    el.append(c instanceof Node ? c : document.createTextNode(String(c)));
  }
  return el;
}

async function api(path, options) {
  const response = await fetch(url(path), { credentials: "same-origin", ...options });
  const body = response.headers.get("content-type")?.includes("json") ? await response.json() : await response.text();
  if (!response.ok) {
    const error = new Error((body && body.error) || `${response.status} ${response.statusText}`);
    error.status = response.status;
    throw error;
  }
  return body;
}

function post(path, body) {
  return api(path, { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify(body) });
}

const short = (id) => (id || "").replace(/^(sha256|ed25519):/, "").slice(0, 12);
const badge = (status) => h("span", { class: `badge s-${status}` }, status.replace("_", " "));
const when = (ms) => (ms ? new Date(ms).toISOString().replace("T", " ").slice(0, 19) : "");
const json = (v) => (v === null || v === undefined ? "—" : typeof v === "string" ? v : JSON.stringify(v));
// A field value as a reviewer reads it: an extracted value (with its quote) by its value, a map key by key.
function shown(v) {
  if (v && typeof v === "object" && !Array.isArray(v)) {
    if ("value" in v && "quote" in v) return v.value;
    const keys = Object.keys(v);
    if (keys.length === 0) return "—";
    return h("ul", { class: "plain" }, keys.map((k) => h("li", {}, h("span", { class: "mono" }, k), ": ", shown(v[k]))));
  }
  return Array.isArray(v) ? v.join(", ") || "—" : json(v);
}

function announce(text) {
  const el = document.getElementById("announce");
  el.textContent = "";
  setTimeout(() => { el.textContent = text; }, 30);
}

function params() {
  const [, query = ""] = location.hash.split("?");
  return new URLSearchParams(query);
}

function go(path, query) {
  const q = query ? new URLSearchParams(Object.entries(query).filter(([, v]) => v !== "" && v != null)).toString() : "";
  location.hash = q ? `${path}?${q}` : path;
}

function table(headers, rows, opts = {}) {
  return h("table", opts,
    h("thead", {}, h("tr", {}, headers.map((t) => h("th", { scope: "col" }, t)))),
    h("tbody", {}, rows));
}

function pager(data, path, query) {
  const { total, offset, limit } = data;
  const first = total === 0 ? 0 : offset + 1;
  const last = Math.min(offset + limit, total);
  return h("div", { class: "pager" },
    h("button", { type: "button", disabled: offset <= 0, onclick: () => go(path, { ...query, offset: Math.max(0, offset - limit) }) }, "Previous page"),
    h("span", {}, `${first}–${last} of ${total.toLocaleString("en")}`),
    h("button", { type: "button", disabled: last >= total, onclick: () => go(path, { ...query, offset: offset + limit }) }, "Next page"));
}

function confirmDialog(text) {
  const dialog = document.getElementById("confirm");
  document.getElementById("confirm-text").textContent = text;
  return new Promise((resolve) => {
    const ok = document.getElementById("confirm-ok");
    const cancel = document.getElementById("confirm-cancel");
    const done = (value) => { ok.onclick = cancel.onclick = dialog.oncancel = null; dialog.close(); resolve(value); };
    ok.onclick = () => done(true);
    cancel.onclick = () => done(false);
    dialog.oncancel = () => done(false);
    dialog.showModal();
    cancel.focus();
  });
}

// -- the browser's key (remote) -------------------------------------------------------------------

const hex = (bytes) => [...new Uint8Array(bytes)].map((b) => b.toString(16).padStart(2, "0")).join("");
const unhex = (text) => new Uint8Array(text.match(/../g).map((b) => parseInt(b, 16)));
const PKCS8_ED25519 = unhex("302e020100300506032b657004220420"); // the DER prefix of a raw 32-byte seed

function keyStore(mode, fn) {
  return new Promise((resolve, reject) => {
    const open = indexedDB.open("agentcrdt", 1);
    open.onupgradeneeded = () => open.result.createObjectStore("keys");
    open.onerror = () => reject(open.error);
    open.onsuccess = () => {
      const request = fn(open.result.transaction("keys", mode).objectStore("keys"));
      request.onsuccess = () => resolve(request.result);
      request.onerror = () => reject(request.error);
    };
  });
}
const loadKey = () => keyStore("readonly", (s) => s.get("default"));
const saveKey = (record) => keyStore("readwrite", (s) => s.put(record, "default"));

async function newKey() {
  // The private key is not extractable: no script, this one included, can read it back.
  const pair = await crypto.subtle.generateKey({ name: "Ed25519" }, false, ["sign", "verify"]);
  const author = `ed25519:${hex(await crypto.subtle.exportKey("raw", pair.publicKey))}`;
  await saveKey({ privateKey: pair.privateKey, author });
  return { privateKey: pair.privateKey, author };
}

async function importKeyFile(text) {
  const seed = text.trim();
  if (!/^[0-9a-f]{64}$/i.test(seed)) throw new Error("a key file holds 64 hex digits (an Ed25519 seed): pick the one 'agentcrdt key new' wrote");
  const der = new Uint8Array([...PKCS8_ED25519, ...unhex(seed.toLowerCase())]);
  // Once extractable, only to read the public half (the JWK's x); then kept non-extractable.
  const probe = await crypto.subtle.importKey("pkcs8", der, { name: "Ed25519" }, true, ["sign"]);
  const x = (await crypto.subtle.exportKey("jwk", probe)).x;
  const publicRaw = Uint8Array.from(atob(x.replace(/-/g, "+").replace(/_/g, "/")), (c) => c.charCodeAt(0));
  const privateKey = await crypto.subtle.importKey("pkcs8", der, { name: "Ed25519" }, false, ["sign"]);
  const record = { privateKey, author: `ed25519:${hex(publicRaw)}` };
  await saveKey(record);
  return record;
}

async function sign(bytes) {
  return hex(await crypto.subtle.sign({ name: "Ed25519" }, state.key.privateKey, bytes));
}

async function signIn() {
  const { challenge } = await api("/api/challenge");
  const message = new TextEncoder().encode(`agentcrdt-sync-auth/1\0${SCOPE}\0${challenge}`);
  await post("/api/session", { author: state.key.author, nonce: challenge, signature: await sign(message) });
}

// The server keeps one prepared set per key (its events take the key's next sequence numbers), and a
// new prepare replaces it: two renders preparing at once would void each other's set. So one
// prepare → sign → submit runs at a time, in order.
let signing = Promise.resolve();
function oneAtATime(task) {
  const run = signing.then(task, task);
  signing = run.catch(() => {});
  return run;
}

async function signAndSubmit(prepared) {
  // The server fixed each event's id; the key signs the domain-separated id the server sent.
  const events = [];
  for (const e of prepared.events) {
    events.push({ id: e.id, signature: await sign(Uint8Array.from(atob(e.message), (c) => c.charCodeAt(0))) });
  }
  return events.length ? post("/api/events", { events }) : { accepted: 0, refused: {} };
}

// One review or a confirmed filtered set: signed here (local UI) or by the browser's key (remote).
async function review(selection, decision, note) {
  if (!REMOTE) {
    if (selection.id) {
      const r = await post(`/api/proposals/${selection.id}/review`, { decision, note });
      return { decided: 1, status: r.status, skipped: 0 };
    }
    const r = await post("/api/reviews", { filters: selection.filters, decision, note, expect: selection.expect });
    return { decided: r.decided, skipped: r.skipped };
  }
  const [prepared, done] = await oneAtATime(async () => {
    const p = await post("/api/reviews/prepare", selection.id ? { ids: [selection.id], decision, note }
      : { filters: selection.filters, expect: selection.expect, decision, note });
    return [p, await signAndSubmit(p)];
  });
  return { decided: done.accepted, status: decision === "accept" ? "accepted" : "rejected", skipped: Object.keys(prepared.skipped || {}).length };
}

// Remote: a text is shown once this key's read of it is in the log; sign those reads, then refetch.
// A read another render of the page logged meanwhile is not logged twice.
const logged = new Set();
async function logReads(versions) {
  if (!REMOTE || !versions.length || !state.key) return false;
  await oneAtATime(async () => {
    const left = versions.filter((v) => !logged.has(v));
    if (!left.length) return;
    await signAndSubmit(await post("/api/reads/prepare", { versions: left }));
    for (const v of left) logged.add(v);
  });
  return true;
}

async function signInPage(error) {
  const out = [h("h1", {}, "Sign in with your key")];
  if (!window.crypto?.subtle) {
    out.push(h("p", { class: "error" }, "This page needs WebCrypto: open it over https (or on this machine's loopback address)."));
    return out;
  }
  if (error) out.push(h("p", { class: "error", role: "alert" }, error));
  out.push(h("p", {}, "Your key stays in this browser: the server prepares each review, your browser signs it."));
  if (state.key) {
    out.push(h("p", {}, "Key in this browser: ", h("code", { id: "key-author" }, state.key.author)),
      h("p", {}, h("button", { type: "button", class: "primary", id: "sign-in", onclick: () => enter() }, "Sign in with this key")));
  }
  const file = h("input", { type: "file", id: "key-file", accept: ".key,text/plain", onchange: async (e) => {
    try { state.key = await importKeyFile(await e.target.files[0].text()); await enter(); } catch (err) { render(false, err.message); }
  } });
  out.push(h("h2", {}, "Use a key file"), h("p", {}, h("label", { for: "key-file" }, "Key file (64 hex digits, as agentcrdt key new writes) "), file),
    h("h2", {}, "Or make a key here"),
    h("p", {}, h("button", { type: "button", id: "new-key", onclick: async () => { state.key = await newKey(); render(false, "New key made: an owner grants it, then sign in."); } }, "Create a key in this browser")),
    h("p", { class: "muted" }, "An owner grants your key a slot (agentcrdt grant AUTHOR …) before it may sign in."));
  return out;
}

async function enter() {
  try {
    await signIn();
    state.overview = null;
    await render(true);
  } catch (e) {
    await render(false, e.message);
  }
}

function scopePage() {
  const input = h("input", { id: "scope", name: "scope", size: 80, placeholder: "sha256:…" });
  return [h("h1", {}, "Open a room"),
    h("form", { class: "filters", "aria-label": "Open a room", onsubmit: (e) => { e.preventDefault(); location.href = `/ui/${input.value.trim()}/`; } },
      h("label", {}, "The room's scope id (agentcrdt room info prints it)", input), h("button", { type: "submit" }, "Open"))];
}

// -- pages ----------------------------------------------------------------------------------------

async function overviewPage() {
  const o = await api("/api/overview");
  state.overview = o;
  const p = o.proposals;
  return [
    h("h1", {}, o.name || "Room"),
    h("div", { class: "cards" },
      card("Documents", o.documents, "#/documents"),
      card("Pending proposals", p.pending, "#/proposals?status=pending"),
      card("Accepted", p.accepted + p.auto_accepted, "#/proposals?status=accepted"),
      card("Rejected", p.rejected, "#/proposals?status=rejected"),
      card("Findings", o.findings, "#/findings"),
      card("Events", o.events, "#/audit"),
      card("Quarantined", o.quarantined, "#/audit?only=flagged")),
    h("h2", {}, "Owners"),
    h("ul", {}, o.owners.map((a) => h("li", { class: "mono" }, a))),
    h("h2", {}, "Agents and their slots"),
    o.agents.length === 0 ? h("p", {}, "No grants yet.") : table(
      ["Author", "Slot", "Mode", "Writes", "Proposals", "Pending", "Accepted", "Rejected", "Grant"],
      o.agents.map((a) => h("tr", {},
        h("td", { class: "mono" }, h("a", { href: `#/proposals?agent=${encodeURIComponent(a.author)}` }, short(a.author))),
        h("td", {}, a.slot), h("td", {}, a.mode), h("td", { class: "mono" }, a.writes.join(", ")),
        h("td", {}, a.proposals), h("td", {}, a.by_status.pending),
        h("td", {}, a.by_status.accepted + a.by_status.auto_accepted), h("td", {}, a.by_status.rejected),
        h("td", {}, a.revoked ? h("span", { class: "badge s-rejected" }, "revoked") : "active")))),
    h("p", { class: "muted" }, `Scope ${o.scope}`),
  ];
}

function card(label, value, href) {
  return h("a", { class: "card", href }, h("strong", {}, String(value)), label);
}

async function proposalsPage() {
  const q = params();
  const query = Object.fromEntries(["status", "agent", "kind", "slot", "min_confidence", "max_confidence", "offset"].map((k) => [k, q.get(k) || ""]));
  const data = await api(`/api/proposals?${new URLSearchParams(Object.entries(query).filter(([, v]) => v))}`);
  state.rows = data.items;
  state.selected = Math.min(state.selected, Math.max(0, data.items.length - 1));
  const facets = data.facets;
  const select = (name, label, options) => h("label", {}, label,
    h("select", { name, onchange: (e) => go("/proposals", { ...query, [name]: e.target.value, offset: "" }) },
      h("option", { value: "" }, "any"),
      options.map((o) => h("option", { value: o, selected: query[name] === o }, name === "agent" ? short(o) : o))));
  const canReview = state.overview?.review?.any;
  const pendingShown = query.status === "pending" || query.status === "";
  const tbody = data.items.map((r, i) => h("tr", { class: i === state.selected ? "selected" : "", "aria-selected": i === state.selected ? "true" : "false", "data-id": r.id },
    h("td", {}, h("a", { href: `#/proposals/${r.id}` }, r.short)),
    h("td", {}, badge(r.status)), h("td", {}, r.slot), h("td", {}, r.kind), h("td", {}, r.confidence),
    h("td", { class: "mono" }, short(r.agent)), h("td", {}, r.rationale.slice(0, 120)), h("td", {}, r.ops),
    h("td", {}, r.evidence)));
  return [
    h("h1", {}, "Proposals"),
    h("form", { class: "filters", role: "search", "aria-label": "Filter proposals", onsubmit: (e) => e.preventDefault() },
      select("status", "Status", ["pending", "accepted", "auto_accepted", "rejected", "quarantined"]),
      select("agent", "Agent", facets.agent), select("kind", "Kind", facets.kind), select("slot", "Slot", facets.slot),
      h("label", {}, "Min confidence", h("input", { name: "min_confidence", type: "number", min: 0, max: 1, step: 0.05, value: query.min_confidence,
        onchange: (e) => go("/proposals", { ...query, min_confidence: e.target.value, offset: "" }) })),
      canReview && pendingShown && data.total > 0 ? h("button", { type: "button", class: "primary", id: "bulk-accept",
        onclick: () => bulk(query, "accept") }, "Accept all matching pending…") : null),
    h("p", { class: "keys" }, h("kbd", {}, "j"), " / ", h("kbd", {}, "k"), " move, ", h("kbd", {}, "Enter"), " open, ",
      h("kbd", {}, "a"), " accept, ", h("kbd", {}, "r"), " reject the selected proposal."),
    data.items.length === 0 ? h("p", {}, "No proposals match.") : table(["Id", "Status", "Slot", "Kind", "Confidence", "Agent", "Rationale", "Ops", "Evidence"], tbody, { id: "queue" }),
    pager(data, "/proposals", query),
  ];
}

async function bulk(query, decision) {
  const filters = { ...query };
  delete filters.offset;
  const data = await api(`/api/proposals?${new URLSearchParams(Object.entries({ ...filters, status: "pending", limit: 1 }).filter(([, v]) => v))}`);
  const n = data.total;
  if (!(await confirmDialog(`${decision === "accept" ? "Accept" : "Reject"} all ${n} pending proposals that match these filters? Each is signed with your key.`))) return;
  try {
    const result = await review({ filters, expect: n }, decision, "bulk review from the UI");
    announce(`${result.decided} proposals ${decision}ed${result.skipped ? `, ${result.skipped} skipped` : ""}.`);
  } catch (e) {
    announce(`Nothing reviewed: ${e.message}`);
  }
  render();
}

async function decideSelected(id, decision) {
  try {
    const r = await review({ id }, decision, "");
    announce(`Proposal ${short(id)} ${r.status.replace("_", " ")}.`);
  } catch (e) {
    announce(`Not reviewed: ${e.message}`);
  }
  await render();
}

async function proposalPage(id) {
  let p = await api(`/api/proposals/${id}`);
  const unread = [...new Set(p.evidence.filter((ev) => ev.unread).map((ev) => ev.id))];
  if (await logReads(unread)) p = await api(`/api/proposals/${id}`);
  const note = h("input", { id: "note", type: "text", size: 40, "aria-label": "Review note (optional)" });
  const act = (decision) => async () => {
    try {
      const r = await review({ id: p.id }, decision, note.value);
      announce(`Proposal ${p.short} ${r.status.replace("_", " ")}.`);
    } catch (e) {
      announce(`Not reviewed: ${e.message}`);
    }
    render();
  };
  state.rows = [p];
  state.selected = 0;
  return [
    h("h1", {}, `Proposal ${p.short} `, badge(p.status)),
    h("p", {}, h("a", { href: "#/proposals" }, "← Back to the queue")),
    p.status === "pending" && p.may_review ? h("p", { class: "actions", style: null },
      note, h("button", { type: "button", class: "primary", id: "accept", onclick: act("accept") }, "Accept (a)"),
      h("button", { type: "button", class: "danger", id: "reject", onclick: act("reject") }, "Reject (r)")) :
      h("p", { class: "muted" }, p.status === "pending" ? "Your key may not review this slot." : `Decided: ${p.reason}${p.reviewer ? ` by ${short(p.reviewer)}` : ""}`),
    h("dl", {},
      h("dt", {}, "Slot / kind"), h("dd", {}, `${p.slot} / ${p.kind}`),
      h("dt", {}, "Confidence"), h("dd", {}, p.confidence),
      h("dt", {}, "Agent"), h("dd", { class: "mono" }, p.agent),
      h("dt", {}, "Model"), h("dd", {}, `${p.provenance.model} (prompt ${short(p.provenance.prompt_hash)})`),
      h("dt", {}, "Rationale"), h("dd", {}, p.rationale)),
    h("h2", {}, "Base / proposed / current"),
    p.fields.some((f) => f.stale) ? h("p", { class: "banner bad" }, "Stale: a field changed since the agent read it.") : null,
    table(["Field", "Base", "Proposed", "Current"], p.fields.map((f) => h("tr", {},
      h("td", { class: "mono" }, `${f.entity}/${f.id}.${f.field}`), h("td", {}, shown(f.base)), h("td", {}, shown(f.proposed)),
      h("td", { class: f.stale ? "stale" : "" }, shown(f.current), f.stale ? " (changed since the agent read it)" : ""))), { class: "three" }),
    h("h2", {}, "Evidence"),
    p.evidence.length === 0 ? h("p", {}, "No evidence quoted.") : h("div", { class: "evidence" }, p.evidence.map((ev) => [
      h("p", {}, ev.verified ? badge("ok") : h("span", { class: "badge s-quarantined" }, "not in the text the agent read"), " ",
        ev.document ? h("a", { href: `#/documents/${ev.document}` }, ev.document) : `${ev.entity}/${ev.id}`, ` [${ev.start}:${ev.end}]`),
      h("blockquote", {}, ev.before ? `…${ev.before}` : "", h("mark", {}, ev.quote), ev.after ? `${ev.after}…` : ""),
    ])),
    h("h2", {}, "Operations"),
    h("ul", {}, p.ops.map((op) => h("li", { class: "mono" }, `${op.e}/${op.id}.${op.f} ${op.t} ${JSON.stringify(op.op)}`))),
  ];
}

async function documentsPage() {
  const q = params();
  const query = { q: q.get("q") || "", kind: q.get("kind") || "", offset: q.get("offset") || "" };
  const data = await api(`/api/documents?${new URLSearchParams(Object.entries(query).filter(([, v]) => v))}`);
  const search = h("input", { type: "search", name: "q", value: query.q });
  return [
    h("h1", {}, "Documents"),
    h("form", { class: "filters", role: "search", "aria-label": "Find documents", onsubmit: (e) => { e.preventDefault(); go("/documents", { ...query, q: search.value, offset: "" }); } },
      h("label", {}, "Id or title", search),
      h("label", {}, "Kind", h("select", { name: "kind", onchange: (e) => go("/documents", { ...query, kind: e.target.value, offset: "" }) },
        h("option", { value: "" }, "any"), data.kinds.map((k) => h("option", { value: k, selected: k === query.kind }, k)))),
      h("button", { type: "submit" }, "Search")),
    table(["Document", "Kind", "Tags", "Fields", "Versions", "Signatures", "Status"], data.items.map((d) => h("tr", {},
      h("td", {}, h("a", { href: `#/documents/${d.id}` }, d.title || d.id)), h("td", {}, d.kind), h("td", {}, d.tags.join(", ")),
      h("td", {}, Object.entries(d.fields).map(([k, v]) => `${k}: ${v}`).join("; ").slice(0, 160)),
      h("td", {}, d.versions), h("td", {}, d.signatures), h("td", {}, d.status)))),
    pager(data, "/documents", query),
  ];
}

function highlighted(text, marks) {
  // Overlapping spans split the text at every boundary; each piece is marked by the spans covering it.
  const cuts = new Set([0, text.length]);
  for (const m of marks) { cuts.add(Math.max(0, m.start)); cuts.add(Math.min(text.length, m.end)); }
  const points = [...cuts].sort((a, b) => a - b);
  const out = [];
  for (let i = 0; i + 1 < points.length; i++) {
    const [a, b] = [points[i], points[i + 1]];
    const piece = text.slice(a, b);
    const over = marks.filter((m) => m.start <= a && m.end >= b && text.slice(m.start, m.end) === m.quote);
    out.push(over.length ? h("mark", { class: over.some((m) => m.source === "finding") ? "finding" : "", title: over.map((m) => m.label).join("; ") }, piece) : piece);
  }
  return out;
}

function versionView(v) {
  return h("section", { "aria-label": `Version ${v.number}` },
    h("h2", {}, `Version ${v.number} `, v.intact === false ? h("span", { class: "badge s-tampered" }, "text does not match its hash") : v.intact ? badge("ok") : ""),
    h("p", { class: "muted mono" }, `${v.source_name} · ${short(v.content_hash)} · added by ${short(v.added_by)}`),
    v.signatures.length ? h("ul", {}, v.signatures.map((s) => h("li", {}, s.ok ? badge("valid") : h("span", { class: "badge s-tampered" }, `invalid: ${s.reason}`),
      ` ${s.statement} by `, h("span", { class: "mono" }, short(s.signer)), ` ${when(s.signed_at)}`))) : h("p", { class: "muted" }, "Not signed."),
    v.text === null ? h("p", { class: "error" }, "Texts are shown only to a UI started with a key: every read is logged and signed.")
      : h("div", { class: "text", tabindex: 0, role: "region", "aria-label": `Text of version ${v.number}` }, highlighted(v.text, v.highlights)),
    v.highlights.length ? h("details", {}, h("summary", {}, `${v.highlights.length} evidence quote(s)`),
      h("ul", {}, v.highlights.map((m) => h("li", {}, m.source === "proposal" ? h("a", { href: `#/proposals/${m.ref}` }, m.label) : m.label, ` [${m.start}:${m.end}] “${m.quote.slice(0, 100)}”`)))) : null);
}

async function documentPage(id) {
  let d = await api(`/api/documents/${encodeURIComponent(id)}`);
  if (d.readable && await logReads(d.versions.filter((v) => v.text === null).map((v) => v.id))) {
    d = await api(`/api/documents/${encodeURIComponent(id)}`);
  }
  const q = params();
  const numbers = d.versions.map((v) => v.number);
  const left = Number(q.get("a") || numbers[Math.max(0, numbers.length - 2)] || 1);
  const right = Number(q.get("b") || numbers[numbers.length - 1] || 1);
  const pick = (name, value) => h("label", {}, name === "a" ? "Left version " : "Right version ",
    h("select", { name, onchange: (e) => go(`/documents/${id}`, { a: name === "a" ? e.target.value : left, b: name === "b" ? e.target.value : right }) },
      numbers.map((n) => h("option", { value: n, selected: n === value }, String(n)))));
  const byNumber = (n) => d.versions.find((v) => v.number === n) || d.versions[d.versions.length - 1];
  return [
    h("h1", {}, d.title || d.id),
    h("p", {}, h("a", { href: "#/documents" }, "← All documents")),
    h("dl", {}, h("dt", {}, "Kind"), h("dd", {}, d.kind || "—"), h("dt", {}, "Tags"), h("dd", {}, d.tags.join(", ") || "—"),
      h("dt", {}, "Status"), h("dd", {}, d.status), h("dt", {}, "Summary"), h("dd", {}, d.summary || "—")),
    Object.keys(d.fields).length ? [h("h2", {}, "Fields"), table(["Field", "Value", "Quote"], Object.entries(d.fields).map(([k, f]) => h("tr", {}, h("td", {}, k), h("td", {}, f.value), h("td", {}, f.quote))))] : null,
    d.versions.length > 1 ? h("form", { class: "filters", "aria-label": "Versions side by side", onsubmit: (e) => e.preventDefault() }, pick("a", left), pick("b", right)) : null,
    d.versions.length > 1 ? h("div", { class: "side" }, versionView(byNumber(left)), versionView(byNumber(right))) : d.versions.map(versionView),
    d.links.length ? [h("h2", {}, "Links"), h("ul", {}, d.links.map((l) => h("li", {}, `${l.source} ${l.relation} ${l.target}`)))] : null,
    h("h2", {}, "Who read it"),
    d.access.length ? table(["Reader", "Version", "Via", "When"], d.access.map((a) => h("tr", {}, h("td", { class: "mono" }, short(a.reader)), h("td", {}, a.version), h("td", {}, a.via), h("td", {}, when(a.time_ms))))) : h("p", {}, "No logged reads."),
  ];
}

async function findingsPage() {
  const offset = params().get("offset") || "";
  const data = await api(`/api/findings?offset=${offset || 0}`);
  return [h("h1", {}, "Findings"),
    data.items.length === 0 ? h("p", {}, "No findings yet.") : table(["Kind", "Severity", "Title", "Evidence", "Status"], data.items.map((f) => h("tr", {},
      h("td", {}, f.kind), h("td", {}, f.severity), h("td", {}, f.title, h("br"), h("span", { class: "muted" }, f.description)),
      h("td", {}, h("ul", {}, f.evidence.map((s) => h("li", {}, h("a", { href: `#/documents/${s.document}` }, s.document), ` “${s.quote.slice(0, 120)}”`)))),
      h("td", {}, f.status)))),
    pager(data, "/findings", {})];
}

async function jobsPage(id) {
  if (id) {
    return [h("h1", {}, `Rabbithole job ${id}`), h("p", {}, h("a", { href: "#/jobs" }, "← All jobs")),
      h("iframe", { title: `Map of job ${id}`, src: url(`/api/jobs/${encodeURIComponent(id)}/map`), sandbox: "allow-scripts" })];
  }
  const data = await api("/api/jobs");
  return [h("h1", {}, "Rabbithole jobs"),
    data.items.length === 0 ? h("p", {}, "No rabbithole jobs in this room: start one with agentcrdt rabbithole run.") :
      table(["Question", "Status", "Nodes", "Links", "Contradictions", "Connections", "Themes"], data.items.map((j) => h("tr", {},
        h("td", {}, h("a", { href: `#/jobs/${encodeURIComponent(j.id)}` }, j.question || j.id)), h("td", {}, j.status), h("td", {}, j.nodes),
        h("td", {}, j.links), h("td", {}, j.findings.contradiction), h("td", {}, j.findings.connection), h("td", {}, j.themes))))];
}

async function evalsPage() {
  const q = params();
  const data = await api("/api/evals");
  if (q.get("run")) {
    return [h("h1", {}, `Eval run ${q.get("run")}`), h("p", {}, h("a", { href: "#/evals" }, "← All runs")),
      h("iframe", { title: `Report of ${q.get("run")}`, src: url(`/api/evals/report?run=${encodeURIComponent(q.get("run"))}`), sandbox: "allow-scripts" })];
  }
  const out = [h("h1", {}, "Eval runs")];
  if (data.items.length === 0) {
    out.push(h("p", {}, data.folder ? `No eval runs under ${data.folder}.` : "Start the UI with --runs DIR to list eval runs."));
    return out;
  }
  const choose = (name) => h("select", { name }, data.items.map((r, i) => h("option", { value: r.path, selected: (name === "a" ? i === 1 : i === 0) || null }, r.path)));
  const a = choose("a"), b = choose("b");
  const result = h("div", { id: "comparison" });
  out.push(table(["Run", "Suite", "Model", "Date", "Headline metrics"], data.items.map((r) => h("tr", {},
    h("td", {}, r.report ? h("a", { href: `#/evals?run=${encodeURIComponent(r.path)}` }, r.path) : r.path), h("td", {}, r.suite), h("td", {}, r.model), h("td", {}, r.date),
    h("td", {}, Object.entries(r.metrics).map(([k, v]) => `${k} ${Number(v).toFixed(3)}`).join(", "))))));
  if (data.items.length > 1) {
    out.push(h("h2", {}, "Compare two runs"),
      h("form", { class: "filters", "aria-label": "Compare runs", onsubmit: async (e) => {
        e.preventDefault();
        result.replaceChildren(h("p", {}, "Comparing…"));
        try {
          const c = await api(`/api/evals/compare?a=${encodeURIComponent(a.value)}&b=${encodeURIComponent(b.value)}`);
          result.replaceChildren(h("p", {}, `View ${c.view}, ${c.cases} common cases`),
            table(["Metric", "A", "B", "B − A [95% interval]", ""], c.rows.map((r) => h("tr", {}, h("td", {}, r.metric),
              h("td", {}, r.a == null ? "—" : r.a.toFixed(3)), h("td", {}, r.b == null ? "—" : r.b.toFixed(3)),
              h("td", {}, r.delta ? `${r.delta.value.toFixed(3)} [${r.delta.low.toFixed(3)}, ${r.delta.high.toFixed(3)}]` : "—"),
              h("td", {}, r.regressed ? h("span", { class: "badge s-rejected" }, "regressed") : "")))),
            ...c.warnings.map((w) => h("p", { class: "muted" }, `Warning: ${w}`)));
        } catch (err) { result.replaceChildren(h("p", { class: "error" }, err.message)); }
      } }, h("label", {}, "Baseline A", a), h("label", {}, "Run B", b), h("button", { type: "submit" }, "Compare")), result);
  }
  return out;
}

async function auditPage() {
  const q = params();
  const query = { only: q.get("only") || "", offset: q.get("offset") || "" };
  const data = await api(`/api/audit?${new URLSearchParams(Object.entries(query).filter(([, v]) => v))}`);
  const v = data.verification;
  return [
    h("h1", {}, "Audit trail"),
    v.intact ? h("p", { class: "banner ok", id: "verification" }, `Intact: all ${v.events} events re-hashed and their signatures verified${v.incremental ? ` (the ${v.verified_now} appended since the last check, just now; the others earlier in this session)` : ""}.`)
      : h("p", { class: "banner bad", id: "verification" }, `TAMPERED at event #${v.failure.position} ${short(v.failure.event)}: ${v.failure.reason}: ${v.failure.detail}`),
    h("p", {}, h("button", { type: "button", id: "verify-full", onclick: async (e) => {
      e.target.disabled = true;
      announce("Verifying every event again…");
      await api("/api/audit?verify=full&limit=1");
      await render();
      announce("The whole chain was verified again.");
    } }, "Verify the whole chain again")),
    h("p", {}, h("label", {}, h("input", { type: "checkbox", id: "flagged", checked: query.only === "flagged", onchange: (e) => go("/audit", { only: e.target.checked ? "flagged" : "" }) }),
      " Show only quarantined events")),
    table(["#", "Event", "Kind", "Author", "Seq", "Lamport", "Verdict"], data.items.map((r) => h("tr", { class: r.verdict !== "valid" ? "flagged" : "" },
      h("td", {}, r.position), h("td", { class: "mono" }, r.short), h("td", {}, r.kind), h("td", { class: "mono" }, short(r.author)),
      h("td", {}, r.seq), h("td", {}, r.lamport),
      h("td", {}, badge(r.verdict), r.reason ? ` ${r.reason}` : "")))),
    pager(data, "/audit", query),
    data.rejections.length ? [h("h2", {}, "Refused at ingest (never entered the log)"),
      table(["Event", "Reason", "Detail"], data.rejections.map((r) => h("tr", {}, h("td", { class: "mono" }, short(r.event) || "—"), h("td", {}, r.reason), h("td", {}, r.detail))))] : null,
  ];
}

async function accessPage() {
  const offset = params().get("offset") || "";
  const data = await api(`/api/access?offset=${offset || 0}`);
  return [h("h1", {}, "Access log"),
    data.items.length === 0 ? h("p", {}, "No logged reads.") : table(["When", "Reader", "Document", "Version", "Via"], data.items.map((a) => h("tr", {},
      h("td", {}, when(a.time_ms)), h("td", { class: "mono" }, short(a.reader)), h("td", {}, h("a", { href: `#/documents/${a.document}` }, a.document)),
      h("td", {}, a.version), h("td", {}, a.via)))),
    pager(data, "/access", {})];
}

// -- routing, keyboard, live ----------------------------------------------------------------------

const ROUTES = [
  [/^\/?$/, overviewPage], [/^\/proposals\/(.+)$/, proposalPage], [/^\/proposals$/, proposalsPage],
  [/^\/documents\/(.+)$/, documentPage], [/^\/documents$/, documentsPage], [/^\/findings$/, findingsPage],
  [/^\/jobs\/(.+)$/, jobsPage], [/^\/jobs$/, jobsPage], [/^\/evals$/, evalsPage], [/^\/audit$/, auditPage], [/^\/access$/, accessPage],
];

async function render(focus = false, message = "") {
  const token = ++state.renderToken;
  const path = (location.hash.slice(1) || "/").split("?")[0];
  if (path !== state.route) state.selected = 0;
  state.route = path;
  const main = document.getElementById("main");
  for (const a of document.querySelectorAll("nav a")) {
    const target = a.getAttribute("href").slice(1);
    a.toggleAttribute("aria-current", target === "/" ? path === "/" : path.startsWith(target));
    if (a.hasAttribute("aria-current")) a.setAttribute("aria-current", "page");
  }
  let content;
  try {
    if (REMOTE && !SCOPE) {
      content = scopePage();
    } else if (REMOTE && !(await api("/api/session")).author) {
      content = await signInPage(message);
    } else if (!REMOTE && !state.ready && !(state.ready = (await api("/api/ready")).ready)) {
      // `agentcrdt ui` serves the page while it indexes a large room: say so, and ask again shortly.
      content = [h("h1", {}, "Opening the room…"), h("p", { role: "status" }, "Indexing its events; this page fills in when they are read.")];
      setTimeout(() => { if (token === state.renderToken) render(focus, message); }, 400);
    } else {
      if (!state.overview) state.overview = await api("/api/overview");
      if (!state.live) { state.live = true; live(); }
      const [pattern, page] = ROUTES.find(([re]) => re.test(path)) || [null, null];
      content = page ? await page(...path.match(pattern).slice(1).map(decodeURIComponent)) : [h("h1", {}, "Not found")];
    }
  } catch (e) {
    // Remote, without a session (401), or a key the room does not admit (403 on the first call).
    const signIn = REMOTE && (e.status === 401 || (e.status === 403 && !state.overview));
    content = signIn ? await signInPage(message || (e.status === 403 ? e.message : ""))
      : [h("h1", {}, "Something went wrong"), h("p", { class: "error" }, e.message)];
  }
  if (message && !REMOTE) content.push(h("p", { class: "error" }, message));
  if (token !== state.renderToken) return; // a newer render started meanwhile
  const o = state.overview;
  if (o) {
    document.getElementById("room-name").textContent = o.name || "agentcrdt room";
    document.getElementById("viewer").textContent = o.viewer ? `reviewing as ${short(o.viewer)}` : "read-only (no key)";
  }
  main.replaceChildren(...content.flat(3).filter(Boolean));
  const title = main.querySelector("h1")?.textContent || "agentcrdt";
  document.title = `${title} · agentcrdt review`;
  if (focus) main.focus();
}

function moveSelection(delta) {
  if (!state.rows.length) return;
  state.selected = Math.max(0, Math.min(state.rows.length - 1, state.selected + delta));
  for (const [i, tr] of document.querySelectorAll("#queue tbody tr").entries()) {
    tr.classList.toggle("selected", i === state.selected);
    tr.setAttribute("aria-selected", i === state.selected ? "true" : "false");
    if (i === state.selected) tr.scrollIntoView({ block: "nearest" });
  }
  const row = state.rows[state.selected];
  announce(`Selected ${row.short}: ${row.status}, ${row.slot} ${row.kind}, confidence ${row.confidence}.`);
}

document.addEventListener("keydown", (e) => {
  if (e.ctrlKey || e.metaKey || e.altKey) return;
  const target = e.target;
  if (target.closest && target.closest("input, select, textarea, dialog")) return;
  const onQueue = state.route === "/proposals";
  const onDetail = state.route.startsWith("/proposals/");
  if (onQueue && (e.key === "j" || e.key === "k")) { moveSelection(e.key === "j" ? 1 : -1); e.preventDefault(); }
  else if (onQueue && e.key === "Enter" && state.rows.length && !(target.closest && target.closest("a, button"))) { go(`/proposals/${state.rows[state.selected].id}`); e.preventDefault(); }
  else if ((onQueue || onDetail) && (e.key === "a" || e.key === "r") && state.rows.length) {
    const row = state.rows[state.selected];
    if (row.status !== "pending") { announce(`Proposal ${row.short} is already ${row.status.replace("_", " ")}.`); return; }
    decideSelected(row.id, e.key === "a" ? "accept" : "reject");
    e.preventDefault();
  }
});

function live() {
  const status = document.getElementById("live");
  const source = new EventSource(url("/api/live"));
  let timer = null;
  source.addEventListener("open", () => { status.textContent = "Live"; });
  source.addEventListener("error", () => { status.textContent = "Reconnecting…"; });
  source.addEventListener("change", () => {
    clearTimeout(timer);
    timer = setTimeout(() => { state.overview = null; render(); }, 60); // a burst of changes: one refetch
  });
}

window.addEventListener("hashchange", () => render(true));
window.addEventListener("DOMContentLoaded", async () => {
  if (REMOTE && window.indexedDB) state.key = (await loadKey().catch(() => null)) || null;
  await render();
});
