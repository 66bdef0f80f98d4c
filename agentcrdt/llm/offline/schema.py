"""The schema baseline: answer an output type the offline model has no rules for, from its JSON schema.

Each field the schema declares is looked up in the texts of the request (:mod:`.reading`) by its name
and description, never by what the type is called:

* a string gets the strongest sentence (a word-aligned window of it under ``maxLength``; with a
  ``pattern``, the first match of the pattern, preferring matching sentences), verbatim;
* a number, date, or date-time gets the value written nearest the query's words in the strongest
  sentence that has one (and fits ``minimum``/``maximum``); a boolean is whether the strongest sentence
  states it without a negation; a ``Literal`` (``enum``) gets the option whose words occur, preferring
  sentences about the field, else an "unknown"-like option when the type offers one;
* a list gets one item per matching sentence (``maxItems``, else 5), strongest first, shown in text order;
  a nested model is filled field by field, recursively; a quote-like model (``text``/``quote`` with
  ``start``/``end``) gets a sentence with its offsets;
* ``quotes``/``evidence``-like fields get the verbatim sentences the other fields were read from,
  ``rationale``-like fields say how the answer was found, and a ``confidence`` field gets
  :func:`calibrated` of the mean match strength of the fields answered (0 when none was).

A sentence *matches* at strength :data:`~.reading.MATCH` or more. A required field nothing matches is
not guessed: :func:`answer` raises :class:`~agentcrdt.errors.CannotAnswer` naming every such field; an
optional one is left out (its default applies).
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from agentcrdt.errors import CannotAnswer
from agentcrdt.llm.offline.encoder import Encoder
from agentcrdt.llm.offline.normalize import find_dates
from agentcrdt.llm.offline.reading import MATCH, Quoted, Reader, numbers, query_words, stems_of, texts_of

__all__ = ["MAX_ITEMS", "answer", "calibrated"]

MAX_ITEMS = 5
_MAX_DEPTH = 8
_NEGATION = re.compile(r"\b(?:not|no|never|neither|nor|without|none)\b|n't\b", re.I)
_UNKNOWN = frozenset(
    ["unknown", "none", "other", "n/a", "na", "unclear", "not_found", "not found", "unspecified"]
)
_QUOTE_TEXT = ("text", "quote", "excerpt")
_QUOTE_IDS = ("id", "source", "source_id", "doc_id", "document", "document_id")
_QUOTE_KEYS = frozenset([*_QUOTE_TEXT, *_QUOTE_IDS, "start", "end"])
_ROLES = {
    "confidence": re.compile(r"(?:^|_)(?:confidence|certainty)$"),
    "evidence": re.compile(
        r"(?:^|_)(?:quotes?|evidence|citations?|excerpts?|spans?|sources|supporting_quotes?)$"
    ),
    "rationale": re.compile(r"(?:^|_)(?:rationale|reason|reasoning|explanation|justification)$"),
}
_LEVELS = (("low", 0.0), ("medium", 0.45), ("high", 0.75))


def calibrated(strength: float) -> float:
    """Map a match strength in [0, 1] to a confidence: ``0.6·s`` below MATCH, ``0.3 + 1.2·(s − 0.5)`` from it.

    Continuous and strictly increasing; a bare match gives 0.3, a full one 0.9 (never 1: this is not a
    language model reading the text).
    """
    s = min(max(strength, 0.0), 1.0)
    return round(0.6 * s if s < MATCH else 0.3 + 1.2 * (s - MATCH), 4)


class _Missing(Exception):
    def __init__(self, paths: Sequence[str]) -> None:
        super().__init__(", ".join(paths))
        self.paths = list(paths)


@dataclass(frozen=True)
class _Filled:
    value: Any
    strength: float
    quotes: tuple[Quoted, ...] = ()
    counted: bool = True  # False: a constant or an empty list, not an answer read from the text


def answer(schema: Mapping[str, Any], context: Mapping[str, Any], encoder: Encoder) -> dict[str, Any]:
    """Return a JSON object for ``schema`` read from the texts in ``context``; CannotAnswer if it cannot."""
    sources = texts_of(context)
    if not sources:
        raise CannotAnswer(
            "no text to read in the request context: pass context={'texts': [...]} (strings, or objects "
            "with a 'text'), or 'documents'",
            provider="offline",
        )
    filler = _Filler(schema, Reader.of(sources, encoder))
    try:
        filled = filler.object(dict(schema), (), filler.reader, 0)
    except _Missing as e:
        raise CannotAnswer(
            f"the texts do not state {', '.join(e.paths)} (no sentence matches the field's name and "
            "description; nothing was guessed)",
            missing=tuple(e.paths),
            provider="offline",
        ) from None
    value: dict[str, Any] = filled.value
    return value


class _Filler:
    def __init__(self, root: Mapping[str, Any], reader: Reader) -> None:
        self.defs: Mapping[str, Any] = root.get("$defs", {})
        self.reader = reader

    def resolve(self, node: Mapping[str, Any]) -> dict[str, Any]:
        """Follow ``$ref``/single ``allOf``, and drop ``null`` from unions (an optional value)."""
        out = dict(node)
        for _ in range(_MAX_DEPTH):
            if "$ref" in out:
                target = self.defs.get(str(out.pop("$ref")).rsplit("/", 1)[-1], {})
                out = {
                    **target,
                    **out,
                    "description": out.get("description") or target.get("description", ""),
                }
            elif isinstance(out.get("allOf"), list) and len(out["allOf"]) == 1:
                out = {**out.pop("allOf")[0], **out}
            elif isinstance(out.get("anyOf") or out.get("oneOf"), list):
                branches = [b for b in out.get("anyOf") or out["oneOf"] if b.get("type") != "null"]
                out.pop("anyOf", None), out.pop("oneOf", None)
                if len(branches) != 1:
                    return {**out, "anyOf": branches}
                out = {**branches[0], **out}
            else:
                return out
        return out

    def value(self, node: Mapping[str, Any], path: tuple[str, ...], reader: Reader, depth: int) -> _Filled:
        n = self.resolve(node)
        if depth > _MAX_DEPTH:
            raise _Missing([_dotted(path)])
        if "const" in n:
            return _Filled(n["const"], 0.0, counted=False)
        if "enum" in n:
            return self.enum(n, path, reader)
        if "anyOf" in n:
            for branch in n["anyOf"]:
                try:
                    return self.value(
                        {**branch, "description": n.get("description", "")}, path, reader, depth
                    )
                except _Missing:
                    continue
            raise _Missing([_dotted(path)])
        kind = n.get("type", "string")
        kind = next((t for t in kind if t != "null"), "null") if isinstance(kind, list) else kind
        if kind == "object" and _is_quote(n):
            found = self.string({}, path, n.get("description", ""), reader)
            return _Filled(self.quote_object(n, found.quotes[0], path), found.strength, found.quotes)
        if kind == "object":
            return self.object(n, path, reader, depth + 1)
        if kind == "array":
            return self.array(n, path, reader, depth + 1)
        if kind == "string" and n.get("format") in ("date", "date-time"):
            return self.date(n, path, reader)
        if kind == "string":
            return self.string(n, path, n.get("description", ""), reader)
        if kind in ("integer", "number"):
            return self.number(n, path, reader)
        if kind == "boolean":
            return self.boolean(n, path, reader)
        raise _Missing([_dotted(path)])

    # -- objects ------------------------------------------------------------------------------------

    def object(self, node: Mapping[str, Any], path: tuple[str, ...], reader: Reader, depth: int) -> _Filled:
        props: Mapping[str, Any] = node.get("properties", {})
        required = set(node.get("required", ()))
        out: dict[str, Any] = {}
        answered: list[tuple[str, _Filled]] = []
        missing: list[str] = []
        later: list[tuple[str, str]] = []
        for name, prop in props.items():
            role = next((r for r, rx in _ROLES.items() if rx.search(name.lower())), None)
            if role is not None:
                later.append((name, role))
                continue
            try:
                filled = self.value(prop, (*path, name), reader, depth)
            except _Missing as e:
                if name in required:
                    missing += e.paths
                continue
            out[name] = filled.value
            if filled.counted:
                answered.append((name, filled))
        if missing:
            raise _Missing(missing)
        if path and not answered:  # a nested object with nothing read into it says nothing
            raise _Missing([_dotted(path)])
        strength = sum(f.strength for _, f in answered) / len(answered) if answered else 0.0
        quotes = tuple(sorted({q for _, f in answered for q in f.quotes}))
        for name, role in later:
            try:
                out[name] = self.meta(role, props[name], (*path, name), answered, quotes, strength)
            except _Missing as e:
                if name in required:
                    missing += e.paths
        if missing:
            raise _Missing(missing)
        return _Filled(out, strength, quotes, counted=bool(answered))

    def meta(
        self,
        role: str,
        node: Mapping[str, Any],
        path: tuple[str, ...],
        answered: Sequence[tuple[str, _Filled]],
        quotes: Sequence[Quoted],
        strength: float,
    ) -> Any:
        n = self.resolve(node)
        if role == "confidence":
            return _confidence_value(n, calibrated(strength) if answered else 0.0, path)
        if role == "rationale":
            if n.get("type", "string") != "string":
                raise _Missing([_dotted(path)])
            reads = "; ".join(f"{name} (match {f.strength:.2f})" for name, f in answered) or "nothing"
            text = f"Offline schema baseline: read {reads} from the sentences closest to each field's words."
            return text[: n.get("maxLength", len(text))]
        if n.get("type") == "array":
            items = self.resolve(n.get("items", {}))
            picked = list(quotes)[: n.get("maxItems", len(quotes))]
            if len(picked) < n.get("minItems", 0):
                raise _Missing([_dotted(path)])
            if items.get("type") == "object" and _is_quote(items):
                return [self.quote_object(items, q, path) for q in picked]
            if items.get("type", "string") == "string":
                return [q.text for q in picked]
        elif n.get("type", "string") == "string" and quotes:
            return quotes[0].text
        elif n.get("type") == "object" and _is_quote(n) and quotes:
            return self.quote_object(n, quotes[0], path)
        raise _Missing([_dotted(path)])

    def quote_object(self, node: Mapping[str, Any], q: Quoted, path: tuple[str, ...]) -> dict[str, Any]:
        source_id = self.reader.sources[q.source].id
        out: dict[str, Any] = {}
        for name in node.get("properties", {}):
            if name in _QUOTE_TEXT:
                out[name] = q.text
            elif name in ("start", "end"):
                out[name] = q.start if name == "start" else q.end
            elif name in _QUOTE_IDS and source_id is not None:
                out[name] = source_id
        if not set(node.get("required", ())) <= set(out):
            raise _Missing([_dotted(path)])
        return out

    # -- lists ----------------------------------------------------------------------------------------

    def array(self, node: Mapping[str, Any], path: tuple[str, ...], reader: Reader, depth: int) -> _Filled:
        items = self.resolve(node.get("items", {}))
        most = int(node.get("maxItems", MAX_ITEMS))
        found: list[tuple[int, _Filled]] = []  # (position, item), most preferred first
        if "enum" in items:
            scored = [(i, f) for i, f in enumerate(self.options(items, path, reader)) if f.strength >= MATCH]
            found = sorted(scored, key=lambda kf: -kf[1].strength)
        else:
            words_, desc = _query(path, node.get("description", "") or items.get("description", ""))
            seen: set[str] = set()
            for k, s in reader.ranked(words_, desc):
                if s < MATCH or len(found) >= most:
                    break
                try:
                    filled = self.value(items, path, reader.restrict([k], s), depth)
                except _Missing:
                    continue
                key = json.dumps(filled.value, sort_keys=True, default=str)
                if key not in seen:
                    seen.add(key)
                    found.append((k, filled))
        found = sorted(found[:most], key=lambda kf: kf[0])  # the strongest, shown in text (or schema) order
        if len(found) < node.get("minItems", 0):
            raise _Missing([_dotted(path)])
        if not found:
            return _Filled([], 0.0, counted=False)
        fs = [f for _, f in found]
        quotes = tuple(sorted({q for f in fs for q in f.quotes}))
        return _Filled([f.value for f in fs], sum(f.strength for f in fs) / len(fs), quotes)

    # -- scalars ----------------------------------------------------------------------------------

    def string(self, node: Mapping[str, Any], path: tuple[str, ...], desc: str, reader: Reader) -> _Filled:
        words_, desc = _query(path, desc)
        ranked = reader.ranked(words_, desc)
        low, high = max(1, node.get("minLength", 1)), node.get("maxLength")
        if "pattern" in node:
            return self.patterned(str(node["pattern"]), path, ranked, reader, low, high)
        for k, s in ranked:
            if s < MATCH:
                break
            piece = _window(reader, k, reader.positions(k, words_, desc), low, high)
            if piece is not None:
                return _Filled(piece.text, s, (piece,))
        raise _Missing([_dotted(path)])

    def patterned(
        self,
        pattern: str,
        path: tuple[str, ...],
        ranked: Sequence[tuple[int, float]],
        reader: Reader,
        low: int,
        high: int | None,
    ) -> _Filled:
        # A value of the right form is evidence in itself: found in a sentence about the field it is
        # that strong and more; found elsewhere it is a bare match.
        try:
            full, loose = re.compile(pattern), re.compile(pattern.removeprefix("^").removesuffix("$"))
        except re.error:
            raise _Missing([_dotted(path)]) from None
        for k, s in ranked:
            for m in loose.finditer(reader.text(k)):
                if full.search(m.group()) and low <= len(m.group()) <= (high or len(m.group())) and m.group():
                    strength = 0.5 + 0.5 * s if s >= MATCH else MATCH
                    return _Filled(m.group(), strength, (reader.quoted(k, m.start(), m.end()),))
        raise _Missing([_dotted(path)])

    def date(self, node: Mapping[str, Any], path: tuple[str, ...], reader: Reader) -> _Filled:
        words_, desc = _query(path, node.get("description", ""))
        for k, s in reader.ranked(words_, desc):
            if s < MATCH:
                break
            near = reader.positions(k, words_, desc)
            dates = sorted(find_dates(reader.text(k)), key=lambda d: (_distance(d[1], near), d[1]))
            if dates:
                iso = dates[0][0] + ("T00:00:00" if node.get("format") == "date-time" else "")
                return _Filled(iso, s, (reader.quoted(k),))
        raise _Missing([_dotted(path)])

    def number(self, node: Mapping[str, Any], path: tuple[str, ...], reader: Reader) -> _Filled:
        words_, desc = _query(path, node.get("description", ""))
        for k, s in reader.ranked(words_, desc):
            if s < MATCH:
                break
            near = reader.positions(k, words_, desc)
            for v, _, _ in sorted(numbers(reader.text(k)), key=lambda n: (_distance(n[1], near), n[1])):
                if _fits(v, node):
                    value = int(v) if node.get("type") == "integer" else v
                    return _Filled(value, s, (reader.quoted(k),))
        raise _Missing([_dotted(path)])

    def boolean(self, node: Mapping[str, Any], path: tuple[str, ...], reader: Reader) -> _Filled:
        words_, desc = _query(path, node.get("description", ""))
        for k, s in reader.ranked(words_, desc)[:1]:
            if s >= MATCH:
                return _Filled(_NEGATION.search(reader.text(k)) is None, s, (reader.quoted(k),))
        raise _Missing([_dotted(path)])

    def enum(self, node: Mapping[str, Any], path: tuple[str, ...], reader: Reader) -> _Filled:
        options = self.options(node, path, reader)
        best = max(options, key=lambda f: f.strength, default=None)  # first of equals: the schema's order
        if best is not None and best.strength >= MATCH:
            return best
        unknown = next((o for o in node["enum"] if str(o).lower() in _UNKNOWN), None)
        if unknown is not None:  # the type's own way of saying "not stated"
            return _Filled(unknown, 0.0)
        raise _Missing([_dotted(path)])

    def options(self, node: Mapping[str, Any], path: tuple[str, ...], reader: Reader) -> list[_Filled]:
        """Score each option: 0.5 + 0.5·(the field's strength) in the best sentence naming it, else 0."""
        words_, desc = _query(path, node.get("description", ""))
        ranked = reader.ranked(words_, desc)
        out = []
        for option in node["enum"]:
            want = stems_of(" ".join(query_words(str(option))))
            hit = next(((k, s) for k, s in ranked if want and reader.has(k, want)), None)
            if hit is None or str(option).lower() in _UNKNOWN:
                out.append(_Filled(option, 0.0))
            else:
                out.append(_Filled(option, 0.5 + 0.5 * hit[1], (reader.quoted(hit[0]),)))
        return out


def _is_quote(node: Mapping[str, Any]) -> bool:
    props = node.get("properties", {})
    return (
        any(props.get(t, {}).get("type") == "string" for t in _QUOTE_TEXT)
        and set(node.get("required", ())) <= _QUOTE_KEYS
    )


def _query(path: tuple[str, ...], description: str) -> tuple[list[str], str]:
    # The field's own name and its parent's ("buyer" + "name"): a nested field means little alone.
    names: list[str] = []
    for part in path[-2:]:
        names += [w for w in query_words(part) if w not in names]
    return names, description or ""


def _dotted(path: tuple[str, ...]) -> str:
    return ".".join(path) or "(root)"


def _distance(at: int, near: Sequence[int]) -> int:
    return min((abs(at - p) for p in near), default=0)


def _window(reader: Reader, k: int, near: Sequence[int], low: int, high: int | None) -> Quoted | None:
    """Return sentence ``k``, or its word-aligned piece of at most ``high`` chars from the query words on."""
    text = reader.text(k)
    if high is None or len(text) <= high:
        return reader.quoted(k) if len(text) >= low else None
    start = near[0] if near else 0  # from the first query word: what a cue names tends to follow it
    end = min(len(text), start + high)
    while end < len(text) and end > start and not text[end].isspace():
        end -= 1
    piece = text[start:end].strip()
    if not piece or len(piece) < low:
        return None
    offset = start + text[start:end].index(piece)
    return reader.quoted(k, offset, offset + len(piece))


def _fits(v: float, node: Mapping[str, Any]) -> bool:
    if node.get("type") == "integer" and not float(v).is_integer():
        return False
    checks: tuple[tuple[str, Callable[[float], bool]], ...] = (
        ("minimum", lambda b: v >= b),
        ("maximum", lambda b: v <= b),
        ("exclusiveMinimum", lambda b: v > b),
        ("exclusiveMaximum", lambda b: v < b),
        ("multipleOf", lambda b: b == 0 or (v / b).is_integer()),
    )
    return all(check(node[key]) for key, check in checks if key in node)


def _confidence_value(node: Mapping[str, Any], confidence: float, path: tuple[str, ...]) -> Any:
    """Write ``confidence`` in the field's own terms: a fraction, a 0-100 (or 0-maximum) score, a level."""
    if "enum" in node:
        names = {str(o).lower(): o for o in node["enum"]}
        level = next((name for name, at in reversed(_LEVELS) if confidence >= at and name in names), None)
        if level is None:
            raise _Missing([_dotted(path)])
        return names[level]
    kind = node.get("type")
    if kind not in ("number", "integer"):
        raise _Missing([_dotted(path)])
    top = node.get("maximum", node.get("exclusiveMaximum"))
    scale = float(top) if top is not None and top > 1 else 100.0 if kind == "integer" else 1.0
    value: float = confidence * scale
    if kind == "integer":
        value = round(value)
    eps = 1 if kind == "integer" else 1e-6  # the schema's own bounds win: "gt=0" gets the least above 0
    value = max(value, node.get("minimum", value), node.get("exclusiveMinimum", value - eps) + eps)
    value = min(value, node.get("maximum", value), node.get("exclusiveMaximum", value + eps) - eps)
    if not _fits(value, node):
        raise _Missing([_dotted(path)])
    return int(value) if kind == "integer" else round(value, 6)
