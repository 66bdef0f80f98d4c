"""The sample dataroom (``examples/falcon``): one case of 17 documents and its ``expected.json``.

``expected.json`` is written in the sample's own vocabulary; this loader maps it onto the suite models:
fields the extractor extracts (others in the file are claims no agent extracts), relation names onto
the linker's (``duplicate_of`` is ``duplicates`` in either direction, ``supplements`` folds into
``amends``), and contradictions with their alternative documents.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from agentcrdt.errors import UsageError
from agentcrdt.evals.loaders import DataMissing, Loaded, digest_files, register
from agentcrdt.evals.suite import (
    Case,
    CaseInputs,
    ContradictionExpectation,
    DocumentExpectation,
    DocumentInput,
    Expected,
    FieldExpectation,
    LinkExpectation,
    Side,
)

__all__ = ["FIELDS", "RELATION", "load"]

#: The extractor's fields (others in expected.json are claims it does not extract).
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
RELATION = {
    "duplicate_of": "duplicates",
    "supplements": "amends",
    "amends": "amends",
    "references": "references",
}


def _stem(name: str) -> str:
    return name.rsplit(".", 1)[0]


def _value(v: Any) -> str:
    return "; ".join(str(x) for x in v) if isinstance(v, list) else str(v)


@register("falcon")
def load(data: Path, options: Mapping[str, Any]) -> Loaded:
    """Return the sample as one case (``options``: none)."""
    if options:
        raise UsageError(f"the falcon loader takes no options; got {sorted(options)}")
    expected_path, docs_dir = data / "expected.json", data / "documents"
    if not expected_path.is_file() or not docs_dir.is_dir():
        raise DataMissing(f"{data} is not the sample dataroom: it needs expected.json and documents/")
    exp = json.loads(expected_path.read_text(encoding="utf-8"))
    files = sorted(docs_dir.iterdir())
    documents = {
        _stem(d["file"]): DocumentExpectation(
            kind=d["kind"],
            tags=list(d["tags"]),
            fields={f: FieldExpectation(value=_value(d["fields"][f])) for f in FIELDS if f in d["fields"]},
        )
        for d in exp["documents"]
    }
    links = [
        LinkExpectation(
            source=_stem(lk["from"]),
            relation=RELATION[lk["relation"]],
            target=_stem(lk["to"]),
            symmetric=RELATION[lk["relation"]] == "duplicates",
        )
        for lk in exp["links"]
    ]
    contradictions = [
        ContradictionExpectation(
            id=c["id"],
            a=[
                Side(document=_stem(d), quote=c["quote_a"])
                for d in [c["doc_a"], *c.get("doc_a_alternates", [])]
            ],
            b=[Side(document=_stem(c["doc_b"]), quote=c["quote_b"])]
            + [Side(document=_stem(d)) for d in c.get("also_conflicts_with", [])],
        )
        for c in exp["contradictions"]
    ]
    case = Case(
        name="falcon",
        inputs=CaseInputs(documents=[DocumentInput(name=p.name, path=str(p)) for p in files]),
        expected_output=Expected(documents=documents, links=links, contradictions=contradictions),
        metadata={"deal": exp.get("deal"), "version": exp.get("version")},
    )
    return Loaded([case], digest_files([expected_path, *files]))
