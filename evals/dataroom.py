"""Score a dataroom against ``examples/falcon/expected.json`` (kinds, tags, fields, links, contradictions).

    python evals/dataroom.py ROOM.db [--expected examples/falcon/expected.json] [--json]
    python evals/dataroom.py --build ROOM.db [--model offline|openai:gpt-4.1-mini] [--embedder minilm|fake]
        [--accept extractor,linker]     # build a room from the sample, run the five agents, then score

Two views of a room are scored: ``applied`` (the materialized state: what auto-accept and reviewers let
in) and ``proposed`` (the applied state plus every pending proposal of the agents' slots: what the
agents claimed, before review). Documents are matched by id: the sample's file name without extension.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
import time
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
SAMPLE = ROOT / "examples" / "falcon"
AGENTS = ("tagger", "extractor", "summarizer", "linker", "contradictions")
#: Fields scored (the extractor's fields; others in expected.json are claims it does not extract).
FIELDS = (
    "parties",
    "effective_date",
    "governing_law",
    "term",
    "renewal",
    "notice_period",
    "payment_terms",
    "fees",
)
#: expected.json's relation names -> the linker's (the task vocabulary folds supplements into amends).
RELATION = {
    "duplicate_of": "duplicates",
    "supplements": "amends",
    "amends": "amends",
    "references": "references",
}


def _stem(name: str) -> str:
    return name.rsplit(".", 1)[0]


def norm_value(field: str, value: Any) -> str:
    """Normalize a field value for comparison (case, punctuation, and the parts the formats allow)."""
    if isinstance(value, list):
        value = "; ".join(str(v) for v in value)
    text = str(value).strip()
    if field == "parties":
        return "; ".join(sorted(re.sub(r"[^a-z0-9]+", " ", p.lower()).strip() for p in text.split(";")))
    if field == "payment_terms":
        m = re.search(r"net\s*(\d+)", text, re.I) or re.fullmatch(r"P(\d+)D", text)
        return f"net {m.group(1)}" if m else text.lower()
    if field == "fees":
        m = re.search(r"USD\s*([\d,]+)", text)
        return f"usd {m.group(1).replace(',', '')}" if m else text.lower()
    return re.sub(r"\s+", " ", text.lower())


# -- reading a room -----------------------------------------------------------------------------------


def _apply(view: dict[tuple[str, str], dict[str, Any]], ops: Iterable[Mapping[str, Any]], fill: bool) -> None:
    """Apply proposal ops to a plain view; ``fill``: only where the view has no value yet."""
    for o in ops:
        values = view.setdefault((o["e"], o["id"]), {})
        kernel, field = o["op"], o["f"]
        if o["t"] == "lww" and "set" in kernel:
            if not fill or values.get(field) in (None, "", []):
                values[field] = kernel["set"]
        elif o["t"] == "orset" and "add" in kernel:
            values.setdefault(field, [])
            if kernel["add"] not in values[field]:
                values[field].append(kernel["add"])
        elif o["t"] == "map" and isinstance(kernel.get("op"), dict) and "set" in kernel["op"]:
            values.setdefault(field, {})
            if not fill or kernel["key"] not in values[field]:
                values[field][kernel["key"]] = kernel["op"]["set"]


def read_room(room_path: str | Path) -> dict[str, dict[tuple[str, str], dict[str, Any]]]:
    """Return ``{"applied": view, "proposed": view}``; a view maps (type, id) to field values."""
    from agentcrdt.dataroom import ENTITIES
    from agentcrdt.rooms.local import open_local
    from agentcrdt.rooms.workflow import list_proposals

    replica = open_local(room_path, entities=ENTITIES)
    try:
        state = replica.state_at()
        applied: dict[tuple[str, str], dict[str, Any]] = {}
        for key in state.entities:
            values = state.value(*key)
            if values is not None:
                applied[key] = json.loads(json.dumps(dict(values), default=str))
        proposed = json.loads(json.dumps({"|".join(k): v for k, v in applied.items()}))
        proposed = {tuple(k.split("|", 1)): v for k, v in proposed.items()}
        for p in list_proposals(replica, "pending"):
            if p.event.payload.get("slot") in AGENTS:
                _apply(proposed, p.event.payload["ops"], fill=True)
    finally:
        replica.store.close()
    return {"applied": applied, "proposed": proposed}


# -- scoring ------------------------------------------------------------------------------------------


def _ratio(a: int, b: int) -> float | None:
    return round(a / b, 3) if b else None


def _spans(values: Mapping[str, Any]) -> list[dict[str, Any]]:
    ev = values.get("evidence") or []
    return [s for s in ev if isinstance(s, dict)]


def _covers(spans: list[dict[str, Any]], doc: str, quote: str | None, texts: Mapping[str, str]) -> bool:
    """Tell whether some span of ``doc`` overlaps ``quote`` (or any span of ``doc`` when no quote)."""
    where = texts.get(doc, "").find(quote) if quote else -1
    for s in spans:
        if s.get("document") != doc:
            continue
        if not quote:
            return True
        start, end = s.get("start"), s.get("end")
        if where >= 0 and isinstance(start, int) and isinstance(end, int):
            if start < where + len(quote) and where < end:
                return True
        elif quote in str(s.get("quote", "")) or str(s.get("quote", "")) in quote:
            return True
    return False


def score_view(
    view: Mapping[tuple[str, str], Mapping[str, Any]], expected: Mapping[str, Any]
) -> dict[str, Any]:
    """Score one view of a room against the expected findings."""
    docs = {_stem(d["file"]): d for d in expected["documents"]}
    texts = {_stem(p.name): p.read_text(encoding="utf-8") for p in (SAMPLE / "documents").iterdir()}
    out: dict[str, Any] = {}
    got = {i: view.get(("Document", i), {}) for i in docs}
    present = [i for i in docs if ("Document", i) in view]
    out["documents"] = {"expected": len(docs), "in_room": len(present)}
    right = sum(1 for i in present if got[i].get("kind") == docs[i]["kind"])
    out["kind_accuracy"] = _ratio(right, len(present))
    tp = sum(len(set(got[i].get("tags") or []) & set(docs[i]["tags"])) for i in present)
    n_pred = sum(len(set(got[i].get("tags") or [])) for i in present)
    n_exp = sum(len(docs[i]["tags"]) for i in present)
    out["tags"] = {"precision": _ratio(tp, n_pred), "recall": _ratio(tp, n_exp), "tp": tp}
    fields: dict[str, Any] = {}
    for f in FIELDS:
        exp = {i: docs[i]["fields"][f] for i in present if f in docs[i]["fields"]}
        pred = {i: (got[i].get("fields") or {}).get(f) for i in present}
        pred = {i: v["value"] for i, v in pred.items() if isinstance(v, dict) and "value" in v}
        ok = sum(1 for i, v in pred.items() if i in exp and norm_value(f, v) == norm_value(f, exp[i]))
        fields[f] = {
            "expected": len(exp),
            "predicted": len(pred),
            "correct": ok,
            "accuracy": _ratio(ok, len(exp)),
        }
    total_exp = sum(v["expected"] for v in fields.values())
    total_ok = sum(v["correct"] for v in fields.values())
    out["fields"] = {"overall_accuracy": _ratio(total_ok, total_exp), **fields}
    want = {
        (_stem(lk["from"]), RELATION[lk["relation"]], _stem(lk["to"]))
        for lk in expected["links"]
        if _stem(lk["from"]) in present and _stem(lk["to"]) in present
    }
    links = [v for (t, _), v in view.items() if t == "Link" and not v.get("_deleted")]
    found = {(str(v.get("source")), str(v.get("relation")), str(v.get("target"))) for v in links}
    typed = {lk for lk in found if lk[1] != "related"}

    def hit(lk: tuple[str, str, str], pool: set[tuple[str, str, str]]) -> bool:
        a, rel, b = lk
        return lk in pool or (rel == "duplicates" and (b, rel, a) in pool)

    out["links"] = {
        "precision": _ratio(sum(hit(lk, want) for lk in typed), len(typed)),
        "recall": _ratio(sum(hit(lk, typed) for lk in want), len(want)),
        "unlabeled_recall": _ratio(
            sum(any({a, b} == {x, y} for x, _, y in typed) for a, _, b in want), len(want)
        ),
        "expected": len(want),
        "proposed": len(typed),
        "related_links": len(found) - len(typed),
    }
    findings = [v for (t, _), v in view.items() if t == "Finding" and v.get("kind") == "contradiction"]
    expected_c = [c for c in expected["contradictions"] if _stem(c["doc_b"]) in present]
    matched: set[int] = set()
    found_ids = []
    for c in expected_c:
        sides_a = [(_stem(d), c["quote_a"]) for d in [c["doc_a"], *c.get("doc_a_alternates", [])]]
        sides_b = [(_stem(c["doc_b"]), c["quote_b"])] + [
            (_stem(d), None) for d in c.get("also_conflicts_with", [])
        ]
        for k, finding in enumerate(findings):
            spans = _spans(finding)
            if any(_covers(spans, d, q, texts) for d, q in sides_a) and any(
                _covers(spans, d, q, texts) for d, q in sides_b
            ):
                matched.add(k)
                found_ids.append(c["id"])
                break
    out["contradictions"] = {
        "recall": _ratio(len(found_ids), len(expected_c)),
        "precision": _ratio(len(matched), len(findings)),
        "found": found_ids,
        "expected": len(expected_c),
        "proposed": len(findings),
    }
    return out


def score(room_path: str | Path, expected_path: str | Path = SAMPLE / "expected.json") -> dict[str, Any]:
    """Score the room at ``room_path``: ``{"applied": {...}, "proposed": {...}}`` (see the module doc)."""
    expected = json.loads(Path(expected_path).read_text(encoding="utf-8"))
    views = read_room(room_path)
    return {name: score_view(view, expected) for name, view in views.items()}


# -- building a room from the sample ------------------------------------------------------------------


def build(
    room_path: Path, model_spec: str, embedder_name: str, accept: Iterable[str] = ()
) -> dict[str, float]:
    """Create a room from the sample, grant and run the five agents (extractor before contradictions).

    ``accept``: slots whose pending proposals an owner accepts after that agent ran (a reviewer who
    trusts everything), so later agents see them. Returns the wall time per agent, in seconds.
    """
    import anyio

    from agentcrdt.dataroom import Dataroom
    from agentcrdt.log.keys import Identity
    from agentcrdt.retrieval import get_embedder
    from agentcrdt.rooms.workflow import grant, list_proposals, review
    from agentcrdt.runtime import Worker, build_model, load_agent

    for stale in room_path.parent.glob(room_path.name + "*"):
        stale.unlink()
    for stale in room_path.parent.glob(f"{room_path.stem}.vectors*"):
        stale.unlink()
    owner = Identity.from_name("falcon-owner")
    room = Dataroom.create(room_path, owner)
    room.add(sorted((SAMPLE / "documents").iterdir()))
    agents = {n: load_agent(ROOT / "agents" / f"{n}.py") for n in AGENTS}
    keys = {n: Identity.from_name(f"falcon-{n}") for n in AGENTS}
    for n in AGENTS:
        grant(room.replica, keys[n].author, agents[n].capability)
    room.close()
    embedder = get_embedder(embedder_name)
    model = build_model(model_spec, embedder)
    times: dict[str, float] = {}

    async def run_all() -> None:
        for n in AGENTS:
            t0 = time.perf_counter()
            worker = Worker(room_path, agents[n], model, identity=keys[n], embedder=embedder)
            try:
                progress = await worker.run_once()
            finally:
                worker.close()
            times[n] = round(time.perf_counter() - t0, 2)
            print(progress.line(), f"({times[n]} s)", file=sys.stderr)
            if n in accept:
                with Dataroom.open(room_path, identity=owner) as r:
                    for p in list_proposals(r.replica, "pending"):
                        if p.event.payload.get("slot") == n:
                            review(r.replica, p.id, "accept", note="eval: accept all")

    anyio.run(run_all)
    return times


# -- CLI ------------------------------------------------------------------------------------------------


def _table(result: Mapping[str, Any]) -> str:
    rows: list[tuple[str, str, str]] = [("metric", "applied", "proposed")]

    def add(name: str, get: Any) -> None:
        rows.append((name, str(get(result["applied"])), str(get(result["proposed"]))))

    add("kind accuracy", lambda r: r["kind_accuracy"])
    add("tag precision", lambda r: r["tags"]["precision"])
    add("tag recall", lambda r: r["tags"]["recall"])
    add("fields overall", lambda r: r["fields"]["overall_accuracy"])
    for f in FIELDS:
        add(f"  {f}", lambda r, f=f: f"{r['fields'][f]['correct']}/{r['fields'][f]['expected']}")
    add("link precision", lambda r: r["links"]["precision"])
    add("link recall", lambda r: r["links"]["recall"])
    add("link recall (unlabeled)", lambda r: r["links"]["unlabeled_recall"])
    add("contradiction recall", lambda r: r["contradictions"]["recall"])
    add("contradiction precision", lambda r: r["contradictions"]["precision"])
    add("contradictions found", lambda r: ",".join(r["contradictions"]["found"]) or "-")
    width = [max(len(r[i]) for r in rows) for i in range(3)]
    return "\n".join("  ".join(c.ljust(w) for c, w in zip(r, width, strict=True)) for r in rows)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("room", type=Path, help="the room file (created with --build)")
    parser.add_argument("--expected", type=Path, default=SAMPLE / "expected.json")
    parser.add_argument(
        "--build", action="store_true", help="create the room from the sample and run the agents"
    )
    parser.add_argument(
        "--model", default="offline", help="model spec (default offline; e.g. openai:gpt-4.1-mini)"
    )
    parser.add_argument("--embedder", default="minilm", help="embedder for retrieval and the offline model")
    parser.add_argument("--accept", default="", help="slots whose proposals to accept after each run (a,b)")
    args = parser.parse_args(argv)
    times: dict[str, float] = {}
    if args.build:
        t0 = time.perf_counter()
        times = build(args.room, args.model, args.embedder, [s for s in args.accept.split(",") if s])
        times["total"] = round(time.perf_counter() - t0, 2)
    result = score(args.room, args.expected)
    print(_table(result))
    print(json.dumps({**result, "seconds": times} if times else result, sort_keys=True))
    return 0


if __name__ == "__main__":
    sys.exit(main())
