"""``rabbithole show``: a job's map as readable text (themes, strongest connections, contradictions with
both quotes, open questions, what was spent)."""

from __future__ import annotations

import textwrap
from decimal import Decimal

from agentcrdt.rabbithole.report import JobMap

__all__ = ["render_text"]

WIDTH = 100
MAX_QUOTE = 240


def _quote(document: str, quote: str, indent: str = "      ") -> str:
    q = " ".join(quote.split())
    q = q if len(q) <= MAX_QUOTE else q[: MAX_QUOTE - 1] + "…"
    return textwrap.fill(f'{document}: "{q}"', WIDTH, initial_indent=indent, subsequent_indent=indent + "  ")


def render_text(m: JobMap, *, links: int = 8) -> str:
    """Return the map as text, most useful first."""
    job = m.job
    start = f"from {job['start']}" if job["start"] else f"on the question {job['question']!r}"
    usd = Decimal(job["usd_micros"]) / 1_000_000
    docs = [n for n in m.nodes if n["kind"] == "document"]
    lines = [
        f"Rabbithole {job['id']} {start}, depth <= {job['max_depth']}: {m.status}",
        f"  {sum(n['done'] for n in docs)} of {len(docs)} documents explored, "
        f"{sum(n['done'] for n in m.nodes if n['kind'] == 'entity')} names and "
        f"{sum(n['done'] for n in m.nodes if n['kind'] == 'claim')} figures followed, "
        f"{sum(n['done'] for n in m.nodes if n['kind'] == 'chunk')} passages read; "
        f"{job['calls']} model calls, "
        f"{job['tokens']} tokens" + (f", ${usd:.4f}" if job["usd_micros"] else ""),
        f"  found {len(m.entities)} names, {len(m.links)} links, {len(m.findings)} findings "
        "(proposals: review them with agentcrdt proposals list)",
        "",
        "Themes",
    ]
    for i, t in enumerate(m.themes, 1):
        by = "" if t.get("written_by") == "model" else " (outline from the graph)"
        lines.append(
            textwrap.fill(
                f"{i}. {t['label']}: {t['summary']}{by}",
                WIDTH,
                initial_indent="  ",
                subsequent_indent="     ",
            )
        )
        lines.append(
            textwrap.fill(", ".join(t["documents"]), WIDTH, initial_indent="     ", subsequent_indent="     ")
        )
        flat = " ".join(t["summary"].split())
        if t["evidence"] and all(" ".join(q["quote"].split()) in flat for q in t["evidence"]):
            # An extractive summary is its quotes: say where they are from instead of repeating them.
            lines.append(
                "      quoted from " + ", ".join(dict.fromkeys(q["document"] for q in t["evidence"]))
            )
        else:
            lines += [_quote(q["document"], q["quote"]) for q in t["evidence"]]
    if not m.themes:
        lines.append("  (none yet)")
    lines += ["", "Strongest connections"]
    for lk in m.strongest_links(links):
        lines.append(
            f"  {lk['source']} {lk['relation']} {lk['target']} ({lk['confidence']:.2f}, {lk['status']})"
        )
        if lk["quote"]:
            lines.append(_quote(lk["source"], lk["quote"]))
    if not m.links:
        lines.append("  (none)")
    for kind, heading in (("contradiction", "Contradictions"), ("question", "Open questions")):
        found = m.findings_of(kind)
        lines += ["", f"{heading} ({len(found)})"]
        for f in found:
            lines.append(f"  {f['title']} [{f['status']}]")
            lines += [_quote(q["document"], q["quote"]) for q in f["evidence"]]
        if not found:
            lines.append("  (none)")
    return "\n".join(lines)
