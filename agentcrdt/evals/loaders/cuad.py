"""CUAD v1 (The Atticus Project, CC BY 4.0): one case per contract of ``master_clauses_dev.csv``.

``cuad-fields`` scores extraction of the normalized categories: each category's ``-Answer`` column is
the gold value (empty: the contract has none, and predicting nothing is right), its clause column the
gold spans (a Python-list-like string of quoted texts). Field names are the category names in snake case
(``Notice Period To Terminate Renewal`` -> ``notice_period_to_terminate_renewal``).

Options: ``fields`` (category names; default :data:`FIELD_CATEGORIES`) and ``split``: ``all``, or
``tune`` / ``holdout``, a fixed half of the contracts each, chosen by a digest of the file name, so the
offline model can be tuned on one half and reported on the other, and any other copy of the dataset in
this layout splits the same way.
"""

from __future__ import annotations

import ast
import csv
import hashlib
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from agentcrdt.dataroom.domain import slug
from agentcrdt.errors import UsageError
from agentcrdt.evals.loaders import DataMissing, Loaded, digest_files, register
from agentcrdt.evals.suite import (
    Case,
    CaseInputs,
    DocumentExpectation,
    DocumentInput,
    Expected,
    FieldExpectation,
)

__all__ = [
    "CSV_NAME",
    "FIELD_CATEGORIES",
    "SPLITS",
    "answer_column",
    "clause_spans",
    "contracts",
    "field_name",
    "read_rows",
    "split_of",
]

FIELD_CATEGORIES = (
    "Document Name",
    "Parties",
    "Agreement Date",
    "Effective Date",
    "Expiration Date",
    "Governing Law",
    "Renewal Term",
    "Notice Period To Terminate Renewal",
)
SPLITS = ("all", "tune", "holdout")
CSV_NAME = "master_clauses_dev.csv"


def field_name(category: str) -> str:
    """Return the field name of a CUAD category (snake case)."""
    return re.sub(r"[^a-z0-9]+", "_", category.lower()).strip("_")


def split_of(filename: str) -> str:
    """Return ``tune`` or ``holdout`` for a contract (a fixed half each, by a digest of its name)."""
    return "tune" if hashlib.sha256(filename.encode()).digest()[0] % 2 == 0 else "holdout"


def answer_column(columns: list[str], category: str) -> str:
    """Return the name of a category's answer column (DataMissing when the CSV has none)."""
    # The CSV spells one answer column with a space: "Notice Period To Terminate Renewal- Answer".
    for c in (f"{category}-Answer", f"{category}- Answer"):
        if c in columns:
            return c
    raise DataMissing(f"{CSV_NAME} has no answer column for category {category!r}")


def clause_spans(cell: str) -> list[str]:
    """Return the gold clause texts of a clause cell (a Python-list-like string; ``[]`` when none)."""
    cell = cell.strip()
    if not cell or cell == "[]":
        return []
    try:
        value = ast.literal_eval(cell)
    except (ValueError, SyntaxError):
        return [cell]
    return [str(v) for v in value] if isinstance(value, list) else [str(value)]


def read_rows(data: Path) -> tuple[list[dict[str, str]], list[str]]:
    """Return the rows and column names of the CSV (DataMissing when CUAD is not at ``data``)."""
    path = data / CSV_NAME
    if not path.is_file() or not (data / "contracts").is_dir():
        raise DataMissing(
            f"CUAD is not at {data}: it needs {CSV_NAME} and contracts/ (see ../shared/datasets/README.md)"
        )
    csv.field_size_limit(10**9)  # clause columns hold whole sections
    with path.open(encoding="utf-8", newline="") as f:
        reader = csv.DictReader(f)
        return list(reader), list(reader.fieldnames or [])


def contracts(
    data: Path, rows: list[dict[str, str]], split: str
) -> list[tuple[dict[str, str], Path, str, str]]:
    """Return ``(row, contract file, document id, case name)`` for each row of ``split``, in CSV order.

    Case names are the ones ``cuad-fields`` gives (the document id, made unique where two long file
    names share a slug), so a contract is one case name in every CUAD suite.
    """
    out, seen = [], set()
    for row in rows:
        filename = row["Filename"]
        if split != "all" and split_of(filename) != split:
            continue
        path = data / "contracts" / filename
        if not path.is_file():
            raise DataMissing(f"{CSV_NAME} names {filename!r}, which is not in {data / 'contracts'}")
        doc_id = slug(Path(filename).stem)
        name = doc_id
        if name in seen:  # slugs are cut at 100 characters: two long names may share one
            name = f"{doc_id[:90]}-{hashlib.sha256(filename.encode()).hexdigest()[:8]}"
        seen.add(name)
        out.append((row, path, doc_id, name))
    return out


@register("cuad-fields")
def load_fields(data: Path, options: Mapping[str, Any]) -> Loaded:
    """Return one case per contract: the contract in, the normalized answers of ``fields`` expected."""
    unknown = set(options) - {"fields", "split"}
    if unknown:
        raise UsageError(f"cuad-fields takes the options fields and split; unknown: {sorted(unknown)}")
    categories = list(options.get("fields") or FIELD_CATEGORIES)
    split = options.get("split", "all")
    if split not in SPLITS:
        raise UsageError(f"cuad-fields split must be one of {', '.join(SPLITS)}; got {split!r}")
    rows, columns = read_rows(data)
    missing = [c for c in categories if c not in columns]
    if missing:
        raise UsageError(f"no CUAD categories {missing} in {CSV_NAME}; categories are its column names")
    answers = {c: answer_column(columns, c) for c in categories}
    cases, used = [], [data / CSV_NAME]
    for row, path, doc_id, name in contracts(data, rows, split):
        filename = row["Filename"]
        used.append(path)
        fields = {
            field_name(c): FieldExpectation(value=row[answers[c]].strip() or None, spans=clause_spans(row[c]))
            for c in categories
        }
        cases.append(
            Case(
                name=name,
                inputs=CaseInputs(documents=[DocumentInput(name=filename, path=str(path))]),
                expected_output=Expected(documents={doc_id: DocumentExpectation(fields=fields)}),
                metadata={"filename": filename, "split": split_of(filename)},
            )
        )
    return Loaded(cases, digest_files(used))
