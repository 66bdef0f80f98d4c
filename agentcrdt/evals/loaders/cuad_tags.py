"""CUAD v1 clause types (The Atticus Project, CC BY 4.0): one case per contract, its yes/no categories.

``cuad-tags`` scores clause-type tagging: a contract's expected tags are the yes/no categories answered
``Yes`` (tag names: the category in snake case, ``Anti-Assignment`` -> ``anti_assignment``), and the
expected set is complete, so a tag CUAD answers ``No`` is a false positive. The gold clauses of each
expected tag are in the case's ``metadata["clauses"]`` (``{tag: [span, ...]}``), for checking that a
tag's quote is the clause CUAD marked.

Options: ``tags`` (a subset, by category or tag name; default :data:`TAG_CATEGORIES`) and ``split``
(``all``, ``tune`` or ``holdout``: the same fixed halves as ``cuad-fields``).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from agentcrdt.errors import UsageError
from agentcrdt.evals.loaders import DataMissing, Loaded, digest_files, register
from agentcrdt.evals.loaders.cuad import (
    CSV_NAME,
    SPLITS,
    answer_column,
    clause_spans,
    contracts,
    field_name,
    read_rows,
    split_of,
)
from agentcrdt.evals.suite import Case, CaseInputs, DocumentExpectation, DocumentInput, Expected

__all__ = ["TAG_CATEGORIES", "pick_categories"]

#: CUAD's 33 yes/no categories, in the CSV's order.
TAG_CATEGORIES = (
    "Most Favored Nation",
    "Competitive Restriction Exception",
    "Non-Compete",
    "Exclusivity",
    "No-Solicit Of Customers",
    "No-Solicit Of Employees",
    "Non-Disparagement",
    "Termination For Convenience",
    "Rofr/Rofo/Rofn",
    "Change Of Control",
    "Anti-Assignment",
    "Revenue/Profit Sharing",
    "Price Restrictions",
    "Minimum Commitment",
    "Volume Restriction",
    "Ip Ownership Assignment",
    "Joint Ip Ownership",
    "License Grant",
    "Non-Transferable License",
    "Affiliate License-Licensor",
    "Affiliate License-Licensee",
    "Unlimited/All-You-Can-Eat-License",
    "Irrevocable Or Perpetual License",
    "Source Code Escrow",
    "Post-Termination Services",
    "Audit Rights",
    "Uncapped Liability",
    "Cap On Liability",
    "Liquidated Damages",
    "Warranty Duration",
    "Insurance",
    "Covenant Not To Sue",
    "Third Party Beneficiary",
)


def pick_categories(names: Sequence[str] | None) -> list[str]:
    """Return the categories ``names`` pick (category or tag names, any case), in CSV order."""
    if not names:
        return list(TAG_CATEGORIES)
    by_tag = {field_name(c): c for c in TAG_CATEGORIES}
    wanted = {field_name(str(n)) for n in names}
    unknown = sorted(wanted - set(by_tag))
    if unknown:
        raise UsageError(f"cuad-tags: no yes/no category {unknown}; pick from: {', '.join(sorted(by_tag))}")
    return [c for c in TAG_CATEGORIES if field_name(c) in wanted]


def _is_yes(row: Mapping[str, str], column: str) -> bool:
    answer = row[column].strip()
    if answer not in ("Yes", "No"):
        raise DataMissing(f"{CSV_NAME}: {column} must be Yes or No, got {answer!r} ({row['Filename']})")
    return answer == "Yes"


@register("cuad-tags")
def load_tags(data: Path, options: Mapping[str, Any]) -> Loaded:
    """Return one case per contract: the contract in, the categories answered Yes expected as tags."""
    unknown = set(options) - {"tags", "split"}
    if unknown:
        raise UsageError(f"cuad-tags takes the options tags and split; unknown: {sorted(unknown)}")
    split = options.get("split", "all")
    if split not in SPLITS:
        raise UsageError(f"cuad-tags split must be one of {', '.join(SPLITS)}; got {split!r}")
    categories = pick_categories(options.get("tags"))
    rows, columns = read_rows(data)
    missing = [c for c in categories if c not in columns]
    if missing:
        raise DataMissing(f"{CSV_NAME} has no clause column for the categories {missing}")
    answers = {c: answer_column(columns, c) for c in categories}
    cases, used = [], [data / CSV_NAME]
    for row, path, doc_id, name in contracts(data, rows, split):
        used.append(path)
        yes = [c for c in categories if _is_yes(row, answers[c])]
        clauses = {field_name(c): clause_spans(row[c]) for c in yes}
        cases.append(
            Case(
                name=name,
                inputs=CaseInputs(documents=[DocumentInput(name=row["Filename"], path=str(path))]),
                expected_output=Expected(
                    documents={doc_id: DocumentExpectation(tags=[field_name(c) for c in yes])}
                ),
                metadata={
                    "filename": row["Filename"],
                    "split": split_of(row["Filename"]),
                    "clauses": clauses,
                },
            )
        )
    return Loaded(cases, digest_files(used))
